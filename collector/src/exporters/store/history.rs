//! The store as an alert history sink (`core/alert_history.rs`): each alert state change the
//! `alerting` extension hands over is queued (bounded; a full queue drops the change, counts
//! it and logs it) and appended by one task as an OTLP log record with event name
//! `lookout.alert` (`events.rs`), through the write-ahead log like any batch: it is kept with
//! the logs signal's retention and answered by `Store::alerts`.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::db::Store;
use super::events;
use crate::core::Signal;
use crate::core::alert_history::AlertHistorySink;
use crate::core::recent::AlertRecord;

/// State changes waiting to be written, at most.
const QUEUE: usize = 1024;

/// The sink a store registers.
pub(crate) struct StoreAlertSink {
    tx: mpsc::Sender<AlertRecord>,
    dropped: Counter,
}

impl AlertHistorySink for StoreAlertSink {
    fn record(&self, alert: &AlertRecord) {
        if self.tx.try_send(alert.clone()).is_err() {
            self.dropped.inc();
            tracing::warn!(
                fingerprint = %alert.fingerprint,
                "store: the alert history queue is full (or the store stopped); an alert state change is not kept"
            );
        }
    }
}

/// A sink writing to `store` until `stop`; `dropped` counts what a full queue refused.
pub(crate) fn spawn(
    store: Arc<Store>,
    dropped: Counter,
    stop: CancellationToken,
) -> Arc<StoreAlertSink> {
    let (tx, mut rx) = mpsc::channel::<AlertRecord>(QUEUE);
    tokio::spawn(async move {
        loop {
            let alert = tokio::select! {
                () = stop.cancelled() => return,
                next = rx.recv() => match next {
                    Some(a) => a,
                    None => return,
                },
            };
            let payload = events::alert_request(&alert, alert.updated_at_ms).encode_to_vec();
            let s = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || s.append(Signal::Logs, &payload)).await {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => {
                    tracing::warn!(%err, fingerprint = %alert.fingerprint, "store: an alert state change could not be written")
                }
                Err(err) => tracing::warn!(%err, "store: the alert history task failed"),
            }
        }
    });
    Arc::new(StoreAlertSink { tx, dropped })
}
