//! The `otlp` receiver type.

use futures::future::BoxFuture;
use tokio::task::JoinHandle;

use super::OtlpReceiverConfig;
use crate::Error;
use crate::component::{About, Factory as FactoryTrait, Host, ReceiverFactory, Refs, Stability};
use crate::core::{ComponentId, Signal};
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

    fn check_refs(
        config: &OtlpReceiverConfig,
        _id: &ComponentId,
        refs: &Refs<'_>,
    ) -> Result<(), String> {
        let protocols = &config.protocols;
        if let Some(auth) = protocols.grpc.as_ref().and_then(|g| g.auth.as_ref()) {
            auth.check_refs(refs)
                .map_err(|e| format!("protocols.grpc.{e}"))?;
        }
        if let Some(auth) = protocols.http.as_ref().and_then(|h| h.auth.as_ref()) {
            auth.check_refs(refs)
                .map_err(|e| format!("protocols.http.{e}"))?;
        }
        Ok(())
    }
}

impl ReceiverFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a OtlpReceiverConfig,
        ctx: ReceiverContext,
        host: &'a Host,
    ) -> BoxFuture<'a, Result<Vec<JoinHandle<()>>, Error>> {
        Box::pin(super::start(config, ctx, host))
    }
}
