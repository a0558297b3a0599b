//! The `otlp` receiver type.

use futures::future::BoxFuture;
use tokio::task::JoinHandle;

use super::OtlpReceiverConfig;
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ReceiverFactory, Stability};
use crate::core::Signal;
use crate::receivers::ReceiverContext;

/// Builds `otlp` receivers.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = OtlpReceiverConfig;
    const ABOUT: About = About {
        type_name: "otlp",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Beta,
    };
}

impl ReceiverFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a OtlpReceiverConfig,
        ctx: ReceiverContext,
        _host: &'a Host,
    ) -> BoxFuture<'a, Result<Vec<JoinHandle<()>>, Error>> {
        Box::pin(super::start(config, ctx))
    }
}
