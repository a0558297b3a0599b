//! `filesystem`: space and inode usage per mount, from the mount table and `statvfs`.

use std::collections::HashSet;
use std::path::Path;

use lookout_proto::otlp::metrics::v1::Metric;

use super::{Enabled, Env, Output, ScrapeError, Scraper, under};
use crate::core::otlp_build::{Num, Times, attr, gauge, sum};
use crate::receivers::hostmetrics::config::FilesystemFilters;

/// The scraper's metrics and whether each is on by default.
pub(crate) const METRICS: &[(&str, bool)] = &[
    ("system.filesystem.usage", true),
    ("system.filesystem.inodes.usage", true),
    ("system.filesystem.utilization", false),
];

/// One mount table entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mount {
    /// Source device (`/dev/sda1`, `tmpfs`).
    pub(crate) device: String,
    /// Where it is mounted, as seen from the scraped root.
    pub(crate) mountpoint: String,
    /// Filesystem type.
    pub(crate) fs_type: String,
    /// `ro` or `rw`.
    pub(crate) mode: &'static str,
}

/// Space and inode figures, in bytes and inodes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Usage {
    /// Bytes in use.
    pub(crate) used: u64,
    /// Bytes available to unprivileged users.
    pub(crate) free: u64,
    /// Bytes free but reserved for root.
    pub(crate) reserved: u64,
    /// Inodes in use.
    pub(crate) inodes_used: u64,
    /// Inodes free.
    pub(crate) inodes_free: u64,
}

impl Usage {
    /// From `statvfs` fields (block counts in units of `frsize`).
    pub(crate) fn from_statvfs(
        frsize: u64,
        blocks: u64,
        bfree: u64,
        bavail: u64,
        files: u64,
        ffree: u64,
    ) -> Usage {
        Usage {
            used: blocks.saturating_sub(bfree).saturating_mul(frsize),
            free: bavail.saturating_mul(frsize),
            reserved: bfree.saturating_sub(bavail).saturating_mul(frsize),
            inodes_used: files.saturating_sub(ffree),
            inodes_free: ffree,
        }
    }
}

/// Undoes the mount table's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\'
            && let Some(digits) = field.get(i + 1..i + 4)
            && let Ok(v) = u8::from_str_radix(digits, 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a `/proc/<pid>/mounts` table.
pub(crate) fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [device, mountpoint, fs_type, options, ..] = f.as_slice() else {
                return None;
            };
            let mode = if options.split(',').any(|o| o == "ro") {
                "ro"
            } else {
                "rw"
            };
            Some(Mount {
                device: unescape(device),
                mountpoint: unescape(mountpoint),
                fs_type: (*fs_type).to_owned(),
                mode,
            })
        })
        .collect()
}

/// Filesystem types with no backing device (`nodev` in `/proc/filesystems`).
pub(crate) fn parse_virtual_types(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("nodev"))
        .map(|t| t.trim().to_owned())
        // ZFS is listed as nodev yet holds real data.
        .filter(|t| t != "zfs")
        .collect()
}

/// Whether the filters (and the virtual-filesystem switch) let a mount through.
pub(crate) fn selected(
    mount: &Mount,
    filters: &FilesystemFilters,
    virtual_types: &HashSet<String>,
    include_virtual: bool,
) -> bool {
    (include_virtual || !virtual_types.contains(&mount.fs_type))
        && filters.devices.allows(&mount.device)
        && filters.fs_types.allows(&mount.fs_type)
        && filters.mount_points.allows(&mount.mountpoint)
}

/// Filesystem metrics for measured mounts.
pub(crate) fn metrics(mounts: &[(Mount, Usage)], times: Times) -> Vec<Metric> {
    let base = |m: &Mount| {
        vec![
            attr("device", &m.device),
            attr("mode", m.mode),
            attr("mountpoint", &m.mountpoint),
            attr("type", &m.fs_type),
        ]
    };
    let with_state = |m: &Mount, state: &str| {
        let mut a = base(m);
        a.push(attr("state", state));
        a
    };
    let mut usage = Vec::new();
    let mut inodes = Vec::new();
    let mut utilization = Vec::new();
    for (m, u) in mounts {
        for (state, v) in [("used", u.used), ("free", u.free), ("reserved", u.reserved)] {
            usage.push((with_state(m, state), Num::from_u64(v)));
        }
        for (state, v) in [("used", u.inodes_used), ("free", u.inodes_free)] {
            inodes.push((with_state(m, state), Num::from_u64(v)));
        }
        let capacity = u.used.saturating_add(u.free);
        let ratio = if capacity == 0 {
            0.0
        } else {
            u.used as f64 / capacity as f64
        };
        utilization.push((base(m), Num::Double(ratio)));
    }
    vec![
        sum(
            "system.filesystem.usage",
            "Filesystem bytes used.",
            "By",
            false,
            times,
            usage,
        ),
        sum(
            "system.filesystem.inodes.usage",
            "FileSystem inodes used.",
            "{inodes}",
            false,
            times,
            inodes,
        ),
        gauge(
            "system.filesystem.utilization",
            "Fraction of filesystem bytes used.",
            "1",
            times,
            utilization,
        ),
    ]
}

