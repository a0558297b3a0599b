//! `receivers: hostmetrics:` settings, as the Collector's `hostmetricsreceiver`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

/// The hostmetrics receiver: which scrapers run, how often, and against which root.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HostMetricsConfig {
    /// Time between scrapes (default `1m`, as the Collector's).
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Wait before the first scrape (default `1s`).
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// Read another root's `/proc`, `/sys` and mounts (a host's `/` mounted at `/hostfs` in
    /// a container). Default `/`.
    pub root_path: PathBuf,
    /// Scrapers to run; at least one is required.
    pub scrapers: Scrapers,
}

impl Default for HostMetricsConfig {
    fn default() -> Self {
        HostMetricsConfig {
            collection_interval: Duration::from_secs(60),
            initial_delay: Duration::from_secs(1),
            root_path: PathBuf::from("/"),
            scrapers: Scrapers::default(),
        }
    }
}

/// `scrapers:`; a key that is present (even with an empty body) enables that scraper.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Scrapers {
    /// `system.cpu.*` per logical CPU.
    #[serde(deserialize_with = "crate::config::present")]
    pub cpu: Option<CpuConfig>,
    /// `system.memory.*`.
    #[serde(deserialize_with = "crate::config::present")]
    pub memory: Option<BasicConfig>,
    /// `system.cpu.load_average.*`.
    #[serde(deserialize_with = "crate::config::present")]
    pub load: Option<LoadConfig>,
    /// `system.disk.*` per block device.
    #[serde(deserialize_with = "crate::config::present")]
    pub disk: Option<DiskConfig>,
    /// `system.filesystem.*` per mount.
    #[serde(deserialize_with = "crate::config::present")]
    pub filesystem: Option<FilesystemConfig>,
    /// `system.network.*` per interface, and TCP connections by state.
    #[serde(deserialize_with = "crate::config::present")]
    pub network: Option<NetworkConfig>,
    /// `system.paging.*` (swap).
    #[serde(deserialize_with = "crate::config::present")]
    pub paging: Option<BasicConfig>,
    /// `system.processes.*` (counts by status).
    #[serde(deserialize_with = "crate::config::present")]
    pub processes: Option<BasicConfig>,
    /// `process.*`, one resource per process.
    #[serde(deserialize_with = "crate::config::present")]
    pub process: Option<ProcessConfig>,
}

/// Per-metric switch, as the Collector's `metrics: <name>: enabled:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricToggle {
    /// Whether the metric is emitted.
    pub enabled: bool,
}

/// Overrides of which metrics a scraper emits, by metric name.
pub(crate) type MetricToggles = BTreeMap<String, MetricToggle>;

/// A scraper with no options besides metric switches.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BasicConfig {
    /// Metric switches.
    pub metrics: MetricToggles,
}

/// `scrapers: cpu:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CpuConfig {
    /// Metric switches (`system.cpu.utilization`, `system.cpu.frequency`,
    /// `system.cpu.logical.count` are off by default).
    pub metrics: MetricToggles,
}

/// `scrapers: load:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LoadConfig {
    /// Divide the load averages by the number of logical CPUs.
    pub cpu_average: bool,
    /// Metric switches.
    pub metrics: MetricToggles,
}

/// How filter entries are compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MatchType {
    /// Exact string equality.
    #[default]
    Strict,
    /// Regular expressions (unanchored, as the Collector's).
    Regexp,
}

/// `include:`/`exclude:` of device names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DeviceFilter {
    /// Device names or patterns.
    pub devices: Vec<String>,
    /// How `devices` match.
    pub match_type: MatchType,
}

/// `include:`/`exclude:` of network interfaces.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct InterfaceFilter {
    /// Interface names or patterns.
    pub interfaces: Vec<String>,
    /// How `interfaces` match.
    pub match_type: MatchType,
}

/// Filesystem type filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FsTypeFilter {
    /// Filesystem types or patterns (`ext4`, `tmpfs`).
    pub fs_types: Vec<String>,
    /// How `fs_types` match.
    pub match_type: MatchType,
}

