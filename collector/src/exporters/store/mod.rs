//! `exporters: store:` — the embedded history store (issue 16; docs/store.md). Keeps span
//! summaries, log records and metric points (raw, plus 1 m and 1 h rollups) in Parquet
//! segments under a data directory, behind a write-ahead log and an in-memory head, with
//! retention by age and size, and answers the queries of `query.rs` (served by `api.rs`).
//!
//! `config.rs` settings; `factory.rs` registration; `rows.rs` what is kept of an item;
//! `wal.rs` the write-ahead log; `segment.rs` Parquet files; `rollup.rs` rollups;
//! `db.rs` the store (recovery, flush, retention, quarantine); `compact.rs` merges an
//! hour's segments; `query.rs` queries (`pushdown_tests.rs`: their pruned reads against
//! full ones); `events.rs` anomaly episodes and alert state changes (event records kept
//! apart); `history.rs` the store as the alerting extension's alert history sink;
//! `api.rs` JSON routes; `metrics.rs` self-metrics.

mod api;
#[cfg(test)]
mod bench;
mod compact;
mod config;
mod db;
mod events;
#[cfg(test)]
mod events_tests;
mod factory;
mod history;
mod metrics;
#[cfg(test)]
mod pushdown_tests;
mod query;
mod rollup;
mod rows;
mod segment;
#[cfg(test)]
mod tests;
mod wal;

#[cfg(test)]
pub(crate) use config::FsyncPolicy;
pub(crate) use config::StoreConfig;
pub(crate) use db::{Store, StoreError, now_ns};
pub(crate) use factory::Factory;
#[cfg(test)]
pub(crate) use history::alert_request;
#[cfg(test)]
pub(crate) use metrics::StoreMetrics;
pub(crate) use rollup::{HOUR_NS, MINUTE_NS, RedRow, quantile};

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{Export, ExportError};
use crate::core::Batch;

/// The exporter: hands each batch to the store on a blocking thread; `Ok` means the batch
/// is in the write-ahead log (fsynced per `fsync`).
pub(crate) struct StoreExporter {
    store: Arc<Store>,
    /// Stops the flush task when the exporter goes (a reload, shutdown).
    _flusher: DropGuard,
    /// Registered (weakly) as an alert history sink: kept while the exporter lives.
    _history: Arc<dyn crate::core::alert_history::AlertHistorySink>,
}

impl Export for StoreExporter {
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            let store = Arc::clone(&self.store);
            let (signal, payload) = (batch.signal, batch.payload.clone());
            let result = tokio::task::spawn_blocking(move || store.append(signal, &payload))
                .await
                .map_err(|err| ExportError::retryable(format!("store task failed: {err}")))?;
            match result {
                Ok(_) => Ok(()),
                Err(err @ StoreError::Decode(_)) => Err(ExportError::permanent(err.to_string())),
                Err(err) => Err(ExportError::retryable(err.to_string())),
            }
        })
    }
}

/// Writes the head out every `interval` (or sooner when a head is full) until `stop`.
fn spawn_flusher(store: Arc<Store>, interval: Duration, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
                () = store.flush_wanted.notified() => {}
            }
            let s = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || s.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::warn!(%err, "store: flush failed; the rows stay in the write-ahead log and are retried")
                }
                Err(err) => tracing::warn!(%err, "store: flush task failed"),
            }
        }
    });
}
