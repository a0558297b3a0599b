//! The `latency_anomaly` processor type.

use tokio::task::JoinHandle;

use super::alerts::source::AlertTarget;
use super::{LatencyAnomalyConfig, LatencyMetrics, Targets};
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ProcessorFactory, Refs, Stability};
use crate::connectors::latency_anomaly::Outlet;
use crate::core::recent::{RECENT_KEY, Recent};
use crate::core::{ComponentId, Signal};
use crate::extensions::alerting;
use crate::processors::ProcessorContext;

/// Builds `latency_anomaly` processors.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = LatencyAnomalyConfig;
    const ABOUT: About = About {
        type_name: "latency_anomaly",
        aliases: &[],
        signals: &[Signal::Traces],
        stability: Stability::Alpha,
    };

    fn check_refs(
        config: &LatencyAnomalyConfig,
        _id: &ComponentId,
        refs: &Refs<'_>,
    ) -> Result<(), String> {
        alerting::check_ref(config.alerting.as_ref(), refs)
    }
}

impl ProcessorFactory for Factory {
    fn spawn(
        &self,
        config: &LatencyAnomalyConfig,
        stage: ProcessorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        let metrics = LatencyMetrics::new(host.telemetry(), &stage.id, &stage.pipeline);
        let mut config = config.clone();
        // What the processor derives leaves through the connector of the same id, if any.
        let mut targets = match host.find_shared::<Outlet>(&Outlet::key(&stage.id)) {
            Some(outlet) => {
                config.red_metrics = outlet.red_metrics.clone();
                Targets {
                    events: outlet.events.iter().cloned().collect(),
                    red_metrics: outlet.metrics.iter().cloned().collect(),
                    alerting: None,
                    recent: None,
                }
            }
            None => Targets::default(),
        };
        if let Some(id) = &config.alerting {
            let sink = alerting::sink(host, id)
                .map_err(|e| Error::component(format!("processors.{}", stage.id), e))?;
            targets.alerting = Some(AlertTarget::new(sink, &stage.id));
        }
        targets.recent = Some(host.shared(RECENT_KEY, || Ok(Recent::default()))?);
        Ok(tokio::spawn(super::run(config, stage, metrics, targets)))
    }
}
