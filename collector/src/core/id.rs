//! Component ids: `type[/name]`.

use std::fmt;

use serde::Deserialize;

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
