//! Settings shared by several components, named as in the Collector's `config*` packages.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::core::ComponentId;
use crate::net::client::Backoff;

/// Client-side TLS (`tls:`), one struct and one meaning of `ca_file` for every outbound client.
pub use crate::net::client::tls::ClientTlsConfig;

/// Payload compression of an exporter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip, the Collector's default for OTLP exporters.
    #[default]
    Gzip,
    /// zstd.
    Zstd,
    /// No compression.
    #[serde(alias = "")]
    None,
}

impl Compression {
    /// The codec that implements this setting.
    pub fn codec(self) -> crate::compression::Codec {
        match self {
            Compression::Gzip => crate::compression::Codec::Gzip,
            Compression::Zstd => crate::compression::Codec::Zstd,
            Compression::None => crate::compression::Codec::Identity,
        }
    }
}

/// Compression tuning (`compression_params:`), as the Collector's `configcompression`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionParams {
    /// Level: gzip 1–12 (libdeflate; default 1, the fastest — compression is most of what an
    /// OTLP hop costs; 6 matches zlib's default ratio), zstd 1–22 (default 1).
    pub level: Option<i32>,
}

/// `retry_on_failure:`, with the Collector's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Retry failed, retryable sends.
    pub enabled: bool,
    /// First wait.
    #[serde(with = "humantime_serde")]
    pub initial_interval: Duration,
    /// Jitter: each wait is drawn from interval × [1 − f, 1 + f].
    pub randomization_factor: f64,
    /// Growth of the wait after each failure.
    pub multiplier: f64,
    /// Longest wait.
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    /// Give up (and count the data as failed) after this long; 0 means never.
    #[serde(with = "humantime_serde")]
    pub max_elapsed_time: Duration,
}

impl RetryConfig {
    /// The backoff these settings describe (`enabled` is the sender's to check).
    pub fn backoff(&self) -> Backoff {
        Backoff {
            initial_interval: self.initial_interval,
            multiplier: self.multiplier,
            randomization_factor: self.randomization_factor,
            max_interval: self.max_interval,
            max_elapsed_time: (!self.max_elapsed_time.is_zero()).then_some(self.max_elapsed_time),
            max_attempts: None,
            // As the Collector: a throttled export waits as long as asked, within max_elapsed_time.
            max_server_delay: None,
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

/// How a sending queue measures what it holds (`sending_queue.sizer`), as the newer
/// Collector spells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueSizer {
    /// Encoded bytes of the batches (the default: what bounds memory).
    #[default]
    Bytes,
    /// Items: spans, data points, log records.
    Items,
    /// Batches, whatever their size (the Collector's historical unit).
    Requests,
}

impl QueueSizer {
    /// `queue_size` when none is given: 16 MiB, 131,072 items, or the Collector's 1000 requests.
    pub fn default_size(self) -> u64 {
        match self {
            QueueSizer::Bytes => DEFAULT_QUEUE_BYTES,
            QueueSizer::Items => 131_072,
            QueueSizer::Requests => 1000,
        }
    }
}

/// The default bytes a sending queue holds (queued plus being sent): with the default memory
/// budget this keeps a collector whose destination is slower than its intake within a few
/// hundred MiB (see BENCHMARKS.md, "unpinned").
pub const DEFAULT_QUEUE_BYTES: u64 = 16 << 20;

/// When a persistent sending queue makes what it accepted durable (`sending_queue.fsync`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncMode {
    /// fsync after every group of batches written, before the clients are acknowledged:
    /// nothing acknowledged is lost to a crash or a power loss.
    #[default]
    EveryBatch,
    /// fsync every `fsync_interval`: acknowledged data survives the process being killed
    /// (it is in the OS's page cache), and a power loss loses at most the last interval.
    Interval,
}

/// The default disk limit of a persistent sending queue (`sending_queue.max_size`).
pub const DEFAULT_PERSISTENT_QUEUE_BYTES: u64 = 1 << 30;

/// `sending_queue:`, the exporter's bounded queue: in memory, or on disk with `storage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Queue batches and send them from `num_consumers` workers. When disabled the queue holds
    /// one batch and one worker sends.
    pub enabled: bool,
    /// Requests in flight: a fixed number of senders (default 10), or `adaptive` to follow the
    /// destination's response times and back-pressure (see `adaptive`).
    pub num_consumers: NumConsumers,
    /// With `num_consumers: adaptive`: the bounds and tuning of the limit.
    pub adaptive: Option<AdaptiveConcurrencyConfig>,
    /// The unit of `queue_size`: `bytes` (default), `items` or `requests`.
    pub sizer: QueueSizer,
    /// Capacity in the sizer's unit, counting batches queued and batches being sent or retried
    /// (default: [`QueueSizer::default_size`]). With the bytes sizer a unit may be given
    /// (`16MiB`). A batch larger than the whole queue is sent alone once the queue is empty.
    #[serde(deserialize_with = "size::deserialize_opt")]
    pub queue_size: Option<u64>,
    /// When the queue is full, wait for room (pushing back to the receivers, whose clients then
    /// get a retryable refusal) instead of dropping the batch and counting it in
    /// `lookout_exporter_enqueue_failed_*`. Lookout's default is `true`; the Collector's is `false`.
    pub block_on_overflow: bool,
    /// A `file_storage` extension (`file_storage/<name>`): keep the queue on disk there, so
    /// what was accepted survives restarts and crashes. Clients are then acknowledged once
    /// their data is written (see `fsync`). Without it the queue lives in memory.
    pub storage: Option<ComponentId>,
    /// With `storage`: when written data is made durable, `every_batch` (default) or `interval`.
    pub fsync: FsyncMode,
    /// With `storage` and `fsync: interval`: how often (default 1s).
    #[serde(with = "humantime_serde")]
    pub fsync_interval: Duration,
    /// With `storage`: bytes of queue files on disk (default 1GiB; units allowed). Beyond it,
    /// new data is refused upstream with a retryable status (with `block_on_overflow`, after
    /// waiting up to 2 s for room), never dropped silently.
    #[serde(deserialize_with = "size::deserialize_opt")]
    pub max_size: Option<u64>,
}

