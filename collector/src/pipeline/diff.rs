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
//! Extensions and `service.telemetry` are reloaded by the service
//! ([`crate::extensions::running`], [`crate::telemetry::listener`]). The one change refused
//! with a message asking for a restart is a `file_storage` extension's `directory`: a
//! persistent queue's segments and filelog's checkpoints are open there, and moving them
//! under a running queue is not safe.

use std::collections::BTreeSet;

use crate::config::{Config, PipelineConfig};
use crate::core::ComponentId;
use crate::extensions::file_storage::FileStorageConfig;

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

/// Why `new` cannot replace `old` without a restart, if it cannot: a `file_storage`
/// extension enabled in both whose `directory` differs.
pub(crate) fn needs_restart(old: &Config, new: &Config) -> Option<String> {
    let directory = |config: &Config, id: &ComponentId| {
        config
            .extensions
            .get(id)
            .and_then(|c| c.config.as_any().downcast_ref::<FileStorageConfig>())
            .map(|c| c.directory.clone())
    };
    let changed: Vec<String> = new
        .service
        .extensions
        .iter()
        .filter(|id| old.service.extensions.contains(id))
        .filter(|id| {
            matches!(
                (directory(old, id), directory(new, id)),
                (Some(a), Some(b)) if a != b
            )
        })
        .map(|id| format!("extensions.{id}.directory"))
        .collect();
    (!changed.is_empty()).then(|| {
        format!(
            "{} changed; the state kept there (persistent queues, filelog checkpoints) cannot \
             move while it is in use: restart lookout to apply that change",
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
    fn only_a_file_storage_directory_needs_a_restart() {
        let with = |extensions: &str, enabled: &str| {
            config(&format!(
                "extensions:\n{extensions}{}",
                BASE.replace(
                    "service:\n",
                    &format!("service:\n  extensions: [{enabled}]\n")
                )
            ))
        };
        let storage = |dir: &str, create: bool| {
            format!(
                "  file_storage:\n    directory: {dir}\n    create_directory: {create}\n  \
                 health_check:\n    endpoint: 127.0.0.1:1{}\n",
                u8::from(create)
            )
        };
        let old = with(&storage("/a", false), "file_storage, health_check");
        let telemetry = config(&format!(
            "{BASE}  telemetry:\n    logs:\n      level: debug\n"
        ));
        assert!(needs_restart(&config(BASE), &telemetry).is_none());
        // create_directory and another extension's body: applied.
        let safe = with(&storage("/a", true), "file_storage, health_check");
        assert!(needs_restart(&old, &safe).is_none());
        let moved = with(&storage("/b", false), "file_storage, health_check");
        let why = needs_restart(&old, &moved).unwrap();
        assert!(
            why.contains("extensions.file_storage.directory") && why.contains("restart lookout"),
            "{why}"
        );
        // Added or removed: nothing is open there yet, or any more.
        let removed = with(&storage("/b", false), "health_check");
        assert!(needs_restart(&old, &removed).is_none());
    }
}
