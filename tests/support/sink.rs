//! An OTLP/gRPC test sink: tonic's generated TraceService, MetricsService and LogsService
//! servers (opentelemetry-proto, prost decoding: independent of Lookout's wire code), accepting
//! gzip and zstd, recording every request (or, started with [`Sink::start_counting`], only
//! counting spans). It can be told to refuse with UNAVAILABLE, and stopped;
//! [`Sink::start_serial`] starts one that serves trace exports one at a time, slowly.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

/// What the sink has received, shared with its server.
#[derive(Default)]
pub(crate) struct Received {
    traces: Mutex<Vec<ExportTraceServiceRequest>>,
    metrics: Mutex<Vec<ExportMetricsServiceRequest>>,
    logs: Mutex<Vec<ExportLogsServiceRequest>>,
    encodings: Mutex<Vec<String>>,
    unavailable: AtomicBool,
    refused_calls: AtomicUsize,
    /// Serve trace exports one at a time, taking this long per 1,000 spans.
    serial: Option<Duration>,
    turn: tokio::sync::Mutex<()>,
    /// When the first and the last trace export were accepted.
    served: Mutex<Option<(Instant, Instant)>>,
    /// Count trace exports' spans instead of keeping the requests (for loads of millions).
    count_only: bool,
    /// Spans of the trace exports counted and not kept.
    counted_spans: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Received {
    fn admit<T>(&self, request: &Request<T>) -> Result<(), Status> {
        if self.unavailable.load(Ordering::SeqCst) {
            self.refused_calls.fetch_add(1, Ordering::SeqCst);
            return Err(Status::unavailable("test sink told to refuse"));
        }
        let encoding = request
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .to_string();
        lock(&self.encodings).push(encoding);
        Ok(())
    }

    /// Holds a trace export of `spans` spans as a serial sink would, and notes when it ended.
    async fn serve(&self, spans: usize) {
        if let Some(per_thousand) = self.serial {
            let _turn = self.turn.lock().await;
            tokio::time::sleep(per_thousand * u32::try_from(spans).unwrap_or(u32::MAX) / 1000)
                .await;
        }
        let now = Instant::now();
        let mut served = lock(&self.served);
        let first = served.map_or(now, |(first, _)| first);
        *served = Some((first, now));
    }
}

#[derive(Clone)]
struct Service(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.0.admit(&request)?;
        let spans = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.serve(spans).await;
        if self.0.count_only {
            self.0.counted_spans.fetch_add(spans, Ordering::SeqCst);
        } else {
            lock(&self.0.traces).push(request.into_inner());
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Service {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.0.admit(&request)?;
        lock(&self.0.metrics).push(request.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Service {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.0.admit(&request)?;
        lock(&self.0.logs).push(request.into_inner());
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// A running sink on 127.0.0.1. Stops when dropped.
pub(crate) struct Sink {
    /// The port it listens on.
    pub(crate) port: u16,
    received: Arc<Received>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

const MAX_MESSAGE: usize = 256 << 20;

impl Sink {
    /// Binds an ephemeral port and serves.
    pub(crate) async fn start() -> Sink {
        Sink::start_with(Received::default()).await
    }

    /// A sink that serves trace exports one at a time, each taking `per_thousand` per 1,000
    /// spans: a destination that decodes slowly and does not scale with concurrency.
    pub(crate) async fn start_serial(per_thousand: Duration) -> Sink {
        Sink::start_with(Received {
            serial: Some(per_thousand),
            ..Received::default()
        })
        .await
    }

    /// A sink that counts the spans of trace exports and keeps none of them
    /// ([`Sink::traces`] stays empty; [`Sink::span_count`] counts them).
    pub(crate) async fn start_counting() -> Sink {
        Sink::start_with(Received {
            count_only: true,
            ..Received::default()
        })
        .await
    }

    /// When the first and the last trace export were accepted.
    pub(crate) fn served(&self) -> Option<(Instant, Instant)> {
        *lock(&self.received.served)
    }

    async fn start_with(received: Received) -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let port = listener.local_addr().expect("sink address").port();
        let received = Arc::new(received);
        let service = Service(Arc::clone(&received));
        let (tx, rx) = oneshot::channel::<()>();
        let router = tonic::transport::Server::builder()
            .add_service(
                TraceServiceServer::new(service.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(MAX_MESSAGE),
            )
            .add_service(
                MetricsServiceServer::new(service.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(MAX_MESSAGE),
            )
            .add_service(
                LogsServiceServer::new(service)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(MAX_MESSAGE),
            );
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let task = tokio::spawn(async move {
            let _ = router
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = rx.await;
                })
                .await;
        });
        Sink {
            port,
            received,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// From now on answer every export with UNAVAILABLE (`true`) or accept again (`false`).
    pub(crate) fn set_unavailable(&self, refuse: bool) {
        self.received.unavailable.store(refuse, Ordering::SeqCst);
    }

    /// Exports refused with UNAVAILABLE so far.
    pub(crate) fn refused_calls(&self) -> usize {
        self.received.refused_calls.load(Ordering::SeqCst)
    }

    /// Stops serving and closes the listener.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Trace export requests received, in order.
    pub(crate) fn traces(&self) -> Vec<ExportTraceServiceRequest> {
        lock(&self.received.traces).clone()
    }

    /// Metrics export requests received, in order.
    pub(crate) fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        lock(&self.received.metrics).clone()
    }

    /// Logs export requests received, in order.
    pub(crate) fn logs(&self) -> Vec<ExportLogsServiceRequest> {
        lock(&self.received.logs).clone()
    }

    /// The `grpc-encoding` of every accepted request (`identity` when absent).
    pub(crate) fn encodings(&self) -> Vec<String> {
        lock(&self.received.encodings).clone()
    }

    /// Accepted export requests of any signal.
    pub(crate) fn requests(&self) -> usize {
        lock(&self.received.encodings).len()
    }

    /// Spans received.
    pub(crate) fn span_count(&self) -> usize {
        self.received.counted_spans.load(Ordering::SeqCst)
            + lock(&self.received.traces)
                .iter()
                .flat_map(|r| &r.resource_spans)
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>()
    }

    /// Metric data points received (counted as the Collector counts them).
    pub(crate) fn point_count(&self) -> usize {
        lock(&self.received.metrics)
            .iter()
            .flat_map(|r| &r.resource_metrics)
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| match &m.data {
                Some(Data::Gauge(g)) => g.data_points.len(),
                Some(Data::Sum(s)) => s.data_points.len(),
                Some(Data::Histogram(h)) => h.data_points.len(),
                Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                Some(Data::Summary(s)) => s.data_points.len(),
                None => 0,
            })
            .sum()
    }

    /// Log records received.
    pub(crate) fn log_count(&self) -> usize {
        lock(&self.received.logs)
            .iter()
            .flat_map(|r| &r.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
