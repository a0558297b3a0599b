//! Alert delivery faults through the whole process: one `lookout` whose metrics pipeline
//! (OTLP in → `alert_rules` → OTLP out to the in-process sink) raises an alert on the metrics
//! the test sends, routed to six notifiers at once: four broken — email to a closed port,
//! email to aiosmtpd with the wrong password, email to a server that accepts and never
//! answers, Alertmanager on a closed port — and two healthy — a JSON webhook in the test and
//! aiosmtpd without AUTH. The broken ones retry (100 ms … 500 ms, for at most 2 s) and then
//! count each notification in `lookout_alerting_notifications_failed_total{notifier}`; the
//! wrong password is a permanent failure, given up on without retries; the healthy ones get
//! the alert; every metric batch sent meanwhile is accepted and delivered; SIGTERM ends the
//! process cleanly and promptly.
//!
//! Needs `LOOKOUT_PYTHON` with aiosmtpd.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use support::sink::Sink;
use support::smtp::SmtpSink;
use support::webhook::start_webhook;
use support::{Lookout, otlp_exporter, otlp_receiver, service};

/// Metric batches sent, one every `SEND_EVERY`, and points per batch.
const BATCHES: usize = 50;
const SEND_EVERY: Duration = Duration::from_millis(200);
const POINTS: usize = 10;
const BROKEN: [&str; 4] = ["email_down", "email_auth", "email_slow", "am_down"];
/// SIGTERM to exit, with notifiers still failing (workers get 2 s of grace).
const STOP_BOUND: Duration = Duration::from_secs(10);

/// A TCP listener that accepts connections and never says a word (an SMTP server that hangs
/// before its greeting). Holds the connections until dropped.
async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    (port, task)
}

/// A port bound but not listening: connections to it are refused, and no other process can
/// take it while the socket lives (a port merely found free could be taken meanwhile).
fn closed_port() -> (u16, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    (port, socket)
}

struct Peers {
    sink: u16,
    closed: u16,
    auth_smtp: String,
    slow: u16,
    ok_smtp: String,
    hook: u16,
}

