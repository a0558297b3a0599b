//! The one-call setup: [`Builder`] and [`init`](crate::init).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::resource::{ResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Layer, SubscriberExt};

use crate::config::{EnvConfig, Protocol};
use crate::error::{Error, ErrorKind};
use crate::guard::{Guard, Pipeline};
use crate::json_log::JsonLogLayer;
use crate::runtime::{NoSelfTelemetry, OnRuntime, RtHandle, build_runtime};

type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

const SCOPE: &str = "lookout-sdk";

/// Configures telemetry for a service. Create one with
/// [`builder()`](crate::builder).
///
/// Every setting has an environment-variable counterpart (see the
/// [crate docs](crate#configuration)); values set on the builder win over
/// the environment.
///
/// ```no_run
/// use lookout_sdk::Protocol;
///
/// let _telemetry = lookout_sdk::builder()
///     .service_name("checkout")
///     .service_version(env!("CARGO_PKG_VERSION"))
///     .endpoint("http://127.0.0.1:4317")
///     .protocol(Protocol::Grpc)
///     .install()?;
/// tracing::info!("ready");
/// # Ok::<(), lookout_sdk::Error>(())
/// ```
#[must_use = "a builder does nothing until `install` or `build` is called"]
pub struct Builder {
    service_name: Option<String>,
    service_version: Option<String>,
    endpoint: Option<String>,
    protocol: Option<Protocol>,
    headers: Vec<(String, String)>,
    resource: Vec<KeyValue>,
    sampler: Option<Sampler>,
    shutdown_timeout: Duration,
    export_timeout: Duration,
    metrics_interval: Option<Duration>,
    batch_scheduled_delay: Option<Duration>,
    batch_max_queue_size: Option<usize>,
    batch_max_export_batch_size: Option<usize>,
    traces: bool,
    metrics: bool,
    logs: bool,
    stderr: bool,
    json_log_file: Option<PathBuf>,
    default_filter: String,
    disabled: Option<bool>,
    env: EnvLookup,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("service_name", &self.service_name)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("traces", &self.traces)
            .field("metrics", &self.metrics)
            .field("logs", &self.logs)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            service_name: None,
            service_version: None,
            endpoint: None,
            protocol: None,
            headers: Vec::new(),
            resource: Vec::new(),
            sampler: None,
            shutdown_timeout: Duration::from_secs(5),
            export_timeout: Duration::from_secs(10),
            metrics_interval: None,
            batch_scheduled_delay: None,
            batch_max_queue_size: None,
            batch_max_export_batch_size: None,
            traces: true,
            metrics: true,
            logs: true,
            stderr: true,
            json_log_file: None,
            default_filter: "info".to_owned(),
            disabled: None,
            env: Arc::new(|key| std::env::var(key).ok()),
        }
    }
}

impl Builder {
    /// Sets `service.name`. Overrides `OTEL_SERVICE_NAME`.
    ///
    /// ```
    /// let b = lookout_sdk::builder().service_name("checkout");
    /// # drop(b);
    /// ```
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Sets `service.version`, typically `env!("CARGO_PKG_VERSION")`.
    ///
    /// ```
    /// let b = lookout_sdk::builder().service_version(env!("CARGO_PKG_VERSION"));
    /// # drop(b);
    /// ```
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Sets the collector endpoint for all signals. Overrides
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` and the per-signal variables. With
    /// [`Protocol::HttpProtobuf`] this is a base URL: `/v1/traces`,
    /// `/v1/metrics` and `/v1/logs` are appended.
    ///
    /// ```
    /// let b = lookout_sdk::builder().endpoint("http://collector:4317");
    /// # drop(b);
    /// ```
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Sets the OTLP protocol. Overrides `OTEL_EXPORTER_OTLP_PROTOCOL`;
    /// the default is gRPC.
    ///
    /// ```
    /// let b = lookout_sdk::builder().protocol(lookout_sdk::Protocol::HttpProtobuf);
    /// # drop(b);
    /// ```
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Adds a header (gRPC metadata) sent with every export, e.g. an API
    /// key. Added to `OTEL_EXPORTER_OTLP_HEADERS`; see the crate docs for
    /// a caveat on headers set in both places.
    ///
    /// ```
    /// let b = lookout_sdk::builder().header("x-api-key", "secret");
    /// # drop(b);
    /// ```
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// Adds a resource attribute. Overrides the same key from
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    ///
    /// ```
    /// let b = lookout_sdk::builder().resource_attribute("deployment.environment.name", "prod");
    /// # drop(b);
    /// ```
    pub fn resource_attribute(
        mut self,
        key: impl Into<opentelemetry::Key>,
        value: impl Into<opentelemetry::Value>,
    ) -> Self {
        self.resource.push(KeyValue::new(key, value));
        self
    }

