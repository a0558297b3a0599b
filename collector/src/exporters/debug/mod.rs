//! `exporters: debug:` — writes what passes to stderr, as the Collector's `debugexporter`.

mod factory;
pub(crate) use factory::Factory;

use std::io::Write;

use futures::future::BoxFuture;
use prost::Message;
use serde::Deserialize;

use super::{Export, ExportError};
use crate::core::{Batch, Signal};
use lookout_proto::otlp::collector;

/// Debug exporter settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DebugExporterConfig {
    /// `basic` (a line per batch, the default), `normal` (a line per item) or `detailed`
    /// (every field).
    pub verbosity: Verbosity,
}

/// How much to print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verbosity {
    /// Item counts per batch.
    #[default]
    Basic,
    /// One line per span, data point or log record.
    Normal,
    /// Every field.
    Detailed,
}

/// The exporter.
pub(crate) struct DebugExporter {
    id: String,
    verbosity: Verbosity,
}

impl DebugExporter {
    /// Builds the exporter.
    pub(crate) fn new(id: String, config: &DebugExporterConfig) -> DebugExporter {
        DebugExporter {
            id,
            verbosity: config.verbosity,
        }
    }

    fn render(&self, batch: &Batch) -> Result<String, prost::DecodeError> {
        use std::fmt::Write as _;
        let mut out = String::new();
        let payload = &batch.payload[..];
        match (batch.signal, self.verbosity) {
            (_, Verbosity::Basic) => {}
            (Signal::Traces, Verbosity::Normal) => {
                let req = collector::trace::v1::ExportTraceServiceRequest::decode(payload)?;
                for rs in &req.resource_spans {
                    for ss in &rs.scope_spans {
                        for s in &ss.spans {
                            let _ = writeln!(
                                out,
                                "{} {} {} {}ns",
                                s.name,
                                hex::encode(&s.trace_id),
                                hex::encode(&s.span_id),
                                s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano)
                            );
                        }
                    }
                }
            }
            (Signal::Logs, Verbosity::Normal) => {
                let req = collector::logs::v1::ExportLogsServiceRequest::decode(payload)?;
                for rl in &req.resource_logs {
                    for sl in &rl.scope_logs {
                        for r in &sl.log_records {
                            let _ = writeln!(
                                out,
                                "{} {:?}",
                                r.severity_text,
                                r.body.as_ref().and_then(|b| b.value.as_ref())
                            );
                        }
                    }
                }
            }
            (Signal::Metrics, Verbosity::Normal) => {
                let req = collector::metrics::v1::ExportMetricsServiceRequest::decode(payload)?;
                for rm in &req.resource_metrics {
                    for sm in &rm.scope_metrics {
                        for m in &sm.metrics {
                            let _ = writeln!(out, "{} {}", m.name, m.unit);
                        }
                    }
                }
            }
            (Signal::Traces, Verbosity::Detailed) => {
                let req = collector::trace::v1::ExportTraceServiceRequest::decode(payload)?;
                let _ = writeln!(out, "{req:#?}");
            }
            (Signal::Logs, Verbosity::Detailed) => {
                let req = collector::logs::v1::ExportLogsServiceRequest::decode(payload)?;
                let _ = writeln!(out, "{req:#?}");
            }
            (Signal::Metrics, Verbosity::Detailed) => {
                let req = collector::metrics::v1::ExportMetricsServiceRequest::decode(payload)?;
                let _ = writeln!(out, "{req:#?}");
            }
        }
        Ok(out)
    }
}

impl Export for DebugExporter {
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            tracing::info!(
                exporter = %self.id,
                signal = %batch.signal,
                "{} {}",
                batch.items,
                batch.signal.item_name()
            );
            let text = self
                .render(batch)
                .map_err(|err| ExportError::permanent(format!("cannot decode batch: {err}")))?;
            if !text.is_empty() {
                // stderr is unbuffered; one write per batch keeps lines of batches together.
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
            Ok(())
        })
    }
}

impl crate::component::Validate for DebugExporterConfig {}
