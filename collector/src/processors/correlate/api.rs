//! The trace lookup API on the admin listener: Lookout's own (`/api/v1/traces`) and the
//! subset of Jaeger's query JSON API that Grafana's Jaeger data source calls
//! (`/api/services`, `/api/services/{service}/operations`, `/api/traces`, `/api/traces/{id}`).
//!
//! The window is one [`TraceSource`] of the host's trace APIs
//! (`component/trace_sources.rs`), which also asks the `store` exporter for older traces.
//! `component/openapi.json` (served at `/api/v1/openapi.json`) describes Lookout's own
//! routes; a test checks the answers against its schemas.
//!
//! Every answer is built under the window's lock from at most the window's traces, and search
//! answers stop at their limit (at most `max_search_results`), so a request's work is bounded
//! by `num_traces`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use http::StatusCode;
use serde_json::{Value as Json, json};

use super::Correlator;
use super::window::{
    ERROR_SEVERITY, LogSummary, Resource, SpanId, SpanSummary, Trace, TraceId, Value, Window,
};
use crate::component::trace_sources::TraceSource;
#[cfg(test)]
use crate::net::query::parse_query;
use crate::net::query::percent_decode;

/// Nesting kept in the span tree; deeper spans are listed at the top level (flagged).
const MAX_DEPTH: usize = 64;
/// Search results when the request sets no limit.
const DEFAULT_LIMIT: usize = 20;

type Answer = (StatusCode, Json);

impl TraceSource for Correlator {
    fn answer(&self, path: &str, query: &HashMap<String, String>) -> Answer {
        answer_json(self, path, query)
    }
}

fn respond(status: StatusCode, body: Json) -> Answer {
    (status, body)
}

fn error(status: StatusCode, message: &str) -> Answer {
    respond(status, json!({"error": message}))
}

/// Jaeger's error envelope.
fn jaeger_error(status: StatusCode, message: &str) -> Answer {
    respond(
        status,
        json!({"data": null, "total": 0, "limit": 0, "offset": 0,
                "errors": [{"code": status.as_u16(), "msg": message}]}),
    )
}

/// Jaeger's success envelope.
fn jaeger_data(data: Vec<Json>) -> Answer {
    let total = data.len();
    respond(
        StatusCode::OK,
        json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null}),
    )
}

