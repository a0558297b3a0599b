//! Realistic trace shapes for the sampling benchmark (`loadgen --workload traces`): a root
//! span and a fan-out of 5–50 children across several services, log-normal durations per
//! operation, a few percent of traces slow (one child 10–30 × its usual duration) or failing
//! (one child with status `ERROR`), and optionally log records sharing the trace ids (one
//! `INFO` record per trace, plus an `ERROR` record on the error-log traces).
//!
//! The root span says what to expect of its trace ([`ATTR_CLASS`], [`ATTR_SPANS`],
//! [`ATTR_LOGS`]) so that a sink can tell whether a trace arrived whole
//! ([`crate::whole::Tally`]). Times are wall-clock: each trace's root ends at the `now` it is
//! made for, so a sink can time the delay from the root's end to its arrival.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};

use crate::gen_traces::Rng;

/// Root attribute: the trace's [`Class`] label.
pub const ATTR_CLASS: &str = "bench.class";
/// Root attribute: spans generated for the trace.
pub const ATTR_SPANS: &str = "bench.spans";
/// Root attribute: log records generated for the trace.
pub const ATTR_LOGS: &str = "bench.logs";

/// What a generated trace is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Nothing special: sampled by the trace id hash.
    Normal,
    /// One child lasts 10–30 × its operation's usual duration.
    Slow,
    /// One child has status `ERROR`.
    Error,
    /// One log record of the trace has severity `ERROR` (its spans are fine).
    ErrorLog,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 4] = [Class::Normal, Class::Slow, Class::Error, Class::ErrorLog];

    /// The label in [`ATTR_CLASS`] and in reports.
    pub fn label(self) -> &'static str {
        match self {
            Class::Normal => "normal",
            Class::Slow => "slow",
            Class::Error => "error",
            Class::ErrorLog => "error_log",
        }
    }

    /// The class of a label.
    pub fn from_label(label: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.label() == label)
    }
}

/// The mix of traces.
#[derive(Debug, Clone)]
pub struct Mix {
    /// Percent of traces with a slow child (after the warm-up).
    pub slow_percent: f64,
    /// Percent of traces with an error span.
    pub error_percent: f64,
    /// Percent of traces with an `ERROR` log record (needs `logs`).
    pub error_log_percent: f64,
    /// Send log records (one `INFO` per trace on its root, plus the error-log ones).
    pub logs: bool,
    /// Traces made before the first slow one (per generator), so that the latency detector
    /// has learned every operation's durations.
    pub warmup_traces: u64,
}

/// Services and their operations: (service, span name, kind, median duration in ms).
const OPS: &[(&str, &str, span::SpanKind, f64)] = &[
    (
        "frontend",
        "GET /api/products/{id}",
        span::SpanKind::Client,
        12.0,
    ),
    (
        "frontend",
        "render product page",
        span::SpanKind::Internal,
        3.0,
    ),
    ("checkout", "PlaceOrder", span::SpanKind::Server, 40.0),
    (
        "checkout",
        "INSERT shop.orders",
        span::SpanKind::Client,
        6.0,
    ),
    ("cart", "GetCart", span::SpanKind::Server, 4.0),
    ("cart", "HGETALL", span::SpanKind::Client, 0.8),
    ("payment", "Charge", span::SpanKind::Server, 60.0),
    ("payment", "POST /v1/charges", span::SpanKind::Client, 45.0),
    ("product-catalog", "GetProduct", span::SpanKind::Server, 2.5),
    (
        "product-catalog",
        "SELECT shop.products",
        span::SpanKind::Client,
        1.5,
    ),
    (
        "recommendation",
        "ListRecommendations",
        span::SpanKind::Server,
        15.0,
    ),
    ("currency", "Convert", span::SpanKind::Server, 1.2),
    ("shipping", "GetQuote", span::SpanKind::Server, 8.0),
    ("ad", "GetAds", span::SpanKind::Server, 5.0),
];
/// The root's service and name.
const ROOT: (&str, &str) = ("frontend", "GET /api/checkout");
/// σ of the log-normal durations.
const SIGMA: f64 = 0.3;
const MS: f64 = 1e6;

/// One generated trace, as the generator counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// Its id.
    pub trace_id: Vec<u8>,
    /// Its class.
    pub class: Class,
    /// Spans made.
    pub spans: usize,
    /// Log records made.
    pub logs: usize,
}

