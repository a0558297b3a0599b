//! Connectors: components that are an exporter of some pipelines and a receiver of others
//! (the Collector's `connector` concept), listed under `connectors:`.

pub(crate) mod latency_anomaly;