impl QueueConfig {
    /// The capacity in force, in the sizer's unit.
    pub fn capacity(&self) -> u64 {
        self.queue_size
            .unwrap_or_else(|| self.sizer.default_size())
            .max(1)
    }

    /// Checks the settings (an exporter's `validate` calls it).
    pub fn validate(&self) -> Result<(), String> {
        if self.queue_size == Some(0) {
            return Err("sending_queue.queue_size must be at least 1".into());
        }
        if self.enabled && self.num_consumers == NumConsumers::Fixed(0) {
            return Err("sending_queue.num_consumers must be at least 1 (or adaptive)".into());
        }
        match (&self.adaptive, self.num_consumers) {
            (Some(adaptive), NumConsumers::Adaptive) => adaptive.validate()?,
            (Some(_), NumConsumers::Fixed(_)) => {
                return Err(
                    "sending_queue.adaptive applies only with num_consumers: adaptive".into(),
                );
            }
            (None, _) => {}
        }
        if self.storage.is_none() && self.max_size.is_some() {
            return Err("sending_queue.max_size bounds a queue on disk: it needs storage".into());
        }
        if self.storage.is_some() && !self.enabled {
            return Err("sending_queue.storage needs the queue enabled".into());
        }
        if self.max_size == Some(0) {
            return Err("sending_queue.max_size must be at least 1".into());
        }
        if self.fsync_interval.is_zero() {
            return Err("sending_queue.fsync_interval must be more than 0".into());
        }
        Ok(())
    }

    /// The adaptive settings in force (the defaults unless `adaptive` is given).
    pub fn adaptive_settings(&self) -> AdaptiveConcurrencyConfig {
        self.adaptive.unwrap_or_default()
    }

    /// The disk limit of a persistent queue.
    pub fn disk_limit(&self) -> u64 {
        self.max_size.unwrap_or(DEFAULT_PERSISTENT_QUEUE_BYTES)
    }

