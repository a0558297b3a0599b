//! `processors: memory_limiter:` — the Collector's keys (`check_interval`, `limit_mib`,
//! `spike_limit_mib`, `limit_percentage`, `spike_limit_percentage`) over Lookout's memory
//! budget ([`crate::core::MemoryBudget`]).
//!
//! What it measures, and why: receivers refuse by **accounted bytes** — the bytes of every
//! request from the moment a receiver reserves them, before it reads the body, until the last
//! exporter is done with them. Accounting is exact and immediate (no sampling lag, in which a
//! burst of large requests gets in between two checks), it lets a request be refused before a
//! byte of it is read, and it does not depend on the allocator giving freed memory back to the
//! system. A new request is admitted while the bytes in flight stay under the soft limit
//! (`limit − spike`); a request already admitted may grow (decompression) up to the hard limit
//! (`limit`). The spike is the room left for what is not accounted (buffers of connections and
//! compression, the allocator's slack). Every `check_interval` the process's **RSS** is also
//! read, as a backstop: while it is over the hard limit and data is in flight, everything is
//! refused. (With nothing in flight, refusing frees nothing — RSS then stays high only because
//! the allocator keeps freed pages — so the limiter logs it and accepts again.) All refusals are
//! retryable: gRPC `UNAVAILABLE` with `RetryInfo`, HTTP 503 with `Retry-After`; filelog pauses.
//!
//! There is one process: the limits hold for every receiver, whichever pipeline lists the
//! processor; with several `memory_limiter`s the tightest limits hold. In the pipeline the
//! processor passes data through unchanged.

use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;
use tokio::time::MissedTickBehavior;

mod factory;
pub(crate) use factory::Factory;

use super::ProcessorContext;
use crate::component::Validate;
use crate::core::MemoryBudget;

const MIB: u64 = 1 << 20;

/// `memory_limiter` settings, with the Collector's names. Give `limit_mib` or
/// `limit_percentage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MemoryLimiterConfig {
    /// How often the process's RSS is read (default 1s; the Collector requires a value).
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
    /// Hard limit in MiB.
    pub limit_mib: u64,
    /// Room between the soft and the hard limit, in MiB (default: 20 % of the limit).
    pub spike_limit_mib: u64,
    /// Hard limit as a percentage of the memory available (the cgroup's limit, else the
    /// host's total memory).
    pub limit_percentage: u64,
    /// Room between the soft and the hard limit, as a percentage of the memory available.
    pub spike_limit_percentage: u64,
}

impl Default for MemoryLimiterConfig {
    fn default() -> Self {
        MemoryLimiterConfig {
            check_interval: Duration::from_secs(1),
            limit_mib: 0,
            spike_limit_mib: 0,
            limit_percentage: 0,
            spike_limit_percentage: 0,
        }
    }
}

impl Validate for MemoryLimiterConfig {
    fn validate(&self) -> Result<(), String> {
        if self.check_interval.is_zero() {
            return Err("check_interval must be greater than 0".into());
        }
        match (self.limit_mib, self.limit_percentage) {
            (0, 0) => {
                return Err(
                    "set limit_mib or limit_percentage (the memory Lookout may use)".into(),
                );
            }
            (mib, pct) if mib > 0 && pct > 0 => {
                return Err("set either limit_mib or limit_percentage, not both".into());
            }
            _ => {}
        }
        if self.spike_limit_mib > 0 && self.spike_limit_percentage > 0 {
            return Err("set either spike_limit_mib or spike_limit_percentage, not both".into());
        }
        if self.limit_percentage > 100 || self.spike_limit_percentage > 100 {
            return Err("limit_percentage and spike_limit_percentage must be at most 100".into());
        }
        if self.limit_mib > 0 && self.spike_limit_mib >= self.limit_mib {
            return Err(format!(
                "spike_limit_mib ({}) must be smaller than limit_mib ({})",
                self.spike_limit_mib, self.limit_mib
            ));
        }
        if self.limit_percentage > 0 && self.spike_limit_percentage >= self.limit_percentage {
            return Err(format!(
                "spike_limit_percentage ({}) must be smaller than limit_percentage ({})",
                self.spike_limit_percentage, self.limit_percentage
            ));
        }
        Ok(())
    }
}

/// The limits a configuration means, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// New requests are admitted below this.
    pub soft: u64,
    /// Nothing is admitted above this.
    pub hard: u64,
}

impl MemoryLimiterConfig {
    /// The limits in bytes, given the memory available (for the percentages).
    pub(crate) fn limits(&self, available: Option<u64>) -> Result<Limits, String> {
        let percent = |p: u64| -> Result<u64, String> {
            let total = available.ok_or(
                "limit_percentage needs the memory available, which this system does not report; use limit_mib",
            )?;
            Ok(total / 100 * p)
        };
        let hard = if self.limit_mib > 0 {
            self.limit_mib.saturating_mul(MIB)
        } else {
            percent(self.limit_percentage)?
        };
        let spike = if self.spike_limit_mib > 0 {
            self.spike_limit_mib.saturating_mul(MIB)
        } else if self.spike_limit_percentage > 0 {
            percent(self.spike_limit_percentage)?
        } else {
            hard / 5
        };
        if spike >= hard {
            return Err(format!(
                "the spike limit ({spike} bytes) must be smaller than the limit ({hard} bytes)"
            ));
        }
        Ok(Limits {
            soft: hard - spike,
            hard,
        })
    }
}

