//! The `alerting` extension type.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::AlertingConfig;
use crate::Error;
use crate::component::{
    About, Extension, ExtensionFactory, Factory as FactoryTrait, Host, Stability,
};
use crate::core::ComponentId;
use crate::core::alert::{AlertSink, SinkService, TRACE_LOGS_KEY, TraceLogsRegistry, swap_sinks};
use crate::core::alert_history::{ALERT_HISTORY_KEY, AlertHistory};
use crate::core::recent::{RECENT_KEY, Recent};

/// Builds `alerting` extensions.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = AlertingConfig;
    const ABOUT: About = About {
        type_name: "alerting",
        aliases: &[],
        signals: &[],
        stability: Stability::Alpha,
    };
}

impl ExtensionFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a AlertingConfig,
        id: &'a ComponentId,
        host: &'a Host,
    ) -> BoxFuture<'a, Result<Extension, Error>> {
        Box::pin(async move {
            // Made here if no correlate instance was built yet (extensions start first);
            // correlate instances add their windows to the same one when they are built.
            let trace_logs = host.shared(TRACE_LOGS_KEY, || Ok(TraceLogsRegistry::default()))?;
            let recent = host.shared(RECENT_KEY, || Ok(Recent::default()))?;
            // Stores register with it when they are built (after the extensions start).
            let history = host.shared(ALERT_HISTORY_KEY, || Ok(AlertHistory::default()))?;
            let (alerting, tasks) = super::start(
                config,
                host.telemetry(),
                &host.shutdown(),
                trace_logs,
                recent,
                history,
            )
            .map_err(|e| Error::component(format!("extensions.{id}"), e))?;
            Ok(Extension {
                service: Some(Arc::new(SinkService::new(
                    Arc::new(alerting) as Arc<dyn AlertSink>
                ))),
                tasks,
                swap: Some(swap_sinks),
            })
        })
    }
}
