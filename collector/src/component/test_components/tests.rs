use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::config::Config;
use crate::core::Signal;
use crate::service::Service;

const CONFIG: &str = "\
receivers:
  test_source/a:
    items: 7
processors:
  test_shared_counter/one:
exporters:
  test_memory/traces:
  test_memory/logs:
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    traces:
      receivers: [test_source/a]
      processors: [test_shared_counter/one]
      exporters: [test_memory/traces]
    logs:
      receivers: [test_source/a]
      processors: [test_shared_counter/one]
      exporters: [test_memory/logs]
";

#[tokio::test]
async fn one_processor_instance_serves_a_traces_and_a_logs_pipeline() {
    let config = Config::parse("test.yaml", CONFIG).unwrap();
    let service = Service::start(config).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The instance's route is served by the one admin listener, beside /metrics.
    let admin = service.metrics_address().unwrap();
    let body = reqwest::get(format!("http://{admin}/api/test/test_shared_counter_one"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, r#"{"traces":7,"logs":7}"#);
    let missing = reqwest::get(format!("http://{admin}/api/test/other"))
        .await
        .unwrap();
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
    assert!(service.shutdown(Duration::from_secs(5)).await);

    let counters = super::shared_counter::COUNTERS.lock().unwrap();
    let made: Vec<_> = counters
        .iter()
        .filter(|(id, _)| id == "test_shared_counter/one")
        .collect();
    assert_eq!(made.len(), 1, "built once for both pipelines");
    let counts = &made[0].1;
    assert_eq!(counts.pipelines.load(Ordering::Relaxed), 2);
    assert_eq!(
        counts.items[Signal::Traces as usize].load(Ordering::Relaxed),
        7
    );
    assert_eq!(
        counts.items[Signal::Logs as usize].load(Ordering::Relaxed),
        7
    );
    assert_eq!(
        counts.items[Signal::Metrics as usize].load(Ordering::Relaxed),
        0
    );

    let exporters = super::memory_exporter::REGISTRY.lock().unwrap();
    let got = |id: &str| -> Vec<(Signal, usize)> {
        exporters
            .iter()
            .filter(|(e, _)| e == id)
            .flat_map(|(_, r)| r.batches.lock().unwrap().clone())
            .collect()
    };
    assert_eq!(got("test_memory/traces"), [(Signal::Traces, 7)]);
    assert_eq!(got("test_memory/logs"), [(Signal::Logs, 7)]);
}

#[test]
fn a_test_component_is_validated_at_load_with_its_line() {
    let bad = CONFIG.replace(
        "  test_shared_counter/one:\n",
        "  test_shared_counter/one:\n    scale: 0\n",
    );
    let err = Config::parse("test.yaml", &bad).unwrap_err().to_string();
    assert!(err.contains("scale must be >= 1"), "{err}");
    assert!(err.starts_with("test.yaml:5:"), "{err}");
}

#[tokio::test]
async fn a_receiver_task_that_panics_is_restarted_and_counted() {
    let config = "\
receivers:
  test_source/flaky:
    items: 3
    panic_once: true
exporters:
  test_memory/flaky:
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    metrics:
      receivers: [test_source/flaky]
      exporters: [test_memory/flaky]
";
    let service = Service::start(Config::parse("flaky.yaml", config).unwrap())
        .await
        .unwrap();
    let restarted =
        "lookout_component_restarts_total{component=\"test_source/flaky\",kind=\"receiver\"} 1";
    let mut rendered = String::new();
    for _ in 0..100 {
        rendered = service.telemetry().render();
        if rendered.contains(restarted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rendered.contains(restarted), "{rendered}");
    assert!(service.shutdown(Duration::from_secs(5)).await);
    let exporters = super::memory_exporter::REGISTRY.lock().unwrap();
    let got: Vec<(Signal, usize)> = exporters
        .iter()
        .filter(|(e, _)| e == "test_memory/flaky")
        .flat_map(|(_, r)| r.batches.lock().unwrap().clone())
        .collect();
    // The first start handed its items on before panicking; the restart did it again.
    assert_eq!(got, [(Signal::Metrics, 3), (Signal::Metrics, 3)]);
}
