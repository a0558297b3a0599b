//! Counting OTLP sink: an OTLP/gRPC server (traces, logs, metrics) and an OTLP/HTTP server
//! that accept gzip/zstd-compressed requests and count items with a shallow wire-format walk.
//!
//! Counts are written as JSON to `--count-file` every 200 ms and printed on stdout when the
//! process gets SIGTERM or SIGINT. With `--whole-traces` it also decodes every trace and logs
//! request and tallies which traces of `loadgen --workload traces` arrived whole
//! ([`lookout_bench::whole`]), reported under `whole` when it stops.

use std::convert::Infallible;
use std::io::Read as _;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lookout_bench::codec::RawCodec;
use lookout_bench::{LOGS_EXPORT_PATH, METRICS_EXPORT_PATH, TRACE_EXPORT_PATH, procstat, wire};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{BoxFuture, Service, http as thttp};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};

#[derive(Parser, Debug)]
#[command(about = "Counting OTLP sink (gRPC + HTTP), shallow span counting")]
struct Args {
    /// OTLP/gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:4417")]
    listen: String,
    /// Optional OTLP/HTTP listen address (POST /v1/traces, /v1/logs, /v1/metrics).
    #[arg(long)]
    http_listen: Option<String>,
    /// File rewritten with the current counts (JSON) every 200 ms.
    #[arg(long)]
    count_file: Option<PathBuf>,
    /// Also fully decode trace requests with prost and count mismatches against the shallow count.
    #[arg(long)]
    verify: bool,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Decode log requests and record, per log record, the time from its `time_unix_nano`
    /// (the moment the line was written, when the writer puts it in the line) to its arrival;
    /// percentiles go into the count file as `latency_ms`.
    #[arg(long)]
    log_latency: bool,
    /// With `--log-latency`: leave out records stamped before this sink started (a backlog
    /// read at start-up, whose delay says nothing about tailing).
    #[arg(long)]
    latency_from_start: bool,
    /// Decode trace and logs requests and tally, per trace of `loadgen --workload traces`,
    /// whether every span and record made arrived, and the delay from the root's end to its
    /// arrival (reported under `whole` when the sink stops).
    #[arg(long)]
    whole_traces: bool,
}

/// Arrival delays in microseconds (bounded: the first `LATENCY_MAX` records).
const LATENCY_MAX: usize = 4_000_000;

#[derive(Default)]
struct Counters {
    spans: AtomicU64,
    log_records: AtomicU64,
    metric_points: AtomicU64,
    trace_requests: AtomicU64,
    logs_requests: AtomicU64,
    metrics_requests: AtomicU64,
    bytes: AtomicU64,
    wire_bytes: AtomicU64,
    gzip_requests: AtomicU64,
    zstd_requests: AtomicU64,
    malformed: AtomicU64,
    verify_mismatches: AtomicU64,
}

struct State {
    counters: Counters,
    verify: bool,
    latency_us: Option<std::sync::Mutex<Vec<u64>>>,
    /// Records stamped before this (ns since the epoch) are not timed.
    latency_since_ns: u64,
    started: Instant,
    cpu_start: f64,
    whole: Option<std::sync::Mutex<lookout_bench::whole::Tally>>,
}

