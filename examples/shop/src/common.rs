//! What the three services share: telemetry setup, serving with a graceful
//! stop, RED metrics, fault injection and instrumented outgoing calls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use lookout_sdk::opentelemetry::KeyValue;
use lookout_sdk::opentelemetry::metrics::Histogram;
use serde_json::{Value, json};
use tracing::Instrument;
use tracing::field::Empty;

/// Settings every service takes.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServiceArgs {
    /// Address to listen on; port 0 picks a free port. The bound address is
    /// printed on stdout as `listening on http://ADDR`.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) listen: SocketAddr,
    /// Also write JSON log lines (with trace_id/span_id) to this file.
    #[arg(long, env = "SHOP_LOG_FILE")]
    pub(crate) log_file: Option<PathBuf>,
    /// Extra latency added to every request this service handles.
    #[arg(long, env = "INJECT_LATENCY_MS", default_value_t = 0)]
    pub(crate) inject_latency_ms: u64,
    /// Fraction (0.0..=1.0) of requests this service fails with a 500.
    #[arg(long, env = "INJECT_ERROR_RATE", default_value_t = 0.0)]
    pub(crate) inject_error_rate: f64,
    /// Seconds after start before the injected faults begin, so a
    /// healthy baseline comes first and the change is visible.
    #[arg(long, env = "INJECT_AFTER_SECS", default_value_t = 0.0)]
    pub(crate) inject_after_secs: f64,
}

/// The injected faults, shared with the handlers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Faults {
    latency: Duration,
    error_rate: f64,
    from: tokio::time::Instant,
}

impl Faults {
    pub(crate) fn from_args(args: &ServiceArgs) -> anyhow::Result<Faults> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&args.inject_error_rate),
            "INJECT_ERROR_RATE must be between 0 and 1, got {}",
            args.inject_error_rate
        );
        let after = Duration::try_from_secs_f64(args.inject_after_secs).map_err(|_| {
            anyhow::anyhow!(
                "INJECT_AFTER_SECS must be a non-negative number of seconds, got {}",
                args.inject_after_secs
            )
        })?;
        Ok(Faults {
            latency: Duration::from_millis(args.inject_latency_ms),
            error_rate: args.inject_error_rate,
            from: tokio::time::Instant::now() + after,
        })
    }

    /// Sleeps for the injected latency, then fails the request with the
    /// injected probability. Both show up in the trace, so a user can find
    /// the cause of a slow or failed request from the trace alone.
    pub(crate) async fn apply(&self) -> Result<(), AppError> {
        if tokio::time::Instant::now() < self.from {
            return Ok(());
        }
        if !self.latency.is_zero() {
            // i64, not u64: tracing-opentelemetry exports u64 fields as strings.
            let ms = i64::try_from(self.latency.as_millis()).unwrap_or(i64::MAX);
            tokio::time::sleep(self.latency)
                .instrument(tracing::info_span!("injected latency", latency_ms = ms))
                .await;
        }
        if self.error_rate > 0.0 && rand::random::<f64>() < self.error_rate {
            tracing::error!(error_rate = self.error_rate, "injected failure");
            return Err(AppError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "injected failure",
            ));
        }
        Ok(())
    }
}

/// Installs lookout-sdk for `service`. The OTLP endpoint, protocol and
/// metric interval come from the usual `OTEL_*` variables.
pub(crate) fn install_telemetry(
    service: &str,
    args: &ServiceArgs,
) -> anyhow::Result<lookout_sdk::Guard> {
    let mut builder = lookout_sdk::builder()
        .service_name(service)
        .service_version(env!("CARGO_PKG_VERSION"))
        .resource_attribute("deployment.environment.name", "demo");
    if let Some(path) = &args.log_file {
        builder = builder.json_log_file(path);
    }
    Ok(builder.install()?)
}

