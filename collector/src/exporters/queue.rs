//! The sending queue and retry loop every exporter runs behind (the Collector's
//! `exporterhelper`): a bounded queue, senders under a limit on requests in flight
//! (`num_consumers`, fixed or adaptive: [`super::concurrency`]), and the shared client backoff
//! ([`crate::net::client::retry`]) that honours the server's requested delay, with a deadline.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use std::path::PathBuf;

use super::concurrency::{Controller, Feedback, Limiter, Permit};
use super::{Export, ExportError, persistent_queue};
use crate::config::shared::{NumConsumers, QueueConfig, QueueSizer, RetryConfig};
use crate::core::Batch;
use crate::pipeline::ExporterInput;
use crate::telemetry::{ExporterMetrics, Telemetry};

/// Batches a queue's channel holds at most, whatever its sizer (the sizer's bound is usually
/// reached long before).
const MAX_QUEUED_BATCHES: u64 = 1 << 16;

/// The room of a sending queue, in its sizer's unit. A batch takes room when it is enqueued and
/// gives it back when the exporter is done with it (sent, or given up), so the bound covers
/// batches queued and batches being sent or retried: what the queue keeps in memory.
#[derive(Clone, Debug)]
pub(crate) struct QueueGate {
    room: Arc<Semaphore>,
    sizer: QueueSizer,
    capacity: u64,
}

