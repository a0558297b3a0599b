//! Whole process: spans sent over OTLP/HTTP (built with prost) go through the
//! `latency_anomaly` processor to the OTLP test sink. Injected slow spans come out tagged with
//! the `lookout.latency.*` attributes (decoded with prost at the sink), a parent slowed by its
//! child is tagged `propagated`, normal spans come out untagged, and a latency shift posts an
//! Alertmanager-style firing and then resolved notification to a local webhook. Through the
//! `latency_anomaly` connector, the same shift reaches a logs pipeline as `lookout.latency.anomaly`
//! log records, and RED metrics counting every span reach a metrics pipeline when the
//! collector stops.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use support::sink::Sink;
use support::webhook::{Hooks, start_webhook};
use support::{Lookout, http_client, otlp_exporter, otlp_receiver, service, wait_until};

const MS: u64 = 1_000_000;
/// Span clock start (the detector decays on span end times, not wall time).
const T0: u64 = 1_700_000_000_000_000_000;

/// Deterministic log-normal durations (σ = 0.3) around a median.
struct Durations(u64);

impl Durations {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (((z ^ (z >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn around(&mut self, median_ms: f64) -> u64 {
        let n = (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos();
        (median_ms * (0.3 * n).exp() * MS as f64) as u64
    }
}

/// Builds spans with unique ids on a shared span clock.
struct Gen {
    clock: u64,
    next_id: u64,
    durations: Durations,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            clock: T0,
            next_id: 0,
            durations: Durations(seed),
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn span(&mut self, name: &str, trace: u64, parent: Option<u64>, dur: u64) -> Span {
        self.clock += 5 * MS;
        let mut trace_id = [0x5au8; 16];
        trace_id[8..].copy_from_slice(&trace.to_be_bytes());
        Span {
            trace_id: trace_id.to_vec(),
            span_id: self.id().to_be_bytes().to_vec(),
            parent_span_id: parent.map(|p| p.to_be_bytes().to_vec()).unwrap_or_default(),
            name: name.into(),
            kind: 2,
            start_time_unix_nano: self.clock - dur,
            end_time_unix_nano: self.clock,
            ..Default::default()
        }
    }

    /// One span of `name` around `median_ms` in its own trace.
    fn single(&mut self, name: &str, median_ms: f64) -> Span {
        let trace = self.id();
        let dur = self.durations.around(median_ms);
        self.span(name, trace, None, dur)
    }

    /// A `GET /order` server span with a `db.query` child (child ends, and is listed, first).
    fn pair(&mut self, child_ms: u64, parent_ms: u64) -> [Span; 2] {
        let trace = self.id();
        let parent_id = self.id();
        let child = self.span("db.query", trace, Some(parent_id), child_ms);
        let mut parent = self.span("GET /order", trace, None, parent_ms);
        parent.span_id = parent_id.to_be_bytes().to_vec();
        [child, parent]
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue("shop".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Lookout with OTLP in and a traces pipeline through `latency_anomaly` to the sink. The
/// processor has the shared detector settings plus `processor` (indented by 4); with
/// `connector` (its body, indented by 4) the traces pipeline also exports to the
/// `latency_anomaly` connector; `extra_pipelines` (indented by 4) are added to
/// `service.pipelines`.
async fn start_lookout(
    sink: &Sink,
    processor: &str,
    connector: Option<&str>,
    extra_pipelines: &str,
) -> Lookout {
    Lookout::start(|p| {
        let (connectors, exporters) = match connector {
            Some(body) => (
                format!("connectors:\n  latency_anomaly:\n{body}"),
                "[otlp, latency_anomaly]",
            ),
            None => (String::new(), "[otlp]"),
        };
        let pipelines = format!(
            "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly]\n      exporters: {exporters}\n{extra_pipelines}"
        );
        format!(
            "{}processors:\n  latency_anomaly:\n    min_samples: 50\n    sequential_min_samples: 100\n    episodes:\n      resolve_after: 1s\n{processor}{connectors}exporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink.port, "none"),
            service(p, &pipelines)
        )
    })
    .await
}

async fn send(client: &reqwest::Client, lookout: &Lookout, spans: Vec<Span>) {
    let body = support::encode(&request(spans));
    let response = client
        .post(lookout.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("send spans");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string<'a>(span: &'a Span, key: &str) -> &'a str {
    match attr(span, key) {
        Some(Value::StringValue(s)) => s,
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

fn double(span: &Span, key: &str) -> f64 {
    match attr(span, key) {
        Some(Value::DoubleValue(d)) => *d,
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

fn hook_statuses(hooks: &Hooks, span_name: &str) -> Vec<String> {
    hooks
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b["alerts"][0]["labels"]["span_name"] == span_name)
        .map(|b| b["status"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_spans_come_out_tagged_and_a_shift_alerts_the_webhook() {
    let sink = Sink::start().await;
    let (hook_port, hooks, hook_task) = start_webhook().await;
    let lookout = start_lookout(
        &sink,
        &format!("    emit_category: true\n    alerts:\n      console: true\n      webhook:\n        endpoint: http://127.0.0.1:{hook_port}/hook\n        min_interval: 0s\n"),
        None,
        "",
    )
    .await;
    let client = http_client();
    let mut g = Gen::new(42);

    // Warm-up: 400 spans per key, 40 per request, interleaved as real traffic is.
    let mut sent = 0;
    for _ in 0..10 {
        let mut spans = Vec::new();
        for _ in 0..10 {
            spans.push(g.single("GET /cart", 10.0));
            spans.push(g.single("GET /search", 10.0));
            let child = g.durations.around(10.0);
            let own = g.durations.around(40.0);
            spans.extend(g.pair(child, child + own));
        }
        sent += spans.len();
        send(&client, &lookout, spans).await;
    }
    // Injected slowness: five slow cart requests, each followed by a normal one, and one trace
    // whose database call is slow, making its parent slow too. Normal spans travel in the same
    // request. Five slow in ten consecutive requests is a burst: the first are spikes, and the
    // intermittent test (or the partial-shift test, a degradation) may open an episode for the
    // rest, which then carry its kind.
    let mut spans = Vec::new();
    let mut slow_cart = HashSet::new();
    for _ in 0..5 {
        let s = g.single("GET /cart", 500.0);
        slow_cart.insert(s.span_id.clone());
        spans.push(s);
        spans.push(g.single("GET /cart", 10.0));
    }
    let [slow_child, slow_parent] = g.pair(400 * MS, 440 * MS);
    let (child_id, parent_id) = (slow_child.span_id.clone(), slow_parent.span_id.clone());
    spans.extend([slow_child, slow_parent]);
    sent += spans.len();
    send(&client, &lookout, spans).await;
    // A lasting shift of `GET /search` (10 ms → 40 ms): an episode, and an alert.
    let mut shifted = HashSet::new();
    for _ in 0..5 {
        let spans: Vec<Span> = (0..40).map(|_| g.single("GET /search", 40.0)).collect();
        shifted.extend(spans.iter().map(|s| s.span_id.clone()));
        sent += spans.len();
        send(&client, &lookout, spans).await;
    }

    wait_until("every span at the sink", Duration::from_secs(30), || {
        sink.span_count() >= sent
    })
    .await;
    let spans: Vec<Span> = sink
        .traces()
        .into_iter()
        .flat_map(|r| r.resource_spans)
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect();
    assert_eq!(spans.len(), sent);

    let mut kinds: HashMap<String, usize> = HashMap::new();
    let mut search_tagged = 0;
    let mut cart_spikes = 0;
    for span in &spans {
        let tagged = attr(span, "lookout.latency.anomaly").is_some();
        if tagged {
            *kinds
                .entry(string(span, "lookout.latency.kind").to_string())
                .or_default() += 1;
        }
        if slow_cart.contains(&span.span_id) {
            assert_eq!(
                attr(span, "lookout.latency.anomaly"),
                Some(&Value::BoolValue(true))
            );
            let kind = string(span, "lookout.latency.kind").to_string();
            let baseline = double(span, "lookout.latency.baseline_ms");
            assert!((7.0..13.0).contains(&baseline), "baseline {baseline}");
            assert!(double(span, "lookout.latency.ratio") > 30.0);
            let score = double(span, "lookout.latency.score");
            // Beyond the spike threshold the score is the tail probability, in an episode too.
            assert!(score > 0.0 && score < 1e-4, "score {score}");
            match kind.as_str() {
                "spike" => cart_spikes += 1,
                "degradation" | "intermittent" => {}
                other => panic!("slow cart span tagged {other}"),
            }
            assert!(matches!(
                string(span, "latency.category"),
                "slow" | "very_slow"
            ));
        } else if span.span_id == child_id {
            assert_eq!(string(span, "lookout.latency.kind"), "spike");
        } else if span.span_id == parent_id {
            assert_eq!(string(span, "lookout.latency.kind"), "propagated");
            assert_eq!(
                string(span, "lookout.latency.root_span_id"),
                hex::encode(&child_id)
            );
        } else if shifted.contains(&span.span_id) {
            search_tagged += usize::from(tagged);
        } else {
            assert!(
                span.attributes.is_empty(),
                "normal span {} ({} ms) was tagged: {:?}",
                span.name,
                (span.end_time_unix_nano - span.start_time_unix_nano) / MS,
                span.attributes
            );
        }
    }
    assert!(
        search_tagged > 100,
        "only {search_tagged} of 200 shifted spans tagged"
    );
    // The burst starts as spikes, whatever episode it then opens.
    assert!(
        cart_spikes >= 2,
        "{cart_spikes} of the slow cart spans were spikes"
    );
    assert!(
        kinds.get("shift").copied().unwrap_or(0) + kinds.get("degradation").copied().unwrap_or(0)
            > 0,
        "{kinds:?}"
    );

    // The episode fires, then resolves once `GET /search` is quiet for `resolve_after`.
    wait_until(
        "firing then resolved webhook posts",
        Duration::from_secs(30),
        || hook_statuses(&hooks, "GET /search") == ["firing", "resolved"],
    )
    .await;
    // The cart burst may have alerted first (see below): the search shift's own post.
    let firing = hooks
        .lock()
        .unwrap()
        .iter()
        .find(|b| b["alerts"][0]["labels"]["span_name"] == "GET /search")
        .cloned()
        .unwrap_or_default();
    assert_eq!(firing["version"], "4");
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "LatencyAnomaly");
    assert_eq!(alert["labels"]["service"], "shop");
    assert_eq!(alert["labels"]["span_kind"], "server");
    assert!(matches!(
        alert["labels"]["kind"].as_str(),
        Some("shift" | "degradation")
    ));
    let baseline: f64 = alert["annotations"]["baseline_ms"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((7.0..13.0).contains(&baseline), "{alert}");
    assert!(
        !alert["annotations"]["example_trace_ids"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    // The cart burst may alert, but only as a degradation or an intermittent failure (never a
    // shift: the level of the normal requests did not move).
    for post in hooks
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b["alerts"][0]["labels"]["span_name"] == "GET /cart")
    {
        assert!(
            matches!(
                post["alerts"][0]["labels"]["kind"].as_str(),
                Some("degradation" | "intermittent")
            ),
            "{post}"
        );
    }

    // Self-metrics agree with what the sink saw.
    let metrics = lookout.metrics().await;
    for (kind, n) in &kinds {
        assert_eq!(
            metrics.value(
                "lookout_latency_anomaly_tagged_spans_total",
                &[("kind", kind)]
            ),
            *n as f64,
            "{kind}"
        );
    }
    // One episode for the search shift, possibly one for the cart burst: the counters match
    // what the webhook received.
    // A post in flight is counted as sent once the webhook has answered it: wait (bounded)
    // for the webhook and the counter to agree before comparing them.
    let settled = std::time::Instant::now();
    let (metrics, posts, firing) = loop {
        let metrics = lookout.metrics().await;
        let (posts, firing) = {
            let hooks = hooks.lock().unwrap();
            let firing = hooks.iter().filter(|b| b["status"] == "firing").count();
            (hooks.len(), firing)
        };
        let sent = metrics.value("lookout_latency_anomaly_alerts_sent_total", &[]);
        if sent == posts as f64 || settled.elapsed() > Duration::from_secs(10) {
            break (metrics, posts, firing);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!((1..=2).contains(&firing), "{firing} episodes fired");
    assert_eq!(
        metrics.value(
            "lookout_latency_anomaly_episodes_total",
            &[("status", "firing")]
        ),
        firing as f64
    );
    assert_eq!(
        metrics.value("lookout_latency_anomaly_alerts_sent_total", &[]),
        posts as f64
    );
    // The console notifier logs both ends of the episode (read before stopping: the log lives
    // in the process's temporary directory).
    let log = lookout.logs();
    assert!(log.contains("latency anomaly episode firing"), "{log}");
    assert!(log.contains("latency anomaly episode resolved"), "{log}");
    assert!(lookout.stop().await.success());
    hook_task.abort();
}

fn log_attr<'a>(record: &'a LogRecord, key: &str) -> Option<&'a Value> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn episode_records(sink: &Sink) -> Vec<LogRecord> {
    sink.logs()
        .into_iter()
        .flat_map(|r| r.resource_logs)
        .flat_map(|r| r.scope_logs)
        .flat_map(|s| s.log_records)
        .filter(|r| r.event_name == "lookout.latency.anomaly")
        .collect()
}

/// The sum of `traces.span.metrics.calls` and of the `duration` histograms' counts in the
/// last metrics request (cumulative: it holds the totals).
fn red_totals(sink: &Sink) -> Option<(i64, u64)> {
    let last = sink.metrics().pop()?;
    let metrics: Vec<_> = last
        .resource_metrics
        .into_iter()
        .flat_map(|r| r.scope_metrics)
        .flat_map(|s| s.metrics)
        .collect();
    let mut calls = 0;
    let mut durations = 0;
    for m in metrics {
        match (m.name.as_str(), m.data) {
            ("traces.span.metrics.calls", Some(Data::Sum(s))) => {
                calls += s
                    .data_points
                    .iter()
                    .map(|p| match p.value {
                        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(v)) => v,
                        _ => 0,
                    })
                    .sum::<i64>();
            }
            ("traces.span.metrics.duration", Some(Data::Histogram(h))) => {
                durations += h.data_points.iter().map(|p| p.count).sum::<u64>();
            }
            _ => {}
        }
    }
    Some((calls, durations))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_is_logged_to_a_logs_pipeline_and_red_metrics_count_every_span() {
    let sink = Sink::start().await;
    // Fed through the connector of the processor's id.
    let lookout = start_lookout(
        &sink,
        "",
        Some("    red_metrics:\n      flush_interval: 1h\n"),
        "    logs/anomaly:\n      receivers: [latency_anomaly]\n      exporters: [otlp]\n    metrics/red:\n      receivers: [latency_anomaly]\n      exporters: [otlp]\n",
    )
    .await;
    let client = http_client();
    let mut g = Gen::new(7);
    let mut sent = 0;
    for _ in 0..10 {
        let spans: Vec<Span> = (0..40).map(|_| g.single("GET /search", 10.0)).collect();
        sent += spans.len();
        send(&client, &lookout, spans).await;
    }
    // A lasting shift of `GET /search` (10 ms -> 40 ms).
    let mut shifted: HashMap<Vec<u8>, HashSet<Vec<u8>>> = HashMap::new();
    for _ in 0..5 {
        let spans: Vec<Span> = (0..40).map(|_| g.single("GET /search", 40.0)).collect();
        for s in &spans {
            shifted
                .entry(s.trace_id.clone())
                .or_default()
                .insert(s.span_id.clone());
        }
        sent += spans.len();
        send(&client, &lookout, spans).await;
    }
    wait_until("every span at the sink", Duration::from_secs(30), || {
        sink.span_count() >= sent
    })
    .await;

    // The episode reaches the logs pipeline as it starts, and again once it is over.
    wait_until(
        "firing and resolved episode records",
        Duration::from_secs(30),
        || episode_records(&sink).len() >= 2,
    )
    .await;
    let records = episode_records(&sink);
    assert_eq!(records.len(), 2, "{records:?}");
    let (firing, resolved) = (&records[0], &records[1]);
    assert_eq!(
        log_attr(firing, "lookout.latency.status"),
        Some(&Value::StringValue("firing".into()))
    );
    assert_eq!(firing.severity_text, "WARN");
    assert_eq!(
        log_attr(resolved, "lookout.latency.status"),
        Some(&Value::StringValue("resolved".into()))
    );
    assert_eq!(resolved.severity_text, "INFO");
    for (key, value) in [
        ("service.name", "shop"),
        ("span.name", "GET /search"),
        ("span.kind", "SPAN_KIND_SERVER"),
        ("status.code", "STATUS_CODE_UNSET"),
    ] {
        assert_eq!(
            log_attr(firing, key),
            Some(&Value::StringValue(value.into())),
            "{key}"
        );
    }
    assert!(matches!(
        log_attr(firing, "lookout.latency.kind"),
        Some(Value::StringValue(k)) if k == "shift" || k == "degradation"
    ));
    match log_attr(firing, "lookout.latency.baseline_ms") {
        Some(Value::DoubleValue(b)) => assert!((7.0..13.0).contains(b), "baseline {b}"),
        other => panic!("baseline_ms: {other:?}"),
    }
    // The record points at a shifted span, so a backend can join it to the trace.
    let spans_of_trace = shifted.get(&firing.trace_id).unwrap_or_else(|| {
        panic!(
            "trace id {} is not a shifted span's",
            hex::encode(&firing.trace_id)
        )
    });
    assert!(spans_of_trace.contains(&firing.span_id));
    let logs = sink.logs();
    let resource = logs[0].resource_logs[0].resource.as_ref().unwrap();
    assert_eq!(resource.attributes[0].key, "service.name");
    assert_eq!(
        logs[0].resource_logs[0].scope_logs[0]
            .scope
            .as_ref()
            .unwrap()
            .name,
        "lookout.latency_anomaly"
    );

    // RED metrics: `flush_interval` is an hour, so only the flush at shutdown sends them, and
    // the metrics pipeline must still be open to take it.
    assert!(sink.metrics().is_empty(), "no RED flush before shutdown");
    assert!(lookout.stop().await.success());
    let (calls, durations) = red_totals(&sink).expect("RED metrics flushed at shutdown");
    assert_eq!(calls, sent as i64);
    assert_eq!(durations, sent as u64);
}
