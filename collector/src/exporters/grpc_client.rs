//! A minimal unary gRPC client over one multiplexed HTTP/2 connection.
//!
//! The exporter already holds the encoded request bytes, so it needs no codec: it frames the
//! (pre-compressed) bytes itself, which lets it choose the compressor and level. tonic's client
//! always re-encodes through a codec and compresses gzip at zlib level 6, which alone costs more
//! CPU than the rest of the hop.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::ExportError;

/// A connection target.
pub(crate) struct GrpcClient {
    authority: String,
    scheme: &'static str,
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    headers: HeaderMap,
    connection: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl GrpcClient {
    pub(crate) fn new(
        authority: String,
        tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
        headers: HeaderMap,
    ) -> GrpcClient {
        GrpcClient {
            authority,
            scheme: if tls.is_some() { "https" } else { "http" },
            tls,
            headers,
            connection: Mutex::new(None),
        }
    }

    async fn sender(&self) -> Result<SendRequest<Full<Bytes>>, ExportError> {
        let mut slot = self.connection.lock().await;
        if let Some(sender) = slot.as_ref()
            && !sender.is_closed()
        {
            return Ok(sender.clone());
        }
        let sender = self.connect().await?;
        *slot = Some(sender.clone());
        Ok(sender)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ExportError> {
        let unavailable = |what: &str, err: &dyn std::fmt::Display| {
            ExportError::retryable(format!("{what} {}: {err}", self.authority))
        };
        let tcp = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| unavailable("cannot connect to", &e))?;
        let _ = tcp.set_nodelay(true);
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(8 << 20)
            .max_frame_size(1 << 20)
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(false);
        match &self.tls {
            None => handshake(&builder, tcp)
                .await
                .map_err(|e| unavailable("HTTP/2 handshake with", &e)),
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| unavailable("TLS handshake with", &e))?;
                handshake(&builder, stream)
                    .await
                    .map_err(|e| unavailable("HTTP/2 handshake with", &e))
            }
        }
    }

    async fn drop_connection(&self) {
        *self.connection.lock().await = None;
    }

    /// Calls `path` with one framed message (`frame` includes the 5-byte gRPC prefix);
    /// `encoding` names its compression (`None` for identity).
    pub(crate) async fn unary(
        &self,
        path: &str,
        frame: Bytes,
        encoding: Option<&'static str>,
        timeout: Duration,
    ) -> Result<Bytes, ExportError> {
        match tokio::time::timeout(timeout, self.call(path, frame, encoding, timeout)).await {
            Ok(result) => result,
            Err(_) => {
                self.drop_connection().await;
                Err(ExportError::timed_out(format!(
                    "no response from {} within the timeout ({timeout:?})",
                    self.authority
                )))
            }
        }
    }

    async fn call(
        &self,
        path: &str,
        frame: Bytes,
        encoding: Option<&'static str>,
        timeout: Duration,
    ) -> Result<Bytes, ExportError> {
        let mut sender = self.sender().await?;
        let uri: Uri = format!("{}://{}{path}", self.scheme, self.authority)
            .parse()
            .map_err(|e| ExportError::permanent(format!("bad endpoint: {e}")))?;
        let mut request = Request::post(uri)
            .body(Full::new(frame))
            .map_err(|e| ExportError::permanent(format!("bad request: {e}")))?;
        let headers = request.headers_mut();
        headers.extend(self.headers.clone());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert(
            "grpc-accept-encoding",
            HeaderValue::from_static("gzip,identity"),
        );
        if let Some(encoding) = encoding {
            headers.insert("grpc-encoding", HeaderValue::from_static(encoding));
        }
        if let Ok(value) = HeaderValue::from_str(&format!("{}m", timeout.as_millis())) {
            headers.insert("grpc-timeout", value);
        }
        if sender.ready().await.is_err() {
            self.drop_connection().await;
            sender = self.sender().await?;
        }
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(err) => {
                self.drop_connection().await;
                return Err(ExportError::retryable(format!(
                    "sending to {} failed: {err}",
                    self.authority
                )));
            }
        };
        let (parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            return Err(http_status_error(parts.status));
        }
        // A trailers-only response carries grpc-status in the headers.
        if let Some(status) = Status::from_header_map(&parts.headers) {
            return check(status).map(|()| Bytes::new());
        }
        let collected = body
            .collect()
            .await
            .map_err(|err| ExportError::retryable(format!("reading the response failed: {err}")))?;
        let trailers = collected.trailers().cloned();
        let data = collected.to_bytes();
        match trailers.as_ref().and_then(Status::from_header_map) {
            Some(status) => check(status).map(|()| data),
            None => Err(ExportError::retryable("response ended without grpc-status")),
        }
    }
}

/// Starts HTTP/2 on `io` and drives the connection in a task. That task ends when the
/// connection closes or the last sender is dropped (the client is dropped at shutdown), so nothing
/// outlives the exporter.
async fn handshake<T>(
    builder: &hyper::client::conn::http2::Builder<TokioExecutor>,
    io: T,
) -> hyper::Result<SendRequest<Full<Bytes>>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = builder.handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        if let Err(err) = conn.await {
            tracing::debug!(error = %err, "gRPC connection closed");
        }
    });
    Ok(sender)
}

/// Maps a non-OK gRPC status to an error (see [`super::status`]).
fn check(status: Status) -> Result<(), ExportError> {
    if status.code() == Code::Ok {
        return Ok(());
    }
    let throttle = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay);
    let message = format!("{:?}: {}", status.code(), status.message());
    Err(super::status::grpc(status.code(), message, throttle))
}

/// gRPC's mapping of HTTP statuses seen instead of a gRPC response.
fn http_status_error(status: StatusCode) -> ExportError {
    let message = format!("HTTP {status} instead of a gRPC response");
    super::status::http(status.as_u16(), message, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn retryable_codes_follow_the_otlp_spec() {
        assert!(check(Status::unavailable("x")).unwrap_err().is_retryable());
        assert!(
            !check(Status::invalid_argument("x"))
                .unwrap_err()
                .is_retryable()
        );
        assert!(
            !check(Status::resource_exhausted("x"))
                .unwrap_err()
                .is_retryable()
        );
        let throttled = Status::with_error_details(
            Code::ResourceExhausted,
            "slow down",
            ErrorDetails::with_retry_info(Some(Duration::from_secs(3))),
        );
        let err = check(throttled).unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(err.throttle(), Some(Duration::from_secs(3)));
        assert!(check(Status::new(Code::Ok, "")).is_ok());
    }
}
