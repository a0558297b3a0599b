//! Processor tests on crafted requests (built and decoded with prost, independently of the
//! wire code under test).

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use lookout_anomaly::{DetectorConfig, KeyField};
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tokio::sync::mpsc;

use super::config::{EpisodeConfig, LatencyAnomalyConfig};
use super::episodes::EpisodeStatus;
use super::tagger::Tagger;
use super::*;
use crate::pipeline::Output;
use crate::telemetry::Telemetry;

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000_000_000_000;

/// One span to put in a request.
#[derive(Clone)]
struct S {
    name: &'static str,
    trace: u64,
    id: u64,
    parent: Option<u64>,
    end: u64,
    dur: u64,
    attrs: Vec<KeyValue>,
}

fn s(name: &'static str, trace: u64, id: u64, end: u64, dur: u64) -> S {
    S {
        name,
        trace,
        id,
        parent: None,
        end,
        dur,
        attrs: Vec::new(),
    }
}

fn str_kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn trace_id(t: u64) -> Vec<u8> {
    let mut id = vec![0xab; 16];
    id[8..].copy_from_slice(&t.to_be_bytes());
    id
}

fn request(spans: &[S]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![str_kv("service.name", "checkout")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: spans
                    .iter()
                    .map(|x| Span {
                        trace_id: trace_id(x.trace),
                        span_id: x.id.to_be_bytes().to_vec(),
                        parent_span_id: x
                            .parent
                            .map(|p| p.to_be_bytes().to_vec())
                            .unwrap_or_default(),
                        name: x.name.into(),
                        kind: 2,
                        start_time_unix_nano: x.end - x.dur,
                        end_time_unix_nano: x.end,
                        attributes: x.attrs.clone(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn batch(spans: &[S]) -> Batch {
    Batch::new(
        Signal::Traces,
        Bytes::from(request(spans).encode_to_vec()),
        spans.len(),
    )
}

/// Deterministic log-normal jitter (σ = 0.3), the shape of real latencies. A bounded
/// distribution (e.g. uniform ±20 %) is not used: the detector's p99 estimate is quantised to
/// its 5 % sketch buckets and such a narrow stream trips the exceedance test.
struct Jitter(u64);
impl Jitter {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (((z ^ (z >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn next(&mut self) -> f64 {
        let n = (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos();
        (0.3 * n).exp()
    }
}

/// `n` normal spans of `name` around `median_ms`, 10 ms apart, from `*t`.
fn normal(
    name: &'static str,
    n: usize,
    median_ms: f64,
    t: &mut u64,
    j: &mut Jitter,
    id: &mut u64,
) -> Vec<S> {
    (0..n)
        .map(|_| {
            *t += 10 * MS;
            *id += 1;
            s(
                name,
                *id,
                *id,
                *t,
                (median_ms * j.next() * MS as f64) as u64,
            )
        })
        .collect()
}

struct Harness {
    tagger: Tagger,
    metrics: LatencyMetrics,
    telemetry: Telemetry,
}

impl Harness {
    fn new(detector: DetectorConfig) -> Harness {
        let telemetry = Telemetry::new();
        Harness {
            tagger: Tagger::new(detector, EpisodeConfig::default()).unwrap(),
            metrics: LatencyMetrics::new(&telemetry, "latency_anomaly", "traces"),
            telemetry,
        }
    }

    fn feed(&mut self, spans: &[S]) -> Batch {
        process(&mut self.tagger, batch(spans), &self.metrics, None)
    }

    /// Feeds in batches of 100, asserting every output is the input's own bytes.
    fn warm(&mut self, spans: &[S]) {
        for chunk in spans.chunks(100) {
            let input = batch(chunk);
            let ptr = input.payload.as_ptr();
            let len = input.payload.len();
            let out = process(&mut self.tagger, input, &self.metrics, None);
            assert_eq!(
                (out.payload.as_ptr(), out.payload.len()),
                (ptr, len),
                "untagged batch was copied"
            );
        }
    }
}

fn decoded(b: &Batch) -> Vec<Span> {
    ExportTraceServiceRequest::decode(&b.payload[..])
        .unwrap()
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect()
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn double(span: &Span, key: &str) -> f64 {
    match attr(span, key) {
        Some(Value::DoubleValue(d)) => *d,
        other => panic!("{key}: {other:?}"),
    }
}

fn string<'a>(span: &'a Span, key: &str) -> &'a str {
    match attr(span, key) {
        Some(Value::StringValue(s)) => s,
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn latency_slow_span_after_warmup_is_tagged_and_the_rest_is_untouched() {
    let mut h = Harness::new(DetectorConfig::default());
    let (mut t, mut j, mut id) = (T0, Jitter(1), 0);
    let warm = normal("GET /cart", 2000, 10.0, &mut t, &mut j, &mut id);
    h.warm(&warm);

    let mut spans = normal("GET /cart", 9, 10.0, &mut t, &mut j, &mut id);
    t += 10 * MS;
    spans.insert(4, s("GET /cart", 99_999, 99_999, t, 200 * MS));
    let input = request(&spans);
    let out = h.feed(&spans);
    let got = decoded(&out);
    assert_eq!(got.len(), 10);
    for (i, span) in got.iter().enumerate() {
        if i != 4 {
            assert!(
                span.attributes.is_empty(),
                "span {i} tagged: {:?}",
                span.attributes
            );
        }
    }
    let slow = &got[4];
    assert_eq!(
        attr(slow, "lookout.latency.anomaly"),
        Some(&Value::BoolValue(true))
    );
    assert_eq!(string(slow, "lookout.latency.kind"), "spike");
    let baseline = double(slow, "lookout.latency.baseline_ms");
    assert!((9.0..11.0).contains(&baseline), "baseline {baseline}");
    let ratio = double(slow, "lookout.latency.ratio");
    assert!((200.0 / baseline - ratio).abs() < 1e-6, "ratio {ratio}");
    let score = double(slow, "lookout.latency.score");
    assert!(score > 0.0 && score < 1e-4, "score {score}");
    assert!(
        attr(slow, "latency.category").is_none(),
        "category is opt-in"
    );
    assert!(attr(slow, "lookout.latency.root_span_id").is_none());
    // Apart from the appended attributes the request is unchanged.
    let mut stripped = ExportTraceServiceRequest::decode(&out.payload[..]).unwrap();
    stripped.resource_spans[0].scope_spans[0].spans[4]
        .attributes
        .clear();
    assert_eq!(stripped, input);

    let m = crate::telemetry::Telemetry::render(&h.telemetry);
    assert!(
        m.contains("lookout_latency_anomaly_tagged_spans_total{processor=\"latency_anomaly\",pipeline=\"traces\",kind=\"spike\"} 1"),
        "{m}"
    );
    assert!(
        m.contains(
            "lookout_latency_anomaly_keys{processor=\"latency_anomaly\",pipeline=\"traces\"} 1"
        ),
        "{m}"
    );
}

#[test]
fn latency_category_is_emitted_when_enabled() {
    let mut h = Harness::new(DetectorConfig {
        emit_category: true,
        ..DetectorConfig::default()
    });
    let (mut t, mut j, mut id) = (T0, Jitter(2), 0);
    h.warm(&normal("op", 1000, 10.0, &mut t, &mut j, &mut id));
    t += 10 * MS;
    let out = h.feed(&[s("op", 1, 1, t, 500 * MS)]);
    let span = &decoded(&out)[0];
    let cat = string(span, "latency.category");
    assert!(cat == "slow" || cat == "very_slow", "{cat}");
}

/// Warms `child` (10 ms) and `parent` (50 ms) keys.
fn warmed_pair() -> (Harness, u64) {
    let mut h = Harness::new(DetectorConfig::default());
    let (mut t, mut j, mut id) = (T0, Jitter(3), 0);
    let mut spans = normal("db.query", 1000, 10.0, &mut t, &mut j, &mut id);
    spans.extend(normal("GET /order", 1000, 50.0, &mut t, &mut j, &mut id));
    h.warm(&spans);
    (h, t)
}

fn slow_pair(t: u64, child_first: bool) -> Vec<S> {
    let mut child = s("db.query", 7, 0xc0c0, t, 400 * MS);
    child.parent = Some(0xaaaa);
    let parent = s("GET /order", 7, 0xaaaa, t + MS, 440 * MS);
    if child_first {
        vec![child, parent]
    } else {
        vec![parent, child]
    }
}

#[test]
fn latency_parent_slowed_by_child_is_propagated_in_either_order() {
    for child_first in [true, false] {
        let (mut h, t) = warmed_pair();
        let out = h.feed(&slow_pair(t + 10 * MS, child_first));
        let spans = decoded(&out);
        let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
        let child = by_name("db.query");
        let parent = by_name("GET /order");
        assert_eq!(
            string(child, "lookout.latency.kind"),
            "spike",
            "child_first={child_first}"
        );
        assert!(attr(child, "lookout.latency.root_span_id").is_none());
        assert_eq!(
            string(parent, "lookout.latency.kind"),
            "propagated",
            "child_first={child_first}"
        );
        assert_eq!(
            string(parent, "lookout.latency.root_span_id"),
            hex::encode(0xc0c0u64.to_be_bytes())
        );
    }
}

#[test]
fn latency_attribute_key_field_separates_routes() {
    let keyed = DetectorConfig {
        key_fields: vec![KeyField::SpanName, KeyField::Attribute("http.route".into())],
        ..DetectorConfig::default()
    };
    let mut tagged = Vec::new();
    for config in [keyed, DetectorConfig::default()] {
        let mut h = Harness::new(config);
        let (mut t, mut j, mut id) = (T0, Jitter(4), 0);
        let mut spans = Vec::new();
        for i in 0..2000 {
            let (route, ms) = if i % 2 == 0 {
                ("/a", 10.0)
            } else {
                ("/b", 100.0)
            };
            let mut x = normal("GET", 1, ms, &mut t, &mut j, &mut id).remove(0);
            x.attrs = vec![str_kv("http.route", route)];
            spans.push(x);
        }
        for chunk in spans.chunks(100) {
            h.feed(chunk);
        }
        t += 10 * MS;
        let mut slow_a = s("GET", 1, 1, t, 100 * MS);
        slow_a.attrs = vec![str_kv("http.route", "/a")];
        let out = h.feed(&[slow_a]);
        tagged.push(attr(&decoded(&out)[0], "lookout.latency.anomaly").is_some());
    }
    // Keyed by route, 100 ms is a spike for /a; merged with /b it is ordinary.
    assert_eq!(tagged, [true, false]);
}

#[test]
fn latency_shift_opens_an_episode_with_labels_and_it_resolves() {
    let mut h = Harness::new(DetectorConfig::default());
    let (mut t, mut j, mut id) = (T0, Jitter(5), 0);
    h.warm(&normal("GET /cart", 2000, 10.0, &mut t, &mut j, &mut id));
    let now = Instant::now();
    let mut events = Vec::new();
    for chunk in normal("GET /cart", 300, 30.0, &mut t, &mut j, &mut id).chunks(50) {
        let bytes = request(chunk).encode_to_vec();
        events.extend(h.tagger.tag(&bytes, now, SystemTime::now()).unwrap().events);
    }
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.status, EpisodeStatus::Firing);
    assert!(
        matches!(e.kind.as_str(), "shift" | "degradation"),
        "{}",
        e.kind
    );
    assert_eq!(
        e.labels,
        [
            ("service".to_string(), "checkout".to_string()),
            ("span_name".into(), "GET /cart".into()),
            ("span_kind".into(), "server".into()),
            ("status_code".into(), "unset".into()),
        ]
    );
    assert!((9.0..11.0).contains(&e.baseline_ms));
    assert_eq!(e.example_trace_ids.len(), 1);
    assert_eq!(h.tagger.detector().open_episodes(), 1);
    // Still tagging: not quiet yet.
    assert!(
        h.tagger
            .episodes
            .sweep(now + Duration::from_secs(1), SystemTime::now(), None)
            .is_empty()
    );
    let resolved = h
        .tagger
        .episodes
        .sweep(now + Duration::from_secs(121), SystemTime::now(), None);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].status, EpisodeStatus::Resolved);
    assert!(resolved[0].example_trace_ids.len() > 1);
}

#[test]
fn latency_config_flattens_detector_fields_and_rejects_unknown_ones() {
    let yaml = r#"
min_samples: 20
max_keys: 500
emit_category: true
key_fields: [service_name, span_name, {attribute: http.route}]
relearn_after: 45m
episodes:
  resolve_after: 30s
alerts:
  console: true
  webhook:
    endpoint: http://127.0.0.1:9/hook
    headers: {Authorization: Bearer x}
    min_interval: 5s
    tls: {insecure_skip_verify: true}
    retry: {max_attempts: 3, initial_interval: 100ms}
"#;
    let c: LatencyAnomalyConfig = serde_yaml_ng::from_str(yaml).unwrap();
    c.check().unwrap();
    assert_eq!(c.detector.min_samples, 20);
    assert_eq!(c.detector.max_keys, 500);
    assert!(c.detector.emit_category);
    assert_eq!(
        c.detector.key_fields[2],
        KeyField::Attribute("http.route".into())
    );
    assert_eq!(c.detector.relearn_after, Duration::from_secs(2700));
    assert_eq!(c.episodes.resolve_after, Duration::from_secs(30));
    let w = c.alerts.webhook.as_ref().unwrap();
    assert_eq!(w.min_interval, Duration::from_secs(5));
    assert_eq!(w.retry.max_attempts, 3);
    assert!(w.tls.insecure_skip_verify && c.alerts.console);

    let empty: LatencyAnomalyConfig = serde_yaml_ng::from_str("{}").unwrap();
    assert_eq!(empty, LatencyAnomalyConfig::default());
    for bad in [
        "min_sampels: 20",
        "alerts: {consol: true}",
        "episodes: {resolve: 1s}",
        "alerts: {webhook: {endpoint: http://x, tls: {insecure: true}}}",
    ] {
        let err = serde_yaml_ng::from_str::<LatencyAnomalyConfig>(bad).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{bad}: {err}");
    }
    let out_of_range: LatencyAnomalyConfig = serde_yaml_ng::from_str("min_samples: 2").unwrap();
    assert!(out_of_range.check().unwrap_err().contains("min_samples"));
    let bad_url: LatencyAnomalyConfig =
        serde_yaml_ng::from_str("alerts: {webhook: {endpoint: 'ftp://x'}}").unwrap();
    assert!(bad_url.check().unwrap_err().contains("scheme"));
    let bad_ca: LatencyAnomalyConfig = serde_yaml_ng::from_str(
        "alerts: {webhook: {endpoint: 'https://x', tls: {ca_file: /nonexistent/ca.pem}}}",
    )
    .unwrap();
    assert!(bad_ca.check().unwrap_err().contains("ca_file"));
}

#[tokio::test]
async fn latency_task_forwards_every_batch_and_non_trace_signals_untouched() {
    let (in_tx, in_rx) = mpsc::channel(16);
    let (out_tx, mut out_rx) = mpsc::channel(16);
    let telemetry = Telemetry::new();
    let ctx = ProcessorContext {
        input: in_rx,
        output: Output::Next(out_tx),
        metrics: telemetry.processor("latency_anomaly", "traces", Signal::Traces),
    };
    let metrics = LatencyMetrics::new(&telemetry, "latency_anomaly", "traces");
    let config = LatencyAnomalyConfig {
        detector: DetectorConfig {
            min_samples: 20,
            ..DetectorConfig::default()
        },
        ..LatencyAnomalyConfig::default()
    };
    let task = tokio::spawn(run(config, ctx, metrics));
    let (mut t, mut j, mut id) = (T0, Jitter(6), 0);
    let warm = normal("op", 200, 10.0, &mut t, &mut j, &mut id);
    for chunk in warm.chunks(50) {
        in_tx.send(batch(chunk)).await.unwrap();
    }
    let logs = Batch::new(Signal::Logs, Bytes::from_static(b"\x0a\x00"), 0);
    in_tx.send(logs).await.unwrap();
    t += 10 * MS;
    in_tx
        .send(batch(&[s("op", 1, 1, t, 300 * MS)]))
        .await
        .unwrap();
    drop(in_tx);
    let mut outs = Vec::new();
    while let Some(b) = out_rx.recv().await {
        outs.push(b);
    }
    task.await.unwrap();
    assert_eq!(outs.len(), 6);
    assert_eq!(outs[4].signal, Signal::Logs);
    assert_eq!(&outs[4].payload[..], b"\x0a\x00");
    let last = decoded(&outs[5]);
    assert_eq!(
        attr(&last[0], "lookout.latency.anomaly"),
        Some(&Value::BoolValue(true))
    );
    let m = telemetry.render();
    assert!(m.contains("lookout_processor_outgoing_items_total{processor=\"latency_anomaly\",pipeline=\"traces\",otel_signal=\"traces\"} 201"), "{m}");
}

/// Throughput figures for the report, not a pass/fail check:
/// `cargo test -p lookout-collector --release --lib latency_tagging_throughput -- --ignored --nocapture`
#[test]
#[ignore = "measurement; run in release with --nocapture"]
fn latency_tagging_throughput() {
    const NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let mut h = Harness::new(DetectorConfig::default());
    let (mut t, mut j, mut id) = (T0, Jitter(9), 0);
    let batches: Vec<Bytes> = (0..200)
        .map(|_| {
            let spans: Vec<S> = (0..512)
                .map(|i| {
                    normal(
                        NAMES[i % 8],
                        1,
                        10.0 + (i % 8) as f64,
                        &mut t,
                        &mut j,
                        &mut id,
                    )
                    .remove(0)
                })
                .collect();
            Bytes::from(request(&spans).encode_to_vec())
        })
        .collect();
    let walk = Instant::now();
    let mut n = 0usize;
    for b in &batches {
        for rs in lookout_proto::wire::TracesView::new(b).resource_spans() {
            for ss in rs.unwrap().scope_spans() {
                n += ss.unwrap().spans().count();
            }
        }
    }
    let walk = walk.elapsed();
    let mut tagged = 0u64;
    let start = Instant::now();
    for round in 0..5 {
        for b in &batches {
            let out = h.tagger.tag(b, Instant::now(), SystemTime::now()).unwrap();
            if round > 0 {
                tagged += out.by_kind.iter().sum::<u64>();
            }
        }
    }
    let all = start.elapsed();
    let spans = 5 * n;
    eprintln!(
        "view walk only: {:.0} ns/span; tag: {:.0} ns/span ({:.2} M spans/s), {tagged} tagged of {}",
        walk.as_nanos() as f64 / n as f64,
        all.as_nanos() as f64 / spans as f64,
        spans as f64 / all.as_secs_f64() / 1e6,
        4 * n
    );
}
