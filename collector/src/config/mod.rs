//! Configuration in the OpenTelemetry Collector's YAML shape.
//!
//! A Collector user's file works unchanged for the components Lookout has: `receivers`,
//! `processors`, `exporters`, `extensions`, and `service` with its `pipelines`, named instances
//! (`otlp/2`), empty bodies meaning defaults, and `${env:VAR}` substitution. Every struct denies
//! unknown keys, and errors name the file, line, key and what was expected.

mod component_map;
pub mod components;
mod env;
mod error;
pub mod service;
pub mod shared;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

pub use component_map::ComponentMap;
pub(crate) use component_map::present;
pub use components::{ExporterConfig, ExtensionConfig, ProcessorConfig, ReceiverConfig};
pub use error::ConfigError;
pub use service::{PipelineConfig, ServiceConfig};

use crate::pipeline::Signal;

/// The configuration Lookout runs when none is given (see the README).
pub const DEFAULT_CONFIG: &str = include_str!("default.yaml");

/// The name of [`DEFAULT_CONFIG`] in messages.
pub const DEFAULT_CONFIG_NAME: &str = "<embedded default config>";

/// A component's id: its type and an optional instance name (`otlp`, `otlp/2`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    kind: String,
    name: Option<String>,
}

impl ComponentId {
    /// Parses `type[/name]`.
    pub fn parse(s: &str) -> Result<ComponentId, String> {
        let (kind, name) = match s.split_once('/') {
            Some((kind, name)) => (kind.trim(), Some(name.trim())),
            None => (s.trim(), None),
        };
        if kind.is_empty() {
            return Err(format!("component id {s:?} has an empty type"));
        }
        if name.is_some_and(str::is_empty) {
            return Err(format!("component id {s:?} has an empty name after '/'"));
        }
        Ok(ComponentId {
            kind: kind.to_string(),
            name: name.map(str::to_string),
        })
    }

    /// The component type (`otlp` in `otlp/2`).
    pub fn kind(&self) -> &str {
        &self.kind
    }
}

impl<'de> Deserialize<'de> for ComponentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ComponentId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{name}", self.kind),
            None => f.write_str(&self.kind),
        }
    }
}

/// A whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Receivers by id.
    #[serde(default)]
    pub receivers: ComponentMap<ReceiverConfig>,
    /// Processors by id.
    #[serde(default)]
    pub processors: ComponentMap<ProcessorConfig>,
    /// Exporters by id.
    #[serde(default)]
    pub exporters: ComponentMap<ExporterConfig>,
    /// Extensions by id.
    #[serde(default)]
    pub extensions: ComponentMap<ExtensionConfig>,
    /// What runs: pipelines, enabled extensions, self-telemetry.
    pub service: ServiceConfig,
}

