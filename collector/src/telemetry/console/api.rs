//! The console's JSON routes, built from the running configuration's pipeline graph and the
//! self-metrics (`lookout_*`): `GET /api/v1/pipelines` (the graph with live rates, queue fill,
//! process CPU and RSS) and `GET /api/v1/alerts` (open latency anomaly episodes and firing
//! `alert_rules` alerts, as counted by their components, and the lists of recent episodes and
//! alerts the host's [`Recent`] holds).
//!
//! A request reads every self-metric series once (as a `/metrics` scrape does) and walks the
//! configuration's pipelines: its work is bounded by the number of series and components.

use std::collections::BTreeMap;

use serde::Serialize;

use super::graph::{Graph, Pipeline};
use super::rates::{Key, Observed};
use crate::core::recent::{AlertRecord, EpisodeRecord, Listed, Recent};

/// `GET /api/v1/pipelines`.
#[derive(Debug, Serialize)]
pub(crate) struct PipelinesAnswer {
    /// Seconds the rates are computed over (`null` until a first sample is a second old).
    pub(crate) rate_window_seconds: Option<f64>,
    /// This process.
    pub(crate) process: ProcessStats,
    /// One entry per pipeline.
    pub(crate) pipelines: Vec<PipelineStats>,
    /// The prefixes components serve on the admin listener (`/api/v1/traces` when a
    /// `correlate` processor runs), so the page asks only for routes that exist.
    pub(crate) routes: Vec<String>,
}

/// CPU and memory of the process.
#[derive(Debug, Serialize)]
pub(crate) struct ProcessStats {
    /// CPU used over the rate window, in percent of one core.
    pub(crate) cpu_percent: Option<f64>,
    /// CPU seconds used since start.
    pub(crate) cpu_seconds_total: Option<f64>,
    /// Resident set size.
    pub(crate) rss_bytes: Option<u64>,
}

/// A pipeline with the figures of each component.
#[derive(Debug, Serialize)]
pub(crate) struct PipelineStats {
    /// The pipeline id.
    pub(crate) id: String,
    /// `traces`, `metrics` or `logs`.
    pub(crate) signal: &'static str,
    /// The unit of its items (`spans`, `metric_points`, `log_records`).
    pub(crate) items: &'static str,
    /// Receivers feeding it.
    pub(crate) receivers: Vec<ReceiverStats>,
    /// Processors in order.
    pub(crate) processors: Vec<ProcessorStats>,
    /// Exporters it feeds.
    pub(crate) exporters: Vec<ExporterStats>,
}

/// A receiver's figures for the pipeline's signal, summed over its transports. `null` where the
/// component reports no such metric (a connector) or no rate window exists yet.
#[derive(Debug, Serialize)]
pub(crate) struct ReceiverStats {
    /// The component id.
    pub(crate) id: String,
    /// Items accepted per second.
    pub(crate) accepted_per_second: Option<f64>,
    /// Items refused per second.
    pub(crate) refused_per_second: Option<f64>,
    /// Items accepted since start.
    pub(crate) accepted_total: Option<f64>,
    /// Items refused since start.
    pub(crate) refused_total: Option<f64>,
}

/// A processor's figures in this pipeline.
#[derive(Debug, Serialize)]
pub(crate) struct ProcessorStats {
    /// The component id.
    pub(crate) id: String,
    /// Items in per second.
    pub(crate) incoming_per_second: Option<f64>,
    /// Items out per second.
    pub(crate) outgoing_per_second: Option<f64>,
}

/// An exporter's figures for the pipeline's signal.
#[derive(Debug, Serialize)]
pub(crate) struct ExporterStats {
    /// The component id.
    pub(crate) id: String,
    /// Items sent per second.
    pub(crate) sent_per_second: Option<f64>,
    /// Items failed for good per second.
    pub(crate) failed_per_second: Option<f64>,
    /// Items sent since start.
    pub(crate) sent_total: Option<f64>,
    /// Items failed for good since start.
    pub(crate) failed_total: Option<f64>,
    /// What the sending queue holds, in its sizer's unit.
    pub(crate) queue_size: Option<f64>,
    /// The sending queue's capacity, same unit.
    pub(crate) queue_capacity: Option<f64>,
    /// `queue_size / queue_capacity` (0..1).
    pub(crate) queue_fill: Option<f64>,
}