    /// Sets the trace sampler. Overrides `OTEL_TRACES_SAMPLER`; the default
    /// is `parentbased_always_on`.
    ///
    /// ```
    /// use lookout_sdk::opentelemetry_sdk::trace::Sampler;
    ///
    /// let b = lookout_sdk::builder()
    ///     .sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.1))));
    /// # drop(b);
    /// ```
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// Sets how long shutdown and flush may take before giving up
    /// (default 5 s). Telemetry still queued then is dropped.
    ///
    /// ```
    /// let b = lookout_sdk::builder().shutdown_timeout(std::time::Duration::from_secs(2));
    /// # drop(b);
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets the time limit for one export request, retries included
    /// (default 10 s).
    ///
    /// ```
    /// let b = lookout_sdk::builder().export_timeout(std::time::Duration::from_secs(3));
    /// # drop(b);
    /// ```
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// Sets how often metrics are exported. Overrides
    /// `OTEL_METRIC_EXPORT_INTERVAL`; the default is 60 s.
    ///
    /// ```
    /// let b = lookout_sdk::builder().metrics_interval(std::time::Duration::from_secs(10));
    /// # drop(b);
    /// ```
    pub fn metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = Some(interval);
        self
    }

    /// Tunes the span batch processor: the longest a finished span waits
    /// before export, the queue size (spans beyond it are dropped), and the
    /// most spans per export request. `None` keeps the SDK default
    /// (5 s, 2048, 512, or the `OTEL_BSP_*` variables).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let b = lookout_sdk::builder().span_batch(Some(Duration::from_millis(500)), Some(8192), None);
    /// # drop(b);
    /// ```
    pub fn span_batch(
        mut self,
        scheduled_delay: Option<Duration>,
        max_queue_size: Option<usize>,
        max_export_batch_size: Option<usize>,
    ) -> Self {
        self.batch_scheduled_delay = scheduled_delay;
        self.batch_max_queue_size = max_queue_size;
        self.batch_max_export_batch_size = max_export_batch_size;
        self
    }

    /// Turns trace export on or off (default on).
    ///
    /// ```
    /// let b = lookout_sdk::builder().traces(false);
    /// # drop(b);
    /// ```
    pub fn traces(mut self, enabled: bool) -> Self {
        self.traces = enabled;
        self
    }

    /// Turns metric export on or off (default on).
    ///
    /// ```
    /// let b = lookout_sdk::builder().metrics(false);
    /// # drop(b);
    /// ```
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled;
        self
    }

    /// Turns export of `tracing` events as OTLP logs on or off (default on).
    ///
    /// ```
    /// let b = lookout_sdk::builder().logs(false);
    /// # drop(b);
    /// ```
    pub fn logs(mut self, enabled: bool) -> Self {
        self.logs = enabled;
        self
    }

    /// Turns the human-readable stderr log output on or off (default on).
    ///
    /// ```
    /// let b = lookout_sdk::builder().stderr(false);
    /// # drop(b);
    /// ```
    pub fn stderr(mut self, enabled: bool) -> Self {
        self.stderr = enabled;
        self
    }

    /// Also writes every event as one JSON object per line to `path`
    /// (appending), with the ids of the active span. See [`JsonLogLayer`].
    ///
    /// ```
    /// let b = lookout_sdk::builder().json_log_file("service.log.json");
    /// # drop(b);
    /// ```
    pub fn json_log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.json_log_file = Some(path.into());
        self
    }

    /// Sets the filter used when `RUST_LOG` is unset (default `"info"`),
    /// in [`EnvFilter`] syntax.
    ///
    /// ```
    /// let b = lookout_sdk::builder().default_log_filter("info,my_crate=debug");
    /// # drop(b);
    /// ```
    pub fn default_log_filter(mut self, directives: impl Into<String>) -> Self {
        self.default_filter = directives.into();
        self
    }

    /// Disables (or re-enables) export regardless of `OTEL_SDK_DISABLED`.
    /// While disabled only the stderr and JSON-file outputs are set up.
    ///
    /// ```
    /// let b = lookout_sdk::builder().disabled(cfg!(test));
    /// # drop(b);
    /// ```
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// Reads configuration variables through `lookup` instead of the
    /// process environment, e.g. to test a configuration.
    ///
    /// ```
    /// let b = lookout_sdk::builder().env(|key| match key {
    ///     "OTEL_SERVICE_NAME" => Some("from-test".to_owned()),
    ///     _ => None,
    /// });
    /// # drop(b);
    /// ```
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Arc::new(lookup);
        self
    }

    /// Sets everything up process-wide: the global `tracing` subscriber
    /// (also capturing `log` records), the global OpenTelemetry tracer and
    /// meter providers, and the W3C trace-context + baggage propagator.
    ///
    /// Keep the returned [`Guard`] alive for the life of the service; it
    /// flushes and shuts everything down when dropped. Fails if a global
    /// `tracing` subscriber is already installed.
    ///
    /// ```no_run
    /// let _telemetry = lookout_sdk::builder().service_name("checkout").install()?;
    /// # Ok::<(), lookout_sdk::Error>(())
    /// ```
    pub fn install(self) -> Result<Guard, Error> {
        let (mut guard, warnings) = self.assemble()?;
        let dispatch = guard.dispatch().clone();
        if let Err(e) = tracing::dispatcher::set_global_default(dispatch) {
            // The pipeline is unusable without the subscriber; stop its
            // threads now rather than leaving them to the guard's drop.
            let _ = guard.shutdown_now();
            return Err(Error::new(ErrorKind::AlreadyInstalled(e)));
        }
        // `log` records are forwarded only if nothing else owns the `log`
        // logger, which is not worth failing the whole setup for.
        let _ = tracing_log::LogTracer::init();
        if let Some(p) = guard.pipeline() {
            if let Some(tp) = &p.tracer {
                opentelemetry::global::set_tracer_provider(tp.clone());
            }
            if let Some(mp) = &p.meter {
                opentelemetry::global::set_meter_provider(mp.clone());
            }
        }
        for w in warnings {
            tracing::warn!(target: "lookout_sdk", "{w}");
        }
        Ok(guard)
    }

    /// Builds the same pipeline as [`install`](Self::install) without
    /// touching process-wide `tracing` or OpenTelemetry state (except the
    /// stateless propagator). Use [`Guard::dispatch`] to run code under it,
    /// e.g. in tests or when embedding a service.
    ///
    /// ```
    /// let guard = lookout_sdk::builder().disabled(true).stderr(false).build()?;
    /// tracing::dispatcher::with_default(guard.dispatch(), || {
    ///     tracing::info!("only seen by this pipeline");
    /// });
    /// # Ok::<(), lookout_sdk::Error>(())
    /// ```
    pub fn build(self) -> Result<Guard, Error> {
        let (guard, warnings) = self.assemble()?;
        tracing::dispatcher::with_default(guard.dispatch(), || {
            for w in warnings {
                tracing::warn!(target: "lookout_sdk", "{w}");
            }
        });
        Ok(guard)
    }

    fn assemble(self) -> Result<(Guard, Vec<String>), Error> {
        let env = EnvConfig::from_lookup(|k| (self.env)(k))?;
        let resolved = Resolved::new(&self, &env)?;

        opentelemetry::global::set_text_map_propagator(
            opentelemetry::propagation::TextMapCompositePropagator::new(vec![
                Box::new(TraceContextPropagator::new()),
                Box::new(BaggagePropagator::new()),
            ]),
        );

        let mut warnings = env.warnings;
        let default_filter = || {
            EnvFilter::try_new(&self.default_filter).map_err(|e| {
                Error::invalid("default log filter", &self.default_filter, e.to_string())
            })
        };
        // A typo in RUST_LOG should not stop a service from starting: warn
        // and use the default. An invalid builder default is a bug: error.
        let filter = match &env.log_filter {
            Some(rust_log) => match EnvFilter::try_new(rust_log) {
                Ok(filter) => filter,
                Err(e) => {
                    warnings.push(format!("ignoring RUST_LOG={rust_log:?}: {e}"));
                    default_filter()?
                }
            },
            None => default_filter()?,
        };

        let json_layer = match &self.json_log_file {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| {
                        Error::new(ErrorKind::LogFile {
                            path: path.clone(),
                            source,
                        })
                    })?;
                Some(JsonLogLayer::new(file, resolved.service_name.clone()))
            }
            None => None,
        };
        let fmt_layer = self
            .stderr
            .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));

        let pipeline = if resolved.disabled {
            None
        } else {
            Some(self.pipeline(&resolved)?)
        };

        let trace_layer = pipeline.as_ref().and_then(|p| p.tracer.as_ref()).map(|tp| {
            let tracer = tp.tracer_with_scope(
                InstrumentationScope::builder(SCOPE)
                    .with_version(env!("CARGO_PKG_VERSION"))
                    .build(),
            );
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(NoSelfTelemetry)
        });
        let log_layer = pipeline.as_ref().and_then(|p| p.logger.as_ref()).map(|lp| {
            opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(lp)
                .with_filter(NoSelfTelemetry)
        });

        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(trace_layer)
            .with(log_layer)
            .with(json_layer)
            .with(fmt_layer);
        let dispatch = Dispatch::new(subscriber);
        Ok((
            Guard::new(pipeline, dispatch, self.shutdown_timeout),
            warnings,
        ))
    }

    fn pipeline(&self, r: &Resolved) -> Result<Pipeline, Error> {
        let runtime = build_runtime()?;
        let rt = RtHandle::new(&runtime);
        let providers = {
            // tonic channels spawn their connection task when built, so the
            // exporters must be created inside the SDK's runtime.
            let _enter = rt.handle().enter();
            self.providers(r, &rt)
        };
        match providers {
            Ok((tracer, meter, logger)) => Ok(Pipeline {
                tracer,
                meter,
                logger,
                runtime: Some(runtime),
                rt,
            }),
            Err(e) => {
                // Dropping a runtime panics when the caller is async code;
                // this never blocks.
                rt.mark_dead();
                runtime.shutdown_background();
                Err(e)
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn providers(
        &self,
        r: &Resolved,
        rt: &RtHandle,
    ) -> Result<
        (
            Option<SdkTracerProvider>,
            Option<SdkMeterProvider>,
            Option<SdkLoggerProvider>,
        ),
        Error,
    > {
        let timeout = self.export_timeout;
        let exp = |e: opentelemetry_otlp::ExporterBuildError| Error::new(ErrorKind::Exporter(e));

        let tracer = if self.traces {
            let exporter = match r.protocol {
                Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_protocol(opentelemetry_otlp::Protocol::Grpc)
                    .with_endpoint(&r.traces_endpoint)
                    .with_timeout(timeout)
                    .with_metadata(r.metadata()?)
                    .build(),
                Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(&r.traces_endpoint)
                    .with_timeout(timeout)
                    .with_headers(r.header_map())
                    .build(),
            }
            .map_err(exp)?;
            let mut batch = BatchConfigBuilder::default();
            if let Some(d) = self.batch_scheduled_delay {
                batch = batch.with_scheduled_delay(d);
            }
            if let Some(n) = self.batch_max_queue_size {
                batch = batch.with_max_queue_size(n);
            }
            if let Some(n) = self.batch_max_export_batch_size {
                batch = batch.with_max_export_batch_size(n);
            }
            let processor =
                BatchSpanProcessor::builder(OnRuntime::new(exporter, rt.clone(), timeout))
                    .with_batch_config(batch.build())
                    .build();
            Some(
                SdkTracerProvider::builder()
                    .with_span_processor(processor)
                    .with_sampler(r.sampler.clone())
                    .with_resource(r.resource.clone())
                    .build(),
            )
        } else {
            None
        };

        let meter = if self.metrics {
            let exporter = match r.protocol {
                Protocol::Grpc => opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_protocol(opentelemetry_otlp::Protocol::Grpc)
                    .with_endpoint(&r.metrics_endpoint)
                    .with_timeout(timeout)
                    .with_metadata(r.metadata()?)
                    .build(),
                Protocol::HttpProtobuf => opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(&r.metrics_endpoint)
                    .with_timeout(timeout)
                    .with_headers(r.header_map())
                    .build(),
            }
            .map_err(exp)?;
            let reader = PeriodicReader::builder(OnRuntime::new(exporter, rt.clone(), timeout))
                .with_interval(r.metrics_interval)
                .build();
            Some(
                SdkMeterProvider::builder()
                    .with_reader(reader)
                    .with_resource(r.resource.clone())
                    .build(),
            )
        } else {
            None
        };

        let logger = if self.logs {
            let exporter = match r.protocol {
                Protocol::Grpc => opentelemetry_otlp::LogExporter::builder()
                    .with_tonic()
                    .with_protocol(opentelemetry_otlp::Protocol::Grpc)
                    .with_endpoint(&r.logs_endpoint)
                    .with_timeout(timeout)
                    .with_metadata(r.metadata()?)
                    .build(),
                Protocol::HttpProtobuf => opentelemetry_otlp::LogExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(&r.logs_endpoint)
                    .with_timeout(timeout)
                    .with_headers(r.header_map())
                    .build(),
            }
            .map_err(exp)?;
            let processor =
                BatchLogProcessor::builder(OnRuntime::new(exporter, rt.clone(), timeout)).build();
            Some(
                SdkLoggerProvider::builder()
                    .with_log_processor(processor)
                    .with_resource(r.resource.clone())
                    .build(),
            )
        } else {
            None
        };
        Ok((tracer, meter, logger))
    }
}

/// Builder settings merged with the environment.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) service_name: String,
    pub(crate) protocol: Protocol,
    pub(crate) traces_endpoint: String,
    pub(crate) metrics_endpoint: String,
    pub(crate) logs_endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) sampler: Sampler,
    pub(crate) resource: Resource,
    pub(crate) metrics_interval: Duration,
    pub(crate) disabled: bool,
}

