//! The `basicauth` extension type.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{BasicAuth, BasicAuthConfig};
use crate::Error;
use crate::component::{
    About, Extension, ExtensionFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::core::ComponentId;
use crate::extensions::auth::ServerAuthenticator;

/// Builds `basicauth` extensions.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = BasicAuthConfig;
    const ABOUT: About = About {
        type_name: "basicauth",
        aliases: &[],
        signals: &[],
        stability: Stability::Beta,
    };
}

impl ExtensionFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a BasicAuthConfig,
        id: &'a ComponentId,
        _host: &'a Host,
    ) -> BoxFuture<'a, Result<Extension, Error>> {
        let built = BasicAuth::new(config)
            .map(|auth| Arc::new(ServerAuthenticator::new(auth)))
            .map_err(|m| Error::component(format!("extensions.{id}"), m));
        Box::pin(async move {
            Ok(Extension {
                service: Some(built?),
                tasks: Vec::new(),
            })
        })
    }
}
