//! The dashboard's stylesheet and script, embedded in the binary: no CDN, nothing to build
//! at install time. Must serve only these files (never a path from the request).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

const CSS: &str = include_str!("static/dashboard.css");
const JS: &str = include_str!("static/dashboard.js");

pub async fn file(name: web::Path<String>) -> HttpResponse {
    let (body, kind) = match name.as_str() {
        "dashboard.css" => (CSS, "text/css; charset=utf-8"),
        "dashboard.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(kind)
        // Embedded, so they change only with the binary; an hour keeps pages quick.
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, App};

    #[actix_web::test]
    async fn serves_only_the_embedded_files() {
        let app = test::init_service(App::new().route("/static/{file}", web::get().to(file))).await;
        let js = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/static/dashboard.js")
                .to_request(),
        )
        .await;
        assert_eq!(js.status(), 200);
        assert!(js
            .headers()
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        let body = test::read_body(js).await;
        assert!(std::str::from_utf8(&body).unwrap().contains("EventSource"));
        for path in ["/static/..%2fmod.rs", "/static/other.js"] {
            let r = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(r.status(), 404, "{path}");
        }
    }
}
