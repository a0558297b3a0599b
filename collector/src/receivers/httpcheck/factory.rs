//! The `httpcheck` receiver type.

use futures::future::BoxFuture;
use tokio::task::JoinHandle;

use super::HttpCheckConfig;
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ReceiverFactory, Stability};
use crate::core::Signal;
use crate::receivers::ReceiverContext;

/// Builds `httpcheck` receivers.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = HttpCheckConfig;
    const ABOUT: About = About {
        type_name: "httpcheck",
        aliases: &[],
        signals: &[Signal::Metrics],
        stability: Stability::Alpha,
    };
}

impl ReceiverFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a HttpCheckConfig,
        ctx: ReceiverContext,
        _host: &'a Host,
    ) -> BoxFuture<'a, Result<Vec<JoinHandle<()>>, Error>> {
        Box::pin(super::start(config, ctx))
    }
}
