//! Entry points for the criterion benches in `collector/benches/`, hidden from the docs: the
//! library's surface stays `config`, `service` and `describe`; these exist so a bench can
//! drive crate-private parts without a running pipeline.

use std::time::SystemTime;

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use lookout_proto::otlp::resource::v1::Resource;
use prost::Message;

use crate::core::alert::{Alert, AlertSink};
use crate::core::otlp_build::{Num, Times, attr, gauge, sum, unix_nanos};
use crate::processors::alert_rules::{AlertRulesConfig, Engine, Metrics};

#[derive(Debug)]
struct Discard;

impl AlertSink for Discard {
    fn send(&self, _source: &str, _alert: Alert) {}
}

/// The `alert_rules` engine with the default rule set, alerts discarded.
#[derive(Debug)]
pub struct AlertRules {
    engine: Engine,
    watched: std::sync::Arc<std::collections::HashSet<String>>,
}

impl AlertRules {
    /// An engine with the default rules only.
    pub fn with_default_rules() -> AlertRules {
        let config = AlertRulesConfig::default();
        let engine = Engine::new(&config, Metrics::default())
            .unwrap_or_else(|e| panic!("default rules: {e}"));
        let watched = engine.watched();
        AlertRules { engine, watched }
    }

    /// What the processor does with one request on the data path: decode, then update the
    /// series of the rules that read its metrics.
    pub fn observe(&mut self, payload: &[u8]) {
        if let Ok(w) = Engine::extract(&self.watched, payload) {
            self.engine.apply_watched(&w, SystemTime::now());
        }
    }

    /// One evaluation of every rule.
    pub fn evaluate(&mut self) {
        self.engine
            .evaluate_now(SystemTime::now(), &Discard, "bench");
    }
}

/// An encoded request shaped like one `hostmetrics` scrape of a host with `cpus` CPUs (every
/// default-on metric, plus the utilisation gauges the default rules read) taken `round`
/// scrapes (10 s apart) from now, and its points.
pub fn hostmetrics_request(host: &str, cpus: usize, round: u64) -> (Vec<u8>, usize) {
    let now = unix_nanos(SystemTime::now()) + round * 10_000_000_000;
    let t = Times {
        start: now.saturating_sub(3_600_000_000_000),
        now,
    };
    let states = [
        "user",
        "system",
        "idle",
        "interrupt",
        "nice",
        "softirq",
        "steal",
        "wait",
    ];
    let per_cpu = |v: f64| {
        (0..cpus)
            .flat_map(|c| {
                states.iter().map(move |s| {
                    (
                        vec![attr("cpu", format!("cpu{c}")), attr("state", *s)],
                        Num::Double(v),
                    )
                })
            })
            .collect::<Vec<_>>()
    };
    let mem_states = [
        "used",
        "free",
        "buffered",
        "cached",
        "slab_reclaimable",
        "slab_unreclaimable",
    ];
    let mounts = ["/", "/boot", "/home", "/var", "/snap/core/1"];
    let fs = |extra: &[&str], v: i64| {
        mounts
            .iter()
            .flat_map(|m| {
                let base = vec![
                    attr("device", "/dev/sda1"),
                    attr("mode", if m.starts_with("/snap") { "ro" } else { "rw" }),
                    attr("mountpoint", *m),
                    attr("type", "ext4"),
                ];
                let with: Vec<_> = if extra.is_empty() {
                    vec![(base.clone(), Num::Int(v))]
                } else {
                    extra
                        .iter()
                        .map(|s| {
                            let mut a = base.clone();
                            a.push(attr("state", *s));
                            (a, Num::Int(v))
                        })
                        .collect()
                };
                with
            })
            .collect::<Vec<_>>()
    };
    let dev_dir = |devs: &[&str], dirs: [&str; 2]| {
        devs.iter()
            .flat_map(|d| {
                dirs.iter().map(move |x| {
                    (
                        vec![attr("device", *d), attr("direction", *x)],
                        Num::Int(12345),
                    )
                })
            })
            .collect::<Vec<_>>()
    };
    let disks = ["sda", "sdb", "nvme0n1", "dm-0"];
    let nics = ["lo", "eth0", "docker0"];
    let mut metrics: Vec<Metric> = vec![
        sum("system.cpu.time", "", "s", true, t, per_cpu(1234.5)),
        gauge("system.cpu.utilization", "", "1", t, per_cpu(0.12)),
        sum(
            "system.memory.usage",
            "",
            "By",
            false,
            t,
            mem_states
                .iter()
                .map(|s| (vec![attr("state", *s)], Num::Int(1 << 30)))
                .collect(),
        ),
        gauge(
            "system.memory.utilization",
            "",
            "1",
            t,
            mem_states
                .iter()
                .map(|s| (vec![attr("state", *s)], Num::Double(0.2)))
                .collect(),
        ),
        sum(
            "system.filesystem.usage",
            "",
            "By",
            false,
            t,
            fs(&["used", "free", "reserved"], 1 << 30),
        ),
        sum(
            "system.filesystem.inodes.usage",
            "",
            "{inodes}",
            false,
            t,
            fs(&["used", "free"], 1000),
        ),
        gauge(
            "system.filesystem.utilization",
            "",
            "1",
            t,
            fs(&[], 0)
                .into_iter()
                .map(|(a, _)| (a, Num::Double(0.4)))
                .collect(),
        ),
        gauge(
            "system.cpu.load_average.1m",
            "",
            "{thread}",
            t,
            vec![(vec![], Num::Double(0.3))],
        ),
        gauge(
            "system.cpu.load_average.5m",
            "",
            "{thread}",
            t,
            vec![(vec![], Num::Double(0.3))],
        ),
        gauge(
            "system.cpu.load_average.15m",
            "",
            "{thread}",
            t,
            vec![(vec![], Num::Double(0.3))],
        ),
    ];
    for name in [
        "system.disk.io",
        "system.disk.operations",
        "system.disk.operation_time",
        "system.disk.merged",
    ] {
        metrics.push(sum(
            name,
            "",
            "1",
            true,
            t,
            dev_dir(&disks, ["read", "write"]),
        ));
    }
    for name in [
        "system.disk.io_time",
        "system.disk.weighted_io_time",
        "system.disk.pending_operations",
    ] {
        metrics.push(sum(
            name,
            "",
            "1",
            true,
            t,
            disks
                .iter()
                .map(|d| (vec![attr("device", *d)], Num::Int(5)))
                .collect(),
        ));
    }
    for name in [
        "system.network.io",
        "system.network.packets",
        "system.network.errors",
        "system.network.dropped",
    ] {
        metrics.push(sum(
            name,
            "",
            "1",
            true,
            t,
            dev_dir(&nics, ["receive", "transmit"]),
        ));
    }
    let points: usize = metrics.iter().map(points_of).sum();
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    attr("host.name", host),
                    attr("os.type", "linux"),
                    attr("host.id", "8f3a"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    (req.encode_to_vec(), points)
}

fn points_of(m: &Metric) -> usize {
    use lookout_proto::otlp::metrics::v1::metric::Data;
    match &m.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        _ => 0,
    }
}

