//! Scheduled reports of a running lookout: a `reports:` entry of the `store` exporter with a
//! short interval writes report files (the oldest beyond `keep` deleted) and sends each
//! through the `alerting` extension's email notifier to a real SMTP server (aiosmtpd), with
//! the report attached.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use support::smtp::SmtpSink;
use support::{Lookout, encode, http_client, otlp_receiver};

fn config(p: &support::Ports, store: &Path, reports: &Path, smtp: &str) -> String {
    format!(
        "{receivers}exporters:
  store:
    directory: {store}
    reports:
      - name: quick
        interval: 2s
        since: 1h
        format: html
        path: {reports}/{{name}}-{{time}}.html
        keep: 2
        notifiers: [mail]
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
  alerting:
    notifiers:
      mail:
        email:
          endpoint: {smtp}
          tls: none
          from: lookout@example.com
          to: [ops@example.com]
    route:
      notifiers: [mail]
service:
  extensions: [health_check, alerting]
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [store]
",
        receivers = otlp_receiver(p, "", ""),
        store = store.display(),
        reports = reports.display(),
        health = p.health,
        metrics = p.metrics,
    )
}

fn html_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "html"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_writes_files_and_emails_the_report() {
    let smtp = SmtpSink::start();
    let data = tempfile::tempdir().unwrap();
    let (store, reports) = (data.path().join("store"), data.path().join("reports"));
    let lookout = Lookout::start(|p| config(p, &store, &reports, &smtp.endpoint())).await;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let span = Span {
        trace_id: vec![9; 16],
        span_id: vec![1; 8],
        name: "GET /inventory".into(),
        kind: 2,
        start_time_unix_nano: now - 5_000_000_000,
        end_time_unix_nano: now - 4_000_000_000,
        ..Default::default()
    };
    let body = encode(&ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("inventory".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let response = http_client()
        .post(lookout.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // A file with the span's service appears (runs every 2 s), and no more than `keep` stay.
    let started = Instant::now();
    let mut runs_seen = std::collections::BTreeSet::new();
    loop {
        let files = html_files(&reports);
        assert!(files.len() <= 2, "keep: 2, found {files:?}");
        runs_seen.extend(files.iter().cloned());
        let with_span = files.iter().any(|f| {
            std::fs::read_to_string(f)
                .is_ok_and(|t| t.contains("inventory") && t.contains("GET /inventory"))
        });
        if with_span && runs_seen.len() >= 4 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no report with the span in 30 s: {files:?}\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let name = runs_seen
        .iter()
        .next()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("quick-") && name.ends_with("Z.html"),
        "{name}"
    );

    // The email: its subject, its text, the report attached as an HTML file.
    let (mail, _) = smtp.wait_for("with the report", Duration::from_secs(30), |m| {
        m["attachments"][0]["content"]
            .as_str()
            .is_some_and(|r| r.contains("GET /inventory"))
    });
    let attachment = &mail["attachments"][0];
    assert_eq!(attachment["content_type"], "text/html");
    assert!(
        attachment["filename"]
            .as_str()
            .unwrap()
            .starts_with("lookout-report-quick-")
    );
    assert!(
        attachment["content"]
            .as_str()
            .unwrap()
            .starts_with("<!doctype html>")
    );
    assert!(
        mail["subject"]
            .as_str()
            .unwrap()
            .starts_with("Lookout report quick:"),
        "{mail}"
    );
    assert_eq!(mail["rcpt_tos"][0], "ops@example.com");
    assert!(
        mail["text"].as_str().unwrap().contains("attached"),
        "{mail}"
    );
    lookout.stop().await;
}
