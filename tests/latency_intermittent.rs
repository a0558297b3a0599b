//! Whole process: an intermittent failure through the real `lookout` binary. After a warm-up,
//! one request in 40 of `GET /checkout` takes 20× its median (a downstream timeout hit by a
//! few percent of requests). Every one of those slow spans must come out tagged, the later
//! ones as `intermittent` rather than being learned as normal, and the key must open exactly
//! one `intermittent` episode, reported to the webhook and to a logs pipeline with example
//! trace ids of slow spans.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use support::sink::Sink;
use support::spans::{Gen, request};
use support::webhook::start_webhook;
use support::{Lookout, http_client, otlp_exporter, otlp_receiver, service, wait_until};

/// Span clock start (the detector decays on span end times, not wall time).
const T0: u64 = 1_700_000_000_000_000_000;
/// Median of `GET /checkout`, ms.
const MEDIAN_MS: f64 = 20.0;

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intermittent_burst_is_tagged_throughout_and_opens_one_intermittent_episode() {
    let sink = Sink::start().await;
    let (hook_port, hooks, hook_task) = start_webhook().await;
    let lookout = Lookout::start(|p| {
        let pipelines = "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly]\n      exporters: [otlp, latency_anomaly]\n    logs/anomaly:\n      receivers: [latency_anomaly]\n      exporters: [otlp]\n";
        format!(
            "{}processors:\n  latency_anomaly:\n    min_samples: 50\n    sequential_min_samples: 100\n    episodes:\n      resolve_after: 30s\n    alerts:\n      webhook:\n        endpoint: http://127.0.0.1:{hook_port}/hook\n        min_interval: 0s\nconnectors:\n  latency_anomaly:\nexporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink.port, "none"),
            service(p, pipelines)
        )
    })
    .await;
    let client = http_client();
    let mut g = Gen {
        state: 17,
        clock: T0,
        next_id: 0,
    };
    let send = |spans: Vec<Span>| {
        let body = support::encode(&request("shop", spans));
        let post = client
            .post(lookout.http_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body);
        async move {
            let response = post.send().await.expect("send spans");
            assert_eq!(response.status(), reqwest::StatusCode::OK);
        }
    };

    // Warm-up: 600 normal spans.
    let mut sent = 0;
    for _ in 0..6 {
        let spans: Vec<Span> = (0..100)
            .map(|_| g.span_every("GET /checkout", MEDIAN_MS, 50))
            .collect();
        sent += spans.len();
        send(spans).await;
    }
    // The failure: one request in 40 is ×20, for 1200 requests (30 slow ones).
    let mut slow = HashSet::new();
    let mut slow_traces = HashSet::new();
    for _ in 0..12 {
        let spans: Vec<Span> = (0..100)
            .map(|i| {
                if (i + sent) % 40 == 39 {
                    let s = g.span_every("GET /checkout", 20.0 * MEDIAN_MS, 50);
                    slow.insert(s.span_id.clone());
                    slow_traces.insert(hex::encode(&s.trace_id));
                    s
                } else {
                    g.span_every("GET /checkout", MEDIAN_MS, 50)
                }
            })
            .collect();
        sent += spans.len();
        send(spans).await;
    }
    assert_eq!(slow.len(), 30);

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
    // The exporter may deliver batches out of order: the span clock gives the send order.
    let mut kinds = Vec::new();
    let mut normal_tagged = 0;
    for span in &spans {
        let kind = match attr(&span.attributes, "lookout.latency.kind") {
            Some(Value::StringValue(k)) => Some(k.as_str()),
            _ => None,
        };
        if slow.contains(&span.span_id) {
            kinds.push((span.end_time_unix_nano, kind.unwrap_or("untagged")));
        } else if kind.is_some() {
            normal_tagged += 1;
        }
    }
    kinds.sort_unstable();
    let kinds: Vec<&str> = kinds.into_iter().map(|(_, k)| k).collect();
    // Tagged throughout: no slow span was learned as normal.
    assert!(
        kinds.iter().all(|k| *k == "spike" || *k == "intermittent"),
        "{kinds:?}"
    );
    // The first few are spikes; from the episode on they are `intermittent`, to the end.
    let first = kinds.iter().position(|k| *k == "intermittent");
    assert!(first.is_some_and(|f| f <= 10), "{kinds:?}");
    assert!(
        kinds[first.unwrap_or(0)..]
            .iter()
            .all(|k| *k == "intermittent"),
        "{kinds:?}"
    );
    // The episode may tag a normal span far out in its tail; not more than a few of ~1800.
    assert!(normal_tagged <= 3, "{normal_tagged} normal spans tagged");

    // One intermittent episode, to the webhook and the logs pipeline, with slow traces as
    // examples.
    wait_until("the firing webhook post", Duration::from_secs(30), || {
        !hooks.lock().unwrap().is_empty()
    })
    .await;
    wait_until("the firing episode record", Duration::from_secs(30), || {
        !episode_records(&sink).is_empty()
    })
    .await;
    let posts = hooks.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let alert = &posts[0]["alerts"][0];
    assert_eq!(posts[0]["status"], "firing");
    assert_eq!(alert["labels"]["kind"], "intermittent", "{alert}");
    assert_eq!(alert["labels"]["span_name"], "GET /checkout");
    let examples = alert["annotations"]["example_trace_ids"]
        .as_str()
        .unwrap_or_default();
    assert!(!examples.is_empty(), "{alert}");
    for id in examples.split(',') {
        assert!(slow_traces.contains(id), "{id} is not a slow trace");
    }
    let records = episode_records(&sink);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(
        attr(&record.attributes, "lookout.latency.kind"),
        Some(&Value::StringValue("intermittent".into()))
    );
    assert!(slow_traces.contains(&hex::encode(&record.trace_id)));
    match attr(&record.attributes, "lookout.latency.example_trace_ids") {
        Some(Value::ArrayValue(a)) => {
            assert!(!a.values.is_empty());
            for v in &a.values {
                match &v.value {
                    Some(Value::StringValue(id)) => assert!(slow_traces.contains(id), "{id}"),
                    other => panic!("example trace id {other:?}"),
                }
            }
        }
        other => panic!("example_trace_ids: {other:?}"),
    }
    assert!(lookout.stop().await.success());
    hook_task.abort();
}
