//! OTLP/gRPC trace load generator: sends pre-encoded `ExportTraceServiceRequest`s with a
//! raw-bytes codec, `--concurrency` requests in flight, and prints a JSON report on stdout.
//! `--tls-ca` speaks TLS (rustls, ring) and `--header` adds metadata such as a bearer token.
//! With `--workload traces` it makes realistic traces as it goes instead
//! ([`lookout_bench::workload`]: fan-out 5–50, a few percent slow or failing, optional log
//! records), each root ending when it is sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Parser;
use lookout_bench::codec::RawCodec;
use lookout_bench::gen_traces::{RequestPool, stamp};
use lookout_bench::workload::{Class, Mix, Workload};
use lookout_bench::{LOGS_EXPORT_PATH, TRACE_EXPORT_PATH, procstat};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tonic::client::Grpc;
use tonic::codec::CompressionEncoding;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request};

#[derive(Parser, Debug)]
#[command(about = "OTLP/gRPC trace load generator (pre-encoded requests, raw-bytes codec)")]
struct Args {
    /// Target host:port of an OTLP gRPC receiver.
    #[arg(long, default_value = "127.0.0.1:4317")]
    endpoint: String,
    /// Spans per request.
    #[arg(long, default_value_t = 512)]
    batch_size: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// HTTP/2 connections the in-flight requests are spread over.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Run for this many seconds (ignored when --requests is given).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Send exactly this many requests (successful or failed) instead of running for a duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Distinct pre-encoded requests in the pool.
    #[arg(long, default_value_t = 64)]
    pool: usize,
    /// Seed of the request generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Compress requests: none, gzip or zstd (costs load generator CPU).
    #[arg(long, default_value = "none")]
    compression: String,
    /// Seconds to keep trying to connect before giving up.
    #[arg(long, default_value_t = 15.0)]
    wait_ready: f64,
    /// Retries per request on UNAVAILABLE / RESOURCE_EXHAUSTED before counting it failed.
    #[arg(long, default_value_t = 50)]
    max_retries: u32,
    /// Per-attempt timeout in seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Give every send its own trace ids (a copy of the pooled request with its ids stamped),
    /// so a collector that keeps per-trace state meets new traces as in production instead of
    /// the pool's few thousand again and again.
    #[arg(long)]
    fresh_trace_ids: bool,
    /// Speak TLS, trusting the CA (or self-signed certificate) in this PEM file.
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// Server name the certificate must carry (with --tls-ca).
    #[arg(long, default_value = "localhost")]
    tls_server_name: String,
    /// A header (gRPC metadata) on every request, as `name=value`; repeatable. For bearer
    /// authentication: `--header "authorization=Bearer TOKEN"`.
    #[arg(long = "header", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// `pool` (the pre-encoded requests) or `traces` (realistic traces made as they are sent:
    /// a root and 5–50 children over several services; --batch-size is then the least spans
    /// per request, whole traces only).
    #[arg(long, default_value = "pool")]
    workload: String,
    /// With `--workload traces`: percent of traces with one child 10–30 × its usual duration.
    #[arg(long, default_value_t = 1.0)]
    slow_percent: f64,
    /// With `--workload traces`: percent of traces with an error span.
    #[arg(long, default_value_t = 1.0)]
    error_percent: f64,
    /// With `--workload traces --logs`: percent of traces with an ERROR log record.
    #[arg(long, default_value_t = 1.0)]
    error_log_percent: f64,
    /// With `--workload traces`: also send log records sharing the trace ids (one INFO record
    /// per trace, plus the ERROR ones), in a logs request after each trace request.
    #[arg(long)]
    logs: bool,
    /// With `--workload traces`: traces each worker makes before its first slow one (the
    /// latency detector's warm-up).
    #[arg(long, default_value_t = 1000)]
    warmup_traces: u64,
    /// With `--workload traces`: traces per second over all workers (0: as fast as accepted).
    #[arg(long, default_value_t = 0.0)]
    traces_per_second: f64,
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected name=value, got {s:?}"))?;
    Ok((name.trim().to_ascii_lowercase(), value.to_string()))
}