/// `GET /api/v1/alerts`.
#[derive(Debug, Serialize)]
pub(crate) struct AlertsAnswer {
    /// One entry per `latency_anomaly` processor that reported.
    pub(crate) latency_anomaly: Vec<EpisodeCounts>,
    /// One entry per `alert_rules` processor that reported.
    pub(crate) alert_rules: Vec<FiringCount>,
    /// What runs that records episodes and alerts.
    pub(crate) configured: Configured,
    /// The recent episodes: open first, then resolved, newest first.
    pub(crate) episodes: Listed<EpisodeRecord>,
    /// The alerts the `alerting` extension received: firing first, then resolved, newest first.
    pub(crate) alerts: Listed<AlertRecord>,
}

/// Which sources of episodes and alerts the running configuration has.
#[derive(Debug, Serialize)]
pub(crate) struct Configured {
    /// A pipeline runs a `latency_anomaly` processor.
    pub(crate) latency_anomaly: bool,
    /// An `alerting` extension runs.
    pub(crate) alerting: bool,
}

/// A latency anomaly detector's episodes.
#[derive(Debug, Serialize)]
pub(crate) struct EpisodeCounts {
    /// The processor id.
    pub(crate) processor: String,
    /// Episodes open now.
    pub(crate) open_episodes: f64,
    /// Episodes that fired since start.
    pub(crate) fired_total: f64,
    /// Episodes resolved since start.
    pub(crate) resolved_total: f64,
}

/// An `alert_rules` processor's alerts.
#[derive(Debug, Serialize)]
pub(crate) struct FiringCount {
    /// The processor id.
    pub(crate) processor: String,
    /// Alerts firing at the last evaluation.
    pub(crate) firing: f64,
}

fn label<'a>(key: &'a Key, name: &str) -> Option<&'a str> {
    key.1
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

/// Sums `metric`'s series whose `label` is `value` (now and per second).
fn sum(
    observed: &Observed,
    metric: &str,
    label_name: &str,
    value: &str,
) -> (Option<f64>, Option<f64>) {
    let mut total = None;
    let mut rate = None;
    for key in observed.now.keys() {
        if key.0 == metric && label(key, label_name) == Some(value) {
            total = Some(total.unwrap_or(0.0) + observed.value(key).unwrap_or(0.0));
            if let Some(r) = observed.rate(key) {
                rate = Some(rate.unwrap_or(0.0) + r);
            }
        }
    }
    (total, rate)
}

/// The answer of `GET /api/v1/pipelines`.
pub(crate) fn pipelines(
    graph: &Graph,
    observed: &Observed,
    cpu: (Option<f64>, Option<f64>),
    rss_bytes: Option<u64>,
    routes: Vec<String>,
) -> PipelinesAnswer {
    let (cpu_seconds_total, cpu_rate) = cpu;
    PipelinesAnswer {
        rate_window_seconds: observed.seconds,
        process: ProcessStats {
            cpu_percent: cpu_rate.map(|r| r * 100.0),
            cpu_seconds_total,
            rss_bytes,
        },
        pipelines: graph
            .pipelines
            .iter()
            .map(|p| pipeline(p, observed))
            .collect(),
        routes,
    }
}

