//! The component registry: every component type Lookout has, its settings, and the signals it
//! handles. Adding a component is one new file and one line in each table here.

use serde::Deserializer;
use serde::de::Error as _;

use super::ComponentId;
use super::component_map::{ComponentKind, body_or_default};
use crate::exporters::debug::DebugExporterConfig;
use crate::exporters::file::FileExporterConfig;
use crate::exporters::otlp_grpc::OtlpGrpcExporterConfig;
use crate::exporters::otlp_http::OtlpHttpExporterConfig;
use crate::extensions::file_storage::FileStorageConfig;
use crate::extensions::health_check::HealthCheckConfig;
use crate::pipeline::Signal;
use crate::processors::batch::BatchConfig;
use crate::processors::latency_anomaly::LatencyAnomalyConfig;
use crate::receivers::filelog::FileLogConfig;
use crate::receivers::hostmetrics::HostMetricsConfig;
use crate::receivers::httpcheck::HttpCheckConfig;
use crate::receivers::otlp::OtlpReceiverConfig;

const ALL: &[Signal] = &Signal::ALL;

/// Receiver types and their signals.
pub const RECEIVERS: &[(&str, &[Signal])] = &[
    ("otlp", ALL),
    ("hostmetrics", &[Signal::Metrics]),
    ("httpcheck", &[Signal::Metrics]),
    ("filelog", &[Signal::Logs]),
];
/// Processor types and their signals.
pub const PROCESSORS: &[(&str, &[Signal])] =
    &[("batch", ALL), ("latency_anomaly", &[Signal::Traces])];
/// Exporter types and their signals.
pub const EXPORTERS: &[(&str, &[Signal])] = &[
    ("otlp", ALL),
    ("otlphttp", ALL),
    ("file", ALL),
    ("debug", ALL),
];
/// Extension types.
pub const EXTENSIONS: &[&str] = &["health_check", "file_storage"];

fn unknown<E: serde::de::Error>(
    what: &str,
    kind: &str,
    known: impl Iterator<Item = &'static str>,
) -> E {
    let known: Vec<&str> = known.collect();
    E::custom(format!(
        "unknown {what} type {kind:?}; supported {what}s: {}",
        known.join(", ")
    ))
}

fn signals_of(table: &[(&str, &'static [Signal])], kind: &str) -> &'static [Signal] {
    table
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, s)| *s)
        .unwrap_or(&[])
}

/// What every pipeline component's settings tell about it.
pub trait Component {
    /// The signals it handles.
    fn signals(&self) -> &'static [Signal];
}

impl Component for ReceiverConfig {
    fn signals(&self) -> &'static [Signal] {
        signals_of(RECEIVERS, self.kind())
    }
}

impl Component for ProcessorConfig {
    fn signals(&self) -> &'static [Signal] {
        signals_of(PROCESSORS, self.kind())
    }
}

impl Component for ExporterConfig {
    fn signals(&self) -> &'static [Signal] {
        signals_of(EXPORTERS, self.kind())
    }
}

/// A receiver's settings.
#[derive(Debug)]
pub enum ReceiverConfig {
    /// `otlp`.
    Otlp(OtlpReceiverConfig),
    /// `hostmetrics`.
    HostMetrics(Box<HostMetricsConfig>),
    /// `httpcheck`.
    HttpCheck(HttpCheckConfig),
    /// `filelog`.
    FileLog(Box<FileLogConfig>),
}

impl ReceiverConfig {
    /// The type name.
    pub fn kind(&self) -> &'static str {
        match self {
            ReceiverConfig::Otlp(_) => "otlp",
            ReceiverConfig::HostMetrics(_) => "hostmetrics",
            ReceiverConfig::HttpCheck(_) => "httpcheck",
            ReceiverConfig::FileLog(_) => "filelog",
        }
    }
}

impl ComponentKind for ReceiverConfig {
    const WHAT: &'static str = "receiver";

    fn deserialize_body<'de, D: Deserializer<'de>>(kind: &str, body: D) -> Result<Self, D::Error> {
        match kind {
            "otlp" => body_or_default(body).map(ReceiverConfig::Otlp),
            "hostmetrics" => {
                let config: HostMetricsConfig = body_or_default(body)?;
                config.scrapers().map_err(D::Error::custom)?;
                Ok(ReceiverConfig::HostMetrics(Box::new(config)))
            }
            "httpcheck" => {
                let config: HttpCheckConfig = body_or_default(body)?;
                config.targets().map_err(D::Error::custom)?;
                Ok(ReceiverConfig::HttpCheck(config))
            }
            "filelog" => {
                serde::Deserialize::deserialize(body).map(|c| ReceiverConfig::FileLog(Box::new(c)))
            }
            _ => Err(unknown("receiver", kind, RECEIVERS.iter().map(|(k, _)| *k))),
        }
    }
}

