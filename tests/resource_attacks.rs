//! Resource attacks on the OTLP receiver, each sent to the real binary while a well-behaved
//! client exports beside it (issue 14). Every test asserts what was refused and how, that the
//! well-behaved client was served during the attack and after it (and the real OpenTelemetry
//! Python SDK after it, and while the stream floods hold their connections open), that the
//! process is still alive, and that its peak resident memory (`VmHWM`) stayed under a bound far below what the
//! attack would cost unbounded. The figures (printed with `--nocapture`) are in SECURITY.md,
//! "Resource attacks".
//!
//! - AnyValue nested 10,000 and 100,000 levels (kvlist and array; protobuf over HTTP and gRPC,
//!   OTLP/JSON): 400 / INVALID_ARGUMENT naming the nesting limit; no stack overflow. Nested at
//!   `limits: max_nesting_depth` (10 in the test): taken and delivered; one deeper: refused.
//! - A million attributes on one span and on one resource: refused whole, naming
//!   `max_attributes` (HTTP 400; gRPC RESOURCE_EXHAUSTED at 4 MiB, INVALID_ARGUMENT for
//!   200,000 attributes under it; OTLP/JSON 400).
//! - Lying lengths: a protobuf length prefix of 2^40 in a 17-byte body, a gRPC prefix of
//!   4 GiB on a stream left open, an HTTP `Content-Length` of 100 GB on a connection left
//!   open: refused at once, long before `read_timeout`, with nothing allocated for them.
//! - Decompression bombs, gzip, deflate and zstd, on both protocols (10 GiB behind 10 MB over
//!   HTTP, 4 GiB behind 4 MB over gRPC): 413 / RESOURCE_EXHAUSTED at the decompressed limit.
//! - HTTP/2 streams opened without data: 10,000 on one connection are refused beyond
//!   `max_concurrent_streams`; 100 connections each holding 100 open calls cost bounded memory.
//! - 30,000 open gRPC calls (300 connections x 100) against `max_concurrent_requests: 1000`:
//!   the rest refused UNAVAILABLE and counted, memory bounded, good clients served (stalled
//!   calls are ended to make room). Over a cap of 4 held by clients that keep sending: HTTP
//!   503 + `Retry-After: 1` before a 100 GB body is read, gRPC UNAVAILABLE; once they stall,
//!   a good client gets in.
//!
//! `LOOKOUT_BIN=target/release/lookout` runs them against a release build.

mod support;

#[path = "resource_attacks/craft.rs"]
mod craft;

use std::time::{Duration, Instant};

