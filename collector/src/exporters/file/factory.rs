//! The `file` exporter type.

use std::sync::Arc;

use super::{FileExporter, FileExporterConfig};
use crate::Error;
use crate::component::{
    About, BuiltExporter, ExporterFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::config::shared::{QueueConfig, RetryConfig};
use crate::core::{ComponentId, Signal};

/// Builds `file` exporters.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = FileExporterConfig;
    const ABOUT: About = About {
        type_name: "file",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Alpha,
    };
}

impl ExporterFactory for Factory {
    // The file is opened (truncated unless `append`) when the exporter is built.
    const EXCLUSIVE: bool = true;

    fn build(
        &self,
        config: &FileExporterConfig,
        id: &ComponentId,
        _host: &Host,
    ) -> Result<BuiltExporter, Error> {
        let export = FileExporter::new(config)
            .map_err(|m| Error::component(format!("exporters.{id}"), m))?;
        // Writing locally: one batch at a time, in order.
        Ok(BuiltExporter {
            export: Arc::new(export),
            queue: QueueConfig {
                num_consumers: crate::config::shared::NumConsumers::Fixed(1),
                ..QueueConfig::default()
            },
            retry: RetryConfig::default(),
        })
    }
}
