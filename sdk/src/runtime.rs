//! The SDK-owned Tokio runtime that exporter I/O runs on.
//!
//! opentelemetry-sdk's batch processors and periodic reader run on their own
//! OS threads and drive export futures with `futures_executor::block_on`.
//! tonic channels and reqwest clients, however, need a Tokio reactor: built
//! under the caller's runtime they deadlock when that runtime is a blocked
//! current-thread runtime, and they panic when there is none. Binding every
//! export future to a runtime owned by the SDK removes the dependency on the
//! caller's runtime entirely.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::runtime::{Handle, Runtime};

use crate::error::{Error, ErrorKind};

const EXPORT_THREAD_NAME: &str = "lookout-sdk-export";

/// Builds the runtime. One worker is plenty: export work is I/O bound and
/// the machine's cores belong to the application.
pub(crate) fn build_runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .thread_name(EXPORT_THREAD_NAME)
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Runtime(e)))
}

/// A handle to the export runtime that refuses work once the runtime is shut
/// down: polling a Tokio timer whose driver is gone panics, and a panic in an
/// SDK worker thread after shutdown would only produce noise.
#[derive(Clone)]
pub(crate) struct RtHandle {
    handle: Handle,
    alive: Arc<AtomicBool>,
}

impl fmt::Debug for RtHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtHandle")
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl RtHandle {
    pub(crate) fn new(runtime: &Runtime) -> Self {
        Self {
            handle: runtime.handle().clone(),
            alive: Arc::new(AtomicBool::new(true)),
        }
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    pub(crate) fn mark_dead(&self) {
        self.alive.store(false, Ordering::Release);
    }

    /// Wraps `make()`'s future so every poll happens inside the export
    /// runtime's context and the whole export is bounded by `timeout`.
    fn run<F>(
        &self,
        timeout: Duration,
        make: impl FnOnce() -> F,
    ) -> InRuntime<impl Future<Output = OTelSdkResult>>
    where
        F: Future<Output = OTelSdkResult>,
    {
        // Entered while the exporter builds its future, in case that step
        // already touches the reactor.
        let fut = if self.is_alive() {
            let _enter = self.handle.enter();
            Some(make())
        } else {
            None
        };
        let alive = Arc::clone(&self.alive);
        let fut = async move {
            let Some(fut) = fut else {
                return Err(OTelSdkError::AlreadyShutdown);
            };
            // Constructed on first poll, which is inside the runtime context,
            // because a Tokio timer cannot be created outside one.
            match tokio::time::timeout(timeout, fut).await {
                Ok(result) => result,
                Err(_) => Err(OTelSdkError::Timeout(timeout)),
            }
        };
        InRuntime {
            handle: self.handle.clone(),
            alive,
            fut,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future polled inside the export runtime's context.
    pub(crate) struct InRuntime<F> {
        handle: Handle,
        alive: Arc<AtomicBool>,
        #[pin]
        fut: F,
    }
}

impl<F: Future<Output = OTelSdkResult>> Future for InRuntime<F> {
    type Output = OTelSdkResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !this.alive.load(Ordering::Acquire) {
            return Poll::Ready(Err(OTelSdkError::AlreadyShutdown));
        }
        let _enter = this.handle.enter();
        this.fut.poll(cx)
    }
}

/// An exporter whose I/O runs on the SDK's runtime. See the module docs.
#[derive(Debug)]
pub(crate) struct OnRuntime<E> {
    inner: E,
    rt: RtHandle,
    timeout: Duration,
}

impl<E> OnRuntime<E> {
    pub(crate) fn new(inner: E, rt: RtHandle, timeout: Duration) -> Self {
        Self { inner, rt, timeout }
    }

    fn enter<T>(&self, f: impl FnOnce(&E) -> T) -> T {
        if self.rt.is_alive() {
            let _enter = self.rt.handle.enter();
            f(&self.inner)
        } else {
            f(&self.inner)
        }
    }
}

impl<E: SpanExporter> SpanExporter for OnRuntime<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.rt.run(self.timeout, || self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.enter(|e| e.shutdown_with_timeout(timeout))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.enter(SpanExporter::force_flush)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for OnRuntime<E> {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        self.rt.run(self.timeout, || self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.enter(|e| e.shutdown_with_timeout(timeout))
    }

    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for OnRuntime<E> {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        self.rt.run(self.timeout, || self.inner.export(metrics))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.enter(PushMetricExporter::force_flush)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.enter(|e| e.shutdown_with_timeout(timeout))
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

thread_local! {
    // 0 = not yet known, 1 = internal, 2 = application thread.
    static THREAD_KIND: Cell<u8> = const { Cell::new(0) };
}

/// Whether the current thread belongs to the telemetry pipeline itself (the
/// export runtime, the SDK's batch/reader threads, our shutdown threads).
pub(crate) fn on_internal_thread() -> bool {
    THREAD_KIND.with(|kind| match kind.get() {
        1 => true,
        2 => false,
        _ => {
            let internal = std::thread::current().name().is_some_and(|name| {
                name.starts_with("lookout-sdk-") || name.starts_with("OpenTelemetry.")
            });
            kind.set(if internal { 1 } else { 2 });
            internal
        }
    })
}

/// Crates whose events, when emitted while exporting, would otherwise be
/// exported again, producing telemetry about telemetry in an endless loop.
fn is_export_stack_target(target: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "h2",
        "hyper",
        "tonic",
        "tower",
        "reqwest",
        "rustls",
        "opentelemetry",
        "want",
        "mio",
    ];
    PREFIXES.iter().any(|p| target.starts_with(p))
}

/// A per-layer filter that drops events and spans of the HTTP/gRPC stack when
/// they are emitted on an internal thread, so exporting never feeds itself.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoSelfTelemetry;

impl<S> tracing_subscriber::layer::Filter<S> for NoSelfTelemetry {
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        !(is_export_stack_target(meta.target()) && on_internal_thread())
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // Only callsites of the export stack depend on the thread; every other
        // callsite stays cacheable so application events pay nothing extra.
        if is_export_stack_target(meta.target()) {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::always()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_classification_uses_names() {
        let internal = std::thread::Builder::new()
            .name("lookout-sdk-export".into())
            .spawn(on_internal_thread)
            .unwrap()
            .join()
            .unwrap();
        let sdk = std::thread::Builder::new()
            .name("OpenTelemetry.Traces.BatchProcessor".into())
            .spawn(on_internal_thread)
            .unwrap()
            .join()
            .unwrap();
        let app = std::thread::Builder::new()
            .name("worker".into())
            .spawn(on_internal_thread)
            .unwrap()
            .join()
            .unwrap();
        assert!(internal);
        assert!(sdk);
        assert!(!app);
    }

    #[test]
    fn export_stack_targets() {
        assert!(is_export_stack_target("h2::codec"));
        assert!(is_export_stack_target("opentelemetry_sdk"));
        assert!(!is_export_stack_target("checkout::orders"));
    }

    #[test]
    fn futures_fail_fast_after_the_runtime_is_gone() {
        let runtime = build_runtime().unwrap();
        let rt = RtHandle::new(&runtime);
        let fut = rt.run(Duration::from_secs(1), || async { Ok(()) });
        rt.mark_dead();
        runtime.shutdown_background();
        let result = futures_lite_block_on(fut);
        assert!(matches!(result, Err(OTelSdkError::AlreadyShutdown)));
    }

    #[test]
    fn futures_run_with_a_reactor_from_a_plain_thread() {
        let runtime = build_runtime().unwrap();
        let rt = RtHandle::new(&runtime);
        // tokio::time::sleep panics without a runtime context; inside the
        // wrapper it must work from a thread that has none.
        let fut = rt.run(Duration::from_secs(5), || async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(())
        });
        let result =
            std::thread::scope(|s| s.spawn(move || futures_lite_block_on(fut)).join().unwrap());
        assert!(result.is_ok());
        let fut = rt.run(Duration::from_millis(10), || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        });
        let result =
            std::thread::scope(|s| s.spawn(move || futures_lite_block_on(fut)).join().unwrap());
        assert!(matches!(result, Err(OTelSdkError::Timeout(_))));
        runtime.shutdown_background();
    }

    /// A minimal executor, like the `futures_executor::block_on` the SDK's
    /// worker threads use: it has no Tokio context of its own.
    fn futures_lite_block_on<F: Future>(fut: F) -> F::Output {
        use std::task::{Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(fut);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }
}
