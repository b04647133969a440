//! The `/v1` routes: one file per topic, each function building the socket protocol's
//! `Request` from the path, query and body and answering through http/answer.rs. Every
//! route is registered through `Routes::add`, which also lists it for the OpenAPI document
//! (openapi.rs): the document and the router come from the same calls, so neither can list
//! a route the other lacks. Must not run queries or touch actors itself: the handler of the
//! same command does.
//!
//! | file | routes |
//! |---|---|
//! | `admin` | health, stats |
//! | `scans` | scans (list, create, show, cancel), status |
//! | `findings` | findings, one finding |
//! | `tools` | tools, a run's raw output |
//! | `schedules` | schedules: list, add, pause, resume, run now, remove |
//! | `cache` | cache stats, clear, cleanup, invalidate |
//! | `events` | Server-Sent Events: one scan's, every scan's |
//! | `openapi` | `/v1/openapi.json`, built from the routes' `Endpoint`s |

mod admin;
mod cache;
mod events;
mod findings;
pub mod openapi;
mod scans;
mod schedules;
mod tools;

use actix_web::error::InternalError;
use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder};
use picket_protocol::{ErrorKind, ErrorReply};
use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;

use crate::http::answer::error_document;
use crate::ipc::state::DaemonState;

type State = web::Data<DaemonState>;

/// Every `/v1` route, in the order they are matched.
fn register(routes: &mut Routes) {
    admin::routes(routes);
    scans::routes(routes);
    findings::routes(routes);
    tools::routes(routes);
    schedules::routes(routes);
    cache::routes(routes);
    events::routes(routes);
    openapi::routes(routes);
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let scope = web::scope("/v1")
        .app_data(web::QueryConfig::default().error_handler(|e, _| bad_input(e, "query")))
        .app_data(web::PathConfig::default().error_handler(|e, _| bad_input(e, "path")))
        .configure(|cfg| {
            register(&mut Routes {
                cfg: Some(cfg),
                endpoints: Vec::new(),
            })
        })
        .default_service(web::to(no_route));
    cfg.service(scope);
}

/// The routes `configure` registers, as the OpenAPI document describes them.
pub fn endpoints() -> Vec<Endpoint> {
    let mut routes = Routes {
        cfg: None,
        endpoints: Vec::new(),
    };
    register(&mut routes);
    routes.endpoints
}

/// Registers routes and remembers what each is; without a config it only remembers.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    endpoints: Vec<Endpoint>,
}

impl Routes<'_> {
    pub fn add<F, Args>(&mut self, endpoint: Endpoint, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        if let Some(cfg) = self.cfg.as_deref_mut() {
            // One resource per method: `route` moves the method guard onto the resource,
            // so a path's other methods are looked for in the resources after it.
            cfg.route(
                endpoint.path,
                web::method(endpoint.method.clone()).to(handler),
            );
        }
        self.endpoints.push(endpoint);
    }
}

/// One route as the OpenAPI document tells it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub method: Method,
    /// Below `/v1`, with `{name}` for path parameters (actix and OpenAPI write them alike).
    pub path: &'static str,
    pub operation: &'static str,
    pub summary: &'static str,
    pub params: Vec<Param>,
    /// The JSON body's schema name and schema.
    pub body: Option<(&'static str, Schema)>,
    pub answer: Answer,
}

impl Endpoint {
    pub fn new(method: Method, path: &'static str, operation: &'static str) -> Endpoint {
        Endpoint {
            method,
            path,
            operation,
            summary: "",
            params: Vec::new(),
            body: None,
            answer: Answer::Doc(200, "error"),
        }
    }

    pub fn summary(mut self, summary: &'static str) -> Endpoint {
        self.summary = summary;
        self
    }

    /// A path parameter (an integer id).
    pub fn id(mut self, name: &'static str, doc: &'static str) -> Endpoint {
        self.params.push(Param {
            name,
            in_path: true,
            ty: Ty::Int,
            doc,
        });
        self
    }

    pub fn query(mut self, name: &'static str, ty: Ty, doc: &'static str) -> Endpoint {
        self.params.push(Param {
            name,
            in_path: false,
            ty,
            doc,
        });
        self
    }

    pub fn body<T: JsonSchema>(mut self, name: &'static str) -> Endpoint {
        self.body = Some((name, schemars::schema_for!(T)));
        self
    }

    /// Answers 200 (or `status`) with the `picket --json` document `schemas/STEM.json`.
    pub fn answers(mut self, status: u16, stem: &'static str) -> Endpoint {
        self.answer = Answer::Doc(status, stem);
        self
    }

    pub fn answers_with(mut self, answer: Answer) -> Endpoint {
        self.answer = answer;
        self
    }
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub in_path: bool,
    pub ty: Ty,
    pub doc: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Int,
    Str,
    Bool,
    /// One of these words.
    Words(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// The status and the document's schema stem.
    Doc(u16, &'static str),
    /// `text/event-stream`, each event's data an `event` document.
    Events,
    /// Raw bytes (`application/octet-stream`).
    Bytes,
    /// The OpenAPI document itself.
    OpenApi,
}

/// An invalid request: 400 with the `invalid` error document.
pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> HttpResponse {
    error_document(&ErrorReply::new(ErrorKind::Invalid, message, hint))
}

/// A JSON body read into `T`, or the 400 answer naming what is wrong with it.
pub fn json_body<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, HttpResponse> {
    serde_json::from_slice(body).map_err(|e| {
        invalid(
            format!("the {what} body is not valid: {e}"),
            "send a JSON object; GET /v1/openapi.json gives its schema",
        )
    })
}

fn bad_input(e: impl std::fmt::Display + std::fmt::Debug + 'static, part: &str) -> actix_web::Error {
    let answer = invalid(
        format!("the request's {part} is not valid: {e}"),
        "GET /v1/openapi.json lists each route's parameters",
    );
    InternalError::from_response(e.to_string(), answer).into()
}

async fn no_route(req: HttpRequest) -> HttpResponse {
    error_document(&ErrorReply::new(
        ErrorKind::NotFound,
        format!("no route {} {}", req.method(), req.path()),
        "GET /v1/openapi.json lists the API's routes",
    ))
}
