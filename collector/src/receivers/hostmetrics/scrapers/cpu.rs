//! `cpu`: `system.cpu.time` per logical CPU and state from `/proc/stat` (sysinfo has no
//! iowait/irq/softirq/steal split), utilization from the difference between scrapes, the
//! logical CPU count, and the current frequency (`/proc/cpuinfo`, else sysinfo).

use lookout_proto::otlp::metrics::v1::Metric;

use super::{Enabled, Env, Output, ScrapeError, Scraper, parse_u64};
use crate::core::otlp_build::{Num, Point, Times, attr, gauge, sum};

/// The scraper's metrics and whether each is on by default.
pub(crate) const METRICS: &[(&str, bool)] = &[
    ("system.cpu.time", true),
    ("system.cpu.utilization", false),
    ("system.cpu.logical.count", false),
    ("system.cpu.frequency", false),
];

/// The Collector's state names, in `/proc/stat` column order after the CPU name.
const STATES: [&str; 8] = [
    "user",
    "nice",
    "system",
    "idle",
    "wait",
    "interrupt",
    "softirq",
    "steal",
];

/// One logical CPU's times in clock ticks, in [`STATES`] order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CpuTicks {
    /// CPU number as the kernel names it (`cpu3` → `"3"`).
    pub(crate) cpu: String,
    /// Ticks per state.
    pub(crate) ticks: [u64; 8],
}

/// Parses the per-CPU lines of `/proc/stat` (the aggregate `cpu` line is skipped).
pub(crate) fn parse_stat(text: &str) -> Result<Vec<CpuTicks>, ScrapeError> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(name) = fields.next() else { continue };
        let Some(num) = name.strip_prefix("cpu") else {
            continue;
        };
        if num.is_empty() {
            continue;
        }
        let mut ticks = [0u64; 8];
        // Old kernels lack the later columns; missing ones read as zero.
        for (slot, field) in ticks.iter_mut().zip(fields) {
            *slot = parse_u64("/proc/stat", field)?;
        }
        cpus.push(CpuTicks {
            cpu: num.to_owned(),
            ticks,
        });
    }
    if cpus.is_empty() {
        return Err(ScrapeError::Parse {
            what: "/proc/stat",
            message: "no per-CPU lines".into(),
        });
    }
    Ok(cpus)
}

/// Current frequency per logical CPU in Hz, from `/proc/cpuinfo` `cpu MHz` lines (x86 only).
pub(crate) fn parse_cpuinfo_hz(text: &str) -> Vec<f64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "cpu MHz")
                .then(|| value.trim().parse::<f64>().ok().map(|mhz| mhz * 1e6))?
        })
        .collect()
}

/// `system.cpu.time`, and `system.cpu.utilization` when `previous` is known.
pub(crate) fn metrics(
    current: &[CpuTicks],
    previous: Option<&[CpuTicks]>,
    ticks_per_second: f64,
    times: Times,
) -> Vec<Metric> {
    let mut time = Vec::with_capacity(current.len() * STATES.len());
    for cpu in current {
        for (state, ticks) in STATES.iter().zip(cpu.ticks) {
            time.push(point(
                &cpu.cpu,
                state,
                Num::Double(ticks as f64 / ticks_per_second),
            ));
        }
    }
    let mut out = vec![sum(
        "system.cpu.time",
        "Total seconds each logical CPU spent on each mode.",
        "s",
        true,
        times,
        time,
    )];
    if let Some(previous) = previous {
        let mut utilization = Vec::new();
        for cpu in current {
            let Some(before) = previous.iter().find(|p| p.cpu == cpu.cpu) else {
                continue;
            };
            let deltas: Vec<u64> = cpu
                .ticks
                .iter()
                .zip(before.ticks)
                .map(|(now, then)| now.saturating_sub(then))
                .collect();
            let total: u64 = deltas.iter().sum();
            if total == 0 {
                continue;
            }
            for (state, delta) in STATES.iter().zip(deltas) {
                utilization.push(point(
                    &cpu.cpu,
                    state,
                    Num::Double(delta as f64 / total as f64),
                ));
            }
        }
        out.push(gauge(
            "system.cpu.utilization",
            "Difference in system.cpu.time since the last measurement per logical CPU, divided by the elapsed time (value in interval [0,1]).",
            "1",
            times,
            utilization,
        ));
    }
    out.push(sum(
        "system.cpu.logical.count",
        "Number of available logical CPUs.",
        "{cpu}",
        false,
        times,
        vec![(Vec::new(), Num::from_u64(current.len() as u64))],
    ));
    out
}

/// `system.cpu.frequency`, one point per CPU in kernel order.
pub(crate) fn frequency_metric(hz: &[f64], times: Times) -> Metric {
    gauge(
        "system.cpu.frequency",
        "Current frequency of the CPU core in Hz.",
        "Hz",
        times,
        hz.iter()
            .enumerate()
            .map(|(i, hz)| (vec![attr("cpu", i.to_string())], Num::Double(*hz)))
            .collect(),
    )
}

fn point(cpu: &str, state: &str, value: Num) -> Point {
    (vec![attr("cpu", cpu), attr("state", state)], value)
}

/// The cpu scraper.
pub(crate) struct CpuScraper {
    enabled: Enabled,
    previous: Option<Vec<CpuTicks>>,
    sysinfo: Option<sysinfo::System>,
}

