//! `process`: per-process CPU, memory and disk figures from `/proc/<pid>/{stat,cmdline,io}`,
//! one resource per process (`process.pid`, `process.executable.name`, ...).

use std::collections::HashMap;

use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::metrics::v1::Metric;

use super::processes::pids;
use super::{Enabled, Env, Output, ScrapeError, Scraper};
use crate::core::otlp_build::{Num, Times, attr, attr_int, sum};
use crate::receivers::hostmetrics::config::Filter;

/// The scraper's metrics and whether each is on by default.
pub(crate) const METRICS: &[(&str, bool)] = &[
    ("process.cpu.time", true),
    ("process.memory.usage", true),
    ("process.memory.virtual", true),
    ("process.disk.io", true),
];

/// The parts of `/proc/<pid>/stat` the scraper reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProcStat {
    /// `comm`: the executable name, as `/proc/<pid>/status` `Name:`.
    pub(crate) name: String,
    /// Parent pid.
    pub(crate) ppid: u32,
    /// User-mode CPU ticks.
    pub(crate) utime: u64,
    /// Kernel-mode CPU ticks.
    pub(crate) stime: u64,
    /// Ticks spent waiting for block I/O.
    pub(crate) blkio_ticks: u64,
    /// Start, in ticks after boot.
    pub(crate) starttime: u64,
    /// Virtual memory, bytes.
    pub(crate) vsize: u64,
    /// Resident pages.
    pub(crate) rss_pages: u64,
}

/// Parses one `/proc/<pid>/stat` line; the name is between the first `(` and the last `)`
/// because it may hold either.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_owned();
    let f: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(ProcStat {
        name,
        ppid: f.get(1)?.parse().ok()?,
        utime: n(11)?,
        stime: n(12)?,
        starttime: n(19)?,
        vsize: n(20)?,
        rss_pages: n(21)?,
        // Absent on old kernels.
        blkio_ticks: n(39).unwrap_or(0),
    })
}

/// `read_bytes`/`write_bytes` of `/proc/<pid>/io` (storage I/O, not cache hits).
pub(crate) fn parse_io(text: &str) -> Option<(u64, u64)> {
    let fields: HashMap<&str, u64> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim(), v.trim().parse().ok()?))
        })
        .collect();
    Some((*fields.get("read_bytes")?, *fields.get("write_bytes")?))
}

/// Everything read about one process.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProcInfo {
    /// Process id.
    pub(crate) pid: u32,
    /// From `stat`.
    pub(crate) stat: ProcStat,
    /// Arguments (`cmdline` split at NULs); empty for kernel threads.
    pub(crate) args: Vec<String>,
    /// Target of `exe`, when readable.
    pub(crate) exe: Option<String>,
    /// Storage bytes read and written, when `io` is readable (own processes or root).
    pub(crate) io: Option<(u64, u64)>,
}

/// The resource attributes of a process.
pub(crate) fn resource(p: &ProcInfo) -> Vec<KeyValue> {
    let mut out = vec![
        attr_int("process.pid", i64::from(p.pid)),
        attr_int("process.parent_pid", i64::from(p.stat.ppid)),
        attr("process.executable.name", &p.stat.name),
    ];
    if let Some(exe) = &p.exe {
        out.push(attr("process.executable.path", exe));
    }
    if let Some(command) = p.args.first() {
        out.push(attr("process.command", command));
        out.push(attr("process.command_line", p.args.join(" ")));
    }
    out
}

/// A process's metrics; cumulative series start when the process started.
pub(crate) fn metrics(
    p: &ProcInfo,
    ticks_per_second: f64,
    page_size: u64,
    times: Times,
) -> Vec<Metric> {
    let started = times
        .start
        .saturating_add((p.stat.starttime as f64 / ticks_per_second * 1e9) as u64);
    let proc_times = Times {
        start: started,
        now: times.now,
    };
    let secs = |ticks: u64| Num::Double(ticks as f64 / ticks_per_second);
    let mut out = vec![
        sum(
            "process.cpu.time",
            "Total CPU seconds broken down by different states.",
            "s",
            true,
            proc_times,
            vec![
                (vec![attr("state", "user")], secs(p.stat.utime)),
                (vec![attr("state", "system")], secs(p.stat.stime)),
                (vec![attr("state", "wait")], secs(p.stat.blkio_ticks)),
            ],
        ),
        sum(
            "process.memory.usage",
            "The amount of physical memory in use.",
            "By",
            false,
            proc_times,
            vec![(
                Vec::new(),
                Num::from_u64(p.stat.rss_pages.saturating_mul(page_size)),
            )],
        ),
        sum(
            "process.memory.virtual",
            "Virtual memory size.",
            "By",
            false,
            proc_times,
            vec![(Vec::new(), Num::from_u64(p.stat.vsize))],
        ),
    ];
    if let Some((read, write)) = p.io {
        out.push(sum(
            "process.disk.io",
            "Disk bytes transferred.",
            "By",
            true,
            proc_times,
            vec![
                (vec![attr("direction", "read")], Num::from_u64(read)),
                (vec![attr("direction", "write")], Num::from_u64(write)),
            ],
        ));
    }
    out
}

