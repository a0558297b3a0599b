//! The `alerting` extension type.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::AlertingConfig;
use crate::Error;
use crate::component::{
    About, Extension, ExtensionFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::core::ComponentId;

/// Builds `alerting` extensions.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = AlertingConfig;
    const ABOUT: About = About {
        type_name: "alerting",
        aliases: &[],
        signals: &[],
        stability: Stability::Alpha,
    };
}

impl ExtensionFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a AlertingConfig,
        id: &'a ComponentId,
        host: &'a Host,
    ) -> BoxFuture<'a, Result<Extension, Error>> {
        Box::pin(async move {
            let (alerting, tasks) = super::start(config, host.telemetry(), &host.shutdown())
                .map_err(|e| Error::component(format!("extensions.{id}"), e))?;
            Ok(Extension {
                service: Some(Arc::new(alerting)),
                tasks,
            })
        })
    }
}
