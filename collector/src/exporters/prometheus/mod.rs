//! `exporters: prometheus:` — serves the metrics passing through on its own endpoint for
//! Prometheus to scrape, as the Collector's `prometheusexporter`: the latest value of every
//! series, named by the OpenTelemetry → Prometheus compatibility rules ([`naming`]), with
//! `job`/`instance` from the resource, `otel_scope_name`/`otel_scope_version` labels, a
//! `target_info` series per resource, histograms as `_bucket`/`_sum`/`_count`, and series
//! forgotten `metric_expiration` after their last point.
//!
//! Prometheus keeps cumulative series only: delta monotonic sums and delta histograms are
//! added up here (in arrival order, from the first delta seen); non-monotonic delta sums,
//! points without a temporality and exponential histograms (no text-format equivalent) are
//! dropped and counted in `lookout_exporter_prometheus_dropped_points_total` (so are points
//! whose name another type took, or with a label the format reserves).
//!
//! Memory is bounded by `max_series`: once that many series are held, points of new series
//! are refused (existing series keep updating) and counted in
//! `lookout_exporter_prometheus_dropped_series_total`, with a warning at most once a minute;
//! room comes back as series expire.

mod factory;
pub(crate) mod labels;
pub(crate) mod naming;
pub(crate) mod render;
pub(crate) mod store;
#[cfg(test)]
mod tests;

pub(crate) use factory::Factory;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prost::Message;
use serde::Deserialize;

use super::{Export, ExportError};
use crate::core::{Batch, Signal};
use crate::net::{self, Body};
use render::Format;
use store::{Naming, Store};

/// Prometheus exporter settings (the Collector's keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PrometheusExporterConfig {
    /// Where to serve `/metrics` (default `127.0.0.1:8889`).
    pub endpoint: String,
    /// Prefix of every metric name.
    pub namespace: String,
    /// Labels added to every series, `target_info` included.
    pub const_labels: BTreeMap<String, String>,
    /// A series not updated for this long is no longer served (default 5m).
    #[serde(with = "humantime_serde")]
    pub metric_expiration: Duration,
    /// Every resource attribute becomes a label of every series of that resource.
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// Answer in OpenMetrics text when the scraper asks for it (`Accept`).
    pub enable_open_metrics: bool,
    /// Unit and type suffixes (`_seconds`, `_total`, `_ratio`) on metric names (default on).
    pub add_metric_suffixes: bool,
    /// The most series held and served at once (a histogram series counts once, so does
    /// each `target_info`); points of new series beyond it are dropped and counted (default
    /// 100000).
    pub max_series: usize,
}

/// `resource_to_telemetry_conversion:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ResourceToTelemetry {
    /// Whether resource attributes become labels.
    pub enabled: bool,
}

impl Default for PrometheusExporterConfig {
    fn default() -> Self {
        PrometheusExporterConfig {
            endpoint: "127.0.0.1:8889".into(),
            namespace: String::new(),
            const_labels: BTreeMap::new(),
            metric_expiration: Duration::from_secs(300),
            resource_to_telemetry_conversion: ResourceToTelemetry::default(),
            enable_open_metrics: false,
            add_metric_suffixes: true,
            max_series: 100_000,
        }
    }
}

impl crate::component::Validate for PrometheusExporterConfig {
    fn validate(&self) -> Result<(), String> {
        let port = self
            .endpoint
            .rsplit_once(':')
            .and_then(|(host, port)| (!host.is_empty()).then_some(port));
        if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
            return Err(format!(
                "endpoint {:?} is not host:port (e.g. 127.0.0.1:8889)",
                self.endpoint
            ));
        }
        for name in self.const_labels.keys() {
            if naming::label_name(name).as_deref() != Some(name.as_str()) || name.starts_with("__")
            {
                return Err(format!(
                    "const_labels: {name:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                ));
            }
        }
        if self.metric_expiration.is_zero() {
            return Err("metric_expiration must be more than 0".into());
        }
        if self.max_series == 0 {
            return Err("max_series must be at least 1".into());
        }
        Ok(())
    }
}

impl PrometheusExporterConfig {
    fn naming(&self) -> Naming {
        Naming {
            namespace: self.namespace.clone(),
            const_labels: self
                .const_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            resource_labels: self.resource_to_telemetry_conversion.enabled,
            suffixes: self.add_metric_suffixes,
        }
    }
}

/// What the exporter and its HTTP server share.
#[derive(Debug)]
struct Shared {
    store: Mutex<Store>,
    expiration: Duration,
    open_metrics: bool,
    series: Gauge,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Renders the current series in `format`, forgetting expired ones first.
    fn render(&self, format: Format) -> String {
        let mut store = self.lock();
        store.expire(Instant::now(), self.expiration);
        #[allow(clippy::cast_possible_wrap)]
        self.series.set(store.series_count() as i64);
        render::render(&store, format)
    }
}

/// The exporter: keeps the latest points for the server to render.
pub(crate) struct PrometheusExporter {
    shared: Arc<Shared>,
    naming: Naming,
    /// Points of kinds Prometheus cannot carry.
    dropped: Counter,
    /// Points of new series refused at `max_series`.
    dropped_series: Counter,
    max_series: usize,
    /// When the cap was last reported in the log.
    warned: Mutex<Option<Instant>>,
    /// Stops the endpoint's server once the exporter is gone (its queue drained after a config
    /// reload replaced or removed it), so a successor can bind the same endpoint.
    pub(super) _serving: tokio_util::sync::DropGuard,
}

/// How often, at most, the exporter warns that the series cap refuses series.
const WARN_EVERY: Duration = Duration::from_secs(60);

impl Export for PrometheusExporter {
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            if batch.signal != Signal::Metrics {
                return Ok(());
            }
            let request = ExportMetricsServiceRequest::decode(batch.payload.as_ref())
                .map_err(|e| ExportError::permanent(format!("undecodable metrics: {e}")))?;
            let dropped = {
                let now = Instant::now();
                let mut store = self.shared.lock();
                // Expired series must not hold room under the cap while nobody scrapes.
                store.sweep(now, self.shared.expiration);
                let dropped = store.update(&request, &self.naming, now);
                #[allow(clippy::cast_possible_wrap)]
                self.shared.series.set(store.series_count() as i64);
                dropped
            };
            if dropped.points > 0 {
                self.dropped.inc_by(dropped.points);
            }
            if dropped.series > 0 {
                self.dropped_series.inc_by(dropped.series);
                self.warn_cap(dropped.series);
            }
            Ok(())
        })
    }
}

impl PrometheusExporter {
    fn warn_cap(&self, refused: u64) {
        let now = Instant::now();
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
            return;
        }
        *warned = Some(now);
        tracing::warn!(
            max_series = self.max_series,
            refused,
            "prometheus exporter holds max_series series: points of new series are dropped \
             (lookout_exporter_prometheus_dropped_series_total) until old ones expire"
        );
    }
}

/// Which format a scrape asked for.
fn negotiate(req: &Request<Incoming>, open_metrics: bool) -> Format {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if open_metrics && accept.contains("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    }
}

async fn answer(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Body> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(net::full(body))
            .unwrap_or_else(|_| Response::new(net::full("")))
    };
    if req.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found; metrics are at /metrics\n".into(),
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "use GET /metrics\n".into(),
        );
    }
    let format = negotiate(&req, shared.open_metrics);
    let body = shared.render(format);
    reply(StatusCode::OK, format.content_type(), body)
}