impl State {
    fn snapshot(&self) -> serde_json::Value {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "spans": get(&c.spans),
            "log_records": get(&c.log_records),
            "metric_points": get(&c.metric_points),
            "trace_requests": get(&c.trace_requests),
            "logs_requests": get(&c.logs_requests),
            "metrics_requests": get(&c.metrics_requests),
            "bytes_uncompressed": get(&c.bytes),
            "bytes_on_wire": get(&c.wire_bytes),
            "gzip_requests": get(&c.gzip_requests),
            "zstd_requests": get(&c.zstd_requests),
            "malformed": get(&c.malformed),
            "verify_mismatches": get(&c.verify_mismatches),
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "cpu_seconds": procstat::cpu_seconds("self").unwrap_or(0.0) - self.cpu_start,
            "peak_rss_kib": procstat::peak_rss_kib("self").unwrap_or(0),
            "latency_ms": self.latency_summary(),
        })
    }

    /// p50 / p99 / max of the recorded delays in ms, or null.
    fn latency_summary(&self) -> serde_json::Value {
        let Some(lat) = &self.latency_us else {
            return serde_json::Value::Null;
        };
        let mut v = lat.lock().map(|v| v.clone()).unwrap_or_default();
        if v.is_empty() {
            return serde_json::Value::Null;
        }
        v.sort_unstable();
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
        serde_json::json!({"count": v.len(), "p50": q(0.5), "p99": q(0.99), "max": q(1.0)})
    }

    /// Records the delay of every log record in `body` that carries a timestamp.
    fn record_latency(&self, body: &[u8]) {
        let Some(lat) = &self.latency_us else {
            return;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let Ok(req) = ExportLogsServiceRequest::decode(body) else {
            return;
        };
        let Ok(mut lat) = lat.lock() else {
            return;
        };
        for r in req
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
        {
            if r.time_unix_nano > 0
                && r.time_unix_nano >= self.latency_since_ns
                && lat.len() < LATENCY_MAX
            {
                lat.push(now.saturating_sub(r.time_unix_nano) / 1000);
            }
        }
    }

    /// With `--whole-traces`, adds a trace or logs request to the tally.
    fn tally(&self, signal: Signal, body: &[u8]) {
        let Some(whole) = &self.whole else {
            return;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let Ok(mut tally) = whole.lock() else {
            return;
        };
        match signal {
            Signal::Traces => {
                if let Ok(r) = ExportTraceServiceRequest::decode(body) {
                    tally.add_traces(&r, now);
                }
            }
            Signal::Logs => {
                if let Ok(r) = ExportLogsServiceRequest::decode(body) {
                    tally.add_logs(&r);
                }
            }
            Signal::Metrics => {}
        }
    }

    /// The snapshot with the whole-trace report, when the sink stops.
    fn final_snapshot(&self) -> serde_json::Value {
        let mut v = self.snapshot();
        if let (Some(whole), Some(map)) = (&self.whole, v.as_object_mut())
            && let Ok(tally) = whole.lock()
        {
            map.insert("whole".to_owned(), tally.report());
        }
        v
    }

    /// Counts one request of `signal`; `Err` when the body is not valid protobuf.
    fn record(&self, signal: Signal, body: &[u8]) -> Result<(), wire::WireError> {
        let c = &self.counters;
        c.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        let res = match signal {
            Signal::Traces => wire::count_spans(body).map(|n| {
                if self.verify {
                    let full = ExportTraceServiceRequest::decode(body).map_or(u64::MAX, |r| {
                        r.resource_spans
                            .iter()
                            .flat_map(|rs| &rs.scope_spans)
                            .map(|ss| ss.spans.len() as u64)
                            .sum()
                    });
                    if full != n {
                        c.verify_mismatches.fetch_add(1, Ordering::Relaxed);
                    }
                }
                c.spans.fetch_add(n, Ordering::Relaxed);
                c.trace_requests.fetch_add(1, Ordering::Relaxed);
                self.tally(signal, body);
            }),
            Signal::Logs => wire::count_log_records(body).map(|n| {
                self.record_latency(body);
                self.tally(signal, body);
                c.log_records.fetch_add(n, Ordering::Relaxed);
                c.logs_requests.fetch_add(1, Ordering::Relaxed);
            }),
            Signal::Metrics => wire::count_metric_points(body).map(|n| {
                c.metric_points.fetch_add(n, Ordering::Relaxed);
                c.metrics_requests.fetch_add(1, Ordering::Relaxed);
            }),
        };
        if res.is_err() {
            c.malformed.fetch_add(1, Ordering::Relaxed);
        }
        res
    }

    /// Counts an OTLP/JSON request body.
    fn record_json(&self, signal: Signal, body: &[u8]) -> Result<(), ()> {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
        })?;
        let (outer, inner, leaf) = match signal {
            Signal::Traces => ("resourceSpans", "scopeSpans", "spans"),
            Signal::Logs => ("resourceLogs", "scopeLogs", "logRecords"),
            Signal::Metrics => ("resourceMetrics", "scopeMetrics", "metrics"),
        };
        let arr = |v: &serde_json::Value, k: &str| -> Vec<serde_json::Value> {
            v.get(k)
                .and_then(|x| x.as_array())
                .cloned()
                .unwrap_or_default()
        };
        let mut n = 0u64;
        for r in arr(&v, outer) {
            for s in arr(&r, inner) {
                for item in arr(&s, leaf) {
                    n += match signal {
                        Signal::Metrics => [
                            "gauge",
                            "sum",
                            "histogram",
                            "exponentialHistogram",
                            "summary",
                        ]
                        .iter()
                        .filter_map(|k| item.get(*k))
                        .map(|d| arr(d, "dataPoints").len() as u64)
                        .sum(),
                        _ => 1,
                    };
                }
            }
        }
        let c = &self.counters;
        c.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        let (items, reqs) = match signal {
            Signal::Traces => (&c.spans, &c.trace_requests),
            Signal::Logs => (&c.log_records, &c.logs_requests),
            Signal::Metrics => (&c.metric_points, &c.metrics_requests),
        };
        items.fetch_add(n, Ordering::Relaxed);
        reqs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Traces,
    Logs,
    Metrics,
}

