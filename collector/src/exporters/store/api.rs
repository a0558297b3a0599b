//! The store's JSON routes on the admin listener (docs/store.md, "HTTP API"):
//! `/api/v1/metrics/series` and `/api/v1/services/red` for the console, and the trace APIs —
//! Jaeger's (`/api/services`, `/api/services/{service}/operations`, `/api/traces`,
//! `/api/traces/{id}`) and Lookout's `/api/v1/traces` — mounted as fallbacks: a `correlate`
//! processor with `api: true` takes them over (its window answers).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use serde_json::{Value as Json, json};

use super::db::{Store, now_ns};
use super::query::Search;
use super::rows::{LogRow, SpanRow};
use crate::component::Host;
use crate::component::admin::Handler;
use crate::core::ComponentId;
use crate::net::Body;

/// Routes the store owns.
const OWN: [&str; 2] = ["/api/v1/metrics/series", "/api/v1/services/red"];
/// Routes the store answers unless a `correlate` processor does.
const FALLBACK: [&str; 3] = ["/api/services", "/api/traces", "/api/v1/traces"];
/// Search results when the request sets none, and at most.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;
/// Steps a series answer may hold.
const MAX_STEPS: i64 = 11_000;

/// Mounts the routes of exporter `id`.
pub(crate) fn register(store: &Arc<Store>, id: &ComponentId, host: &Host) -> Result<(), String> {
    let handler: Handler = {
        let store = Arc::clone(store);
        Arc::new(move |req: Request<Bytes>| {
            let store = Arc::clone(&store);
            Box::pin(async move {
                tokio::task::spawn_blocking(move || answer(&store, &req))
                    .await
                    .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "query failed"))
            })
        })
    };
    for prefix in OWN {
        host.admin().mount(id, prefix, Arc::clone(&handler))?;
    }
    for prefix in FALLBACK {
        host.admin()
            .mount_fallback(id, prefix, Arc::clone(&handler))?;
    }
    Ok(())
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

fn error(status: StatusCode, message: &str) -> Response<Body> {
    respond(status, &json!({"error": message}))
}

fn jaeger_data(data: Vec<Json>) -> Response<Body> {
    let total = data.len();
    respond(
        StatusCode::OK,
        &json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null}),
    )
}

fn jaeger_error(status: StatusCode, message: &str) -> Response<Body> {
    respond(
        status,
        &json!({"data": null, "total": 0, "limit": 0, "offset": 0,
                "errors": [{"code": status.as_u16(), "msg": message}]}),
    )
}

/// Answers one request.
pub(crate) fn answer(store: &Store, req: &Request<Bytes>) -> Response<Body> {
    if req.method() != http::Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported");
    }
    let path = req.uri().path().trim_end_matches('/');
    let q = parse_query(req.uri().query().unwrap_or(""));
    match path {
        "/api/v1/metrics/series" => series(store, &q),
        "/api/v1/services/red" => red(store, &q),
        "/api/services" => jaeger_data(store.services().into_keys().map(Json::from).collect()),
        "/api/traces" => match search(&q, true) {
            Ok(s) => jaeger_data(
                store
                    .search(&s)
                    .iter()
                    .map(|id| jaeger_trace(id, &store.trace(id), &store.trace_logs(id)))
                    .collect(),
            ),
            Err(m) => jaeger_error(StatusCode::BAD_REQUEST, &m),
        },
        "/api/v1/traces" => match search(&q, false) {
            Ok(s) => {
                let traces: Vec<Json> = store
                    .search(&s)
                    .iter()
                    .map(|id| trace_summary(id, &store.trace(id)))
                    .collect();
                respond(StatusCode::OK, &json!({ "traces": traces }))
            }
            Err(m) => error(StatusCode::BAD_REQUEST, &m),
        },
        _ => {
            if let Some(svc) = path
                .strip_prefix("/api/services/")
                .and_then(|r| r.strip_suffix("/operations"))
            {
                let svc = percent_decode(svc);
                let ops = store.services().remove(&svc).unwrap_or_default();
                return jaeger_data(ops.into_iter().map(Json::from).collect());
            }
            if let Some(id) = path.strip_prefix("/api/traces/") {
                return match parse_trace_id(id) {
                    None => jaeger_error(StatusCode::BAD_REQUEST, "trace id must be 32 hex digits"),
                    Some(tid) => {
                        let spans = store.trace(&tid);
                        if spans.is_empty() {
                            jaeger_error(StatusCode::NOT_FOUND, "trace not found")
                        } else {
                            jaeger_data(vec![jaeger_trace(&tid, &spans, &store.trace_logs(&tid))])
                        }
                    }
                };
            }
            if let Some(id) = path.strip_prefix("/api/v1/traces/") {
                return match parse_trace_id(id) {
                    None => error(StatusCode::BAD_REQUEST, "trace id must be 32 hex digits"),
                    Some(tid) => {
                        let spans = store.trace(&tid);
                        if spans.is_empty() {
                            error(StatusCode::NOT_FOUND, "trace not in the store")
                        } else {
                            respond(
                                StatusCode::OK,
                                &trace_json(&tid, &spans, &store.trace_logs(&tid)),
                            )
                        }
                    }
                };
            }
            error(StatusCode::NOT_FOUND, "no such route")
        }
    }
}

