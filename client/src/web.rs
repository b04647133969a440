//! `picket web [--open]`: where the daemon's HTTP API and dashboard listen and how to log
//! in (the token's file, never the token itself: it must not land in shell history or
//! logs); `--open` hands the URL to `$BROWSER` or xdg-open. Must not read the token nor
//! speak HTTP.

use std::process::{Command, Stdio};

use picket_client::Client;
use picket_protocol::WebInfo;

use crate::failure::Failure;
use crate::render::Out;

pub async fn run(conn: &mut Client, out: Out, open: bool) -> Result<(), Failure> {
    let info = conn.web().await?;
    let Some(url) = info.url.clone() else {
        return Err(Failure::Usage {
            message: "picketd has no HTTP door open on TCP".into(),
            hint: "set [http] listen = \"127.0.0.1:8080\" in picketd's config and restart it \
                   (api.sock beside the socket serves the same API to local scripts)"
                .into(),
        });
    };
    let text = human(&info, &url);
    out.message(info, &text)?;
    if open {
        open_browser(&url)?;
    }
    Ok(())
}

fn human(info: &WebInfo, url: &str) -> String {
    let token = info.token_file.as_deref().unwrap_or("DATA_DIR/http-token");
    let mut text = format!(
        "Picket's dashboard and API: {url}\n\
         Log in with the token in {token} (`cat {token}` as the daemon's user);\n\
         scripts send it as `Authorization: Bearer TOKEN`.\n\
         Prometheus: {url}metrics with the token"
    );
    if let Some(m) = &info.metrics_url {
        text.push_str(&format!(", or {m} without one"));
    }
    text
}

/// `$BROWSER` (its first entry, as xdg-utils reads it) or xdg-open, with the URL as its
/// one argument: no shell.
fn open_browser(url: &str) -> Result<(), Failure> {
    let browser = std::env::var("BROWSER")
        .ok()
        .and_then(|b| b.split(':').next().map(str::to_string))
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "xdg-open".into());
    let status = Command::new(&browser)
        .arg(url)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| {
            Failure::Local(format!(
                "cannot start {browser} to open {url}: {e}; set $BROWSER to your browser, \
                 or open the URL by hand"
            ))
        })?;
    if !status.success() {
        return Err(Failure::Local(format!(
            "{browser} could not open {url} ({status}); open it by hand"
        )));
    }
    Ok(())
}
