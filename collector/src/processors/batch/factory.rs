//! The `batch` processor type.

use tokio::task::JoinHandle;

use super::BatchConfig;
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ProcessorFactory, Stability};
use crate::core::Signal;
use crate::processors::ProcessorContext;

/// Builds `batch` processors.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = BatchConfig;
    const ABOUT: About = About {
        type_name: "batch",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Beta,
    };
}

impl ProcessorFactory for Factory {
    fn spawn(
        &self,
        config: &BatchConfig,
        stage: ProcessorContext,
        _host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        Ok(tokio::spawn(super::run(config.clone(), stage)))
    }
}
