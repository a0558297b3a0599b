//! `exporters: store: reports:` — scheduled reports (docs/reports.md, "Scheduled reports").
//!
//! ```yaml
//! exporters:
//!   store:
//!     reports:
//!       - name: daily
//!         interval: 24h          # runs at every multiple of 24h since the epoch (00:00 UTC)
//!         offset: 7h             # ... shifted: 07:00 UTC
//!         since: 24h             # the range: the 24 h before the run
//!         format: html
//!         path: ./lookout-data/reports/daily-{time}.html
//!         notifiers: [ops_email] # the alerting extension's notifiers (email)
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Format;
use crate::component::Refs;
use crate::core::ComponentId;
use crate::extensions::alerting::config::AlertingConfig;
use crate::extensions::alerting::source;

/// One scheduled report.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleConfig {
    /// Names the report in logs, file names (`{name}`) and subjects.
    pub name: String,
    /// How often it runs: at every multiple of this since the Unix epoch (UTC), plus
    /// `offset` — `1h` on the hour, `24h` at midnight UTC, `168h` on Thursdays.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Shifts the runs after each multiple of `interval` (default 0; below `interval`).
    #[serde(default, with = "humantime_serde")]
    pub offset: Duration,
    /// The range each run covers: this long before the run (default: `interval`).
    #[serde(default, with = "humantime_serde")]
    pub since: Option<Duration>,
    /// `html` (default), `json` or `csv`.
    #[serde(default)]
    pub format: Format,
    /// Writes each run here; `{name}` and `{time}` (the run's UTC time, `20261207T070000Z`)
    /// are replaced. Relative paths are from the working directory.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Sends each run through these notifiers of the `alerting` extension (the types that
    /// can carry a document: `email`, with the report attached).
    #[serde(default)]
    pub notifiers: Vec<String>,
    /// The `alerting` extension whose notifiers are named (default `alerting`).
    #[serde(default = "default_alerting")]
    pub alerting: String,
    /// Keep at most this many files written from `path` (oldest deleted; default 30; 0:
    /// keep all).
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn default_alerting() -> String {
    "alerting".into()
}

fn default_keep() -> usize {
    30
}

/// Shortest `interval`.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

impl ScheduleConfig {
    /// Checks one schedule; the error names the key.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "name {:?}: use letters, digits, '-', '_' or '.'",
                self.name
            ));
        }
        if self.interval < MIN_INTERVAL {
            return Err(format!("{}: interval must be at least 1s", self.name));
        }
        if self.offset >= self.interval {
            return Err(format!("{}: offset must be below interval", self.name));
        }
        if self.since.is_some_and(|s| s.is_zero()) {
            return Err(format!("{}: since must be greater than zero", self.name));
        }
        if self.path.is_none() && self.notifiers.is_empty() {
            return Err(format!("{}: give a path, notifiers, or both", self.name));
        }
        Ok(())
    }
}

/// Checks every schedule: each valid, names distinct.
pub(crate) fn validate(list: &[ScheduleConfig]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for s in list {
        s.validate().map_err(|e| format!("reports: {e}"))?;
        if !seen.insert(&s.name) {
            return Err(format!("reports: the name {:?} is used twice", s.name));
        }
    }
    Ok(())
}

/// Checks that each schedule's notifiers are email notifiers of its enabled `alerting`
/// extension, so `lookout validate` refuses what building the store would.
pub(crate) fn check_refs(list: &[ScheduleConfig], refs: &Refs<'_>) -> Result<(), String> {
    for s in list.iter().filter(|s| !s.notifiers.is_empty()) {
        let id = ComponentId::parse(&s.alerting).map_err(|e| format!("reports.{}: {e}", s.name))?;
        source::check_ref(Some(&id), refs).map_err(|e| format!("reports.{}: {e}", s.name))?;
        let Some(alerting) = refs.extension_settings::<AlertingConfig>(&id) else {
            continue;
        };
        for name in &s.notifiers {
            match alerting.notifiers.get(name).map(|n| n.kind.name()) {
                None => {
                    return Err(format!(
                        "reports.{}: the alerting extension has no notifier {name:?}",
                        s.name
                    ));
                }
                Some("email") => {}
                Some(kind) => {
                    return Err(format!(
                        "reports.{}: notifier {name:?} is a {kind} notifier; reports go through email notifiers",
                        s.name
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn config(reports: &str) -> Result<Config, String> {
        let text = format!(
            "receivers: {{otlp: {{protocols: {{http: {{endpoint: 127.0.0.1:0}}}}}}}}\n\
             exporters:\n  store:\n    directory: d\n    reports:\n{reports}\
             service: {{pipelines: {{traces: {{receivers: [otlp], exporters: [store]}}}}}}\n"
        );
        Config::parse("t.yaml", &text).map_err(|e| e.to_string())
    }

    #[test]
    fn schedules_are_checked() {
        let ok = "      - {name: daily, interval: 24h, offset: 7h, path: 'r/{name}-{time}.html'}\n";
        config(ok).unwrap();
        for (bad, says) in [
            (
                "      - {name: d, interval: 1h, path: x, colour: red}\n",
                "colour",
            ),
            (
                "      - {name: d, interval: 1h, offset: 1h, path: x}\n",
                "offset must be below interval",
            ),
            (
                "      - {name: d, interval: 1h}\n",
                "give a path, notifiers, or both",
            ),
            (
                "      - {name: d, interval: 0s, path: x}\n",
                "interval must be at least 1s",
            ),
            ("      - {name: 'a b', interval: 1h, path: x}\n", "name"),
            (
                "      - {name: d, interval: 1h, path: x, format: pdf}\n",
                "pdf",
            ),
            (
                "      - {name: d, interval: 1h, path: x}\n      - {name: d, interval: 2h, path: y}\n",
                "used twice",
            ),
        ] {
            let err = config(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    /// A config with an `alerting` extension (an email and a console notifier) and a store
    /// whose schedule names `notifiers`.
    fn with_alerting(notifiers: &str, enabled: bool) -> Result<Config, String> {
        let extensions = if enabled { "[alerting]" } else { "[]" };
        let text = format!(
            "receivers: {{otlp: {{protocols: {{http: {{endpoint: 127.0.0.1:0}}}}}}}}\n\
             extensions:\n  alerting:\n    notifiers:\n      ops:\n        email: {{endpoint: 127.0.0.1:25, from: a@b.c, to: [d@e.f]}}\n      log:\n        console: {{}}\n    route: {{notifiers: [log]}}\n\
             exporters:\n  store:\n    directory: d\n    reports:\n      - {{name: daily, interval: 24h, notifiers: {notifiers}}}\n\
             service: {{extensions: {extensions}, pipelines: {{traces: {{receivers: [otlp], exporters: [store]}}}}}}\n"
        );
        Config::parse("t.yaml", &text).map_err(|e| e.to_string())
    }

    /// `lookout validate` (Config::parse) refuses the notifier names that building the store
    /// would refuse.
    #[test]
    fn schedule_notifiers_are_checked_against_the_alerting_extension() {
        with_alerting("[ops]", true).unwrap();
        for (notifiers, enabled, says) in [
            ("[nope]", true, "no notifier \"nope\""),
            ("[log]", true, "is a console notifier"),
            ("[ops]", false, "not enabled in service.extensions"),
        ] {
            let err = with_alerting(notifiers, enabled).expect_err(notifiers);
            assert!(err.contains(says), "{notifiers}: {err}");
        }
    }
}