/// Type-level marker for one OTLP gRPC service.
trait SignalService: Send + Sync + 'static {
    const NAME: &'static str;
    const PATH: &'static str;
    const SIGNAL: Signal;
}

struct TraceMarker;
struct LogsMarker;
struct MetricsMarker;

impl SignalService for TraceMarker {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = TRACE_EXPORT_PATH;
    const SIGNAL: Signal = Signal::Traces;
}
impl SignalService for LogsMarker {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PATH: &'static str = LOGS_EXPORT_PATH;
    const SIGNAL: Signal = Signal::Logs;
}
impl SignalService for MetricsMarker {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const PATH: &'static str = METRICS_EXPORT_PATH;
    const SIGNAL: Signal = Signal::Metrics;
}

/// A tonic service for one OTLP signal that takes raw request bytes.
struct RawService<S> {
    state: Arc<State>,
    _marker: PhantomData<fn() -> S>,
}

impl<S> Clone for RawService<S> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            _marker: PhantomData,
        }
    }
}

impl<S: SignalService> NamedService for RawService<S> {
    const NAME: &'static str = S::NAME;
}

struct Handler {
    state: Arc<State>,
    signal: Signal,
}

impl UnaryService<Bytes> for Handler {
    type Response = Bytes;
    type Future = BoxFuture<tonic::Response<Bytes>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let res = self.state.record(self.signal, request.get_ref());
        Box::pin(async move {
            match res {
                // Every Export*ServiceResponse without partial success encodes to zero bytes.
                Ok(()) => Ok(tonic::Response::new(Bytes::new())),
                Err(e) => Err(Status::invalid_argument(e.to_string())),
            }
        })
    }
}

impl<S: SignalService> Service<thttp::Request<tonic::body::Body>> for RawService<S> {
    type Response = thttp::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: thttp::Request<tonic::body::Body>) -> Self::Future {
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            if req.uri().path() != S::PATH {
                return Ok(Status::new(Code::Unimplemented, "unknown method").into_http());
            }
            let c = &state.counters;
            match req
                .headers()
                .get("grpc-encoding")
                .map(thttp::HeaderValue::as_bytes)
            {
                Some(b"gzip") => c.gzip_requests.fetch_add(1, Ordering::Relaxed),
                Some(b"zstd") => c.zstd_requests.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
            let counted = Arc::clone(&state);
            let req = req.map(|inner| {
                tonic::body::Body::new(CountingBody {
                    inner,
                    state: counted,
                })
            });
            let mut grpc = Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(512 << 20);
            let handler = Handler {
                state,
                signal: S::SIGNAL,
            };
            Ok(grpc.unary(handler, req).await)
        })
    }
}

/// Request body wrapper that adds the size of every data frame (bytes on the wire, before
/// decompression, including gRPC frame headers) to the sink's counters.
struct CountingBody {
    inner: tonic::body::Body,
    state: Arc<State>,
}

