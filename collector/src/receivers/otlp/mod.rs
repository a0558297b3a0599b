//! The OTLP receiver: OTLP/gRPC and OTLP/HTTP (protobuf and JSON) in.
//!
//! Requests are checked in one pass over their bytes and handed on as bytes; they are never
//! decoded into message trees (JSON bodies are converted to protobuf once, at the edge).

mod body;
pub(crate) mod config;
mod factory;
mod grpc;
mod http;
mod ingest;
mod salvage;

use tokio::task::JoinHandle;

pub(crate) use config::OtlpReceiverConfig;
pub(crate) use factory::Factory;

use super::ReceiverContext;
use crate::Error;
use crate::net;

/// Binds the configured listeners and serves them until the context's shutdown fires.
pub(crate) async fn start(
    config: &OtlpReceiverConfig,
    ctx: ReceiverContext,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let mut tasks = Vec::new();
    if let Some(grpc) = &config.protocols.grpc {
        let what = format!("receivers.{}.protocols.grpc", ctx.id);
        let listener = net::bind(&what, &grpc.endpoint).await?;
        tracing::info!(receiver = %ctx.id, endpoint = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "OTLP/gRPC listening");
        tasks.push(grpc::serve(listener, grpc, &ctx));
    }
    if let Some(http) = &config.protocols.http {
        let what = format!("receivers.{}.protocols.http", ctx.id);
        let listener = net::bind(&what, &http.endpoint).await?;
        tracing::info!(receiver = %ctx.id, endpoint = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "OTLP/HTTP listening");
        tasks.push(http::serve(listener, http, &ctx));
    }
    Ok(tasks)
}
