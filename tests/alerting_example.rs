//! `examples/configs/alerting.yaml`, run as it is with only environment variables set, against
//! real peers: an HTTP endpoint the test controls as `CHECK_URL`, aiosmtpd as the SMTP server,
//! and Debian's Alertmanager. The endpoint stops answering: within 30 s `HttpCheckFailing`
//! arrives by email (subject, recipients, the URL as evidence) and is active in Alertmanager
//! with its labels; Alertmanager's own email route delivers it into the same SMTP server (the
//! ecosystem path). The endpoint answers again: the alert resolves in Alertmanager and a
//! resolved email follows.
//!
//! Needs `prometheus-alertmanager` on the PATH and `LOOKOUT_PYTHON` with aiosmtpd (`.ci/run`
//! installs both). Without Alertmanager the test fails when `CI` is set and is skipped, with a
//! notice, otherwise.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::alertmanager::{self, Alertmanager};
use support::health_endpoint::serve_health;
use support::smtp::SmtpSink;
use support::{Lookout, free_port, workspace_root};

/// What the issue asks: a failing check is in both places within 30 s.
const FIRE_LIMIT: Duration = Duration::from_secs(30);
/// Resolution waits for the series to go stale, then a group interval.
const RESOLVE_LIMIT: Duration = Duration::from_secs(60);
const FROM: &str = "lookout@example.com";
const TO: &str = "oncall@example.com";
const AM_FROM: &str = "alertmanager@example.com";

fn alertmanager_config(smtp: &str) -> String {
    format!(
        "route:\n  receiver: email\n  group_wait: 1s\n  group_interval: 5s\nreceivers:\n  - name: email\n    email_configs:\n      - to: {TO}\n        from: {AM_FROM}\n        smarthost: {smtp}\n        require_tls: false\n        send_resolved: true\n"
    )
}

fn subject(m: &serde_json::Value) -> &str {
    m["subject"].as_str().unwrap_or_default()
}

fn from_lookout(m: &serde_json::Value) -> bool {
    m["mail_from"].as_str() == Some(FROM)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_check_reaches_email_and_alertmanager_and_resolves() {
    if !alertmanager::available() {
        return;
    }
    let smtp = SmtpSink::start();
    let am = Alertmanager::start(&alertmanager_config(&smtp.endpoint())).await;
    let check_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let check_url = format!("http://{check_addr}/health");
    let endpoint = serve_health(check_addr).await;

    let example = std::fs::read_to_string(workspace_root().join("examples/configs/alerting.yaml"))
        .expect("read the example");
    let prom_port = free_port();
    let env = |p: &support::Ports| -> Vec<(String, String)> {
        [
            ("OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{}", p.grpc)),
            ("OTLP_HTTP_ENDPOINT", format!("127.0.0.1:{}", p.http)),
            ("ADMIN_ENDPOINT", format!("127.0.0.1:{}", p.metrics)),
            ("HEALTH_ENDPOINT", format!("127.0.0.1:{}", p.health)),
            ("PROM_ENDPOINT", format!("127.0.0.1:{prom_port}")),
            ("CHECK_URL", check_url.clone()),
            ("SMTP_ENDPOINT", smtp.endpoint()),
            ("SMTP_TLS", "none".to_string()),
            ("ALERT_FROM", FROM.to_string()),
            ("ALERT_TO", TO.to_string()),
            ("ALERTMANAGER_URL", format!("http://127.0.0.1:{}", am.port)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };
    let lookout = Lookout::start_with_env(|_| example.clone(), env).await;

    // A few healthy checks: nothing fires.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        smtp.received()
            .iter()
            .all(|m| !subject(m).contains("HttpCheck")),
        "an HttpCheck alert while the endpoint answers: {:#?}",
        smtp.received()
    );

    // The endpoint goes down.
    let down_at = Instant::now();
    let _ = endpoint.down().await;
    let (email, seen) = tokio::task::block_in_place(|| {
        smtp.wait_for("firing HttpCheckFailing from lookout", FIRE_LIMIT, |m| {
            from_lookout(m)
                && subject(m).starts_with("[FIRING")
                && subject(m).contains("HttpCheckFailing")
        })
    });
    eprintln!(
        "endpoint down → lookout's email in the SMTP server: {:?}",
        seen - down_at
    );
    assert_eq!(email["rcpt_tos"], serde_json::json!([TO]), "{email:#}");
    let text = email["text"].as_str().unwrap_or_default();
    assert!(text.contains(&check_url), "the URL is in the body:\n{text}");
    assert!(
        email["html"]
            .as_str()
            .is_some_and(|h| h.contains("HttpCheckFailing")),
        "{email:#}"
    );

    let fired = am
        .wait_for("HttpCheckFailing active in Alertmanager", |alerts| {
            alerts.iter().any(|a| {
                a["labels"]["alertname"] == "HttpCheckFailing"
                    && a["labels"]["http_url"] == check_url.as_str()
            })
        })
        .await;
    let alert = fired
        .iter()
        .find(|a| a["labels"]["alertname"] == "HttpCheckFailing")
        .expect("the alert");
    assert_eq!(alert["labels"]["severity"], "critical", "{alert:#}");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains(&check_url)),
        "{alert:#}"
    );
    assert!(
        down_at.elapsed() < FIRE_LIMIT,
        "in Alertmanager only after {:?}",
        down_at.elapsed()
    );

    // Alertmanager's own email route delivers Lookout's alert into the same server.
    tokio::task::block_in_place(|| {
        smtp.wait_for("from Alertmanager's email route", FIRE_LIMIT, |m| {
            m["mail_from"].as_str() == Some(AM_FROM) && subject(m).contains("HttpCheckFailing")
        })
    });

    // The endpoint answers again: resolved in Alertmanager, then a resolved email.
    let _endpoint = serve_health(check_addr).await;
    am.wait_for("HttpCheckFailing no longer active", |alerts| {
        !alerts
            .iter()
            .any(|a| a["labels"]["alertname"] == "HttpCheckFailing")
    })
    .await;
    tokio::task::block_in_place(|| {
        smtp.wait_for(
            "resolved HttpCheckFailing from lookout",
            RESOLVE_LIMIT,
            |m| {
                from_lookout(m)
                    && subject(m).starts_with("[RESOLVED")
                    && subject(m).contains("HttpCheckFailing")
            },
        )
    });

    let metrics = lookout.metrics().await;
    for notifier in ["email", "alertmanager"] {
        let sent = metrics.value(
            "lookout_alerting_notifications_sent_total",
            &[("notifier", notifier)],
        );
        assert!(sent >= 2.0, "{notifier}: {sent} notifications sent");
    }
    assert!(
        !lookout.logs().contains("panicked"),
        "lookout log:\n{}",
        lookout.logs()
    );
}