/// Mount point filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MountPointFilter {
    /// Mount points or patterns.
    pub mount_points: Vec<String>,
    /// How `mount_points` match.
    pub match_type: MatchType,
}

/// Process executable name filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NameFilter {
    /// Executable names or patterns.
    pub names: Vec<String>,
    /// How `names` match.
    pub match_type: MatchType,
}

/// `scrapers: disk:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DiskConfig {
    /// Only these devices.
    pub include: Option<DeviceFilter>,
    /// Never these devices.
    pub exclude: Option<DeviceFilter>,
    /// Metric switches.
    pub metrics: MetricToggles,
}

/// `scrapers: filesystem:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FilesystemConfig {
    /// Only these devices.
    pub include_devices: Option<DeviceFilter>,
    /// Never these devices.
    pub exclude_devices: Option<DeviceFilter>,
    /// Only these filesystem types.
    pub include_fs_types: Option<FsTypeFilter>,
    /// Never these filesystem types.
    pub exclude_fs_types: Option<FsTypeFilter>,
    /// Only these mount points.
    pub include_mount_points: Option<MountPointFilter>,
    /// Never these mount points.
    pub exclude_mount_points: Option<MountPointFilter>,
    /// Also report filesystems without a backing device (`tmpfs`, `overlay`, `proc`...);
    /// off by default, as in the Collector.
    pub include_virtual_filesystems: bool,
    /// Metric switches.
    pub metrics: MetricToggles,
}

/// `scrapers: network:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NetworkConfig {
    /// Only these interfaces.
    pub include: Option<InterfaceFilter>,
    /// Never these interfaces.
    pub exclude: Option<InterfaceFilter>,
    /// Metric switches.
    pub metrics: MetricToggles,
}

/// `scrapers: process:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ProcessConfig {
    /// Only processes whose executable name matches.
    pub include: Option<NameFilter>,
    /// Never processes whose executable name matches.
    pub exclude: Option<NameFilter>,
    /// Metric switches.
    pub metrics: MetricToggles,
}

/// A compiled include/exclude list for one kind of name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    include: Option<Matcher>,
    exclude: Option<Matcher>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

