//! Notifier tests against a local HTTP server on 127.0.0.1:0.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use lookout_anomaly::{AnomalyKind, KeyHash};
use serde_json::Value;

use super::*;
use crate::processors::latency_anomaly::config::{WebhookConfig, WebhookRetryConfig};
use crate::processors::latency_anomaly::episodes::EpisodeStatus;

/// What the server saw, and the statuses it answers with (then 200).
#[derive(Default)]
struct Seen {
    bodies: Vec<Value>,
    auth: Vec<Option<String>>,
    script: Vec<u16>,
}

type Shared = Arc<Mutex<Seen>>;

async fn hook(
    State(seen): State<Shared>,
    headers: axum::http::HeaderMap,
    body: String,
) -> StatusCode {
    let mut s = seen.lock().unwrap();
    s.bodies
        .push(serde_json::from_str(&body).unwrap_or(Value::Null));
    s.auth.push(
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
    );
    let code = if s.script.is_empty() {
        200
    } else {
        s.script.remove(0)
    };
    StatusCode::from_u16(code).unwrap()
}

struct Server {
    url: String,
    seen: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server(script: Vec<u16>) -> Server {
    let seen: Shared = Arc::new(Mutex::new(Seen {
        script,
        ..Seen::default()
    }));
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { url, seen, task }
}

fn config(url: &str, min_interval: Duration) -> AlertsConfig {
    AlertsConfig {
        webhook: Some(WebhookConfig {
            endpoint: url.into(),
            headers: [("Authorization".to_string(), "Bearer t0ken".to_string())].into(),
            timeout: Duration::from_secs(5),
            tls: Default::default(),
            min_interval,
            receiver: "team-latency".into(),
            retry: WebhookRetryConfig {
                max_attempts: 3,
                initial_interval: Duration::from_millis(20),
                max_interval: Duration::from_millis(40),
            },
        }),
        console: true,
        ..AlertsConfig::default()
    }
}

fn event(key: u64, status: EpisodeStatus) -> EpisodeEvent {
    EpisodeEvent {
        status,
        key: KeyHash(key),
        service: "checkout".into(),
        key_attributes: Vec::new(),
        labels: vec![
            ("service".into(), "checkout".into()),
            ("span_name".into(), format!("GET /{key}")),
        ],
        kind: AnomalyKind::Shift,
        baseline_ms: 12.5,
        max_ratio: 3.25,
        example_trace_ids: vec!["ab".repeat(16), "cd".repeat(16)],
        first_example: Some(([0xab; 16], [0x01; 8])),
        starts_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ends_at: (status == EpisodeStatus::Resolved)
            .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_060)),
    }
}

fn bodies(s: &Server) -> Vec<Value> {
    s.seen.lock().unwrap().bodies.clone()
}

async fn wait_for(s: &Server, n: usize) {
    for _ in 0..500 {
        if bodies(s).len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} posts, got {:?}", bodies(s));
}

#[tokio::test]
async fn latency_webhook_posts_alertmanager_firing_then_resolved() {
    let srv = server(Vec::new()).await;
    let metrics = AlertMetrics::default();
    let n = Notifier::spawn(&config(&srv.url, Duration::ZERO), metrics.clone())
        .unwrap()
        .unwrap();
    n.notify(event(1, EpisodeStatus::Firing));
    wait_for(&srv, 1).await;
    n.notify(event(1, EpisodeStatus::Resolved));
    wait_for(&srv, 2).await;
    n.close().await;
    let b = bodies(&srv);
    assert_eq!(b[0]["version"], "4");
    assert_eq!(b[0]["status"], "firing");
    assert_eq!(b[0]["receiver"], "team-latency");
    assert_eq!(
        b[0]["groupKey"],
        r#"{}:{alertname="LatencyAnomaly",kind="shift",service="checkout",span_name="GET /1"}"#
    );
    let a = &b[0]["alerts"][0];
    assert_eq!(a["status"], "firing");
    assert_eq!(a["labels"]["alertname"], "LatencyAnomaly");
    assert_eq!(a["labels"]["service"], "checkout");
    assert_eq!(a["labels"]["span_name"], "GET /1");
    assert_eq!(a["labels"]["kind"], "shift");
    assert_eq!(a["annotations"]["baseline_ms"], "12.500");
    assert_eq!(a["annotations"]["ratio"], "3.250");
    assert_eq!(
        a["annotations"]["example_trace_ids"],
        format!("{},{}", "ab".repeat(16), "cd".repeat(16))
    );
    assert_eq!(a["startsAt"], "2023-11-14T22:13:20.000Z");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(b[1]["status"], "resolved");
    assert_eq!(b[1]["alerts"][0]["endsAt"], "2023-11-14T22:14:20.000Z");
    assert_eq!(b[1]["groupKey"], b[0]["groupKey"]);
    let auth = srv.seen.lock().unwrap().auth.clone();
    assert_eq!(auth, vec![Some("Bearer t0ken".to_string()); 2]);
    assert_eq!((metrics.sent.get(), metrics.failed.get()), (2, 0));
}