    /// Checks that `storage` names an enabled `file_storage` extension (an exporter's
    /// `check_refs` calls it).
    pub fn check_refs(&self, refs: &crate::component::Refs<'_>) -> Result<(), String> {
        let Some(storage) = &self.storage else {
            return Ok(());
        };
        match refs.enabled_extension(storage) {
            Ok("file_storage") => Ok(()),
            Ok(other) => Err(format!(
                "sending_queue.storage: extension {storage} is a {other} extension, not a file_storage one"
            )),
            Err(e) => Err(format!("sending_queue.storage: {e}")),
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            num_consumers: NumConsumers::Fixed(DEFAULT_NUM_CONSUMERS),
            adaptive: None,
            sizer: QueueSizer::Bytes,
            queue_size: None,
            block_on_overflow: true,
            storage: None,
            fsync: FsyncMode::EveryBatch,
            fsync_interval: Duration::from_secs(1),
            max_size: None,
        }
    }
}

/// `num_consumers` when none is given.
pub const DEFAULT_NUM_CONSUMERS: usize = 10;

/// `sending_queue.num_consumers`: a fixed number of concurrent senders, or `adaptive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumConsumers {
    /// Exactly this many requests in flight at most, always.
    Fixed(usize),
    /// A limit that follows the destination (AIMD on response times and back-pressure).
    Adaptive,
}

impl<'de> Deserialize<'de> for NumConsumers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        let expected = "a number of senders (like 10) or adaptive";
        match Raw::deserialize(d) {
            Ok(Raw::N(n)) => usize::try_from(n).map(NumConsumers::Fixed).map_err(|_| {
                serde::de::Error::custom(format!("{n} is too large: expected {expected}"))
            }),
            Ok(Raw::S(s)) if s == "adaptive" => Ok(NumConsumers::Adaptive),
            Ok(Raw::S(s)) => Err(serde::de::Error::custom(format!(
                "invalid num_consumers {s:?}: expected {expected}"
            ))),
            Err(_) => Err(serde::de::Error::custom(format!("expected {expected}"))),
        }
    }
}

/// `sending_queue.adaptive`: how `num_consumers: adaptive` moves its limit (Vector's adaptive
/// request concurrency). Each window (one mean response time long) the limit grows by one when
/// the limit was reached and responses were not slower than the baseline (a moving average of
/// response times), and shrinks by `decrease_ratio` when they were slower than the baseline
/// plus `rtt_deviation_scale` deviations, or when the destination pushed back (a timeout,
/// HTTP 429/503, gRPC RESOURCE_EXHAUSTED/UNAVAILABLE, a requested retry delay).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveConcurrencyConfig {
    /// The limit to start from (default 1).
    pub initial: usize,
    /// The limit never goes above this (default 64): also the number of senders started.
    pub max: usize,
    /// The factor applied to the limit when it shrinks, between 0 and 1 (default 0.9).
    pub decrease_ratio: f64,
    /// Weight of the newest window in the moving baseline, between 0 and 1 (default 0.4).
    pub ewma_alpha: f64,
    /// How many deviations above the baseline a window's response time may be before the limit
    /// shrinks (default 2.5).
    pub rtt_deviation_scale: f64,
}

/// The most senders `sending_queue.adaptive.max` may ask for.
pub const MAX_ADAPTIVE_CONCURRENCY: usize = 1024;

impl Default for AdaptiveConcurrencyConfig {
    fn default() -> Self {
        AdaptiveConcurrencyConfig {
            initial: 1,
            max: 64,
            decrease_ratio: 0.9,
            ewma_alpha: 0.4,
            rtt_deviation_scale: 2.5,
        }
    }
}

impl AdaptiveConcurrencyConfig {
    /// Checks the bounds and ratios.
    pub fn validate(&self) -> Result<(), String> {
        let key = "sending_queue.adaptive";
        if self.initial == 0 {
            return Err(format!("{key}.initial must be at least 1"));
        }
        if self.max < self.initial || self.max > MAX_ADAPTIVE_CONCURRENCY {
            return Err(format!(
                "{key}.max must be between initial ({}) and {MAX_ADAPTIVE_CONCURRENCY}, got {}",
                self.initial, self.max
            ));
        }
        if !(self.decrease_ratio > 0.0 && self.decrease_ratio < 1.0) {
            return Err(format!(
                "{key}.decrease_ratio must be more than 0 and less than 1, got {}",
                self.decrease_ratio
            ));
        }
        if !(self.ewma_alpha > 0.0 && self.ewma_alpha < 1.0) {
            return Err(format!(
                "{key}.ewma_alpha must be more than 0 and less than 1, got {}",
                self.ewma_alpha
            ));
        }
        if !(self.rtt_deviation_scale >= 0.0 && self.rtt_deviation_scale.is_finite()) {
            return Err(format!(
                "{key}.rtt_deviation_scale must be 0 or more, got {}",
                self.rtt_deviation_scale
            ));
        }
        Ok(())
    }
}

