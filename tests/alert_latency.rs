//! The number BENCHMARKS.md reports as "Alert latency: condition to email": how long from an
//! HTTP endpoint going down to the firing email being in the SMTP server's hands, with
//! `group_wait: 0s`. A real `lookout` probes a local axum endpoint with `httpcheck` every
//! 200 ms; `alert_rules` evaluates `HttpCheckFailing` (the default rule's shape) every 100 ms;
//! the `alerting` extension sends to aiosmtpd (`tests/python/smtp_sink.py`, which stamps each
//! message with `received_at`) and to a JSON webhook in the test (whose `starts_at` splits the
//! time in two). The cycle endpoint down → firing email → endpoint up → resolved email runs
//! `CYCLES` times with `for: 0s`, then again with the default rule's `for: 3s`.
//!
//! Ignored (a measurement, ~3.5 min): `cargo test --test alert_latency -- --ignored --nocapture`.
//! Needs `LOOKOUT_PYTHON` with aiosmtpd.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::health_endpoint::serve_health;
use support::smtp::SmtpSink;
use support::{Lookout, free_port, service};

/// Cycles per `for:` setting.
const CYCLES: usize = 30;
const PROBE: Duration = Duration::from_millis(200);
const EVALUATION: Duration = Duration::from_millis(100);
const GROUP_INTERVAL: Duration = Duration::from_millis(500);
/// Bound on one firing or resolved email.
const WAIT: Duration = Duration::from_secs(30);

/// What the webhook received: arrival time and body.
type Hooks = Arc<Mutex<Vec<(SystemTime, serde_json::Value)>>>;

async fn serve_hook() -> (u16, Hooks) {
    let hooks: Hooks = Arc::default();
    let seen = hooks.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .expect("hooks")
                    .push((SystemTime::now(), body.0));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, hooks)
}

