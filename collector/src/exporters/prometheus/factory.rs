//! The `prometheus` exporter type.

use std::sync::{Arc, Mutex};

use super::store::Store;
use super::{PrometheusExporter, PrometheusExporterConfig, Shared};
use crate::Error;
use crate::component::{
    About, BuiltExporter, ExporterFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::config::shared::{QueueConfig, RetryConfig};
use crate::core::{ComponentId, Signal};
use crate::net::{self, ServeOptions};

/// Builds `prometheus` exporters.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = PrometheusExporterConfig;
    const ABOUT: About = About {
        type_name: "prometheus",
        aliases: &[],
        signals: &[Signal::Metrics],
        stability: Stability::Alpha,
    };
}

impl ExporterFactory for Factory {
    // Its own listener is bound when the exporter is built.
    const EXCLUSIVE: bool = true;

    /// Binds the endpoint now (a port in use fails the start, as for receivers) and serves it
    /// until the collector stops or the exporter is dropped.
    fn build(
        &self,
        config: &PrometheusExporterConfig,
        id: &ComponentId,
        host: &Host,
    ) -> Result<BuiltExporter, Error> {
        let what = format!("exporters.{id}");
        let listener = std::net::TcpListener::bind(&config.endpoint)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|err| Error::bind(&what, &config.endpoint, err))?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::component(&what, "built outside the runtime"));
        }
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|err| Error::bind(&what, &config.endpoint, err))?;
        let labels = vec![("exporter", id.to_string())];
        let telemetry = host.telemetry();
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(config.max_series)),
            expiration: config.metric_expiration,
            open_metrics: config.enable_open_metrics,
            series: telemetry.gauge(
                "exporter_prometheus_series",
                "Series the prometheus exporter serves (a histogram or summary counts once).",
                labels.clone(),
            ),
        });
        let dropped = telemetry.counter(
            "exporter_prometheus_dropped_points",
            "Points the prometheus exporter could not serve: exponential histograms, non-monotonic delta sums, points without a temporality, a name already used by another metric type, or a label the format reserves (__name__, le, quantile).",
            labels.clone(),
        );
        let dropped_series = telemetry.counter(
            "exporter_prometheus_dropped_series",
            "Points of new series the prometheus exporter refused because it held max_series series.",
            labels,
        );
        let served = shared.clone();
        let serving = host.shutdown().child_token();
        net::serve(
            listener,
            move |req| super::answer(req, served.clone()),
            serving.clone(),
            ServeOptions::default(),
        );
        tracing::info!(exporter = %id, endpoint = %config.endpoint, "serving /metrics for Prometheus");
        Ok(BuiltExporter {
            export: Arc::new(PrometheusExporter {
                shared,
                naming: config.naming(),
                dropped,
                dropped_series,
                max_series: config.max_series,
                warned: Mutex::new(None),
                _serving: serving.drop_guard(),
            }),
            // Updating a map in memory: one batch at a time keeps points in order.
            queue: QueueConfig {
                num_consumers: crate::config::shared::NumConsumers::Fixed(1),
                ..QueueConfig::default()
            },
            retry: RetryConfig {
                enabled: false,
                ..RetryConfig::default()
            },
        })
    }
}
