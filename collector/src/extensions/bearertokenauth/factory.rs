//! The `bearertokenauth` extension type.

use futures::future::BoxFuture;

use super::{BearerTokenAuth, BearerTokenAuthConfig};
use crate::Error;
use crate::component::{
    About, Extension, ExtensionFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::core::ComponentId;
use crate::extensions::auth;

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
        let extension = auth::extension(id, BearerTokenAuth::new(config));
        Box::pin(async move { extension })
    }

    fn files(&self, config: &Self::Config) -> Vec<std::path::PathBuf> {
        config.filename.iter().cloned().collect()
    }
}
