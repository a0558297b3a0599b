//! The trace APIs on the admin listener answered from every component that holds traces —
//! Jaeger's query API (`/api/services`, `/api/services/{service}/operations`, `/api/traces`,
//! `/api/traces/{id}`) and Lookout's (`/api/v1/traces`, `/api/v1/openapi.json`). A
//! `correlate` window and the `store` exporter each register as a [`TraceSource`]; one
//! handler asks them in tier order (the window first, then the store, for older traces) and
//! merges what they answer: a trace from the first source that has it, service and
//! operation lists united, searches concatenated without repeating a trace, up to the limit.
//!
//! Which component mounts the routes (and so whether the APIs are on) stays with
//! [`AdminRoutes`](super::admin::AdminRoutes): a `correlate` with `api: true` mounts them, the
//! `store` mounts them as a fallback; both mount [`handler`], which answers from all sources.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use serde_json::{Value as Json, json};

use super::admin::Handler;
use crate::core::ComponentId;
use crate::net::Body;
use crate::net::query::parse_query;

/// The prefixes the trace APIs answer under.
pub(crate) const PREFIXES: [&str; 4] = [
    "/api/v1/traces",
    "/api/v1/openapi.json",
    "/api/traces",
    "/api/services",
];

/// The OpenAPI 3.0 description of Lookout's own routes (traces, metrics, RED).
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// Search results when the request sets no limit.
const DEFAULT_LIMIT: usize = 20;

/// Which sources answer first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tier {
    /// Recent traces in memory (`correlate`).
    Window,
    /// History on disk (`store`).
    Store,
}

/// A component that answers the trace APIs for what it holds.
pub(crate) trait TraceSource: Send + Sync + 'static {
    /// Answers one GET of a route under [`PREFIXES`] (`path` without a trailing `/`, the
    /// decoded query parameters) in the route's JSON shape: Jaeger's envelope for the Jaeger
    /// routes, `openapi.json`'s schemas for Lookout's. "Not found" is a 404.
    fn answer(&self, path: &str, query: &HashMap<String, String>) -> (StatusCode, Json);
}

struct Entry {
    tier: Tier,
    owner: ComponentId,
    source: Weak<dyn TraceSource>,
}

/// The registered sources. Cheap to clone; the host holds one.
#[derive(Clone, Default)]
pub struct TraceSources {
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl std::fmt::Debug for TraceSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSources").finish_non_exhaustive()
    }
}

impl TraceSources {
    /// Adds `source`, held weakly: a component that stops drops out by itself. A component
    /// rebuilt by a reload registers its new instance beside the old one, which answers
    /// until it is gone (or again if the reload is refused and the new one dropped).
    pub(crate) fn register(&self, tier: Tier, owner: &ComponentId, source: Weak<dyn TraceSource>) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|e| e.source.strong_count() > 0);
        entries.push(Entry {
            tier,
            owner: owner.clone(),
            source,
        });
    }

    /// The live sources in tier order; of several instances of one component, the newest.
    fn live(&self) -> Vec<Arc<dyn TraceSource>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seen: BTreeSet<&ComponentId> = BTreeSet::new();
        let mut out: Vec<(Tier, Arc<dyn TraceSource>)> = Vec::new();
        for e in entries.iter().rev() {
            if seen.contains(&e.owner) {
                continue;
            }
            if let Some(source) = e.source.upgrade() {
                seen.insert(&e.owner);
                out.push((e.tier, source));
            }
        }
        // Stable: among sources of one tier, the newest registered first.
        out.sort_by_key(|(tier, _)| *tier);
        out.into_iter().map(|(_, s)| s).collect()
    }
}

