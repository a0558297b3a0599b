//! Server spans for `tower`-based HTTP servers (axum, hyper, tonic).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::Status;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

type RouteFn = Arc<dyn Fn(&http::Extensions) -> Option<String> + Send + Sync>;

/// A [`tower::Layer`] that gives every request a server span.
///
/// The span continues the trace found in the `traceparent` header, is named
/// `"{method} {route}"` and carries the HTTP semantic-convention attributes
/// `http.request.method`, `url.path`, `url.scheme`, `server.address`,
/// `http.route`, `http.response.status_code` and, for 5xx responses and
/// service errors, `error.type` with span status `Error`.
///
/// With axum, the matched route is only known inside the router, so add the
/// layer with `route_layer` and tell it how to read the route:
///
/// ```
/// use axum::{Router, extract::MatchedPath, routing::get};
/// use lookout_sdk::http::ServerLayer;
///
/// let app: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "ok" }))
///     .route_layer(ServerLayer::new().with_route(|ext| {
///         ext.get::<MatchedPath>().map(|p| p.as_str().to_owned())
///     }));
/// # drop(app);
/// ```
#[derive(Clone, Default)]
pub struct ServerLayer {
    route: Option<RouteFn>,
    metrics: bool,
}

impl fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLayer")
            .field("route", &self.route.is_some())
            .finish()
    }
}

impl ServerLayer {
    /// Creates the layer. Without [`with_route`](Self::with_route) spans are
    /// named after the method only, because a raw path would give every
    /// `/orders/{id}` its own span name.
    ///
    /// ```
    /// let layer = lookout_sdk::http::ServerLayer::new();
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how to find the matched route template (for `http.route` and the
    /// span name) in the request extensions.
    ///
    /// ```
    /// #[derive(Clone)]
    /// struct Route(&'static str);
    ///
    /// let layer = lookout_sdk::http::ServerLayer::new()
    ///     .with_route(|ext| ext.get::<Route>().map(|r| r.0.to_owned()));
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn with_route(
        mut self,
        route: impl Fn(&http::Extensions) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.route = Some(Arc::new(route));
        self
    }

    /// Also records the RED metrics of every request in the semantic-convention histogram
    /// `http.server.request.duration` (seconds; attributes `http.request.method`, `http.route`,
    /// `http.response.status_code`, `error.type`): its count is the rate, the points with
    /// `error.type` are the errors, its buckets the duration. Recorded through the global meter
    /// provider that [`Builder::install`](crate::Builder::install) sets.
    ///
    /// ```
    /// let layer = lookout_sdk::http::ServerLayer::new().with_red_metrics();
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn with_red_metrics(mut self) -> Self {
        self.metrics = true;
        self
    }
}

/// The request-duration histogram, created once per process on first use.
fn duration_histogram() -> &'static Histogram<f64> {
    static HISTOGRAM: OnceLock<Histogram<f64>> = OnceLock::new();
    HISTOGRAM.get_or_init(|| {
        opentelemetry::global::meter("lookout_sdk")
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP server requests.")
            // The semantic conventions' advised buckets for this metric.
            .with_boundaries(vec![
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
            ])
            .build()
    })
}

/// What the RED metrics need from the request, kept until the response.
struct RedRecord {
    start: Instant,
    method: String,
    route: Option<String>,
}

impl<S> tower::Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService {
            inner,
            route: self.route.clone(),
            metrics: self.metrics,
        }
    }
}

/// The service produced by [`ServerLayer`].
#[derive(Clone)]
pub struct ServerService<S> {
    inner: S,
    route: Option<RouteFn>,
    metrics: bool,
}

impl<S: fmt::Debug> fmt::Debug for ServerService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerService")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for ServerService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Error: fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let route = self.route.as_ref().and_then(|f| f(req.extensions()));
        let span = make_span(&req, route.as_deref());
        let red = self.metrics.then(|| RedRecord {
            start: Instant::now(),
            method: req.method().as_str().to_owned(),
            route,
        });
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture { fut, span, red }
    }
}

