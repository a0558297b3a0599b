//! Malformed, oversize and misaddressed requests get the status codes the OTLP spec and the
//! README ask for (HTTP 400/413/415/404/405 with a `google.rpc.Status` body in the request's
//! encoding; gRPC INVALID_ARGUMENT / RESOURCE_EXHAUSTED / UNIMPLEMENTED; a partial success for
//! spans with wrong-length ids), none of the bad data reaches the exporter, and the collector
//! keeps serving: after each, a good request over HTTP and over gRPC succeeds and exactly the
//! good spans arrive at the sink.

mod support;

use std::io::Write;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use support::sink::Sink;
use support::{
    GRPC_TRACES, Lookout, encode, grpc_call, grpc_frame, grpc_traces, http_client, otlp_exporter,
    otlp_receiver, service, trace_request,
};
use tonic::Code;

/// Spans in each good request.
const GOOD_SPANS: usize = 3;
/// The HTTP receiver's body limit, in bytes.
const HTTP_LIMIT: usize = 4096;

async fn start() -> (Sink, Lookout) {
    let sink = Sink::start().await;
    let lookout = Lookout::start(|p| {
        let pipelines = "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n";
        format!(
            "{}processors:\n  batch:\n    timeout: 20ms\nexporters:\n{}{}",
            otlp_receiver(
                p,
                "        max_recv_msg_size_mib: 1\n",
                &format!("        max_request_body_size: {HTTP_LIMIT}\n"),
            ),
            otlp_exporter("otlp", sink.port, "none"),
            service(p, pipelines)
        )
    })
    .await;
    (sink, lookout)
}

async fn post(
    lookout: &Lookout,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = http_client()
        .post(lookout.http_url(path))
        .header("content-type", content_type)
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.send().await.expect("HTTP request")
}

/// Asserts an HTTP error status with a protobuf `google.rpc.Status` body carrying `code`.
async fn expect_protobuf_status(response: reqwest::Response, http: u16, code: i32) {
    assert_eq!(response.status().as_u16(), http, "HTTP status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(
        content_type, "application/x-protobuf",
        "error body content type"
    );
    let body = response.bytes().await.expect("body");
    let status = tonic_types::Status::decode(body).expect("body is a google.rpc.Status");
    assert_eq!(
        status.code, code,
        "google.rpc.Status code ({})",
        status.message
    );
    assert!(!status.message.is_empty(), "the status says what was wrong");
}

