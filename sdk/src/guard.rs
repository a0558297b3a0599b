//! The handle that keeps telemetry running and shuts it down.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::Runtime;
use tracing::Dispatch;

use crate::error::{Error, ErrorKind};
use crate::runtime::RtHandle;

const WORKER_NAME: &str = "lookout-sdk-shutdown";

/// The exporting half of the pipeline; absent when export is disabled.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) tracer: Option<SdkTracerProvider>,
    pub(crate) meter: Option<SdkMeterProvider>,
    pub(crate) logger: Option<SdkLoggerProvider>,
    pub(crate) runtime: Option<Runtime>,
    pub(crate) rt: RtHandle,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Normally taken by `shutdown_pipeline`; this covers any other path,
        // because dropping a Tokio runtime from async code panics.
        if let Some(runtime) = self.runtime.take() {
            self.rt.mark_dead();
            runtime.shutdown_background();
        }
    }
}

/// Keeps telemetry running; flushes and shuts it down when dropped.
///
/// Shutdown never hangs: it returns within the configured
/// [`shutdown_timeout`](crate::Builder::shutdown_timeout) (default 5 s)
/// whether it is called on a multi-thread or current-thread Tokio runtime,
/// inside `tokio::spawn`, or outside any runtime, and whether or not the
/// collector is reachable. In async code prefer
/// [`shutdown`](Self::shutdown)`.await`, which does not block the executor
/// thread; dropping the guard or calling
/// [`shutdown_blocking`](Self::shutdown_blocking) blocks the calling thread
/// for at most the deadline.
///
/// ```no_run
/// # async fn demo() -> Result<(), lookout_sdk::Error> {
/// let telemetry = lookout_sdk::builder().service_name("checkout").install()?;
/// // ... serve requests ...
/// telemetry.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "dropping the guard shuts telemetry down immediately"]
#[derive(Debug)]
pub struct Guard {
    pipeline: Option<Pipeline>,
    dispatch: Dispatch,
    timeout: Duration,
}

impl Guard {
    pub(crate) fn new(pipeline: Option<Pipeline>, dispatch: Dispatch, timeout: Duration) -> Self {
        Self {
            pipeline,
            dispatch,
            timeout,
        }
    }

    pub(crate) fn pipeline(&self) -> Option<&Pipeline> {
        self.pipeline.as_ref()
    }

