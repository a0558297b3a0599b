//! The `health_check` extension type.

use futures::future::BoxFuture;

use super::HealthCheckConfig;
use crate::Error;
use crate::component::{
    About, Extension, ExtensionFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::core::ComponentId;

/// Builds `health_check` extensions.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = HealthCheckConfig;
    const ABOUT: About = About {
        type_name: "health_check",
        aliases: &[],
        signals: &[],
        stability: Stability::Beta,
    };
}

impl ExtensionFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a HealthCheckConfig,
        id: &'a ComponentId,
        host: &'a Host,
    ) -> BoxFuture<'a, Result<Extension, Error>> {
        Box::pin(async move {
            let task = super::start(config, host.health().clone(), host.shutdown()).await?;
            tracing::info!(extension = %id, endpoint = %config.endpoint, "health check listening");
            Ok(Extension {
                service: None,
                tasks: vec![task],
                swap: None,
            })
        })
    }
}
