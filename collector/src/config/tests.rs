use super::*;
use crate::processors::batch::BatchConfig;
use crate::receivers::otlp::OtlpReceiverConfig;

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
    // Every signal keeps history in the embedded store.
    let store = ComponentId::parse("store").unwrap();
    assert!(
        config
            .pipelines()
            .all(|(_, _, p)| p.exporters.contains(&store))
    );
}

#[test]
fn collector_style_file_parses() {
    let config = Config::parse("c.yaml", COLLECTOR_STYLE).unwrap();
    let id = ComponentId::parse("otlp/2").unwrap();
    let Some(otlp2) = config
        .receivers
        .get(&id)
        .and_then(|c| c.settings::<OtlpReceiverConfig>())
    else {
        panic!("otlp/2 must be an otlp receiver")
    };
    let http = otlp2.protocols.http.as_ref().unwrap();
    assert_eq!(http.endpoint, "127.0.0.1:14318", "env default applied");
    assert!(otlp2.protocols.grpc.is_none(), "absent protocol stays off");
    let Some(otlp) = config
        .receivers
        .get(&ComponentId::parse("otlp").unwrap())
        .and_then(|c| c.settings::<OtlpReceiverConfig>())
    else {
        panic!("otlp must be an otlp receiver")
    };
    assert_eq!(
        otlp.protocols.http.as_ref().unwrap().endpoint,
        "127.0.0.1:4318",
        "empty body means defaults"
    );
    let Some(big) = config
        .processors
        .get(&ComponentId::parse("batch/big").unwrap())
        .and_then(|c| c.settings::<BatchConfig>())
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

/// A traces pipeline through the `latency_anomaly` processor (body `body`, indented by 4)
/// exporting to the connector (settings `connector`, indented by 4), which feeds a
/// logs/anomaly and a metrics/red pipeline, plus `extra` pipelines (indented by 4).
fn fed_config(body: &str, connector: &str, traces_processors: &str, extra: &str) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\nprocessors:\n  latency_anomaly:\n{body}connectors:\n  latency_anomaly:\n{connector}exporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: {traces_processors}\n      exporters: [debug, latency_anomaly]\n    logs/anomaly:\n      receivers: [latency_anomaly]\n      exporters: [debug]\n    metrics/red:\n      receivers: [latency_anomaly]\n      exporters: [debug]\n{extra}"
    )
}

#[test]
fn connector_fed_pipelines_parse() {
    let config = Config::parse("f.yaml", &fed_config("", "", "[latency_anomaly]", "")).unwrap();
    let id = ComponentId::parse("latency_anomaly").unwrap();
    assert_eq!(
        config.connectors.get(&id).map(|c| c.about().type_name),
        Some("latency_anomaly")
    );
    assert_eq!(config.pipelines().count(), 3);
}

#[test]
fn the_connector_needs_its_processor() {
    let err = Config::parse("f.yaml", &fed_config("", "", "[]", "")).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.key(), "connectors.latency_anomaly", "{msg}");
    assert!(
        msg.contains("no pipeline runs a processor latency_anomaly"),
        "{msg}"
    );
    assert_eq!(err.line(), Some(8), "{msg}");
}

#[test]
fn processor_pipeline_keys_of_earlier_versions_say_what_to_write() {
    let body = "    events:\n      pipelines: [logs/anomaly]\n";
    let err = Config::parse("o.yaml", &fed_config(body, "", "[latency_anomaly]", "")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("o.yaml:6:"), "{msg}");
    assert!(msg.contains("processors.latency_anomaly"), "{msg}");
    assert!(msg.contains("connectors:\n    latency_anomaly:"), "{msg}");
    assert!(msg.contains("receivers: [latency_anomaly]"), "{msg}");
}

