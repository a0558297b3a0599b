//! The `bearertokenauth` extension type.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{BearerTokenAuth, BearerTokenAuthConfig};
use crate::Error;
use crate::component::{
    About, Extension, ExtensionFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::core::ComponentId;
use crate::extensions::auth::ServerAuthenticator;

/// Builds `bearertokenauth` extensions.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = BearerTokenAuthConfig;
    const ABOUT: About = About {
        type_name: "bearertokenauth",
        aliases: &[],
        signals: &[],
        stability: Stability::Beta,
    };
}

impl ExtensionFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a BearerTokenAuthConfig,
        id: &'a ComponentId,
        _host: &'a Host,
    ) -> BoxFuture<'a, Result<Extension, Error>> {
        let built = BearerTokenAuth::new(config)
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