impl CpuScraper {
    /// A scraper with the given metric switches.
    pub(crate) fn new(enabled: Enabled) -> CpuScraper {
        CpuScraper {
            enabled,
            previous: None,
            sysinfo: None,
        }
    }

    fn frequencies(&mut self, env: &Env) -> Vec<f64> {
        let from_proc = env
            .read("/proc/cpuinfo")
            .map(|t| parse_cpuinfo_hz(&t))
            .unwrap_or_default();
        if !from_proc.is_empty() || env.root != std::path::Path::new("/") {
            return from_proc;
        }
        // Non-x86 kernels print no `cpu MHz`; sysinfo reads cpufreq from /sys instead. It
        // cannot read another root, hence only for `/`.
        let system = match &mut self.sysinfo {
            Some(s) => s,
            slot @ None => {
                let kind = sysinfo::RefreshKind::nothing()
                    .with_cpu(sysinfo::CpuRefreshKind::nothing().with_frequency());
                match sysinfo::System::new_with_specifics(kind) {
                    Ok(s) => slot.insert(s),
                    Err(_) => return Vec::new(),
                }
            }
        };
        system.refresh_cpu_frequency();
        system
            .cpus()
            .iter()
            .map(|c| c.frequency() as f64 * 1e6)
            .collect()
    }
}

impl Scraper for CpuScraper {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn scrape(&mut self, env: &Env) -> Result<Output, ScrapeError> {
        let current = parse_stat(&env.read("/proc/stat")?)?;
        let mut out = metrics(
            &current,
            self.previous.as_deref(),
            env.ticks_per_second,
            env.times,
        );
        if self.enabled.is_on("system.cpu.frequency") {
            let hz = self.frequencies(env);
            if !hz.is_empty() {
                out.push(frequency_metric(&hz, env.times));
            }
        }
        self.previous = Some(current);
        self.enabled.retain(&mut out);
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  10 20 30 40 50 60 70 80 0 0
cpu0 100 200 300 400 500 600 700 800 0 0
cpu1 1 2 3 4 5 6 7 8 0 0
intr 1 2 3
processes 4242
btime 1700000000
";

    fn times() -> Times {
        Times { start: 1, now: 2 }
    }

    #[test]
    fn parses_per_cpu_lines_and_skips_the_total() {
        let cpus = parse_stat(STAT).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].cpu, "0");
        assert_eq!(cpus[0].ticks, [100, 200, 300, 400, 500, 600, 700, 800]);
        assert_eq!(cpus[1].cpu, "1");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_stat("cpu0 1 x 3").is_err());
        assert!(parse_stat("intr 1 2").is_err());
    }

    #[test]
    fn maps_columns_to_collector_states_in_seconds() {
        let cpus = parse_stat(STAT).unwrap();
        let out = metrics(&cpus, None, 100.0, times());
        let lookout_proto::otlp::metrics::v1::metric::Data::Sum(s) = out[0].data.clone().unwrap()
        else {
            panic!("system.cpu.time must be a sum")
        };
        assert!(s.is_monotonic);
        let find = |cpu: &str, state: &str| {
            s.data_points
                .iter()
                .find(|p| {
                    p.attributes.contains(&attr("cpu", cpu))
                        && p.attributes.contains(&attr("state", state))
                })
                .and_then(|p| p.value)
        };
        use lookout_proto::otlp::metrics::v1::number_data_point::Value::AsDouble;
        assert_eq!(find("0", "user"), Some(AsDouble(1.0)));
        assert_eq!(find("0", "wait"), Some(AsDouble(5.0)));
        assert_eq!(find("0", "interrupt"), Some(AsDouble(6.0)));
        assert_eq!(find("0", "softirq"), Some(AsDouble(7.0)));
        assert_eq!(find("0", "steal"), Some(AsDouble(8.0)));
        assert_eq!(find("1", "idle"), Some(AsDouble(0.04)));
        assert_eq!(s.data_points.len(), 16);
        // No previous scrape: no utilization yet.
        assert!(out.iter().all(|m| m.name != "system.cpu.utilization"));
    }

    #[test]
    fn utilization_is_the_share_of_ticks_since_the_last_scrape() {
        let before = parse_stat("cpu0 0 0 0 0 0 0 0 0").unwrap();
        let after = parse_stat("cpu0 30 0 10 60 0 0 0 0").unwrap();
        let out = metrics(&after, Some(&before), 100.0, times());
        let m = out
            .iter()
            .find(|m| m.name == "system.cpu.utilization")
            .unwrap();
        let lookout_proto::otlp::metrics::v1::metric::Data::Gauge(g) = m.data.clone().unwrap()
        else {
            panic!("utilization must be a gauge")
        };
        let user = g
            .data_points
            .iter()
            .find(|p| p.attributes.contains(&attr("state", "user")))
            .unwrap();
        assert_eq!(
            user.value,
            Some(lookout_proto::otlp::metrics::v1::number_data_point::Value::AsDouble(0.3))
        );
    }

    #[test]
    fn cpuinfo_mhz_becomes_hz() {
        let hz = parse_cpuinfo_hz(
            "processor\t: 0\ncpu MHz\t\t: 2400.5\nprocessor\t: 1\ncpu MHz\t\t: 1000\n",
        );
        assert_eq!(hz, vec![2_400_500_000.0, 1_000_000_000.0]);
    }
}
