//! Serving HTTP/1 and HTTP/2 (cleartext, or TLS with [`server_tls`]) on a bound listener,
//! with graceful shutdown; and, in [`client`], what every outbound connection shares (TLS
//! settings, headers, retry backoff).

pub(crate) mod client;
mod idle;
pub(crate) mod query;
pub(crate) mod server_tls;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::server_tls::ServerTls;
use crate::Error;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Response bodies served by Lookout.
pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A body holding these bytes.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into()).boxed_unsync()
}

/// Binds `endpoint` (`host:port`), naming `what` in the error.
pub(crate) async fn bind(what: &str, endpoint: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(endpoint)
        .await
        .map_err(|err| Error::bind(what, endpoint, err))
}

/// How a listener serves its connections.
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    /// Speak only HTTP/2 (gRPC).
    pub http2_only: bool,
    /// HTTP/2 concurrent streams per connection.
    pub max_concurrent_streams: u32,
    /// Serve TLS (each connection's handshake runs in its own task, bounded by 10 s).
    pub tls: Option<Arc<ServerTls>>,
    /// Connections served at once; a connection accepted beyond this is closed at once (the
    /// client reconnects later), so a flood of idle connections cannot grow memory without
    /// bound. An idle connection costs about 19 KiB (4,000 half-open ones added 73 MiB to a
    /// debug build).
    pub max_connections: usize,
    /// A connection with no request in flight for this long is closed gracefully.
    pub idle_timeout: Duration,
}

/// Default [`ServeOptions::idle_timeout`] (the Collector's HTTP server default).
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default [`ServeOptions::max_connections`].
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 4096;

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            http2_only: false,
            max_concurrent_streams: 100,
            tls: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Serves `handler` on `listener` until `shutdown` fires, then lets in-flight requests finish
/// (for up to 10 s) and returns. Connections idle for `idle_timeout` are closed gracefully.
pub(crate) fn serve<H, F>(
    listener: TcpListener,
    handler: H,
    shutdown: CancellationToken,
    options: ServeOptions,
) -> JoinHandle<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(options.max_concurrent_streams)
            // Larger windows than h2's 64 KiB default: OTLP requests are often megabytes.
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(4 << 20)
            .max_frame_size(1 << 20);
        builder.http1().timer(TokioTimer::new()).keep_alive(true);
        let builder = if options.http2_only {
            builder.http2_only()
        } else {
            builder
        };
        let connections = tokio_util::task::TaskTracker::new();
        let idle_timeout = options.idle_timeout;
        let slots = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
        let mut refused_since_warning = 0u64;
        loop {
            let (stream, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                // At the limit: close it now rather than hold its buffers.
                drop(stream);
                refused_since_warning += 1;
                if refused_since_warning == 1 || refused_since_warning.is_power_of_two() {
                    tracing::warn!(
                        peer = %peer,
                        max_connections = options.max_connections,
                        refused = refused_since_warning,
                        "connection limit reached; closing new connections"
                    );
                }
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            let activity = idle::Activity::new();
            let on_request = Arc::clone(&activity);
            let service = hyper::service::service_fn(move |req| {
                let in_flight = on_request.begin();
                let fut = handler(req);
                async move {
                    let response = fut.await;
                    drop(in_flight);
                    Ok::<_, Infallible>(response)
                }
            });
            let stop = shutdown.clone();
            let Some(tls) = &options.tls else {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                connections.spawn(async move {
                    let _slot = slot;
                    let close = |c: std::pin::Pin<&mut _>| auto::Connection::graceful_shutdown(c);
                    idle::drive(conn, close, stop, activity, idle_timeout).await;
                });
                continue;
            };
            let (tls, builder) = (Arc::clone(tls), builder.clone());
            connections.spawn(async move {
                let _slot = slot;
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
                let stream =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            tracing::debug!(peer = %peer, error = %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(peer = %peer, "TLS handshake timed out");
                            return;
                        }
                    };
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let close = |c: std::pin::Pin<&mut _>| auto::Connection::graceful_shutdown(c);
                idle::drive(conn, close, stop, activity, idle_timeout).await;
            });
        }
        drop(listener);
        connections.close();
        if tokio::time::timeout(Duration::from_secs(10), connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after 10s at shutdown; closing them");
        }
    })
}

/// Checks a `host:port` listen endpoint without binding it: a port is required, and the host
/// is an address or a name (names are resolved when binding).
pub(crate) fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let (host, port) = endpoint
        .rsplit_once(':')
        .ok_or_else(|| format!("endpoint {endpoint:?} must be host:port"))?;
    port.parse::<u16>().map_err(|_| {
        format!("endpoint {endpoint:?}: port {port:?} is not a number from 0 to 65535")
    })?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!(
            "endpoint {endpoint:?} has no host (use 0.0.0.0 to listen on every interface)"
        ));
    }
    Ok(())
}
