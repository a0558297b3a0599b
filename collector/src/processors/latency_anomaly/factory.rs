//! The `latency_anomaly` processor type.

use tokio::task::JoinHandle;

use super::{LatencyAnomalyConfig, LatencyMetrics, Targets};
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ProcessorFactory, Stability};
use crate::connectors::latency_anomaly::Outlet;
use crate::core::Signal;
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
        let targets = match host.find_shared::<Outlet>(&Outlet::key(&stage.id)) {
            Some(outlet) => {
                config.red_metrics = outlet.red_metrics.clone();
                Targets {
                    events: outlet.events.iter().cloned().collect(),
                    red_metrics: outlet.metrics.iter().cloned().collect(),
                }
            }
            None => Targets::default(),
        };
        Ok(tokio::spawn(super::run(config, stage, metrics, targets)))
    }
}
