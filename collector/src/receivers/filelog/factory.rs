//! The `filelog` receiver type.

use futures::future::BoxFuture;
use tokio::task::JoinHandle;

use super::FileLogConfig;
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, ReceiverFactory, Refs, Stability};
use crate::core::{ComponentId, Signal};
use crate::extensions::file_storage::FileStorage;
use crate::receivers::ReceiverContext;

/// Builds `filelog` receivers.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = FileLogConfig;
    const ABOUT: About = About {
        type_name: "filelog",
        aliases: &[],
        signals: &[Signal::Logs],
        stability: Stability::Beta,
    };

    fn check_refs(
        config: &FileLogConfig,
        _id: &ComponentId,
        refs: &Refs<'_>,
    ) -> Result<(), String> {
        let Some(storage) = &config.storage else {
            return Ok(());
        };
        match refs.enabled_extension(storage) {
            Ok("file_storage") => Ok(()),
            Ok(other) => Err(format!(
                "storage: extension {storage} is a {other} extension, not a file_storage one"
            )),
            Err(e) => Err(format!("storage: {e}")),
        }
    }
}

impl ReceiverFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a FileLogConfig,
        ctx: ReceiverContext,
        host: &'a crate::component::Host,
    ) -> BoxFuture<'a, Result<Vec<JoinHandle<()>>, Error>> {
        Box::pin(async move {
            let storage =
                match &config.storage {
                    None => None,
                    Some(id) => Some(host.extension::<FileStorage>(id).map_err(|m| {
                        Error::component(format!("receivers.{}.storage", ctx.id), m)
                    })?),
                };
            super::start(config, storage.as_deref(), ctx).await
        })
    }
}
