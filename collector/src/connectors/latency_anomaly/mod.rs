//! `connectors: latency_anomaly:` — carries what the `latency_anomaly` processor of the same
//! id derives (episode log records, RED metrics) to the logs and metrics pipelines that list
//! the connector as a receiver.
//!
//! A Collector connector only sees what its exporting pipeline sends it; the episodes here
//! come from the processor's detector, which edits spans in place, so the two share an
//! [`Outlet`] through the host's shared instances. The connector is still listed as an
//! exporter of the traces pipeline that runs the processor (the Collector's shape, and it ends
//! that pipeline's ownership chain in the right order: the connector closes its outputs only
//! after the pipeline, and so the processor's final flush, is done).
//!
//! ```yaml
//! connectors:
//!   latency_anomaly:
//!     red_metrics: {max_series: 2000, flush_interval: 15s}
//! service:
//!   pipelines:
//!     traces:       {receivers: [otlp], processors: [latency_anomaly], exporters: [otlp, latency_anomaly]}
//!     logs/anomaly: {receivers: [latency_anomaly], exporters: [debug]}
//!     metrics/red:  {receivers: [latency_anomaly], exporters: [otlp]}
//! ```

mod factory;

use std::sync::Mutex;

use serde::Deserialize;
use tokio::sync::mpsc;

pub(crate) use factory::Factory;

use crate::component::{ConnectorContext, Validate};
use crate::core::{Batch, Signal};
use crate::processors::latency_anomaly::config::RedMetricsConfig;

/// Derived batches waiting for the connector; when full the processor drops (counted), so the
/// span path never waits on the pipelines it feeds.
const OUTLET_QUEUE: usize = 64;

/// The connector's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LatencyAnomalyConnectorConfig {
    /// RED metrics settings, used when a metrics pipeline lists the connector.
    pub red_metrics: RedMetricsConfig,
}

impl Validate for LatencyAnomalyConnectorConfig {
    fn validate(&self) -> Result<(), String> {
        Validate::validate(&self.red_metrics).map_err(|e| format!("red_metrics: {e}"))
    }
}

/// The receiving ends of an outlet's (events, metrics) channels.
type Receivers = (Option<mpsc::Receiver<Batch>>, Option<mpsc::Receiver<Batch>>);

/// What the processor and the connector of one id share: senders for the processor, the
/// receiving ends for the connector.
#[derive(Debug)]
pub(crate) struct Outlet {
    /// Episode records, when a logs pipeline lists the connector.
    pub events: Option<mpsc::Sender<Batch>>,
    /// RED metrics, when a metrics pipeline lists the connector.
    pub metrics: Option<mpsc::Sender<Batch>>,
    /// RED metrics settings, when they are kept.
    pub red_metrics: Option<RedMetricsConfig>,
    receivers: Mutex<Option<Receivers>>,
}

impl Outlet {
    /// The shared-instance key of the outlet of processor/connector `id`.
    pub(crate) fn key(id: &str) -> String {
        format!("latency_anomaly.outlet/{id}")
    }

    fn new(config: &LatencyAnomalyConnectorConfig, feeds: &[Signal]) -> Outlet {
        let channel = |signal| {
            feeds
                .contains(&signal)
                .then(|| mpsc::channel::<Batch>(OUTLET_QUEUE))
                .unzip()
        };
        let (events, events_rx) = channel(Signal::Logs);
        let (metrics, metrics_rx) = channel(Signal::Metrics);
        Outlet {
            red_metrics: metrics.is_some().then(|| config.red_metrics.clone()),
            events,
            metrics,
            receivers: Mutex::new(Some((events_rx, metrics_rx))),
        }
    }

    fn take_receivers(&self) -> Receivers {
        self.receivers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or((None, None))
    }
}

/// Forwards derived batches to the connector's outputs until the pipeline it exports from and
/// every processor holding the outlet's senders are done.
async fn run(
    mut ctx: ConnectorContext,
    mut events: Option<mpsc::Receiver<Batch>>,
    mut metrics: Option<mpsc::Receiver<Batch>>,
) {
    let mut input_open = true;
    loop {
        tokio::select! {
            next = ctx.input.recv(), if input_open => match next {
                // The spans themselves go on through the pipeline's other exporters: this end
                // only marks where the connector sits.
                Some(batch) => batch.acks.settle(true),
                None => input_open = false,
            },
            next = recv(&mut events), if events.is_some() => match next {
                Some(batch) => forward(&ctx, Signal::Logs, batch).await,
                None => events = None,
            },
            next = recv(&mut metrics), if metrics.is_some() => match next {
                Some(batch) => forward(&ctx, Signal::Metrics, batch).await,
                None => metrics = None,
            },
            else => break,
        }
    }
}

/// The next batch of an optional channel (only polled while it is `Some`).
async fn recv(rx: &mut Option<mpsc::Receiver<Batch>>) -> Option<Batch> {
    match rx {
        Some(rx) => rx.recv().await,
        None => None,
    }
}

async fn forward(ctx: &ConnectorContext, signal: Signal, batch: Batch) {
    let Some(out) = ctx.output(signal) else {
        return;
    };
    if let Err(refused) = out.send(batch).await {
        tracing::debug!(connector = %ctx.id, %signal, items = refused.batch.items, "pipeline closed; derived data dropped");
    }
}