impl QueueGate {
    pub(crate) fn new(sizer: QueueSizer, capacity: u64) -> QueueGate {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS as u64);
        QueueGate {
            room: Arc::new(Semaphore::new(
                usize::try_from(capacity).unwrap_or(usize::MAX),
            )),
            sizer,
            capacity,
        }
    }

    /// The room `batch` takes; never more than the whole queue, so an oversized batch goes
    /// alone once the queue is empty instead of never.
    fn cost(&self, batch: &Batch) -> u32 {
        let size = match self.sizer {
            QueueSizer::Bytes => batch.payload.len() as u64,
            QueueSizer::Items => batch.items as u64,
            QueueSizer::Requests => 1,
        };
        u32::try_from(size.clamp(1, self.capacity)).unwrap_or(u32::MAX)
    }

    /// Room for `batch`, waiting for it (`None`: the queue is closed).
    pub(crate) async fn acquire(&self, batch: &Batch) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.room)
            .acquire_many_owned(self.cost(batch))
            .await
            .ok()
    }

    /// Room for `batch` if there is some now.
    pub(crate) fn try_acquire(&self, batch: &Batch) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.room)
            .try_acquire_many_owned(self.cost(batch))
            .ok()
    }

    /// Room in use, in the sizer's unit.
    pub(crate) fn used(&self) -> u64 {
        self.capacity
            .saturating_sub(self.room.available_permits() as u64)
    }

    /// The capacity, in the sizer's unit.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }
}

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
    let (gate, batches, consumers) = if queue.enabled {
        let gate = QueueGate::new(queue.sizer, queue.capacity());
        let batches = match queue.sizer {
            QueueSizer::Requests => gate.capacity(),
            QueueSizer::Bytes | QueueSizer::Items => MAX_QUEUED_BATCHES,
        };
        (Some(gate), batches, limiter(queue, &metrics))
    } else {
        (None, 1, fixed_limiter(1, &metrics))
    };
    let batches = usize::try_from(batches.clamp(1, MAX_QUEUED_BATCHES)).unwrap_or(1);
    let (tx, rx) = mpsc::channel::<Batch>(batches);
    metrics.queue_capacity.set(
        gate.as_ref()
            .map_or(1, |g| i64::try_from(g.capacity()).unwrap_or(i64::MAX)),
    );
    let rx = Arc::new(Mutex::new(rx));
    let input = ExporterInput {
        id: id.clone(),
        tx,
        gate,
        block_on_overflow: queue.block_on_overflow,
        persistent: false,
        metrics: metrics.clone(),
    };
    let handles = (0..consumers.max())
        .map(|_| {
            let worker = Worker {
                id: id.clone(),
                exporter: Arc::clone(&exporter),
                retry: retry.clone(),
                metrics: metrics.clone(),
                abort: abort.clone(),
                keeps_on_abort: false,
                limiter: consumers.clone(),
            };
            let rx = Arc::clone(&rx);
            let input = input.clone();
            tokio::spawn(async move {
                // The worker's copy of the input is for the gauge only: it must not keep the
                // queue open.
                let gauge = input.gauge();
                drop(input);
                loop {
                    // A slot under the limit first, so that senders over it leave the batches
                    // in the queue.
                    let permit = worker.limiter.acquire().await;
                    let batch = {
                        let mut rx = rx.lock().await;
                        rx.recv().await
                    };
                    let Some(batch) = batch else { break };
                    worker.send(batch, permit).await;
                    gauge.update();
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
    /// Data aborted at shutdown stays on disk (a persistent queue) rather than being dropped.
    keeps_on_abort: bool,
    /// The limit on requests in flight, shared by the exporter's senders.
    limiter: Limiter,
}

/// The limit `num_consumers` asks for, reporting to the exporter's gauges.
fn limiter(queue: &QueueConfig, metrics: &ExporterMetrics) -> Limiter {
    match queue.num_consumers {
        NumConsumers::Fixed(n) => fixed_limiter(n, metrics),
        NumConsumers::Adaptive => Limiter::new(
            Controller::adaptive(queue.adaptive_settings(), tokio::time::Instant::now()),
            metrics.concurrency_limit.clone(),
            metrics.in_flight_requests.clone(),
        ),
    }
}

fn fixed_limiter(n: usize, metrics: &ExporterMetrics) -> Limiter {
    Limiter::new(
        Controller::fixed(n),
        metrics.concurrency_limit.clone(),
        metrics.in_flight_requests.clone(),
    )
}

/// Starts an exporter behind a persistent queue in `dir` (see [`persistent_queue`]): batches
/// are written there before their acknowledgements are settled, and senders under the
/// `num_consumers` limit read them back. What an earlier run left in `dir` is sent first.
pub(crate) async fn spawn_persistent(
    id: String,
    exporter: Arc<dyn Export>,
    queue: &QueueConfig,
    dir: PathBuf,
    retry: RetryConfig,
    telemetry: &Telemetry,
    abort: CancellationToken,
) -> Result<(ExporterInput, Vec<JoinHandle<()>>), persistent_queue::log::LogError> {
    let metrics = telemetry.exporter(&id, None);
    // Batches waiting to be written hold their memory; the disk bounds the rest.
    let (tx, rx) = mpsc::channel::<Batch>(PERSISTENT_INPUT_BATCHES);
    let settings = persistent_queue::Settings {
        id: id.clone(),
        dir,
        max_bytes: queue.disk_limit(),
        fsync: queue.fsync,
        fsync_interval: queue.fsync_interval,
        block_on_overflow: queue.block_on_overflow,
    };
    let (senders, disk) = persistent_queue::start(
        settings,
        rx,
        metrics.clone(),
        telemetry.persistent_queue(&id),
    )
    .await?;
    let input = ExporterInput {
        id: id.clone(),
        tx,
        gate: None,
        // The disk thread decides between waiting and refusing; the channel always waits.
        block_on_overflow: true,
        persistent: true,
        metrics: metrics.clone(),
    };
    let consumers = limiter(queue, &metrics);
    let mut handles: Vec<JoinHandle<()>> = (0..consumers.max())
        .map(|_| {
            let worker = Worker {
                id: id.clone(),
                exporter: Arc::clone(&exporter),
                retry: retry.clone(),
                metrics: metrics.clone(),
                abort: abort.clone(),
                keeps_on_abort: true,
                limiter: consumers.clone(),
            };
            let senders = senders.clone();
            tokio::spawn(async move {
                loop {
                    // A slot under the limit before a record is read back.
                    let permit = tokio::select! {
                        permit = worker.limiter.acquire() => permit,
                        () = worker.abort.cancelled() => break,
                    };
                    let record = tokio::select! {
                        record = senders.next() => record,
                        () = worker.abort.cancelled() => None,
                    };
                    let Some(record) = record else { break };
                    let mut batch = Batch::new(record.signal, record.payload, record.items);
                    batch.hold = record.hold;
                    match worker.deliver(&batch, permit).await {
                        Outcome::Aborted => break,
                        Outcome::Sent | Outcome::Failed => senders.ack(record.id).await,
                    }
                }
            })
        })
        .collect();
    drop(senders);
    handles.push(disk);
    Ok((input, handles))
}

/// Batches on their way to a persistent queue's disk thread.
const PERSISTENT_INPUT_BATCHES: usize = 64;

/// How a worker finished with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The destination accepted it.
    Sent,
    /// Given up for good (permanent error, retries exhausted): counted and logged.
    Failed,
    /// Shutting down while it was still being retried.
    Aborted,
}

impl Worker {
    async fn send(&self, batch: Batch, permit: Permit) {
        let outcome = self.deliver(&batch, permit).await;
        batch.acks.settle(outcome == Outcome::Sent);
    }

    /// Sends `batch` under `permit`, retrying as configured. Each attempt holds a slot under
    /// the limit and reports how it went; the wait between attempts holds none.
    async fn deliver(&self, batch: &Batch, permit: Permit) -> Outcome {
        let mut backoff = self.retry.backoff().start();
        let items = batch.items as u64;
        let mut permit = permit;
        loop {
            permit.begin();
            // A panicking exporter is a failed, retryable send: the worker, the queue and the
            // batch's acknowledgements survive it (counted as a restart of the exporter).
            let sent = AssertUnwindSafe(self.exporter.export(batch))
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
            permit.finish(Feedback::of(&sent));
            let error = match sent {
                Ok(()) => {
                    self.metrics.sent(batch.signal).inc_by(items);
                    return Outcome::Sent;
                }
                Err(error) => error,
            };
            if error.is_timeout() {
                self.metrics.timed_out_requests.inc();
            }
            let give_up = |reason: &str| {
                self.metrics.send_failed(batch.signal).inc_by(items);
                tracing::error!(exporter = %self.id, items, error = %error, "{reason}; data dropped");
            };
            if error.is_handed_back() {
                tracing::debug!(exporter = %self.id, items, error = %error, "handed back");
                return Outcome::Failed;
            }
            if !error.is_retryable() {
                give_up("permanent error");
                return Outcome::Failed;
            }
            if !self.retry.enabled {
                give_up("send failed and retry_on_failure is disabled");
                return Outcome::Failed;
            }
            let Some(wait) = backoff.next_delay(error.throttle()) else {
                give_up("retries exhausted (retry_on_failure.max_elapsed_time)");
                return Outcome::Failed;
            };
            tracing::warn!(exporter = %self.id, items, error = %error, retry_in = ?wait, "send failed; will retry");
            let next_attempt = async {
                tokio::time::sleep(wait).await;
                self.limiter.acquire().await
            };
            tokio::select! {
                next = next_attempt => permit = next,
                () = self.abort.cancelled() => {
                    if self.keeps_on_abort {
                        tracing::warn!(exporter = %self.id, items, "shutting down with data still retrying; it stays in the persistent queue");
                    } else {
                        give_up("shutting down with data still retrying");
                    }
                    return Outcome::Aborted;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use futures::future::BoxFuture;

    use super::*;
    use crate::core::ack::Delivery;
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
                num_consumers: NumConsumers::Fixed(1),
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

    async fn run<E: Export>(flaky: E, retry: RetryConfig) -> (bool, Arc<E>, Telemetry) {
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

    /// Hands every batch back (what a load balancer's backend off the ring does).
    struct HandsBack(AtomicUsize);

    impl Export for HandsBack {
        fn export<'a>(&'a self, _batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Err(ExportError::handed_back("elsewhere")) })
        }
    }

    #[tokio::test]
    async fn a_handed_back_batch_fails_its_ack_without_retry_or_loss_counted() {
        let (ok, exporter, telemetry) = run(HandsBack(AtomicUsize::new(0)), fast_retry()).await;
        assert!(!ok, "the queuer learns it was not sent");
        assert_eq!(exporter.0.load(Ordering::SeqCst), 1, "not retried");
        let rendered = telemetry.render();
        assert!(
            !rendered.contains(r#"lookout_exporter_send_failed_spans_total{exporter="test"} 3"#),
            "{rendered}"
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

    /// Holds every send until the test lets it through, one per permit.
    struct Stalled {
        gate: Semaphore,
        sent: AtomicUsize,
    }

    impl Export for Stalled {
        fn export<'a>(&'a self, _batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
            Box::pin(async move {
                if let Ok(permit) = self.gate.acquire().await {
                    permit.forget();
                }
                self.sent.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        }
    }

    fn bytes(n: usize) -> Batch {
        Batch::new(Signal::Traces, Bytes::from(vec![b'x'; n]), 1)
    }

    fn stalled_queue(
        sizer: QueueSizer,
        size: u64,
        block_on_overflow: bool,
    ) -> (
        Arc<Stalled>,
        crate::pipeline::Output,
        Vec<JoinHandle<()>>,
        Telemetry,
    ) {
        let telemetry = Telemetry::new();
        let exporter = Arc::new(Stalled {
            gate: Semaphore::new(0),
            sent: AtomicUsize::new(0),
        });
        let (input, handles) = spawn(
            "q".into(),
            exporter.clone(),
            &QueueConfig {
                num_consumers: NumConsumers::Fixed(2),
                sizer,
                queue_size: Some(size),
                block_on_overflow,
                ..QueueConfig::default()
            },
            fast_retry(),
            telemetry.exporter("q", None),
            CancellationToken::new(),
        );
        (
            exporter,
            crate::pipeline::Output::Exporters(vec![input]),
            handles,
            telemetry,
        )
    }

    /// Lets every held send through, closes the queue and waits for the workers.
    async fn release_all(
        exporter: &Stalled,
        output: crate::pipeline::Output,
        handles: Vec<JoinHandle<()>>,
    ) {
        exporter.gate.add_permits(100);
        drop(output);
        for h in handles {
            h.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_bytes_queue_holds_at_most_its_size_queued_and_in_flight() {
        let (exporter, output, handles, telemetry) = stalled_queue(QueueSizer::Bytes, 100, false);
        let mut deliveries = Vec::new();
        for _ in 0..3 {
            let (ack, delivery) = Ack::new();
            output.send(bytes(40).with_ack(ack)).await;
            deliveries.push(delivery);
        }
        let rendered = telemetry.render();
        assert!(
            rendered.contains(r#"lookout_exporter_queue_size{exporter="q"} 80"#),
            "{rendered}"
        );
        assert!(
            rendered.contains(r#"lookout_exporter_queue_capacity{exporter="q"} 100"#),
            "{rendered}"
        );
        assert!(
            rendered.contains(r#"lookout_exporter_enqueue_failed_spans_total{exporter="q"} 1"#),
            "the third batch did not fit: {rendered}"
        );
        release_all(&exporter, output, handles).await;
        let outcomes: Vec<bool> =
            futures::future::join_all(deliveries.into_iter().map(Delivery::outcome)).await;
        assert_eq!(outcomes, [true, true, false]);
        assert_eq!(exporter.sent.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn room_is_given_back_when_the_send_is_done_and_a_full_queue_pushes_back() {
        let (exporter, output, handles, _telemetry) = stalled_queue(QueueSizer::Bytes, 100, true);
        output.send(bytes(60)).await;
        let output = Arc::new(output);
        let second = tokio::spawn({
            let output = Arc::clone(&output);
            async move { output.send(bytes(60)).await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!second.is_finished(), "60 + 60 bytes do not fit in 100");
        exporter.gate.add_permits(1);
        second.await.unwrap();
        exporter.gate.add_permits(1);
        drop(output);
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(exporter.sent.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_queue_goes_alone_and_other_sizers_count_their_unit() {
        let (exporter, output, handles, telemetry) = stalled_queue(QueueSizer::Bytes, 10, false);
        output.send(bytes(50)).await;
        output.send(bytes(1)).await;
        assert!(
            telemetry
                .render()
                .contains(r#"lookout_exporter_enqueue_failed_spans_total{exporter="q"} 1"#)
        );
        release_all(&exporter, output, handles).await;
        assert_eq!(exporter.sent.load(Ordering::SeqCst), 1);

        let (exporter, output, handles, telemetry) = stalled_queue(QueueSizer::Requests, 2, false);
        for _ in 0..3 {
            output.send(bytes(1_000)).await;
        }
        assert!(
            telemetry
                .render()
                .contains(r#"lookout_exporter_queue_size{exporter="q"} 2"#)
        );
        release_all(&exporter, output, handles).await;
        assert_eq!(exporter.sent.load(Ordering::SeqCst), 2);

        let (exporter, output, handles, _) = stalled_queue(QueueSizer::Items, 5, false);
        let items = |n| Batch::new(Signal::Traces, Bytes::from_static(b"x"), n);
        output.send(items(3)).await;
        output.send(items(3)).await;
        output.send(items(2)).await;
        release_all(&exporter, output, handles).await;
        assert_eq!(
            exporter.sent.load(Ordering::SeqCst),
            2,
            "3 + 2 items fit in 5, 3 + 3 do not"
        );
    }

    /// Serves one send at a time, 20 ms each (in paused time), then delivers.
    struct Serial {
        turn: Mutex<()>,
        sent: AtomicUsize,
    }

    impl Export for Serial {
        fn export<'a>(&'a self, _batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
            Box::pin(async move {
                let _turn = self.turn.lock().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.sent.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_adaptive_queue_delivers_everything_to_a_serial_destination_with_a_low_limit() {
        let telemetry = Telemetry::new();
        let exporter = Arc::new(Serial {
            turn: Mutex::new(()),
            sent: AtomicUsize::new(0),
        });
        let (input, handles) = spawn(
            "a".into(),
            exporter.clone(),
            &QueueConfig {
                num_consumers: NumConsumers::Adaptive,
                ..QueueConfig::default()
            },
            fast_retry(),
            telemetry.exporter("a", None),
            CancellationToken::new(),
        );
        let mut deliveries = Vec::new();
        for _ in 0..200 {
            let (ack, delivery) = Ack::new();
            input
                .tx
                .send(Batch::new(Signal::Traces, Bytes::from_static(b"x"), 1).with_ack(ack))
                .await
                .unwrap();
            deliveries.push(delivery);
        }
        drop(input);
        for h in handles {
            h.await.unwrap();
        }
        for delivery in deliveries {
            assert!(delivery.outcome().await);
        }
        assert_eq!(exporter.sent.load(Ordering::SeqCst), 200);
        let rendered = telemetry.render();
        let limit: u64 = rendered
            .lines()
            .find_map(|l| l.strip_prefix(r#"lookout_exporter_concurrency_limit{exporter="a"} "#))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no limit in {rendered}"));
        // Queueing at a serial destination buys nothing; slow start may overshoot by one
        // doubling before it stops.
        assert!((1..=4).contains(&limit), "{limit}");
        assert!(
            rendered.contains(r#"lookout_exporter_in_flight_requests{exporter="a"} 0"#),
            "{rendered}"
        );
    }

    #[test]
    fn num_consumers_is_a_number_or_adaptive_with_validated_bounds() {
        let parse = |yaml: &str| serde_yaml_ng::from_str::<QueueConfig>(yaml);
        assert_eq!(
            parse("{}").unwrap().num_consumers,
            NumConsumers::Fixed(crate::config::shared::DEFAULT_NUM_CONSUMERS)
        );
        assert_eq!(
            parse("num_consumers: 4").unwrap().num_consumers,
            NumConsumers::Fixed(4)
        );
        let adaptive = parse("num_consumers: adaptive").unwrap();
        assert_eq!(adaptive.num_consumers, NumConsumers::Adaptive);
        assert!(adaptive.validate().is_ok());
        assert_eq!(adaptive.adaptive_settings().initial, 1);
        let err = parse("num_consumers: lots").unwrap_err().to_string();
        assert!(err.contains("a number of senders"), "{err}");
        assert!(parse("num_consumers: 0").unwrap().validate().is_err());
        let tuned = parse(
            "{num_consumers: adaptive, adaptive: {initial: 2, max: 16, decrease_ratio: 0.5, \
             ewma_alpha: 0.2, rtt_deviation_scale: 3}}",
        )
        .unwrap();
        assert!(tuned.validate().is_ok());
        assert_eq!(tuned.adaptive_settings().max, 16);
        assert!(parse("{num_consumers: adaptive, adaptive: {maximum: 3}}").is_err());
        for bad in [
            "{initial: 0}",
            "{initial: 8, max: 4}",
            "{max: 100000}",
            "{decrease_ratio: 1}",
            "{decrease_ratio: 0}",
            "{ewma_alpha: 1.5}",
            "{rtt_deviation_scale: -1}",
        ] {
            let config = parse(&format!("{{num_consumers: adaptive, adaptive: {bad}}}")).unwrap();
            assert!(config.validate().is_err(), "{bad} accepted");
        }
        assert!(
            parse("{num_consumers: 4, adaptive: {max: 8}}")
                .unwrap()
                .validate()
                .is_err(),
            "adaptive settings without adaptive"
        );
    }

    #[test]
    fn sending_queue_settings_in_the_collectors_spelling() {
        let parse = |yaml: &str| serde_yaml_ng::from_str::<QueueConfig>(yaml);
        let default = parse("{}").unwrap();
        assert_eq!(default.sizer, QueueSizer::Bytes);
        assert_eq!(
            default.capacity(),
            crate::config::shared::DEFAULT_QUEUE_BYTES
        );
        assert_eq!(parse("queue_size: 32MiB").unwrap().capacity(), 32 << 20);
        let items = parse("{sizer: items, queue_size: 5000}").unwrap();
        assert_eq!((items.sizer, items.capacity()), (QueueSizer::Items, 5000));
        assert_eq!(parse("sizer: requests").unwrap().capacity(), 1000);
        assert!(parse("sizer: spans").is_err());
        assert!(parse("queue_size: 0").unwrap().validate().is_err());
        let disk = parse(
            "{storage: file_storage/q, fsync: interval, fsync_interval: 250ms, max_size: 2GiB}",
        )
        .unwrap();
        assert_eq!(
            disk.storage.as_ref().map(ToString::to_string).as_deref(),
            Some("file_storage/q")
        );
        assert_eq!(disk.fsync, crate::config::shared::FsyncMode::Interval);
        assert_eq!(disk.fsync_interval, Duration::from_millis(250));
        assert_eq!(disk.disk_limit(), 2 << 30);
        assert!(disk.validate().is_ok());
        let defaults = parse("storage: file_storage/q").unwrap();
        assert_eq!(defaults.fsync, crate::config::shared::FsyncMode::EveryBatch);
        assert_eq!(defaults.disk_limit(), 1 << 30);
        assert!(parse("fsync: sometimes").is_err());
        assert!(parse("max_size: 1MiB").unwrap().validate().is_err());
        assert!(
            parse("{storage: file_storage/q, enabled: false}")
                .unwrap()
                .validate()
                .is_err()
        );
    }
}
