//! The store's JSON routes on the admin listener (docs/store.md, "HTTP API"):
//! `/api/v1/metrics/series` and `/api/v1/services/red` for the console; and the store as a
//! source of the host's trace APIs (`component/trace_sources.rs`: Jaeger's `/api/services`,
//! `/api/services/{service}/operations`, `/api/traces`, `/api/traces/{id}`, and Lookout's
//! `/api/v1/traces`), whose routes it mounts as fallbacks: with a `correlate` processor
//! (`api: true`) that one mounts them, and the window answers first, the store after it.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use serde_json::{Value as Json, json};

use super::db::{Store, now_ns};
use super::query::{Red, RedQuery, Search};
use super::rollup::MINUTE_NS;
use super::rows::{LogRow, SpanRow};
use crate::component::Host;
use crate::component::admin::Handler;
use crate::component::trace_sources::{self, Tier, TraceSource};
use crate::core::ComponentId;
use crate::net::Body;
use crate::net::query::{parse_query, percent_decode};

/// Routes the store owns.
const OWN: [&str; 5] = [
    "/api/v1/metrics/series",
    "/api/v1/services/red",
    "/api/v1/history/episodes",
    "/api/v1/history/alerts",
    "/api/v1/report",
];
/// Longest range `/api/v1/report` covers.
const MAX_REPORT_RANGE: i64 = 31 * 24 * 3600 * 1_000_000_000;
/// History events answered when the request sets no `limit`.
const DEFAULT_HISTORY_LIMIT: usize = 100;
/// Search results when the request sets none, and at most.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;
/// OTLP severity number of ERROR.
const ERROR_SEVERITY: u8 = 17;
/// Steps a series answer may hold.
const MAX_STEPS: i64 = 11_000;

/// Mounts the routes of exporter `id` and registers the store as a trace source.
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
    let source: Arc<dyn TraceSource> = Arc::clone(store) as _;
    host.trace_sources()
        .register(Tier::Store, id, Arc::downgrade(&source));
    for prefix in trace_sources::PREFIXES {
        host.admin().mount_fallback(
            id,
            prefix,
            trace_sources::handler(host.trace_sources().clone()),
        )?;
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

type Answer = (StatusCode, Json);

fn jaeger_data(data: Vec<Json>) -> Answer {
    let total = data.len();
    (
        StatusCode::OK,
        json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null}),
    )
}

fn jaeger_error(status: StatusCode, message: &str) -> Answer {
    (
        status,
        json!({"data": null, "total": 0, "limit": 0, "offset": 0,
                "errors": [{"code": status.as_u16(), "msg": message}]}),
    )
}

/// Answers one request of the store's own routes.
pub(crate) fn answer(store: &Store, req: &Request<Bytes>) -> Response<Body> {
    if req.method() != http::Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported");
    }
    let q = parse_query(req.uri().query().unwrap_or(""));
    if req.uri().path().trim_end_matches('/') == "/api/v1/report" {
        return report(store, &q);
    }
    let (status, body) = match req.uri().path().trim_end_matches('/') {
        "/api/v1/metrics/series" => series(store, &q),
        "/api/v1/services/red" => red(store, &q),
        "/api/v1/history/episodes" => history(
            &q,
            |from, to, limit| json!({ "episodes": store.episodes(from, to, limit) }),
        ),
        "/api/v1/history/alerts" => history(
            &q,
            |from, to, limit| json!({ "alerts": store.alerts(from, to, limit) }),
        ),
        _ => (StatusCode::NOT_FOUND, json!({"error": "no such route"})),
    };
    respond(status, &body)
}