/// The `correlate` processor's window (enrichment mode), as its traces stage drives it.
#[derive(Debug)]
pub struct CorrelateWindow {
    window: crate::processors::correlate::Window,
    _telemetry: crate::telemetry::Telemetry,
}

impl CorrelateWindow {
    /// A window with the processor's default limits except `num_traces` and `max_bytes`.
    pub fn new(num_traces: usize, max_bytes: usize) -> CorrelateWindow {
        use crate::processors::correlate::{CorrelateConfig, Limits, Window, WindowMetrics};
        let telemetry = crate::telemetry::Telemetry::new();
        let config = CorrelateConfig {
            num_traces,
            max_bytes,
            ..CorrelateConfig::default()
        };
        let metrics = WindowMetrics::new(&telemetry, "correlate");
        CorrelateWindow {
            window: Window::new(Limits::from(&config), metrics),
            _telemetry: telemetry,
        }
    }

    /// What the traces stage does with one request: index its spans.
    pub fn add_spans(&mut self, payload: &[u8]) {
        let _ = self
            .window
            .add_spans(payload, crate::processors::correlate::Now::current());
    }

    /// Traces held.
    pub fn traces(&self) -> usize {
        self.window.len()
    }

    /// Accounted bytes held.
    pub fn bytes(&self) -> usize {
        self.window.bytes()
    }
}

/// What the OTLP/gRPC exporter does with one batch before sending it: compress `payload` with
/// gzip at `level` and frame it. Returns the frame's length.
pub fn otlp_grpc_frame(payload: &[u8], level: i32) -> usize {
    crate::exporters::otlp::frame(crate::compression::Codec::Gzip, Some(level), payload)
        .0
        .len()
}

/// What the OTLP/HTTP exporter does with one batch before sending it: compress `payload` with
/// gzip at `level` into the request body. Returns the body's length.
pub fn otlp_http_body(payload: &[u8], level: i32) -> usize {
    crate::compression::compress(crate::compression::Codec::Gzip, Some(level), payload).len()
}