/// Extra headers sent with every export request.
pub type Headers = BTreeMap<String, String>;

/// Parses a byte size: a number of bytes, or a number and a unit, case-insensitive and
/// optionally separated by spaces: `b`, decimal `kb`/`mb`/`gb` (also `k`/`m`/`g`) and binary
/// `kib`/`mib`/`gib` (also `ki`/`mi`/`gi`). The Collector writes both `1kb` and `16KiB`.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("invalid byte size {s:?}: expected a size like 1048576, 1kb or 4MiB")
    })?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1000,
        "kib" | "ki" => 1 << 10,
        "mb" | "m" => 1_000_000,
        "mib" | "mi" => 1 << 20,
        "gb" | "g" => 1_000_000_000,
        "gib" | "gi" => 1 << 30,
        other => {
            return Err(format!(
                "invalid byte size {s:?}: unknown unit {other:?}; use a number of bytes or B, kB, \
                 KiB, MB, MiB, GB, GiB"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("byte size {s:?} is too large"))
}

/// Serde helper: a byte size given as a number or a string with a unit.
pub(crate) mod size {
    use serde::{Deserialize, Deserializer, de};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(n),
            Raw::S(s) => super::parse_size(&s).map_err(de::Error::custom),
        }
    }

    /// As [`deserialize`], for an optional field (`null` or absent: `None`).
    pub(crate) fn deserialize_opt<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<u64>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::N(n)) => Ok(Some(n)),
            Some(Raw::S(s)) => super::parse_size(&s).map(Some).map_err(de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_in_every_unit_any_case() {
        for (text, bytes) in [
            ("123", 123),
            (" 123 ", 123),
            ("0", 0),
            ("7b", 7),
            ("7B", 7),
            ("1kb", 1000),
            ("1KB", 1000),
            ("1kB", 1000),
            ("2k", 2000),
            ("1kib", 1024),
            ("16KiB", 16 << 10),
            ("2 KiB", 2048),
            ("3Ki", 3 << 10),
            ("1mb", 1_000_000),
            ("1MB", 1_000_000),
            ("4MiB", 4 << 20),
            ("4mib", 4 << 20),
            ("1gb", 1_000_000_000),
            ("1GiB", 1 << 30),
            ("2gi", 2 << 30),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text:?}");
        }
    }

    /// What the otlp receiver's `max_request_body_size` and filelog's `fingerprint_size` /
    /// `max_log_size` are written as in Collector configs, through their deserializers.
    #[test]
    fn both_call_sites_read_the_collector_forms() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(deserialize_with = "super::size::deserialize")]
            size: u64,
        }
        for (yaml, bytes) in [
            ("size: 20971520", 20 << 20),
            ("size: 20MiB", 20 << 20),
            ("size: 1kb", 1000),
        ] {
            assert_eq!(
                serde_yaml_ng::from_str::<Body>(yaml).unwrap().size,
                bytes,
                "{yaml}"
            );
        }
        let filelog: crate::receivers::filelog::FileLogConfig = serde_yaml_ng::from_str(
            "include: [a.log]\nfingerprint_size: 1KB\nmax_log_size: 4mib\n",
        )
        .unwrap();
        assert_eq!(
            (filelog.fingerprint_size, filelog.max_log_size),
            (1000, 4 << 20)
        );
    }

    #[test]
    fn bad_sizes_say_what_is_accepted() {
        for text in ["4 parsecs", "x", "", "-1", "1.5MiB", "kb"] {
            let err = parse_size(text).unwrap_err();
            assert!(err.contains("invalid byte size"), "{text:?}: {err}");
        }
        assert!(parse_size("4 parsecs").unwrap_err().contains("KiB"));
        assert!(
            parse_size("99999999999GiB")
                .unwrap_err()
                .contains("too large")
        );
    }
}
