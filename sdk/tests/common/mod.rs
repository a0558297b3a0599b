//! A local OTLP receiver for the integration tests.
//!
//! It runs on its own thread and runtime so it keeps serving no matter
//! which runtime (if any) the code under test uses or blocks.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

#[derive(Default, Clone)]
pub struct Received {
    pub traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    pub logs: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
    pub metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

/// A flattened span, enough for assertions.
#[derive(Debug, Clone)]
pub struct SpanRow {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub kind: i32,
    pub attrs: Vec<(String, String)>,
    pub resource: Vec<(String, String)>,
    pub status_code: i32,
    pub events: Vec<String>,
}

impl SpanRow {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn resource_attr(&self, key: &str) -> Option<&str> {
        self.resource
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub fn value_to_string(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn kvs(attrs: &[KeyValue]) -> Vec<(String, String)> {
    attrs
        .iter()
        .map(|kv| (kv.key.clone(), value_to_string(&kv.value)))
        .collect()
}

impl Received {
    pub fn spans(&self) -> Vec<SpanRow> {
        let mut out = Vec::new();
        for req in self.traces.lock().unwrap().iter() {
            for rs in &req.resource_spans {
                let resource = rs
                    .resource
                    .as_ref()
                    .map(|r| kvs(&r.attributes))
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push(SpanRow {
                            name: s.name.clone(),
                            trace_id: hex(&s.trace_id),
                            span_id: hex(&s.span_id),
                            parent_span_id: hex(&s.parent_span_id),
                            kind: s.kind,
                            attrs: kvs(&s.attributes),
                            resource: resource.clone(),
                            status_code: s.status.as_ref().map_or(0, |st| st.code),
                            events: s.events.iter().map(|e| e.name.clone()).collect(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Instrumentation scope names of the exported logs (the event targets).
    pub fn log_scopes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for req in self.logs.lock().unwrap().iter() {
            for rl in &req.resource_logs {
                for sl in &rl.scope_logs {
                    if let Some(scope) = &sl.scope {
                        out.push(scope.name.clone());
                    }
                }
            }
        }
        out
    }

    /// (body, trace_id hex) of every log record.
    pub fn log_records(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for req in self.logs.lock().unwrap().iter() {
            for rl in &req.resource_logs {
                for sl in &rl.scope_logs {
                    for r in &sl.log_records {
                        out.push((value_to_string(&r.body), hex(&r.trace_id)));
                    }
                }
            }
        }
        out
    }

    pub fn metric_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for req in self.metrics.lock().unwrap().iter() {
            for rm in &req.resource_metrics {
                for sm in &rm.scope_metrics {
                    out.extend(sm.metrics.iter().map(|m| m.name.clone()));
                }
            }
        }
        out
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces.lock().unwrap().push(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Received {
    async fn export(
        &self,
        req: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.logs.lock().unwrap().push(req.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics.lock().unwrap().push(req.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

pub struct Sink {
    pub addr: SocketAddr,
    pub received: Received,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sink {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An OTLP/gRPC receiver on 127.0.0.1:<random port>.
    pub fn grpc() -> Self {
        Self::start(|listener, received, stop| {
            Box::pin(async move {
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                let _ = tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(received.clone()))
                    .add_service(LogsServiceServer::new(received.clone()))
                    .add_service(MetricsServiceServer::new(received))
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stop.await;
                    })
                    .await;
            })
        })
    }

    /// An OTLP/HTTP (protobuf) receiver on 127.0.0.1:<random port>.
    pub fn http() -> Self {
        Self::start(|listener, received, stop| {
            Box::pin(async move {
                use axum::body::Bytes;
                use axum::routing::post;
                use prost::Message;
                let r1 = received.clone();
                let r2 = received.clone();
                let r3 = received;
                let app = axum::Router::new()
                    .route(
                        "/v1/traces",
                        post(move |body: Bytes| async move {
                            if let Ok(m) = ExportTraceServiceRequest::decode(body) {
                                r1.traces.lock().unwrap().push(m);
                            }
                            ExportTraceServiceResponse::default().encode_to_vec()
                        }),
                    )
                    .route(
                        "/v1/logs",
                        post(move |body: Bytes| async move {
                            if let Ok(m) = ExportLogsServiceRequest::decode(body) {
                                r2.logs.lock().unwrap().push(m);
                            }
                            ExportLogsServiceResponse::default().encode_to_vec()
                        }),
                    )
                    .route(
                        "/v1/metrics",
                        post(move |body: Bytes| async move {
                            if let Ok(m) = ExportMetricsServiceRequest::decode(body) {
                                r3.metrics.lock().unwrap().push(m);
                            }
                            ExportMetricsServiceResponse::default().encode_to_vec()
                        }),
                    );
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    })
                    .await;
            })
        })
    }

    fn start(
        serve: impl FnOnce(
            tokio::net::TcpListener,
            Received,
            tokio::sync::oneshot::Receiver<()>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>
        + Send
        + 'static,
    ) -> Self {
        let received = Received::default();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let r = received.clone();
        let thread = std::thread::spawn(move || {
            // The receiver's own h2/hyper events must not reach a global
            // subscriber installed by the test; that would blur what the
            // SDK exports.
            let _quiet = tracing::dispatcher::set_default(&tracing::Dispatch::none());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                serve(listener, r, stop_rx).await;
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            addr,
            received,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An endpoint where nothing listens: connections are refused.
pub fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// An endpoint that accepts TCP connections (the kernel completes the
/// handshake from the backlog) but never answers, so exports hang until a
/// timeout. Keep the listener alive for the duration of the test.
pub fn silent_endpoint() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, format!("http://{addr}"))
}

/// Runs `f` on a fresh thread and fails the test if it does not finish
/// within `limit`. This is a hang detector, not a performance assertion:
/// the limit is far above the configured shutdown deadline.
pub fn must_finish<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("operation did not finish within {limit:?}: it hangs")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the test body panicked; see the output above")
        }
    }
}
