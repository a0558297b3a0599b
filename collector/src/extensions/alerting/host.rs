//! The host evidence of an alert: CPU, memory and load when it first arrives, read with
//! `sysinfo` at most once every [`MIN_REFRESH`] however many alerts arrive.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::core::alert::HostSnapshot;

/// Alerts arriving within this of the last reading share it.
const MIN_REFRESH: Duration = Duration::from_secs(5);

/// Reads and caches host figures.
pub(crate) struct HostSampler {
    system: Option<sysinfo::System>,
    last: Option<(Instant, HostSnapshot)>,
}

impl std::fmt::Debug for HostSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostSampler")
            .field("last", &self.last)
            .finish()
    }
}

impl HostSampler {
    /// A sampler; made when the extension starts, so that the first alert's CPU usage
    /// covers the time since then (usage is the change between two refreshes).
    pub(crate) fn new() -> HostSampler {
        let kind = sysinfo::RefreshKind::nothing()
            .with_cpu(sysinfo::CpuRefreshKind::nothing().with_usage())
            .with_memory(sysinfo::MemoryRefreshKind::nothing().with_ram());
        HostSampler {
            system: sysinfo::System::new_with_specifics(kind).ok(),
            last: None,
        }
    }

    /// The host now (or as of the last reading, if recent); `None` if it cannot be read.
    pub(crate) fn snapshot(&mut self) -> Option<HostSnapshot> {
        if let Some((at, snap)) = self.last
            && at.elapsed() < MIN_REFRESH
        {
            return Some(snap);
        }
        let system = self.system.as_mut()?;
        system.refresh_cpu_usage();
        system.refresh_memory();
        let total = system.total_memory();
        let snap = HostSnapshot {
            at: SystemTime::now(),
            cpu_utilization: f64::from(system.global_cpu_usage()) / 100.0,
            memory_utilization: if total == 0 {
                0.0
            } else {
                system.used_memory() as f64 / total as f64
            },
            load_1m: sysinfo::System::load_average().map_or(0.0, |l| l.one),
        };
        self.last = Some((Instant::now(), snap));
        Some(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_is_sane_and_cached() {
        let mut s = HostSampler::new();
        let a = s.snapshot().expect("linux host readable");
        assert!((0.0..=1.0).contains(&a.memory_utilization) && a.memory_utilization > 0.0);
        assert!((0.0..=1.0).contains(&a.cpu_utilization));
        assert!(a.load_1m >= 0.0);
        let b = s.snapshot().unwrap();
        assert_eq!(a, b, "a second alert within 5s shares the reading");
    }
}
