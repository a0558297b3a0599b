//! What happened recently, kept in memory for the console: latency anomaly episodes
//! ([`episodes`]), alerts as the `alerting` extension received them ([`alerts`]) and the log
//! records that passed through a `correlate` processor ([`logs`]). Each list is bounded (by
//! count, or by bytes for log records) and counts what it evicts; nothing here touches disk.
//!
//! One [`Recent`] per collector, under the [`Host::shared`](crate::component::Host::shared)
//! key [`RECENT_KEY`]: the components that produce these records and the console that reads
//! them ask for the same instance, and it survives config reloads (like the trace-logs
//! registry). The records are plain, serializable values, so a history store can take them
//! from the same producers later.

pub(crate) mod alerts;
pub(crate) mod episodes;
pub(crate) mod logs;
mod ring;
#[cfg(test)]
mod tests;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub(crate) use alerts::{AlertHistory, AlertRecord};
pub(crate) use episodes::{EpisodeHistory, EpisodeRecord};
pub(crate) use logs::{LogTail, TailQuery};
pub(crate) use ring::Listed;

/// The [`Host::shared`](crate::component::Host::shared) key of the collector's [`Recent`].
pub(crate) const RECENT_KEY: &str = "core:recent";

/// Episodes kept (the oldest closed one goes first when full).
pub(crate) const MAX_EPISODES: usize = 1_000;
/// Alerts kept.
pub(crate) const MAX_ALERTS: usize = 1_000;
/// Bytes of log records kept for the live tail (text and fixed size per record).
pub(crate) const MAX_LOG_BYTES: usize = 4 << 20;

/// The recent episodes, alerts and log records of one collector.
#[derive(Debug)]
pub(crate) struct Recent {
    episodes: Mutex<EpisodeHistory>,
    alerts: Mutex<AlertHistory>,
    logs: Mutex<LogTail>,
}

impl Default for Recent {
    fn default() -> Self {
        Recent::new(MAX_EPISODES, MAX_ALERTS, MAX_LOG_BYTES)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update leaves the lists consistent between statements that could panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Recent {
    /// Empty lists holding at most these many episodes, alerts and bytes of log records.
    pub(crate) fn new(episodes: usize, alerts: usize, log_bytes: usize) -> Recent {
        Recent {
            episodes: Mutex::new(EpisodeHistory::new(episodes)),
            alerts: Mutex::new(AlertHistory::new(alerts)),
            logs: Mutex::new(LogTail::new(log_bytes)),
        }
    }

    /// The episodes, locked.
    pub(crate) fn episodes(&self) -> MutexGuard<'_, EpisodeHistory> {
        lock(&self.episodes)
    }

    /// The alerts, locked.
    pub(crate) fn alerts(&self) -> MutexGuard<'_, AlertHistory> {
        lock(&self.alerts)
    }

    /// The log tail, locked.
    pub(crate) fn logs(&self) -> MutexGuard<'_, LogTail> {
        lock(&self.logs)
    }
}
