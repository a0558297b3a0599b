//! The sending queue and retry loop every exporter runs behind (the Collector's
//! `exporterhelper`): a bounded queue, `num_consumers` senders, and the shared client backoff
//! ([`crate::net::client::retry`]) that honours the server's requested delay, with a deadline.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use super::{Export, ExportError};
use crate::config::shared::{QueueConfig, RetryConfig};
use crate::core::Batch;
use crate::pipeline::ExporterInput;
use crate::telemetry::ExporterMetrics;

/// Starts an exporter's senders. The returned input is what pipelines hand batches to; the
/// senders exit once every copy of it is dropped and the queue is empty. Firing `abort` stops
/// retrying (what is still queued or retrying is then counted as failed).
pub(crate) fn spawn(
    id: String,
    exporter: Arc<dyn Export>,
    queue: &QueueConfig,
    retry: RetryConfig,
    metrics: ExporterMetrics,
    abort: CancellationToken,
) -> (ExporterInput, Vec<JoinHandle<()>>) {
    let (capacity, consumers) = if queue.enabled {
        (queue.queue_size.max(1), queue.num_consumers.max(1))
    } else {
        (1, 1)
    };
    let (tx, rx) = mpsc::channel::<Batch>(capacity);
    metrics.queue_capacity.set(capacity as i64);
    let rx = Arc::new(Mutex::new(rx));
    let input = ExporterInput {
        id: id.clone(),
        tx,
        block_on_overflow: queue.block_on_overflow,
        metrics: metrics.clone(),
    };
    let handles = (0..consumers)
        .map(|_| {
            let worker = Worker {
                id: id.clone(),
                exporter: Arc::clone(&exporter),
                retry: retry.clone(),
                metrics: metrics.clone(),
                abort: abort.clone(),
            };
            let rx = Arc::clone(&rx);
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut rx = rx.lock().await;
                        let batch = rx.recv().await;
                        worker.metrics.queue_size.set(rx.len() as i64);
                        batch
                    };
                    let Some(batch) = batch else { break };
                    worker.send(batch).await;
                }
            })
        })
        .collect();
    (input, handles)
}

struct Worker {
    id: String,
    exporter: Arc<dyn Export>,
    retry: RetryConfig,
    metrics: ExporterMetrics,
    abort: CancellationToken,
}

