//! The `alert_rules` processor type: one engine per instance (shared by every pipeline that
//! lists it), the alerting extension it sends to, and its self-metrics.

use std::sync::Mutex;

use tokio::task::JoinHandle;

use super::{AlertRulesConfig, Engine, Metrics};
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ProcessorFactory, Refs, Stability};
use crate::core::{ComponentId, Signal};
use crate::extensions::alerting;
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
        alerting::check_ref(config.alerting.as_ref(), refs)
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
        let alerting_id = config
            .alerting
            .as_ref()
            .ok_or_else(|| Error::component(&key, "alerting: the extension id is required"))?;
        let sink = alerting::sink(host, alerting_id).map_err(|m| Error::component(&key, m))?;
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