impl Resolved {
    pub(crate) fn new(b: &Builder, env: &EnvConfig) -> Result<Self, Error> {
        let protocol = b.protocol.or(env.protocol).unwrap_or_default();
        let endpoint = |signal_env: &Option<String>, path: &str| -> Result<String, Error> {
            let ep = if let Some(base) = &b.endpoint {
                join_endpoint(protocol, base, path)
            } else if let Some(full) = signal_env {
                full.clone()
            } else if let Some(base) = &env.endpoint {
                join_endpoint(protocol, base, path)
            } else {
                join_endpoint(protocol, protocol.default_endpoint(), path)
            };
            validate_endpoint(&ep)?;
            Ok(ep)
        };

        let env_attr = |key: &str| {
            env.resource_attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let service_name = b
            .service_name
            .clone()
            .or_else(|| env.service_name.clone())
            .or_else(|| env_attr("service.name"))
            .unwrap_or_else(default_service_name);
        let service_version = b
            .service_version
            .clone()
            .or_else(|| env_attr("service.version"));
        let instance_id = env_attr("service.instance.id").unwrap_or_else(new_instance_id);

        // Later entries win: detected values, then the environment, then
        // builder values, so explicit configuration always has the last word.
        let mut attrs: Vec<KeyValue> = TelemetryResourceDetector
            .detect()
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        attrs.push(KeyValue::new("telemetry.distro.name", SCOPE));
        attrs.push(KeyValue::new(
            "telemetry.distro.version",
            env!("CARGO_PKG_VERSION"),
        ));
        if let Some(host) = host_name() {
            attrs.push(KeyValue::new("host.name", host));
        }
        attrs.push(KeyValue::new("process.pid", i64::from(std::process::id())));
        attrs.push(KeyValue::new("service.instance.id", instance_id));
        attrs.extend(
            env.resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        );
        attrs.extend(b.resource.iter().cloned());
        attrs.push(KeyValue::new("service.name", service_name.clone()));
        if let Some(v) = service_version {
            attrs.push(KeyValue::new("service.version", v));
        }
        let mut dedup: Vec<KeyValue> = Vec::with_capacity(attrs.len());
        for kv in attrs {
            match dedup.iter_mut().find(|e| e.key == kv.key) {
                Some(slot) => *slot = kv,
                None => dedup.push(kv),
            }
        }
        let resource = Resource::builder_empty().with_attributes(dedup).build();

        let mut headers = env.headers.clone();
        for (k, v) in &b.headers {
            headers.retain(|(ek, _)| !ek.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.clone()));
        }

        Ok(Self {
            traces_endpoint: endpoint(&env.traces_endpoint, "v1/traces")?,
            metrics_endpoint: endpoint(&env.metrics_endpoint, "v1/metrics")?,
            logs_endpoint: endpoint(&env.logs_endpoint, "v1/logs")?,
            service_name,
            protocol,
            headers,
            sampler: b
                .sampler
                .clone()
                .or_else(|| env.sampler.clone())
                .unwrap_or(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
            resource,
            metrics_interval: b
                .metrics_interval
                .or(env.metric_interval)
                .unwrap_or(Duration::from_secs(60)),
            disabled: b.disabled.unwrap_or(env.sdk_disabled),
        })
    }

    fn metadata(&self) -> Result<tonic::metadata::MetadataMap, Error> {
        let mut md = tonic::metadata::MetadataMap::new();
        for (k, v) in &self.headers {
            let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|e| Error::invalid("header name", k, e.to_string()))?;
            let value = tonic::metadata::AsciiMetadataValue::try_from(v.as_str())
                .map_err(|e| Error::invalid("header value for", k, e.to_string()))?;
            md.insert(key, value);
        }
        Ok(md)
    }

