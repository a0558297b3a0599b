//! Configuration in the OpenTelemetry Collector's YAML shape.
//!
//! A Collector user's file works unchanged for the components Lookout has: `receivers`,
//! `processors`, `exporters`, `extensions`, and `service` with its `pipelines`, named instances
//! (`otlp/2`), empty bodies meaning defaults, and `${env:VAR}` substitution. Every struct denies
//! unknown keys, and errors name the file, line, key and what was expected.

pub(crate) mod component_map;
mod env;
mod error;
pub mod service;
pub mod shared;
mod spans;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub(crate) use component_map::present;
pub use component_map::{
    ComponentMap, Configured, Connectors, Exporters, Extensions, Family, Processors, Receivers,
};
pub use error::ConfigError;
pub use service::{PipelineConfig, ServiceConfig};

use crate::component::{Kind, Refs, Registered};
use crate::core::{ComponentId, Signal};
use spans::Spans;

/// The configuration Lookout runs when none is given (see the README).
pub const DEFAULT_CONFIG: &str = include_str!("default.yaml");

/// The name of [`DEFAULT_CONFIG`] in messages.
pub const DEFAULT_CONFIG_NAME: &str = "<embedded default config>";

/// A whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Receivers by id.
    #[serde(default)]
    pub(crate) receivers: ComponentMap<Receivers>,
    /// Processors by id.
    #[serde(default)]
    pub(crate) processors: ComponentMap<Processors>,
    /// Exporters by id.
    #[serde(default)]
    pub(crate) exporters: ComponentMap<Exporters>,
    /// Connectors by id: each is an exporter of some pipelines and a receiver of others.
    #[serde(default)]
    pub(crate) connectors: ComponentMap<Connectors>,
    /// Extensions by id.
    #[serde(default)]
    pub(crate) extensions: ComponentMap<Extensions>,
    /// What runs: pipelines, enabled extensions, self-telemetry.
    pub(crate) service: ServiceConfig,
    /// The whole document after `${env:}` substitution: a reload compares components' bodies
    /// in it to decide what keeps running.
    #[serde(skip)]
    raw: serde_yaml_ng::Value,
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

    /// Parses configuration text; `file` names it in errors. Every check `lookout run` makes
    /// before it binds a port happens here: each component's `validate()`, the pipelines'
    /// references, and each factory's `check_refs`.
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
        let mut config: Config = serde_path_to_error::deserialize(deserializer)
            .map_err(|err| ConfigError::parse(file, err))?;
        // It parsed as a `Config` just above, so it parses as a YAML value.
        config.raw = serde_yaml_ng::from_str(&expanded).unwrap_or_default();
        let spans = Spans::index(&expanded);
        config.check().map_err(|(path, message)| {
            ConfigError::semantic(file, spans.find(&path), path, message)
        })?;
        Ok(config)
    }

    /// Cross-references: pipelines name existing components that support their signal,
    /// connectors join pipelines of the signals they support, and each factory's references
    /// resolve. Errors are (the dotted path they are about, message).
    fn check(&self) -> Result<(), (String, String)> {
        if self.service.pipelines.is_empty() {
            return Err((
                "service.pipelines".into(),
                "no pipelines are defined; expected at least one of traces, metrics, logs".into(),
            ));
        }
        for (id, pipeline) in &self.service.pipelines {
            let path = format!("service.pipelines.{id}");
            let signal = pipeline_signal(id).map_err(|m| (path.clone(), m))?;
            if pipeline.receivers.is_empty() {
                return Err((
                    format!("{path}.receivers"),
                    "a pipeline needs at least one receiver (or a connector listed as one)".into(),
                ));
            }
            if pipeline.exporters.is_empty() {
                return Err((
                    format!("{path}.exporters"),
                    "a pipeline needs at least one exporter (or a connector listed as one)".into(),
                ));
            }
            self.check_list(
                &path,
                "receivers",
                &pipeline.receivers,
                signal,
                &self.receivers,
            )?;
            self.check_list(
                &path,
                "processors",
                &pipeline.processors,
                signal,
                &self.processors,
            )?;
            self.check_list(
                &path,
                "exporters",
                &pipeline.exporters,
                signal,
                &self.exporters,
            )?;
        }
        self.check_connectors()?;
        for (i, x) in self.service.extensions.iter().enumerate() {
            if self.extensions.get(x).is_none() {
                return Err((
                    format!("service.extensions[{i}]"),
                    missing("extension", x, self.extensions.ids()),
                ));
            }
        }
        if let Some(tls) = &self.service.telemetry.metrics.tls {
            tls.check()
                .map_err(|e| ("service.telemetry.metrics.tls".to_owned(), e.to_string()))?;
        }
        let refs = Refs::new(self);
        self.service
            .telemetry
            .metrics
            .check(&refs)
            .map_err(|(path, m)| (format!("service.telemetry.metrics.{path}"), m))?;
        self.check_refs(&self.receivers, &refs)?;
        self.check_refs(&self.processors, &refs)?;
        self.check_refs(&self.exporters, &refs)?;
        self.check_refs(&self.connectors, &refs)?;
        self.check_refs(&self.extensions, &refs)?;
        Ok(())
    }

    fn check_refs<F: Family>(
        &self,
        map: &ComponentMap<F>,
        refs: &Refs<'_>,
    ) -> Result<(), (String, String)> {
        for (id, c) in map.iter() {
            c.factory
                .check_refs(c.config.as_ref(), id, refs)
                .map_err(|m| (format!("{}.{id}", F::KIND.section()), m))?;
        }
        Ok(())
    }

    /// Checks one of a pipeline's lists; receiver and exporter lists may also name connectors.
    fn check_list<F: Family>(
        &self,
        pipeline: &str,
        list: &str,
        ids: &[ComponentId],
        signal: Signal,
        defined: &ComponentMap<F>,
    ) -> Result<(), (String, String)> {
        let what = F::KIND.as_str();
        for (i, id) in ids.iter().enumerate() {
            let path = format!("{pipeline}.{list}[{i}]");
            match (defined.get(id), self.connectors.get(id)) {
                (Some(c), _) => {
                    if !c.about().signals.contains(&signal) {
                        return Err((path, format!("{what} {id} does not support {signal}")));
                    }
                }
                // A connector's signal pairs are checked once both its ends are known.
                (None, Some(_)) if F::KIND != Kind::Processor => {}
                (None, _) => return Err((path, missing(what, id, defined.ids()))),
            }
        }
        Ok(())
    }

    /// Every connector is an exporter of some pipeline and a receiver of another, and each
    /// (exporting pipeline's signal, receiving pipeline's signal) pair is one it supports.
    fn check_connectors(&self) -> Result<(), (String, String)> {
        for (id, c) in self.connectors.iter() {
            let path = format!("connectors.{id}");
            let routes = c.factory.routes();
            let from: Vec<Signal> = self
                .pipelines()
                .filter(|(_, _, p)| p.exporters.contains(id))
                .map(|(_, s, _)| s)
                .collect();
            let to: Vec<(String, Signal)> = self
                .pipelines()
                .filter_map(|(pid, s, p)| {
                    let i = p.receivers.iter().position(|r| r == id)?;
                    Some((format!("service.pipelines.{pid}.receivers[{i}]"), s))
                })
                .collect();
            let used = !from.is_empty() || !to.is_empty();
            if !used {
                continue;
            }
            if from.is_empty() {
                return Err((
                    path,
                    format!(
                        "connector {id} is a receiver of some pipeline but the exporter of none; \
                     list it under the exporters of the pipeline it takes data from"
                    ),
                ));
            }
            if to.is_empty() {
                return Err((
                    path,
                    format!(
                        "connector {id} is an exporter of some pipeline but the receiver of none; \
                     list it under the receivers of the pipeline it feeds"
                    ),
                ));
            }
            for (item, t) in &to {
                if !from.iter().any(|f| routes.contains(&(*f, *t))) {
                    let supported: Vec<String> =
                        routes.iter().map(|(a, b)| format!("{a} -> {b}")).collect();
                    return Err((
                        item.clone(),
                        format!(
                            "connector {id} cannot feed a {t} pipeline from the pipelines it \
                             exports from; it supports {}",
                            supported.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The body of `section.id` (or of `section` alone when `id` is `None`) as written, after
    /// `${env:}` substitution; `Null` when absent or empty. Two configurations whose bodies are
    /// equal here configure that component identically.
    pub(crate) fn raw(&self, section: &[&str], id: Option<&ComponentId>) -> &serde_yaml_ng::Value {
        static NULL: serde_yaml_ng::Value = serde_yaml_ng::Value::Null;
        let mut value = &self.raw;
        for key in section {
            value = value.get(*key).unwrap_or(&NULL);
        }
        match id {
            Some(id) => value.get(id.to_string()).unwrap_or(&NULL),
            None => value,
        }
    }

    /// How many pipelines the configuration runs.
    pub fn pipeline_count(&self) -> usize {
        self.pipelines().count()
    }

    /// The level filter for Lookout's own logs (`service.telemetry.logs.level`).
    pub fn log_level(&self) -> &str {
        &self.service.telemetry.logs.level
    }

    /// The pipelines, with their signal, in a stable order.
    pub(crate) fn pipelines(
        &self,
    ) -> impl Iterator<Item = (&ComponentId, Signal, &PipelineConfig)> {
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
