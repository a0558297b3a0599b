//! Process CPU, memory and uptime, as the Collector's `otelcol_process_*` metrics.

use std::time::Instant;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type FloatGauge = Gauge<f64, AtomicU64>;

pub(super) struct ProcessGauges {
    started: Instant,
    uptime: FloatGauge,
    cpu_seconds: FloatGauge,
    rss: Gauge,
}

impl ProcessGauges {
    pub(super) fn register(registry: &mut Registry) -> ProcessGauges {
        let gauges = ProcessGauges {
            started: Instant::now(),
            uptime: FloatGauge::default(),
            cpu_seconds: FloatGauge::default(),
            rss: Gauge::default(),
        };
        registry.register(
            "lookout_process_uptime",
            "Seconds since the process started",
            gauges.uptime.clone(),
        );
        registry.register(
            "lookout_process_cpu_seconds",
            "Total CPU user and system time, in seconds",
            gauges.cpu_seconds.clone(),
        );
        registry.register(
            "lookout_process_memory_rss",
            "Resident set size, in bytes",
            gauges.rss.clone(),
        );
        gauges
    }

    pub(super) fn refresh(&self) {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        if let Some(cpu) = cpu_seconds() {
            self.cpu_seconds.set(cpu);
        }
        if let Some(rss) = rss_bytes() {
            self.rss.set(rss);
        }
    }
}

/// utime + stime of this process, from `/proc/self/stat`.
pub(super) fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Linux reports these times in USER_HZ, which the kernel ABI fixes at 100 on every
/// architecture Lookout builds for.
fn clock_ticks() -> f64 {
    100.0
}

/// Resident set size from `/proc/self/status` (`VmRSS`, in KiB).
pub(super) fn rss_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