impl http_body::Body for CountingBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.state
                .counters
                .wire_bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn raw_service<S: SignalService>(state: &Arc<State>) -> RawService<S> {
    RawService {
        state: Arc::clone(state),
        _marker: PhantomData,
    }
}

fn decompress(encoding: &str, body: Bytes) -> std::io::Result<Bytes> {
    match encoding {
        "" | "identity" => Ok(body),
        "gzip" => {
            let mut out = Vec::with_capacity(body.len() * 4);
            flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut out)?;
            Ok(out.into())
        }
        "deflate" => {
            let mut out = Vec::with_capacity(body.len() * 4);
            flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut out)?;
            Ok(out.into())
        }
        "zstd" => Ok(zstd::stream::decode_all(&body[..])?.into()),
        other => Err(std::io::Error::other(format!(
            "unsupported Content-Encoding {other}"
        ))),
    }
}

fn http_response(
    status: u16,
    content_type: &str,
    body: &'static [u8],
) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from_static(body)))
        .unwrap_or_default()
}

async fn handle_http(
    state: Arc<State>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let signal = match (req.method(), req.uri().path()) {
        (&hyper::Method::POST, "/v1/traces") => Signal::Traces,
        (&hyper::Method::POST, "/v1/logs") => Signal::Logs,
        (&hyper::Method::POST, "/v1/metrics") => Signal::Metrics,
        _ => return Ok(http_response(404, "text/plain", b"not found")),
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let encoding = header("content-encoding");
    let json = header("content-type").starts_with("application/json");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(http_response(400, "text/plain", b"body read error")),
    };
    let c = &state.counters;
    c.wire_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    match encoding.as_str() {
        "gzip" => c.gzip_requests.fetch_add(1, Ordering::Relaxed),
        "zstd" => c.zstd_requests.fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
    let Ok(body) = decompress(&encoding, body) else {
        state.counters.malformed.fetch_add(1, Ordering::Relaxed);
        return Ok(http_response(400, "text/plain", b"bad compressed body"));
    };
    if json {
        return Ok(match state.record_json(signal, &body) {
            Ok(()) => http_response(200, "application/json", b"{}"),
            Err(()) => http_response(400, "text/plain", b"bad json"),
        });
    }
    Ok(match state.record(signal, &body) {
        Ok(()) => http_response(200, "application/x-protobuf", b""),
        Err(_) => http_response(400, "text/plain", b"bad protobuf"),
    })
}

async fn serve_http(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle_http(Arc::clone(&state), req));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn write_count_file(path: &PathBuf, state: &State) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, state.snapshot().to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let state = Arc::new(State {
        counters: Counters::default(),
        verify: args.verify,
        latency_us: args.log_latency.then(|| std::sync::Mutex::new(Vec::new())),
        started: Instant::now(),
        latency_since_ns: if args.latency_from_start {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        } else {
            0
        },
        cpu_start: procstat::cpu_seconds("self").unwrap_or(0.0),
        whole: args
            .whole_traces
            .then(|| std::sync::Mutex::new(lookout_bench::whole::Tally::new())),
    });
    let grpc_listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let incoming =
        tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
    let server = tonic::transport::Server::builder()
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(16 << 20))
        .add_service(raw_service::<TraceMarker>(&state))
        .add_service(raw_service::<LogsMarker>(&state))
        .add_service(raw_service::<MetricsMarker>(&state));
    let grpc_task = tokio::spawn(server.serve_with_incoming(incoming));
    if let Some(addr) = &args.http_listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        tokio::spawn(serve_http(l, Arc::clone(&state)));
    }
    if let Some(path) = args.count_file.clone() {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                write_count_file(&path, &state);
            }
        });
    }
    eprintln!(
        "sink: gRPC on {}, HTTP on {}",
        args.listen,
        args.http_listen.as_deref().unwrap_or("-")
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        r = grpc_task => { r??; }
    }
    if let Some(path) = &args.count_file {
        write_count_file(path, &state);
    }
    println!("{}", state.final_snapshot());
    Ok(())
}
