//! `memory`: `system.memory.*` from `/proc/meminfo`, with the Collector's Linux states
//! (sysinfo has no buffers/cached/slab split).

use std::collections::HashMap;

use lookout_proto::otlp::metrics::v1::Metric;

use super::{Enabled, Env, Output, ScrapeError, Scraper, parse_u64};
use crate::core::otlp_build::{Num, Times, attr, gauge, sum};

/// The scraper's metrics and whether each is on by default.
pub(crate) const METRICS: &[(&str, bool)] = &[
    ("system.memory.usage", true),
    ("system.memory.utilization", false),
    ("system.memory.limit", false),
];

/// `/proc/meminfo` as bytes by key.
pub(crate) fn parse_meminfo(text: &str) -> Result<HashMap<String, u64>, ScrapeError> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let Some(value) = parts.next() else { continue };
        let value = parse_u64("/proc/meminfo", value)?;
        let bytes = match parts.next() {
            Some("kB") => value.saturating_mul(1024),
            _ => value,
        };
        out.insert(key.trim().to_owned(), bytes);
    }
    if !out.contains_key("MemTotal") {
        return Err(ScrapeError::Parse {
            what: "/proc/meminfo",
            message: "no MemTotal".into(),
        });
    }
    Ok(out)
}

/// Memory metrics from parsed `/proc/meminfo`.
pub(crate) fn metrics(info: &HashMap<String, u64>, times: Times) -> Vec<Metric> {
    let get = |k: &str| info.get(k).copied().unwrap_or(0);
    let total = get("MemTotal");
    let free = get("MemFree");
    let buffered = get("Buffers");
    let slab_reclaimable = get("SReclaimable");
    let slab_unreclaimable = get("SUnreclaim");
    // As the Collector (gopsutil): reclaimable slab counts as cache, so used + free +
    // buffered + cached = MemTotal; the slab states break kernel memory down further.
    let cached = get("Cached").saturating_add(slab_reclaimable);
    let used = total
        .saturating_sub(free)
        .saturating_sub(buffered)
        .saturating_sub(cached);
    let states = [
        ("used", used),
        ("free", free),
        ("buffered", buffered),
        ("cached", cached),
        ("slab_reclaimable", slab_reclaimable),
        ("slab_unreclaimable", slab_unreclaimable),
    ];
    let usage = states
        .iter()
        .map(|(s, v)| (vec![attr("state", *s)], Num::from_u64(*v)))
        .collect();
    let utilization = states
        .iter()
        .map(|(s, v)| {
            let ratio = if total == 0 {
                0.0
            } else {
                *v as f64 / total as f64
            };
            (vec![attr("state", *s)], Num::Double(ratio))
        })
        .collect();
    vec![
        sum(
            "system.memory.usage",
            "Bytes of memory in use.",
            "By",
            false,
            times,
            usage,
        ),
        gauge(
            "system.memory.utilization",
            "Percentage of memory bytes in use.",
            "1",
            times,
            utilization,
        ),
        sum(
            "system.memory.limit",
            "Total bytes of memory available.",
            "By",
            false,
            times,
            vec![(Vec::new(), Num::from_u64(total))],
        ),
    ]
}

/// The memory scraper.
pub(crate) struct MemoryScraper {
    enabled: Enabled,
}

impl MemoryScraper {
    /// A scraper with the given metric switches.
    pub(crate) fn new(enabled: Enabled) -> MemoryScraper {
        MemoryScraper { enabled }
    }
}

impl Scraper for MemoryScraper {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn scrape(&mut self, env: &Env) -> Result<Output, ScrapeError> {
        let info = parse_meminfo(&env.read("/proc/meminfo")?)?;
        let mut out = metrics(&info, env.times);
        self.enabled.retain(&mut out);
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::hostmetrics::test_support::{int_points, only_points};

    const MEMINFO: &str = "MemTotal:       1000 kB
MemFree:         100 kB
MemAvailable:    500 kB
Buffers:          50 kB
Cached:          200 kB
SwapCached:        0 kB
SReclaimable:     30 kB
SUnreclaim:       20 kB
HugePages_Total:   0
";

    #[test]
    fn used_free_buffered_cached_partition_total_memory() {
        let info = parse_meminfo(MEMINFO).unwrap();
        assert_eq!(info["HugePages_Total"], 0);
        let out = metrics(&info, Times { start: 1, now: 2 });
        let usage = int_points(&out, "system.memory.usage", "state");
        assert_eq!(usage["free"], 100 * 1024);
        assert_eq!(usage["buffered"], 50 * 1024);
        assert_eq!(usage["cached"], (200 + 30) * 1024);
        assert_eq!(usage["slab_reclaimable"], 30 * 1024);
        assert_eq!(usage["slab_unreclaimable"], 20 * 1024);
        assert_eq!(usage["used"], (1000 - 100 - 50 - 230) * 1024);
        let partition: i64 = ["used", "free", "buffered", "cached"]
            .iter()
            .map(|s| usage[*s])
            .sum();
        assert_eq!(partition, 1000 * 1024);
        assert_eq!(only_points(&out, "system.memory.limit"), vec![1000 * 1024]);
    }

    #[test]
    fn missing_total_is_an_error() {
        assert!(parse_meminfo("MemFree: 1 kB\n").is_err());
        assert!(parse_meminfo("MemTotal: lots kB\n").is_err());
    }
}