use craft::{Nesting, h2};
use prost::Message;
use support::sink::Sink;
use support::{
    GRPC_TRACES, Lookout, encode, grpc_call, grpc_frame, grpc_traces, http_client, otlp_exporter,
    otlp_receiver, run_send_py, service, trace_request,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;

/// The receiver's `read_timeout` in these tests: an attack answered before it was refused on
/// what it claimed, not timed out.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Peak resident memory allowed for a debug build under any of these attacks. An idle debug
/// build peaks around 30-40 MiB; each attack, unbounded, would cost gigabytes.
const RSS_BOUND_MIB: u64 = 256;

/// A collector with the default limits (20 MiB HTTP bodies, 4 MiB gRPC messages, 100
/// streams per connection) but `read_timeout`, exporting to `sink` (with a 60 s deadline).
async fn start(sink: &Sink, grpc_extra: &str, http_extra: &str) -> Lookout {
    start_limited(sink, grpc_extra, http_extra, "").await
}

/// [`start`] with the receiver's `limits:` block set to `limits` (a YAML flow mapping).
async fn start_limited(sink: &Sink, grpc_extra: &str, http_extra: &str, limits: &str) -> Lookout {
    let read_timeout = format!("        read_timeout: {}s\n", READ_TIMEOUT.as_secs());
    let limits = if limits.is_empty() {
        String::new()
    } else {
        format!("    limits: {limits}\n")
    };
    Lookout::start(|p| {
        let pipelines = "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n";
        format!(
            "{}processors:\n  batch:\n    timeout: 20ms\nexporters:\n{}{}",
            otlp_receiver(
                p,
                &format!("{read_timeout}{grpc_extra}"),
                &format!("{read_timeout}{http_extra}")
            ) + &limits,
            // The test sink decodes 1,000,000 attributes slowly in a debug build on a busy
            // machine: a deadline well past the default 5 s keeps the export from timing out.
            otlp_exporter("otlp", sink.port, "none") + "    timeout: 60s\n",
            service(p, pipelines)
        )
    })
    .await
}

/// One good export over each protocol (3 spans named `<prefix>-*` each), asserting success
/// at the first try.
async fn well_behaved(lookout: &Lookout, prefix: &str) {
    well_behaved_retrying(lookout, prefix, 0).await;
}

/// Well-behaved exports, one pair after another, until `attack` finishes; returns its result
/// and how many pairs were served meanwhile (at least one: the first starts with the attack).
async fn beside<T>(lookout: &Lookout, attack: impl Future<Output = T>) -> (T, usize) {
    let served = std::sync::atomic::AtomicUsize::new(0);
    let good = async {
        loop {
            well_behaved(lookout, "during").await;
            served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let out = tokio::select! {
        out = async {
            let out = attack.await;
            // Let the good client finish at least one pair started during the attack.
            while served.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            out
        } => out,
        () = good => unreachable!("the good client loops forever"),
    };
    (out, served.into_inner())
}

/// The real OpenTelemetry Python SDK exports spans over gRPC and over OTLP/HTTP (protobuf,
/// gzip) at once; `send.py` exits non-zero, failing the test, if an export is not a success.
async fn python_client(lookout: &Lookout) {
    let grpc = format!("127.0.0.1:{}", lookout.ports.grpc);
    let http = format!("http://127.0.0.1:{}", lookout.ports.http);
    let (over_grpc, over_http) = tokio::join!(
        run_send_py("grpc", &grpc, "traces", lookout, &[]),
        run_send_py("http", &http, "traces", lookout, &[]),
    );
    assert!(!over_grpc.is_empty() && !over_http.is_empty());
}

/// After the attack: still alive, serving (the hand-made client and the Python SDK), under
/// the memory bound; prints the figure.
async fn assert_survived(lookout: Lookout, what: &str, started: Instant) -> u64 {
    well_behaved(&lookout, "after").await;
    python_client(&lookout).await;
    let peak = lookout.peak_rss_kib() / 1024;
    eprintln!(
        "[figure] {what}: peak RSS {peak} MiB, attack + checks took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        peak < RSS_BOUND_MIB,
        "{what}: peak RSS {peak} MiB over {RSS_BOUND_MIB} MiB"
    );
    lookout.stop_ok().await;
    peak
}

async fn post(
    lookout: &Lookout,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
        .post(lookout.http_url("/v1/traces"))
        .header("content-type", content_type)
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.send().await.expect("HTTP request")
}

/// The HTTP status and the `google.rpc.Status` (code, message) of a protobuf error answer.
async fn protobuf_status(response: reqwest::Response) -> (u16, i32, String) {
    let http = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    let status = tonic_types::Status::decode(body).expect("a google.rpc.Status body");
    (http, status.code, status.message)
}

// ---- nesting --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_any_value_is_refused_without_overflowing_the_stack() {
    let sink = Sink::start().await;
    let lookout = start(&sink, "", "").await;
    let started = Instant::now();
    let ((), served) = beside(&lookout, async {
        for nesting in [Nesting::KvList, Nesting::Array] {
            for depth in [10_000, 100_000] {
                let body = craft::nested_request(nesting, depth);
                let what = format!("{nesting:?} nested {depth} deep ({} bytes)", body.len());
                let (http, code, message) = protobuf_status(
                    post(&lookout, "application/x-protobuf", None, body.clone()).await,
                )
                .await;
                assert_eq!((http, code), (400, 3), "HTTP, {what}: {message}");
                assert!(
                    message.contains("nested deeper than max_nesting_depth (31 levels)"),
                    "HTTP, {what}: {message}"
                );
                if body.len() < 4 << 20 {
                    let reply = grpc_traces(lookout.ports.grpc, &body).await;
                    assert_eq!(
                        reply.code(),
                        Code::InvalidArgument,
                        "gRPC, {what}: {reply:?}"
                    );
                    let message = reply.status.as_ref().map(|s| s.message().to_string());
                    assert!(
                        message.as_deref().is_some_and(
                            |m| m.contains("nested deeper than max_nesting_depth (31 levels)")
                        ),
                        "gRPC, {what}: {message:?}"
                    );
                }
                let json = craft::nested_json(nesting, depth);
                let response = post(&lookout, "application/json", None, json).await;
                assert_eq!(response.status().as_u16(), 400, "JSON, {what}");
                let body: serde_json::Value = response.json().await.expect("JSON status");
                assert_eq!(body["code"].as_i64(), Some(3), "JSON, {what}: {body}");
                let message = body["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains("recursion limit") || message.contains("nested"),
                    "JSON, {what}: {body}"
                );
            }
        }
    })
    .await;
    eprintln!("[figure] nesting: {served} good export pairs served during the attack");
    assert_survived(lookout, "nesting 10k/100k", started).await;
    assert!(
        sink.traces()
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .all(|s| s.name != "attacked"),
        "no nested span reached the exporter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_at_the_configured_limit_is_taken_and_one_deeper_refused() {
    const LIMIT: usize = 10;
    let sink = Sink::start().await;
    let lookout = start_limited(&sink, "", "", &format!("{{max_nesting_depth: {LIMIT}}}")).await;
    let started = Instant::now();
    let ((), served) = beside(&lookout, async {
        for nesting in [Nesting::KvList, Nesting::Array] {
            // `craft` wraps the leaf `wraps` times: the leaf sits at depth wraps + 1.
            for (wraps, ok) in [(LIMIT - 1, true), (LIMIT, false)] {
                let what = format!("{nesting:?}, innermost value at depth {}", wraps + 1);
                let body = craft::nested_request(nesting, wraps);
                let response = post(&lookout, "application/x-protobuf", None, body.clone()).await;
                let reply = grpc_traces(lookout.ports.grpc, &body).await;
                let json = post(
                    &lookout,
                    "application/json",
                    None,
                    craft::nested_json(nesting, wraps),
                )
                .await;
                if ok {
                    assert_eq!(response.status().as_u16(), 200, "HTTP, {what}");
                    assert_eq!(reply.code(), Code::Ok, "gRPC, {what}: {reply:?}");
                    assert_eq!(json.status().as_u16(), 200, "JSON, {what}");
                    continue;
                }
                let (http, code, message) = protobuf_status(response).await;
                assert_eq!((http, code), (400, 3), "HTTP, {what}: {message}");
                assert!(
                    message.contains("max_nesting_depth (10 levels)"),
                    "HTTP, {what}: {message}"
                );
                assert_eq!(
                    reply.code(),
                    Code::InvalidArgument,
                    "gRPC, {what}: {reply:?}"
                );
                let message = reply.status.as_ref().map(|s| s.message().to_string());
                assert!(
                    message
                        .as_deref()
                        .is_some_and(|m| m.contains("max_nesting_depth (10 levels)")),
                    "gRPC, {what}: {message:?}"
                );
                assert_eq!(json.status().as_u16(), 400, "JSON, {what}");
                let body: serde_json::Value = json.json().await.expect("JSON status");
                assert!(
                    body["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("max_nesting_depth (10 levels)")),
                    "JSON, {what}: {body}"
                );
            }
        }
    })
    .await;
    eprintln!("[figure] nesting at the limit: {served} good export pairs served meanwhile");
    assert_survived(lookout, "nesting at the limit", started).await;
    // Exactly the six requests at the limit (two nestings, three encodings) arrived, decoded by
    // the sink's prost with the innermost value intact.
    let depth = |v: &opentelemetry_proto::tonic::common::v1::AnyValue| {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        let mut depth = 1;
        let mut at = v;
        loop {
            let next = match &at.value {
                Some(Value::KvlistValue(l)) => l.values.first().and_then(|kv| kv.value.as_ref()),
                Some(Value::ArrayValue(a)) => a.values.first(),
                _ => None,
            };
            match next {
                Some(next) => {
                    depth += 1;
                    at = next;
                }
                None => return depth,
            }
        }
    };
    let arrived: Vec<usize> = sink
        .traces()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter(|s| s.name == "attacked")
        .filter_map(|s| s.attributes.first()?.value.as_ref().map(depth))
        .collect();
    assert_eq!(arrived, vec![LIMIT; 6], "{arrived:?}");
}

// ---- a million attributes ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_attributes_are_refused_by_max_attributes() {
    let sink = Sink::start().await;
    let lookout = start(&sink, "", "").await;
    let started = Instant::now();
    const N: usize = 1_000_000;
    let on_span = craft::request_with(&[], &craft::attributes(0x4a, N));
    let on_resource = craft::request_with(&craft::attributes(0x0a, N), &[]);
    // Under gRPC's 4 MiB, so the attribute limit is what refuses it there.
    let under_grpc_size = craft::request_with(&[], &craft::attributes(0x4a, 200_000));
    let ((), served) = beside(&lookout, async {
        for (what, body) in [("span", &on_span), ("resource", &on_resource)] {
            // 16 MB: over gRPC's 4 MiB, under HTTP's 20 MiB.
            assert!(
                body.len() > 4 << 20 && body.len() < 20 << 20,
                "{}",
                body.len()
            );
            let reply = grpc_traces(lookout.ports.grpc, body).await;
            assert_eq!(
                reply.code(),
                Code::ResourceExhausted,
                "gRPC, on one {what}: {reply:?}"
            );
            let t0 = Instant::now();
            let (http, code, message) =
                protobuf_status(post(&lookout, "application/x-protobuf", None, body.clone()).await)
                    .await;
            let took = t0.elapsed();
            assert_eq!((http, code), (400, 3), "HTTP, on one {what}: {message}");
            assert!(message.contains("max_attributes (4096)"), "{message}");
            eprintln!(
                "[figure] 1M attributes on one {what}: {} bytes, HTTP refused (400) in {:.2} s; peak RSS so far {} MiB",
                body.len(),
                took.as_secs_f64(),
                lookout.peak_rss_kib() / 1024
            );
        }
        assert!(under_grpc_size.len() < 4 << 20, "{}", under_grpc_size.len());
        let t0 = Instant::now();
        let reply = grpc_traces(lookout.ports.grpc, &under_grpc_size).await;
        let took = t0.elapsed();
        assert_eq!(reply.code(), Code::InvalidArgument, "{reply:?}");
        let message = reply.status.as_ref().map(|s| s.message().to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("Span.attributes: more than max_attributes (4096)")),
            "{message:?}"
        );
        eprintln!(
            "[figure] 200k attributes on one span: {} bytes, gRPC refused (INVALID_ARGUMENT) in {:.2} s; peak RSS so far {} MiB",
            under_grpc_size.len(),
            took.as_secs_f64(),
            lookout.peak_rss_kib() / 1024
        );
        // OTLP/JSON: refused by the decoder before a single attribute is built.
        let json = json_attributes(100_000);
        let t0 = Instant::now();
        let response = post(&lookout, "application/json", None, json.clone()).await;
        assert_eq!(response.status().as_u16(), 400);
        let body: serde_json::Value = response.json().await.expect("JSON status");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("max_attributes (4096)"), "{body}");
        eprintln!(
            "[figure] 100k attributes on one span in OTLP/JSON: {} bytes, HTTP refused (400) in {:.2} s; peak RSS so far {} MiB",
            json.len(),
            t0.elapsed().as_secs_f64(),
            lookout.peak_rss_kib() / 1024
        );
    })
    .await;
    eprintln!("[figure] attributes: {served} good export pairs served during the attack");
    assert_survived(lookout, "1M attributes", started).await;
    assert!(
        sink.traces()
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .all(|s| s.name != "attacked"),
        "no span over the attribute limit reached the exporter"
    );
}

/// An OTLP/JSON request with one span carrying `n` attributes.
fn json_attributes(n: usize) -> Vec<u8> {
    let attributes: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"key":"a{i}","value":{{"intValue":"{i}"}}}}"#))
        .collect();
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"11111111111111111111111111111111","spanId":"2222222222222222","name":"attacked","attributes":[{}]}}]}}]}}]}}"#,
        attributes.join(",")
    )
    .into_bytes()
}