/// `GET /api/v1/report?since=24h&until=&format=html|json|csv&download=1`: the report of
/// docs/reports.md over the range (`since` and `until` a duration before now or an RFC 3339
/// time; at most 31 days); `download=1` asks the browser to save it.
fn report(store: &Store, q: &HashMap<String, String>) -> Response<Body> {
    use crate::reports::{Format, build, cli::parse_time, render};
    let now = now_ns();
    let since = q.get("since").map_or("24h", String::as_str);
    let parsed = (|| {
        let from = parse_time(since, now)?;
        let to = match q.get("until").filter(|u| !u.is_empty()) {
            Some(u) => parse_time(u, now)?,
            None => now,
        };
        let format: Format = q.get("format").map_or("html", String::as_str).parse()?;
        if from >= to || to - from > MAX_REPORT_RANGE {
            return Err("since must be before until, and the range at most 31 days".to_string());
        }
        Ok((from, to, format))
    })();
    let (from, to, format) = match parsed {
        Ok(p) => p,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let text = render(&build(store, from, to), format);
    let mut response = Response::new(crate::net::full(text));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(format.content_type()),
    );
    if q.get("download").is_some_and(|d| d == "1") {
        let name = format!("lookout-report.{}", format.extension());
        if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    response
}

impl TraceSource for Store {
    fn answer(&self, path: &str, q: &HashMap<String, String>) -> Answer {
        let store = self;
        match path {
            "/api/services" => jaeger_data(store.services().into_keys().map(Json::from).collect()),
            "/api/traces" => match search(q, true) {
                Ok(s) => jaeger_data(
                    store
                        .search(&s)
                        .iter()
                        .map(|id| jaeger_trace(id, &store.trace(id), &store.trace_logs(id)))
                        .collect(),
                ),
                Err(m) => jaeger_error(StatusCode::BAD_REQUEST, &m),
            },
            "/api/v1/traces" => match search(q, false) {
                Ok(s) => {
                    let error_logs = flag(q, "has_error_logs").unwrap_or(false);
                    let traces: Vec<Json> = store
                        .search(&s)
                        .iter()
                        .filter_map(|id| {
                            let logs = store.trace_logs(id);
                            let bad = logs.iter().filter(|l| l.severity >= ERROR_SEVERITY).count();
                            (!error_logs || bad > 0)
                                .then(|| trace_summary(id, &store.trace(id), &logs))
                        })
                        .collect();
                    (StatusCode::OK, json!({ "traces": traces }))
                }
                Err(m) => (StatusCode::BAD_REQUEST, json!({"error": m})),
            },
            _ => {
                if let Some(svc) = path
                    .strip_prefix("/api/services/")
                    .and_then(|r| r.strip_suffix("/operations"))
                {
                    let ops = store
                        .services()
                        .remove(&percent_decode(svc))
                        .unwrap_or_default();
                    return jaeger_data(ops.into_iter().map(Json::from).collect());
                }
                if let Some(id) = path.strip_prefix("/api/traces/") {
                    return match parse_trace_id(id) {
                        None => {
                            jaeger_error(StatusCode::BAD_REQUEST, "trace id must be 32 hex digits")
                        }
                        Some(tid) => {
                            let spans = store.trace(&tid);
                            if spans.is_empty() {
                                jaeger_error(StatusCode::NOT_FOUND, "trace not found")
                            } else {
                                jaeger_data(vec![jaeger_trace(
                                    &tid,
                                    &spans,
                                    &store.trace_logs(&tid),
                                )])
                            }
                        }
                    };
                }
                if let Some(id) = path.strip_prefix("/api/v1/traces/") {
                    return match parse_trace_id(id) {
                        None => (
                            StatusCode::BAD_REQUEST,
                            json!({"error": "trace id must be 32 hex digits"}),
                        ),
                        Some(tid) => {
                            let spans = store.trace(&tid);
                            if spans.is_empty() {
                                (
                                    StatusCode::NOT_FOUND,
                                    json!({"error": "trace not in the store"}),
                                )
                            } else {
                                (
                                    StatusCode::OK,
                                    trace_json(&tid, &spans, &store.trace_logs(&tid)),
                                )
                            }
                        }
                    };
                }
                (StatusCode::NOT_FOUND, json!({"error": "no such route"}))
            }
        }
    }
}

// === parameters ===

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

fn flag(q: &HashMap<String, String>, key: &str) -> Result<bool, String> {
    match q.get(key).map(String::as_str) {
        None | Some("" | "false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!("{key} must be true or false, got {other:?}")),
    }
}

/// A trace search from Jaeger's parameters (`start`/`end` in microseconds or `lookback`,
/// `minDuration`/`maxDuration` as durations) or Lookout's (`min_duration_ms`, `error`,
/// `anomalous`; the store also reads `start`/`end` in unix seconds).
fn search(q: &HashMap<String, String>, jaeger: bool) -> Result<Search, String> {
    let text = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let limit = q
        .get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIMIT);
    let mut s = Search {
        service: text("service"),
        operation: text("operation"),
        from: i64::MIN,
        to: i64::MAX,
        limit,
        ..Search::default()
    };
    if jaeger {
        let us = |k: &str| -> Result<Option<i64>, String> {
            text(k)
                .map(|v| {
                    v.parse::<i64>()
                        .map(|x| x.saturating_mul(1000))
                        .map_err(|_| format!("{k} must be microseconds, got {v:?}"))
                })
                .transpose()
        };
        let dur = |k: &str| -> Result<Option<i64>, String> {
            text(k)
                .map(|v| duration_ns(&v).ok_or_else(|| format!("invalid duration {v:?}")))
                .transpose()
        };
        s.from = match us("start")? {
            Some(start) => start,
            None => match text("lookback").filter(|l| l != "custom") {
                Some(l) => {
                    now_ns() - duration_ns(&l).ok_or_else(|| format!("invalid duration {l:?}"))?
                }
                None => i64::MIN,
            },
        };
        s.to = us("end")?.map_or(i64::MAX, |e| e.saturating_add(1000));
        s.min_duration = dur("minDuration")?;
        s.max_duration = dur("maxDuration")?;
    } else {
        s.from = seconds(q, "start")?.unwrap_or(i64::MIN);
        s.to = seconds(q, "end")?.unwrap_or(i64::MAX);
        if let Some(v) = text("min_duration_ms") {
            let ms = v
                .parse::<f64>()
                .map_err(|_| format!("min_duration_ms must be a number, got {v:?}"))?;
            s.min_duration = Some((ms.max(0.0) * 1e6) as i64);
        }
        s.error = flag(q, "error")?.then_some(true);
        s.anomalous = flag(q, "anomalous")?;
        flag(q, "has_error_logs")?;
    }
    Ok(s)
}

// === answers ===

/// A history route: `start`/`end` in unix seconds (default the last 24 hours), `limit`
/// (default 100, at most 1,000); `list` answers the events of `[from, to)` in seconds, to
/// which the range is added.
fn history(q: &HashMap<String, String>, list: impl FnOnce(i64, i64, usize) -> Json) -> Answer {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, json!({ "error": m }));
    let end = match seconds(q, "end") {
        Ok(e) => e.unwrap_or_else(now_ns),
        Err(m) => return bad(&m),
    };
    let start = match seconds(q, "start") {
        Ok(s) => s.unwrap_or(end - 24 * 3_600_000_000_000),
        Err(m) => return bad(&m),
    };
    if start >= end {
        return bad("start must be before end");
    }
    let limit = match q.get("limit").filter(|v| !v.is_empty()) {
        None => DEFAULT_HISTORY_LIMIT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) => n.clamp(1, MAX_LIMIT),
            Err(_) => return bad("limit must be a positive integer"),
        },
    };
    // Whole seconds covering the range.
    let (from, to) = (
        start.div_euclid(1_000_000_000),
        end.saturating_add(999_999_999).div_euclid(1_000_000_000),
    );
    let mut body = list(from, to, limit);
    if let Json::Object(map) = &mut body {
        map.insert("start".into(), json!(from));
        map.insert("end".into(), json!(to));
    }
    (StatusCode::OK, body)
}

