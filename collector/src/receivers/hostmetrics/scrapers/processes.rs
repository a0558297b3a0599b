//! `processes`: process counts by status (the state letter of every `/proc/<pid>/stat`) and
//! processes created since boot (`/proc/stat`).

use std::collections::BTreeMap;

use lookout_proto::otlp::metrics::v1::Metric;

use super::{Enabled, Env, Output, ScrapeError, Scraper, parse_u64};
use crate::core::otlp_build::{Num, Times, attr, sum};

/// The scraper's metrics and whether each is on by default.
pub(crate) const METRICS: &[(&str, bool)] = &[
    ("system.processes.count", true),
    ("system.processes.created", true),
];

/// The Collector's status for a kernel state letter.
pub(crate) fn status(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "blocked",
        'Z' => "zombies",
        'T' | 't' => "stopped",
        'I' => "idle",
        'W' => "paging",
        _ => "unknown",
    }
}

/// The state letter of a `/proc/<pid>/stat` line: the field after the parenthesised name,
/// which may itself hold spaces and parentheses.
pub(crate) fn stat_state(stat: &str) -> Option<char> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// `processes N` from `/proc/stat`: forks since boot.
pub(crate) fn parse_created(stat: &str) -> Result<u64, ScrapeError> {
    let line = stat
        .lines()
        .find_map(|l| l.strip_prefix("processes "))
        .ok_or(ScrapeError::Parse {
            what: "/proc/stat",
            message: "no `processes` line".into(),
        })?;
    parse_u64("/proc/stat", line.trim())
}

/// Process count metrics from the state letters of all processes.
pub(crate) fn metrics(states: &[char], created: u64, times: Times) -> Vec<Metric> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for s in states {
        *counts.entry(status(*s)).or_default() += 1;
    }
    vec![
        sum(
            "system.processes.count",
            "Total number of processes in each state.",
            "{processes}",
            false,
            times,
            counts
                .into_iter()
                .map(|(s, n)| (vec![attr("status", s)], Num::from_u64(n)))
                .collect(),
        ),
        sum(
            "system.processes.created",
            "Total number of created processes.",
            "{processes}",
            true,
            times,
            vec![(Vec::new(), Num::from_u64(created))],
        ),
    ]
}

/// Pids listed under `/proc` (numeric directory names).
pub(crate) fn pids(env: &Env) -> Result<Vec<u32>, ScrapeError> {
    let dir = env.path("/proc");
    let entries =
        std::fs::read_dir(&dir).map_err(|source| ScrapeError::Read { path: dir, source })?;
    Ok(entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

/// The processes scraper.
pub(crate) struct ProcessesScraper {
    enabled: Enabled,
}

impl ProcessesScraper {
    /// A scraper with the given metric switches.
    pub(crate) fn new(enabled: Enabled) -> ProcessesScraper {
        ProcessesScraper { enabled }
    }
}

impl Scraper for ProcessesScraper {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn scrape(&mut self, env: &Env) -> Result<Output, ScrapeError> {
        let created = parse_created(&env.read("/proc/stat")?)?;
        // A process may exit between listing and reading: skip it.
        let states: Vec<char> = pids(env)?
            .into_iter()
            .filter_map(|pid| stat_state(&env.read(&format!("/proc/{pid}/stat")).ok()?))
            .collect();
        let mut out = metrics(&states, created, env.times);
        self.enabled.retain(&mut out);
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::hostmetrics::test_support::points_by;

    #[test]
    fn counts_by_status() {
        assert_eq!(stat_state("42 (we(ird) name) S 1 2 3"), Some('S'));
        assert_eq!(stat_state("garbage"), None);
        assert_eq!(parse_created("cpu 1\nprocesses 4242\n").unwrap(), 4242);
        assert!(parse_created("cpu 1\n").is_err());
        let out = metrics(
            &['R', 'S', 'S', 'Z', 'D', 'I', 'X'],
            9,
            Times { start: 0, now: 1 },
        );
        let count = points_by(&out, "system.processes.count", &["status"]);
        assert_eq!(count["sleeping"], Num::Int(2));
        assert_eq!(count["running"], Num::Int(1));
        assert_eq!(count["zombies"], Num::Int(1));
        assert_eq!(count["blocked"], Num::Int(1));
        assert_eq!(count["idle"], Num::Int(1));
        assert_eq!(count["unknown"], Num::Int(1));
        assert_eq!(
            points_by(&out, "system.processes.created", &[])[""],
            Num::Int(9)
        );
    }
}
