//! The OTLP receiver: OTLP/gRPC and OTLP/HTTP (protobuf and JSON) in.
//!
//! Requests are checked in one pass over their bytes and handed on as bytes; they are never
//! decoded into message trees (JSON bodies are converted to protobuf once, at the edge).

mod body;
pub(crate) mod config;
mod factory;
pub(crate) mod grpc;
mod http;
mod in_flight;
mod ingest;
mod salvage;

use std::sync::Arc;

use tokio::task::JoinHandle;

pub(crate) use config::OtlpReceiverConfig;
pub(crate) use factory::Factory;

use super::ReceiverContext;
use crate::Error;
use crate::component::Host;
use crate::extensions::auth::{AuthConfig, ServerAuthenticator};
use crate::net::server_tls::{ALPN_GRPC, ALPN_HTTP, ServerTls, ServerTlsConfig};
use crate::net::{self, ServeOptions};
use crate::telemetry::ReceiverLimitMetrics;
use in_flight::{Call, InFlight, OverLimit};

/// Binds the configured listeners and serves them until the context's shutdown fires.
pub(crate) async fn start(
    config: &OtlpReceiverConfig,
    ctx: ReceiverContext,
    host: &Host,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let mut tasks = Vec::new();
    // One cap for both protocols: a client cannot double its share by using the other one.
    let in_flight = InFlight::new(config.limits.max_concurrent_requests);
    let limits = config.limits.proto();
    if let Some(grpc) = &config.protocols.grpc {
        let what = format!("receivers.{}.protocols.grpc", ctx.id);
        let guard = Guard::new(
            &what,
            grpc.tls.as_ref(),
            ALPN_GRPC,
            grpc.auth.as_ref(),
            host,
            Admission::new(&in_flight, &ctx, "grpc"),
        )?;
        let listener = net::bind(&what, &grpc.endpoint).await?;
        tracing::info!(receiver = %ctx.id, endpoint = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), tls = guard.tls.is_some(), "OTLP/gRPC listening");
        tasks.push(grpc::serve(listener, grpc, &ctx, guard, limits));
    }
    if let Some(http) = &config.protocols.http {
        let what = format!("receivers.{}.protocols.http", ctx.id);
        let guard = Guard::new(
            &what,
            http.tls.as_ref(),
            ALPN_HTTP,
            http.auth.as_ref(),
            host,
            Admission::new(&in_flight, &ctx, "http"),
        )?;
        let listener = net::bind(&what, &http.endpoint).await?;
        tracing::info!(receiver = %ctx.id, endpoint = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), tls = guard.tls.is_some(), "OTLP/HTTP listening");
        tasks.push(http::serve(listener, http, &ctx, guard, limits));
    }
    Ok(tasks)
}

/// What stands between a client and a protocol's handler: TLS on the connection, the cap on
/// requests in flight and an authenticator on each request.
pub(super) struct Guard {
    tls: Option<Arc<ServerTls>>,
    auth: Option<Arc<ServerAuthenticator>>,
    admission: Admission,
}

/// The receiver's cap on requests in flight, with one protocol's counters.
pub(super) struct Admission {
    in_flight: InFlight,
    metrics: ReceiverLimitMetrics,
}

impl Admission {
    fn new(in_flight: &InFlight, ctx: &ReceiverContext, transport: &str) -> Admission {
        Admission {
            in_flight: in_flight.clone(),
            metrics: ctx
                .telemetry
                .receiver_limits(&ctx.id.to_string(), transport),
        }
    }

    /// Admits a request (ending a stalled one if the cap is reached), or counts its refusal.
    fn admit(&self) -> Result<Call, OverLimit> {
        self.in_flight.admit().inspect_err(|_| {
            self.metrics.over_limit_requests.inc();
        })
    }

    /// Counts a call ended to make room for another.
    fn count_evicted(&self) {
        self.metrics.evicted_requests.inc();
    }
}

impl Guard {
    fn new(
        what: &str,
        tls: Option<&ServerTlsConfig>,
        alpn: &[&[u8]],
        auth: Option<&AuthConfig>,
        host: &Host,
        admission: Admission,
    ) -> Result<Guard, Error> {
        let tls = tls
            .map(|tls| ServerTls::new(tls, alpn).map(Arc::new))
            .transpose()
            .map_err(|err| Error::component(what, err.to_string()))?;
        let auth = auth
            .map(|auth| auth.lookup(host))
            .transpose()
            .map_err(|m| Error::component(what, m))?;
        Ok(Guard {
            tls,
            auth,
            admission,
        })
    }

    /// Serving options with this guard's TLS.
    fn options(&self, options: ServeOptions) -> ServeOptions {
        ServeOptions {
            tls: self.tls.clone(),
            ..options
        }
    }
}
