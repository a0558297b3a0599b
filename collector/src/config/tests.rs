use super::*;

const COLLECTOR_STYLE: &str = r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:14317
      http:
  otlp/2:
    protocols:
      http:
        endpoint: ${env:LOOKOUT_TEST_UNSET_ENDPOINT:-127.0.0.1:14318}
processors:
  batch:
  batch/big:
    send_batch_size: 10000
    timeout: 1s
exporters:
  otlp/tempo:
    endpoint: tempo:4317
    tls:
      insecure: true
    headers:
      x-scope-orgid: acme
  otlphttp/jaeger:
    endpoint: http://jaeger:4318
  debug:
extensions:
  health_check:
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:18888
  pipelines:
    traces:
      receivers: [otlp, otlp/2]
      processors: [batch]
      exporters: [otlp/tempo, otlphttp/jaeger]
    traces/debug:
      receivers: [otlp]
      processors: [batch/big]
      exporters: [debug]
"#;

#[test]
fn default_config_is_valid() {
    let config = Config::default_config().unwrap();
    let signals: Vec<Signal> = config.pipelines().map(|(_, s, _)| s).collect();
    assert!(signals.contains(&Signal::Traces));
    assert!(signals.contains(&Signal::Metrics));
    assert!(signals.contains(&Signal::Logs));
}

#[test]
fn collector_style_file_parses() {
    let config = Config::parse("c.yaml", COLLECTOR_STYLE).unwrap();
    let id = ComponentId::parse("otlp/2").unwrap();
    let Some(ReceiverConfig::Otlp(otlp2)) = config.receivers.get(&id) else {
        panic!("otlp/2 must be an otlp receiver")
    };
    let http = otlp2.protocols.http.as_ref().unwrap();
    assert_eq!(http.endpoint, "127.0.0.1:14318", "env default applied");
    assert!(otlp2.protocols.grpc.is_none(), "absent protocol stays off");
    let Some(ReceiverConfig::Otlp(otlp)) =
        config.receivers.get(&ComponentId::parse("otlp").unwrap())
    else {
        panic!("otlp must be an otlp receiver")
    };
    assert_eq!(
        otlp.protocols.http.as_ref().unwrap().endpoint,
        "127.0.0.1:4318",
        "empty body means defaults"
    );
    let Some(ProcessorConfig::Batch(big)) = config
        .processors
        .get(&ComponentId::parse("batch/big").unwrap())
    else {
        panic!("batch/big missing");
    };
    assert_eq!(big.send_batch_size, 10000);
    assert_eq!(big.timeout, std::time::Duration::from_secs(1));
    assert_eq!(config.pipelines().count(), 2);
}

#[test]
fn unknown_key_names_file_line_key_and_expected() {
    let text = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpont: 1.2.3.4:5\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n";
    let err = Config::parse("bad.yaml", text).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("bad.yaml:5:"), "{msg}");
    assert_eq!(err.line(), Some(5));
    assert!(msg.contains("receivers.otlp.protocols.grpc"), "{msg}");
    assert!(msg.contains("unknown field `endpont`"), "{msg}");
    assert!(msg.contains("endpoint"), "lists expected keys: {msg}");
}

#[test]
fn unknown_component_type_lists_supported_ones() {
    let text = "receivers:\n  kafka:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [kafka]\n      exporters: [debug]\n";
    let msg = Config::parse("k.yaml", text).unwrap_err().to_string();
    assert!(msg.contains("unknown receiver type \"kafka\""), "{msg}");
    assert!(msg.contains("supported receivers: otlp"), "{msg}");
    assert!(msg.starts_with("k.yaml:2"), "{msg}");
}

#[test]
fn undefined_component_in_pipeline_is_named() {
    let text = "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp/missing]\n";
    let err = Config::parse("m.yaml", text).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("service.pipelines.traces.exporters"), "{msg}");
    assert!(
        msg.contains("exporter otlp/missing is not defined; defined exporters: debug"),
        "{msg}"
    );
    assert_eq!(err.line(), Some(11));
}

#[test]
fn bad_pipeline_type_and_wrong_values() {
    let text = "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  debug:\nservice:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n      exporters: [debug]\n";
    let msg = Config::parse("p.yaml", text).unwrap_err().to_string();
    assert!(msg.contains("unknown pipeline type \"profiles\""), "{msg}");

    let text = "receivers:\n  otlp:\n    protocols:\n      grpc:\nprocessors:\n  batch:\n    timeout: soon\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n";
    let err = Config::parse("t.yaml", text).unwrap_err();
    assert!(
        err.to_string().contains("processors.batch.timeout"),
        "{err}"
    );
    assert_eq!(err.line(), Some(7));
}

#[test]
fn batch_max_below_size_is_rejected() {
    let text = "receivers:\n  otlp:\n    protocols:\n      grpc:\nprocessors:\n  batch:\n    send_batch_size: 100\n    send_batch_max_size: 10\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [debug]\n";
    let msg = Config::parse("b.yaml", text).unwrap_err().to_string();
    assert!(
        msg.contains("send_batch_max_size (10) must be 0 or at least send_batch_size (100)"),
        "{msg}"
    );
}
