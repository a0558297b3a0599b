//! OTLP/HTTP: `POST /v1/{traces,metrics,logs}` with protobuf or JSON bodies, optionally gzip,
//! deflate or zstd compressed. Errors carry a `google.rpc.Status` in the request's encoding.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use prost::Message;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::body::{self, Announced, ReadError};
use super::config::HttpServerConfig;
use super::in_flight::{Call, OverLimit};
use super::ingest::{Ingest, IngestError};
use super::{Admission, Guard};
use crate::compression::{self, Codec, DecompressError};
use crate::core::{OverBudget, Signal};
use crate::extensions::auth::ServerAuthenticator;
use crate::net::{self, Body, ServeOptions};
use crate::receivers::ReceiverContext;

/// Seconds a client told 503 should wait (`Retry-After`).
const RETRY_AFTER_SECONDS: &str = "1";

struct State {
    ingest: Ingest,
    admission: Admission,
    limits: lookout_proto::Limits,
    max_body: usize,
    read_timeout: Duration,
    paths: [String; 3],
    auth: Option<Arc<ServerAuthenticator>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

pub(super) fn serve(
    listener: TcpListener,
    config: &HttpServerConfig,
    ctx: &ReceiverContext,
    guard: Guard,
    limits: lookout_proto::Limits,
) -> JoinHandle<()> {
    let options = guard.options(ServeOptions {
        max_connections: config.max_connections,
        max_concurrent_streams: config.max_concurrent_streams,
        idle_timeout: config.idle_timeout,
        ..ServeOptions::default()
    });
    let state = Arc::new(State {
        ingest: Ingest::new(ctx, "http", limits),
        admission: guard.admission,
        limits,
        max_body: usize::try_from(config.max_request_body_size).unwrap_or(usize::MAX),
        read_timeout: config.read_timeout,
        paths: [
            config.traces_url_path.clone(),
            config.metrics_url_path.clone(),
            config.logs_url_path.clone(),
        ],
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
    let signal = signal_of(&state, req.uri().path());
    // Held until the response is made. Over the cap, nothing else is looked at.
    let call = match state.admission.admit() {
        Ok(call) => call,
        Err(over) => {
            if let Some(signal) = signal {
                state.ingest.count_retryable_refusal(signal);
            }
            return over_limit(format_of(&req), over);
        }
    };
    // Before anything else, the body above all: an unauthenticated client costs no memory.
    if let Some(auth) = &state.auth
        && let Err(denied) = auth.authenticate(req.headers()).await
    {
        let mut response = text(StatusCode::UNAUTHORIZED, denied.to_string());
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, auth.challenge());
        return response;
    }
    // Boxed: a request refused above costs its task only this small future, not the export's.
    let response = Box::pin(export(&state, req, &call)).await;
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && let Some(signal) = signal
    {
        state.ingest.count_retryable_refusal(signal);
    }
    response
}

fn signal_of(state: &State, path: &str) -> Option<Signal> {
    Signal::ALL
        .into_iter()
        .find(|s| state.paths.get(*s as usize).is_some_and(|p| p == path))
}

async fn export(state: &State, req: Request<Incoming>, call: &Call) -> Response<Body> {
    let path = req.uri().path();
    let Some(signal) = signal_of(state, path) else {
        return text(StatusCode::NOT_FOUND, format!("no OTLP endpoint at {path}"));
    };
    if !state.ingest.serves(signal) {
        return text(
            StatusCode::NOT_FOUND,
            format!("this receiver is not in any {signal} pipeline"),
        );
    }
    if req.method() != Method::POST {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use POST".into());
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let format = match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Format::Protobuf,
        "application/json" => Format::Json,
        _ => {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported content type {content_type:?}; expected application/x-protobuf or application/json"
                ),
            );
        }
    };
    let codec = match req.headers().get(header::CONTENT_ENCODING) {
        None => Codec::Identity,
        Some(value) => match value.to_str().ok().and_then(Codec::from_name) {
            Some(codec) => codec,
            None => {
                return status(
                    format,
                    StatusCode::BAD_REQUEST,
                    3,
                    format!(
                        "unsupported Content-Encoding {value:?}; supported: gzip, deflate, zstd"
                    ),
                );
            }
        },
    };
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (body, mut reservation) = match body::read(
        req.into_body(),
        state.max_body,
        state.ingest.budget(),
        Announced::Header(announced),
        state.read_timeout,
        call,
    )
    .await
    {
        Ok(read) => read,
        Err(ReadError::TooLarge) => return too_large(format, state.max_body),
        Err(ReadError::OverBudget(over)) => return over_budget(format, over),
        Err(ReadError::Failed(err)) => {
            return status(
                format,
                StatusCode::BAD_REQUEST,
                3,
                format!("reading the body failed: {err}"),
            );
        }
        Err(ReadError::TimedOut(after)) => {
            return status(
                format,
                StatusCode::REQUEST_TIMEOUT,
                4,
                format!("the body did not arrive within read_timeout ({after:?})"),
            );
        }
        Err(ReadError::Evicted) => {
            state.admission.count_evicted();
            return retry_later(
                format,
                "ended to make room for another request: max_concurrent_requests were in flight and this body had sent nothing for over 1 s".into(),
            );
        }
    };
    let body = match compression::decompress(codec, body, state.max_body) {
        Ok(body) => body,
        Err(DecompressError::TooLarge { .. }) => return too_large(format, state.max_body),
        Err(err) => return status(format, StatusCode::BAD_REQUEST, 3, err.to_string()),
    };
    if let Err(over) = reservation.try_grow_to(body.len() as u64) {
        return over_budget(format, over);
    }
    let payload = match format {
        Format::Protobuf => body,
        Format::Json => match json_to_protobuf(signal, &body, state.limits) {
            Ok(payload) => payload,
            Err(message) => return status(format, StatusCode::BAD_REQUEST, 3, message),
        },
    };
    match state.ingest.ingest(signal, payload, reservation).await {
        Ok(accepted) => {
            let body = match (format, accepted.rejected) {
                // An empty Export*ServiceResponse encodes to zero bytes.
                (Format::Protobuf, None) => Bytes::new(),
                (Format::Json, None) => Bytes::from_static(b"{}"),
                (Format::Protobuf, Some((count, message))) => {
                    Bytes::from(super::salvage::response_protobuf(signal, count, &message))
                }
                (Format::Json, Some((count, message))) => {
                    Bytes::from(super::salvage::response_json(signal, count, &message))
                }
            };
            Response::builder()
                .header(header::CONTENT_TYPE, format.content_type())
                .body(net::full(body))
                .unwrap_or_else(|_| Response::new(net::full("")))
        }
        Err(IngestError::Invalid(message)) => status(format, StatusCode::BAD_REQUEST, 3, message),
        Err(err @ (IngestError::Full | IngestError::NotQueued)) => {
            let message = if matches!(err, IngestError::Full) {
                "the pipeline is full; retry later"
            } else {
                "the sending queue did not take the data; retry later"
            };
            let mut response = status(format, StatusCode::SERVICE_UNAVAILABLE, 14, message.into());
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
            response
        }
        Err(IngestError::OverBudget(over)) => over_budget(format, over),
        Err(IngestError::Closed) => {
            let mut response = status(
                format,
                StatusCode::SERVICE_UNAVAILABLE,
                14,
                "the collector is shutting down".into(),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
            response
        }
        Err(IngestError::NotServed) => text(
            StatusCode::NOT_FOUND,
            format!("this receiver is not in any {signal} pipeline"),
        ),
    }
}

/// OTLP/JSON → the protobuf encoding the pipeline carries. Ids of the wrong length pass
/// through so that validation rejects just their items (partial success).
///
/// `limits` are applied while decoding, before any attribute is built.
fn json_to_protobuf(
    signal: Signal,
    body: &[u8],
    limits: lookout_proto::Limits,
) -> Result<Bytes, String> {
    use lookout_proto::json::{self, DecodeOptions};
    let options = DecodeOptions {
        any_id_length: true,
        limits,
    };
    let encoded = match signal {
        Signal::Traces => json::traces_from_json_with(body, &options).map(|m| m.encode_to_vec()),
        Signal::Metrics => json::metrics_from_json_with(body, &options).map(|m| m.encode_to_vec()),
        Signal::Logs => json::logs_from_json_with(body, &options).map(|m| m.encode_to_vec()),
    };
    encoded
        .map(Bytes::from)
        .map_err(|err| format!("malformed OTLP/JSON {signal} request: {err}"))
}

/// Over the memory budget: 503 with `Retry-After`, retryable as the OTLP spec asks, so the
/// client's own queue holds the data meanwhile.
fn over_budget(format: Format, over: OverBudget) -> Response<Body> {
    retry_later(format, over.to_string())
}

/// Over `max_concurrent_requests`: 503 with `Retry-After`, before the body is read.
fn over_limit(format: Format, over: OverLimit) -> Response<Body> {
    retry_later(
        format,
        format!(
            "max_concurrent_requests ({}) requests are in flight; retry later",
            over.limit
        ),
    )
}

/// 503 with `Retry-After` (UNAVAILABLE in the body): retryable.
fn retry_later(format: Format, message: String) -> Response<Body> {
    let mut response = status(format, StatusCode::SERVICE_UNAVAILABLE, 14, message);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    response
}

/// The encoding errors are answered in: JSON when the request says it sends JSON.
fn format_of(req: &Request<Incoming>) -> Format {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if json { Format::Json } else { Format::Protobuf }
}

fn too_large(format: Format, limit: usize) -> Response<Body> {
    status(
        format,
        StatusCode::PAYLOAD_TOO_LARGE,
        8,
        format!("request body exceeds max_request_body_size ({limit} bytes)"),
    )
}

/// An error response whose body is a `google.rpc.Status` in the request's encoding.
fn status(format: Format, http: StatusCode, code: i32, message: String) -> Response<Body> {
    let body = match format {
        Format::Protobuf => tonic_types::Status {
            code,
            message,
            details: Vec::new(),
        }
        .encode_to_vec(),
        Format::Json => {
            let mut out = Vec::new();
            lookout_proto::json::status_to_json(code, &message, &mut out);
            out
        }
    };
    Response::builder()
        .status(http)
        .header(header::CONTENT_TYPE, format.content_type())
        .body(net::full(body))
        .unwrap_or_else(|_| Response::new(net::full("")))
}

fn text(http: StatusCode, message: String) -> Response<Body> {
    Response::builder()
        .status(http)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(net::full(message))
        .unwrap_or_else(|_| Response::new(net::full("")))
}