// ---- lying lengths ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_lengths_are_refused_at_once() {
    let sink = Sink::start().await;
    let lookout = start(&sink, "", "").await;
    let started = Instant::now();
    let ((), served) = beside(&lookout, async {
        // A protobuf length prefix of 2^40 in a 17-byte body.
        let body = craft::lying_length_prefix();
        let (http, code, message) =
            protobuf_status(post(&lookout, "application/x-protobuf", None, body.clone()).await)
                .await;
        assert_eq!((http, code), (400, 3), "{message}");
        assert!(message.contains("length exceeds the remaining bytes"), "{message}");
        let reply = grpc_traces(lookout.ports.grpc, &body).await;
        assert_eq!(reply.code(), Code::InvalidArgument, "{reply:?}");

        // A gRPC prefix claiming 4 GiB - 1, then 16 bytes, and the stream left open.
        let t0 = Instant::now();
        let reply = grpc_open_stream_call(lookout.ports.grpc).await;
        assert_eq!(reply, Some(Code::ResourceExhausted));
        let grpc_after = t0.elapsed();

        // An HTTP/1.1 Content-Length of 100 GB, 16 bytes, and the connection left open.
        let t0 = Instant::now();
        let line = http_content_length_lie(lookout.ports.http, 100_000_000_000).await;
        assert!(line.starts_with("HTTP/1.1 413"), "{line}");
        let http_after = t0.elapsed();
        eprintln!(
            "[figure] lying lengths: gRPC 4 GiB prefix answered in {grpc_after:?}, HTTP 100 GB Content-Length in {http_after:?}"
        );
        // Refused on the claim, not timed out: well before read_timeout.
        assert!(grpc_after < READ_TIMEOUT / 2, "{grpc_after:?}");
        assert!(http_after < READ_TIMEOUT / 2, "{http_after:?}");
    })
    .await;
    eprintln!("[figure] lying lengths: {served} good export pairs served during the attack");
    assert_survived(lookout, "lying lengths", started).await;
}

