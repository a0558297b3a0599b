//! The wire path and the whole path through a running collector.

use super::*;

// === the whole path ===

/// A server answering 200 and closing each connection (so no kept-alive connection outlives
/// it when it stops).
async fn health_server(listener: tokio::net::TcpListener) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let mut buf = [0u8; 2048];
        let _ = sock.read(&mut buf).await;
        let _ = sock
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .await;
    }
}

fn collected(id: &str) -> Vec<Alert> {
    use crate::component::test_components::alert_sink::REGISTRY;
    let registry = REGISTRY.lock().unwrap();
    registry
        .iter()
        .filter(|(i, _)| i == id)
        .flat_map(|(_, c)| {
            c.alerts
                .lock()
                .unwrap()
                .iter()
                .map(|(_, a)| a.clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn wait_for(id: &str, what: impl Fn(&Alert) -> bool, limit: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if collected(id).iter().any(&what) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_failing_fires_when_the_server_stops_and_resolves_when_it_is_back() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(health_server(listener));
    let url = format!("http://{addr}/health");
    let yaml = format!(
        "
receivers:
  httpcheck:
    collection_interval: 500ms
    initial_delay: 0s
    timeout: 1s
    targets:
      - endpoint: {url}
processors:
  alert_rules:
    alerting: test_alert_sink/httpcheck
    evaluation_interval: 500ms
exporters:
  test_memory/alert_rules:
extensions:
  test_alert_sink/httpcheck:
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  extensions: [test_alert_sink/httpcheck]
  pipelines:
    metrics:
      receivers: [httpcheck]
      processors: [alert_rules]
      exporters: [test_memory/alert_rules]
"
    );
    let config = crate::config::Config::parse("test.yaml", &yaml).unwrap();
    let service = crate::service::Service::start(config).await.unwrap();
    let sink = "test_alert_sink/httpcheck";
    let failing = |a: &Alert| a.name() == "HttpCheckFailing";

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(collected(sink).is_empty(), "healthy: no alert");

    server.abort();
    let _ = server.await;
    let fired = wait_for(
        sink,
        |a| failing(a) && a.ends_at.is_none(),
        Duration::from_secs(8),
    )
    .await
    .expect("HttpCheckFailing fires");
    eprintln!("HttpCheckFailing fired {fired:?} after the server stopped");
    assert!(fired >= Duration::from_secs(3), "for: 3s holds ({fired:?})");
    assert!(
        fired < Duration::from_millis(5500),
        "fires within ~3-4 s ({fired:?})"
    );
    let alert = collected(sink).into_iter().find(|a| failing(a)).unwrap();
    assert_eq!(alert.labels["http.url"], url);
    assert_eq!(alert.labels["severity"], "critical");
    assert!(alert.annotations["summary"].contains(&url));
    assert!(
        !alert.annotations["description"].is_empty(),
        "the probe's error message: {:?}",
        alert.annotations
    );
    assert!(!alert.evidence.values.is_empty());

    // Back on the same port: the errors stop, the series goes stale, the alert resolves.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server = tokio::spawn(health_server(listener));
    let resolved = wait_for(
        sink,
        |a| failing(a) && a.ends_at.is_some(),
        Duration::from_secs(10),
    )
    .await
    .expect("HttpCheckFailing resolves");
    eprintln!("HttpCheckFailing resolved {resolved:?} after the server came back");
    // Self-metrics on the admin listener.
    let admin = service.metrics_address().unwrap();
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "lookout_alert_rules_series{processor=\"alert_rules\"}",
        "lookout_alert_rules_firing{processor=\"alert_rules\"}",
        "lookout_alert_rules_evaluations_total{processor=\"alert_rules\"}",
        "lookout_alert_rules_series_dropped_total{processor=\"alert_rules\"} 0",
    ] {
        assert!(metrics.contains(name), "{name} in\n{metrics}");
    }
    assert!(service.shutdown(Duration::from_secs(5)).await);
    server.abort();

    // The data passed through unchanged to the exporter.
    let exporters = crate::component::test_components::memory_exporter::REGISTRY
        .lock()
        .unwrap();
    let batches: usize = exporters
        .iter()
        .filter(|(e, _)| e == "test_memory/alert_rules")
        .map(|(_, r)| r.batches.lock().unwrap().len())
        .sum();
    assert!(batches >= 8, "{batches} batches passed through");
}

#[test]
fn testdata_config_loads_and_a_missing_extension_is_named() {
    let text = include_str!("../testdata/config.yaml");
    crate::config::Config::parse("testdata/config.yaml", text).unwrap();
    let without = text.replace("  extensions: [alerting]\n", "");
    let err = crate::config::Config::parse("testdata/config.yaml", &without)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("alerting: extension alerting is not enabled"),
        "{err}"
    );
}

#[test]
fn the_wire_path_decodes_only_watched_metrics_and_keeps_resource_attributes() {
    use prost::Message;
    let mut e = engine("alerting: a\nrules:\n  - {alert: W, metric: watched, condition: '> 0'}\n");
    let t = at(0);
    let mut req = gauge_req("h1", "watched", &[("k", "v")], 1.0, t);
    let other = gauge("other", "", "1", times(t), vec![(vec![], Num::Double(1.0))]);
    req.resource_metrics[0].scope_metrics[0]
        .metrics
        .insert(0, other);
    req.resource_metrics[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes
        .push(crate::core::otlp_build::attr_int("process.pid", 42));
    let w = Engine::extract(&e.watched(), &req.encode_to_vec()).unwrap();
    assert!(!w.is_empty());
    e.apply_watched(&w, t);
    let series: Vec<_> = e.rules[0].series.values().collect();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].labels["host.name"], "h1");
    assert_eq!(series[0].labels["process.pid"], "42");
    assert_eq!(series[0].labels["k"], "v");
    // The same series as the decoded path (same key).
    e.apply(&req, at(1));
    assert_eq!(e.rules[0].series.len(), 1);
    let unwatched = gauge_req("h1", "other", &[], 1.0, t);
    assert!(
        Engine::extract(&e.watched(), &unwatched.encode_to_vec())
            .unwrap()
            .is_empty()
    );
}