fn series(store: &Store, q: &HashMap<String, String>) -> Answer {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, json!({ "error": m }));
    let Some(name) = q.get("name").filter(|n| !n.is_empty()) else {
        return bad("name is required");
    };
    let (start, end) = match range(q) {
        Ok(r) => r,
        Err(m) => return bad(&m),
    };
    let step = match q.get("step").filter(|v| !v.is_empty()) {
        None => 60_000_000_000,
        Some(v) => match duration_ns(v) {
            Some(s) => s,
            None => return bad("step must be a duration such as 1m, or seconds"),
        },
    };
    if (end - start) / step > MAX_STEPS {
        return bad("too many steps: raise step or narrow the range");
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
    (
        StatusCode::OK,
        json!({"name": name, "start": start as f64 / 1e9, "end": end as f64 / 1e9,
                "step": step as f64 / 1e9, "series": series}),
    )
}

fn red(store: &Store, q: &HashMap<String, String>) -> Answer {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, json!({ "error": m }));
    let (start, end) = match range(q) {
        Ok(r) => r,
        Err(m) => return bad(&m),
    };
    let step = match q.get("step").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match duration_ns(v) {
            Some(s) if s % MINUTE_NS == 0 => Some(s),
            _ => {
                return bad(
                    "step must be a whole number of minutes such as 1m or 15m (RED is kept per minute)",
                );
            }
        },
    };
    if step.is_some_and(|s| (end - start) / s > MAX_STEPS) {
        return bad("too many steps: raise step or narrow the range");
    }
    let service = q.get("service").filter(|s| !s.is_empty()).cloned();
    let answer = store.red_query(&RedQuery {
        from: start,
        to: end,
        service: service.clone(),
        step,
    });
    let list = |key: &str, rows: &[Red]| -> Vec<Json> {
        rows.iter()
            .map(|r| {
                let mut entry = red_json(
                    r.count,
                    r.errors,
                    r.dur_sum,
                    [r.p50, r.p95, r.p99],
                    (end - start) as f64 / 1e9,
                );
                entry[key] = Json::from(r.name.clone());
                if let Some(step) = step {
                    entry["points"] = r
                        .points
                        .iter()
                        .map(|p| {
                            // The last step may be cut by the range's end.
                            let secs = (p.t.saturating_add(step).min(end) - p.t) as f64 / 1e9;
                            let mut point =
                                red_json(p.count, p.errors, p.dur_sum, [p.p50, p.p95, p.p99], secs);
                            point["t"] = Json::from(p.t as f64 / 1e9);
                            point
                        })
                        .collect();
                }
                entry
            })
            .collect()
    };
    (
        StatusCode::OK,
        json!({"start": start as f64 / 1e9, "end": end as f64 / 1e9,
                "step": step.map(|s| s as f64 / 1e9), "service": service,
                "services": list("service", &answer.services),
                "operations": list("operation", &answer.operations)}),
    )
}