/// Reads one process; `None` when it exited meanwhile.
pub(crate) fn read_process(env: &Env, pid: u32) -> Option<ProcInfo> {
    let stat = parse_stat(&env.read(&format!("/proc/{pid}/stat")).ok()?)?;
    let args = std::fs::read(env.path(&format!("/proc/{pid}/cmdline")))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let exe = std::fs::read_link(env.path(&format!("/proc/{pid}/exe")))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let io = env
        .read(&format!("/proc/{pid}/io"))
        .ok()
        .and_then(|t| parse_io(&t));
    Some(ProcInfo {
        pid,
        stat,
        args,
        exe,
        io,
    })
}

/// The process scraper.
pub(crate) struct ProcessScraper {
    enabled: Enabled,
    filter: Filter,
    page_size: u64,
}

impl ProcessScraper {
    /// A scraper for the processes whose executable name `filter` allows.
    pub(crate) fn new(enabled: Enabled, filter: Filter) -> ProcessScraper {
        ProcessScraper {
            enabled,
            filter,
            page_size: rustix::param::page_size() as u64,
        }
    }
}

impl Scraper for ProcessScraper {
    fn name(&self) -> &'static str {
        "process"
    }

    fn scrape(&mut self, env: &Env) -> Result<Output, ScrapeError> {
        let mut entities = Vec::new();
        for pid in pids(env)? {
            let Some(info) = read_process(env, pid) else {
                continue;
            };
            if !self.filter.allows(&info.stat.name) {
                continue;
            }
            let mut metrics = metrics(&info, env.ticks_per_second, self.page_size, env.times);
            self.enabled.retain(&mut metrics);
            if !metrics.is_empty() {
                entities.push((resource(&info), metrics));
            }
        }
        Ok(Output {
            host: Vec::new(),
            entities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::hostmetrics::test_support::points_by;

    const STAT: &str = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1000 10485760 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 7 0 0";

    #[test]
    fn stat_fields() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.name, "my (odd) prog");
        assert_eq!(s.ppid, 1);
        assert_eq!((s.utime, s.stime), (250, 50));
        assert_eq!(s.starttime, 1000);
        assert_eq!(s.vsize, 10_485_760);
        assert_eq!(s.rss_pages, 300);
        assert_eq!(s.blkio_ticks, 7);
        assert!(parse_stat("1234 (x) S").is_none());
    }

    #[test]
    fn io_and_metrics() {
        let io = parse_io(
            "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n",
        );
        assert_eq!(io, Some((4096, 8192)));
        let info = ProcInfo {
            pid: 1234,
            stat: parse_stat(STAT).unwrap(),
            args: vec!["/bin/prog".into(), "--flag".into()],
            exe: Some("/bin/prog".into()),
            io,
        };
        let res = resource(&info);
        assert!(res.contains(&attr_int("process.pid", 1234)));
        assert!(res.contains(&attr("process.executable.name", "my (odd) prog")));
        assert!(res.contains(&attr("process.command_line", "/bin/prog --flag")));
        let times = Times {
            start: 1_000_000_000,
            now: 99,
        };
        let out = metrics(&info, 100.0, 4096, times);
        let cpu = points_by(&out, "process.cpu.time", &["state"]);
        assert_eq!(cpu["user"], Num::Double(2.5));
        assert_eq!(cpu["system"], Num::Double(0.5));
        assert_eq!(
            points_by(&out, "process.memory.usage", &[])[""],
            Num::Int(300 * 4096)
        );
        assert_eq!(
            points_by(&out, "process.disk.io", &["direction"])["write"],
            Num::Int(8192)
        );
        // Started 1000 ticks = 10 s after boot.
        let lookout_proto::otlp::metrics::v1::metric::Data::Sum(s) = out[0].data.clone().unwrap()
        else {
            panic!("process.cpu.time must be a sum")
        };
        assert_eq!(s.data_points[0].start_time_unix_nano, 11_000_000_000);
    }
}
