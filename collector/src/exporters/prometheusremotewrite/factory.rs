//! The `prometheusremotewrite` exporter type.

use std::sync::Arc;

use super::PrometheusRemoteWriteConfig;
use super::exporter::{DroppedCounters, PrometheusRemoteWriteExporter};
use crate::Error;
use crate::component::{
    About, BuiltExporter, ExporterFactory, Factory as FactoryTrait, Host, Refs, Stability,
};
use crate::core::{ComponentId, Signal};

/// Builds `prometheusremotewrite` exporters.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = PrometheusRemoteWriteConfig;
    const ABOUT: About = About {
        type_name: "prometheusremotewrite",
        aliases: &[],
        signals: &[Signal::Metrics],
        stability: Stability::Alpha,
    };

    fn check_refs(config: &Self::Config, _id: &ComponentId, refs: &Refs<'_>) -> Result<(), String> {
        config.sending_queue.check_refs(refs)
    }
}

impl ExporterFactory for Factory {
    fn build(
        &self,
        config: &PrometheusRemoteWriteConfig,
        id: &ComponentId,
        host: &Host,
    ) -> Result<BuiltExporter, Error> {
        let telemetry = host.telemetry();
        let counter = |reason: &str| {
            telemetry.counter(
                "exporter_prometheusremotewrite_dropped_points",
                "Points the prometheusremotewrite exporter did not send: delta sums and histograms (reason=delta), exponential histograms and points without a temporality (unsupported), points with a label the series uses itself (reserved_label).",
                vec![("exporter", id.to_string()), ("reason", reason.to_string())],
            )
        };
        let dropped = DroppedCounters {
            delta: counter("delta"),
            unsupported: counter("unsupported"),
            reserved_label: counter("reserved_label"),
        };
        let export = PrometheusRemoteWriteExporter::new(id.to_string(), config, dropped)
            .map_err(|m| Error::component(format!("exporters.{id}"), m))?;
        Ok(BuiltExporter {
            export: Arc::new(export),
            queue: config.sending_queue.clone(),
            retry: config.retry_on_failure.clone(),
        })
    }
}