/// Answers one request from the window alone (the host's handler merges it with the other
/// sources): what the unit tests ask.
#[cfg(test)]
pub(crate) fn answer(
    shared: &Correlator,
    req: &http::Request<bytes::Bytes>,
) -> http::Response<crate::net::Body> {
    let path = req.uri().path().trim_end_matches('/');
    let (status, body) = if req.method() != http::Method::GET {
        error(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported")
    } else if path == "/api/v1/openapi.json" {
        (
            StatusCode::OK,
            serde_json::from_str(crate::component::trace_sources::OPENAPI).unwrap_or(Json::Null),
        )
    } else {
        answer_json(shared, path, &parse_query(req.uri().query().unwrap_or("")))
    };
    let mut response = http::Response::new(crate::net::full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Answers one GET of a route of the trace APIs from the window.
fn answer_json(shared: &Correlator, path: &str, query: &HashMap<String, String>) -> Answer {
    let mut window = shared.window();
    window.enforce(std::time::Instant::now());
    let limit = |key: &str| {
        query
            .get(key)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(DEFAULT_LIMIT)
            .clamp(1, shared.config.max_search_results)
    };
    if let Some(rest) = path.strip_prefix("/api/v1/traces") {
        return match rest.strip_prefix('/') {
            None if rest.is_empty() => match Filter::lookout(query) {
                Ok(filter) => respond(StatusCode::OK, search(&window, &filter, limit("limit"))),
                Err(msg) => error(StatusCode::BAD_REQUEST, &msg),
            },
            Some(id) => match parse_trace_id(id) {
                None => error(StatusCode::BAD_REQUEST, "trace id must be 32 hex digits"),
                Some(tid) => match window.get(&tid) {
                    None => error(StatusCode::NOT_FOUND, "trace not in the window"),
                    Some(trace) => respond(StatusCode::OK, trace_json(&tid, trace)),
                },
            },
            None => error(StatusCode::NOT_FOUND, "no such route"),
        };
    }
    if path == "/api/services" {
        let services: BTreeSet<&str> = window
            .newest_first()
            .flat_map(|(_, t)| t.resources.iter().map(|r| &*r.service))
            .filter(|s| !s.is_empty())
            .collect();
        return jaeger_data(services.into_iter().map(Json::from).collect());
    }
    if let Some(service) = path
        .strip_prefix("/api/services/")
        .and_then(|rest| rest.strip_suffix("/operations"))
    {
        let service = percent_decode(service);
        let mut operations = BTreeSet::new();
        for (_, trace) in window.newest_first() {
            for span in trace.spans() {
                if service_of(trace, &span) == service {
                    operations.insert(trace.name(&span));
                }
            }
        }
        return jaeger_data(operations.into_iter().map(Json::from).collect());
    }
    if let Some(rest) = path.strip_prefix("/api/traces") {
        return match rest.strip_prefix('/') {
            None if rest.is_empty() => match Filter::jaeger(query) {
                Ok(filter) => {
                    let data = matching(&window, &filter, limit("limit"))
                        .into_iter()
                        .map(|(id, t)| jaeger_trace(id, t))
                        .collect();
                    jaeger_data(data)
                }
                Err(msg) => jaeger_error(StatusCode::BAD_REQUEST, &msg),
            },
            Some(id) => match parse_trace_id(id) {
                None => jaeger_error(StatusCode::BAD_REQUEST, "trace id must be 32 hex digits"),
                Some(tid) => match window.get(&tid) {
                    None => jaeger_error(StatusCode::NOT_FOUND, "trace not found"),
                    Some(trace) => jaeger_data(vec![jaeger_trace(&tid, trace)]),
                },
            },
            None => jaeger_error(StatusCode::NOT_FOUND, "no such route"),
        };
    }
    error(StatusCode::NOT_FOUND, "no such route")
}

// === queries ===

/// A 32-hex-digit trace id (Jaeger also accepts shorter ids, left-padded with zeros).
fn parse_trace_id(s: &str) -> Option<TraceId> {
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{s:0>32}");
    let mut id = [0u8; 16];
    hex::decode_to_slice(padded, &mut id).ok()?;
    (id != [0; 16]).then_some(id)
}

/// What a search keeps.
#[derive(Debug, Default)]
struct Filter {
    service: Option<String>,
    operation: Option<String>,
    min_duration_ns: u64,
    max_duration_ns: Option<u64>,
    /// Last activity at or after this (Unix ns).
    since_ns: u64,
    /// First span started at or before this (Unix ns): Jaeger's `end`.
    until_ns: Option<u64>,
    error: bool,
    anomalous: bool,
    has_error_logs: bool,
}

fn flag(query: &HashMap<String, String>, key: &str) -> Result<bool, String> {
    match query.get(key).map(String::as_str) {
        None | Some("" | "false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!("{key} must be true or false, got {other:?}")),
    }
}

fn nonempty(query: &HashMap<String, String>, key: &str) -> Option<String> {
    query.get(key).filter(|v| !v.is_empty()).cloned()
}

/// A Go-style duration (`1.2s`, `100ms`, `1h`) in nanoseconds.
fn go_duration(s: &str) -> Result<u64, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}"))?;
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => {
            return Err(format!(
                "invalid duration {s:?} (units: ns, us, ms, s, m, h)"
            ));
        }
    };
    Ok((number * scale) as u64)
}

impl Filter {
    fn lookout(query: &HashMap<String, String>) -> Result<Filter, String> {
        let min_duration_ns = match query.get("min_duration_ms").filter(|v| !v.is_empty()) {
            Some(v) => {
                v.parse::<f64>()
                    .map_err(|_| format!("min_duration_ms must be a number, got {v:?}"))?
                    .max(0.0)
                    * 1e6
            }
            None => 0.0,
        } as u64;
        Ok(Filter {
            service: nonempty(query, "service"),
            operation: nonempty(query, "operation"),
            min_duration_ns,
            error: flag(query, "error")?,
            anomalous: flag(query, "anomalous")?,
            has_error_logs: flag(query, "has_error_logs")?,
            ..Filter::default()
        })
    }

    fn jaeger(query: &HashMap<String, String>) -> Result<Filter, String> {
        let duration = |key: &str| -> Result<Option<u64>, String> {
            nonempty(query, key).map(|v| go_duration(&v)).transpose()
        };
        // Jaeger's `start` and `end`, microseconds, as nanoseconds.
        let micros = |key: &str| -> Result<Option<u64>, String> {
            nonempty(query, key)
                .map(|v| {
                    v.parse::<u64>()
                        .map(|us| us.saturating_mul(1000))
                        .map_err(|_| format!("{key} must be microseconds, got {v:?}"))
                })
                .transpose()
        };
        let now = crate::core::otlp_build::unix_nanos(std::time::SystemTime::now());
        // `start` wins; Grafana sends `lookback=custom` beside it.
        let since_ns = match micros("start")? {
            Some(start) => start,
            None => match nonempty(query, "lookback").filter(|l| l != "custom") {
                Some(lookback) => now.saturating_sub(go_duration(&lookback)?),
                None => 0,
            },
        };
        let until_ns = micros("end")?;
        Ok(Filter {
            service: nonempty(query, "service"),
            operation: nonempty(query, "operation"),
            min_duration_ns: duration("minDuration")?.unwrap_or(0),
            max_duration_ns: duration("maxDuration")?,
            since_ns,
            until_ns,
            ..Filter::default()
        })
    }

    fn keeps(&self, trace: &Trace) -> bool {
        if trace.last_wall < self.since_ns {
            return false;
        }
        if let Some(until) = self.until_ns
            && trace_start(trace).is_some_and(|t| t > until)
        {
            return false;
        }
        let spans = || {
            trace.spans().filter(|s| {
                self.service
                    .as_deref()
                    .is_none_or(|want| service_of(trace, s) == want)
                    && self
                        .operation
                        .as_deref()
                        .is_none_or(|op| trace.name(s) == op)
            })
        };
        if (self.service.is_some() || self.operation.is_some()) && spans().next().is_none() {
            return false;
        }
        let duration = trace_duration(trace);
        if duration < self.min_duration_ns || self.max_duration_ns.is_some_and(|m| duration > m) {
            return false;
        }
        if self.error && !trace.spans().any(|s| s.status == 2) {
            return false;
        }
        if self.anomalous && trace.verdict().is_none() {
            return false;
        }
        if self.has_error_logs && !trace.logs.iter().any(|l| l.severity >= ERROR_SEVERITY) {
            return false;
        }
        true
    }
}

fn matching<'w>(
    window: &'w Window,
    filter: &Filter,
    limit: usize,
) -> Vec<(&'w TraceId, &'w Trace)> {
    window
        .newest_first()
        .filter(|(_, t)| t.span_count() > 0 && filter.keeps(t))
        .take(limit)
        .collect()
}

