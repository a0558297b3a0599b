//! One scraper per metric family. Each parses kernel text (`/proc`, read under the configured
//! root) into plain structs and turns those into metrics with pure functions, so the mapping is
//! tested on fixture text and the reading is tested against the live kernel.

pub(crate) mod cpu;
pub(crate) mod disk;
pub(crate) mod filesystem;
pub(crate) mod load;
pub(crate) mod memory;
pub(crate) mod network;
pub(crate) mod paging;
pub(crate) mod process;
pub(crate) mod processes;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::metrics::v1::Metric;

use super::config::MetricToggles;
use crate::core::otlp_build::Times;

/// Where and when a scrape reads.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    /// The root `/proc`, `/sys`, `/etc` and mount points are read under.
    pub(crate) root: PathBuf,
    /// Timestamps: `start` is the host's boot time, `now` the scrape time.
    pub(crate) times: Times,
    /// Kernel clock ticks per second (`USER_HZ`), the unit of `/proc` CPU times.
    pub(crate) ticks_per_second: f64,
}

impl Env {
    /// `rel` (an absolute path like `/proc/stat`) under the root.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        under(&self.root, rel)
    }

    /// Reads a whole kernel text file under the root.
    pub(crate) fn read(&self, rel: &str) -> Result<String, ScrapeError> {
        let path = self.path(rel);
        std::fs::read_to_string(&path).map_err(|source| ScrapeError::Read { path, source })
    }
}

/// `rel` joined under `root` even when `rel` is absolute.
pub(crate) fn under(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

/// What one scraper produced.
#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Metrics about the host, reported under the host resource.
    pub(crate) host: Vec<Metric>,
    /// Metrics about other entities (processes), each with its own resource attributes.
    pub(crate) entities: Vec<(Vec<KeyValue>, Vec<Metric>)>,
}

impl From<Vec<Metric>> for Output {
    fn from(host: Vec<Metric>) -> Output {
        Output {
            host,
            entities: Vec::new(),
        }
    }
}

/// Why a scraper produced nothing this time.
#[derive(Debug)]
pub(crate) enum ScrapeError {
    /// A kernel file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A kernel file did not have the expected shape.
    Parse {
        /// The file.
        what: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScrapeError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            ScrapeError::Parse { what, message } => write!(f, "cannot parse {what}: {message}"),
        }
    }
}

impl std::error::Error for ScrapeError {}

/// A scraper: state kept between scrapes (previous CPU times) plus its settings.
pub(crate) trait Scraper: Send {
    /// The scraper's key under `scrapers:`.
    fn name(&self) -> &'static str;
    /// Takes one reading. Blocking: runs on the blocking pool.
    fn scrape(&mut self, env: &Env) -> Result<Output, ScrapeError>;
}

/// Which of a scraper's metrics are emitted: its defaults, overridden by `metrics:`.
#[derive(Debug, Clone)]
pub(crate) struct Enabled {
    defaults: &'static [(&'static str, bool)],
    toggles: MetricToggles,
}

impl Enabled {
    /// Checks `toggles` only names metrics in `defaults` (a typo would otherwise do nothing).
    pub(crate) fn new(
        scraper: &str,
        defaults: &'static [(&'static str, bool)],
        toggles: &MetricToggles,
    ) -> Result<Enabled, String> {
        if let Some(unknown) = toggles
            .keys()
            .find(|k| !defaults.iter().any(|(n, _)| n == k))
        {
            let known: Vec<&str> = defaults.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "scrapers.{scraper}.metrics: unknown metric {unknown:?}; known: {}",
                known.join(", ")
            ));
        }
        Ok(Enabled {
            defaults,
            toggles: toggles.clone(),
        })
    }

    /// Whether `name` is emitted.
    pub(crate) fn is_on(&self, name: &str) -> bool {
        match self.toggles.get(name) {
            Some(t) => t.enabled,
            None => self.defaults.iter().any(|(n, on)| *n == name && *on),
        }
    }

    /// Drops the metrics that are switched off.
    pub(crate) fn retain(&self, metrics: &mut Vec<Metric>) {
        metrics.retain(|m| self.is_on(&m.name));
    }
}

/// Parses whitespace-separated unsigned integers, naming the file on error.
pub(crate) fn parse_u64(what: &'static str, s: &str) -> Result<u64, ScrapeError> {
    s.parse().map_err(|_| ScrapeError::Parse {
        what,
        message: format!("not a number: {s:?}"),
    })
}
