//! The `otlp` exporter type.

use std::sync::Arc;

use super::{OtlpGrpcExporter, OtlpGrpcExporterConfig};
use crate::Error;
use crate::component::{
    About, BuiltExporter, ExporterFactory, Factory as FactoryTrait, Host, Refs, Stability,
};
use crate::core::{ComponentId, Signal};

/// Builds `otlp` exporters.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = OtlpGrpcExporterConfig;
    const ABOUT: About = About {
        type_name: "otlp",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Beta,
    };

    fn check_refs(config: &Self::Config, _id: &ComponentId, refs: &Refs<'_>) -> Result<(), String> {
        config.sending_queue.check_refs(refs)
    }
}

impl ExporterFactory for Factory {
    fn build(
        &self,
        config: &OtlpGrpcExporterConfig,
        id: &ComponentId,
        _host: &Host,
    ) -> Result<BuiltExporter, Error> {
        let export = OtlpGrpcExporter::new(id.to_string(), config)
            .map_err(|m| Error::component(format!("exporters.{id}"), m))?;
        Ok(BuiltExporter {
            export: Arc::new(export),
            queue: config.sending_queue.clone(),
            retry: config.retry_on_failure.clone(),
        })
    }
}