fn search(window: &Window, filter: &Filter, limit: usize) -> Json {
    let traces: Vec<Json> = matching(window, filter, limit)
        .into_iter()
        .map(|(id, t)| {
            let root = t.root();
            json!({
                "trace_id": hex::encode(id),
                "root_service": root.as_ref().map(|r| service_of(t, r)),
                "root_name": root.as_ref().map(|r| t.name(r)),
                "start_unix_nano": t.spans().map(|s| s.start).min(),
                "duration_ns": trace_duration(t),
                "spans": t.span_count(),
                "logs": t.logs.len(),
                "error": t.spans().any(|s| s.status == 2),
                "anomalous": t.verdict().is_some(),
                "error_logs": t.logs.iter().filter(|l| l.severity >= ERROR_SEVERITY).count(),
            })
        })
        .collect();
    json!({ "traces": traces })
}

// === the trace as Lookout answers it ===

fn service_of<'t>(trace: &'t Trace, span: &SpanSummary) -> &'t str {
    trace.resource_of(span).map_or("", |r| &*r.service)
}

/// The root's duration, or the trace's extent when it has no root.
/// When the trace's earliest span started (Unix ns); `None` for a trace without spans.
fn trace_start(trace: &Trace) -> Option<u64> {
    trace.spans().map(|s| s.start).min()
}

fn trace_duration(trace: &Trace) -> u64 {
    if let Some(root) = trace.spans().find(|s| s.is_root()) {
        return root.duration();
    }
    let start = trace_start(trace).unwrap_or(0);
    let end = trace.spans().map(|s| s.end).max().unwrap_or(0);
    end.saturating_sub(start)
}

