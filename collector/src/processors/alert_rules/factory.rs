//! The `alert_rules` processor type: one engine per instance (shared by every pipeline that
//! lists it), the alerting extension it sends to, and its self-metrics.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use super::{AlertRulesConfig, Engine, Metrics};
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ProcessorFactory, Refs, Stability};
use crate::core::alert::{AlertSink, SinkService};
use crate::core::{ComponentId, Signal};
use crate::extensions::alerting::Alerting;
use crate::processors::ProcessorContext;

/// Builds `alert_rules` processors.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = AlertRulesConfig;
    const ABOUT: About = About {
        type_name: "alert_rules",
        aliases: &[],
        signals: &[Signal::Metrics],
        stability: Stability::Development,
    };

    fn check_refs(
        config: &AlertRulesConfig,
        _id: &ComponentId,
        refs: &Refs<'_>,
    ) -> Result<(), String> {
        let Some(id) = &config.alerting else {
            return Ok(());
        };
        match refs.enabled_extension(id) {
            Ok("alerting") => Ok(()),
            #[cfg(test)]
            Ok("test_alert_sink") => Ok(()),
            Ok(other) => Err(format!(
                "alerting: extension {id} is a {other} extension, not an alerting one"
            )),
            Err(e) => Err(format!("alerting: {e}")),
        }
    }
}

impl ProcessorFactory for Factory {
    fn spawn(
        &self,
        config: &AlertRulesConfig,
        stage: ProcessorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        let key = format!("processors.{}", stage.id);
        let alerting = config
            .alerting
            .as_ref()
            .ok_or_else(|| Error::component(&key, "alerting: the extension id is required"))?;
        let sink = sink(host, alerting).map_err(|m| Error::component(&key, m))?;
        let engine = host.shared(&key, || {
            let t = host.telemetry();
            let labels = || vec![("processor", stage.id.clone())];
            let metrics = Metrics {
                series: t.gauge(
                    "alert_rules_series",
                    "Series the alert_rules processor tracks.",
                    labels(),
                ),
                firing: t.gauge(
                    "alert_rules_firing",
                    "Alerts of the alert_rules processor firing at the last evaluation.",
                    labels(),
                ),
                evaluations: t.counter(
                    "alert_rules_evaluations",
                    "Rules evaluated by the alert_rules processor.",
                    labels(),
                ),
                dropped: t.counter(
                    "alert_rules_series_dropped",
                    "New series not tracked because a rule held max_series already.",
                    labels(),
                ),
            };
            Engine::new(config, metrics)
                .map(Mutex::new)
                .map_err(|m| Error::component(&key, m))
        })?;
        Ok(tokio::spawn(super::run(
            engine,
            sink,
            config.evaluation_interval,
            stage,
        )))
    }
}

/// The alert sink extension `id` offers ([`SinkService`]).
pub(crate) fn sink(host: &Host, id: &ComponentId) -> Result<Arc<dyn AlertSink>, String> {
    if let Ok(alerting) = host.extension::<Alerting>(id) {
        return Ok(alerting as Arc<dyn AlertSink>);
    }
    host.extension::<SinkService>(id)
        .map(|s| Arc::clone(&s.0))
        .map_err(|e| format!("alerting: {e}"))
}