    /// The `tracing` dispatcher of this pipeline. [`install`] makes it the
    /// global default; after [`build`] use it to scope instrumentation, for
    /// example with [`tracing::dispatcher::with_default`] or
    /// [`tracing::instrument::WithSubscriber::with_subscriber`].
    ///
    /// [`install`]: crate::Builder::install
    /// [`build`]: crate::Builder::build
    ///
    /// ```
    /// use tracing::instrument::WithSubscriber;
    ///
    /// # async fn demo() -> Result<(), lookout_sdk::Error> {
    /// let guard = lookout_sdk::builder().disabled(true).build()?;
    /// async { tracing::info!("scoped") }.with_subscriber(guard.dispatch().clone()).await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    /// The tracer provider, unless traces are disabled.
    ///
    /// ```
    /// let guard = lookout_sdk::builder().disabled(true).build()?;
    /// assert!(guard.tracer_provider().is_none());
    /// # Ok::<(), lookout_sdk::Error>(())
    /// ```
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.pipeline.as_ref().and_then(|p| p.tracer.as_ref())
    }

    /// The meter provider, unless metrics are disabled.
    ///
    /// ```
    /// let guard = lookout_sdk::builder().disabled(true).build()?;
    /// assert!(guard.meter_provider().is_none());
    /// # Ok::<(), lookout_sdk::Error>(())
    /// ```
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.pipeline.as_ref().and_then(|p| p.meter.as_ref())
    }

    /// A [`Meter`] that exports through this pipeline. After
    /// [`install`](crate::Builder::install),
    /// `opentelemetry::global::meter(name)` is equivalent.
    ///
    /// ```
    /// let guard = lookout_sdk::builder().disabled(true).build()?;
    /// let orders = guard.meter("checkout").u64_counter("orders").build();
    /// orders.add(1, &[]);
    /// # Ok::<(), lookout_sdk::Error>(())
    /// ```
    pub fn meter(&self, name: &'static str) -> Meter {
        match self.meter_provider() {
            Some(mp) => mp.meter(name),
            // A no-op meter keeps call sites identical when export is off.
            None => opentelemetry::metrics::noop::NoopMeterProvider::new().meter(name),
        }
    }

    /// Exports everything buffered so far, waiting at most the shutdown
    /// timeout. Blocks the calling thread.
    ///
    /// ```
    /// let guard = lookout_sdk::builder().disabled(true).build()?;
    /// guard.flush_blocking()?;
    /// # Ok::<(), lookout_sdk::Error>(())
    /// ```
    pub fn flush_blocking(&self) -> Result<(), Error> {
        match &self.pipeline {
            Some(p) => run_with_deadline("flush", self.timeout, flush_jobs(p)),
            None => Ok(()),
        }
    }

    /// Exports everything buffered so far, waiting at most the shutdown
    /// timeout, without blocking the executor.
    ///
    /// ```
    /// # async fn demo() -> Result<(), lookout_sdk::Error> {
    /// let guard = lookout_sdk::builder().disabled(true).build()?;
    /// guard.flush().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn flush(&self) -> Result<(), Error> {
        match &self.pipeline {
            Some(p) => {
                let jobs = flush_jobs(p);
                let timeout = self.timeout;
                off_thread(move || run_with_deadline("flush", timeout, jobs)).await
            }
            None => Ok(()),
        }
    }

    /// Flushes and shuts down all signals, blocking the calling thread for
    /// at most the shutdown timeout. Returns an error that
    /// [`is_timeout`](Error::is_timeout) if the deadline passed; the
    /// remaining telemetry is then dropped.
    ///
    /// ```
    /// let guard = lookout_sdk::builder().disabled(true).build()?;
    /// guard.shutdown_blocking()?;
    /// # Ok::<(), lookout_sdk::Error>(())
    /// ```
    pub fn shutdown_blocking(mut self) -> Result<(), Error> {
        self.shutdown_now()
    }

    /// Flushes and shuts down all signals without blocking the executor,
    /// finishing within the shutdown timeout.
    ///
    /// ```
    /// # async fn demo() -> Result<(), lookout_sdk::Error> {
    /// let guard = lookout_sdk::builder().disabled(true).build()?;
    /// guard.shutdown().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shutdown(mut self) -> Result<(), Error> {
        match self.pipeline.take() {
            Some(p) => {
                let timeout = self.timeout;
                off_thread(move || shutdown_pipeline(p, timeout)).await
            }
            None => Ok(()),
        }
    }

    pub(crate) fn shutdown_now(&mut self) -> Result<(), Error> {
        match self.pipeline.take() {
            Some(p) => shutdown_pipeline(p, self.timeout),
            None => Ok(()),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_now() {
            tracing::dispatcher::with_default(&self.dispatch, || {
                tracing::warn!(target: "lookout_sdk", "telemetry shutdown: {e}");
            });
        }
    }
}

type Job = (&'static str, Box<dyn FnOnce() -> OTelSdkResult + Send>);

fn flush_jobs(p: &Pipeline) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::new();
    if let Some(tp) = p.tracer.clone() {
        jobs.push(("traces", Box::new(move || tp.force_flush())));
    }
    if let Some(mp) = p.meter.clone() {
        jobs.push(("metrics", Box::new(move || mp.force_flush())));
    }
    if let Some(lp) = p.logger.clone() {
        jobs.push(("logs", Box::new(move || lp.force_flush())));
    }
    jobs
}

