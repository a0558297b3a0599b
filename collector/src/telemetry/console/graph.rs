//! The pipeline graph the console draws: each pipeline's receivers → processors → exporters,
//! as the running configuration lists them (connectors appear as an exporter of one pipeline
//! and a receiver of another, as in the configuration).

use serde::Serialize;

use crate::config::Config;
use crate::core::Signal;

/// Every pipeline of one configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Graph {
    /// In the configuration's (stable) order.
    pub(crate) pipelines: Vec<Pipeline>,
    /// Whether a pipeline runs a `latency_anomaly` processor (episodes can open).
    pub(crate) latency_anomaly: bool,
    /// Whether an `alerting` extension runs (alerts can be recorded).
    pub(crate) alerting: bool,
}

/// One pipeline's components, by id.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Pipeline {
    /// `traces`, `logs/app`, ...
    pub(crate) id: String,
    /// The signal it carries.
    #[serde(serialize_with = "signal_name")]
    pub(crate) signal: Signal,
    /// Receivers (and connectors) feeding it.
    pub(crate) receivers: Vec<String>,
    /// Processors, in order.
    pub(crate) processors: Vec<String>,
    /// Exporters (and connectors) it feeds.
    pub(crate) exporters: Vec<String>,
}

fn signal_name<S: serde::Serializer>(signal: &Signal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(signal.as_str())
}

impl Graph {
    /// The graph of `config`'s pipelines.
    pub(crate) fn of(config: &Config) -> Graph {
        let ids = |ids: &[crate::core::ComponentId]| ids.iter().map(ToString::to_string).collect();
        let latency_anomaly = config
            .pipelines()
            .any(|(_, _, p)| p.processors.iter().any(|id| id.kind() == "latency_anomaly"));
        let alerting = config
            .service
            .extensions
            .iter()
            .any(|id| id.kind() == "alerting");
        Graph {
            latency_anomaly,
            alerting,
            pipelines: config
                .pipelines()
                .map(|(id, signal, p)| Pipeline {
                    id: id.to_string(),
                    signal,
                    receivers: ids(&p.receivers),
                    processors: ids(&p.processors),
                    exporters: ids(&p.exporters),
                })
                .collect(),
        }
    }
}