#[test]
fn a_connector_feeding_a_signal_it_cannot_is_named() {
    let extra = "    traces/2:\n      receivers: [latency_anomaly]\n      exporters: [debug]\n";
    let err = Config::parse("w.yaml", &fed_config("", "", "[latency_anomaly]", extra)).unwrap_err();
    let msg = err.to_string();
    assert_eq!(
        err.key(),
        "service.pipelines.traces/2.receivers[0]",
        "{msg}"
    );
    assert!(
        msg.contains("cannot feed a traces pipeline") && msg.contains("traces -> logs"),
        "{msg}"
    );
    assert_eq!(err.line(), Some(24), "{msg}");
}

#[test]
fn a_connector_used_on_one_side_only_is_named() {
    let text = fed_config("", "", "[latency_anomaly]", "")
        .replace("exporters: [debug, latency_anomaly]", "exporters: [debug]");
    let msg = Config::parse("o.yaml", &text).unwrap_err().to_string();
    assert!(msg.contains("the exporter of none"), "{msg}");
}

#[test]
fn red_metrics_settings_are_checked() {
    for (connector, expected) in [
        (
            "    red_metrics:\n      max_serie: 5\n",
            "unknown field `max_serie`",
        ),
        (
            "    red_metrics:\n      histogram_buckets: [10ms, 5ms]\n",
            "must increase",
        ),
        (
            "    red_metrics:\n      histogram_buckets: [10 parsecs]\n",
            "is not a duration",
        ),
        (
            "    red_metrics:\n      max_series: 0\n",
            "max_series must be >= 1",
        ),
    ] {
        let msg = Config::parse(
            "r.yaml",
            &fed_config("", connector, "[latency_anomaly]", ""),
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains(expected), "{connector}: {msg}");
        assert!(
            msg.contains("connectors.latency_anomaly"),
            "{connector}: {msg}"
        );
    }
}

#[test]
fn pipeline_errors_point_at_the_exact_item() {
    // `otlp` is also a substring of `otlphttp` on an earlier line: the error must point at
    // the list item, not the first or last mention.
    let text = "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  otlphttp:\n    endpoint: http://x:4318\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters:\n        - otlphttp\n        - otlp\n    logs:\n      receivers: [otlp]\n      exporters: [otlphttp]\n";
    let err = Config::parse("p.yaml", text).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("p.yaml:14:11:"), "{msg}");
    assert_eq!(err.key(), "service.pipelines.traces.exporters[1]", "{msg}");
    assert!(
        msg.contains("exporter otlp is not defined; defined exporters: otlphttp"),
        "{msg}"
    );
}

#[test]
fn a_persistent_sending_queue_names_an_enabled_file_storage_extension() {
    let text = |extensions: &str| {
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  otlp:\n    endpoint: x:4317\n    sending_queue:\n      storage: file_storage/q\n      fsync: interval\n      fsync_interval: 200ms\n      max_size: 64MiB\n\
             extensions:\n  file_storage/q:\n    directory: /tmp\n  health_check:\nservice:\n  extensions: {extensions}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n"
        )
    };
    assert!(Config::parse("q.yaml", &text("[file_storage/q]")).is_ok());
    let msg = Config::parse("q.yaml", &text("[health_check]"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("extension file_storage/q is not enabled in service.extensions"),
        "{msg}"
    );
    let msg = Config::parse(
        "q.yaml",
        &text("[file_storage/q, health_check]")
            .replace("storage: file_storage/q", "storage: health_check"),
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("not a file_storage one"), "{msg}");
}

