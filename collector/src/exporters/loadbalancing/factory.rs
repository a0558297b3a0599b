//! The `loadbalancing` exporter type.

use std::sync::Arc;

use super::LoadBalancer;
use super::config::LoadBalancingConfig;
use crate::Error;
use crate::component::{
    About, BuiltExporter, ExporterFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::config::shared::{NumConsumers, QueueConfig, RetryConfig};
use crate::core::{ComponentId, Signal};

/// Batches one `loadbalancing` exporter routes at once: each waits for its pieces to be
/// delivered, so this is a bound on batches in flight, not on throughput per backend (each
/// backend's own `sending_queue.num_consumers` bounds its requests).
const ROUTERS: usize = 64;

/// Builds `loadbalancing` exporters.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = LoadBalancingConfig;
    const ABOUT: About = About {
        type_name: "loadbalancing",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Alpha,
    };
}

impl ExporterFactory for Factory {
    fn build(
        &self,
        config: &LoadBalancingConfig,
        id: &ComponentId,
        host: &Host,
    ) -> Result<BuiltExporter, Error> {
        let export = LoadBalancer::start(config, id.to_string(), host.telemetry(), host.shutdown());
        Ok(BuiltExporter {
            export: Arc::new(export),
            // The exporter's own queue only feeds the routers; the backends' queues (sized by
            // protocol.otlp.sending_queue) hold the data being sent, and re-routing replaces
            // retrying the whole batch.
            queue: QueueConfig {
                num_consumers: NumConsumers::Fixed(ROUTERS),
                ..QueueConfig::default()
            },
            retry: RetryConfig {
                enabled: false,
                ..RetryConfig::default()
            },
        })
    }
}
