//! `paging`: swap usage per device (`/proc/swaps`), paging operations and faults
//! (`/proc/vmstat`).

use std::collections::HashMap;

use lookout_proto::otlp::metrics::v1::Metric;

use super::{Enabled, Env, Output, ScrapeError, Scraper, parse_u64};
use crate::core::otlp_build::{Num, Times, attr, gauge, sum};

/// The scraper's metrics and whether each is on by default.
pub(crate) const METRICS: &[(&str, bool)] = &[
    ("system.paging.usage", true),
    ("system.paging.operations", true),
    ("system.paging.faults", true),
    ("system.paging.utilization", false),
];

/// One `/proc/swaps` entry, in bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Swap {
    /// Swap file or partition.
    pub(crate) device: String,
    /// Size.
    pub(crate) size: u64,
    /// Used.
    pub(crate) used: u64,
}

/// Parses `/proc/swaps` (sizes in KiB).
pub(crate) fn parse_swaps(text: &str) -> Result<Vec<Swap>, ScrapeError> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [device, _, size, used, ..] = f.as_slice() else {
            continue;
        };
        out.push(Swap {
            device: (*device).to_owned(),
            size: parse_u64("/proc/swaps", size)?.saturating_mul(1024),
            used: parse_u64("/proc/swaps", used)?.saturating_mul(1024),
        });
    }
    Ok(out)
}

/// Parses `/proc/vmstat` (`name value` lines).
pub(crate) fn parse_vmstat(text: &str) -> Result<HashMap<String, u64>, ScrapeError> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| Ok((k.to_owned(), parse_u64("/proc/vmstat", v.trim())?)))
        .collect()
}

/// Paging metrics.
pub(crate) fn metrics(swaps: &[Swap], vmstat: &HashMap<String, u64>, times: Times) -> Vec<Metric> {
    let get = |k: &str| Num::from_u64(vmstat.get(k).copied().unwrap_or(0));
    let mut usage = Vec::new();
    let mut utilization = Vec::new();
    for s in swaps {
        let free = s.size.saturating_sub(s.used);
        for (state, v) in [("used", s.used), ("free", free)] {
            usage.push((
                vec![attr("device", &s.device), attr("state", state)],
                Num::from_u64(v),
            ));
            let ratio = if s.size == 0 {
                0.0
            } else {
                v as f64 / s.size as f64
            };
            utilization.push((
                vec![attr("device", &s.device), attr("state", state)],
                Num::Double(ratio),
            ));
        }
    }
    let faults_all = vmstat.get("pgfault").copied().unwrap_or(0);
    let faults_major = vmstat.get("pgmajfault").copied().unwrap_or(0);
    let op = |direction: &str, kind: &str, key: &str| {
        (
            vec![attr("direction", direction), attr("type", kind)],
            get(key),
        )
    };
    vec![
        sum(
            "system.paging.usage",
            "Swap (unix) or pagefile (windows) usage.",
            "By",
            false,
            times,
            usage,
        ),
        // Swapping whole pages to the swap device is a "major" operation; page-ins/outs of
        // file-backed pages are "minor", as in the Collector.
        sum(
            "system.paging.operations",
            "The number of paging operations.",
            "{operations}",
            true,
            times,
            vec![
                op("page_in", "major", "pswpin"),
                op("page_out", "major", "pswpout"),
                op("page_in", "minor", "pgpgin"),
                op("page_out", "minor", "pgpgout"),
            ],
        ),
        sum(
            "system.paging.faults",
            "The number of page faults.",
            "{faults}",
            true,
            times,
            vec![
                (vec![attr("type", "major")], Num::from_u64(faults_major)),
                (
                    vec![attr("type", "minor")],
                    Num::from_u64(faults_all.saturating_sub(faults_major)),
                ),
            ],
        ),
        gauge(
            "system.paging.utilization",
            "Swap (unix) or pagefile (windows) utilization.",
            "1",
            times,
            utilization,
        ),
    ]
}

/// The paging scraper.
pub(crate) struct PagingScraper {
    enabled: Enabled,
}

impl PagingScraper {
    /// A scraper with the given metric switches.
    pub(crate) fn new(enabled: Enabled) -> PagingScraper {
        PagingScraper { enabled }
    }
}

impl Scraper for PagingScraper {
    fn name(&self) -> &'static str {
        "paging"
    }

    fn scrape(&mut self, env: &Env) -> Result<Output, ScrapeError> {
        // No swap configured is normal; only vmstat is required.
        let swaps = match env.read("/proc/swaps") {
            Ok(text) => parse_swaps(&text)?,
            Err(_) => Vec::new(),
        };
        let vmstat = parse_vmstat(&env.read("/proc/vmstat")?)?;
        let mut out = metrics(&swaps, &vmstat, env.times);
        self.enabled.retain(&mut out);
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::hostmetrics::test_support::points_by;

    #[test]
    fn swap_and_vmstat_fixtures() {
        let swaps = parse_swaps(
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/sda2                               partition\t8000\t\t1000\t\t-2\n",
        )
        .unwrap();
        assert_eq!(
            swaps,
            vec![Swap {
                device: "/dev/sda2".into(),
                size: 8000 * 1024,
                used: 1000 * 1024
            }]
        );
        let vmstat =
            parse_vmstat("pgpgin 10\npgpgout 20\npswpin 3\npswpout 4\npgfault 100\npgmajfault 7\n")
                .unwrap();
        let out = metrics(&swaps, &vmstat, Times { start: 0, now: 1 });
        let usage = points_by(&out, "system.paging.usage", &["device", "state"]);
        assert_eq!(usage["/dev/sda2,free"], Num::Int(7000 * 1024));
        let ops = points_by(&out, "system.paging.operations", &["direction", "type"]);
        assert_eq!(ops["page_in,major"], Num::Int(3));
        assert_eq!(ops["page_out,minor"], Num::Int(20));
        let faults = points_by(&out, "system.paging.faults", &["type"]);
        assert_eq!(faults["major"], Num::Int(7));
        assert_eq!(faults["minor"], Num::Int(93));
        assert!(parse_vmstat("pgfault many\n").is_err());
        assert_eq!(
            parse_swaps("Filename\n/dev/sda3 partition 8000\n").unwrap(),
            []
        );
    }
}
