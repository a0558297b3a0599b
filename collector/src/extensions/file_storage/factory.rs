//! The `file_storage` extension type.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{FileStorage, FileStorageConfig};
use crate::Error;
use crate::component::{
    About, Extension, ExtensionFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::core::ComponentId;

/// Builds `file_storage` extensions.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = FileStorageConfig;
    const ABOUT: About = About {
        type_name: "file_storage",
        aliases: &[],
        signals: &[],
        stability: Stability::Beta,
    };
}

impl ExtensionFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a FileStorageConfig,
        _id: &'a ComponentId,
        _host: &'a Host,
    ) -> BoxFuture<'a, Result<Extension, Error>> {
        // Passive: components open their own subdirectory through the service.
        let service = Arc::new(FileStorage::new(config.clone()));
        Box::pin(async move {
            Ok(Extension {
                service: Some(service),
                tasks: Vec::new(),
                swap: None,
            })
        })
    }
}
