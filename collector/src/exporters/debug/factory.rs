//! The `debug` exporter type.

use std::sync::Arc;

use super::{DebugExporter, DebugExporterConfig};
use crate::Error;
use crate::component::{
    About, BuiltExporter, ExporterFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::config::shared::{QueueConfig, RetryConfig};
use crate::core::{ComponentId, Signal};

/// Builds `debug` exporters.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = DebugExporterConfig;
    const ABOUT: About = About {
        type_name: "debug",
        aliases: &["logging"],
        signals: &Signal::ALL,
        stability: Stability::Development,
    };
}

impl ExporterFactory for Factory {
    fn build(
        &self,
        config: &DebugExporterConfig,
        id: &ComponentId,
        _host: &Host,
    ) -> Result<BuiltExporter, Error> {
        Ok(BuiltExporter {
            export: Arc::new(DebugExporter::new(id.to_string(), config)),
            queue: QueueConfig {
                num_consumers: crate::config::shared::NumConsumers::Fixed(1),
                ..QueueConfig::default()
            },
            retry: RetryConfig {
                enabled: false,
                ..RetryConfig::default()
            },
        })
    }
}
