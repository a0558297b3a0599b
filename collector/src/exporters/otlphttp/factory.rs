//! The `otlphttp` exporter type.

use std::sync::Arc;

use super::{OtlpHttpExporter, OtlpHttpExporterConfig};
use crate::Error;
use crate::component::{
    About, BuiltExporter, ExporterFactory, Factory as FactoryTrait, Host, Refs, Stability,
};
use crate::core::{ComponentId, Signal};

/// Builds `otlphttp` exporters.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = OtlpHttpExporterConfig;
    const ABOUT: About = About {
        type_name: "otlphttp",
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
        config: &OtlpHttpExporterConfig,
        id: &ComponentId,
        _host: &Host,
    ) -> Result<BuiltExporter, Error> {
        let export = OtlpHttpExporter::new(id.to_string(), config)
            .map_err(|m| Error::component(format!("exporters.{id}"), m))?;
        Ok(BuiltExporter {
            export: Arc::new(export),
            queue: config.sending_queue.clone(),
            retry: config.retry_on_failure.clone(),
        })
    }
}