fn config(p: &support::Ports, url: &str, smtp: &str, hook: u16, for_: &str) -> String {
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let alerting = format!(
        "  alerting:
    rate_limit: {{max_notifications_per_minute: 1000}}
    notifiers:
      email:
        email:
          endpoint: {smtp}
          tls: none
          from: lookout@example.com
          to: [oncall@example.com]
          timeout: 5s
      hook:
        webhook:
          endpoint: http://127.0.0.1:{hook}/hook
          format: json
          timeout: 5s
    route:
      notifiers: [email, hook]
      group_by: [alertname]
      group_wait: 0s
      group_interval: {}
      repeat_interval: 1h
",
        ms(GROUP_INTERVAL)
    );
    let pipelines = "    metrics:\n      receivers: [httpcheck]\n      processors: [alert_rules]\n      exporters: [debug]\n";
    let service = service(p, pipelines)
        .replacen("\nservice:\n", &format!("\n{alerting}service:\n"), 1)
        .replacen(
            "  extensions: [health_check]",
            "  extensions: [health_check, alerting]",
            1,
        );
    format!(
        "receivers:
  httpcheck:
    collection_interval: {probe}
    timeout: 1s
    targets:
      - endpoint: {url}
processors:
  alert_rules:
    alerting: alerting
    evaluation_interval: {evaluation}
    default_rules: false
    rules:
      - alert: HttpCheckFailing
        metric: httpcheck.error
        aggregate: {{op: max, by: [http.url]}}
        condition: \"> 0\"
        for: {for_}
        severity: critical
exporters:
  debug:
{service}",
        probe = ms(PROBE),
        evaluation = ms(EVALUATION),
    )
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// One cycle's figures, in seconds after the endpoint went down.
#[derive(Debug, Clone, Copy)]
struct Cycle {
    /// The rule's `starts_at` (first evaluation that saw the failure): probe + evaluation wait.
    starts: f64,
    /// The webhook's arrival.
    hook: f64,
    /// The email's arrival in aiosmtpd.
    email: f64,
}

fn subject(m: &serde_json::Value) -> &str {
    m["subject"].as_str().unwrap_or_default()
}

fn wait_email(smtp: &SmtpSink, after: usize, prefix: &str) -> serde_json::Value {
    let (m, _) = smtp.wait_for(prefix, WAIT, |m| {
        m["message_id"].is_string()
            && subject(m).starts_with(prefix)
            && smtp_index(smtp, m) >= after
    });
    m
}

/// The message's position among those received (messages are numbered in order of arrival).
fn smtp_index(smtp: &SmtpSink, m: &serde_json::Value) -> usize {
    smtp.received()
        .iter()
        .position(|x| x["message_id"] == m["message_id"])
        .unwrap_or(0)
}

async fn run(for_: &str) -> Vec<Cycle> {
    let smtp = SmtpSink::start();
    let (hook_port, hooks) = serve_hook().await;
    let check: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let url = format!("http://{check}/health");
    let mut endpoint = Some(serve_health(check).await);
    let lookout = Lookout::start(|p| config(p, &url, &smtp.endpoint(), hook_port, for_)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(smtp.received().is_empty(), "{:#?}", smtp.received());

    let mut cycles = Vec::new();
    for i in 0..CYCLES {
        // Go down at a point of the probe period that varies from cycle to cycle.
        tokio::time::sleep(Duration::from_millis(300 + (i as u64 * 37) % 200)).await;
        let before = smtp.received().len();
        let down = endpoint.take().expect("up").down().await;
        let email = tokio::task::block_in_place(|| wait_email(&smtp, before, "[FIRING"));
        let email_at = email["received_at"].as_f64().expect("received_at");
        let (hook_at, starts) = {
            let started = Instant::now();
            loop {
                let found = hooks.lock().expect("hooks").iter().find_map(|(at, body)| {
                    let alert = &body["alerts"][0];
                    let starts =
                        chrono::DateTime::parse_from_rfc3339(alert["starts_at"].as_str()?).ok()?;
                    let starts = starts.timestamp_millis() as f64 / 1000.0;
                    (body["status"] == "firing" && starts >= unix(down) - 0.001)
                        .then_some((unix(*at), starts))
                });
                if let Some(f) = found {
                    break f;
                }
                assert!(started.elapsed() < WAIT, "no firing webhook in cycle {i}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let cycle = Cycle {
            starts: starts - unix(down),
            hook: hook_at - unix(down),
            email: email_at - unix(down),
        };
        eprintln!("for {for_} cycle {i}: {cycle:?}");
        cycles.push(cycle);

        let before = smtp.received().len();
        endpoint = Some(serve_health(check).await);
        tokio::task::block_in_place(|| wait_email(&smtp, before, "[RESOLVED"));
    }
    let metrics = lookout.metrics().await;
    let failed = metrics.value(
        "lookout_alerting_notifications_failed_total",
        &[("notifier", "email")],
    );
    assert_eq!(failed, 0.0, "email notifications failed");
    lookout.stop_ok().await;
    cycles
}

/// Nearest-rank percentile of sorted `v`.
fn pct(v: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn summary(name: &str, mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "{name:<50} p50 {:>6.3}s  p99 {:>6.3}s  max {:>6.3}s  min {:>6.3}s",
        pct(&v, 50.0),
        pct(&v, 99.0),
        v[v.len() - 1],
        v[0]
    )
}

fn report(for_: &str, for_s: f64, cycles: &[Cycle]) {
    let col = |f: fn(&Cycle) -> f64| cycles.iter().map(f).collect::<Vec<_>>();
    eprintln!("\n== for: {for_}, {} cycles ==", cycles.len());
    eprintln!(
        "{}",
        summary("endpoint down → email in aiosmtpd", col(|c| c.email))
    );
    eprintln!(
        "{}",
        summary(
            "  of which beyond `for:`",
            col(|c| c.email).iter().map(|x| x - for_s).collect()
        )
    );
    eprintln!(
        "{}",
        summary(
            "  down → first failing evaluation (starts_at)",
            col(|c| c.starts)
        )
    );
    eprintln!(
        "{}",
        summary(
            "  starts_at + for → email (fire tick + delivery)",
            cycles.iter().map(|c| c.email - c.starts - for_s).collect()
        )
    );
    eprintln!(
        "{}",
        summary("endpoint down → webhook received", col(|c| c.hook))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (~3.5 min); run with --ignored --nocapture"]
async fn condition_to_email_latency() {
    let immediate = run("0s").await;
    let default = run("3s").await;
    report("0s", 0.0, &immediate);
    report("3s", 3.0, &default);
}