fn attrs_json(attrs: &[(Box<str>, Value)]) -> Json {
    Json::Object(
        attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect(),
    )
}

fn log_json(log: &LogSummary) -> Json {
    json!({
        "time_unix_nano": log.time,
        "severity_number": log.severity,
        "severity_text": &*log.severity_text,
        "body": &*log.body,
        "span_id": log.span_id.map(hex::encode),
    })
}

fn sorted_logs<'t>(logs: impl Iterator<Item = &'t LogSummary>) -> Vec<Json> {
    let mut logs: Vec<&LogSummary> = logs.collect();
    logs.sort_by_key(|l| l.time);
    logs.into_iter().map(log_json).collect()
}

fn span_json(trace: &Trace, span: &SpanSummary, children: Vec<Json>) -> Json {
    json!({
        "span_id": hex::encode(span.span_id),
        "parent_span_id": (!span.is_root()).then(|| hex::encode(span.parent)),
        "service": service_of(trace, span),
        "name": trace.name(span),
        "kind": span.kind,
        "start_unix_nano": span.start,
        "duration_ns": span.duration(),
        "status": {"code": span.status, "message": trace.status_message(span)},
        "attributes": attrs_json(&trace.attributes(span)),
        "verdict": trace.verdict_of(span).map(|v| json!({
            "anomaly": true, "kind": v.kind, "root_span_id": v.root_span_id,
        })),
        "logs": sorted_logs(trace.logs.iter().filter(|l| l.span_id == Some(span.span_id))),
        "children": children,
    })
}

/// The spans as a tree: roots are spans whose parent is not in the window (or who have
/// none); children in start order; cycles and nesting beyond [`MAX_DEPTH`] listed at the top.
pub(crate) fn trace_json(id: &TraceId, trace: &Trace) -> Json {
    let spans: Vec<SpanSummary> = trace.spans().collect();
    let known: BTreeSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
    let mut children: BTreeMap<SpanId, Vec<usize>> = BTreeMap::new();
    let mut roots = Vec::new();
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| spans.get(i).map_or(0, |s| s.start));
    for &i in &order {
        let Some(span) = spans.get(i) else {
            continue;
        };
        if span.is_root() || !known.contains(&span.parent) || span.parent == span.span_id {
            roots.push(i);
        } else {
            children.entry(span.parent).or_default().push(i);
        }
    }
    let mut placed = vec![false; spans.len()];
    let mut tree: Vec<Json> = Vec::new();
    let mut pending: Vec<usize> = roots;
    let mut next = 0;
    loop {
        while let Some(&i) = pending.get(next) {
            next += 1;
            if let Some(node) = subtree(trace, &spans, i, &children, &mut placed, 0, &mut pending) {
                tree.push(node);
            }
        }
        // Spans never reached (their parents form a cycle) are listed at the top too.
        match placed.iter().position(|p| !p) {
            Some(j) => pending.push(j),
            None => break,
        }
    }
    json!({
        "trace_id": hex::encode(id),
        "spans": tree,
        "logs_without_span": sorted_logs(trace.logs.iter().filter(|l| {
            l.span_id.is_none_or(|s| !known.contains(&s))
        })),
        "exemplars": trace.exemplars.iter().map(|e| json!({
            "metric": &*e.metric,
            "time_unix_nano": e.time,
            "value": e.value,
            "span_id": e.span_id.map(hex::encode),
        })).collect::<Vec<_>>(),
        "bytes_held": trace.bytes(),
    })
}

fn subtree(
    trace: &Trace,
    spans: &[SpanSummary],
    i: usize,
    children: &BTreeMap<SpanId, Vec<usize>>,
    placed: &mut [bool],
    depth: usize,
    deferred: &mut Vec<usize>,
) -> Option<Json> {
    let slot = placed.get_mut(i)?;
    if *slot {
        return None;
    }
    *slot = true;
    let span = spans.get(i)?;
    let mut nested = Vec::new();
    for &c in children
        .get(&span.span_id)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if depth + 1 >= MAX_DEPTH {
            deferred.push(c);
        } else if let Some(node) = subtree(trace, spans, c, children, placed, depth + 1, deferred) {
            nested.push(node);
        }
    }
    Some(span_json(trace, span, nested))
}

