//! Whole process: the `redaction` processor masks a card number, an email and bearer tokens
//! that the OpenTelemetry Python SDK sends over OTLP/gRPC in span attributes, log attributes,
//! resource attributes and a log body, and leaves every other attribute as it was. What the
//! `file` exporters wrote (length-prefixed protobuf) is the evidence.
//!
//! Needs `LOOKOUT_PYTHON` (set by `.ci/run`); fails without it.

mod support;

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{KeyValue, any_value::Value};
use prost::Message;
use support::{Lookout, otlp_receiver, python, python_dir, service};

/// The requests of a `format: proto` file (each prefixed by its big-endian length).
fn read_requests<M: Message + Default>(path: &std::path::Path) -> Vec<M> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let (msg, tail) = tail.split_at(len);
        out.push(M::decode(msg).expect("a request"));
        rest = tail;
    }
    out
}

fn value(attrs: &[KeyValue], key: &str) -> Option<Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.clone())
}

fn text(attrs: &[KeyValue], key: &str) -> String {
    match value(attrs, key) {
        Some(Value::StringValue(s)) => s,
        other => panic!("{key}: {other:?}"),
    }
}

/// The masked and untouched attributes the Python script sent, as they must arrive.
fn assert_redacted(attrs: &[KeyValue], what: &str) {
    let want = [
        ("payment.card", "****"),
        ("user.email", "****"),
        ("http.request.header.authorization", "****"),
        ("note", "retry with bearer **** please"),
        ("http.route", "/checkout/pay"),
        // 16 digits that fail the Luhn check: not a card.
        ("order.id", "1234567812345678"),
    ];
    for (key, expected) in want {
        assert_eq!(text(attrs, key), expected, "{what} attribute {key}");
    }
    assert_eq!(value(attrs, "retries"), Some(Value::IntValue(3)), "{what}");
    assert_eq!(
        value(attrs, "redaction.masked.count"),
        Some(Value::IntValue(4)),
        "{what}"
    );
}

#[tokio::test]
async fn secrets_from_the_python_sdk_are_masked() {
    let interpreter = python(false);
    let dir = tempfile::tempdir().expect("tempdir");
    let traces_file = dir.path().join("traces.pb");
    let logs_file = dir.path().join("logs.pb");
    let (t, l) = (traces_file.display(), logs_file.display());
    let lookout = Lookout::start(|p| {
        format!(
            "{}processors:\n  redaction:\n    allow_all_keys: true\n    builtin_patterns: [credit_card, email, bearer_token]\n    summary: info\n\
             exporters:\n  file/traces:\n    path: {t}\n    format: proto\n  file/logs:\n    path: {l}\n    format: proto\n{}",
            otlp_receiver(p, "", ""),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      processors: [redaction]\n      exporters: [file/traces]\n\
                 \x20   logs:\n      receivers: [otlp]\n      processors: [redaction]\n      exporters: [file/logs]\n"
            )
        )
    })
    .await;

    let output = tokio::process::Command::new(&interpreter)
        .arg(python_dir().join("redaction_send.py"))
        .args(["--endpoint", &format!("127.0.0.1:{}", lookout.ports.grpc)])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run redaction_send.py");
    assert!(
        output.status.success(),
        "redaction_send.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = lookout.stop_ok().await;

    let traces: Vec<ExportTraceServiceRequest> = read_requests(&traces_file);
    let spans: Vec<_> = traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| {
            rs.scope_spans
                .iter()
                .flat_map(|ss| &ss.spans)
                .map(move |s| (rs, s))
        })
        .collect();
    assert_eq!(spans.len(), 1, "{log}");
    let (rs, span) = spans[0];
    assert_redacted(&span.attributes, "span");
    let resource = &rs.resource.as_ref().expect("resource").attributes;
    assert_eq!(text(resource, "owner.email"), "****");
    assert_eq!(text(resource, "service.name"), "shop");

    let logs: Vec<ExportLogsServiceRequest> = read_requests(&logs_file);
    let records: Vec<_> = logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .collect();
    assert_eq!(records.len(), 1, "{log}");
    let record = records[0];
    assert_redacted(&record.attributes, "log record");
    let body = record.body.as_ref().and_then(|b| b.value.clone());
    assert_eq!(
        body,
        Some(Value::StringValue(
            "charged **** for **** (Authorization: Bearer ****)".into()
        ))
    );
    assert_eq!(
        value(&record.attributes, "redaction.body.masked.count"),
        Some(Value::IntValue(1))
    );
    for raw in [std::fs::read(&traces_file), std::fs::read(&logs_file)] {
        let raw = raw.expect("read an output file");
        for secret in ["4111", "ann.lee@", "eyJhbGci", "abc123XYZ", "tok.en-42"] {
            assert!(
                !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} left in the output"
            );
        }
    }
}
