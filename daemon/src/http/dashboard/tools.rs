//! `/tools`: the configured tools, whether each is installed, its version and limits, as
//! `picket tools` lists them. Must not probe tools itself: `Request::Tools` does.

use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use picket_protocol::{Request, Response};

use super::render::{self, ask, error_page, unexpected};
use crate::ipc::state::DaemonState;

pub async fn page(req: HttpRequest, state: web::Data<DaemonState>) -> HttpResponse {
    match ask(&state.into_inner(), Request::Tools).await {
        Ok(Response::Tools(tools)) => render::page(
            &req,
            "tools.html",
            "tools",
            context! { title => "Tools", tools => tools },
        ),
        Ok(_) => error_page(&req, &unexpected("something other than tools")),
        Err(e) => error_page(&req, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_protocol::ToolInfo;

    #[test]
    fn a_missing_tool_says_so() {
        let tool = |name: &str, installed| ToolInfo {
            name: name.into(),
            program: name.into(),
            installed,
            path: installed.then(|| format!("/usr/bin/{name}")),
            version: installed.then(|| "7.93".into()),
            concurrency: 2,
            timeout_secs: 300,
            cache_ttl_secs: 3600,
            triggers: vec!["http".into()],
        };
        let ctx = context! { title => "Tools", nav => "tools", tools => vec![tool("nmap", true), tool("nuclei", false)] };
        let html = render::render("tools.html", ctx).unwrap();
        // minijinja escapes `/` too; a browser shows /usr/bin/nmap.
        assert!(
            html.contains("&#x2f;usr&#x2f;bin&#x2f;nmap") && html.contains("7.93"),
            "{html}"
        );
        assert!(html.contains("not installed"), "{html}");
    }
}