fn shutdown_pipeline(mut p: Pipeline, timeout: Duration) -> Result<(), Error> {
    let mut jobs: Vec<Job> = Vec::new();
    if let Some(tp) = p.tracer.take() {
        jobs.push((
            "traces",
            Box::new(move || tp.shutdown_with_timeout(timeout)),
        ));
    }
    if let Some(mp) = p.meter.take() {
        jobs.push((
            "metrics",
            Box::new(move || mp.shutdown_with_timeout(timeout)),
        ));
    }
    if let Some(lp) = p.logger.take() {
        jobs.push(("logs", Box::new(move || lp.shutdown_with_timeout(timeout))));
    }
    let result = run_with_deadline("shutdown", timeout, jobs);
    // Exports still in flight after the deadline are abandoned: the runtime
    // is torn down without waiting, which is allowed even from async code.
    p.rt.mark_dead();
    if let Some(runtime) = p.runtime.take() {
        runtime.shutdown_background();
    }
    result
}

/// Runs each job on its own thread and waits for all of them, but no longer
/// than `deadline`. Provider shutdown blocks on the SDK's worker threads and
/// can exceed its own timeout (e.g. joining a thread stuck in an export), so
/// only a thread we can walk away from gives a hard upper bound.
fn run_with_deadline(
    operation: &'static str,
    deadline: Duration,
    jobs: Vec<Job>,
) -> Result<(), Error> {
    let end = Instant::now() + deadline;
    let (tx, rx) = mpsc::channel::<(&'static str, OTelSdkResult)>();
    let mut pending = 0usize;
    let mut failures = Vec::new();
    for (name, job) in jobs {
        let tx = tx.clone();
        let spawned = std::thread::Builder::new()
            .name(WORKER_NAME.to_owned())
            .spawn(move || {
                let _ = tx.send((name, job()));
            });
        match spawned {
            Ok(_) => pending += 1,
            Err(e) => failures.push(format!("{name}: cannot start a thread: {e}")),
        }
    }
    drop(tx);
    while pending > 0 {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((_, Ok(()))) => pending -= 1,
            Ok((name, Err(e))) => {
                pending -= 1;
                failures.push(format!("{name}: {e}"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(Error::new(ErrorKind::Timeout {
                    operation,
                    after: deadline,
                }));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failures.push("a worker thread panicked".to_owned());
                break;
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::Signals {
            operation,
            failures,
        }))
    }
}

/// Runs a blocking, deadline-bounded operation on a helper thread and awaits
/// its result. The oneshot receiver works under any executor, so this needs
/// no Tokio runtime from the caller.
async fn off_thread(f: impl FnOnce() -> Result<(), Error> + Send + 'static) -> Result<(), Error> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(WORKER_NAME.to_owned())
        .spawn(move || {
            let _ = tx.send(f());
        });
    match spawned {
        Ok(_) => rx.await.unwrap_or_else(|_| {
            Err(Error::new(ErrorKind::Signals {
                operation: "shutdown",
                failures: vec!["the shutdown thread panicked".to_owned()],
            }))
        }),
        Err(e) => Err(Error::new(ErrorKind::Runtime(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::error::OTelSdkError;

    #[test]
    fn deadline_bounds_stuck_jobs() {
        let jobs: Vec<Job> = vec![
            ("fast", Box::new(|| Ok(()))),
            (
                "stuck",
                Box::new(|| {
                    std::thread::sleep(Duration::from_secs(3600));
                    Ok(())
                }),
            ),
        ];
        let err = run_with_deadline("shutdown", Duration::from_millis(50), jobs).unwrap_err();
        assert!(err.is_timeout(), "{err}");
    }

    #[test]
    fn failures_are_reported() {
        let jobs: Vec<Job> = vec![
            ("traces", Box::new(|| Ok(()))),
            (
                "logs",
                Box::new(|| Err(OTelSdkError::InternalFailure("boom".into()))),
            ),
        ];
        let err = run_with_deadline("flush", Duration::from_secs(5), jobs).unwrap_err();
        assert!(!err.is_timeout());
        assert!(err.to_string().contains("logs: "), "{err}");
        assert!(err.to_string().contains("boom"), "{err}");
    }
}