#[test]
fn start_time_checks_run_at_load() {
    for (receivers, expected) in [
        ("  otlp:\n", "no protocols enabled"),
        (
            "  otlp:\n    protocols:\n      grpc:\n        endpoint: localhost\n",
            "must be host:port",
        ),
        (
            "  filelog:\n",
            "include must list at least one glob pattern",
        ),
        (
            "  filelog:\n    include: [a.log]\n    encoding: ebcdic\n",
            "ebcdic",
        ),
        (
            "  filelog:\n    include: [a.log]\n    storage: file_storage\n",
            "extension file_storage is not defined",
        ),
        ("  hostmetrics:\n", "no scrapers configured"),
        ("  httpcheck:\n", "no targets configured"),
    ] {
        let id = receivers.trim().split(':').next().unwrap_or_default();
        let text = format!(
            "receivers:\n{receivers}exporters:\n  debug:\nservice:\n  pipelines:\n    logs:\n      receivers: [{id}]\n      exporters: [debug]\n"
        );
        let text = if id == "filelog" {
            text
        } else {
            text.replace("logs:", "metrics:")
        };
        let msg = Config::parse("s.yaml", &text).unwrap_err().to_string();
        assert!(msg.contains(expected), "{receivers}: {msg}");
        assert!(
            msg.contains(&format!("receivers.{id}")),
            "{receivers}: {msg}"
        );
    }
    for (exporters, expected) in [
        ("  otlp:\n", "endpoint is required"),
        (
            "  otlp:\n    endpoint: grpc://x:4317\n",
            "expected host:port",
        ),
        ("  otlphttp:\n", "endpoint is required"),
        (
            "  otlphttp:\n    endpoint: http://x:4318\n    tls:\n      ca_file: /nonexistent/ca.pem\n",
            "ca.pem",
        ),
        ("  file:\n", "path is required"),
        (
            "  otlp:\n    endpoint: x:4317\n    sending_queue:\n      storage: file_storage/q\n",
            "sending_queue.storage: extension file_storage/q is not defined",
        ),
        (
            "  otlp:\n    endpoint: x:4317\n    sending_queue:\n      max_size: 1GiB\n",
            "sending_queue.max_size bounds a queue on disk: it needs storage",
        ),
        (
            "  otlphttp:\n    endpoint: http://x:4318\n    sending_queue:\n      storage: file_storage/q\n      fsync: always\n",
            "always",
        ),
    ] {
        let id = exporters.trim().split(':').next().unwrap_or_default();
        let text = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n{exporters}service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [{id}]\n"
        );
        let msg = Config::parse("e.yaml", &text).unwrap_err().to_string();
        assert!(msg.contains(expected), "{exporters}: {msg}");
        assert!(
            msg.contains(&format!("exporters.{id}")),
            "{exporters}: {msg}"
        );
    }
}

#[test]
fn an_admin_listener_off_loopback_needs_auth_or_the_opt_out() {
    let parse = |metrics: &str, extensions: &str| {
        let text = format!(
            "extensions:\n  bearertokenauth/admin: {{token: t}}\nreceivers:\n  otlp:\n    protocols:\n      http:\nexporters:\n  debug:\nservice:\n  extensions: [{extensions}]\n  telemetry:\n    metrics:\n{metrics}  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [debug]\n"
        );
        Config::parse("test.yaml", &text).map_err(|e| e.to_string())
    };
    let bearer = "bearertokenauth/admin";
    let err = parse("      address: 0.0.0.0:8888\n", bearer).unwrap_err();
    assert!(
        err.contains("service.telemetry.metrics.address") && err.contains("needs authentication"),
        "{err}"
    );
    let err = parse("      address: 10.1.2.3:8888\n", bearer).unwrap_err();
    assert!(err.contains("needs authentication"), "{err}");
    // Loopback (either family), the opt-out, an authenticator, or no listener at all: fine.
    parse("      address: 127.0.0.1:8888\n", bearer).unwrap();
    parse("      address: '[::1]:8888'\n", bearer).unwrap();
    parse(
        "      address: 0.0.0.0:8888\n      insecure_no_auth: true\n",
        bearer,
    )
    .unwrap();
    parse("      address: 0.0.0.0:8888\n      level: none\n", bearer).unwrap();
    let with_auth =
        "      address: 0.0.0.0:8888\n      auth: {authenticator: bearertokenauth/admin}\n";
    let config = parse(with_auth, bearer).unwrap();
    assert_eq!(
        config
            .service
            .telemetry
            .metrics
            .auth
            .map(|a| a.authenticator.to_string()),
        Some("bearertokenauth/admin".to_string())
    );
    // The authenticator must be enabled.
    let err = parse(with_auth, "").unwrap_err();
    assert!(
        err.contains("service.telemetry.metrics.auth") && err.contains("not enabled"),
        "{err}"
    );
}