    fn header_map(&self) -> HashMap<String, String> {
        self.headers.iter().cloned().collect()
    }
}

fn join_endpoint(protocol: Protocol, base: &str, path: &str) -> String {
    match protocol {
        // gRPC routes by service name, not URL path.
        Protocol::Grpc => base.to_owned(),
        Protocol::HttpProtobuf => format!("{}/{path}", base.trim_end_matches('/')),
    }
}

fn validate_endpoint(ep: &str) -> Result<(), Error> {
    let uri: http::Uri = ep
        .parse()
        .map_err(|e: http::uri::InvalidUri| Error::invalid("endpoint", ep, e.to_string()))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err(Error::invalid(
            "endpoint",
            ep,
            "expected an http:// or https:// URL",
        )),
    }
}

fn default_service_name() -> String {
    // The spec's fallback: `unknown_service:` plus the executable name.
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    match exe {
        Some(exe) => format!("unknown_service:{exe}"),
        None => "unknown_service".to_owned(),
    }
}

/// A random (version 4) UUID, formatted the usual way.
pub(crate) fn new_instance_id() -> String {
    let mut n: u128 = rand::random();
    n = (n & !(0xF << 76)) | (0x4 << 76); // version 4
    n = (n & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn host_name() -> Option<String> {
    // No libc call: the crate forbids `unsafe`, and these cover Linux,
    // containers and Windows.
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(b: Builder, env: &[(&str, &str)]) -> Result<Resolved, Error> {
        let map: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = EnvConfig::from_lookup(|k| map.get(k).cloned())?;
        Resolved::new(&b, &env)
    }

    fn attr(r: &Resolved, key: &str) -> Option<String> {
        r.resource
            .get(&opentelemetry::Key::from(key.to_owned()))
            .map(|v| v.to_string())
    }

    #[test]
    fn defaults() {
        let r = resolve(Builder::default(), &[]).unwrap();
        assert_eq!(r.protocol, Protocol::Grpc);
        assert_eq!(r.traces_endpoint, "http://localhost:4317");
        assert!(r.service_name.starts_with("unknown_service"));
        assert!(!r.disabled);
        assert_eq!(format!("{:?}", r.sampler), "ParentBased(AlwaysOn)");
        for key in [
            "service.name",
            "service.instance.id",
            "process.pid",
            "telemetry.sdk.name",
            "telemetry.sdk.language",
            "telemetry.sdk.version",
        ] {
            assert!(attr(&r, key).is_some(), "missing {key}");
        }
        assert_eq!(
            attr(&r, "process.pid"),
            Some(std::process::id().to_string())
        );
        assert!(attr(&r, "service.version").is_none());
    }

    #[test]
    fn env_is_used_when_builder_is_silent() {
        let r = resolve(
            Builder::default(),
            &[
                ("OTEL_SERVICE_NAME", "from-env"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                (
                    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                    "http://logs:9999/custom",
                ),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "service.version=1.2.3,service.instance.id=abc,team=x",
                ),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-key=1"),
                ("OTEL_TRACES_SAMPLER", "always_off"),
                ("OTEL_SDK_DISABLED", "true"),
            ],
        )
        .unwrap();
        assert_eq!(r.service_name, "from-env");
        assert_eq!(r.protocol, Protocol::HttpProtobuf);
        assert_eq!(r.traces_endpoint, "http://collector:4318/v1/traces");
        assert_eq!(r.metrics_endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(r.logs_endpoint, "http://logs:9999/custom");
        assert_eq!(attr(&r, "service.version").as_deref(), Some("1.2.3"));
        assert_eq!(attr(&r, "service.instance.id").as_deref(), Some("abc"));
        assert_eq!(attr(&r, "team").as_deref(), Some("x"));
        assert_eq!(attr(&r, "service.name").as_deref(), Some("from-env"));
        assert_eq!(r.headers, vec![("x-key".to_owned(), "1".to_owned())]);
        assert_eq!(format!("{:?}", r.sampler), "AlwaysOff");
        assert!(r.disabled);
    }

    #[test]
    fn builder_overrides_env() {
        let b = Builder::default()
            .service_name("from-builder")
            .service_version("9.9.9")
            .endpoint("http://b:4317")
            .protocol(Protocol::Grpc)
            .header("X-Key", "2")
            .resource_attribute("team", "y")
            .sampler(Sampler::AlwaysOn)
            .disabled(false);
        let r = resolve(
            b,
            &[
                ("OTEL_SERVICE_NAME", "from-env"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://e:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://t:4318/v1/traces",
                ),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "service.name=attr,service.version=1,team=x",
                ),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-key=1,other=3"),
                ("OTEL_TRACES_SAMPLER", "always_off"),
                ("OTEL_SDK_DISABLED", "true"),
            ],
        )
        .unwrap();
        assert_eq!(r.service_name, "from-builder");
        assert_eq!(attr(&r, "service.name").as_deref(), Some("from-builder"));
        assert_eq!(attr(&r, "service.version").as_deref(), Some("9.9.9"));
        assert_eq!(attr(&r, "team").as_deref(), Some("y"));
        assert_eq!(r.protocol, Protocol::Grpc);
        assert_eq!(r.traces_endpoint, "http://b:4317");
        assert_eq!(r.logs_endpoint, "http://b:4317");
        assert_eq!(
            r.headers,
            vec![
                ("other".to_owned(), "3".to_owned()),
                ("X-Key".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(format!("{:?}", r.sampler), "AlwaysOn");
        assert!(!r.disabled);
    }

    #[test]
    fn service_name_falls_back_to_resource_attributes() {
        let r = resolve(
            Builder::default(),
            &[("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr")],
        )
        .unwrap();
        assert_eq!(r.service_name, "attr");
    }

    #[test]
    fn invalid_endpoints_are_rejected() {
        for ep in ["not a url", "collector:4317", "ftp://x:1"] {
            let err = resolve(Builder::default().endpoint(ep), &[]).unwrap_err();
            assert!(err.is_config(), "{ep}: {err}");
        }
    }

    #[test]
    fn bad_rust_log_falls_back_to_the_default_filter() {
        let (guard, warnings) = Builder::default()
            .disabled(true)
            .stderr(false)
            .env(|k| (k == "RUST_LOG").then(|| "[[[".to_owned()))
            .assemble()
            .unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("RUST_LOG"));
        drop(guard);
        let err = Builder::default()
            .disabled(true)
            .default_log_filter("[[[")
            .build()
            .unwrap_err();
        assert!(err.is_config());
    }

    #[test]
    fn instance_ids_look_like_v4_uuids() {
        let a = new_instance_id();
        let b = new_instance_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{a}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{a}");
    }
}
