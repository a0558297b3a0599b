//! OTLP/gRPC: unary `Export` calls of the trace, metrics and logs services.
//!
//! Served directly on hyper rather than through tonic's generated server so that the request
//! stays as bytes from socket to pipeline, the size limit is enforced while the body streams in
//! (answering RESOURCE_EXHAUSTED as the OTLP spec asks; tonic answers OUT_OF_RANGE), and a full
//! pipeline answers UNAVAILABLE with a RetryInfo delay.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::body::{self, Announced, ReadError};
use super::config::GrpcServerConfig;
use super::in_flight::{Call, OverLimit};
use super::ingest::{Ingest, IngestError};
use super::{Admission, Guard};
use crate::compression::{self, Codec, DecompressError};
use crate::core::{OverBudget, Signal};
use crate::extensions::auth::ServerAuthenticator;
use crate::net::{self, Body, ServeOptions};
use crate::receivers::ReceiverContext;

const TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const METRICS: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
const LOGS: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// How long a client told UNAVAILABLE should wait before retrying.
const RETRY_DELAY: Duration = Duration::from_secs(1);

struct State {
    ingest: Ingest,
    admission: Admission,
    max_message: usize,
    read_timeout: Duration,
    auth: Option<Arc<ServerAuthenticator>>,
}

pub(super) fn serve(
    listener: TcpListener,
    config: &GrpcServerConfig,
    ctx: &ReceiverContext,
    guard: Guard,
    limits: lookout_proto::Limits,
) -> JoinHandle<()> {
    let options = guard.options(ServeOptions {
        http2_only: true,
        max_concurrent_streams: config.max_concurrent_streams,
        tls: None,
        max_connections: config.max_connections,
        idle_timeout: config.idle_timeout,
    });
    let state = Arc::new(State {
        ingest: Ingest::new(ctx, "grpc", limits),
        admission: guard.admission,
        max_message: usize::try_from(config.max_recv_msg_size_mib << 20).unwrap_or(usize::MAX),
        read_timeout: config.read_timeout,
        auth: guard.auth,
    });
    net::serve(
        listener,
        move |req| handle(Arc::clone(&state), req),
        ctx.shutdown.clone(),
        options,
    )
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let signal = signal_of(req.uri().path());
    // Held until the response is made. Over the cap, nothing else is looked at.
    let call = match state.admission.admit() {
        Ok(call) => call,
        Err(over) => {
            if let Some(signal) = signal {
                state.ingest.count_retryable_refusal(signal);
            }
            return over_limit(over).into_http();
        }
    };
    // Before anything else, the body above all: an unauthenticated client costs no memory.
    if let Some(auth) = &state.auth
        && let Err(denied) = auth.authenticate(req.headers()).await
    {
        return Status::unauthenticated(denied.to_string()).into_http();
    }
    // Boxed: a call refused above costs its task only this small future, not the export's.
    match Box::pin(export(&state, req, &call)).await {
        Ok(response) => response,
        Err(status) => {
            if status.code() == Code::Unavailable
                && let Some(signal) = signal
            {
                state.ingest.count_retryable_refusal(signal);
            }
            status.into_http()
        }
    }
}

fn signal_of(path: &str) -> Option<Signal> {
    match path {
        TRACES => Some(Signal::Traces),
        METRICS => Some(Signal::Metrics),
        LOGS => Some(Signal::Logs),
        _ => None,
    }
}

