//! The `correlate` processor type.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::config::Mode;
use super::{CorrelateConfig, Correlator};
use crate::Error;
use crate::component::trace_sources::{PREFIXES, Tier, TraceSource, handler};
use crate::component::{About, Factory as FactoryTrait, Host, ProcessorFactory, Refs, Stability};
use crate::core::alert::{TRACE_LOGS_KEY, TraceLogs, TraceLogsRegistry};
use crate::core::recent::{RECENT_KEY, Recent};
use crate::core::{ComponentId, Signal};
use crate::processors::ProcessorContext;

/// Builds `correlate` processors.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = CorrelateConfig;
    const ABOUT: About = About {
        type_name: "correlate",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Development,
    };

    /// In sample mode an instance holds and releases the traces of one traces pipeline and
    /// the logs of one logs pipeline (each stage owns the outbox it releases into).
    fn check_refs(
        config: &CorrelateConfig,
        id: &ComponentId,
        refs: &Refs<'_>,
    ) -> Result<(), String> {
        if config.mode != Mode::Sample {
            return Ok(());
        }
        for signal in [Signal::Traces, Signal::Logs] {
            let pipelines = refs.pipelines_with_processor(id, signal);
            if pipelines.len() > 1 {
                return Err(format!(
                    "{id} in mode: sample can be listed in one {signal} pipeline, not {} ({}): \
                     give each pipeline its own instance (e.g. {id}/a, {id}/b) with the same \
                     hash_seed so they decide alike",
                    pipelines.len(),
                    pipelines.join(", ")
                ));
            }
        }
        Ok(())
    }
}

impl ProcessorFactory for Factory {
    fn spawn(
        &self,
        config: &CorrelateConfig,
        stage: ProcessorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        // The alerting extension asks this registry for the log lines of its alerts' example
        // traces; each window is added once, weakly, so a stopped pipeline still frees it.
        // (Asked for before the window: `shared` holds the host's map while `init` runs.)
        let registry: Arc<TraceLogsRegistry> =
            host.shared(TRACE_LOGS_KEY, || Ok(TraceLogsRegistry::default()))?;
        let recent = host.shared(RECENT_KEY, || Ok(Recent::default()))?;
        // One window per id, whatever the number and signals of the pipelines listing it.
        let shared: Arc<Arc<Correlator>> =
            host.shared(&format!("correlate:{}", stage.id), || {
                let correlator = Arc::new(
                    Correlator::new(config.clone(), host.telemetry(), &stage.id)
                        .with_recent(recent),
                );
                if config.api {
                    let owner = ComponentId::parse(&stage.id)
                        .map_err(|e| Error::component(&stage.id, e))?;
                    // The routes answer from every trace source (this window first, then
                    // the store); mounting them says the API is on, and only one window
                    // may serve it.
                    let source: Arc<dyn TraceSource> = Arc::clone(&correlator) as _;
                    host.trace_sources()
                        .register(Tier::Window, &owner, Arc::downgrade(&source));
                    for prefix in PREFIXES {
                        host.admin()
                            .mount(&owner, prefix, handler(host.trace_sources().clone()))
                            .map_err(|e| {
                                Error::component(
                                    &stage.id,
                                    format!(
                                        "{e} (set api: false on all but one correlate processor)"
                                    ),
                                )
                            })?;
                    }
                }
                registry.register(&(Arc::clone(&correlator) as Arc<dyn TraceLogs>));
                Ok(correlator)
            })?;
        Ok(tokio::spawn(super::run(Arc::clone(&shared), stage)))
    }
}