/// Serves `app` on `args.listen` until SIGTERM or ctrl-c, finishing requests
/// in flight, then flushes telemetry through `telemetry`.
pub(crate) async fn serve(
    service: &'static str,
    args: &ServiceArgs,
    app: Router,
    telemetry: lookout_sdk::Guard,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    // Scripts and tests read this line to learn the port when `--listen`
    // asked for port 0.
    println!("listening on http://{addr}");
    use std::io::Write as _;
    std::io::stdout().flush()?;
    tracing::info!(
        %addr,
        inject_latency_ms = args.inject_latency_ms,
        inject_error_rate = args.inject_error_rate,
        inject_after_secs = args.inject_after_secs,
        "listening"
    );
    let app = app.route_layer(middleware::from_fn_with_state(
        Red::new(service),
        record_red,
    ));
    let app = app.route_layer(
        lookout_sdk::http::ServerLayer::new()
            .with_route(|ext| ext.get::<MatchedPath>().map(|p| p.as_str().to_owned())),
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await;
    match &served {
        Ok(()) => tracing::info!("stopping: requests in flight finished, flushing telemetry"),
        Err(err) => tracing::error!(%err, "serving failed; flushing telemetry"),
    }
    // Flush even if serving failed, so the error above is exported too.
    let flushed = telemetry.shutdown().await;
    served?;
    flushed?;
    Ok(())
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM; stop with ctrl-c");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Request duration histograms: rate, errors and duration (RED) all derive
/// from `http.server.request.duration`, as the HTTP semantic conventions
/// define it.
#[derive(Clone)]
struct Red {
    duration: Histogram<f64>,
}

/// Bucket boundaries in seconds, from the HTTP semantic conventions; the
/// SDK's default boundaries assume milliseconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

impl Red {
    fn new(service: &'static str) -> Red {
        let meter = lookout_sdk::opentelemetry::global::meter(service);
        Red {
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP server requests")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
        }
    }
}

async fn record_red(
    axum::extract::State(red): axum::extract::State<Red>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status();
    let mut attributes = vec![
        KeyValue::new("http.request.method", method),
        KeyValue::new("http.route", route),
        KeyValue::new("http.response.status_code", i64::from(status.as_u16())),
    ];
    if status.is_server_error() {
        attributes.push(KeyValue::new("error.type", status.as_u16().to_string()));
    }
    red.duration
        .record(started.elapsed().as_secs_f64(), &attributes);
    response
}

/// A handler failure, answered as `{"error": message}` with `status`.
#[derive(Debug)]
pub(crate) struct AppError {
    status: StatusCode,
    message: String,
}

impl AppError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> AppError {
        AppError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

/// An HTTP client shared by a service's handlers.
pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// What a downstream call answered.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

/// Calls a downstream service inside a client span (named after `route`, the
/// callee's route template) that is passed on in `traceparent`, so the
/// callee's server span becomes its child. Transport failures become 502.
pub(crate) async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    route: &str,
    body: Option<&Value>,
) -> Result<Reply, AppError> {
    let span = tracing::info_span!(
        "HTTP client request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "client",
        http.request.method = %method,
        url.full = url,
        http.response.status_code = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    );
    async {
        let mut headers = http::HeaderMap::new();
        lookout_sdk::propagation::inject_context(&mut headers);
        let mut request = client.request(method, url).headers(headers);
        if let Some(body) = body {
            request = request.json(body);
        }
        let span = tracing::Span::current();
        let response = match request.send().await {
            Ok(r) => r,
            Err(err) => {
                span.record("error.type", "transport");
                lookout_sdk::http::record_error(&span, &err);
                tracing::error!(%err, url, "downstream call failed");
                return Err(AppError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("calling {url}: {err}"),
                ));
            }
        };
        let status = response.status();
        span.record("http.response.status_code", i64::from(status.as_u16()));
        // For clients every 4xx/5xx is an error (HTTP semantic conventions).
        if status.is_client_error() || status.is_server_error() {
            span.record("error.type", status.as_str());
            span.record("otel.status_code", "ERROR");
        }
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok(Reply { status, body })
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(latency_ms: u64, error_rate: f64) -> ServiceArgs {
        ServiceArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            log_file: None,
            inject_latency_ms: latency_ms,
            inject_error_rate: error_rate,
            inject_after_secs: 0.0,
        }
    }

    #[test]
    fn error_rate_outside_0_to_1_is_refused() {
        assert!(Faults::from_args(&args(0, 1.5)).is_err());
        assert!(Faults::from_args(&args(0, -0.1)).is_err());
        assert!(Faults::from_args(&args(0, f64::NAN)).is_err());
    }

    #[tokio::test]
    async fn error_rate_one_always_fails_and_zero_never_does() {
        let always = Faults::from_args(&args(0, 1.0)).unwrap();
        let never = Faults::from_args(&args(0, 0.0)).unwrap();
        for _ in 0..100 {
            let err = always.apply().await.unwrap_err();
            assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(never.apply().await.is_ok());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn injected_latency_delays_the_request() {
        let slow = Faults::from_args(&args(250, 0.0)).unwrap();
        let started = tokio::time::Instant::now();
        slow.apply().await.unwrap();
        // The clock is paused: only the injected sleep moves it.
        assert!(started.elapsed() >= Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn faults_begin_after_the_delay() {
        let mut a = args(0, 1.0);
        a.inject_after_secs = 5.0;
        let faults = Faults::from_args(&a).unwrap();
        assert!(faults.apply().await.is_ok(), "no faults before the delay");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(faults.apply().await.is_err(), "faults once it has passed");
    }

    #[test]
    fn negative_delay_is_refused() {
        let mut a = args(0, 0.0);
        a.inject_after_secs = -1.0;
        assert!(Faults::from_args(&a).is_err());
    }
}