#[derive(Default)]
struct WorkerStats {
    ok: u64,
    failed: u64,
    retries: u64,
    spans_accepted: u64,
    spans_rejected: u64,
    spans_failed: u64,
    latencies_us: Vec<u32>,
    errors: Vec<String>,
    /// `--workload traces`: traces made by class, in [`Class::ALL`] order.
    traces_made: [u64; 4],
    /// Traces whose spans (and records) were all accepted, by class.
    traces_accepted: [u64; 4],
    logs_accepted: u64,
    logs_failed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 || args.batch_size == 0 || args.connections == 0 {
        bail!("--concurrency, --batch-size and --connections must be positive");
    }
    if !matches!(args.workload.as_str(), "pool" | "traces") {
        bail!("--workload is pool or traces, not {}", args.workload);
    }
    let pool = RequestPool::generate(args.pool.max(1), args.batch_size, args.seed);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let report = rt.block_on(run(&args, pool))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn connect(args: &Args) -> anyhow::Result<Channel> {
    let scheme = if args.tls_ca.is_some() {
        "https"
    } else {
        "http"
    };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", args.endpoint))?
        .tcp_nodelay(true)
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(16 << 20));
    if let Some(ca) = &args.tls_ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        endpoint = endpoint.tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(pem))
                .domain_name(args.tls_server_name.clone()),
        )?;
    }
    let deadline = Instant::now() + Duration::from_secs_f64(args.wait_ready);
    loop {
        match endpoint.connect().await {
            Ok(ch) => return Ok(ch),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("connecting to {}", args.endpoint)),
        }
    }
}