/// RED figures over `secs` seconds: counts, rates, mean and percentiles in milliseconds.
fn red_json(count: u64, errors: u64, dur_sum: i64, pct: [f64; 3], secs: f64) -> Json {
    json!({"count": count, "errors": errors,
           "rate": if secs > 0.0 { count as f64 / secs } else { 0.0 },
           "error_rate": if count == 0 { 0.0 } else { errors as f64 / count as f64 },
           "avg_ms": dur_sum as f64 / count.max(1) as f64 / 1e6,
           "p50_ms": pct[0] / 1e6, "p95_ms": pct[1] / 1e6, "p99_ms": pct[2] / 1e6})
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
            if let Some(kind) = kind_name(s.kind) {
                t.push(json!({"key": "span.kind", "type": "string", "value": kind}));
            }
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

fn kind_name(kind: u8) -> Option<&'static str> {
    match kind {
        1 => Some("internal"),
        2 => Some("server"),
        3 => Some("client"),
        4 => Some("producer"),
        5 => Some("consumer"),
        _ => None,
    }
}

fn log_json(l: &LogRow) -> Json {
    json!({
        "time_unix_nano": l.ts,
        "severity_number": l.severity,
        "severity_text": l.severity_text,
        "body": l.body,
        "span_id": (l.span_id != [0; 8]).then(|| hex::encode(l.span_id)),
    })
}