/// Opens a gRPC call whose message prefix claims 0xFFFF_FFFF bytes, sends 16 of them and
/// keeps the stream open; returns the gRPC code answered (within 60 s), if any.
async fn grpc_open_stream_call(port: u16) -> Option<Code> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("HTTP/2 handshake");
    let conn = tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::channel::<
        Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>,
    >(1);
    let mut head = vec![0u8, 0xff, 0xff, 0xff, 0xff];
    head.extend_from_slice(&[0x0a; 16]);
    tx.send(Ok(hyper::body::Frame::data(head.into())))
        .await
        .expect("queue the first bytes");
    let body = http_body_util::StreamBody::new(tokio_stream_from(rx));
    let request = http::Request::post(format!("http://127.0.0.1{GRPC_TRACES}"))
        .header("te", "trailers")
        .header("content-type", "application/grpc")
        .body(body)
        .expect("request");
    let answer = tokio::time::timeout(Duration::from_secs(60), async {
        let response = sender.send_request(request).await.ok()?;
        let (parts, body) = response.into_parts();
        if let Some(status) = tonic::Status::from_header_map(&parts.headers) {
            return Some(status.code());
        }
        use http_body_util::BodyExt;
        let collected = body.collect().await.ok()?;
        collected
            .trailers()
            .and_then(tonic::Status::from_header_map)
            .map(|s| s.code())
    })
    .await
    .ok()
    .flatten();
    drop(tx);
    conn.abort();
    answer
}