async fn run(args: &Args, pool: RequestPool) -> anyhow::Result<serde_json::Value> {
    let compression = match args.compression.as_str() {
        "none" => None,
        "gzip" => Some(CompressionEncoding::Gzip),
        "zstd" => Some(CompressionEncoding::Zstd),
        other => bail!("unknown --compression {other}"),
    };
    let mut metadata = MetadataMap::new();
    for (name, value) in &args.headers {
        let key = AsciiMetadataKey::from_bytes(name.as_bytes())
            .with_context(|| format!("header name {name:?}"))?;
        let value = AsciiMetadataValue::try_from(value.as_str())
            .with_context(|| format!("header value for {name:?}"))?;
        metadata.insert(key, value);
    }
    let metadata = Arc::new(metadata);
    let mut channels = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        channels.push(connect(args).await?);
    }
    let cpu_start = procstat::cpu_seconds("self").unwrap_or(0.0);
    let requests = Arc::new(pool.requests.clone());
    let offsets = Arc::new(pool.trace_id_offsets.clone());
    let fresh = args.fresh_trace_ids;
    let sends = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let mut handles = Vec::with_capacity(args.concurrency);
    for w in 0..args.concurrency {
        let mut grpc = Grpc::new(channels[w % channels.len()].clone())
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(256 << 20);
        if let Some(c) = compression {
            grpc = grpc.send_compressed(c);
        }
        let requests = Arc::clone(&requests);
        let metadata = Arc::clone(&metadata);
        let offsets = Arc::clone(&offsets);
        let sends = Arc::clone(&sends);
        let stop = Arc::clone(&stop);
        let issued = Arc::clone(&issued);
        let limit = args.requests;
        let max_retries = args.max_retries;
        let timeout = Duration::from_secs_f64(args.timeout);
        let batch = args.batch_size as u64;
        let args_batch = args.batch_size;
        let mut workload = (args.workload == "traces").then(|| {
            let mix = Mix {
                slow_percent: args.slow_percent,
                error_percent: args.error_percent,
                error_log_percent: args.error_log_percent,
                logs: args.logs,
                warmup_traces: args.warmup_traces,
            };
            Workload::new(mix, args.seed.wrapping_mul(1000) + w as u64)
        });
        let per_worker_rate = args.traces_per_second / args.concurrency as f64;
        handles.push(tokio::spawn(async move {
            let mut st = WorkerStats::default();
            let mut i = w;
            let paced_from = Instant::now();
            let mut made = 0u64;
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match limit {
                    Some(n) => {
                        if issued.fetch_add(1, Ordering::Relaxed) >= n {
                            break;
                        }
                    }
                    None => {
                        if Instant::now() >= deadline {
                            break;
                        }
                    }
                }
                if let Some(workload) = workload.as_mut() {
                    if per_worker_rate > 0.0 {
                        let due =
                            paced_from + Duration::from_secs_f64(made as f64 / per_worker_rate);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    made += send_traces(
                        &mut grpc,
                        workload,
                        args_batch,
                        &metadata,
                        max_retries,
                        timeout,
                        &mut st,
                    )
                    .await;
                    continue;
                }
                let k = i % requests.len();
                let body = if fresh {
                    stamp(
                        &requests[k],
                        &offsets[k],
                        sends.fetch_add(1, Ordering::Relaxed),
                    )
                } else {
                    requests[k].clone()
                };
                i += 1;
                let t0 = Instant::now();
                match send_one(
                    &mut grpc,
                    TRACE_EXPORT_PATH,
                    body,
                    &metadata,
                    max_retries,
                    timeout,
                    &mut st.retries,
                )
                .await
                {
                    Ok(rejected) => {
                        st.ok += 1;
                        let rejected = rejected.min(batch);
                        st.spans_rejected += rejected;
                        st.spans_accepted += batch - rejected;
                        let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                        st.latencies_us.push(us);
                    }
                    Err(e) => {
                        st.failed += 1;
                        st.spans_failed += batch;
                        if st.errors.len() < 5 {
                            st.errors.push(e);
                        }
                    }
                }
            }
            st
        }));
    }
    let mut total = WorkerStats::default();
    for h in handles {
        let st = h.await?;
        total.ok += st.ok;
        total.failed += st.failed;
        total.retries += st.retries;
        total.spans_accepted += st.spans_accepted;
        total.spans_rejected += st.spans_rejected;
        total.spans_failed += st.spans_failed;
        total.latencies_us.extend(st.latencies_us);
        for k in 0..4 {
            total.traces_made[k] += st.traces_made[k];
            total.traces_accepted[k] += st.traces_accepted[k];
        }
        total.logs_accepted += st.logs_accepted;
        total.logs_failed += st.logs_failed;
        for e in st.errors {
            if total.errors.len() < 10 {
                total.errors.push(e);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = procstat::cpu_seconds("self").unwrap_or(0.0) - cpu_start;
    total.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        let v = &total.latencies_us;
        if v.is_empty() {
            return 0.0;
        }
        let idx = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        f64::from(v[idx]) / 1000.0
    };
    Ok(serde_json::json!({
        "endpoint": args.endpoint,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "connections": args.connections,
        "compression": args.compression,
        "fresh_trace_ids": args.fresh_trace_ids,
        "tls": args.tls_ca.is_some(),
        "headers": args.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
        "bytes_per_span": (pool.bytes_per_span * 10.0).round() / 10.0,
        "elapsed_s": elapsed,
        "requests_ok": total.ok,
        "requests_failed": total.failed,
        "retries": total.retries,
        "spans_sent": total.spans_accepted,
        "spans_rejected": total.spans_rejected,
        "spans_failed": total.spans_failed,
        "spans_per_s": total.spans_accepted as f64 / elapsed.max(1e-9),
        "latency_ms": { "p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0) },
        "cpu_seconds": cpu,
        "errors": total.errors,
        "workload": (args.workload == "traces").then(|| {
            let by_class = |v: &[u64; 4]| -> serde_json::Map<String, serde_json::Value> {
                Class::ALL
                    .iter()
                    .zip(v)
                    .map(|(c, n)| (c.label().to_owned(), serde_json::json!(n)))
                    .collect()
            };
            serde_json::json!({
                "traces_made": by_class(&total.traces_made),
                "traces_accepted": by_class(&total.traces_accepted),
                "log_records_accepted": total.logs_accepted,
                "log_records_failed": total.logs_failed,
                "mix": {"slow_percent": args.slow_percent, "error_percent": args.error_percent,
                        "error_log_percent": args.error_log_percent, "logs": args.logs,
                        "warmup_traces": args.warmup_traces,
                        "traces_per_second": args.traces_per_second},
            })
        }),
    }))
}

/// Makes and sends one batch of whole traces (and their log records); returns the traces
/// made. A trace counts as accepted when its spans and its records were.
async fn send_traces(
    grpc: &mut Grpc<Channel>,
    workload: &mut Workload,
    min_spans: usize,
    metadata: &MetadataMap,
    max_retries: u32,
    timeout: Duration,
    st: &mut WorkerStats,
) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let (traces, logs, made) = workload.batch(min_spans, now);
    let spans: u64 = made.iter().map(|m| m.spans as u64).sum();
    let records: u64 = made.iter().map(|m| m.logs as u64).sum();
    for m in &made {
        st.traces_made[class_index(m.class)] += 1;
    }
    let t0 = Instant::now();
    let body = Bytes::from(traces.encode_to_vec());
    let spans_ok = match send_one(
        grpc,
        TRACE_EXPORT_PATH,
        body,
        metadata,
        max_retries,
        timeout,
        &mut st.retries,
    )
    .await
    {
        Ok(rejected) => {
            st.ok += 1;
            st.spans_rejected += rejected.min(spans);
            st.spans_accepted += spans - rejected.min(spans);
            let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
            st.latencies_us.push(us);
            rejected == 0
        }
        Err(e) => {
            st.failed += 1;
            st.spans_failed += spans;
            if st.errors.len() < 5 {
                st.errors.push(e);
            }
            false
        }
    };
    let logs_ok = match logs {
        None => true,
        Some(logs) => {
            let body = Bytes::from(logs.encode_to_vec());
            match send_one(
                grpc,
                LOGS_EXPORT_PATH,
                body,
                metadata,
                max_retries,
                timeout,
                &mut st.retries,
            )
            .await
            {
                Ok(0) => {
                    st.logs_accepted += records;
                    true
                }
                Ok(rejected) => {
                    st.logs_accepted += records - rejected.min(records);
                    st.logs_failed += rejected.min(records);
                    false
                }
                Err(e) => {
                    st.logs_failed += records;
                    if st.errors.len() < 5 {
                        st.errors.push(e);
                    }
                    false
                }
            }
        }
    };
    if spans_ok && logs_ok {
        for m in &made {
            st.traces_accepted[class_index(m.class)] += 1;
        }
    }
    made.len() as u64
}

fn class_index(class: Class) -> usize {
    Class::ALL.iter().position(|c| *c == class).unwrap_or(0)
}

/// Sends one request to `path` (the trace or logs export), retrying retryable statuses;
/// returns the rejected span (or log record) count.
async fn send_one(
    grpc: &mut Grpc<Channel>,
    path: &'static str,
    body: Bytes,
    metadata: &MetadataMap,
    max_retries: u32,
    timeout: Duration,
    retries: &mut u64,
) -> Result<u64, String> {
    let mut backoff = Duration::from_millis(5);
    let mut attempt = 0;
    loop {
        let result = async {
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let mut req = Request::new(body.clone());
            *req.metadata_mut() = metadata.clone();
            req.set_timeout(timeout);
            grpc.unary(req, PathAndQuery::from_static(path), RawCodec)
                .await
        }
        .await;
        match result {
            Ok(resp) => {
                let body = resp.into_inner();
                let rejected = if path == LOGS_EXPORT_PATH {
                    ExportLogsServiceResponse::decode(body)
                        .ok()
                        .and_then(|r| r.partial_success)
                        .map_or(0, |p| p.rejected_log_records)
                } else {
                    ExportTraceServiceResponse::decode(body)
                        .ok()
                        .and_then(|r| r.partial_success)
                        .map_or(0, |p| p.rejected_spans)
                };
                return Ok(u64::try_from(rejected).unwrap_or(0));
            }
            Err(s)
                if matches!(s.code(), Code::Unavailable | Code::ResourceExhausted)
                    && attempt < max_retries =>
            {
                attempt += 1;
                *retries += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
            Err(s) => return Err(format!("{:?}: {}", s.code(), s.message())),
        }
    }
}
