//! `receivers: filelog:` settings, with the Collector's key names and defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::config::shared::parse_size as parse_byte_size;
use crate::core::ComponentId;
use crate::receivers::filelog::operators::OperatorConfig;

/// The filelog receiver's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileLogConfig {
    /// `include`: glob patterns of files to read (required).
    #[serde(default)]
    pub include: Vec<String>,
    /// `exclude`: glob patterns of files to skip.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `exclude_older_than`: skip files not modified for this long.
    #[serde(default, with = "humantime_serde")]
    pub exclude_older_than: Option<Duration>,
    /// `start_at`: `end` (default) reads only what is written after start-up for files seen at
    /// start-up without a checkpoint; `beginning` reads them whole. Files that appear later
    /// are always read from their beginning.
    #[serde(default)]
    pub start_at: StartAt,
    /// `poll_interval`: how often files are listed and checked when file notifications are
    /// incomplete (default 200ms). While every directory is watched, files are read as
    /// notifications name them and the safety listing runs every `max(poll_interval, 1s)`.
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// `fingerprint_size`: bytes at the start of a file that identify it (default 1kb).
    #[serde(default = "default_fingerprint_size", deserialize_with = "byte_size")]
    pub fingerprint_size: usize,
    /// `max_log_size`: longer records are split into pieces of this size (default 1MiB).
    #[serde(default = "default_max_log_size", deserialize_with = "byte_size")]
    pub max_log_size: usize,
    /// `max_concurrent_files`: files held open at once (default 1024).
    #[serde(default = "default_max_concurrent_files")]
    pub max_concurrent_files: usize,
    /// `encoding`: `utf-8` (default), `utf-16le`, `utf-16be`.
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// `include_file_name`: add `log.file.name` (default true).
    #[serde(default = "yes")]
    pub include_file_name: bool,
    /// `include_file_path`: add `log.file.path` (default false).
    #[serde(default)]
    pub include_file_path: bool,
    /// `include_file_name_resolved`: add `log.file.name_resolved`, the name after following
    /// symlinks (default false).
    #[serde(default)]
    pub include_file_name_resolved: bool,
    /// `include_file_path_resolved`: add `log.file.path_resolved` (default false).
    #[serde(default)]
    pub include_file_path_resolved: bool,
    /// `multiline`: join lines into records.
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// `force_flush_period`: emit an unterminated last line or a waiting multiline record
    /// after the file has not grown for this long (default 500ms).
    #[serde(default = "default_force_flush", with = "humantime_serde")]
    pub force_flush_period: Duration,
    /// `delete_after_read`: delete each file once it is read and delivered (requires
    /// `start_at: beginning`).
    #[serde(default)]
    pub delete_after_read: bool,
    /// `compression`: `gzip` to read gzip-compressed files (default: none).
    #[serde(default)]
    pub compression: Option<String>,
    /// `preserve_leading_whitespaces` (default false: trimmed).
    #[serde(default)]
    pub preserve_leading_whitespaces: bool,
    /// `preserve_trailing_whitespaces` (default false: trimmed).
    #[serde(default)]
    pub preserve_trailing_whitespaces: bool,
    /// `storage`: a `file_storage` extension for checkpoints.
    #[serde(default, deserialize_with = "component_id")]
    pub storage: Option<ComponentId>,
    /// `attributes`: added to every record.
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
    /// `resource`: resource attributes of every record.
    #[serde(default)]
    pub resource: BTreeMap<String, Value>,
    /// `operators`: the stanza operator list.
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
}

/// `start_at`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StartAt {
    /// From the start of the file.
    Beginning,
    /// From the end (default).
    #[default]
    End,
}

/// `multiline:`: exactly one of the patterns.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MultilineConfig {
    /// `line_start_pattern`: a record starts at each matching line.
    #[serde(default)]
    pub line_start_pattern: Option<String>,
    /// `line_end_pattern`: a record ends at each matching line.
    #[serde(default)]
    pub line_end_pattern: Option<String>,
}

fn default_poll_interval() -> Duration {
    Duration::from_millis(200)
}
fn default_fingerprint_size() -> usize {
    1000
}
fn default_max_log_size() -> usize {
    1024 * 1024
}
fn default_max_concurrent_files() -> usize {
    1024
}
fn default_encoding() -> String {
    "utf-8".into()
}
fn default_force_flush() -> Duration {
    Duration::from_millis(500)
}
fn yes() -> bool {
    true
}

fn component_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ComponentId>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| ComponentId::parse(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// The Collector's byte sizes: a number of bytes, or a string like `1kb`, `16KiB`, `1MiB`.
fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    let n = match Raw::deserialize(d)? {
        Raw::N(n) => n,
        Raw::S(s) => parse_byte_size(&s).map_err(serde::de::Error::custom)?,
    };
    usize::try_from(n).map_err(|_| serde::de::Error::custom("byte size is too large"))
}

impl Default for FileLogConfig {
    /// The serde defaults, with no `include` (which validation then refuses, as the
    /// Collector's `'include' must be specified`).
    fn default() -> Self {
        FileLogConfig {
            include: Vec::new(),
            exclude: Vec::new(),
            exclude_older_than: None,
            start_at: StartAt::default(),
            poll_interval: default_poll_interval(),
            fingerprint_size: default_fingerprint_size(),
            max_log_size: default_max_log_size(),
            max_concurrent_files: default_max_concurrent_files(),
            encoding: default_encoding(),
            include_file_name: yes(),
            include_file_path: false,
            include_file_name_resolved: false,
            include_file_path_resolved: false,
            multiline: None,
            force_flush_period: default_force_flush(),
            delete_after_read: false,
            compression: None,
            preserve_leading_whitespaces: false,
            preserve_trailing_whitespaces: false,
            storage: None,
            attributes: BTreeMap::new(),
            resource: BTreeMap::new(),
            operators: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_config_parses_with_defaults() {
        let c: FileLogConfig = serde_yaml_ng::from_str(
            "include: [/var/log/*.log]\nstart_at: beginning\nfingerprint_size: 1kb\nmax_log_size: 16KiB\nstorage: file_storage/ckpt\nmultiline:\n  line_start_pattern: '^\\d'\noperators:\n  - type: json_parser\n",
        )
        .unwrap();
        assert_eq!(c.start_at, StartAt::Beginning);
        assert_eq!(c.fingerprint_size, 1000);
        assert_eq!(c.max_log_size, 16 * 1024);
        assert_eq!(c.poll_interval, Duration::from_millis(200));
        assert!(c.include_file_name && !c.include_file_path);
        assert_eq!(c.storage.unwrap().to_string(), "file_storage/ckpt");
        assert_eq!(c.operators.len(), 1);
        assert!(serde_yaml_ng::from_str::<FileLogConfig>("include: [a]\nbogus: 1").is_err());
        assert!(parse_byte_size("12 parsecs").is_err());
    }
}
