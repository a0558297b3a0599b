//! A map of components keyed by id, each body parsed by the factory its id's type names.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::component::factory::{
    AnyConfig, DynConnector, DynExporter, DynExtension, DynProcessor, DynReceiver, Kind, Registered,
};
use crate::component::registry;
use crate::core::ComponentId;

/// One kind of component (the receivers section, ...): its registry.
pub trait Family: 'static {
    /// The kind.
    const KIND: Kind;
    /// The erased factory trait of this kind.
    type Dyn: ?Sized + Registered + 'static;
    /// Every registered type of this kind.
    fn registry() -> &'static [&'static Self::Dyn];
}

/// `receivers:`.
#[derive(Debug)]
pub enum Receivers {}
/// `processors:`.
#[derive(Debug)]
pub enum Processors {}
/// `exporters:`.
#[derive(Debug)]
pub enum Exporters {}
/// `extensions:`.
#[derive(Debug)]
pub enum Extensions {}
/// `connectors:`.
#[derive(Debug)]
pub enum Connectors {}

impl Family for Receivers {
    const KIND: Kind = Kind::Receiver;
    type Dyn = dyn DynReceiver;
    fn registry() -> &'static [&'static Self::Dyn] {
        registry::RECEIVERS
    }
}

impl Family for Processors {
    const KIND: Kind = Kind::Processor;
    type Dyn = dyn DynProcessor;
    fn registry() -> &'static [&'static Self::Dyn] {
        registry::PROCESSORS
    }
}

impl Family for Exporters {
    const KIND: Kind = Kind::Exporter;
    type Dyn = dyn DynExporter;
    fn registry() -> &'static [&'static Self::Dyn] {
        registry::EXPORTERS
    }
}

impl Family for Extensions {
    const KIND: Kind = Kind::Extension;
    type Dyn = dyn DynExtension;
    fn registry() -> &'static [&'static Self::Dyn] {
        registry::EXTENSIONS
    }
}

impl Family for Connectors {
    const KIND: Kind = Kind::Connector;
    type Dyn = dyn DynConnector;
    fn registry() -> &'static [&'static Self::Dyn] {
        registry::CONNECTORS
    }
}

/// A configured component: its factory and its parsed, validated settings.
pub struct Configured<F: Family> {
    /// The factory of its type.
    pub factory: &'static F::Dyn,
    /// Its settings.
    pub config: Box<dyn AnyConfig>,
}

impl<F: Family> Configured<F> {
    /// Type name, signals, stability.
    pub fn about(&self) -> &'static crate::component::About {
        self.factory.about()
    }

    /// The settings as their concrete type (tests look inside; `lookout report` reads the
    /// store's directory).
    pub fn settings<T: 'static>(&self) -> Option<&T> {
        self.config.as_any().downcast_ref::<T>()
    }
}

impl<F: Family> fmt::Debug for Configured<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Configured")
            .field("type", &self.about().type_name)
            .field("config", &self.config)
            .finish()
    }
}

/// Components by id. Deserializing dispatches each body to its type's factory, so errors
/// inside a body keep their YAML location.
pub struct ComponentMap<F: Family> {
    entries: BTreeMap<ComponentId, Configured<F>>,
}

impl<F: Family> fmt::Debug for ComponentMap<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries.iter()).finish()
    }
}

impl<F: Family> Default for ComponentMap<F> {
    fn default() -> Self {
        ComponentMap {
            entries: BTreeMap::new(),
        }
    }
}

impl<F: Family> ComponentMap<F> {
    /// The component with this id.
    pub fn get(&self, id: &ComponentId) -> Option<&Configured<F>> {
        self.entries.get(id)
    }

    /// All ids.
    pub fn ids(&self) -> impl Iterator<Item = &ComponentId> {
        self.entries.keys()
    }

    /// All components.
    pub fn iter(&self) -> impl Iterator<Item = (&ComponentId, &Configured<F>)> {
        self.entries.iter()
    }
}

/// The factory registered for `type_name` (or one of its aliases).
pub(crate) fn factory<F: Family>(type_name: &str) -> Option<&'static F::Dyn> {
    F::registry().iter().copied().find(|f| {
        let about = f.about();
        about.type_name == type_name || about.aliases.contains(&type_name)
    })
}

impl<'de, F: Family> Deserialize<'de> for ComponentMap<F> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(MapVisitor(PhantomData))
    }
}

struct MapVisitor<F>(PhantomData<F>);

impl<'de, F: Family> Visitor<'de> for MapVisitor<F> {
    type Value = ComponentMap<F>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a map of {} ids to their settings", F::KIND)
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
            let Some(factory) = factory::<F>(id.kind()) else {
                let known: Vec<&str> = F::registry().iter().map(|f| f.about().type_name).collect();
                return Err(de::Error::custom(format!(
                    "unknown {what} type {kind:?}; supported {what}s: {}",
                    known.join(", "),
                    what = F::KIND,
                    kind = id.kind(),
                )));
            };
            let config = map.next_value_seed(BodySeed::<F> {
                factory,
                marker: PhantomData,
            })?;
            if entries
                .insert(id, Configured::<F> { factory, config })
                .is_some()
            {
                return Err(de::Error::custom(format!(
                    "{} {key} is defined twice",
                    F::KIND
                )));
            }
        }
        Ok(ComponentMap { entries })
    }
}

struct BodySeed<F: Family> {
    factory: &'static F::Dyn,
    marker: PhantomData<F>,
}

impl<'de, F: Family> DeserializeSeed<'de> for BodySeed<F> {
    type Value = Box<dyn AnyConfig>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let mut erased = <dyn erased_serde::Deserializer<'de>>::erase(deserializer);
        let config = self.factory.parse(&mut erased).map_err(de::Error::custom)?;
        config.validate().map_err(de::Error::custom)?;
        Ok(config)
    }
}

/// For optional sections where presence matters (`protocols: grpc:` enables gRPC even when
/// empty): a present key gives `Some`, an empty body giving the defaults.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(
        Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}
