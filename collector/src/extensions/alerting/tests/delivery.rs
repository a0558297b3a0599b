//! Delivery against local HTTP servers: retries, permanent errors, dead destinations,
//! Alertmanager HA.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::extensions::alerting::worker;

// === retries against a real HTTP server ===

async fn flaky_server(fail_first: usize, status: u16) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let counter = Arc::clone(&counter);
            async move {
                assert_eq!(body["version"], "4");
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let code = if n < fail_first { status } else { 200 };
                axum::http::StatusCode::from_u16(code).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), hits)
}

fn webhook(endpoint: &str) -> crate::extensions::alerting::notifiers::webhook::WebhookNotifier {
    let config: crate::extensions::alerting::notifiers::webhook::WebhookConfig =
        serde_yaml_ng::from_str(&format!("{{endpoint: '{endpoint}', format: alertmanager}}"))
            .unwrap();
    crate::extensions::alerting::notifiers::webhook::build(&config, Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn webhook_is_retried_after_503_and_succeeds() {
    let (url, hits) = flaky_server(1, 503).await;
    let n = webhook(&url);
    let attempts = worker::deliver(
        &n,
        &one_notification(),
        Duration::from_secs(5),
        &fast_backoff(),
    )
    .await
    .unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn webhook_400_is_not_retried_and_a_dead_endpoint_gives_up() {
    let (url, hits) = flaky_server(10, 400).await;
    let err = worker::deliver(
        &webhook(&url),
        &one_notification(),
        Duration::from_secs(5),
        &fast_backoff(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, NotifyError::Permanent(_)), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Nothing listens there: retried until max_elapsed_time, then given up.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut backoff = fast_backoff();
    backoff.max_elapsed_time = Some(Duration::from_millis(200));
    let err = worker::deliver(
        &webhook(&format!("http://{dead}/hook")),
        &one_notification(),
        Duration::from_secs(5),
        &backoff,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, NotifyError::Retryable(_)) && err.to_string().contains("gave up"),
        "{err}"
    );
}

#[tokio::test]
async fn alertmanager_ha_succeeds_if_one_endpoint_takes_the_alerts() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/api/v2/alerts",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let counter = Arc::clone(&counter);
            async move {
                assert_eq!(body[0]["labels"]["alertname"], "Down");
                counter.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let am = |endpoints: &[String]| {
        let config: crate::extensions::alerting::notifiers::alertmanager::AlertmanagerConfig =
            serde_json::from_value(serde_json::json!({ "endpoints": endpoints })).unwrap();
        crate::extensions::alerting::notifiers::alertmanager::build(&config, Duration::from_secs(2))
            .unwrap()
    };
    let both = am(&[format!("http://{dead}"), format!("http://{live}/")]);
    both.notify(&one_notification()).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let none = am(&[format!("http://{dead}")]);
    let err = none.notify(&one_notification()).await.unwrap_err();
    assert!(matches!(err, NotifyError::Retryable(_)), "{err}");
}

#[tokio::test]
async fn a_dead_destination_is_retried_then_counted_as_failed() {
    let telemetry = Telemetry::new();
    let shutdown = CancellationToken::new();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut backoff = fast_backoff();
    backoff.max_elapsed_time = Some(Duration::from_millis(150));
    let (mut handle, task) = WorkerHandle::spawn(
        "hook",
        Arc::new(webhook(&format!("http://{dead}/hook"))),
        WorkerSettings {
            timeout: Duration::from_secs(1),
            backoff,
            queue_size: 4,
            per_minute: 100,
        },
        WorkerMetrics::new(&telemetry, "hook"),
        shutdown.clone(),
    );
    handle.offer(one_notification(), tokio::time::Instant::now());
    let failed = r#"lookout_alerting_notifications_failed_total{notifier="hook"} 1"#;
    let started = std::time::Instant::now();
    while !metric(&telemetry, failed) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            telemetry.render()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metric(
        &telemetry,
        r#"lookout_alerting_notifications_sent_total{notifier="hook"} 0"#
    ));
    // The dispatcher drops its handles when it stops: the worker then ends at once.
    drop(handle);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("worker ends when its queue closes")
        .unwrap();
}
