//! The `store` exporter type.

use std::sync::Arc;

use super::metrics::StoreMetrics;
use super::{Store, StoreConfig, StoreExporter};
use crate::Error;
use crate::component::{
    About, BuiltExporter, ExporterFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::config::shared::{NumConsumers, QueueConfig, RetryConfig};
use crate::core::alert_history::{ALERT_HISTORY_KEY, AlertHistory, AlertHistorySink};
use crate::core::{ComponentId, Signal};

/// Builds `store` exporters.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = StoreConfig;
    const ABOUT: About = About {
        type_name: "store",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Development,
    };
}

impl ExporterFactory for Factory {
    // The data directory (its write-ahead log) has one writer.
    const EXCLUSIVE: bool = true;

    fn build(
        &self,
        config: &StoreConfig,
        id: &ComponentId,
        host: &Host,
    ) -> Result<BuiltExporter, Error> {
        let metrics = StoreMetrics::new(host.telemetry(), &id.to_string());
        let dropped_alerts = metrics.dropped_alerts.clone();
        let store = Arc::new(
            Store::open(config, metrics)
                .map_err(|err| Error::component(format!("exporters.{id}"), err.to_string()))?,
        );
        tracing::info!(exporter = %id, directory = %store.dir().display(), "store opened");
        let stop = host.shutdown().child_token();
        super::spawn_flusher(Arc::clone(&store), config.flush_interval, stop.clone());
        super::api::register(&store, id, host)
            .map_err(|m| Error::component(format!("exporters.{id}"), m))?;
        let history: Arc<dyn AlertHistorySink> =
            super::history::spawn(Arc::clone(&store), dropped_alerts, stop.clone());
        host.shared(ALERT_HISTORY_KEY, || Ok(AlertHistory::default()))?
            .register(&history);
        Ok(BuiltExporter {
            export: Arc::new(StoreExporter {
                store,
                _flusher: stop.drop_guard(),
                _history: history,
            }),
            // One writer, in order; the write-ahead log append is the work.
            queue: QueueConfig {
                num_consumers: NumConsumers::Fixed(1),
                ..QueueConfig::default()
            },
            retry: RetryConfig::default(),
        })
    }
}