/// The verdict as `openapi.json`'s `Span.verdict`: set when the span was tagged anomalous.
fn verdict_json(verdict: &str) -> Json {
    let Ok(Json::Object(v)) = serde_json::from_str::<Json>(verdict) else {
        return Json::Null;
    };
    if v.get("lookout.latency.anomaly") != Some(&Json::Bool(true)) {
        return Json::Null;
    }
    let text = |k: &str| {
        v.get(k)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    json!({"anomaly": true, "kind": text("lookout.latency.kind"),
           "root_span_id": text("lookout.latency.root_span_id")})
}

/// `/api/v1/traces/{id}` as `openapi.json`'s `Trace`: the spans as a tree (roots: spans
/// whose parent is not in the trace), each with its log records.
fn trace_json(id: &[u8; 16], spans: &[SpanRow], logs: &[LogRow]) -> Json {
    let known: std::collections::BTreeSet<[u8; 8]> = spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<[u8; 8], Vec<&SpanRow>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        if s.parent == [0; 8] || !known.contains(&s.parent) || s.parent == s.span_id {
            roots.push(s);
        } else {
            children.entry(s.parent).or_default().push(s);
        }
    }
    // Depth-first, bounded: a parent cycle among the non-roots is listed at the top.
    fn node(
        s: &SpanRow,
        children: &HashMap<[u8; 8], Vec<&SpanRow>>,
        logs: &[LogRow],
        placed: &mut std::collections::BTreeSet<[u8; 8]>,
        depth: usize,
    ) -> Json {
        placed.insert(s.span_id);
        let attrs: Json = serde_json::from_str(&s.attrs).unwrap_or(Json::Null);
        let mut nested: Vec<Json> = Vec::new();
        if depth < 64 {
            for c in children.get(&s.span_id).into_iter().flatten() {
                if !placed.contains(&c.span_id) {
                    nested.push(node(c, children, logs, placed, depth + 1));
                }
            }
        }
        json!({
            "span_id": hex::encode(s.span_id),
            "parent_span_id": (s.parent != [0; 8]).then(|| hex::encode(s.parent)),
            "service": s.service,
            "name": s.name,
            "kind": s.kind,
            "start_unix_nano": s.start,
            "duration_ns": s.dur,
            "status": {"code": s.status, "message": ""},
            "attributes": attrs,
            "verdict": verdict_json(&s.verdict),
            "logs": logs.iter().filter(|l| l.span_id == s.span_id).map(log_json).collect::<Vec<_>>(),
            "children": nested,
        })
    }
    let mut placed = std::collections::BTreeSet::new();
    let mut tree: Vec<Json> = roots
        .iter()
        .map(|s| node(s, &children, logs, &mut placed, 0))
        .collect();
    for s in spans {
        if !placed.contains(&s.span_id) {
            tree.push(node(s, &children, logs, &mut placed, 0));
        }
    }
    json!({
        "trace_id": hex::encode(id),
        "spans": tree,
        "logs_without_span": logs.iter().filter(|l| !known.contains(&l.span_id)).map(log_json).collect::<Vec<_>>(),
        "exemplars": [],
        "bytes_held": 0,
    })
}

/// One search result of `/api/v1/traces`, as `openapi.json`'s `TraceSummary`.
fn trace_summary(id: &[u8; 16], spans: &[SpanRow], logs: &[LogRow]) -> Json {
    let root = spans.iter().find(|s| s.parent == [0; 8]);
    let start = spans.iter().map(|s| s.start).min();
    let end = spans.iter().map(|s| s.start.saturating_add(s.dur)).max();
    let duration = root.map_or_else(|| end.unwrap_or(0) - start.unwrap_or(0), |r| r.dur);
    json!({
        "trace_id": hex::encode(id),
        "root_service": root.map(|s| s.service.as_str()),
        "root_name": root.map(|s| s.name.as_str()),
        "start_unix_nano": start,
        "duration_ns": duration,
        "spans": spans.len(),
        "logs": logs.len(),
        "error": spans.iter().any(|s| s.status == 2),
        "anomalous": spans.iter().any(|s| !verdict_json(&s.verdict).is_null()),
        "error_logs": logs.iter().filter(|l| l.severity >= ERROR_SEVERITY).count(),
    })
}
