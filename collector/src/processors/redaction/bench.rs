//! Cost of the processor on a realistic traces request (512 spans, 10 attributes each, the
//! proto crate's `wire` bench shape), measured with criterion next to a validation pass:
//!
//! `cargo test -p lookout-collector --release --lib redaction_cost -- --ignored --nocapture`
//!
//! A criterion `[[bench]]` cannot reach the processor (the collector's modules are
//! crate-private), so criterion runs inside an ignored test, as the other processors'
//! throughput figures do.

// In a test a failed unwrap is the failure report.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use lookout_proto::wire::validate_traces;
use prost::Message;

use super::{RedactionConfig, Rules, traces};

const SPANS: usize = 512;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

/// 4 services × 2 scopes × 64 spans of an HTTP service; with `secrets`, one span in 8 also
/// carries a user's email and its bearer token header.
fn request(secrets: bool) -> Vec<u8> {
    let mut n = 0u64;
    let resource_spans = (0..4)
        .map(|r| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", &format!("service-{r}")),
                    s("service.version", "1.4.2"),
                    s("host.name", &format!("ip-10-0-0-{r}.ec2.internal")),
                    s("telemetry.sdk.language", "rust"),
                ],
                ..Default::default()
            }),
            scope_spans: (0..2)
                .map(|_| ScopeSpans {
                    spans: (0..SPANS / 8)
                        .map(|_| {
                            n += 1;
                            let mut attributes = vec![
                                s("http.request.method", "GET"),
                                s("url.path", &format!("/api/v1/orders/{}", n % 17)),
                                s("url.scheme", "https"),
                                kv("http.response.status_code", Value::IntValue(200)),
                                s("server.address", "orders.internal"),
                                kv("server.port", Value::IntValue(8443)),
                                s("network.protocol.version", "1.1"),
                                s("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
                                s("client.address", "10.1.2.3"),
                                s("db.system", "postgresql"),
                            ];
                            if secrets && n.is_multiple_of(8) {
                                attributes.push(s("enduser.id", "ann.lee@example.com"));
                                attributes.push(s(
                                    "http.request.header.authorization",
                                    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
                                ));
                            }
                            Span {
                                trace_id: (n / 8).to_le_bytes().repeat(2),
                                span_id: n.to_le_bytes().to_vec(),
                                name: format!("GET /api/v1/orders/{}", n % 17),
                                kind: 2,
                                start_time_unix_nano: 1_700_000_000_000_000_000 + n * 1000,
                                end_time_unix_nano: 1_700_000_000_000_000_000 + n * 1000 + 250_000,
                                attributes,
                                status: Some(Status {
                                    code: 1,
                                    message: String::new(),
                                }),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

fn rules(yaml: &str) -> Rules {
    let config: RedactionConfig = serde_yaml_ng::from_str(yaml).unwrap();
    Rules::new(&config).unwrap()
}

#[test]
#[ignore = "measurement; run in release with --nocapture"]
fn redaction_cost() {
    let clean = request(false);
    let dirty = request(true);
    let builtins =
        rules("allow_all_keys: true\nbuiltin_patterns: [credit_card, email, bearer_token]");
    let strict = rules(
        "allowed_keys: [http.request.method, url.path, http.response.status_code, service.name]\n\
         builtin_patterns: [credit_card, email, bearer_token]\nsummary: info",
    );
    assert!(traces(&builtins, &clean).unwrap().payload.is_none());
    assert_eq!(
        traces(&builtins, &dirty).unwrap().masked,
        2 * SPANS as u64 / 8
    );
    eprintln!(
        "request: {} bytes clean, {} with secrets",
        clean.len(),
        dirty.len()
    );

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut g = c.benchmark_group("redaction_512");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("validate_traces (reference)", |b| {
        b.iter(|| validate_traces(black_box(&clean)).map(|s| s.spans))
    });
    g.bench_function("builtins, nothing to redact", |b| {
        b.iter(|| traces(&builtins, black_box(&clean)).map(|r| r.masked))
    });
    g.bench_function("builtins, 1 span in 8 with an email and a token", |b| {
        b.iter(|| traces(&builtins, black_box(&dirty)).map(|r| r.masked))
    });
    g.bench_function("allowed_keys + builtins, keys removed on every span", |b| {
        b.iter(|| traces(&strict, black_box(&dirty)).map(|r| r.removed))
    });
    g.finish();
}
