//! Offering a request to a running collector the way a well-behaved client does, and checking
//! that every refusal is one the OTLP spec says to retry.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tonic::Code;
use tonic_types::StatusExt;

use super::{GRPC_TRACES, Lookout, grpc_call, grpc_frame, http_client};

/// The names of the spans of `request`, in order.
pub(crate) fn span_names(request: &ExportTraceServiceRequest) -> Vec<String> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

/// Sends one request over gRPC (`grpc`) or HTTP; true if accepted. Any refusal that is not
/// retryable, or that does not tell the client when to retry, fails the test.
pub(crate) async fn offer(lookout: &Lookout, grpc: bool, payload: &Bytes) -> bool {
    if grpc {
        let reply = grpc_call(
            lookout.ports.grpc,
            GRPC_TRACES,
            "application/grpc",
            None,
            grpc_frame(payload, false),
        )
        .await;
        let status = reply
            .status
            .as_ref()
            .unwrap_or_else(|| panic!("no grpc-status: {reply:?}"));
        match status.code() {
            Code::Ok => true,
            Code::Unavailable => {
                assert!(
                    status
                        .get_details_retry_info()
                        .is_some_and(|r| r.retry_delay.is_some()),
                    "UNAVAILABLE carries a RetryInfo delay: {status:?}"
                );
                false
            }
            other => panic!("not a retryable refusal: {other:?} {status:?}"),
        }
    } else {
        let response = http_client()
            .post(lookout.http_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(payload.clone())
            .send()
            .await
            .expect("HTTP request");
        match response.status().as_u16() {
            200 => true,
            503 => {
                assert!(
                    response.headers().contains_key("retry-after"),
                    "503 carries Retry-After: {response:?}"
                );
                false
            }
            other => panic!("not a retryable refusal: HTTP {other}"),
        }
    }
}
