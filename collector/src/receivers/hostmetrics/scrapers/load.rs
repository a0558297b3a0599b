//! `load`: `system.cpu.load_average.{1m,5m,15m}` from `/proc/loadavg`.

use lookout_proto::otlp::metrics::v1::Metric;

use super::{Enabled, Env, Output, ScrapeError, Scraper};
use crate::core::otlp_build::{Num, Times, gauge};

/// The scraper's metrics and whether each is on by default.
pub(crate) const METRICS: &[(&str, bool)] = &[
    ("system.cpu.load_average.1m", true),
    ("system.cpu.load_average.5m", true),
    ("system.cpu.load_average.15m", true),
];

/// The three averages of `/proc/loadavg`.
pub(crate) fn parse_loadavg(text: &str) -> Result<[f64; 3], ScrapeError> {
    let mut out = [0.0; 3];
    let mut fields = text.split_whitespace();
    for slot in &mut out {
        let field = fields.next().unwrap_or("");
        *slot = field.parse().map_err(|_| ScrapeError::Parse {
            what: "/proc/loadavg",
            message: format!("not a load average: {field:?}"),
        })?;
    }
    Ok(out)
}

/// Load metrics; `divisor` is 1 or the CPU count (`cpu_average`).
pub(crate) fn metrics(avg: [f64; 3], divisor: f64, times: Times) -> Vec<Metric> {
    let names = [
        (
            "system.cpu.load_average.1m",
            "Average CPU Load over 1 minute.",
        ),
        (
            "system.cpu.load_average.5m",
            "Average CPU Load over 5 minutes.",
        ),
        (
            "system.cpu.load_average.15m",
            "Average CPU Load over 15 minutes.",
        ),
    ];
    names
        .iter()
        .zip(avg)
        .map(|((name, desc), v)| {
            gauge(
                name,
                desc,
                "{thread}",
                times,
                vec![(Vec::new(), Num::Double(v / divisor))],
            )
        })
        .collect()
}

/// The load scraper.
pub(crate) struct LoadScraper {
    enabled: Enabled,
    cpu_average: bool,
}

impl LoadScraper {
    /// A scraper; `cpu_average` divides by the logical CPU count.
    pub(crate) fn new(enabled: Enabled, cpu_average: bool) -> LoadScraper {
        LoadScraper {
            enabled,
            cpu_average,
        }
    }
}

impl Scraper for LoadScraper {
    fn name(&self) -> &'static str {
        "load"
    }

    fn scrape(&mut self, env: &Env) -> Result<Output, ScrapeError> {
        let avg = parse_loadavg(&env.read("/proc/loadavg")?)?;
        let divisor = if self.cpu_average {
            let cpus = super::cpu::parse_stat(&env.read("/proc/stat")?)?.len();
            cpus.max(1) as f64
        } else {
            1.0
        };
        let mut out = metrics(avg, divisor, env.times);
        self.enabled.retain(&mut out);
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_divides() {
        let avg = parse_loadavg("0.50 1.00 2.00 3/456 7890\n").unwrap();
        assert_eq!(avg, [0.5, 1.0, 2.0]);
        let out = metrics(avg, 2.0, Times { start: 0, now: 1 });
        let names: Vec<&str> = out.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "system.cpu.load_average.1m",
                "system.cpu.load_average.5m",
                "system.cpu.load_average.15m"
            ]
        );
        let lookout_proto::otlp::metrics::v1::metric::Data::Gauge(g) = out[2].data.clone().unwrap()
        else {
            panic!("load must be a gauge")
        };
        assert_eq!(
            g.data_points[0].value,
            Some(lookout_proto::otlp::metrics::v1::number_data_point::Value::AsDouble(1.0))
        );
        assert!(parse_loadavg("").is_err());
    }
}