fn respond(status: StatusCode, body: &Json) -> Response<Body> {
    let mut response = Response::new(crate::net::full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The handler every mount of [`PREFIXES`] uses.
pub(crate) fn handler(sources: TraceSources) -> Handler {
    Arc::new(move |req: Request<Bytes>| {
        let sources = sources.clone();
        Box::pin(async move {
            // Sources may read files (the store): off the runtime's threads.
            tokio::task::spawn_blocking(move || answer(&sources, &req))
                .await
                .unwrap_or_else(|_| {
                    respond(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &json!({"error": "query failed"}),
                    )
                })
        })
    })
}

/// Answers one request from every live source.
pub(crate) fn answer(sources: &TraceSources, req: &Request<Bytes>) -> Response<Body> {
    if req.method() != http::Method::GET {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "only GET is supported"}),
        );
    }
    let path = req.uri().path().trim_end_matches('/');
    if path == "/api/v1/openapi.json" {
        let mut response = Response::new(crate::net::full(OPENAPI));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        return response;
    }
    let query = parse_query(req.uri().query().unwrap_or(""));
    let (status, body) = merged(&sources.live(), path, &query);
    respond(status, &body)
}

/// What the route answers, from `sources` in order.
fn merged(
    sources: &[Arc<dyn TraceSource>],
    path: &str,
    query: &HashMap<String, String>,
) -> (StatusCode, Json) {
    let jaeger = !path.starts_with("/api/v1/");
    let Some((first, rest)) = sources.split_first() else {
        return (
            StatusCode::NOT_FOUND,
            json!({"error": "no component holds traces"}),
        );
    };
    let one = |path: &str| {
        // A trace: the first source that has it.
        let mut last = first.answer(path, query);
        for s in rest {
            if last.0 != StatusCode::NOT_FOUND {
                break;
            }
            last = s.answer(path, query);
        }
        last
    };
    let is_lookup = path
        .strip_prefix("/api/traces/")
        .or_else(|| path.strip_prefix("/api/v1/traces/"))
        .is_some_and(|id| !id.is_empty());
    if is_lookup || rest.is_empty() {
        return one(path);
    }
    let list_key = if jaeger { "data" } else { "traces" };
    let id_key = if jaeger { "traceID" } else { "trace_id" };
    let is_search = path == "/api/traces" || path == "/api/v1/traces";
    let is_names = path == "/api/services" || path.ends_with("/operations");
    if !is_search && !is_names {
        return first.answer(path, query);
    }
    let limit = query
        .get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_LIMIT)
        .max(1);
    let mut items: Vec<Json> = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for source in sources {
        let (status, body) = source.answer(path, query);
        if status != StatusCode::OK {
            // A bad parameter is bad for every source: the first refusal is the answer.
            if status == StatusCode::BAD_REQUEST {
                return (status, body);
            }
            continue;
        }
        let Some(list) = body.get(list_key).and_then(Json::as_array) else {
            continue;
        };
        for item in list {
            if is_names {
                if let Some(n) = item.as_str() {
                    names.insert(n.to_string());
                }
            } else if items.len() < limit {
                let id = item.get(id_key).and_then(Json::as_str).unwrap_or_default();
                if ids.insert(id.to_string()) {
                    items.push(item.clone());
                }
            }
        }
    }
    let list: Vec<Json> = if is_names {
        names.into_iter().map(Json::from).collect()
    } else {
        items
    };
    if jaeger {
        let total = list.len();
        (
            StatusCode::OK,
            json!({"data": list, "total": total, "limit": 0, "offset": 0, "errors": null}),
        )
    } else {
        (StatusCode::OK, json!({ "traces": list }))
    }
}

