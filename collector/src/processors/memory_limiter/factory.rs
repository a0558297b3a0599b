//! The `memory_limiter` processor type.

use tokio::task::JoinHandle;

use super::MemoryLimiterConfig;
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ProcessorFactory, Stability};
use crate::core::Signal;
use crate::processors::ProcessorContext;

/// Builds `memory_limiter` processors.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = MemoryLimiterConfig;
    const ABOUT: About = About {
        type_name: "memory_limiter",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Beta,
    };
}

impl ProcessorFactory for Factory {
    /// Sets the process's memory budget (before any receiver starts: pipelines are built
    /// first), then passes the pipeline's data through while it watches the RSS.
    fn spawn(
        &self,
        config: &MemoryLimiterConfig,
        stage: ProcessorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        let limits = config
            .limits(super::available_memory())
            .map_err(|m| Error::component(format!("processors.{}", stage.id), m))?;
        let budget = host.memory().clone();
        budget.apply_limiter(limits.soft, limits.hard);
        tracing::debug!(processor = %stage.id, soft = limits.soft, hard = limits.hard, "memory budget");
        let telemetry = host.telemetry();
        let gauges = super::Gauges {
            accounted: telemetry.gauge(
                "memory_limiter_accounted_bytes",
                "Bytes of telemetry in flight, as the memory budget accounts them (read every check_interval).",
                Vec::new(),
            ),
            refusing_all: telemetry.gauge(
                "memory_limiter_refusing_all",
                "1 while the process is over the memory_limiter's hard limit and every request is refused.",
                Vec::new(),
            ),
        };
        Ok(tokio::spawn(super::run(
            config.check_interval,
            budget,
            gauges,
            stage,
        )))
    }
}