async fn export(
    state: &State,
    req: Request<Incoming>,
    call: &Call,
) -> Result<Response<Body>, Status> {
    let Some(signal) = signal_of(req.uri().path()) else {
        return Err(Status::unimplemented(format!(
            "unknown method {}",
            req.uri().path()
        )));
    };
    if req.method() != Method::POST {
        return Ok(plain_http(StatusCode::METHOD_NOT_ALLOWED));
    }
    let grpc_content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if !grpc_content_type {
        return Ok(plain_http(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    if !state.ingest.serves(signal) {
        return Err(Status::unimplemented(format!(
            "this receiver is not in any {signal} pipeline"
        )));
    }
    let codec = match req.headers().get("grpc-encoding") {
        None => Codec::Identity,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(Codec::from_name)
            .ok_or_else(|| {
                Status::unimplemented(format!(
                    "unsupported grpc-encoding {value:?}; supported: identity, gzip, deflate, zstd"
                ))
            })?,
    };

    // The frame header is 5 bytes; a compressed message is at most about as large as the
    // limit, so anything much longer is refused before it is buffered whole.
    let wire_limit = state
        .max_message
        .saturating_add(state.max_message / 8 + 1024);
    let (body, mut reservation) = body::read(
        req.into_body(),
        wire_limit,
        state.ingest.budget(),
        Announced::GrpcFrame,
        state.read_timeout,
        call,
    )
    .await
    .map_err(|err| match err {
        ReadError::TooLarge => too_large(state.max_message),
        ReadError::OverBudget(over) => over_budget(over),
        ReadError::Failed(err) => Status::cancelled(format!("reading the request failed: {err}")),
        ReadError::TimedOut(after) => Status::deadline_exceeded(format!(
            "the message did not arrive within read_timeout ({after:?})"
        )),
        ReadError::Evicted => {
            state.admission.count_evicted();
            Status::with_error_details(
                Code::Unavailable,
                "ended to make room for another request: max_concurrent_requests were in flight and this message had sent nothing for over 1 s",
                ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
            )
        }
    })?;
    let message = unframe(body, codec, state.max_message)?;
    // Decompressed, the message is what the pipelines will hold.
    reservation
        .try_grow_to(message.len() as u64)
        .map_err(over_budget)?;

    match state.ingest.ingest(signal, message, reservation).await {
        Ok(accepted) => Ok(ok_response(accepted.rejected.map(|(count, message)| {
            super::salvage::response_protobuf(signal, count, &message)
        }))),
        Err(IngestError::Invalid(message)) => Err(Status::invalid_argument(message)),
        Err(IngestError::Full) => Err(Status::with_error_details(
            Code::Unavailable,
            "the pipeline is full; retry later",
            ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
        )),
        Err(IngestError::NotQueued) => Err(Status::with_error_details(
            Code::Unavailable,
            "the sending queue did not take the data; retry later",
            ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
        )),
        Err(IngestError::OverBudget(over)) => Err(over_budget(over)),
        Err(IngestError::Closed) => Err(Status::unavailable("the collector is shutting down")),
        Err(IngestError::NotServed) => Err(Status::unimplemented(format!(
            "this receiver is not in any {signal} pipeline"
        ))),
    }
}

/// Over the memory budget: UNAVAILABLE with a RetryInfo delay, retryable as the OTLP spec
/// asks, so the client's own queue holds the data meanwhile.
fn over_budget(over: OverBudget) -> Status {
    Status::with_error_details(
        Code::Unavailable,
        over.to_string(),
        ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
    )
}

/// Over `max_concurrent_requests`: UNAVAILABLE with a RetryInfo delay (retryable), before
/// anything of the call is read.
fn over_limit(over: OverLimit) -> Status {
    Status::with_error_details(
        Code::Unavailable,
        format!(
            "max_concurrent_requests ({}) requests are in flight; retry later",
            over.limit
        ),
        ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
    )
}

/// Takes the one length-prefixed message of a unary call out of its frame.
pub(crate) fn unframe(mut body: Bytes, codec: Codec, limit: usize) -> Result<Bytes, Status> {
    if body.len() < 5 {
        return Err(Status::invalid_argument(
            "request body is shorter than a gRPC message header",
        ));
    }
    let compressed = body.get_u8();
    let len = body.get_u32() as usize;
    if len > limit && compressed == 0 {
        return Err(too_large(limit));
    }
    if body.len() != len {
        return Err(Status::invalid_argument(format!(
            "gRPC message length {len} does not match the {} bytes sent (unary calls carry one message)",
            body.len()
        )));
    }
    match compressed {
        0 => Ok(body),
        1 if codec == Codec::Identity => Err(Status::internal(
            "compressed message without a grpc-encoding header",
        )),
        1 => compression::decompress(codec, body, limit).map_err(|err| match err {
            DecompressError::TooLarge { .. } => too_large(limit),
            DecompressError::Corrupt { .. } => Status::invalid_argument(err.to_string()),
        }),
        flag => Err(Status::internal(format!("invalid compression flag {flag}"))),
    }
}

fn too_large(limit: usize) -> Status {
    Status::resource_exhausted(format!(
        "request exceeds max_recv_msg_size_mib ({} MiB)",
        limit >> 20
    ))
}

/// The `Export*ServiceResponse` (empty for full success, else the partial success) followed
/// by `grpc-status: 0`.
fn ok_response(message: Option<Vec<u8>>) -> Response<Body> {
    let data = match message {
        None => Bytes::from_static(&[0, 0, 0, 0, 0]),
        Some(message) => {
            let mut framed = Vec::with_capacity(5 + message.len());
            framed.push(0);
            framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
            framed.extend_from_slice(&message);
            Bytes::from(framed)
        }
    };
    let frames = [
        Ok(Frame::data(data)),
        Ok(Frame::trailers({
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            trailers
        })),
    ];
    let mut response = Response::new(StreamBody::new(futures::stream::iter(frames)).boxed_unsync());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

fn plain_http(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(net::full(""));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, payload: &[u8]) -> Bytes {
        let mut v = vec![flag];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        Bytes::from(v)
    }

    #[test]
    fn unframes_plain_and_gzip() {
        assert_eq!(
            &unframe(frame(0, b"abc"), Codec::Identity, 100).unwrap()[..],
            b"abc"
        );
        let packed = compression::compress(Codec::Gzip, None, b"hello");
        assert_eq!(
            &unframe(frame(1, &packed), Codec::Gzip, 100).unwrap()[..],
            b"hello"
        );
    }

    #[test]
    fn rejects_bad_frames_with_spec_codes() {
        assert_eq!(
            unframe(Bytes::from_static(b"\0\0"), Codec::Identity, 100)
                .unwrap_err()
                .code(),
            Code::InvalidArgument
        );
        let mut truncated = frame(0, b"abcdef").to_vec();
        truncated.truncate(8);
        assert_eq!(
            unframe(Bytes::from(truncated), Codec::Identity, 100)
                .unwrap_err()
                .code(),
            Code::InvalidArgument
        );
        assert_eq!(
            unframe(frame(0, &[0; 200]), Codec::Identity, 100)
                .unwrap_err()
                .code(),
            Code::ResourceExhausted
        );
        let bomb = compression::compress(Codec::Gzip, None, &[0; 10_000]);
        assert_eq!(
            unframe(frame(1, &bomb), Codec::Gzip, 100)
                .unwrap_err()
                .code(),
            Code::ResourceExhausted
        );
        assert_eq!(
            unframe(frame(1, b"not gzip"), Codec::Gzip, 100)
                .unwrap_err()
                .code(),
            Code::InvalidArgument
        );
    }
}
