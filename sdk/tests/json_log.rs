//! JSON log lines carry the ids of the span that wrote them.

mod common;

use common::Sink;

#[test]
fn json_lines_carry_the_writing_span_ids() {
    let sink = Sink::grpc();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.log.json");
    let guard = lookout_sdk::builder()
        .service_name("json-svc")
        .endpoint(sink.endpoint())
        .json_log_file(&path)
        .stderr(false)
        .metrics(false)
        .env(|_| None)
        .build()
        .unwrap();

    tracing::dispatcher::with_default(guard.dispatch(), || {
        tracing::info!("before any span");
        let outer = tracing::info_span!("outer");
        outer.in_scope(|| {
            tracing::info!(step = 1, "in outer");
            tracing::info_span!("inner").in_scope(|| {
                tracing::warn!(step = 2, user = "ann", "in inner");
            });
            tracing::info!(step = 3, "back in outer");
        });
        tracing::debug!("filtered out by the default info level");
    });
    guard.shutdown_blocking().unwrap();

    let spans = sink.received.spans();
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap().clone();
    let (outer, inner) = (span("outer"), span("inner"));

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect();
    assert_eq!(lines.len(), 4, "{text}");

    let by_msg = |m: &str| lines.iter().find(|l| l["message"] == m).unwrap().clone();
    let none = by_msg("before any span");
    assert!(
        none.get("trace_id").is_none() && none.get("span_id").is_none(),
        "{none}"
    );

    for (msg, span) in [
        ("in outer", &outer),
        ("in inner", &inner),
        ("back in outer", &outer),
    ] {
        let line = by_msg(msg);
        assert_eq!(line["trace_id"], span.trace_id.as_str(), "{msg}");
        assert_eq!(line["span_id"], span.span_id.as_str(), "{msg}");
        assert_eq!(line["service.name"], "json-svc");
        assert_eq!(line["target"], "json_log");
    }
    let inner_line = by_msg("in inner");
    assert_eq!(inner_line["level"], "WARN");
    assert_eq!(inner_line["step"], 2);
    assert_eq!(inner_line["user"], "ann");
    assert!(inner_line["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn sampler_from_the_environment_is_applied() {
    let sink = Sink::grpc();
    let guard = lookout_sdk::builder()
        .endpoint(sink.endpoint())
        .stderr(false)
        .metrics(false)
        .env(|key| (key == "OTEL_TRACES_SAMPLER").then(|| "always_off".to_owned()))
        .build()
        .unwrap();
    tracing::dispatcher::with_default(guard.dispatch(), || {
        tracing::info_span!("dropped by the sampler").in_scope(|| tracing::info!("still logged"));
    });
    guard.shutdown_blocking().unwrap();
    assert!(
        sink.received.spans().is_empty(),
        "{:?}",
        sink.received.spans()
    );
    assert!(
        sink.received
            .log_records()
            .iter()
            .any(|(body, _)| body == "still logged")
    );
}