/// The memory this process may use: its cgroup's limit if it has one, else the host's total.
pub(crate) fn available_memory() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    match (cgroup, total) {
        // cgroup v1 reports "no limit" as a huge number.
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

/// Whether receivers must refuse everything: the process is over the hard limit and refusing
/// can still free something (data is in flight).
pub(crate) fn refuse_all(rss: u64, hard: u64, in_flight: u64) -> bool {
    rss >= hard && in_flight > 0
}

/// What the limiter reports on `/metrics` at every check.
pub(crate) struct Gauges {
    /// `lookout_memory_limiter_accounted_bytes`: bytes in flight in the budget.
    pub(crate) accounted: Gauge,
    /// `lookout_memory_limiter_refusing_all`: 1 while everything is refused.
    pub(crate) refusing_all: Gauge,
}

/// Passes batches through; every `check_interval` reads the RSS and tells the budget whether
/// to refuse everything.
pub(crate) async fn run(
    check_interval: Duration,
    budget: MemoryBudget,
    gauges: Gauges,
    mut ctx: ProcessorContext,
) {
    let mut tick = tokio::time::interval(check_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut warned_idle = false;
    loop {
        tokio::select! {
            biased;
            next = ctx.input.recv() => {
                let Some(batch) = next else { break };
                let items = batch.items as u64;
                ctx.metrics.incoming.inc_by(items);
                ctx.metrics.outgoing.inc_by(items);
                ctx.output.send(batch).await;
            }
            _ = tick.tick() => {
                let Some(rss) = crate::telemetry::rss_bytes() else { continue };
                let (_, hard) = budget.limits();
                let used = budget.used();
                let refuse = refuse_all(rss, hard, used);
                if refuse != budget.refusing_all() {
                    if refuse {
                        tracing::warn!(processor = %ctx.id, rss, limit = hard, in_flight = used, "memory over the hard limit: refusing all data until it drops");
                    } else {
                        tracing::info!(processor = %ctx.id, rss, limit = hard, "memory back under the hard limit: accepting data again");
                    }
                }
                budget.set_refuse_all(refuse);
                gauges.accounted.set(i64::try_from(used).unwrap_or(i64::MAX));
                gauges.refusing_all.set(i64::from(refuse));
                let idle_over = rss >= hard && used == 0;
                if idle_over && !warned_idle {
                    tracing::warn!(processor = %ctx.id, rss, limit = hard, "RSS is over the limit with no data in flight (memory kept by the allocator or not used for telemetry); accepting data");
                }
                warned_idle = idle_over;
            }
        }
    }
    budget.set_refuse_all(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> MemoryLimiterConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn limits_in_mib_with_the_default_spike_of_a_fifth() {
        let c = config("limit_mib: 500");
        c.validate().unwrap();
        assert_eq!(
            c.limits(None).unwrap(),
            Limits {
                soft: 400 * MIB,
                hard: 500 * MIB
            }
        );
        let c = config("{limit_mib: 500, spike_limit_mib: 100, check_interval: 5s}");
        assert_eq!(c.check_interval, Duration::from_secs(5));
        assert_eq!(c.limits(None).unwrap().soft, 400 * MIB);
    }

    #[test]
    fn limits_as_percentages_of_the_memory_available() {
        let c = config("{limit_percentage: 50, spike_limit_percentage: 10}");
        c.validate().unwrap();
        let total = 1000 * MIB;
        assert_eq!(
            c.limits(Some(total)).unwrap(),
            Limits {
                soft: total / 100 * 40,
                hard: total / 100 * 50
            }
        );
        assert!(c.limits(None).is_err(), "percentages need the memory size");
    }

    #[test]
    fn validation_names_the_fault() {
        for (yaml, expect) in [
            ("check_interval: 1s", "limit_mib or limit_percentage"),
            ("{limit_mib: 100, limit_percentage: 10}", "not both"),
            (
                "{limit_mib: 100, spike_limit_mib: 100}",
                "smaller than limit_mib",
            ),
            (
                "{limit_percentage: 20, spike_limit_percentage: 30}",
                "smaller",
            ),
            ("{limit_percentage: 120}", "at most 100"),
            ("{limit_mib: 100, check_interval: 0s}", "check_interval"),
        ] {
            let err = config(yaml).validate().unwrap_err();
            assert!(err.contains(expect), "{yaml}: {err}");
        }
        assert!(
            serde_yaml_ng::from_str::<MemoryLimiterConfig>("{limit_mib: 1, ballast_size_mib: 2}")
                .is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn refuses_all_only_over_the_hard_limit_with_data_in_flight() {
        assert!(refuse_all(200, 100, 1));
        assert!(!refuse_all(99, 100, 1));
        assert!(!refuse_all(200, 100, 0));
    }
}