impl Worker {
    async fn send(&self, batch: Batch) {
        let mut backoff = self.retry.backoff().start();
        let items = batch.items as u64;
        loop {
            // A panicking exporter is a failed, retryable send: the worker, the queue and the
            // batch's acknowledgements survive it (counted as a restart of the exporter).
            let sent = AssertUnwindSafe(self.exporter.export(&batch))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    self.metrics.panics.inc();
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(ToString::to_string)
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(ExportError::retryable(format!("exporter panicked: {what}")))
                });
            let error = match sent {
                Ok(()) => {
                    self.metrics.sent(batch.signal).inc_by(items);
                    batch.acks.settle(true);
                    return;
                }
                Err(error) => error,
            };
            let give_up = |reason: &str| {
                self.metrics.send_failed(batch.signal).inc_by(items);
                tracing::error!(exporter = %self.id, items, error = %error, "{reason}; data dropped");
            };
            if !error.is_retryable() {
                give_up("permanent error");
                break;
            }
            if !self.retry.enabled {
                give_up("send failed and retry_on_failure is disabled");
                break;
            }
            let Some(wait) = backoff.next_delay(error.throttle()) else {
                give_up("retries exhausted (retry_on_failure.max_elapsed_time)");
                break;
            };
            tracing::warn!(exporter = %self.id, items, error = %error, retry_in = ?wait, "send failed; will retry");
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.abort.cancelled() => {
                    give_up("shutting down with data still retrying");
                    break;
                }
            }
        }
        batch.acks.settle(false);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use futures::future::BoxFuture;

    use super::*;
    use crate::core::{Ack, Signal};
    use crate::exporters::ExportError;
    use crate::telemetry::Telemetry;

    struct Flaky {
        calls: AtomicUsize,
        fail_first: usize,
        retryable: bool,
    }

    /// Panics on its first send, inside the future, then delivers.
    struct PanicsOnce {
        calls: AtomicUsize,
    }

    impl Export for PanicsOnce {
        fn export<'a>(&'a self, _batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                assert!(n > 0, "the exporter bug a test asked for");
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn a_panicking_send_is_retried_counted_and_the_worker_survives() {
        let telemetry = Telemetry::new();
        let exporter = Arc::new(PanicsOnce {
            calls: AtomicUsize::new(0),
        });
        let (input, handles) = spawn(
            "test".into(),
            exporter.clone(),
            &QueueConfig {
                num_consumers: 1,
                ..QueueConfig::default()
            },
            fast_retry(),
            telemetry.exporter("test", None),
            CancellationToken::new(),
        );
        let (ack, delivery) = Ack::new();
        let batch = Batch::new(Signal::Traces, Bytes::from_static(b""), 3).with_ack(ack);
        input.tx.send(batch).await.unwrap();
        // The same worker takes a second batch after the panic.
        input
            .tx
            .send(Batch::new(Signal::Traces, Bytes::from_static(b""), 2))
            .await
            .unwrap();
        drop(input);
        for h in handles {
            h.await.unwrap();
        }
        assert!(delivery.outcome().await, "delivered on the retry");
        assert_eq!(exporter.calls.load(Ordering::SeqCst), 3);
        let rendered = telemetry.render();
        assert!(
            rendered.contains(
                r#"lookout_component_restarts_total{component="test",kind="exporter"} 1"#
            ),
            "{rendered}"
        );
        assert!(rendered.contains(r#"lookout_exporter_sent_spans_total{exporter="test"} 5"#));
    }

    impl Export for Flaky {
        fn export<'a>(&'a self, _batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n < self.fail_first {
                    if self.retryable {
                        Err(ExportError::retryable("down"))
                    } else {
                        Err(ExportError::permanent("rejected"))
                    }
                } else {
                    Ok(())
                }
            })
        }
    }

    fn fast_retry() -> RetryConfig {
        RetryConfig {
            initial_interval: Duration::from_millis(1),
            max_interval: Duration::from_millis(5),
            max_elapsed_time: Duration::from_secs(5),
            ..RetryConfig::default()
        }
    }

    async fn run(flaky: Flaky, retry: RetryConfig) -> (bool, Arc<Flaky>, Telemetry) {
        let telemetry = Telemetry::new();
        let flaky = Arc::new(flaky);
        let (input, handles) = spawn(
            "test".into(),
            flaky.clone(),
            &QueueConfig::default(),
            retry,
            telemetry.exporter("test", None),
            CancellationToken::new(),
        );
        let (ack, delivery) = Ack::new();
        let batch = Batch::new(Signal::Traces, Bytes::from_static(b""), 3).with_ack(ack);
        input.tx.send(batch).await.unwrap();
        drop(input);
        for h in handles {
            h.await.unwrap();
        }
        (delivery.outcome().await, flaky, telemetry)
    }

    #[tokio::test]
    async fn retries_until_success_and_acks() {
        let (ok, flaky, telemetry) = run(
            Flaky {
                calls: AtomicUsize::new(0),
                fail_first: 3,
                retryable: true,
            },
            fast_retry(),
        )
        .await;
        assert!(ok);
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);
        assert!(
            telemetry
                .render()
                .contains(r#"lookout_exporter_sent_spans_total{exporter="test"} 3"#)
        );
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried_and_fail_the_ack() {
        let (ok, flaky, telemetry) = run(
            Flaky {
                calls: AtomicUsize::new(0),
                fail_first: 1,
                retryable: false,
            },
            fast_retry(),
        )
        .await;
        assert!(!ok);
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 1);
        assert!(
            telemetry
                .render()
                .contains(r#"lookout_exporter_send_failed_spans_total{exporter="test"} 3"#)
        );
    }

    #[tokio::test]
    async fn gives_up_after_max_elapsed_time() {
        let retry = RetryConfig {
            max_elapsed_time: Duration::from_millis(30),
            ..fast_retry()
        };
        let (ok, flaky, _) = run(
            Flaky {
                calls: AtomicUsize::new(0),
                fail_first: usize::MAX,
                retryable: true,
            },
            retry,
        )
        .await;
        assert!(!ok);
        assert!(flaky.calls.load(Ordering::SeqCst) > 1);
    }
}
