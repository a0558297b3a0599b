//! The `hostmetrics` receiver type.

use futures::future::BoxFuture;
use tokio::task::JoinHandle;

use super::HostMetricsConfig;
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ReceiverFactory, Stability};
use crate::core::Signal;
use crate::receivers::ReceiverContext;

/// Builds `hostmetrics` receivers.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = HostMetricsConfig;
    const ABOUT: About = About {
        type_name: "hostmetrics",
        aliases: &[],
        signals: &[Signal::Metrics],
        stability: Stability::Beta,
    };
}

impl ReceiverFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a HostMetricsConfig,
        ctx: ReceiverContext,
        _host: &'a Host,
    ) -> BoxFuture<'a, Result<Vec<JoinHandle<()>>, Error>> {
        Box::pin(super::start(config, ctx))
    }
}