// === parameters ===

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_trace_id(s: &str) -> Option<[u8; 16]> {
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut id = [0u8; 16];
    hex::decode_to_slice(format!("{s:0>32}"), &mut id).ok()?;
    (id != [0; 16]).then_some(id)
}

/// Unix seconds (possibly fractional) to nanoseconds.
fn seconds(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, String> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .map(|s| Some((s * 1e9) as i64))
            .ok_or_else(|| format!("{key} must be unix seconds")),
    }
}

/// A duration: `250ms`, `1m` or seconds.
fn duration_ns(v: &str) -> Option<i64> {
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s > 0.0).then_some((s * 1e9) as i64);
    }
    humantime::parse_duration(v)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
}

/// The range of a request: `start`/`end` in unix seconds (default the last hour).
fn range(q: &HashMap<String, String>) -> Result<(i64, i64), String> {
    let end = seconds(q, "end")?.unwrap_or_else(now_ns);
    let start = seconds(q, "start")?.unwrap_or(end - 3_600_000_000_000);
    if start >= end {
        return Err("start must be before end".into());
    }
    Ok((start, end))
}

/// A trace search from Jaeger's parameters (`start`/`end` in microseconds,
/// `minDuration`/`maxDuration` as durations) or Lookout's (`start`/`end` in unix seconds,
/// `min_duration`, `error`).
fn search(q: &HashMap<String, String>, jaeger: bool) -> Result<Search, String> {
    let (from, to) = if jaeger {
        let us = |k: &str| -> Result<Option<i64>, String> {
            q.get(k)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.parse::<i64>()
                        .map(|x| x.saturating_mul(1000))
                        .map_err(|_| format!("{k} must be microseconds"))
                })
                .transpose()
        };
        (
            us("start")?.unwrap_or(i64::MIN),
            us("end")?.map_or(i64::MAX, |e| e.saturating_add(1)),
        )
    } else {
        (
            seconds(q, "start")?.unwrap_or(i64::MIN),
            seconds(q, "end")?.unwrap_or(i64::MAX),
        )
    };
    let dur = |k: &str| -> Result<Option<i64>, String> {
        q.get(k)
            .filter(|v| !v.is_empty())
            .map(|v| duration_ns(v).ok_or_else(|| format!("{k} must be a duration such as 100ms")))
            .transpose()
    };
    let (min_key, max_key) = if jaeger {
        ("minDuration", "maxDuration")
    } else {
        ("min_duration", "max_duration")
    };
    let error = match q.get("error").map(String::as_str) {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err("error must be true or false".into()),
    };
    let text = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    Ok(Search {
        service: text("service"),
        operation: text("operation"),
        min_duration: dur(min_key)?,
        max_duration: dur(max_key)?,
        error,
        from,
        to,
        limit: q
            .get("limit")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(DEFAULT_LIMIT)
            .clamp(1, MAX_LIMIT),
    })
}

// === answers ===

fn series(store: &Store, q: &HashMap<String, String>) -> Response<Body> {
    let Some(name) = q.get("name").filter(|n| !n.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "name is required");
    };
    let (start, end) = match range(q) {
        Ok(r) => r,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let step = match q.get("step").filter(|v| !v.is_empty()) {
        None => 60_000_000_000,
        Some(v) => match duration_ns(v) {
            Some(s) => s,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "step must be a duration such as 1m",
                );
            }
        },
    };
    if (end - start) / step > MAX_STEPS {
        return error(
            StatusCode::BAD_REQUEST,
            "too many steps: raise step or narrow the range",
        );
    }
    let series: Vec<Json> = store
        .series(name, start, end, step)
        .into_iter()
        .map(|s| {
            let labels: Json = serde_json::from_str(&s.labels).unwrap_or(Json::Null);
            let points: Vec<Json> = s
                .points
                .iter()
                .map(|(t, a)| {
                    json!({"t": *t as f64 / 1e9, "min": a.min, "max": a.max,
                           "avg": a.sum / a.count.max(1) as f64, "sum": a.sum, "count": a.count})
                })
                .collect();
            json!({"labels": labels, "points": points})
        })
        .collect();
    respond(
        StatusCode::OK,
        &json!({"name": name, "start": start as f64 / 1e9, "end": end as f64 / 1e9,
                "step": step as f64 / 1e9, "series": series}),
    )
}

