//! `lookout report`: a report from a store directory, written to a file or stdout.
//!
//! The store is opened read-only ([`Store::open_read_only`]): a running `lookout` that
//! writes it is not disturbed (no lock, no file created, moved or deleted), and its
//! write-ahead log is read too, so the report includes what it has not flushed yet.

use std::path::{Path, PathBuf};

use chrono::DateTime;

use super::{Format, build, nanos, render};
use crate::config::Config;
use crate::exporters::store::{Store, StoreConfig, StoreError, now_ns};

/// `lookout report` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Start of the range: a duration before now (`24h`, `7d`) or an RFC 3339 time.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// End of the range (exclusive): a duration before now or an RFC 3339 time; default now.
    #[arg(long)]
    pub until: Option<String>,
    /// `html`, `json` or `csv`.
    #[arg(long, default_value = "html")]
    pub format: Format,
    /// Where to write it (default: standard output).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// The store's data directory (default: the `store` exporter's `directory` in
    /// `--config`, or the embedded default's `./lookout-data/store`).
    #[arg(long)]
    pub store: Option<PathBuf>,
}

impl clap::ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[Format::Html, Format::Json, Format::Csv]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.extension()))
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A bad `--since` / `--until`.
    #[error("{0}")]
    Range(String),
    /// The configuration did not load.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The store could not be read.
    #[error("{0}")]
    Store(String),
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl From<StoreError> for ReportError {
    fn from(err: StoreError) -> ReportError {
        ReportError::Store(err.to_string())
    }
}

/// A point in time: `now` minus a duration (`24h`), or an RFC 3339 time; unix nanoseconds.
pub(crate) fn parse_time(text: &str, now: i64) -> Result<i64, String> {
    if let Ok(d) = humantime::parse_duration(text.trim()) {
        return Ok(now.saturating_sub(nanos(d)));
    }
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| format!("{text:?} is neither a duration (24h, 7d) nor an RFC 3339 time"))
}

/// The data directory of the first `store` exporter of `config`.
fn store_dir(config: &Config) -> Option<PathBuf> {
    config
        .exporters
        .iter()
        .filter(|(_, c)| c.about().type_name == "store")
        .find_map(|(_, c)| c.settings::<StoreConfig>().map(|s| s.directory.clone()))
}

/// Makes the report `args` ask for; `config` is the `--config` file, if any.
pub fn run(args: &ReportArgs, config: Option<&Path>) -> Result<(), ReportError> {
    let dir = match &args.store {
        Some(dir) => dir.clone(),
        None => {
            let config = match config {
                Some(path) => Config::load(path)?,
                None => Config::default_config()?,
            };
            store_dir(&config).ok_or_else(|| {
                ReportError::Store(
                    "the configuration has no store exporter; give the data directory with --store"
                        .into(),
                )
            })?
        }
    };
    let now = now_ns();
    let from = parse_time(&args.since, now).map_err(ReportError::Range)?;
    let to = match &args.until {
        Some(u) => parse_time(u, now).map_err(ReportError::Range)?,
        None => now,
    };
    if from >= to {
        return Err(ReportError::Range("--since must be before --until".into()));
    }
    let store = Store::open_read_only(&dir)?;
    let text = render(&build(&store, from, to), args.format);
    match &args.output {
        Some(path) => {
            write_atomically(path, text.as_bytes()).map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|source| ReportError::Write {
                    path: PathBuf::from("<stdout>"),
                    source,
                })
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it: a reader never sees
/// half a report.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
