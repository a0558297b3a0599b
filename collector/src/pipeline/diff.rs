//! What a configuration reload keeps running: the comparison of the running configuration
//! with the new one, component by component, on their bodies as written (after `${env:}`
//! substitution), the way Vector's `ConfigDiff` decides what `reload_config_and_respawn`
//! rebuilds.
//!
//! - An **exporter** keeps running (its queue, its retries, its connections) when its body is
//!   unchanged and some pipeline still lists it.
//! - A **pipeline** keeps running (its processors' tasks and state: a batch being filled, a
//!   correlate window) when its processor and exporter lists are unchanged, every processor's
//!   body is unchanged, every exporter keeps running, and it touches no connector. A processor
//!   listed by several pipelines has one state for all of them, so if one of them is rebuilt,
//!   all are.
//! - A **receiver** keeps running (its listener stays bound) when its body is unchanged; the
//!   wiring then points it at the new pipelines (see [`crate::core::Consumer::retarget`]).
//! - Connectors are always rebuilt, with the pipelines they join.
//!
//! Extensions and `service.telemetry` (the admin listener, logs) are not reloaded: a change
//! there is refused with a message asking for a restart.

use std::collections::BTreeSet;

use crate::config::{Config, PipelineConfig};
use crate::core::ComponentId;

/// The parts of the running configuration a reload keeps.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Exporters kept running.
    pub(crate) exporters: BTreeSet<ComponentId>,
    /// Pipelines kept running.
    pub(crate) pipelines: BTreeSet<ComponentId>,
    /// Receivers whose body is unchanged (kept if they also feed the same signals).
    pub(crate) receivers: BTreeSet<ComponentId>,
}

/// Sections a reload cannot change, each as (path, the running and the new bodies are read
/// from it).
const FIXED: &[&[&str]] = &[
    &["extensions"],
    &["service", "extensions"],
    &["service", "telemetry"],
];

/// Why `new` cannot replace `old` without a restart, if it cannot.
pub(crate) fn needs_restart(old: &Config, new: &Config) -> Option<String> {
    let changed: Vec<String> = FIXED
        .iter()
        .filter(|path| old.raw(path, None) != new.raw(path, None))
        .map(|path| path.join("."))
        .collect();
    (!changed.is_empty()).then(|| {
        format!(
            "{} changed; extensions and the admin listener are not reloaded: restart lookout \
             to apply that change",
            changed.join(", ")
        )
    })
}

/// Decides what keeps running when `new` replaces `old`.
pub(crate) fn plan(old: &Config, new: &Config) -> Plan {
    let unchanged = |section: &str, id: &ComponentId| {
        old.raw(&[section], Some(id)) == new.raw(&[section], Some(id))
    };
    let used_exporters = |config: &Config| -> BTreeSet<ComponentId> {
        config
            .pipelines()
            .flat_map(|(_, _, p)| p.exporters.iter().cloned())
            .filter(|id| config.exporters.get(id).is_some())
            .collect()
    };
    let exporters: BTreeSet<ComponentId> = used_exporters(old)
        .intersection(&used_exporters(new))
        .filter(|id| unchanged("exporters", id))
        .cloned()
        .collect();

    let connector =
        |id: &ComponentId| old.connectors.get(id).is_some() || new.connectors.get(id).is_some();
    let touches_connector = |p: &PipelineConfig| {
        p.receivers
            .iter()
            .chain(&p.processors)
            .chain(&p.exporters)
            .any(connector)
    };
    let mut pipelines: BTreeSet<ComponentId> = new
        .pipelines()
        .filter(|(id, _, p)| {
            let Some(before) = old.service.pipelines.get(id) else {
                return false;
            };
            before.processors == p.processors
                && before.exporters == p.exporters
                && !touches_connector(p)
                && !touches_connector(before)
                && p.processors.iter().all(|x| unchanged("processors", x))
                && p.exporters.iter().all(|x| exporters.contains(x))
        })
        .map(|(id, _, _)| id.clone())
        .collect();
    // One state per processor id: rebuilt in one pipeline means rebuilt in all.
    loop {
        let rebuilt: BTreeSet<&ComponentId> = new
            .pipelines()
            .chain(old.pipelines())
            .filter(|(id, _, _)| !pipelines.contains(*id))
            .flat_map(|(_, _, p)| &p.processors)
            .collect();
        let before = pipelines.len();
        pipelines.retain(|id| {
            new.service
                .pipelines
                .get(id)
                .is_some_and(|p| !p.processors.iter().any(|x| rebuilt.contains(x)))
        });
        if pipelines.len() == before {
            break;
        }
    }

    let receivers = new
        .receivers
        .ids()
        .filter(|id| old.receivers.get(id).is_some() && unchanged("receivers", id))
        .cloned()
        .collect();
    Plan {
        exporters,
        pipelines,
        receivers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse("test.yaml", text).unwrap()
    }

    fn ids(set: &BTreeSet<ComponentId>) -> Vec<String> {
        set.iter().map(ToString::to_string).collect()
    }

    const BASE: &str = "
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
processors:
  batch:
  batch/logs:
exporters:
  debug:
  file:
    path: a.json
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [file]
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug]
    logs:
      receivers: [otlp]
      processors: [batch/logs]
      exporters: [debug]
";

    #[test]
    fn same_config_keeps_everything() {
        let plan = plan(&config(BASE), &config(BASE));
        assert_eq!(ids(&plan.exporters), ["debug", "file"]);
        assert_eq!(ids(&plan.pipelines), ["logs", "metrics", "traces"]);
        assert_eq!(ids(&plan.receivers), ["otlp"]);
    }

    #[test]
    fn a_changed_exporter_rebuilds_the_pipelines_listing_it_only() {
        let new = BASE.replace("a.json", "b.json");
        let plan = plan(&config(BASE), &config(&new));
        assert_eq!(ids(&plan.exporters), ["debug"]);
        // traces is rebuilt; metrics shares its batch processor, so it is rebuilt too.
        assert_eq!(ids(&plan.pipelines), ["logs"]);
        assert_eq!(ids(&plan.receivers), ["otlp"]);
    }

    #[test]
    fn a_changed_processor_or_receiver_is_not_kept() {
        let new = BASE
            .replace("  batch/logs:\n", "  batch/logs:\n    timeout: 1s\n")
            .replace("127.0.0.1:0", "127.0.0.1:1");
        let plan = plan(&config(BASE), &config(&new));
        assert_eq!(ids(&plan.exporters), ["debug", "file"]);
        assert_eq!(ids(&plan.pipelines), ["metrics", "traces"]);
        assert!(plan.receivers.is_empty());
    }

    #[test]
    fn extensions_and_telemetry_need_a_restart() {
        let new = format!("{BASE}  telemetry:\n    logs:\n      level: debug\n");
        let why = needs_restart(&config(BASE), &config(&new)).unwrap();
        assert!(why.contains("service.telemetry"), "{why}");
        assert!(needs_restart(&config(BASE), &config(BASE)).is_none());
    }
}
