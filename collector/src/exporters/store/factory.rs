//! The `store` exporter type.

use std::sync::Arc;

use super::metrics::StoreMetrics;
use super::{Store, StoreConfig, StoreExporter};
use crate::Error;
use crate::component::{
    About, BuiltExporter, ExporterFactory, Factory as FactoryTrait, Host, Refs, Stability,
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

    fn check_refs(config: &StoreConfig, _id: &ComponentId, refs: &Refs<'_>) -> Result<(), String> {
        crate::reports::config::check_refs(&config.reports, refs)
    }
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
        // Scheduled reports: their notifiers resolved first, so that a bad name fails the
        // build (and a reload) instead of every run.
        let mut schedules = Vec::new();
        for schedule in &config.reports {
            let sink = if schedule.notifiers.is_empty() {
                None
            } else {
                let ext = crate::core::ComponentId::parse(&schedule.alerting).map_err(|e| {
                    Error::component(
                        format!("exporters.{id}"),
                        format!("reports.{}.alerting: {e}", schedule.name),
                    )
                })?;
                Some(
                    crate::extensions::alerting::sink(host, &ext)
                        .map_err(|m| Error::component(format!("exporters.{id}"), m))?,
                )
            };
            let notifiers = crate::reports::schedule::notifiers(schedule, sink.as_ref())
                .map_err(|m| Error::component(format!("exporters.{id}"), m))?;
            schedules.push((schedule.clone(), notifiers));
        }
        super::spawn_flusher(Arc::clone(&store), config.flush_interval, stop.clone());
        for (schedule, notifiers) in schedules {
            crate::reports::schedule::spawn(Arc::clone(&store), schedule, notifiers, stop.clone());
        }
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
