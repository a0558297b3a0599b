//! `disk`: `system.disk.*` per block device from `/proc/diskstats`.

use lookout_proto::otlp::metrics::v1::Metric;

use super::{Enabled, Env, Output, ScrapeError, Scraper, parse_u64};
use crate::core::otlp_build::{Num, Point, Times, attr, sum};
use crate::receivers::hostmetrics::config::Filter;

/// The scraper's metrics and whether each is on by default.
pub(crate) const METRICS: &[(&str, bool)] = &[
    ("system.disk.io", true),
    ("system.disk.operations", true),
    ("system.disk.io_time", true),
    ("system.disk.operation_time", true),
    ("system.disk.weighted_io_time", true),
    ("system.disk.pending_operations", true),
    ("system.disk.merged", true),
];

/// `/proc/diskstats` counts sectors of 512 bytes whatever the device's sector size.
const SECTOR: u64 = 512;

/// One `/proc/diskstats` line.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DiskStats {
    /// Device name (`sda`, `nvme0n1p1`).
    pub(crate) device: String,
    /// Completed reads.
    pub(crate) reads: u64,
    /// Reads merged.
    pub(crate) reads_merged: u64,
    /// Sectors read.
    pub(crate) sectors_read: u64,
    /// Milliseconds spent reading.
    pub(crate) read_ms: u64,
    /// Completed writes.
    pub(crate) writes: u64,
    /// Writes merged.
    pub(crate) writes_merged: u64,
    /// Sectors written.
    pub(crate) sectors_written: u64,
    /// Milliseconds spent writing.
    pub(crate) write_ms: u64,
    /// I/Os in flight.
    pub(crate) in_progress: u64,
    /// Milliseconds the device was busy.
    pub(crate) io_ms: u64,
    /// Busy milliseconds weighted by queue length.
    pub(crate) weighted_ms: u64,
}

/// Parses `/proc/diskstats`.
pub(crate) fn parse_diskstats(text: &str) -> Result<Vec<DiskStats>, ScrapeError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [
            _,
            _,
            device,
            reads,
            reads_merged,
            sectors_read,
            read_ms,
            writes,
            writes_merged,
            sectors_written,
            write_ms,
            in_progress,
            io_ms,
            weighted_ms,
            ..,
        ] = f.as_slice()
        else {
            continue;
        };
        let n = |s: &str| parse_u64("/proc/diskstats", s);
        out.push(DiskStats {
            device: (*device).to_owned(),
            reads: n(reads)?,
            reads_merged: n(reads_merged)?,
            sectors_read: n(sectors_read)?,
            read_ms: n(read_ms)?,
            writes: n(writes)?,
            writes_merged: n(writes_merged)?,
            sectors_written: n(sectors_written)?,
            write_ms: n(write_ms)?,
            in_progress: n(in_progress)?,
            io_ms: n(io_ms)?,
            weighted_ms: n(weighted_ms)?,
        });
    }
    Ok(out)
}