fn red(store: &Store, q: &HashMap<String, String>) -> Response<Body> {
    let (start, end) = match range(q) {
        Ok(r) => r,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let secs = (end - start) as f64 / 1e9;
    let services: Vec<Json> = store
        .red(start, end)
        .into_iter()
        .map(|r| {
            json!({"service": r.service, "count": r.count, "errors": r.errors,
                   "rate": r.count as f64 / secs,
                   "error_rate": if r.count == 0 { 0.0 } else { r.errors as f64 / r.count as f64 },
                   "avg_ms": r.dur_sum as f64 / r.count.max(1) as f64 / 1e6,
                   "p50_ms": r.p50 / 1e6, "p95_ms": r.p95 / 1e6, "p99_ms": r.p99 / 1e6})
        })
        .collect();
    respond(
        StatusCode::OK,
        &json!({"start": start as f64 / 1e9, "end": end as f64 / 1e9, "services": services}),
    )
}

fn tags(attrs: &str) -> Vec<Json> {
    let Ok(Json::Object(map)) = serde_json::from_str::<Json>(attrs) else {
        return Vec::new();
    };
    map.into_iter()
        .map(|(key, value)| {
            let kind = match &value {
                Json::Bool(_) => "bool",
                Json::Number(n) if n.is_i64() || n.is_u64() => "int64",
                Json::Number(_) => "float64",
                Json::String(_) => "string",
                _ => "string",
            };
            let value = match value {
                Json::Array(_) | Json::Object(_) | Json::Null => Json::String(value.to_string()),
                v => v,
            };
            json!({"key": key, "type": kind, "value": value})
        })
        .collect()
}

/// A trace in Jaeger's JSON (as its query service answers), with each span's log records as
/// span logs.
fn jaeger_trace(id: &[u8; 16], spans: &[SpanRow], logs: &[LogRow]) -> Json {
    let tid = hex::encode(id);
    let mut processes = serde_json::Map::new();
    let mut pid: HashMap<&str, String> = HashMap::new();
    for s in spans {
        if !pid.contains_key(s.service.as_str()) {
            let p = format!("p{}", pid.len() + 1);
            processes.insert(p.clone(), json!({"serviceName": s.service, "tags": []}));
            pid.insert(&s.service, p);
        }
    }
    let spans: Vec<Json> = spans
        .iter()
        .map(|s| {
            let mut t = tags(&s.attrs);
            t.extend(tags(&s.verdict));
            t.push(json!({"key": "span.kind", "type": "string", "value": kind_name(s.kind)}));
            if s.status == 2 {
                t.push(json!({"key": "error", "type": "bool", "value": true}));
            }
            let references = if s.parent == [0; 8] {
                vec![]
            } else {
                vec![
                    json!({"refType": "CHILD_OF", "traceID": tid, "spanID": hex::encode(s.parent)}),
                ]
            };
            let span_logs: Vec<Json> = logs
                .iter()
                .filter(|l| l.span_id == s.span_id)
                .map(|l| {
                    json!({"timestamp": l.ts / 1000, "fields": [
                        {"key": "message", "type": "string", "value": l.body},
                        {"key": "level", "type": "string", "value": l.severity_text}]})
                })
                .collect();
            json!({
                "traceID": tid, "spanID": hex::encode(s.span_id), "operationName": s.name,
                "references": references, "startTime": s.start / 1000, "duration": s.dur / 1000,
                "tags": t, "logs": span_logs,
                "processID": pid.get(s.service.as_str()).cloned().unwrap_or_default(),
                "warnings": null, "flags": 1,
            })
        })
        .collect();
    json!({"traceID": tid, "spans": spans, "processes": processes, "warnings": null})
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

/// `/api/v1/traces/{id}`: the trace's spans and log records.
fn trace_json(id: &[u8; 16], spans: &[SpanRow], logs: &[LogRow]) -> Json {
    let attrs = |s: &str| serde_json::from_str::<Json>(s).unwrap_or(Json::Null);
    json!({
        "trace_id": hex::encode(id),
        "source": "store",
        "spans": spans.iter().map(|s| json!({
            "span_id": hex::encode(s.span_id),
            "parent_span_id": if s.parent == [0; 8] { Json::Null } else { Json::from(hex::encode(s.parent)) },
            "service": s.service, "name": s.name, "kind": kind_name(s.kind),
            "start_unix_nano": s.start, "duration_nano": s.dur,
            "status": match s.status { 1 => "ok", 2 => "error", _ => "unset" },
            "verdict": attrs(&s.verdict), "attributes": attrs(&s.attrs),
        })).collect::<Vec<_>>(),
        "logs": logs.iter().map(|l| json!({
            "time_unix_nano": l.ts, "span_id": hex::encode(l.span_id), "service": l.service,
            "severity_number": l.severity, "severity_text": l.severity_text, "body": l.body,
            "attributes": attrs(&l.attrs),
        })).collect::<Vec<_>>(),
    })
}

/// One search result of `/api/v1/traces`.
fn trace_summary(id: &[u8; 16], spans: &[SpanRow]) -> Json {
    let root = spans.iter().find(|s| s.parent == [0; 8]).or(spans.first());
    let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let end = spans
        .iter()
        .map(|s| s.start.saturating_add(s.dur))
        .max()
        .unwrap_or(0);
    json!({
        "trace_id": hex::encode(id),
        "root_service": root.map(|s| s.service.as_str()),
        "root_name": root.map(|s| s.name.as_str()),
        "start_unix_nano": start,
        "duration_nano": end - start,
        "spans": spans.len(),
        "errors": spans.iter().filter(|s| s.status == 2).count(),
    })
}
