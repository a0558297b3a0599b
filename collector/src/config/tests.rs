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

/// A traces pipeline through `latency_anomaly` whose body is `body` (indented by 4), plus a
/// receiverless logs/anomaly and metrics/red pipeline, and `extra` pipelines (indented by 4).
fn fed_config(body: &str, traces_processors: &str, extra: &str) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\nprocessors:\n  latency_anomaly:\n{body}exporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: {traces_processors}\n      exporters: [debug]\n    logs/anomaly:\n      exporters: [debug]\n    metrics/red:\n      exporters: [debug]\n{extra}"
    )
}

const FEEDS: &str = "    events:\n      pipelines: [logs/anomaly]\n    red_metrics:\n      pipelines: [metrics/red]\n";

#[test]
fn processor_fed_pipelines_need_no_receiver() {
    let config = Config::parse("f.yaml", &fed_config(FEEDS, "[latency_anomaly]", "")).unwrap();
    let Some(ProcessorConfig::LatencyAnomaly(c)) = config
        .processors
        .get(&ComponentId::parse("latency_anomaly").unwrap())
    else {
        panic!("latency_anomaly missing")
    };
    assert_eq!(
        c.events.pipelines,
        [ComponentId::parse("logs/anomaly").unwrap()]
    );
    assert_eq!(
        c.red_metrics.pipelines,
        [ComponentId::parse("metrics/red").unwrap()]
    );
    assert_eq!(config.pipelines().count(), 3);

    // The processor feeds them only if some pipeline runs it.
    let err = Config::parse("f.yaml", &fed_config(FEEDS, "[]", "")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("service.pipelines.logs/anomaly.receivers"),
        "{msg}"
    );
    assert!(msg.contains("needs at least one receiver"), "{msg}");
}

#[test]
fn processor_feeding_an_undefined_pipeline_is_named() {
    let body = "    events:\n      pipelines: [logs/anomaly]\n    red_metrics:\n      pipelines: [metrics/missing]\n";
    let err = Config::parse("u.yaml", &fed_config(body, "[latency_anomaly]", "")).unwrap_err();
    let msg = err.to_string();
    assert_eq!(
        err.key(),
        "processors.latency_anomaly.red_metrics.pipelines",
        "{msg}"
    );
    assert!(
        msg.contains("pipeline metrics/missing is not defined; defined pipelines: logs/anomaly, metrics/red, traces"),
        "{msg}"
    );
    assert_eq!(err.line(), Some(10), "{msg}");
}

#[test]
fn processor_feeding_a_pipeline_of_the_wrong_signal_is_named() {
    let body = "    events:\n      pipelines: [metrics/red]\n";
    let err = Config::parse("w.yaml", &fed_config(body, "[latency_anomaly]", "")).unwrap_err();
    let msg = err.to_string();
    assert_eq!(
        err.key(),
        "processors.latency_anomaly.events.pipelines",
        "{msg}"
    );
    assert!(
        msg.contains(
            "pipeline metrics/red is not a logs pipeline; events.pipelines takes logs pipelines"
        ),
        "{msg}"
    );
    assert_eq!(err.line(), Some(8), "{msg}");
    // A traces pipeline cannot take RED metrics either.
    let body = "    red_metrics:\n      pipelines: [traces]\n";
    let msg = Config::parse("w.yaml", &fed_config(body, "[latency_anomaly]", ""))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("pipeline traces is not a metrics pipeline"),
        "{msg}"
    );
}

#[test]
fn red_metrics_settings_are_checked() {
    for (body, expected) in [
        (
            "    red_metrics:\n      pipelines: [metrics/red]\n      max_serie: 5\n",
            "unknown field `max_serie`",
        ),
        (
            "    events:\n      pipeline: [logs/anomaly]\n",
            "unknown field `pipeline`",
        ),
        (
            "    red_metrics:\n      pipelines: [metrics/red]\n      histogram_buckets: [10ms, 5ms]\n",
            "must increase",
        ),
        (
            "    red_metrics:\n      pipelines: [metrics/red]\n      histogram_buckets: [10 parsecs]\n",
            "is not a duration",
        ),
        (
            "    red_metrics:\n      pipelines: [metrics/red]\n      max_series: 0\n",
            "max_series must be >= 1",
        ),
        (
            "    red_metrics:\n      pipelines: [metrics/red, metrics/red]\n",
            "metrics/red is listed twice",
        ),
    ] {
        let msg = Config::parse("r.yaml", &fed_config(body, "[latency_anomaly]", ""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(expected), "{body}: {msg}");
        assert!(msg.contains("processors.latency_anomaly"), "{body}: {msg}");
    }
}
