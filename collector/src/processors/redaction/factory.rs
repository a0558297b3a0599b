//! The `redaction` processor type.

use tokio::task::JoinHandle;

use super::{RedactionConfig, Rules};
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ProcessorFactory, Stability};
use crate::core::Signal;
use crate::processors::ProcessorContext;

/// Builds `redaction` processors.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = RedactionConfig;
    const ABOUT: About = About {
        type_name: "redaction",
        aliases: &[],
        signals: &[Signal::Traces, Signal::Logs],
        stability: Stability::Alpha,
    };
}

impl ProcessorFactory for Factory {
    fn spawn(
        &self,
        config: &RedactionConfig,
        stage: ProcessorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        let rules = Rules::new(config)
            .map_err(|m| Error::component(format!("processors.{}", stage.id), m))?;
        let metrics = super::RedactionMetrics::new(host, &stage.id, &stage.pipeline);
        Ok(tokio::spawn(super::run(rules, stage, metrics)))
    }
}