/// A processor's settings.
#[derive(Debug)]
pub enum ProcessorConfig {
    /// `batch`.
    Batch(BatchConfig),
    /// `latency_anomaly`.
    LatencyAnomaly(Box<LatencyAnomalyConfig>),
}

impl ProcessorConfig {
    /// The type name.
    pub fn kind(&self) -> &'static str {
        match self {
            ProcessorConfig::Batch(_) => "batch",
            ProcessorConfig::LatencyAnomaly(_) => "latency_anomaly",
        }
    }

    /// The pipelines it feeds with data it derives, besides passing its input on.
    pub fn feeds(&self) -> Vec<Feed<'_>> {
        match self {
            ProcessorConfig::Batch(_) => Vec::new(),
            ProcessorConfig::LatencyAnomaly(c) => c.feeds().to_vec(),
        }
    }
}

/// Pipelines a processor hands data it derives to (the way a Collector connector feeds the
/// pipelines that list it as a receiver). Such a pipeline needs no receiver of its own, and is
/// built before the pipeline holding the processor.
#[derive(Debug, Clone, Copy)]
pub struct Feed<'a> {
    /// The setting naming the pipelines, under the processor's body (`events.pipelines`).
    pub key: &'static str,
    /// The signal those pipelines must carry.
    pub signal: Signal,
    /// The pipelines.
    pub pipelines: &'a [ComponentId],
}

impl ComponentKind for ProcessorConfig {
    const WHAT: &'static str = "processor";

    fn deserialize_body<'de, D: Deserializer<'de>>(kind: &str, body: D) -> Result<Self, D::Error> {
        match kind {
            "batch" => {
                let config: BatchConfig = body_or_default(body)?;
                config.check().map_err(D::Error::custom)?;
                Ok(ProcessorConfig::Batch(config))
            }
            "latency_anomaly" => {
                let config: LatencyAnomalyConfig = body_or_default(body)?;
                config.check().map_err(D::Error::custom)?;
                Ok(ProcessorConfig::LatencyAnomaly(Box::new(config)))
            }
            _ => Err(unknown(
                "processor",
                kind,
                PROCESSORS.iter().map(|(k, _)| *k),
            )),
        }
    }
}

/// An exporter's settings.
#[derive(Debug)]
pub enum ExporterConfig {
    /// `otlp` (gRPC).
    Otlp(OtlpGrpcExporterConfig),
    /// `otlphttp`.
    OtlpHttp(OtlpHttpExporterConfig),
    /// `file`.
    File(FileExporterConfig),
    /// `debug`.
    Debug(DebugExporterConfig),
}

impl ExporterConfig {
    /// The type name.
    pub fn kind(&self) -> &'static str {
        match self {
            ExporterConfig::Otlp(_) => "otlp",
            ExporterConfig::OtlpHttp(_) => "otlphttp",
            ExporterConfig::File(_) => "file",
            ExporterConfig::Debug(_) => "debug",
        }
    }
}

impl ComponentKind for ExporterConfig {
    const WHAT: &'static str = "exporter";

    fn deserialize_body<'de, D: Deserializer<'de>>(kind: &str, body: D) -> Result<Self, D::Error> {
        match kind {
            "otlp" => body_or_default(body).map(ExporterConfig::Otlp),
            "otlphttp" => body_or_default(body).map(ExporterConfig::OtlpHttp),
            "file" => body_or_default(body).map(ExporterConfig::File),
            "debug" | "logging" => body_or_default(body).map(ExporterConfig::Debug),
            _ => Err(unknown("exporter", kind, EXPORTERS.iter().map(|(k, _)| *k))),
        }
    }
}

/// An extension's settings.
#[derive(Debug)]
pub enum ExtensionConfig {
    /// `health_check`.
    HealthCheck(HealthCheckConfig),
    /// `file_storage`.
    FileStorage(FileStorageConfig),
}

impl ComponentKind for ExtensionConfig {
    const WHAT: &'static str = "extension";

    fn deserialize_body<'de, D: Deserializer<'de>>(kind: &str, body: D) -> Result<Self, D::Error> {
        match kind {
            "health_check" => body_or_default(body).map(ExtensionConfig::HealthCheck),
            "file_storage" => body_or_default(body).map(ExtensionConfig::FileStorage),
            _ => Err(unknown("extension", kind, EXTENSIONS.iter().copied())),
        }
    }
}