/// Disk metrics for the devices `filter` allows.
pub(crate) fn metrics(disks: &[DiskStats], filter: &Filter, times: Times) -> Vec<Metric> {
    let disks: Vec<&DiskStats> = disks.iter().filter(|d| filter.allows(&d.device)).collect();
    let rw = |f: &dyn Fn(&DiskStats) -> (Num, Num)| -> Vec<Point> {
        disks
            .iter()
            .flat_map(|d| {
                let (read, write) = f(d);
                [
                    (
                        vec![attr("device", &d.device), attr("direction", "read")],
                        read,
                    ),
                    (
                        vec![attr("device", &d.device), attr("direction", "write")],
                        write,
                    ),
                ]
            })
            .collect()
    };
    let per_device = |f: &dyn Fn(&DiskStats) -> Num| -> Vec<Point> {
        disks
            .iter()
            .map(|d| (vec![attr("device", &d.device)], f(d)))
            .collect()
    };
    let secs = |ms: u64| Num::Double(ms as f64 / 1000.0);
    vec![
        sum(
            "system.disk.io",
            "Disk bytes transferred.",
            "By",
            true,
            times,
            rw(&|d| {
                (
                    Num::from_u64(d.sectors_read.saturating_mul(SECTOR)),
                    Num::from_u64(d.sectors_written.saturating_mul(SECTOR)),
                )
            }),
        ),
        sum(
            "system.disk.operations",
            "Disk operations count.",
            "{operations}",
            true,
            times,
            rw(&|d| (Num::from_u64(d.reads), Num::from_u64(d.writes))),
        ),
        sum(
            "system.disk.io_time",
            "Time disk spent activated.",
            "s",
            true,
            times,
            per_device(&|d| secs(d.io_ms)),
        ),
        sum(
            "system.disk.operation_time",
            "Time spent in disk operations.",
            "s",
            true,
            times,
            rw(&|d| (secs(d.read_ms), secs(d.write_ms))),
        ),
        sum(
            "system.disk.weighted_io_time",
            "Time disk spent activated multiplied by the queue length.",
            "s",
            true,
            times,
            per_device(&|d| secs(d.weighted_ms)),
        ),
        sum(
            "system.disk.pending_operations",
            "The queue size of pending I/O operations.",
            "{operations}",
            false,
            times,
            per_device(&|d| Num::from_u64(d.in_progress)),
        ),
        sum(
            "system.disk.merged",
            "The number of disk reads/writes merged into single physical disk access operations.",
            "{operations}",
            true,
            times,
            rw(&|d| {
                (
                    Num::from_u64(d.reads_merged),
                    Num::from_u64(d.writes_merged),
                )
            }),
        ),
    ]
}

/// The disk scraper.
pub(crate) struct DiskScraper {
    enabled: Enabled,
    filter: Filter,
}

impl DiskScraper {
    /// A scraper for the devices `filter` allows.
    pub(crate) fn new(enabled: Enabled, filter: Filter) -> DiskScraper {
        DiskScraper { enabled, filter }
    }
}

impl Scraper for DiskScraper {
    fn name(&self) -> &'static str {
        "disk"
    }

    fn scrape(&mut self, env: &Env) -> Result<Output, ScrapeError> {
        let disks = parse_diskstats(&env.read("/proc/diskstats")?)?;
        let mut out = metrics(&disks, &self.filter, env.times);
        self.enabled.retain(&mut out);
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::hostmetrics::config::MatchType;
    use crate::receivers::hostmetrics::test_support::points_by;

    const DISKSTATS: &str = "   8       0 sda 100 5 2000 300 50 6 4000 700 2 900 1000 0 0 0 0
   7       0 loop0 1 0 2 0 0 0 0 0 0 0 0
";

    #[test]
    fn maps_columns_and_filters_devices() {
        let disks = parse_diskstats(DISKSTATS).unwrap();
        assert_eq!(disks.len(), 2);
        let exclude = vec!["loop.*".to_owned()];
        let filter = Filter::new(None, Some((&exclude, MatchType::Regexp))).unwrap();
        let out = metrics(&disks, &filter, Times { start: 0, now: 1 });
        let io = points_by(&out, "system.disk.io", &["device", "direction"]);
        assert_eq!(io.len(), 2, "loop0 is excluded");
        assert_eq!(io["sda,read"], Num::Int(2000 * 512));
        assert_eq!(io["sda,write"], Num::Int(4000 * 512));
        let ops = points_by(&out, "system.disk.operations", &["device", "direction"]);
        assert_eq!(ops["sda,read"], Num::Int(100));
        assert_eq!(ops["sda,write"], Num::Int(50));
        let merged = points_by(&out, "system.disk.merged", &["device", "direction"]);
        assert_eq!(merged["sda,write"], Num::Int(6));
        let op_time = points_by(&out, "system.disk.operation_time", &["device", "direction"]);
        assert_eq!(op_time["sda,read"], Num::Double(0.3));
        assert_eq!(
            points_by(&out, "system.disk.io_time", &["device"])["sda"],
            Num::Double(0.9)
        );
        assert_eq!(
            points_by(&out, "system.disk.pending_operations", &["device"])["sda"],
            Num::Int(2)
        );
    }

    #[test]
    fn bad_numbers_are_errors() {
        assert!(parse_diskstats("8 0 sda x 5 2000 300 50 6 4000 700 2 900 1000").is_err());
        // Lines too short to be a device are skipped, as before.
        assert_eq!(
            parse_diskstats("8 0 sda 1 5 2000 300 50 6 4000 700 2 900").unwrap(),
            []
        );
    }
}
