//! A latency episode reaches a real Alertmanager (Debian's `prometheus-alertmanager`) through
//! the `alerting` extension: spans sent over OTLP/HTTP shift `GET /search` from 10 ms to
//! 40 ms; the `latency_anomaly` processor opens an episode and sends it to the extension,
//! whose `alertmanager` notifier posts it to Alertmanager's v2 API. `GET /api/v2/alerts` must
//! list it with its labels (the key's fields, sanitised to Alertmanager's label names) and its
//! evidence as annotations; once the search is quiet the episode resolves, the notifier posts
//! `endsAt`, and Alertmanager stops listing the alert as active.
//!
//! Needs `prometheus-alertmanager` on the PATH (`.ci/run` installs it). Without the binary the
//! test fails when `CI` is set and is skipped, with a notice, otherwise.

mod support;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use support::alertmanager::{self, Alertmanager};
use support::sink::Sink;
use support::spans::Gen;
use support::{Lookout, http_client, otlp_exporter, otlp_receiver, service};

// === spans ===

async fn send(client: &reqwest::Client, lookout: &Lookout, spans: Vec<Span>) {
    let request = ExportTraceServiceRequest {
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
    };
    let response = client
        .post(lookout.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(support::encode(&request))
        .send()
        .await
        .expect("send spans");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}

fn config(p: &support::Ports, sink: u16, am: u16) -> String {
    let alerting = format!(
        "extensions:\n  alerting:\n    notifiers:\n      am:\n        alertmanager: {{endpoints: ['http://127.0.0.1:{am}'], timeout: 5s, retry: {{initial_interval: 200ms, max_interval: 1s}}}}\n    route:\n      notifiers: [am]\n      group_by: [alertname]\n      group_wait: 0s\n      group_interval: 1s\n      repeat_interval: 1m\n  health_check:"
    );
    let pipelines = "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly]\n      exporters: [otlp]\n";
    format!(
        "{}processors:\n  latency_anomaly:\n    min_samples: 50\n    sequential_min_samples: 100\n    episodes:\n      resolve_after: 2s\n    alerting: alerting\nexporters:\n{}{}",
        otlp_receiver(p, "", ""),
        otlp_exporter("otlp", sink, "none"),
        service(p, pipelines)
            .replacen("extensions:\n  health_check:", &alerting, 1)
            .replacen(
                "  extensions: [health_check]",
                "  extensions: [health_check, alerting]",
                1
            ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_episode_fires_and_resolves_in_alertmanager() {
    if !alertmanager::available() {
        return;
    }
    let am = Alertmanager::start(alertmanager::BLACKHOLE).await;
    let sink = Sink::start().await;
    let lookout = Lookout::start(|p| config(p, sink.port, am.port)).await;
    let client = http_client();
    let mut g = Gen {
        state: 42,
        clock: 1_700_000_000_000_000_000,
        next_id: 0,
    };
    // Warm-up at 10 ms, then a lasting shift to 40 ms.
    for _ in 0..10 {
        let spans = (0..40).map(|_| g.span("GET /search", 10.0)).collect();
        send(&client, &lookout, spans).await;
    }
    for _ in 0..5 {
        let spans = (0..40).map(|_| g.span("GET /search", 40.0)).collect();
        send(&client, &lookout, spans).await;
    }

    let is_ours = |a: &serde_json::Value| {
        a["labels"]["alertname"] == "LatencyAnomaly" && a["labels"]["span_name"] == "GET /search"
    };
    let alerts = am
        .wait_for("the LatencyAnomaly alert", |alerts| {
            alerts.iter().any(is_ours)
        })
        .await;
    let alert = alerts.iter().find(|a| is_ours(a)).unwrap();
    let labels = &alert["labels"];
    assert_eq!(labels["service_name"], "shop", "{alert:#}");
    assert_eq!(labels["severity"], "warning", "{alert:#}");
    assert!(
        matches!(labels["kind"].as_str(), Some("shift" | "degradation")),
        "{alert:#}"
    );
    assert_eq!(alert["status"]["state"], "active", "{alert:#}");
    let annotations = &alert["annotations"];
    assert!(
        annotations["summary"]
            .as_str()
            .is_some_and(|s| s.contains("GET /search")),
        "{alert:#}"
    );
    let trace_ids = annotations["trace_ids"]
        .as_str()
        .expect("trace_ids annotation");
    assert!(
        trace_ids
            .split(',')
            .all(|t| t.len() == 32 && t.starts_with("5a5a5a5a")),
        "{trace_ids}"
    );
    let baseline: f64 = annotations["baseline_ms"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("baseline_ms annotation");
    assert!((5.0..20.0).contains(&baseline), "baseline {baseline} ms");
    let ratio: f64 = annotations["max_ratio"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("max_ratio annotation");
    assert!(ratio > 2.0, "ratio {ratio}");
    assert!(
        annotations["host"]
            .as_str()
            .is_some_and(|h| h.starts_with("cpu ")),
        "host evidence: {alert:#}"
    );

    // Quiet: the episode resolves after `resolve_after`, the notifier posts `endsAt`, and
    // Alertmanager no longer lists the alert as active.
    am.wait_for("the alert to resolve", |alerts| !alerts.iter().any(is_ours))
        .await;

    let metrics = lookout.metrics().await;
    assert!(
        metrics.value(
            "lookout_alerting_notifications_sent_total",
            &[("notifier", "am")]
        ) >= 2.0,
        "a firing and a resolved notification"
    );
    assert_eq!(
        metrics.value(
            "lookout_alerting_notifications_failed_total",
            &[("notifier", "am")]
        ),
        0.0
    );
    assert!(
        metrics.value(
            "lookout_alerting_alerts_received_total",
            &[("source", "latency_anomaly")]
        ) >= 2.0
    );
    drop(am);
    lookout.stop_ok().await;
}