/// Test helpers shared by the sources' tests.
#[cfg(test)]
pub(crate) mod schema {
    /// Checks `value` against an OpenAPI schema (the subset `openapi.json` uses: `$ref`, `type`,
    /// `nullable`, `required`, `properties`, `items`); an object may only have described keys
    /// unless `additionalProperties` is set. Returns where it first disagrees.
    pub(crate) fn check_schema(
        spec: &serde_json::Value,
        schema: &serde_json::Value,
        value: &serde_json::Value,
        at: &str,
    ) -> Result<(), String> {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/schemas/");
            return check_schema(spec, &spec["components"]["schemas"][name], value, at);
        }
        if value.is_null() {
            return if schema["nullable"] == true {
                Ok(())
            } else {
                Err(format!("{at}: null"))
            };
        }
        let ok = match schema["type"].as_str() {
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_u64() || value.is_i64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            other => return Err(format!("{at}: schema type {other:?}")),
        };
        if !ok {
            return Err(format!("{at}: {value} is not {}", schema["type"]));
        }
        if let Some(object) = value.as_object() {
            for key in schema["required"].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap_or_default();
                if !object.contains_key(key) {
                    return Err(format!("{at}: {key} missing"));
                }
            }
            for (key, item) in object {
                match schema["properties"].get(key) {
                    Some(property) => check_schema(spec, property, item, &format!("{at}.{key}"))?,
                    None if schema["additionalProperties"] == true => {}
                    None => return Err(format!("{at}: {key} not described")),
                }
            }
        }
        for (i, item) in value.as_array().into_iter().flatten().enumerate() {
            check_schema(spec, &schema["items"], item, &format!("{at}[{i}]"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source holding some traces and services.
    struct Fake {
        traces: Vec<&'static str>,
        services: Vec<&'static str>,
    }

    impl TraceSource for Fake {
        fn answer(&self, path: &str, _q: &HashMap<String, String>) -> (StatusCode, Json) {
            if let Some(id) = path.strip_prefix("/api/traces/") {
                return match self.traces.contains(&id) {
                    true => (StatusCode::OK, json!({"data": [{"traceID": id}]})),
                    false => (StatusCode::NOT_FOUND, json!({"data": null})),
                };
            }
            match path {
                "/api/services" => (StatusCode::OK, json!({ "data": self.services })),
                "/api/traces" => (
                    StatusCode::OK,
                    json!({"data": self.traces.iter().map(|t| json!({"traceID": t})).collect::<Vec<_>>()}),
                ),
                _ => (StatusCode::NOT_FOUND, json!({})),
            }
        }
    }

    fn get(sources: &TraceSources, uri: &str) -> (u16, Json) {
        let req = Request::get(uri).body(Bytes::new()).unwrap();
        let response = answer(sources, &req);
        let status = response.status().as_u16();
        let body =
            futures::executor::block_on(http_body_util::BodyExt::collect(response.into_body()))
                .unwrap()
                .to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn the_window_answers_first_then_the_store_and_lists_merge() {
        let sources = TraceSources::default();
        let window: Arc<dyn TraceSource> = Arc::new(Fake {
            traces: vec!["b", "c"],
            services: vec!["api", "web"],
        });
        let store: Arc<dyn TraceSource> = Arc::new(Fake {
            traces: vec!["a", "b"],
            services: vec!["api", "db"],
        });
        let (w, s) = (
            ComponentId::parse("correlate").unwrap(),
            ComponentId::parse("store").unwrap(),
        );
        // Registered store first: the tier, not the order, decides.
        sources.register(Tier::Store, &s, Arc::downgrade(&store));
        sources.register(Tier::Window, &w, Arc::downgrade(&window));
        assert_eq!(
            get(&sources, "/api/traces/a").0,
            200,
            "older: from the store"
        );
        assert_eq!(get(&sources, "/api/traces/c").0, 200);
        assert_eq!(get(&sources, "/api/traces/z").0, 404);
        let (_, services) = get(&sources, "/api/services");
        assert_eq!(services["data"], json!(["api", "db", "web"]));
        let (_, found) = get(&sources, "/api/traces?limit=10");
        let ids: Vec<&str> = found["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["traceID"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["b", "c", "a"], "window first, no repeats");
        let (_, limited) = get(&sources, "/api/traces?limit=2");
        assert_eq!(limited["data"].as_array().unwrap().len(), 2);

        // A source that stopped drops out by itself.
        drop(window);
        assert_eq!(get(&sources, "/api/traces/c").0, 404);
        assert_eq!(
            get(&sources, "/api/services").1["data"],
            json!(["api", "db"])
        );
    }
}