/// Asserts an HTTP error status with an OTLP/JSON `Status` body carrying `code`.
async fn expect_json_status(response: reqwest::Response, http: u16, code: i64) {
    assert_eq!(response.status().as_u16(), http, "HTTP status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(content_type, "application/json", "error body content type");
    let body: serde_json::Value = response.json().await.expect("body is JSON");
    assert_eq!(body["code"].as_i64(), Some(code), "status code in {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
}

/// One good request over HTTP and one over gRPC succeed; then, after a clean stop, the sink
/// holds exactly those spans (plus `salvaged` good spans the test sent beside bad ones, all
/// named `good-*`) and the accepted counter counts exactly them.
/// The same malformed request body gets HTTP 400 (google.rpc.Status code 3) and gRPC
/// INVALID_ARGUMENT.
async fn rejected_as_malformed_on_both_transports(lookout: &Lookout, body: Vec<u8>) {
    let response = post(
        lookout,
        "/v1/traces",
        "application/x-protobuf",
        None,
        body.clone(),
    )
    .await;
    expect_protobuf_status(response, 400, 3).await;
    let reply = grpc_traces(lookout.ports.grpc, &body).await;
    assert_eq!(reply.code(), Code::InvalidArgument, "{reply:?}");
}

async fn assert_still_serves(sink: Sink, lookout: Lookout, salvaged: usize) {
    let response = post(
        &lookout,
        "/v1/traces",
        "application/x-protobuf",
        None,
        encode(&trace_request("good-http", GOOD_SPANS, 0)),
    )
    .await;
    assert_eq!(
        response.status().as_u16(),
        200,
        "good HTTP request after bad input"
    );
    let reply = grpc_traces(
        lookout.ports.grpc,
        &encode(&trace_request("good-grpc", GOOD_SPANS, 0)),
    )
    .await;
    assert_eq!(
        (reply.http, reply.code()),
        (200, Code::Ok),
        "good gRPC request after bad input: {reply:?}"
    );
    let accepted = lookout.metrics().await.value(
        "lookout_receiver_accepted_spans_total",
        &[("receiver", "otlp")],
    );
    assert_eq!(
        accepted,
        (2 * GOOD_SPANS + salvaged) as f64,
        "only the good spans were accepted"
    );
    lookout.stop_ok().await;
    let names: Vec<String> = sink
        .traces()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(
        names.len(),
        2 * GOOD_SPANS + salvaged,
        "spans at the sink: {names:?}"
    );
    assert!(
        names.iter().all(|n| n.starts_with("good-")),
        "spans at the sink: {names:?}"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A valid request whose last bytes are cut off.
fn truncated() -> Vec<u8> {
    let mut bytes = encode(&trace_request("cut", 2, 0));
    bytes.truncate(bytes.len() - 7);
    bytes
}

/// Three spans named `<prefix>-0..2`; the first one's trace id is 15 bytes long.
fn short_trace_id(prefix: &str) -> Vec<u8> {
    let mut request = trace_request(prefix, 3, 0);
    request.resource_spans[0].scope_spans[0].spans[0]
        .trace_id
        .truncate(15);
    encode(&request)
}

/// A request whose span name holds bytes that are not UTF-8 (same length as the valid name).
fn invalid_utf8_name() -> Vec<u8> {
    let mut bytes = encode(&trace_request("NAME", 1, 0));
    let at = bytes
        .windows(6)
        .position(|w| w == b"NAME-0")
        .expect("the span name is in the encoding");
    bytes[at] = 0xFF;
    bytes[at + 1] = 0xFE;
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_protobuf() {
    let (sink, lookout) = start().await;
    rejected_as_malformed_on_both_transports(&lookout, truncated()).await;
    // A gRPC frame that announces more bytes than it carries.
    let mut frame = grpc_frame(&encode(&trace_request("frame", 1, 0)), false).to_vec();
    frame.truncate(frame.len() - 3);
    let reply = grpc_call(
        lookout.ports.grpc,
        GRPC_TRACES,
        "application/grpc",
        None,
        Bytes::from(frame),
    )
    .await;
    assert_eq!(reply.code(), Code::InvalidArgument, "{reply:?}");
    assert_still_serves(sink, lookout, 0).await;
}

/// Asserts a partial success that rejected exactly one span, with a reason.
fn expect_one_rejected(response: &ExportTraceServiceResponse, what: &str) {
    let partial = response
        .partial_success
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no partial_success in {response:?}"));
    assert_eq!(partial.rejected_spans, 1, "{what}: {partial:?}");
    assert!(!partial.error_message.is_empty(), "{what}: {partial:?}");
}

/// A span with a wrong-length id is dropped and reported as an OTLP partial success
/// (`rejected_spans: 1`, HTTP 200 / gRPC OK); the other spans of the request go on. The dropped
/// span never reaches the sink, and lookout counts it as refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_length_trace_id_is_a_partial_success() {
    let (sink, lookout) = start().await;
    let response = post(
        &lookout,
        "/v1/traces",
        "application/x-protobuf",
        None,
        short_trace_id("good-http-partial"),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let body = response.bytes().await.expect("body");
    let decoded = ExportTraceServiceResponse::decode(body).expect("an ExportTraceServiceResponse");
    expect_one_rejected(&decoded, "HTTP protobuf");

    let reply = grpc_traces(lookout.ports.grpc, &short_trace_id("good-grpc-partial")).await;
    assert_eq!(reply.code(), Code::Ok, "{reply:?}");
    let decoded = ExportTraceServiceResponse::decode(reply.message.clone())
        .expect("an ExportTraceServiceResponse");
    expect_one_rejected(&decoded, "gRPC");

    let refused = lookout.metrics().await.value(
        "lookout_receiver_refused_spans_total",
        &[("receiver", "otlp")],
    );
    assert_eq!(refused, 2.0, "one span refused per request");
    // 2 + 2 good spans went on beside the rejected ones.
    assert_still_serves(sink, lookout, 4).await;
}

/// The same over OTLP/JSON, as the README's status table promises for OTLP/HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_wrong_length_trace_id_is_a_partial_success() {
    let (sink, lookout) = start().await;
    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"0102030405060708","spanId":"0102030405060708","name":"bad-json"},
        {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"good-json"}
    ]}]}]}"#;
    let response = post(
        &lookout,
        "/v1/traces",
        "application/json",
        None,
        json.to_vec(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON body");
    let rejected = &body["partialSuccess"]["rejectedSpans"];
    assert!(
        rejected.as_i64() == Some(1) || rejected.as_str() == Some("1"),
        "JSON partial success: {body}"
    );
    assert!(
        body["partialSuccess"]["errorMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "JSON partial success: {body}"
    );

    // 1 good span went on beside the rejected one.
    assert_still_serves(sink, lookout, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_span_name() {
    let (sink, lookout) = start().await;
    rejected_as_malformed_on_both_transports(&lookout, invalid_utf8_name()).await;
    assert_still_serves(sink, lookout, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json() {
    let (sink, lookout) = start().await;
    let response = post(
        &lookout,
        "/v1/traces",
        "application/json",
        None,
        b"{\"resourceSpans\": [".to_vec(),
    )
    .await;
    expect_json_status(response, 400, 3).await;
    assert_still_serves(sink, lookout, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_http_body_is_413() {
    let (sink, lookout) = start().await;
    let big = encode(&trace_request("big", 1, 2 * HTTP_LIMIT));
    let response = post(
        &lookout,
        "/v1/traces",
        "application/x-protobuf",
        None,
        big.clone(),
    )
    .await;
    expect_protobuf_status(response, 413, 8).await;
    // Small on the wire, too large once decompressed.
    let bomb = gzip(&big);
    assert!(
        bomb.len() < HTTP_LIMIT,
        "the compressed body itself fits the limit"
    );
    let response = post(
        &lookout,
        "/v1/traces",
        "application/x-protobuf",
        Some("gzip"),
        bomb,
    )
    .await;
    expect_protobuf_status(response, 413, 8).await;
    assert_still_serves(sink, lookout, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_grpc_message_is_resource_exhausted() {
    let (sink, lookout) = start().await;
    let big = encode(&trace_request("big", 1, 2 << 20));
    let reply = grpc_traces(lookout.ports.grpc, &big).await;
    assert_eq!(reply.code(), Code::ResourceExhausted, "{reply:?}");
    let bomb = gzip(&big);
    let reply = grpc_call(
        lookout.ports.grpc,
        GRPC_TRACES,
        "application/grpc",
        Some("gzip"),
        grpc_frame(&bomb, true),
    )
    .await;
    assert_eq!(reply.code(), Code::ResourceExhausted, "{reply:?}");
    assert_still_serves(sink, lookout, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_gzip() {
    let (sink, lookout) = start().await;
    let mut broken = gzip(&encode(&trace_request("gz", 2, 0)));
    let middle = broken.len() / 2;
    broken[middle..].iter_mut().for_each(|b| *b = !*b);
    let response = post(
        &lookout,
        "/v1/traces",
        "application/x-protobuf",
        Some("gzip"),
        broken.clone(),
    )
    .await;
    expect_protobuf_status(response, 400, 3).await;
    let response = post(
        &lookout,
        "/v1/traces",
        "application/json",
        Some("gzip"),
        b"not gzip at all".to_vec(),
    )
    .await;
    expect_json_status(response, 400, 3).await;
    let reply = grpc_call(
        lookout.ports.grpc,
        GRPC_TRACES,
        "application/grpc",
        Some("gzip"),
        grpc_frame(&broken, true),
    )
    .await;
    assert_eq!(reply.code(), Code::InvalidArgument, "{reply:?}");
    assert_still_serves(sink, lookout, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_415() {
    let (sink, lookout) = start().await;
    let body = encode(&trace_request("ct", 1, 0));
    let response = post(&lookout, "/v1/traces", "text/plain", None, body.clone()).await;
    assert_eq!(response.status().as_u16(), 415);
    let reply = grpc_call(
        lookout.ports.grpc,
        GRPC_TRACES,
        "application/json",
        None,
        grpc_frame(&body, false),
    )
    .await;
    assert_eq!(reply.http, 415, "{reply:?}");
    assert_still_serves(sink, lookout, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_path_is_404_and_get_is_405() {
    let (sink, lookout) = start().await;
    let body = encode(&trace_request("path", 1, 0));
    let response = post(
        &lookout,
        "/v1/nothing",
        "application/x-protobuf",
        None,
        body,
    )
    .await;
    assert_eq!(response.status().as_u16(), 404);
    let response = http_client()
        .get(lookout.http_url("/v1/traces"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 405);
    let reply = grpc_call(
        lookout.ports.grpc,
        "/opentelemetry.proto.collector.trace.v1.TraceService/Nope",
        "application/grpc",
        None,
        grpc_frame(b"", false),
    )
    .await;
    assert_eq!(reply.code(), Code::Unimplemented, "{reply:?}");
    assert_still_serves(sink, lookout, 0).await;
}
