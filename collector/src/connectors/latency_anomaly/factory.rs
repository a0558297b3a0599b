//! The `latency_anomaly` connector type.

use tokio::task::JoinHandle;

use super::{LatencyAnomalyConnectorConfig, Outlet};
use crate::Error;
use crate::component::{
    About, ConnectorContext, ConnectorFactory, Factory as FactoryTrait, Host, Refs, Stability,
};
use crate::core::{ComponentId, Signal};

/// Builds `latency_anomaly` connectors.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = LatencyAnomalyConnectorConfig;
    const ABOUT: About = About {
        type_name: "latency_anomaly",
        aliases: &[],
        signals: &[Signal::Traces],
        stability: Stability::Alpha,
    };

    fn check_refs(
        _config: &LatencyAnomalyConnectorConfig,
        id: &ComponentId,
        refs: &Refs<'_>,
    ) -> Result<(), String> {
        if refs.processor_in_use(id) {
            Ok(())
        } else {
            Err(format!(
                "connector {id} carries what processor {id} derives, but no pipeline runs a \
                 processor {id}; add it to the processors of the traces pipeline"
            ))
        }
    }
}

impl ConnectorFactory for Factory {
    const ROUTES: &'static [(Signal, Signal)] = &[
        (Signal::Traces, Signal::Logs),
        (Signal::Traces, Signal::Metrics),
    ];

    fn prepare(
        &self,
        config: &LatencyAnomalyConnectorConfig,
        id: &ComponentId,
        feeds: &[Signal],
        host: &Host,
    ) -> Result<(), Error> {
        host.shared(&Outlet::key(&id.to_string()), || {
            Ok(Outlet::new(config, feeds))
        })
        .map(drop)
    }

    fn spawn(
        &self,
        _config: &LatencyAnomalyConnectorConfig,
        ctx: ConnectorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        let (events, metrics) = match host.find_shared::<Outlet>(&Outlet::key(&ctx.id.to_string()))
        {
            Some(outlet) => outlet.take_receivers(),
            None => (None, None),
        };
        Ok(tokio::spawn(super::run(ctx, events, metrics)))
    }
}
