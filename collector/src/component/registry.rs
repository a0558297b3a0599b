//! The registry: every component type this build has. Adding a component is one folder with
//! its config and factory, plus one line in the list of its kind here.

use super::factory::{DynConnector, DynExporter, DynExtension, DynProcessor, DynReceiver};
use crate::{connectors, exporters, extensions, processors, receivers};

/// Receiver types.
pub(crate) static RECEIVERS: &[&dyn DynReceiver] = &[
    &receivers::otlp::Factory,
    &receivers::hostmetrics::Factory,
    &receivers::httpcheck::Factory,
    &receivers::filelog::Factory,
    #[cfg(test)]
    &super::test_components::source::Factory,
];

/// Processor types.
pub(crate) static PROCESSORS: &[&dyn DynProcessor] = &[
    &processors::batch::Factory,
    &processors::latency_anomaly::Factory,
    &processors::memory_limiter::Factory,
    &processors::correlate::Factory,
    &processors::alert_rules::Factory,
    &processors::redaction::Factory,
    #[cfg(test)]
    &super::test_components::shared_counter::Factory,
];

/// Exporter types.
pub(crate) static EXPORTERS: &[&dyn DynExporter] = &[
    &exporters::otlp::Factory,
    &exporters::otlphttp::Factory,
    &exporters::file::Factory,
    &exporters::debug::Factory,
    &exporters::prometheus::Factory,
    &exporters::prometheusremotewrite::Factory,
    &exporters::loadbalancing::Factory,
    &exporters::store::Factory,
    #[cfg(test)]
    &super::test_components::memory_exporter::Factory,
];

/// Extension types.
pub(crate) static EXTENSIONS: &[&dyn DynExtension] = &[
    &extensions::health_check::Factory,
    &extensions::file_storage::Factory,
    &extensions::bearertokenauth::Factory,
    &extensions::basicauth::Factory,
    &extensions::alerting::Factory,
    #[cfg(test)]
    &super::test_components::alert_sink::Factory,
];

/// Connector types.
pub(crate) static CONNECTORS: &[&dyn DynConnector] = &[&connectors::latency_anomaly::Factory];

/// The registry as `lookout components` prints it: each type with its stability and signals
/// (for connectors, the signal pairs they join).
pub fn describe() -> String {
    use std::fmt::Write;

    use super::factory::Registered;

    fn line(out: &mut String, f: &dyn Registered, signals: String) {
        let about = f.about();
        let _ = writeln!(
            out,
            "  {:<20} {:<12} {signals}",
            about.type_name,
            about.stability.as_str()
        );
    }
    fn signals(f: &dyn Registered) -> String {
        let names: Vec<&str> = f.about().signals.iter().map(|s| s.as_str()).collect();
        names.join(", ")
    }
    let mut out = String::from("receivers:\n");
    for f in RECEIVERS {
        line(&mut out, *f, signals(*f));
    }
    out.push_str("processors:\n");
    for f in PROCESSORS {
        line(&mut out, *f, signals(*f));
    }
    out.push_str("exporters:\n");
    for f in EXPORTERS {
        line(&mut out, *f, signals(*f));
    }
    out.push_str("connectors:\n");
    for f in CONNECTORS {
        let routes: Vec<String> = f
            .routes()
            .iter()
            .map(|(a, b)| format!("{a} -> {b}"))
            .collect();
        line(&mut out, *f, routes.join(", "));
    }
    out.push_str("extensions:\n");
    for f in EXTENSIONS {
        line(&mut out, *f, String::new());
    }
    out
}