fn config(p: &support::Ports, peers: &Peers) -> String {
    let delivery = "timeout: 1s\n          retry: {initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 2s}";
    let email = |endpoint: &str, auth: &str| {
        format!(
            "email:\n          endpoint: {endpoint}\n          tls: none\n{auth}          from: lookout@example.com\n          to: [oncall@example.com]\n          {delivery}"
        )
    };
    let alerting = format!(
        "  alerting:
    rate_limit: {{max_notifications_per_minute: 1000}}
    host_snapshot: false
    notifiers:
      email_down:
        {}
      email_auth:
        {}
      email_slow:
        {}
      am_down:
        alertmanager:
          endpoints: [http://127.0.0.1:{closed}]
          {delivery}
      email_ok:
        {}
      hook:
        webhook:
          endpoint: http://127.0.0.1:{hook}/hook
          format: json
          {delivery}
    route:
      notifiers: [email_down, email_auth, email_slow, am_down, email_ok, hook]
      group_by: [alertname]
      group_wait: 0s
      group_interval: 500ms
      repeat_interval: 1s
",
        email(&format!("127.0.0.1:{}", peers.closed), ""),
        email(
            &peers.auth_smtp,
            "          username: lookout\n          password: wrong\n"
        ),
        email(&format!("127.0.0.1:{}", peers.slow), ""),
        email(&peers.ok_smtp, ""),
        closed = peers.closed,
        hook = peers.hook,
    );
    let pipelines = "    metrics:\n      receivers: [otlp]\n      processors: [alert_rules]\n      exporters: [otlp]\n";
    let service = service(p, pipelines)
        .replacen("\nservice:\n", &format!("\n{alerting}service:\n"), 1)
        .replacen(
            "  extensions: [health_check]",
            "  extensions: [health_check, alerting]",
            1,
        );
    format!(
        "{}processors:
  alert_rules:
    alerting: alerting
    evaluation_interval: 100ms
    default_rules: false
    rules:
      - alert: FaultSignal
        metric: fault.signal
        aggregate: {{op: max}}
        condition: \"> 0\"
        severity: critical
exporters:
{}{service}",
        otlp_receiver(p, "", ""),
        otlp_exporter("otlp", peers.sink, "none"),
    )
}

/// `POINTS` gauge points of `fault.signal` (value 1), one per `slot`.
fn batch() -> ExportMetricsServiceRequest {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
    let points = (0..POINTS)
        .map(|slot| NumberDataPoint {
            attributes: vec![KeyValue {
                key: "slot".into(),
                value: Some(AnyValue {
                    value: Some(Value::IntValue(slot as i64)),
                }),
                ..KeyValue::default()
            }],
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsDouble(1.0)),
            ..NumberDataPoint::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "fault.signal".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

fn failed(m: &support::Metrics, notifier: &str) -> f64 {
    m.get(
        "lookout_alerting_notifications_failed_total",
        &[("notifier", notifier)],
    )
    .unwrap_or(0.0)
}

fn sent(m: &support::Metrics, notifier: &str) -> f64 {
    m.get(
        "lookout_alerting_notifications_sent_total",
        &[("notifier", notifier)],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_notifiers_fail_counted_while_healthy_ones_and_the_pipeline_go_on() {
    let sink = Sink::start().await;
    let auth_smtp = SmtpSink::start_with(&["--user", "lookout", "--password", "s3cret"]);
    let ok_smtp = SmtpSink::start();
    let (slow, _slow_task) = silent_server().await;
    let (hook, hooks, _hook_task) = start_webhook().await;
    let (closed, _closed_socket) = closed_port();
    let peers = Peers {
        sink: sink.port,
        closed,
        auth_smtp: auth_smtp.endpoint(),
        slow,
        ok_smtp: ok_smtp.endpoint(),
        hook,
    };
    let lookout = Lookout::start(|p| config(p, &peers)).await;

    let channel = tonic::transport::Endpoint::from_shared(lookout.grpc_url())
        .expect("url")
        .timeout(Duration::from_secs(5))
        .connect_lazy();
    let mut client = MetricsServiceClient::new(channel);

    // Send metrics the whole time the notifiers fail: every call must be accepted at once.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut early = None;
    for i in 0..BATCHES {
        let call = Instant::now();
        let reply = client.export(batch()).await;
        slowest = slowest.max(call.elapsed());
        assert!(
            reply.is_ok(),
            "batch {i} refused: {reply:?}; /proc/PID/stat: {}; log:\n{}",
            std::fs::read_to_string(format!("/proc/{}/stat", lookout.pid())).unwrap_or_default(),
            lookout.logs()
        );
        if i == BATCHES / 2 {
            early = Some(lookout.metrics().await);
        }
        tokio::time::sleep(SEND_EVERY).await;
    }
    let sending = started.elapsed();
    eprintln!("{BATCHES} batches in {sending:?}, slowest export call {slowest:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "an export call took {slowest:?} while notifiers failed"
    );

    // Every point sent reaches the exporter.
    let want = BATCHES * POINTS;
    support::wait_until("every point at the sink", Duration::from_secs(10), || {
        sink.point_count() >= want
    })
    .await;
    assert_eq!(sink.point_count(), want, "points at the sink");

    // The healthy notifiers got the alert.
    let firing_hook =
        hooks.lock().unwrap().iter().any(|h| {
            h["status"] == "firing" && h["alerts"][0]["labels"]["alertname"] == "FaultSignal"
        });
    assert!(firing_hook, "webhook: {:#?}", hooks.lock().unwrap());
    tokio::task::block_in_place(|| {
        ok_smtp.wait_for("firing FaultSignal", Duration::from_secs(10), |m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("[FIRING") && s.contains("FaultSignal"))
        })
    });
    assert!(
        auth_smtp.received().is_empty(),
        "mail accepted with a wrong password: {:#?}",
        auth_smtp.received()
    );

    // Each broken notifier counted failures, and the count grew while the alert kept repeating.
    let early = early.expect("scraped mid-way");
    let late = lookout.metrics().await;
    let otlp = [("receiver", "otlp"), ("transport", "grpc")];
    assert_eq!(
        late.value("lookout_receiver_accepted_metric_points_total", &otlp),
        want as f64,
        "points accepted by the receiver"
    );
    assert_eq!(
        late.get("lookout_receiver_refused_metric_points_total", &otlp)
            .unwrap_or(0.0),
        0.0,
        "points refused by the receiver"
    );
    for notifier in BROKEN {
        let (a, b) = (failed(&early, notifier), failed(&late, notifier));
        eprintln!("{notifier}: failed {a} mid-way, {b} after sending");
        assert!(b >= 1.0 && b > a, "{notifier}: failed {a} then {b}");
        assert_eq!(sent(&late, notifier), 0.0, "{notifier} delivered");
    }
    for notifier in ["email_ok", "hook"] {
        assert!(sent(&late, notifier) >= 1.0, "{notifier}: nothing sent");
        assert_eq!(failed(&late, notifier), 0.0, "{notifier} failed");
    }
    // The wrong password is permanent: each notification fails at once (535), without the
    // 2 s of retries the unreachable ones spend, so it counts more failures than they do.
    assert!(
        failed(&late, "email_auth") > failed(&late, "email_down"),
        "auth {} vs down {}",
        failed(&late, "email_auth"),
        failed(&late, "email_down")
    );
    let logs = lookout.logs();
    let auth_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("email_auth") && l.contains("notification failed"))
        .collect();
    assert!(!auth_lines.is_empty(), "log:\n{logs}");
    assert!(
        auth_lines
            .iter()
            .all(|l| l.contains("535") && !l.contains("gave up after")),
        "{auth_lines:#?}"
    );
    assert!(
        logs.lines()
            .any(|l| l.contains("email_down") && l.contains("gave up after")),
        "log:\n{logs}"
    );
    assert!(!logs.contains("wrong"), "the password was logged:\n{logs}");
    assert!(!logs.contains("panicked"), "log:\n{logs}");

    // SIGTERM with notifiers still failing: a clean, prompt exit.
    let stopping = Instant::now();
    lookout.stop_ok().await;
    let took = stopping.elapsed();
    eprintln!("SIGTERM → exit 0 in {took:?}");
    assert!(took < STOP_BOUND, "exit took {took:?}");
}