// === the trace as Jaeger answers it ===

fn jaeger_tag(key: &str, value: &Value) -> Json {
    let kind = match value {
        Value::Str(_) => "string",
        Value::Int(_) => "int64",
        Value::Double(_) => "float64",
        Value::Bool(_) => "bool",
    };
    json!({"key": key, "type": kind, "value": value.to_json()})
}

fn jaeger_string_tag(key: &str, value: &str) -> Json {
    json!({"key": key, "type": "string", "value": value})
}

/// Jaeger's `span.kind` tag values, from the OTLP kind.
fn kind_name(kind: i32) -> Option<&'static str> {
    match kind {
        1 => Some("internal"),
        2 => Some("server"),
        3 => Some("client"),
        4 => Some("producer"),
        5 => Some("consumer"),
        _ => None,
    }
}

/// One trace in Jaeger's JSON model: processes `p1`, `p2`, … per distinct resource; span
/// kind, status and verdict as tags (as Jaeger's OTLP translator writes them); log records
/// of a span as its logs (`event` = body, `level` = severity text).
pub(crate) fn jaeger_trace(id: &TraceId, trace: &Trace) -> Json {
    let trace_hex = hex::encode(id);
    let process_id = |r: Option<u8>| format!("p{}", r.map_or(0, |i| u32::from(i) + 1));
    let mut processes = serde_json::Map::new();
    let process = |r: Option<&Resource>| {
        json!({
            "serviceName": r.map_or("unknown_service", |r| if r.service.is_empty() { "unknown_service" } else { &r.service }),
            "tags": r.map(|r| r.attrs.iter().filter(|(k, _)| &**k != "service.name")
                .map(|(k, v)| jaeger_tag(k, v)).collect::<Vec<_>>()).unwrap_or_default(),
        })
    };
    let spans: Vec<Json> = trace
        .spans()
        .map(|span| {
            let span = &span;
            let pid = process_id(span.resource);
            if !processes.contains_key(&pid) {
                processes.insert(pid.clone(), process(trace.resource_of(span)));
            }
            let mut tags: Vec<Json> = trace
                .attributes(span)
                .iter()
                .map(|(k, v)| jaeger_tag(k, v))
                .collect();
            if let Some(kind) = kind_name(span.kind) {
                tags.push(jaeger_string_tag("span.kind", kind));
            }
            match span.status {
                1 => tags.push(jaeger_string_tag("otel.status_code", "OK")),
                2 => {
                    tags.push(jaeger_string_tag("otel.status_code", "ERROR"));
                    tags.push(json!({"key": "error", "type": "bool", "value": true}));
                }
                _ => {}
            }
            if !trace.status_message(span).is_empty() {
                tags.push(jaeger_string_tag("otel.status_description", trace.status_message(span)));
            }
            if let Some(v) = trace.verdict_of(span) {
                tags.push(json!({"key": lookout_anomaly::ATTR_ANOMALY, "type": "bool", "value": true}));
                tags.push(jaeger_string_tag(lookout_anomaly::ATTR_KIND, v.kind));
            }
            let mut logs: Vec<&LogSummary> = trace
                .logs
                .iter()
                .filter(|l| l.span_id == Some(span.span_id))
                .collect();
            logs.sort_by_key(|l| l.time);
            let references: Vec<Json> = if span.is_root() {
                Vec::new()
            } else {
                vec![json!({"refType": "CHILD_OF", "traceID": trace_hex, "spanID": hex::encode(span.parent)})]
            };
            json!({
                "traceID": trace_hex,
                "spanID": hex::encode(span.span_id),
                "flags": 1,
                "operationName": trace.name(span),
                "references": references,
                "startTime": span.start / 1000,
                "duration": span.duration() / 1000,
                "tags": tags,
                "logs": logs.into_iter().map(|l| json!({
                    "timestamp": l.time / 1000,
                    "fields": [jaeger_string_tag("event", &l.body), jaeger_string_tag("level", &l.severity_text)],
                })).collect::<Vec<_>>(),
                "processID": pid,
                "warnings": null,
            })
        })
        .collect();
    json!({
        "traceID": trace_hex,
        "spans": spans,
        "processes": processes,
        "warnings": null,
    })
}
