//! The `correlate` processor type.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::{CorrelateConfig, Correlator, api};
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ProcessorFactory, Stability};
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
}

impl ProcessorFactory for Factory {
    fn spawn(
        &self,
        config: &CorrelateConfig,
        stage: ProcessorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        // One window per id, whatever the number and signals of the pipelines listing it.
        let shared: Arc<Arc<Correlator>> =
            host.shared(&format!("correlate:{}", stage.id), || {
                let correlator =
                    Arc::new(Correlator::new(config.clone(), host.telemetry(), &stage.id));
                if config.api {
                    let owner = ComponentId::parse(&stage.id)
                        .map_err(|e| Error::component(&stage.id, e))?;
                    for prefix in api::PREFIXES {
                        host.admin()
                            .mount(&owner, prefix, api::handler(Arc::clone(&correlator)))
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
                Ok(correlator)
            })?;
        Ok(tokio::spawn(super::run(Arc::clone(&shared), stage)))
    }
}