#[tokio::test]
async fn latency_webhook_rate_limit_coalesces_per_key_and_flushes_at_close() {
    let srv = server(Vec::new()).await;
    let metrics = AlertMetrics::default();
    let n = Notifier::spawn(
        &config(&srv.url, Duration::from_secs(3600)),
        metrics.clone(),
    )
    .unwrap()
    .unwrap();
    n.notify(event(1, EpisodeStatus::Firing));
    n.notify(event(1, EpisodeStatus::Resolved));
    n.notify(event(1, EpisodeStatus::Firing));
    n.notify(event(1, EpisodeStatus::Resolved));
    n.notify(event(2, EpisodeStatus::Firing));
    wait_for(&srv, 2).await;
    // Within the hour nothing else for key 1 may go out.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bodies(&srv).len(), 2);
    n.close().await;
    let b = bodies(&srv);
    let summary: Vec<(String, String)> = b
        .iter()
        .map(|b| {
            (
                b["alerts"][0]["labels"]["span_name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                b["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("GET /1".to_string(), "firing".to_string()),
            ("GET /2".into(), "firing".into()),
            ("GET /1".into(), "resolved".into()),
        ]
    );
    assert_eq!(metrics.coalesced.get(), 2);
    assert_eq!(metrics.sent.get(), 3);
}

#[tokio::test]
async fn latency_webhook_retries_after_503_and_gives_up_on_400() {
    let srv = server(vec![503, 503]).await;
    let metrics = AlertMetrics::default();
    let n = Notifier::spawn(&config(&srv.url, Duration::ZERO), metrics.clone())
        .unwrap()
        .unwrap();
    n.notify(event(1, EpisodeStatus::Firing));
    wait_for(&srv, 3).await;
    n.close().await;
    let b = bodies(&srv);
    assert_eq!(b.len(), 3);
    assert_eq!(b[0], b[2], "a retry resends the same payload");
    assert_eq!((metrics.sent.get(), metrics.failed.get()), (1, 0));

    let srv = server(vec![400]).await;
    let metrics = AlertMetrics::default();
    let n = Notifier::spawn(&config(&srv.url, Duration::ZERO), metrics.clone())
        .unwrap()
        .unwrap();
    n.notify(event(1, EpisodeStatus::Firing));
    n.close().await;
    assert_eq!(bodies(&srv).len(), 1, "400 is not retried");
    assert_eq!((metrics.sent.get(), metrics.failed.get()), (0, 1));
}

#[tokio::test]
async fn latency_webhook_gives_up_after_max_attempts_and_full_queue_drops() {
    let srv = server(vec![503; 10]).await;
    let metrics = AlertMetrics::default();
    let mut cfg = config(&srv.url, Duration::ZERO);
    cfg.queue_size = 1;
    let n = Notifier::spawn(&cfg, metrics.clone()).unwrap().unwrap();
    // The task is busy retrying the first event while more arrive: the queue of 1 overflows.
    n.notify(event(1, EpisodeStatus::Firing));
    wait_for(&srv, 1).await;
    for k in 2..6 {
        n.notify(event(k, EpisodeStatus::Firing));
    }
    n.close().await;
    assert!(
        metrics.dropped.get() >= 3,
        "dropped {}",
        metrics.dropped.get()
    );
    assert_eq!(metrics.sent.get(), 0);
    // Each delivered event used exactly max_attempts (3) posts.
    let posts = bodies(&srv).len() as u64;
    assert_eq!(posts, 3 * metrics.failed.get());
}

#[test]
fn latency_webhook_rejects_bad_settings() {
    let mut c = config("http://127.0.0.1:9/hook", Duration::ZERO);
    if let Some(w) = c.webhook.as_mut() {
        w.headers.insert("bad header".into(), "x".into());
    }
    let err = Notifier::spawn(&c, AlertMetrics::default()).unwrap_err();
    assert!(err.to_string().contains("invalid header name"), "{err}");
    let mut c = config("http://127.0.0.1:9/hook", Duration::ZERO);
    if let Some(w) = c.webhook.as_mut() {
        w.tls.ca_file = Some("/nonexistent/ca.pem".into());
    }
    assert!(Webhook::new(c.webhook.as_ref().unwrap()).is_err());
}

/// Self-signed `localhost` / 127.0.0.1 certificate valid until 2126 (a copy of the
/// httpcheck receiver's test certificate).
const CERT_PEM: &str = include_str!("testdata/cert.pem");
const KEY_PEM: &str = include_str!("testdata/key.pem");

/// An HTTPS server answering every complete request with 200; returns its port and the
/// number of requests it has read.
async fn serve_https() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let certs: Vec<_> = rustls_pemfile::certs(&mut CERT_PEM.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut KEY_PEM.as_bytes())
        .unwrap()
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                loop {
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, count)
}

#[tokio::test]
async fn latency_webhook_tls_trusts_ca_file_or_skip_verify_and_rejects_unknown_issuer() {
    let (port, count) = serve_https().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, CERT_PEM).unwrap();
    let url = format!("https://127.0.0.1:{port}/hook");
    let cases: [(Option<std::path::PathBuf>, bool, u64); 3] =
        [(Some(ca), false, 1), (None, true, 1), (None, false, 0)];
    for (ca_file, skip, want_sent) in cases {
        let mut c = config(&url, Duration::ZERO);
        if let Some(w) = c.webhook.as_mut() {
            w.tls.ca_file = ca_file.clone();
            w.tls.insecure_skip_verify = skip;
            w.retry.max_attempts = 1;
        }
        let metrics = AlertMetrics::default();
        let before = count.load(std::sync::atomic::Ordering::SeqCst);
        let n = Notifier::spawn(&c, metrics.clone()).unwrap().unwrap();
        n.notify(event(1, EpisodeStatus::Firing));
        n.close().await;
        let served = count.load(std::sync::atomic::Ordering::SeqCst) - before;
        assert_eq!(
            (metrics.sent.get(), metrics.failed.get(), served as u64),
            (want_sent, 1 - want_sent, want_sent),
            "ca_file={ca_file:?} insecure_skip_verify={skip}"
        );
    }
}