fn make_span<B>(req: &http::Request<B>, route: Option<&str>) -> Span {
    let method = req.method().as_str();
    let name = match route {
        Some(r) => format!("{method} {r}"),
        None => method.to_owned(),
    };
    let host = req.uri().host().map(str::to_owned).or_else(|| {
        let h = req.headers().get(http::header::HOST)?.to_str().ok()?;
        // Drop the port, including for bracketed IPv6 literals.
        let host = match h.rfind(':') {
            Some(i) if !h[i..].contains(']') => &h[..i],
            _ => h,
        };
        Some(host.to_owned())
    });
    let span = tracing::info_span!(
        target: "lookout_sdk::http",
        "HTTP request",
        otel.name = %name,
        otel.kind = "server",
        http.request.method = %method,
        url.path = %req.uri().path(),
        url.scheme = req.uri().scheme_str().unwrap_or("http"),
        server.address = Empty,
        http.route = Empty,
        http.response.status_code = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    );
    if let Some(host) = host {
        span.record("server.address", host.as_str());
    }
    if let Some(route) = route {
        span.record("http.route", route);
    }
    // An invalid or missing traceparent leaves the span as a new root.
    let _ = span.set_parent(crate::propagation::extract_context(req.headers()));
    span
}

pin_project_lite::pin_project! {
    /// The response future of [`ServerService`].
    pub struct ResponseFuture<F> {
        #[pin]
        fut: F,
        span: Span,
        red: Option<RedRecord>,
    }
}

impl<F: fmt::Debug> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("fut", &self.fut)
            .finish()
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    E: fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.fut.poll(cx));
        if let Some(red) = this.red.take() {
            record_red(&red, &result);
        }
        match &result {
            Ok(resp) => {
                let code = resp.status().as_u16();
                // As i64: tracing-opentelemetry would export an unsigned field as a string, and the
                // conventions make this attribute an int.
                this.span
                    .record("http.response.status_code", i64::from(code));
                // Per the HTTP conventions only 5xx is a server-side error.
                if resp.status().is_server_error() {
                    this.span.record("error.type", code.to_string().as_str());
                    this.span.record("otel.status_code", "ERROR");
                }
            }
            Err(err) => {
                this.span.record("error.type", "service_error");
                record_error_message(this.span, std::any::type_name::<E>(), &err.to_string());
            }
        }
        Poll::Ready(result)
    }
}

fn record_red<B, E>(red: &RedRecord, result: &Result<http::Response<B>, E>) {
    let mut attributes = vec![KeyValue::new("http.request.method", red.method.clone())];
    if let Some(route) = &red.route {
        attributes.push(KeyValue::new("http.route", route.clone()));
    }
    match result {
        Ok(resp) => {
            let code = resp.status().as_u16();
            attributes.push(KeyValue::new("http.response.status_code", i64::from(code)));
            if resp.status().is_server_error() {
                attributes.push(KeyValue::new("error.type", code.to_string()));
            }
        }
        Err(_) => attributes.push(KeyValue::new("error.type", "service_error")),
    }
    duration_histogram().record(red.start.elapsed().as_secs_f64(), &attributes);
}

/// Marks `span` as failed and records an `exception` event for `error`, as
/// the OpenTelemetry exception conventions describe (`exception.type`,
/// `exception.message`). The error's `source()` chain is appended to the
/// message.
///
/// ```
/// let span = tracing::info_span!("charge card");
/// let err = std::io::Error::other("card declined");
/// lookout_sdk::http::record_error(&span, &err);
/// ```
pub fn record_error<E: std::error::Error + ?Sized>(span: &Span, error: &E) {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    record_error_message(span, std::any::type_name::<E>(), &message);
}

fn record_error_message(span: &Span, type_name: &str, message: &str) {
    span.set_status(Status::error(message.to_owned()));
    span.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", type_name.to_owned()),
            KeyValue::new("exception.message", message.to_owned()),
        ],
    );
}
