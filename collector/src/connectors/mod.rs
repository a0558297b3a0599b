//! Connectors: components that are an exporter of some pipelines and a receiver of others
//! (the Collector's `connector` concept), listed under `connectors:`.

pub mod latency_anomaly;
