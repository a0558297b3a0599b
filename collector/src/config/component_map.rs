//! A map of components keyed by id, whose body type is chosen by the id's type.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::ComponentId;

/// A family of component configurations (receivers, processors, ...).
pub trait ComponentKind: Sized {
    /// "receiver", "exporter", ...
    const WHAT: &'static str;
    /// Deserializes the body of a component of type `kind`. An unknown type is an error that
    /// lists the supported ones.
    fn deserialize_body<'de, D: Deserializer<'de>>(kind: &str, body: D) -> Result<Self, D::Error>;
}

/// Components by id. Deserializing dispatches each body on its id's type, so errors inside a
/// body keep their YAML location.
#[derive(Debug)]
pub struct ComponentMap<T> {
    entries: BTreeMap<ComponentId, T>,
}

impl<T> Default for ComponentMap<T> {
    fn default() -> Self {
        ComponentMap {
            entries: BTreeMap::new(),
        }
    }
}

impl<T> ComponentMap<T> {
    /// The component with this id.
    pub fn get(&self, id: &ComponentId) -> Option<&T> {
        self.entries.get(id)
    }

    /// All ids.
    pub fn ids(&self) -> impl Iterator<Item = &ComponentId> {
        self.entries.keys()
    }

    /// All components.
    pub fn iter(&self) -> impl Iterator<Item = (&ComponentId, &T)> {
        self.entries.iter()
    }
}

impl<'de, T: ComponentKind> Deserialize<'de> for ComponentMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(MapVisitor(PhantomData))
    }
}

struct MapVisitor<T>(PhantomData<T>);

impl<'de, T: ComponentKind> Visitor<'de> for MapVisitor<T> {
    type Value = ComponentMap<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a map of {} ids to their settings", T::WHAT)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ComponentMap::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ComponentMap::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let id = ComponentId::parse(&key).map_err(de::Error::custom)?;
            let body = map.next_value_seed(BodySeed::<T> {
                kind: id.kind().to_string(),
                marker: PhantomData,
            })?;
            if entries.insert(id, body).is_some() {
                return Err(de::Error::custom(format!(
                    "{} {key} is defined twice",
                    T::WHAT
                )));
            }
        }
        Ok(ComponentMap { entries })
    }
}

struct BodySeed<T> {
    kind: String,
    marker: PhantomData<T>,
}

impl<'de, T: ComponentKind> DeserializeSeed<'de> for BodySeed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::deserialize_body(&self.kind, deserializer)
    }
}

/// Deserializes a component body where an empty body (`batch:`) means all defaults.
pub(crate) fn body_or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// For optional sections where presence matters (`protocols: grpc:` enables gRPC even when
/// empty): a present key gives `Some`, an empty body giving the defaults.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    body_or_default(deserializer).map(Some)
}
