//! The `basicauth` extension type.

use futures::future::BoxFuture;

use super::{BasicAuth, BasicAuthConfig};
use crate::Error;
use crate::component::{
    About, Extension, ExtensionFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::core::ComponentId;
use crate::extensions::auth;

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
        let extension = auth::extension(id, BasicAuth::new(config));
        Box::pin(async move { extension })
    }

    fn files(&self, config: &Self::Config) -> Vec<std::path::PathBuf> {
        config
            .htpasswd
            .as_ref()
            .and_then(|h| h.file.clone())
            .into_iter()
            .collect()
    }
}
