//! OTLP/gRPC trace load generator: sends pre-encoded `ExportTraceServiceRequest`s with a
//! raw-bytes codec, `--concurrency` requests in flight, and prints a JSON report on stdout.
//! `--tls-ca` speaks TLS (rustls, ring) and `--header` adds metadata such as a bearer token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Parser;
use lookout_bench::codec::RawCodec;
use lookout_bench::gen_traces::{RequestPool, stamp};
use lookout_bench::{TRACE_EXPORT_PATH, procstat};
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
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 || args.batch_size == 0 || args.connections == 0 {
        bail!("--concurrency, --batch-size and --connections must be positive");
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
        handles.push(tokio::spawn(async move {
            let mut st = WorkerStats::default();
            let mut i = w;
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
    }))
}

/// Sends one request, retrying retryable statuses; returns the rejected span count.
async fn send_one(
    grpc: &mut Grpc<Channel>,
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
            grpc.unary(req, PathAndQuery::from_static(TRACE_EXPORT_PATH), RawCodec)
                .await
        }
        .await;
        match result {
            Ok(resp) => {
                let rejected = ExportTraceServiceResponse::decode(resp.into_inner())
                    .ok()
                    .and_then(|r| r.partial_success)
                    .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0));
                return Ok(rejected);
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
