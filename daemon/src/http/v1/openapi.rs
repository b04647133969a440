//! `/v1/openapi.json`: the API's OpenAPI 3.1 document, built from the `Endpoint`s the
//! routes were registered with (so it lists exactly the routes the server has) and from the
//! JSON Schemas of the `picket --json` documents (`picket_protocol::json::schemas`, the
//! ones in schemas/), their `$defs` lifted into `components/schemas`. Must not describe a
//! route by hand: a route is described where it is registered.

use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::HttpResponse;
use serde_json::{json, Map, Value};

use super::{Answer, Endpoint, Param, Routes, Ty};

pub fn routes(r: &mut Routes) {
    r.add(
        Endpoint::new(Method::GET, "/openapi.json", "openapi")
            .summary("This document: every route of the API, in OpenAPI 3.1")
            .answers_with(Answer::OpenApi),
        serve,
    );
}

async fn serve() -> HttpResponse {
    static DOC: OnceLock<Value> = OnceLock::new();
    HttpResponse::Ok().json(DOC.get_or_init(document))
}

/// The whole document.
pub fn document() -> Value {
    let mut schemas = Map::new();
    for (stem, _, schema) in picket_protocol::json::schemas() {
        lift(&mut schemas, stem, schema.to_value());
    }
    let endpoints = super::endpoints();
    let mut paths = Map::new();
    for e in &endpoints {
        if let Some((name, schema)) = &e.body {
            lift(&mut schemas, name, schema.clone().to_value());
        }
        let item = paths
            .entry(format!("/v1{}", e.path))
            .or_insert_with(|| json!({}));
        item[e.method.as_str().to_ascii_lowercase()] = operation(e);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "picketd HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The same answers as `picket --json`, over api.sock (curl \
                --unix-socket $XDG_RUNTIME_DIR/picket/api.sock http://picket/v1/scans) or \
                the opt-in [http] listen port. Errors are the `error` document, with the \
                HTTP status of their kind.",
        },
        "servers": [{"url": "http://picket"}],
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn operation(e: &Endpoint) -> Value {
    let mut op = json!({
        "operationId": e.operation,
        "summary": e.summary,
        "responses": responses(e.answer),
    });
    if !e.params.is_empty() {
        op["parameters"] = e.params.iter().map(parameter).collect();
    }
    if let Some((name, _)) = &e.body {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": reference(name)}},
        });
    }
    op
}

fn parameter(p: &Param) -> Value {
    let schema = match p.ty {
        Ty::Int => json!({"type": "integer", "format": "int64"}),
        Ty::Str => json!({"type": "string"}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::Words(words) => json!({"type": "string", "enum": words}),
    };
    json!({
        "name": p.name,
        "in": if p.in_path { "path" } else { "query" },
        "required": p.in_path,
        "description": p.doc,
        "schema": schema,
    })
}

fn responses(answer: Answer) -> Value {
    let json_of = |schema: Value| json!({"application/json": {"schema": schema}});
    let (status, description, content) = match answer {
        Answer::Doc(status, stem) => (
            status,
            format!("The `{stem}` document (schemas/{stem}.json)"),
            json_of(reference(stem)),
        ),
        Answer::Events => (
            200,
            "Server-Sent Events: `event: KIND`, `data:` an `event` document".into(),
            json!({"text/event-stream": {"schema": {"type": "string"}}}),
        ),
        Answer::Bytes => (
            200,
            "The bytes as the tool wrote them".into(),
            json!({"application/octet-stream": {"schema": {}}}),
        ),
        Answer::OpenApi => (
            200,
            "This OpenAPI document".into(),
            json_of(json!({"type": "object"})),
        ),
    };
    json!({
        status.to_string(): {"description": description, "content": content},
        "default": {
            "description": "An error: the `error` document (kind, message, hint)",
            "content": json_of(reference("error")),
        },
    })
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Puts `schema` under `name`, and its `$defs` beside it, with every reference to them
/// pointed at `components/schemas` (a `#/$defs/` reference means the document's root).
fn lift(schemas: &mut Map<String, Value>, name: &str, mut schema: Value) {
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
        if let Some(Value::Object(defs)) = obj.remove("$defs") {
            for (def, s) in defs {
                lift(schemas, &def, s);
            }
        }
    }
    repoint(&mut schema);
    schemas.insert(name.to_string(), schema);
}

fn repoint(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        if let Some(def) = target.strip_prefix("#/$defs/") {
                            *target = format!("#/components/schemas/{def}");
                        }
                    }
                    (_, value) => repoint(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(repoint),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(s)) => out.push(s),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_names_a_component_of_the_document() {
        let doc = document();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 20, "{all:?}");
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r} points outside components/schemas"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{r} names no component"
            );
        }
    }

    #[test]
    fn every_registered_route_is_an_operation_once() {
        let doc = document();
        let endpoints = super::super::endpoints();
        let mut operations = 0;
        for e in &endpoints {
            let method = e.method.as_str().to_ascii_lowercase();
            let op = &doc["paths"][format!("/v1{}", e.path)][&method];
            assert_eq!(op["operationId"], e.operation, "{} {}", e.method, e.path);
            operations += 1;
        }
        let listed: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(listed, operations, "an operation no route registered");
        let ids: std::collections::HashSet<_> = endpoints.iter().map(|e| e.operation).collect();
        assert_eq!(ids.len(), endpoints.len(), "operationIds are unique");
    }
}