/// A server answering 429 with `Retry-After: 1` once, then 200; returns the hook URL.
async fn throttling_server() -> (String, tokio::task::JoinHandle<()>) {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = Router::new().route(
        "/hook",
        post(move || {
            let calls = Arc::clone(&calls);
            async move {
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")])
                } else {
                    (StatusCode::OK, [("retry-after", "0")])
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[tokio::test]
async fn latency_webhook_honours_retry_after_up_to_max_interval() {
    for (max_interval, waited_at_least, waited_below) in [
        (
            Duration::from_secs(3),
            Duration::from_millis(950),
            Duration::from_secs(3),
        ),
        (
            Duration::from_millis(40),
            Duration::ZERO,
            Duration::from_millis(900),
        ),
    ] {
        let (url, task) = throttling_server().await;
        let mut c = config(&url, Duration::ZERO);
        let Some(w) = c.webhook.as_mut() else {
            panic!("config has a webhook")
        };
        w.retry.max_interval = max_interval;
        let webhook = Webhook::new(w).unwrap();
        let began = std::time::Instant::now();
        assert_eq!(
            webhook
                .deliver(&event(1, EpisodeStatus::Firing))
                .await
                .unwrap(),
            2
        );
        let waited = began.elapsed();
        assert!(
            (waited_at_least..waited_below).contains(&waited),
            "max_interval {max_interval:?}: waited {waited:?}"
        );
        task.abort();
    }
}
