//! The extension's config and the references to it.

use std::time::Duration;

use crate::component::Validate;
use crate::extensions::alerting::AlertingConfig;

// === config ===

#[test]
fn testdata_config_loads() {
    let text = include_str!("../testdata/config.yaml");
    crate::config::Config::parse("testdata/config.yaml", text).unwrap();
}

fn config(yaml: &str) -> Result<AlertingConfig, String> {
    let c: AlertingConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
    c.validate()?;
    Ok(c)
}

#[test]
fn config_errors_name_the_key() {
    let ok = "notifiers: {log: {console: {}}}\nroute: {notifiers: [log]}";
    let c = config(ok).unwrap();
    assert_eq!(c.resolve_timeout, Duration::from_secs(300));
    let cases = [
        (
            "notifiers: {log: {console: {}}}\nroute: {notifiers: [am]}",
            "route.notifiers: no notifier named \"am\" (defined: log)",
        ),
        (
            "notifiers: {log: {console: {}}}\nroute: {notifiers: [log], routes: [{notifiers: [x]}]}",
            "route.routes[0].notifiers: no notifier named \"x\"",
        ),
        (
            "notifiers: {log: {console: {}}}\nroute: {notifiers: [log], routes: [{matchers: ['a =~ \"[\"']}]}",
            "route.routes[0].matchers[0]",
        ),
        (
            "notifiers: {log: {pager: {}}}\nroute: {notifiers: [log]}",
            "unknown notifier type `pager`",
        ),
        (
            "notifiers: {log: {webhook: {endpoint: 'http://x', nope: 1}}}\nroute: {notifiers: [log]}",
            "webhook: unknown field `nope`",
        ),
        (
            "notifiers: {log: {webhook: {endpoint: 'ftp://x'}}}\nroute: {notifiers: [log]}",
            "notifiers.log.webhook: endpoint",
        ),
        (
            "notifiers: {log: {alertmanager: {endpoints: []}}}\nroute: {notifiers: [log]}",
            "notifiers.log.alertmanager: endpoints",
        ),
        (
            "notifiers: {log: {console: {}, webhook: {endpoint: 'http://x'}}}\nroute: {notifiers: [log]}",
            "exactly one key",
        ),
        (
            "notifiers: {log: {console: {queue_size: 0}}}\nroute: {notifiers: [log]}",
            "notifiers.log.console.queue_size",
        ),
        (
            "notifiers: {log: {console: {}}}\nroute: {}",
            "route.notifiers",
        ),
        (
            "notifiers: {log: {console: {}}}\nroute: {notifiers: [log], group_wait: soon}",
            "group_wait",
        ),
        (
            "notifiers: {log: {console: {}}}\nroute: {notifiers: [log]}\nrate_limit: {max_notifications_per_minute: 0}",
            "rate_limit",
        ),
    ];
    for (yaml, want) in cases {
        let err = config(yaml).unwrap_err();
        assert!(err.contains(want), "{yaml}\n=> {err}\nwanted {want}");
    }
    // Shared delivery settings are accepted inside every type.
    let c = config("notifiers: {am: {alertmanager: {endpoints: ['http://a:9093'], timeout: 2s, retry: {max_elapsed_time: 1m}, queue_size: 5}}}\nroute: {notifiers: [am]}").unwrap();
    assert_eq!(c.notifiers["am"].delivery.timeout, Duration::from_secs(2));
    assert_eq!(c.notifiers["am"].delivery.queue_size, 5);
}

#[test]
fn latency_anomaly_alerting_key_must_name_an_enabled_alerting_extension() {
    let whole = |processor_alerting: &str, enabled: &str| {
        format!(
            "extensions:\n  alerting/a:\n    notifiers: {{log: {{console: {{}}}}}}\n    route: {{notifiers: [log]}}\n  file_storage:\n    directory: /tmp\nreceivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:4317}}\nprocessors:\n  latency_anomaly:\n    alerting: {processor_alerting}\nexporters:\n  debug:\nservice:\n  extensions: [{enabled}]\n  pipelines:\n    traces: {{receivers: [otlp], processors: [latency_anomaly], exporters: [debug]}}\n"
        )
    };
    let parse =
        |text: String| crate::config::Config::parse("x.yaml", &text).map_err(|e| e.to_string());
    parse(whole("alerting/a", "alerting/a, file_storage")).unwrap();
    for (alerting, enabled, want) in [
        (
            "alerting/b",
            "alerting/a",
            "extension alerting/b is not defined",
        ),
        (
            "alerting/a",
            "file_storage",
            "not enabled in service.extensions",
        ),
        (
            "file_storage",
            "alerting/a, file_storage",
            "is a file_storage extension, not an alerting one",
        ),
    ] {
        let err = parse(whole(alerting, enabled)).unwrap_err();
        assert!(err.contains(want), "{alerting}: {err}");
    }
}