/// A stream of body frames fed by `rx` (open until its sender drops).
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Sends HTTP/1.1 headers announcing `length` bytes, then 16 bytes, and waits (up to 60 s)
/// for the status line.
async fn http_content_length_lie(port: u16, length: u64) -> String {
    let mut stream = upload(port, length).await;
    // The collector may answer on the headers alone and close before these bytes arrive
    // (then the write fails with a broken pipe); the answer is still there to be read.
    let _ = stream.write_all(&[0x0a; 15]).await;
    let answer = read_until(&mut stream, b"\r\n", Duration::from_secs(60)).await;
    assert!(
        answer.is_some(),
        "no answer to a 100 GB Content-Length within 60 s"
    );
    String::from_utf8_lossy(&answer.unwrap_or_default())
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Reads from `stream` until what it read holds `marker`, the stream ends, or `within` has
/// passed (then `None`).
async fn read_until(stream: &mut TcpStream, marker: &[u8], within: Duration) -> Option<Vec<u8>> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        while !answer.windows(marker.len()).any(|w| w == marker) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(answer)
}

// ---- decompression bombs ----------------------------------------------------------------------

/// The bomb generators do what they say: small ones decompress to exactly their size.
#[test]
fn bombs_decompress_to_what_they_claim() {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&craft::gzip_bomb(3)[..])
        .read_to_end(&mut out)
        .expect("gzip bomb decodes");
    assert_eq!(out.len(), 3 << 20);
    assert!(out.iter().all(|&b| b == 0));
    out.clear();
    // The deflate bomb's checksum is the 2 MiB one: decoding 2 MiB of it succeeds whole.
    flate2::read::ZlibDecoder::new(&craft::deflate_bomb(2)[..])
        .read_to_end(&mut out)
        .expect("deflate bomb decodes");
    assert_eq!(out.len(), 2 << 20);
    out.clear();
    // A reader drops the output of the call that meets the checksum: count with `Decompress`.
    let bomb = craft::deflate_bomb(5);
    let mut d = flate2::Decompress::new(true);
    let mut sink = Vec::with_capacity(1 << 20);
    let outcome = loop {
        sink.clear();
        let at = d.total_in() as usize;
        match d.decompress_vec(&bomb[at..], &mut sink, flate2::FlushDecompress::None) {
            Ok(flate2::Status::StreamEnd) => break Ok(()),
            Ok(_) if d.total_in() as usize == bomb.len() && sink.is_empty() => break Ok(()),
            Ok(_) => {}
            Err(err) => break Err(err),
        }
    };
    assert!(
        outcome.is_err(),
        "the bomb carries the checksum of the MiBs compressed, not of 5"
    );
    out.resize(d.total_out() as usize, 0);
    assert_eq!(out.len(), 5 << 20, "all 5 MiB come out before the checksum");
    out.clear();
    zstd::stream::read::Decoder::new(&craft::zstd_bomb(2)[..])
        .expect("zstd decoder")
        .read_to_end(&mut out)
        .expect("zstd bomb decodes");
    assert_eq!(out.len(), 32 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decompression_bombs_are_refused_at_the_decompressed_limit() {
    const GIB_IN_MIB: usize = 1024;
    let bombs = |gib: usize| {
        [
            ("gzip", craft::gzip_bomb(gib * GIB_IN_MIB)),
            ("deflate", craft::deflate_bomb(gib * GIB_IN_MIB)),
            ("zstd", craft::zstd_bomb(gib * GIB_IN_MIB / 16)),
        ]
    };
    // 10 GiB over HTTP (under its 20 MiB body limit compressed), 4 GiB over gRPC (under its
    // 4.5 MiB wire limit compressed).
    let http_bombs = bombs(10);
    let grpc_bombs = bombs(4);
    let sink = Sink::start().await;
    let lookout = start(&sink, "", "").await;
    let started = Instant::now();
    let ((), served) = beside(&lookout, async {
        for (codec, bomb) in &http_bombs {
            let t0 = Instant::now();
            let (http, code, message) = protobuf_status(
                post(
                    &lookout,
                    "application/x-protobuf",
                    Some(codec),
                    bomb.clone(),
                )
                .await,
            )
            .await;
            eprintln!(
                "[figure] HTTP {codec} bomb: {} bytes -> 10 GiB, answered {http} in {:.2} s",
                bomb.len(),
                t0.elapsed().as_secs_f64()
            );
            assert_eq!((http, code), (413, 8), "HTTP {codec}: {message}");
            assert!(message.contains("max_request_body_size"), "{message}");
        }
        for (codec, bomb) in &grpc_bombs {
            // Under the bytes the gRPC receiver reads for a 4 MiB message (4.5 MiB + 1 KiB:
            // room for a compressed message that barely shrank), so it is decompressed.
            assert!(
                bomb.len() < (4 << 20) + (4 << 17) + 1024,
                "{codec} bomb {} bytes",
                bomb.len()
            );
            let t0 = Instant::now();
            let reply = grpc_call(
                lookout.ports.grpc,
                GRPC_TRACES,
                "application/grpc",
                Some(codec),
                grpc_frame(bomb, true),
            )
            .await;
            eprintln!(
                "[figure] gRPC {codec} bomb: {} bytes -> 4 GiB, answered {:?} in {:.2} s",
                bomb.len(),
                reply.status.as_ref().map(tonic::Status::code),
                t0.elapsed().as_secs_f64()
            );
            assert_eq!(
                reply.code(),
                Code::ResourceExhausted,
                "gRPC {codec}: {reply:?}"
            );
        }
        // Encodings the receiver does not read are refused by name, before decoding.
        let (http, _, message) = protobuf_status(
            post(
                &lookout,
                "application/x-protobuf",
                Some("snappy"),
                vec![0; 16],
            )
            .await,
        )
        .await;
        assert_eq!(http, 400, "{message}");
        let reply = grpc_call(
            lookout.ports.grpc,
            GRPC_TRACES,
            "application/grpc",
            Some("snappy"),
            grpc_frame(&[0; 16], true),
        )
        .await;
        assert_eq!(reply.code(), Code::Unimplemented, "{reply:?}");
    })
    .await;
    eprintln!("[figure] bombs: {served} good export pairs served during the attack");
    assert_survived(lookout, "decompression bombs", started).await;
}

// ---- HTTP/2 streams without data --------------------------------------------------------------

/// Opens `streams` calls on one raw HTTP/2 connection without sending a byte of their bodies;
/// returns what the server answered within `wait` (or until every stream was reset, or a
/// GOAWAY), and the connection, still open unless the server closed it.
async fn open_streams(
    port: u16,
    path: &'static str,
    content_type: &'static str,
    streams: u32,
    wait: Duration,
) -> (h2::Seen, TcpStream) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    tcp.write_all(&h2::preface()).await.expect("preface");
    let mut out = Vec::with_capacity(streams as usize * 100);
    for i in 0..streams {
        out.extend(h2::open_stream(2 * i + 1, path, content_type));
    }
    let (mut read, mut write) = tcp.into_split();
    let reader = tokio::spawn(async move {
        let seen = h2::read_frames(&mut read, wait, move |seen| {
            seen.goaway.is_some() || (seen.refused + seen.other_resets) as u32 >= streams
        })
        .await;
        (seen, read)
    });
    // Acknowledge the server's settings, as a client must, then open the streams. The server
    // may close first (GOAWAY): a failed write is part of the answer.
    let _ = write.write_all(&h2::settings_ack()).await;
    let _ = write.write_all(&out).await;
    let (seen, read) = reader.await.expect("reader");
    (seen, read.reunite(write).expect("the halves of one stream"))
}

