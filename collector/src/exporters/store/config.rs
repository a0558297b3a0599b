//! `exporters: store:` settings.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The `store` exporter's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StoreConfig {
    /// The data directory (created if missing; default `./lookout-data/store`).
    pub directory: PathBuf,
    /// How long and how much each signal keeps.
    pub retention: RetentionConfig,
    /// How often the in-memory head is written out as Parquet segments (default 5 m). Until
    /// then the rows are in the write-ahead log and answered from memory.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// When a batch's write-ahead log append is fsynced before it is acknowledged.
    pub fsync: FsyncPolicy,
    /// Reports made from this store on a schedule (docs/reports.md).
    pub reports: Vec<crate::reports::config::ScheduleConfig>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            directory: PathBuf::from("./lookout-data/store"),
            retention: RetentionConfig::default(),
            flush_interval: Duration::from_secs(300),
            fsync: FsyncPolicy::EveryBatch,
            reports: Vec::new(),
        }
    }
}

/// When the write-ahead log is fsynced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FsyncPolicy {
    /// Before every batch is acknowledged (the default): an acknowledged batch survives a
    /// power loss.
    #[default]
    EveryBatch,
    /// Never explicitly: an acknowledged batch is in the OS page cache, so it survives the
    /// process being killed (kill -9) but not a power loss or kernel crash.
    Never,
}

/// Limits of one signal's data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    /// Segments whose hour ended longer ago than this are deleted.
    #[serde(default, with = "humantime_serde")]
    pub max_age: Option<Duration>,
    /// The signal's segments plus its write-ahead log never exceed this many bytes: the
    /// oldest segments are deleted first.
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

/// `retention:` — shared limits, each overridable per signal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RetentionConfig {
    /// Default age limit of every signal (default 7 days).
    #[serde(with = "humantime_serde")]
    pub max_age: Option<Duration>,
    /// Default size limit of every signal, in bytes (default 1 GiB each).
    pub max_bytes: Option<u64>,
    /// Spans (and their RED rollups).
    pub traces: Limits,
    /// Metric points (raw and rollups).
    pub metrics: Limits,
    /// Log records.
    pub logs: Limits,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_age: Some(Duration::from_secs(7 * 24 * 3600)),
            max_bytes: Some(1 << 30),
            traces: Limits::default(),
            metrics: Limits::default(),
            logs: Limits::default(),
        }
    }
}

impl RetentionConfig {
    /// The limits that apply to `signal`'s data: its own, else the shared ones.
    pub(crate) fn limits(&self, signal: crate::core::Signal) -> Limits {
        use crate::core::Signal;
        let own = match signal {
            Signal::Traces => self.traces,
            Signal::Metrics => self.metrics,
            Signal::Logs => self.logs,
        };
        Limits {
            max_age: own.max_age.or(self.max_age),
            max_bytes: own.max_bytes.or(self.max_bytes),
        }
    }
}

impl crate::component::Validate for StoreConfig {
    fn validate(&self) -> Result<(), String> {
        if self.directory.as_os_str().is_empty() {
            return Err("directory must not be empty".into());
        }
        if self.flush_interval.is_zero() {
            return Err("flush_interval must be > 0".into());
        }
        crate::reports::config::validate(&self.reports)?;
        for signal in crate::core::Signal::ALL {
            let limits = self.retention.limits(signal);
            if limits.max_bytes == Some(0) {
                return Err(format!(
                    "retention max_bytes of {} must be > 0",
                    signal.as_str()
                ));
            }
            if limits.max_age.is_some_and(|a| a.is_zero()) {
                return Err(format!(
                    "retention max_age of {} must be > 0",
                    signal.as_str()
                ));
            }
        }
        Ok(())
    }
}