impl Matcher {
    fn new(items: &[String], match_type: MatchType) -> Result<Matcher, String> {
        Ok(match match_type {
            MatchType::Strict => Matcher::Strict(items.to_vec()),
            MatchType::Regexp => Matcher::Regexp(
                items
                    .iter()
                    .map(|p| Regex::new(p).map_err(|e| format!("invalid regexp {p:?}: {e}")))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Strict(items) => items.iter().any(|i| i == s),
            Matcher::Regexp(res) => res.iter().any(|r| r.is_match(s)),
        }
    }
}

impl Filter {
    /// Builds a filter from optional `(items, match_type)` include and exclude lists.
    pub(crate) fn new(
        include: Option<(&[String], MatchType)>,
        exclude: Option<(&[String], MatchType)>,
    ) -> Result<Filter, String> {
        Ok(Filter {
            include: include.map(|(i, m)| Matcher::new(i, m)).transpose()?,
            exclude: exclude.map(|(i, m)| Matcher::new(i, m)).transpose()?,
        })
    }

    /// Whether `name` passes: listed in `include` (when given) and not in `exclude`.
    pub(crate) fn allows(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|m| m.matches(name))
            && !self.exclude.as_ref().is_some_and(|m| m.matches(name))
    }
}

impl DeviceFilter {
    fn parts(&self) -> (&[String], MatchType) {
        (&self.devices, self.match_type)
    }
}
impl InterfaceFilter {
    fn parts(&self) -> (&[String], MatchType) {
        (&self.interfaces, self.match_type)
    }
}
impl FsTypeFilter {
    fn parts(&self) -> (&[String], MatchType) {
        (&self.fs_types, self.match_type)
    }
}
impl MountPointFilter {
    fn parts(&self) -> (&[String], MatchType) {
        (&self.mount_points, self.match_type)
    }
}
impl NameFilter {
    fn parts(&self) -> (&[String], MatchType) {
        (&self.names, self.match_type)
    }
}

impl DiskConfig {
    /// The compiled device filter.
    pub(crate) fn filter(&self) -> Result<Filter, String> {
        Filter::new(
            self.include.as_ref().map(DeviceFilter::parts),
            self.exclude.as_ref().map(DeviceFilter::parts),
        )
    }
}

impl NetworkConfig {
    /// The compiled interface filter.
    pub(crate) fn filter(&self) -> Result<Filter, String> {
        Filter::new(
            self.include.as_ref().map(InterfaceFilter::parts),
            self.exclude.as_ref().map(InterfaceFilter::parts),
        )
    }
}

impl ProcessConfig {
    /// The compiled executable-name filter.
    pub(crate) fn filter(&self) -> Result<Filter, String> {
        Filter::new(
            self.include.as_ref().map(NameFilter::parts),
            self.exclude.as_ref().map(NameFilter::parts),
        )
    }
}

/// The three filesystem filters, compiled.
#[derive(Debug, Clone, Default)]
pub(crate) struct FilesystemFilters {
    pub(crate) devices: Filter,
    pub(crate) fs_types: Filter,
    pub(crate) mount_points: Filter,
}

impl FilesystemConfig {
    /// The compiled filters.
    pub(crate) fn filters(&self) -> Result<FilesystemFilters, String> {
        Ok(FilesystemFilters {
            devices: Filter::new(
                self.include_devices.as_ref().map(DeviceFilter::parts),
                self.exclude_devices.as_ref().map(DeviceFilter::parts),
            )?,
            fs_types: Filter::new(
                self.include_fs_types.as_ref().map(FsTypeFilter::parts),
                self.exclude_fs_types.as_ref().map(FsTypeFilter::parts),
            )?,
            mount_points: Filter::new(
                self.include_mount_points
                    .as_ref()
                    .map(MountPointFilter::parts),
                self.exclude_mount_points
                    .as_ref()
                    .map(MountPointFilter::parts),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<HostMetricsConfig, String> {
        let config: HostMetricsConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        config.scrapers()?;
        Ok(config)
    }

    #[test]
    fn defaults_are_the_collectors() {
        let config = parse("scrapers: {cpu: }").unwrap();
        assert_eq!(config.collection_interval, Duration::from_secs(60));
        assert_eq!(config.initial_delay, Duration::from_secs(1));
        assert_eq!(config.root_path, PathBuf::from("/"));
        assert!(config.scrapers.cpu.is_some() && config.scrapers.memory.is_none());
    }

    #[test]
    fn bad_settings_are_rejected() {
        for yaml in [
            "scrapers: {}",
            "scrapers: {gpu: }",
            "scrapers: {cpu: }\ncollection_interval: 0s",
            "scrapers: {cpu: }\nroot_path: hostfs",
            "scrapers: {cpu: }\nunknown: 1",
            "scrapers: {disk: {include: {devices: ['(' ], match_type: regexp}}}",
            "scrapers: {network: {include: {devices: [lo]}}}",
            "scrapers: {filesystem: {include_fs_types: {fs_types: [ext4], match_type: glob}}}",
            "scrapers: {memory: {metrics: {system.memory.usage: {enabled: true, extra: 1}}}}",
        ] {
            assert!(parse(yaml).is_err(), "{yaml} must be rejected");
        }
    }

    #[test]
    fn include_and_exclude_combine() {
        let include = vec!["^sd".to_owned(), "nvme".to_owned()];
        let exclude = vec!["sda1".to_owned()];
        let filter = Filter::new(
            Some((&include, MatchType::Regexp)),
            Some((&exclude, MatchType::Strict)),
        )
        .unwrap();
        assert!(filter.allows("sda"));
        assert!(filter.allows("nvme0n1"));
        assert!(!filter.allows("sda1"));
        assert!(!filter.allows("loop0"));
        assert!(Filter::default().allows("anything"));
        let strict = Filter::new(Some((&exclude, MatchType::Strict)), None).unwrap();
        assert!(!strict.allows("sda10"), "strict is whole-string equality");
    }
}