impl Config {
    /// Reads, substitutes and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| ConfigError::io(path.display().to_string(), err))?;
        Config::parse(&path.display().to_string(), &text)
    }

    /// The embedded default configuration.
    pub fn default_config() -> Result<Config, ConfigError> {
        Config::parse(DEFAULT_CONFIG_NAME, DEFAULT_CONFIG)
    }

    /// Parses configuration text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let (expanded, missing) = env::expand(text, |name| std::env::var(name).ok());
        for name in missing {
            tracing::warn!(
                file,
                variable = name,
                "environment variable is not set; substituted an empty string"
            );
        }
        let deserializer = serde_yaml_ng::Deserializer::from_str(&expanded);
        let config: Config = serde_path_to_error::deserialize(deserializer)
            .map_err(|err| ConfigError::parse(file, err))?;
        config.check(file, &expanded)?;
        Ok(config)
    }

    /// Cross-references: pipelines name existing components that support their signal.
    fn check(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let err = |key: String, needle: &str, message: String| {
            ConfigError::semantic(file, error::locate(text, needle), key, message)
        };
        if self.service.pipelines.is_empty() {
            return Err(err(
                "service.pipelines".into(),
                "pipelines",
                "no pipelines are defined; expected at least one of traces, metrics, logs".into(),
            ));
        }
        let fed = self.check_feeds(file, text)?;
        for (id, pipeline) in &self.service.pipelines {
            let signal = pipeline_signal(id).map_err(|message| {
                err(format!("service.pipelines.{id}"), &id.to_string(), message)
            })?;
            let key = |list: &str| format!("service.pipelines.{id}.{list}");
            if pipeline.receivers.is_empty() && !fed.contains(id) {
                return Err(err(
                    key("receivers"),
                    &id.to_string(),
                    "a pipeline needs at least one receiver, or a processor feeding it \
                     (latency_anomaly's events.pipelines or red_metrics.pipelines)"
                        .into(),
                ));
            }
            if pipeline.exporters.is_empty() {
                return Err(err(
                    key("exporters"),
                    &id.to_string(),
                    "a pipeline needs at least one exporter".into(),
                ));
            }
            let lists = [
                refs("receiver", &pipeline.receivers, &self.receivers, signal),
                refs("processor", &pipeline.processors, &self.processors, signal),
                refs("exporter", &pipeline.exporters, &self.exporters, signal),
            ];
            for result in lists {
                if let Err((what, component, message)) = result {
                    return Err(err(key(&format!("{what}s")), &component, message));
                }
            }
        }
        for x in &self.service.extensions {
            if self.extensions.get(x).is_none() {
                return Err(err(
                    "service.extensions".into(),
                    &x.to_string(),
                    missing("extension", x, self.extensions.ids()),
                ));
            }
        }
        Ok(())
    }

    /// Checks that the pipelines processors feed (see [`components::Feed`]) exist and carry
    /// the right signal; returns those fed by processors that some pipeline runs.
    fn check_feeds(&self, file: &str, text: &str) -> Result<BTreeSet<&ComponentId>, ConfigError> {
        let used: BTreeSet<&ComponentId> = self
            .service
            .pipelines
            .values()
            .flat_map(|p| &p.processors)
            .collect();
        let mut fed = BTreeSet::new();
        for (processor, config) in self.processors.iter() {
            for feed in config.feeds() {
                for target in feed.pipelines {
                    let fail = |message: String| {
                        let line =
                            error::locate_first_after(text, "processors:", &target.to_string());
                        ConfigError::semantic(
                            file,
                            line,
                            format!("processors.{processor}.{}", feed.key),
                            message,
                        )
                    };
                    if !self.service.pipelines.contains_key(target) {
                        let defined: Vec<String> = self
                            .service
                            .pipelines
                            .keys()
                            .map(ToString::to_string)
                            .collect();
                        return Err(fail(format!(
                            "pipeline {target} is not defined; defined pipelines: {}",
                            defined.join(", ")
                        )));
                    }
                    match pipeline_signal(target) {
                        Ok(signal) if signal == feed.signal => {}
                        _ => {
                            return Err(fail(format!(
                                "pipeline {target} is not a {} pipeline; {} takes {} pipelines \
                                 (`{}` or `{}/<name>`)",
                                feed.signal, feed.key, feed.signal, feed.signal, feed.signal
                            )));
                        }
                    }
                    if used.contains(processor) {
                        fed.insert(target);
                    }
                }
            }
        }
        Ok(fed)
    }

    /// The pipelines, with their signal, in a stable order.
    pub fn pipelines(&self) -> impl Iterator<Item = (&ComponentId, Signal, &PipelineConfig)> {
        self.service
            .pipelines
            .iter()
            .filter_map(|(id, p)| pipeline_signal(id).ok().map(|signal| (id, signal, p)))
    }
}

fn pipeline_signal(id: &ComponentId) -> Result<Signal, String> {
    Signal::parse(id.kind()).ok_or_else(|| {
        format!(
            "unknown pipeline type {:?}; expected traces, metrics or logs (optionally with a /name)",
            id.kind()
        )
    })
}

/// Checks that every id in a pipeline's `{what}s` list is defined and handles `signal`; on
/// failure gives (what, the offending id, the message).
fn refs<T: components::Component>(
    what: &'static str,
    ids: &[ComponentId],
    defined: &ComponentMap<T>,
    signal: Signal,
) -> Result<(), (&'static str, String, String)> {
    for id in ids {
        let Some(config) = defined.get(id) else {
            return Err((what, id.to_string(), missing(what, id, defined.ids())));
        };
        if !config.signals().contains(&signal) {
            return Err((
                what,
                id.to_string(),
                format!("{what} {id} does not support {signal}"),
            ));
        }
    }
    Ok(())
}

fn missing<'a>(
    what: &str,
    id: &ComponentId,
    defined: impl Iterator<Item = &'a ComponentId>,
) -> String {
    let defined: Vec<String> = defined.map(ToString::to_string).collect();
    if defined.is_empty() {
        format!("{what} {id} is not defined (no {what}s are configured)")
    } else {
        format!(
            "{what} {id} is not defined; defined {what}s: {}",
            defined.join(", ")
        )
    }
}

/// Pipelines by id, in the order of the file.
pub type Pipelines = BTreeMap<ComponentId, PipelineConfig>;

#[cfg(test)]
mod tests;
