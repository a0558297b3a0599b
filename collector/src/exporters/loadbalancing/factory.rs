//! The `loadbalancing` exporter type.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::LoadBalancer;
use super::backends::Backends;
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
        let stop = CancellationToken::new();
        let backends = Arc::new(Backends::new(
            id.to_string(),
            config.clone(),
            host.telemetry().clone(),
            stop.clone(),
        ));
        if let Some(s) = &config.resolver.static_ {
            backends.set(s.hostnames.clone());
        }
        // Stops with the exporter (dropped once its queue drained) or with the collector.
        let task_stop = stop.clone();
        let host_stop = host.shutdown();
        let task = Arc::clone(&backends).run(config.resolver.dns.clone(), task_stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = task => {}
                () = host_stop.cancelled() => task_stop.cancel(),
            }
        });
        let retry = &config.protocol.otlp.retry_on_failure;
        let give_up_after = (retry.enabled && !retry.max_elapsed_time.is_zero()).then_some(
            retry
                .max_elapsed_time
                .max(config.backend_down_after + Duration::from_secs(1)),
        );
        let export = LoadBalancer {
            id: id.to_string(),
            key: config.routing_key,
            backends,
            give_up_after,
            rerouted: host.telemetry().counter(
                "loadbalancer_rerouted_items",
                "Items a loadbalancing exporter routed again after a backend failed them.",
                vec![("exporter", id.to_string())],
            ),
            stop,
        };
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