fn pipeline(p: &Pipeline, observed: &Observed) -> PipelineStats {
    let items = p.signal.item_name();
    let receivers = p
        .receivers
        .iter()
        .map(|id| {
            let (accepted_total, accepted_per_second) = sum(
                observed,
                &format!("receiver_accepted_{items}"),
                "receiver",
                id,
            );
            let (refused_total, refused_per_second) = sum(
                observed,
                &format!("receiver_refused_{items}"),
                "receiver",
                id,
            );
            ReceiverStats {
                id: id.clone(),
                accepted_per_second,
                refused_per_second,
                accepted_total,
                refused_total,
            }
        })
        .collect();
    let processors = p
        .processors
        .iter()
        .map(|id| {
            let in_pipeline = |metric: &str| {
                let mut rate = None;
                for key in observed.now.keys() {
                    if key.0 == metric
                        && label(key, "processor") == Some(id)
                        && label(key, "pipeline") == Some(&p.id)
                    {
                        rate = observed.rate(key);
                    }
                }
                rate
            };
            ProcessorStats {
                id: id.clone(),
                incoming_per_second: in_pipeline("processor_incoming_items"),
                outgoing_per_second: in_pipeline("processor_outgoing_items"),
            }
        })
        .collect();
    let exporters = p
        .exporters
        .iter()
        .map(|id| {
            let (sent_total, sent_per_second) =
                sum(observed, &format!("exporter_sent_{items}"), "exporter", id);
            let (failed_total, failed_per_second) = sum(
                observed,
                &format!("exporter_send_failed_{items}"),
                "exporter",
                id,
            );
            let (queue_size, _) = sum(observed, "exporter_queue_size", "exporter", id);
            let (queue_capacity, _) = sum(observed, "exporter_queue_capacity", "exporter", id);
            let queue_fill = match (queue_size, queue_capacity) {
                (Some(size), Some(cap)) if cap > 0.0 => Some((size / cap).clamp(0.0, 1.0)),
                _ => None,
            };
            ExporterStats {
                id: id.clone(),
                sent_per_second,
                failed_per_second,
                sent_total,
                failed_total,
                queue_size,
                queue_capacity,
                queue_fill,
            }
        })
        .collect();
    PipelineStats {
        id: p.id.clone(),
        signal: p.signal.as_str(),
        items,
        receivers,
        processors,
        exporters,
    }
}

/// The answer of `GET /api/v1/alerts`.
pub(crate) fn alerts(observed: &Observed, graph: &Graph, recent: &Recent) -> AlertsAnswer {
    let mut episodes: BTreeMap<String, EpisodeCounts> = BTreeMap::new();
    let mut firing: BTreeMap<String, FiringCount> = BTreeMap::new();
    for (key, value) in &observed.now {
        let Some(processor) = label(key, "processor") else {
            continue;
        };
        let entry = || EpisodeCounts {
            processor: processor.to_string(),
            open_episodes: 0.0,
            fired_total: 0.0,
            resolved_total: 0.0,
        };
        match key.0.as_str() {
            "latency_anomaly_open_episodes" => {
                episodes
                    .entry(processor.to_string())
                    .or_insert_with(entry)
                    .open_episodes += value;
            }
            "latency_anomaly_episodes" => {
                let counts = episodes.entry(processor.to_string()).or_insert_with(entry);
                match label(key, "status") {
                    Some("firing") => counts.fired_total += value,
                    Some("resolved") => counts.resolved_total += value,
                    _ => {}
                }
            }
            "alert_rules_firing" => {
                firing
                    .entry(processor.to_string())
                    .or_insert_with(|| FiringCount {
                        processor: processor.to_string(),
                        firing: 0.0,
                    })
                    .firing += value;
            }
            _ => {}
        }
    }
    // Copied one list at a time: a producer waits at most for one copy.
    let episode_list = recent.episodes().listed();
    let alert_list = recent.alerts().listed();
    AlertsAnswer {
        latency_anomaly: episodes.into_values().collect(),
        alert_rules: firing.into_values().collect(),
        configured: Configured {
            latency_anomaly: graph.latency_anomaly,
            alerting: graph.alerting,
        },
        episodes: episode_list,
        alerts: alert_list,
    }
}
