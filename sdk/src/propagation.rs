//! Carrying trace context across process boundaries.
//!
//! [`install`](crate::Builder::install) registers W3C `traceparent` /
//! `tracestate` and W3C baggage as the global propagator; these helpers use
//! whatever global propagator is registered, so they also work with one you
//! set yourself.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Injects the context of the current `tracing` span into outgoing HTTP
/// headers. Call it on the headers of a request you are about to send:
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// let span = tracing::info_span!("call payments");
/// let _entered = span.enter();
/// lookout_sdk::propagation::inject_context(&mut headers);
/// // with reqwest: client.post(url).headers(headers).send().await
/// ```
pub fn inject_context(headers: &mut http::HeaderMap) {
    inject_context_from(&tracing::Span::current().context(), headers);
}

/// Injects an explicit OpenTelemetry [`Context`] into HTTP headers.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// lookout_sdk::propagation::inject_context_from(&opentelemetry::Context::current(), &mut headers);
/// ```
pub fn inject_context_from(cx: &Context, headers: &mut http::HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(cx, &mut HeaderInjector(headers));
    });
}

/// Extracts a remote parent context from incoming HTTP headers. Pass the
/// result to [`OpenTelemetrySpanExt::set_parent`] on the span handling the
/// request (the [`ServerLayer`](crate::http::ServerLayer) does this for you).
///
/// ```
/// use lookout_sdk::tracing_opentelemetry::OpenTelemetrySpanExt;
///
/// let headers = http::HeaderMap::new();
/// let span = tracing::info_span!("handle");
/// let _ = span.set_parent(lookout_sdk::propagation::extract_context(&headers));
/// ```
pub fn extract_context(headers: &http::HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // Propagators only produce valid header names and values; anything
        // else is skipped rather than failing the caller's request.
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// A tonic client interceptor that injects the current span's context into
/// the gRPC request metadata.
///
/// ```
/// # async fn demo(channel: tonic::transport::Channel) {
/// use tonic::service::interceptor::InterceptedService;
///
/// let svc = InterceptedService::new(channel, lookout_sdk::propagation::GrpcInjector);
/// // e.g. `GreeterClient::new(svc)` or `GreeterClient::with_interceptor(channel, GrpcInjector)`
/// # drop(svc);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcInjector;

impl tonic::service::Interceptor for GrpcInjector {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let cx = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut MetadataInjector(req.metadata_mut()));
        });
        Ok(req)
    }
}

/// A tonic server interceptor that extracts the remote parent from the gRPC
/// metadata and stores it in the request extensions, where
/// [`grpc_parent`] finds it.
///
/// For full server spans with status codes, prefer adding
/// [`ServerLayer`](crate::http::ServerLayer) to the tonic server; this
/// interceptor is for services that create their own spans.
///
/// ```
/// use lookout_sdk::propagation::{GrpcExtractor, grpc_parent};
/// use lookout_sdk::tracing_opentelemetry::OpenTelemetrySpanExt;
/// use tonic::service::Interceptor;
///
/// let req = GrpcExtractor.call(tonic::Request::new(())).unwrap();
/// // in the handler:
/// let span = tracing::info_span!("SayHello");
/// let _ = span.set_parent(grpc_parent(&req));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcExtractor;

/// The remote parent stored by [`GrpcExtractor`].
#[derive(Clone, Debug)]
struct RemoteParent(Context);

impl tonic::service::Interceptor for GrpcExtractor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let cx = extract_grpc_context(req.metadata());
        req.extensions_mut().insert(RemoteParent(cx));
        Ok(req)
    }
}

/// Returns the remote parent stored by [`GrpcExtractor`], or extracts it
/// from the metadata if the interceptor was not installed.
///
/// ```
/// let req = tonic::Request::new(());
/// let parent = lookout_sdk::propagation::grpc_parent(&req);
/// # drop(parent);
/// ```
pub fn grpc_parent<T>(req: &tonic::Request<T>) -> Context {
    match req.extensions().get::<RemoteParent>() {
        Some(RemoteParent(cx)) => cx.clone(),
        None => extract_grpc_context(req.metadata()),
    }
}

/// Extracts a remote parent context from gRPC metadata.
///
/// ```
/// let md = tonic::metadata::MetadataMap::new();
/// let cx = lookout_sdk::propagation::extract_grpc_context(&md);
/// # drop(cx);
/// ```
pub fn extract_grpc_context(metadata: &tonic::metadata::MetadataMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&MetadataExtractor(metadata)))
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::AsciiMetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct MetadataExtractor<'a>(&'a tonic::metadata::MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => k.as_str(),
                tonic::metadata::KeyRef::Binary(k) => k.as_str(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tonic::service::Interceptor;

    fn remote() -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ))
    }

    #[test]
    fn http_round_trip() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let mut headers = http::HeaderMap::new();
        inject_context_from(&remote(), &mut headers);
        assert_eq!(
            headers["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let cx = extract_context(&headers);
        assert_eq!(
            cx.span().span_context().span_id(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap()
        );
    }

    #[test]
    fn grpc_round_trip() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let mut req = tonic::Request::new(());
        let cx = remote();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut MetadataInjector(req.metadata_mut()));
        });
        let req = GrpcExtractor.call(req).unwrap();
        let parent = grpc_parent(&req);
        assert_eq!(
            parent.span().span_context().trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
        assert!(parent.span().span_context().is_remote());
    }
}