/// A deterministic generator of realistic traces.
#[derive(Debug, Clone)]
pub struct Workload {
    rng: Rng,
    mix: Mix,
    made: u64,
    /// High 8 bytes of every trace id (the low 8 count the traces made).
    id_prefix: u64,
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", Value::StringValue(service.to_owned())),
            kv("service.namespace", Value::StringValue("shop".to_owned())),
            kv(
                "deployment.environment.name",
                Value::StringValue("production".to_owned()),
            ),
        ],
        ..Default::default()
    }
}

impl Workload {
    /// A generator with `mix`, its ids and choices drawn from `seed`.
    pub fn new(mix: Mix, seed: u64) -> Workload {
        let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let id_prefix = rng.next_u64();
        Workload {
            rng,
            mix,
            made: 0,
            id_prefix,
        }
    }

    fn unit(&mut self) -> f64 {
        ((self.rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A log-normal duration around `median_ms`, in ns.
    fn duration(&mut self, median_ms: f64) -> u64 {
        let n = (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos();
        (median_ms * (SIGMA * n).exp() * MS) as u64
    }

    fn class(&mut self) -> Class {
        let warm = self.made > self.mix.warmup_traces;
        let u = self.unit() * 100.0;
        let slow = if warm { self.mix.slow_percent } else { 0.0 };
        let error_log = if self.mix.logs {
            self.mix.error_log_percent
        } else {
            0.0
        };
        if u < self.mix.error_percent {
            Class::Error
        } else if u < self.mix.error_percent + slow {
            Class::Slow
        } else if u < self.mix.error_percent + slow + error_log {
            Class::ErrorLog
        } else {
            Class::Normal
        }
    }

    /// At least `min_spans` spans' worth of whole traces (one trace at least), each root
    /// ending at `now_ns`: the trace request (one resource per service), the log request (if
    /// the mix has logs), and what was made.
    pub fn batch(
        &mut self,
        min_spans: usize,
        now_ns: u64,
    ) -> (
        ExportTraceServiceRequest,
        Option<ExportLogsServiceRequest>,
        Vec<Made>,
    ) {
        let mut by_service: Vec<(&'static str, Vec<Span>)> = Vec::new();
        let mut logs_by_service: Vec<(&'static str, Vec<LogRecord>)> = Vec::new();
        let mut made = Vec::new();
        let mut spans = 0;
        while spans < min_spans.max(1) {
            let (trace_spans, trace_logs, m) = self.trace(now_ns);
            spans += m.spans;
            made.push(m);
            for (service, s) in trace_spans {
                match by_service.iter_mut().find(|(n, _)| *n == service) {
                    Some((_, list)) => list.push(s),
                    None => by_service.push((service, vec![s])),
                }
            }
            for (service, r) in trace_logs {
                match logs_by_service.iter_mut().find(|(n, _)| *n == service) {
                    Some((_, list)) => list.push(r),
                    None => logs_by_service.push((service, vec![r])),
                }
            }
        }
        let traces = ExportTraceServiceRequest {
            resource_spans: by_service
                .into_iter()
                .map(|(service, spans)| ResourceSpans {
                    resource: Some(resource(service)),
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        };
        let logs = self.mix.logs.then(|| ExportLogsServiceRequest {
            resource_logs: logs_by_service
                .into_iter()
                .map(|(service, log_records)| ResourceLogs {
                    resource: Some(resource(service)),
                    scope_logs: vec![ScopeLogs {
                        log_records,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        });
        (traces, logs, made)
    }

    /// One trace: its spans and log records by service, and what was made.
    #[allow(clippy::type_complexity)]
    fn trace(
        &mut self,
        now_ns: u64,
    ) -> (
        Vec<(&'static str, Span)>,
        Vec<(&'static str, LogRecord)>,
        Made,
    ) {
        self.made += 1;
        let class = self.class();
        let mut trace_id = self.id_prefix.to_be_bytes().to_vec();
        trace_id.extend(self.made.to_be_bytes());
        let root_id = self.rng.next_u64().to_be_bytes().to_vec();
        let children = 5 + self.rng.below(46);
        let odd = self.rng.below(children);
        // Children as offsets from the root's start (ns): start, end, op.
        let mut shape = Vec::with_capacity(children);
        for i in 0..children {
            let op = self.rng.below(OPS.len());
            let start = (self.unit() * 5.0 * MS) as u64 + 100_000;
            let mut duration = self.duration(OPS[op].3);
            if class == Class::Slow && i == odd {
                duration *= 10 + self.rng.below(21) as u64;
            }
            shape.push((start, start + duration, op));
        }
        let root_duration = shape.iter().map(|s| s.1).max().unwrap_or(0) + 200_000;
        let root_start = now_ns.saturating_sub(root_duration);
        let logs = usize::from(self.mix.logs) * (1 + usize::from(class == Class::ErrorLog));
        let mut spans = Vec::with_capacity(children + 1);
        let mut root = Span {
            trace_id: trace_id.clone(),
            span_id: root_id.clone(),
            name: ROOT.1.to_owned(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: root_start,
            end_time_unix_nano: now_ns,
            attributes: vec![
                kv("http.request.method", Value::StringValue("POST".to_owned())),
                kv("http.route", Value::StringValue("/api/checkout".to_owned())),
                kv(ATTR_CLASS, Value::StringValue(class.label().to_owned())),
                kv(ATTR_SPANS, Value::IntValue(children as i64 + 1)),
                kv(ATTR_LOGS, Value::IntValue(logs as i64)),
            ],
            ..Default::default()
        };
        root.flags = 0x100;
        spans.push((ROOT.0, root));
        let mut log_records = Vec::with_capacity(logs);
        for (i, (start, end, op)) in shape.into_iter().enumerate() {
            let (service, name, kind, _) = OPS[op];
            let span_id = self.rng.next_u64().to_be_bytes().to_vec();
            let error = class == Class::Error && i == odd;
            if class == Class::ErrorLog && i == odd {
                log_records.push((
                    service,
                    log(&trace_id, &span_id, root_start + end, 17, "ERROR"),
                ));
            }
            spans.push((
                service,
                Span {
                    trace_id: trace_id.clone(),
                    span_id,
                    parent_span_id: root_id.clone(),
                    name: name.to_owned(),
                    kind: kind as i32,
                    start_time_unix_nano: root_start + start,
                    end_time_unix_nano: root_start + end,
                    flags: 0x100,
                    status: error.then(|| Status {
                        code: status::StatusCode::Error as i32,
                        message: "upstream failed".to_owned(),
                    }),
                    ..Default::default()
                },
            ));
        }
        if self.mix.logs {
            log_records.push((ROOT.0, log(&trace_id, &root_id, now_ns, 9, "INFO")));
        }
        let made = Made {
            trace_id,
            class,
            spans: spans.len(),
            logs: log_records.len(),
        };
        (spans, log_records, made)
    }
}

fn log(trace_id: &[u8], span_id: &[u8], time: u64, severity: i32, text: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: severity,
        severity_text: text.to_owned(),
        body: Some(AnyValue {
            value: Some(Value::StringValue(format!("{text}: request handled"))),
        }),
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix() -> Mix {
        Mix {
            slow_percent: 2.0,
            error_percent: 1.0,
            error_log_percent: 1.0,
            logs: true,
            warmup_traces: 100,
        }
    }

    #[test]
    fn traces_have_the_documented_shapes_and_mix() {
        let mut w = Workload::new(mix(), 3);
        let mut made = Vec::new();
        let mut spans = 0;
        let mut records = 0;
        for _ in 0..200 {
            let (t, l, m) = w.batch(500, 1_800_000_000_000_000_000);
            spans += t
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>();
            records += l
                .expect("logs")
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum::<usize>();
            made.extend(m);
        }
        assert_eq!(spans, made.iter().map(|m| m.spans).sum::<usize>());
        assert_eq!(records, made.iter().map(|m| m.logs).sum::<usize>());
        assert!(made.iter().all(|m| (6..=51).contains(&m.spans)));
        let share = |c: Class| {
            made.iter().filter(|m| m.class == c).count() as f64 / made.len() as f64 * 100.0
        };
        // ~3,600 traces: each share within a wide band around its percent.
        assert!(
            (0.5..2.0).contains(&share(Class::Error)),
            "{}",
            share(Class::Error)
        );
        assert!(
            (1.2..3.0).contains(&share(Class::Slow)),
            "{}",
            share(Class::Slow)
        );
        assert!((0.5..2.0).contains(&share(Class::ErrorLog)));
        assert!(made[..100].iter().all(|m| m.class != Class::Slow));
    }
}