/// Streams the server took of `streams` opened (ids 1, 3, 5, ...): those up to its GOAWAY's
/// last stream id (all, without a GOAWAY) that it did not reset.
fn taken(seen: &h2::Seen, streams: u32) -> u32 {
    let last = seen.goaway.map_or(2 * streams - 1, |(last, _)| last);
    let processed = last.div_ceil(2).min(streams);
    let reset = seen.reset_ids.iter().filter(|&&id| id <= last).count() as u32;
    processed.saturating_sub(reset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_max_concurrent_streams_are_refused() {
    const LIMIT: u32 = 50;
    const STREAMS: u32 = 10_000;
    let sink = Sink::start().await;
    let limit = format!("        max_concurrent_streams: {LIMIT}\n");
    let lookout = start(&sink, &limit, &limit).await;
    let started = Instant::now();
    let (held, served) = beside(&lookout, async {
        let mut held = Vec::new();
        for (port, path, content_type) in [
            (lookout.ports.grpc, GRPC_TRACES, "application/grpc"),
            (lookout.ports.http, "/v1/traces", "application/x-protobuf"),
        ] {
            let (seen, tcp) =
                open_streams(port, path, content_type, STREAMS, Duration::from_secs(20)).await;
            eprintln!(
                "[figure] {STREAMS} streams on one connection to {path}: {} taken, {} refused, GOAWAY {:?}, SETTINGS_MAX_CONCURRENT_STREAMS {:?}",
                taken(&seen, STREAMS),
                seen.refused,
                seen.goaway,
                seen.max_concurrent_streams
            );
            assert_eq!(seen.max_concurrent_streams, Some(LIMIT), "{seen:?}");
            let taken = taken(&seen, STREAMS);
            assert_eq!(taken, LIMIT, "streams taken: {seen:?}");
            assert!(
                seen.refused > 0 || seen.goaway.is_some(),
                "streams past the limit were neither refused nor the connection closed: {seen:?}"
            );
            held.push(tcp);
        }
        // Good clients are served while the attacking connections are open.
        well_behaved(&lookout, "while-held").await;
        python_client(&lookout).await;
        held
    })
    .await;
    eprintln!("[figure] stream flood: {served} good export pairs served during the attack");
    drop(held);
    assert_survived(lookout, "10,000 streams on one connection", started).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_holding_open_calls_cost_bounded_memory() {
    const CONNECTIONS: usize = 100;
    const STREAMS: u32 = 100;
    let sink = Sink::start().await;
    // Above the 10,000 calls, so that all are taken: this measures what an open call costs.
    let lookout = start_limited(&sink, "", "", "{max_concurrent_requests: 20000}").await;
    let before = lookout.peak_rss_kib() / 1024;
    let started = Instant::now();
    let (held, served) = beside(&lookout, async {
        let opened = futures::future::join_all((0..CONNECTIONS).map(|_| {
            open_streams(
                lookout.ports.grpc,
                GRPC_TRACES,
                "application/grpc",
                STREAMS,
                Duration::from_secs(2),
            )
        }))
        .await;
        let mut held = Vec::new();
        for (seen, tcp) in opened {
            // Within the limit: every call is taken and waits for its message.
            assert_eq!(taken(&seen, STREAMS), STREAMS, "{seen:?}");
            held.push(tcp);
        }
        well_behaved(&lookout, "while-held").await;
        python_client(&lookout).await;
        held
    })
    .await;
    let during = lookout.peak_rss_kib() / 1024;
    eprintln!(
        "[figure] {CONNECTIONS} connections x {STREAMS} open gRPC calls: peak RSS {before} -> {during} MiB; {served} good export pairs served meanwhile"
    );
    drop(held);
    assert_survived(lookout, "10,000 open gRPC calls", started).await;
}

// ---- requests in flight over all connections ---------------------------------------------------

/// `lookout_receiver_<name>_total` of the receiver for `transport`.
async fn counter(lookout: &Lookout, name: &str, transport: &str) -> f64 {
    lookout
        .metrics()
        .await
        .get(
            &format!("lookout_receiver_{name}_total"),
            &[("receiver", "otlp"), ("transport", transport)],
        )
        .unwrap_or(0.0)
}

/// One good export over each protocol, retried (after 1 s, as `Retry-After` says) while it is
/// refused as retryable, `max_retries` times at most over both; returns how many retries it
/// took.
async fn well_behaved_retrying(lookout: &Lookout, prefix: &str, max_retries: usize) -> usize {
    let mut retries = 0;
    loop {
        let response = http_client()
            .post(lookout.http_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(encode(&trace_request(&format!("{prefix}-http"), 3, 0)))
            .send()
            .await
            .expect("good HTTP export");
        match response.status().as_u16() {
            200 => break,
            503 if retries < max_retries => {
                assert_eq!(
                    response.headers().get("retry-after").map(|v| v.as_bytes()),
                    Some(&b"1"[..])
                );
                retries += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => panic!("good HTTP export ({prefix}): {other}"),
        }
    }
    loop {
        let reply = grpc_traces(
            lookout.ports.grpc,
            &encode(&trace_request(&format!("{prefix}-grpc"), 3, 0)),
        )
        .await;
        match reply.code() {
            Code::Ok => break,
            Code::Unavailable if retries < max_retries => {
                retries += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => panic!("good gRPC export ({prefix}): {reply:?}"),
        }
    }
    retries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_thousand_open_calls_against_a_cap_of_a_thousand() {
    const CAP: usize = 1_000;
    const CONNECTIONS: usize = 300;
    const STREAMS: u32 = 100;
    const CALLS: usize = CONNECTIONS * STREAMS as usize;
    let sink = Sink::start().await;
    let lookout = start_limited(
        &sink,
        "",
        "",
        &format!("{{max_concurrent_requests: {CAP}}}"),
    )
    .await;
    let before = lookout.peak_rss_kib() / 1024;
    let started = Instant::now();
    let opened = futures::future::join_all((0..CONNECTIONS).map(|_| {
        open_streams(
            lookout.ports.grpc,
            GRPC_TRACES,
            "application/grpc",
            STREAMS,
            // Long enough for a loaded machine to answer every refusal; only connections with
            // calls still held wait it out.
            Duration::from_secs(20),
        )
    }))
    .await;
    let flood = started.elapsed();
    let answered: usize = opened.iter().map(|(seen, _)| seen.responses).sum();
    let reset: usize = opened
        .iter()
        .map(|(seen, _)| seen.refused + seen.other_resets)
        .sum();
    let held: Vec<TcpStream> = opened.into_iter().map(|(_, tcp)| tcp).collect();
    // Good clients get in while the attack holds its calls: stalled calls make room.
    let retries = well_behaved_retrying(&lookout, "while-held", 20).await;
    python_client(&lookout).await;
    let during = lookout.peak_rss_kib() / 1024;
    let over_limit = counter(&lookout, "over_limit_requests", "grpc").await;
    let evicted = counter(&lookout, "evicted_requests", "grpc").await;
    eprintln!(
        "[figure] {CALLS} open gRPC calls against max_concurrent_requests {CAP}: opened in {:.1} s, {answered} answered at once ({reset} streams reset), {over_limit} refused over the limit, {evicted} stalled calls ended; good client in after {retries} retries; peak RSS {before} -> {during} MiB",
        flood.as_secs_f64()
    );
    // Every call refused over the cap was answered within the read window; a call taken and
    // ended later for a newer one may be answered after it closed.
    assert!(
        answered as f64 + evicted >= (CALLS - CAP) as f64,
        "{answered} answered, {evicted} ended"
    );
    // Each call was refused, or taken: the cap's worth still open, or ended for another.
    assert!(
        over_limit + evicted >= (CALLS - CAP) as f64,
        "over limit {over_limit}, evicted {evicted}"
    );
    assert!(over_limit > 0.0);
    drop(held);
    assert_survived(lookout, "30,000 open calls, cap 1,000", started).await;
}

/// Opens a raw HTTP/1.1 upload announcing `length` bytes and sends its first byte.
async fn upload(port: u16, length: u64) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("headers");
    // A collector that refuses on the headers alone may have closed already; callers read
    // and check its answer.
    let _ = stream.write_all(&[0x0a]).await;
    stream
}

/// Reads the status line and headers of an HTTP/1.1 answer (up to 30 s).
async fn answer_head(stream: &mut TcpStream) -> String {
    let answer = read_until(stream, b"\r\n\r\n", Duration::from_secs(30)).await;
    String::from_utf8_lossy(&answer.unwrap_or_default()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_cap_clients_are_told_to_retry_and_stalled_uploads_make_room() {
    const CAP: usize = 4;
    let sink = Sink::start().await;
    let lookout = start_limited(
        &sink,
        "",
        "",
        &format!("{{max_concurrent_requests: {CAP}}}"),
    )
    .await;
    let started = Instant::now();
    let mut uploads = Vec::new();
    for _ in 0..CAP {
        uploads.push(upload(lookout.ports.http, 1 << 20).await);
    }
    // The uploads keep sending a byte every 100 ms: busy, not stalled.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let trickle = tokio::spawn(async move {
        let mut stopped = stopped;
        loop {
            for upload in &mut uploads {
                upload.write_all(&[0x0a]).await.expect("trickle");
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stopped.changed() => return uploads,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Over the cap: refused before the body is read (100 GB announced, one byte sent).
    let t0 = Instant::now();
    let mut liar = upload(lookout.ports.http, 100_000_000_000).await;
    let head = answer_head(&mut liar).await;
    let http_after = t0.elapsed();
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1\r\n"),
        "{head}"
    );
    let reply = grpc_traces(lookout.ports.grpc, &encode(&trace_request("refused", 1, 0))).await;
    assert_eq!(reply.code(), Code::Unavailable, "{reply:?}");
    let message = reply.status.as_ref().map(|s| s.message().to_string());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("max_concurrent_requests (4)")),
        "{message:?}"
    );
    assert_eq!(counter(&lookout, "over_limit_requests", "http").await, 1.0);
    assert_eq!(counter(&lookout, "over_limit_requests", "grpc").await, 1.0);
    assert_eq!(counter(&lookout, "evicted_requests", "http").await, 0.0);
    eprintln!("[figure] over max_concurrent_requests: HTTP 503 in {http_after:?}");

    // The uploads stall: after a second without a byte, a good client takes one's place.
    let _ = stop.send(true);
    let mut uploads = trickle.await.expect("trickle task");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let retries = well_behaved_retrying(&lookout, "after-stall", 20).await;
    assert_eq!(retries, 0, "stalled uploads should have made room at once");
    // The good HTTP export ended one stalled upload; once it was answered there was room for
    // the gRPC one without ending another.
    assert_eq!(counter(&lookout, "evicted_requests", "http").await, 1.0);
    // The ended upload was told to retry; the others are still waiting for their bodies.
    let mut told = 0;
    for upload in &mut uploads {
        let head = tokio::time::timeout(Duration::from_millis(500), answer_head(upload))
            .await
            .unwrap_or_default();
        if head.starts_with("HTTP/1.1 503") {
            assert!(
                head.to_ascii_lowercase().contains("retry-after: 1\r\n"),
                "{head}"
            );
            told += 1;
        }
    }
    assert_eq!(told, 1, "the ended upload got 503");
    drop(uploads);
    assert_survived(lookout, "cap of 4, stalled uploads", started).await;
}