/// `statvfs` of a path.
pub(crate) fn statvfs(path: &Path) -> std::io::Result<Usage> {
    let s = rustix::fs::statvfs(path)?;
    Ok(Usage::from_statvfs(
        s.f_frsize, s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree,
    ))
}

/// The filesystem scraper.
pub(crate) struct FilesystemScraper {
    enabled: Enabled,
    filters: FilesystemFilters,
    include_virtual: bool,
}

impl FilesystemScraper {
    /// A scraper for the mounts the filters allow.
    pub(crate) fn new(
        enabled: Enabled,
        filters: FilesystemFilters,
        include_virtual: bool,
    ) -> FilesystemScraper {
        FilesystemScraper {
            enabled,
            filters,
            include_virtual,
        }
    }
}

impl Scraper for FilesystemScraper {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn scrape(&mut self, env: &Env) -> Result<Output, ScrapeError> {
        // Under another root, our own mount namespace is not the host's: read init's.
        let table = if env.root == Path::new("/") {
            "/proc/self/mounts"
        } else {
            "/proc/1/mounts"
        };
        let mounts = parse_mounts(&env.read(table)?);
        let virtual_types = env
            .read("/proc/filesystems")
            .map(|t| parse_virtual_types(&t))
            .unwrap_or_default();
        let measured: Vec<(Mount, Usage)> = mounts
            .into_iter()
            .filter(|m| selected(m, &self.filters, &virtual_types, self.include_virtual))
            // Unreachable mounts (permissions, stale network mounts) are skipped, not fatal.
            .filter_map(|m| {
                let usage = statvfs(&under(&env.root, &m.mountpoint)).ok()?;
                Some((m, usage))
            })
            .collect();
        let mut out = metrics(&measured, env.times);
        self.enabled.retain(&mut out);
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::hostmetrics::config::{FilesystemConfig, FsTypeFilter, MatchType};
    use crate::receivers::hostmetrics::test_support::points_by;

    const MOUNTS: &str = "/dev/sda1 / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
/dev/sdb1 /mnt/my\\040disk xfs ro,noatime 0 0
tmpfs /run tmpfs rw 0 0
";

    #[test]
    fn mount_table_and_filters() {
        let mounts = parse_mounts(MOUNTS);
        assert_eq!(mounts.len(), 4);
        assert_eq!(mounts[2].mountpoint, "/mnt/my disk");
        assert_eq!(mounts[2].mode, "ro");
        let virtual_types =
            parse_virtual_types("nodev\tproc\nnodev\ttmpfs\n\text4\n\txfs\nnodev\tzfs\n");
        assert!(!virtual_types.contains("zfs"));
        let config = FilesystemConfig {
            exclude_fs_types: Some(FsTypeFilter {
                fs_types: vec!["xfs".into()],
                match_type: MatchType::Strict,
            }),
            ..Default::default()
        };
        let filters = config.filters().unwrap();
        let picked: Vec<&str> = mounts
            .iter()
            .filter(|m| selected(m, &filters, &virtual_types, false))
            .map(|m| m.mountpoint.as_str())
            .collect();
        assert_eq!(picked, ["/"]);
        let with_virtual: Vec<&str> = mounts
            .iter()
            .filter(|m| selected(m, &filters, &virtual_types, true))
            .map(|m| m.mountpoint.as_str())
            .collect();
        assert_eq!(with_virtual, ["/", "/proc", "/run"]);
    }

    #[test]
    fn statvfs_figures_become_states() {
        let usage = Usage::from_statvfs(4096, 100, 30, 20, 50, 40);
        assert_eq!(usage.used, 70 * 4096);
        assert_eq!(usage.free, 20 * 4096);
        assert_eq!(usage.reserved, 10 * 4096);
        let mount = parse_mounts(MOUNTS).remove(0);
        let out = metrics(&[(mount, usage)], Times { start: 0, now: 1 });
        let by = points_by(
            &out,
            "system.filesystem.usage",
            &["device", "mountpoint", "type", "mode", "state"],
        );
        assert_eq!(by["/dev/sda1,/,ext4,rw,used"], Num::Int(70 * 4096));
        assert_eq!(by["/dev/sda1,/,ext4,rw,reserved"], Num::Int(10 * 4096));
        let inodes = points_by(
            &out,
            "system.filesystem.inodes.usage",
            &["mountpoint", "state"],
        );
        assert_eq!(inodes["/,used"], Num::Int(10));
        assert_eq!(inodes["/,free"], Num::Int(40));
    }
}
