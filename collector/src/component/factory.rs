//! The factory traits: what a component type tells about itself and how it is built.
//!
//! A component implements one typed trait ([`ReceiverFactory`], [`ProcessorFactory`],
//! [`ExporterFactory`], [`ExtensionFactory`] or [`ConnectorFactory`]) on a unit struct, with
//! its config type. The registry holds them as trait objects ([`DynReceiver`], ...), which the
//! blanket impls here derive from the typed traits, so a component never writes the erased
//! side by hand.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::host::Host;
use super::refs::Refs;
use crate::Error;
use crate::config::shared::{QueueConfig, RetryConfig};
use crate::core::{ComponentId, Consumer, Signal};
use crate::exporters::Export;
use crate::processors::ProcessorContext;
use crate::receivers::ReceiverContext;

/// The five component kinds, as the Collector has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Where data enters.
    Receiver,
    /// A stage of a pipeline.
    Processor,
    /// Where data leaves.
    Exporter,
    /// Outside the data path: services for other components.
    Extension,
    /// An exporter of one pipeline and a receiver of another.
    Connector,
}

impl Kind {
    /// "receiver", "processor", ...
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Extension => "extension",
            Kind::Connector => "connector",
        }
    }

    /// The config section (`receivers`, ...).
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Extension => "extensions",
            Kind::Connector => "connectors",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How settled a component is, as the Collector labels them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stability {
    /// Being built; settings may change.
    Development,
    /// Usable; settings may still change.
    Alpha,
    /// Settings stable; used in production.
    Beta,
    /// Stable.
    Stable,
}

impl Stability {
    /// The Collector's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stability::Development => "development",
            Stability::Alpha => "alpha",
            Stability::Beta => "beta",
            Stability::Stable => "stable",
        }
    }
}

/// What a component type tells about itself.
#[derive(Debug, Clone, Copy)]
pub struct About {
    /// The type name used in configs (`otlp`, `batch`).
    pub type_name: &'static str,
    /// Other names accepted for the type (`logging` for `debug`).
    pub aliases: &'static [&'static str],
    /// The signals it handles (for a connector: those it takes in).
    pub signals: &'static [Signal],
    /// How settled it is.
    pub stability: Stability,
}

/// A component's settings: checked by [`Validate::validate`] when the config is loaded, so
/// `lookout validate` refuses everything `lookout run` would.
pub trait Validate {
    /// Checks the settings on their own (cross-references go in the factory's `check_refs`).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A parsed config of any component type, as the config maps hold it.
pub trait AnyConfig: Any + fmt::Debug + Send + Sync {
    /// [`Validate::validate`].
    fn validate(&self) -> Result<(), String>;
    /// For downcasting to the factory's config type.
    fn as_any(&self) -> &dyn Any;
}

impl<T: Validate + fmt::Debug + Send + Sync + 'static> AnyConfig for T {
    fn validate(&self) -> Result<(), String> {
        Validate::validate(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What every factory has: its description and its config type. An empty body (`batch:`)
/// means `Config::default()`.
pub trait Factory: Send + Sync + 'static {
    /// The settings.
    type Config: DeserializeOwned + Default + Validate + fmt::Debug + Send + Sync + 'static;
    /// Type name, signals, stability.
    const ABOUT: About;

    /// Checks references to other components (an extension named in `storage:`); runs at
    /// load, after every component parsed.
    fn check_refs(
        _config: &Self::Config,
        _id: &ComponentId,
        _refs: &Refs<'_>,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// A receiver type.
pub trait ReceiverFactory: Factory {
    /// Binds what it listens on and starts its tasks; they stop when `ctx.shutdown` fires.
    fn start<'a>(
        &'a self,
        config: &'a Self::Config,
        ctx: ReceiverContext,
        host: &'a Host,
    ) -> BoxFuture<'a, Result<Vec<JoinHandle<()>>, Error>>;
}

/// A processor type. Built once per pipeline that lists it; state that must be one for all
/// those pipelines (possibly of different signals) comes from [`Host::shared`].
pub trait ProcessorFactory: Factory {
    /// Spawns the stage's task for one pipeline.
    fn spawn(
        &self,
        config: &Self::Config,
        stage: ProcessorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error>;
}

/// An exporter, ready to run behind its sending queue.
pub struct BuiltExporter {
    /// Sends one batch.
    pub export: Arc<dyn Export>,
    /// `sending_queue:`.
    pub queue: QueueConfig,
    /// `retry_on_failure:`.
    pub retry: RetryConfig,
}

impl fmt::Debug for BuiltExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltExporter")
            .field("queue", &self.queue)
            .field("retry", &self.retry)
            .finish()
    }
}

/// An exporter type. Built once, whatever the number of pipelines that list it.
pub trait ExporterFactory: Factory {
    /// The exporter holds what only one instance may hold at a time (a file it truncates or
    /// appends to, a port it binds): a config reload that changes it builds the new instance
    /// only once the old one has drained and stopped, instead of beside it.
    const EXCLUSIVE: bool = false;

    /// Builds the exporter (no I/O yet: connections open on first send).
    fn build(
        &self,
        config: &Self::Config,
        id: &ComponentId,
        host: &Host,
    ) -> Result<BuiltExporter, Error>;
}

/// A running extension: the service it offers other components, and its tasks.
pub struct Extension {
    /// What [`Host::extension`] hands out, by downcasting (`None`: nothing to hand out).
    pub service: Option<Arc<dyn Any + Send + Sync>>,
    /// Tasks, stopped by the host's shutdown token after everything else (or when a reload
    /// replaces or removes the extension).
    pub tasks: Vec<JoinHandle<()>>,
    /// How a reload hands a changed extension's new behaviour to the components that hold the
    /// running one's `service` (`None`: they are not updated in place; components built after
    /// the reload get the new service).
    pub swap: Option<Swap>,
}

/// Exchanges what two services of one extension type do — the running one and the one a
/// reload built from the changed config — so that every component holding the running one
/// (a receiver's authenticator, an alert source's sink) gets the new behaviour without being
/// rebuilt. Exchanging again undoes it. `false` when either is not of the expected type.
pub(crate) type Swap = fn(&(dyn Any + Send + Sync), &(dyn Any + Send + Sync)) -> bool;

impl fmt::Debug for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extension")
            .field("service", &self.service.is_some())
            .field("tasks", &self.tasks.len())
            .field("swap", &self.swap.is_some())
            .finish()
    }
}

/// An extension type.
pub trait ExtensionFactory: Factory {
    /// Starts the extension.
    fn start<'a>(
        &'a self,
        config: &'a Self::Config,
        id: &'a ComponentId,
        host: &'a Host,
    ) -> BoxFuture<'a, Result<Extension, Error>>;

    /// Files whose contents are part of the configuration (a token file, an htpasswd file):
    /// a reload starts the extension anew when one of them changed, even if its body did not.
    fn files(&self, _config: &Self::Config) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// What a connector task gets: what the pipelines it exports from send it, and where to hand
/// what it produces for the pipelines it receives for.
#[derive(Debug)]
pub struct ConnectorContext {
    /// The connector's id.
    pub id: ComponentId,
    /// Batches from the pipelines listing it as an exporter; closes once they all drained.
    pub input: tokio::sync::mpsc::Receiver<crate::core::Batch>,
    /// Per signal, the pipelines listing it as a receiver.
    pub outputs: [Option<Consumer>; 3],
}

impl ConnectorContext {
    /// Where to hand data of `signal`, if a pipeline of that signal lists the connector.
    pub fn output(&self, signal: Signal) -> Option<&Consumer> {
        self.outputs.get(signal as usize).and_then(Option::as_ref)
    }
}

/// A connector type: listed under `connectors:`, named as an exporter in the pipelines it
/// takes from and as a receiver in the pipelines it feeds.
pub trait ConnectorFactory: Factory {
    /// The (from, to) signal pairs it supports.
    const ROUTES: &'static [(Signal, Signal)];

    /// Prepares the connector before pipelines are built (e.g. registers a shared instance a
    /// processor of the same collector will look up).
    /// `feeds` are the signals of the pipelines listing it as a receiver.
    fn prepare(
        &self,
        _config: &Self::Config,
        _id: &ComponentId,
        _feeds: &[Signal],
        _host: &Host,
    ) -> Result<(), Error> {
        Ok(())
    }

    /// Spawns the connector's task, once every pipeline exists.
    fn spawn(
        &self,
        config: &Self::Config,
        ctx: ConnectorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error>;
}

// === The erased side, as the registry holds factories ===

/// Any registered factory, as config parsing sees it.
pub trait Registered: Send + Sync {
    /// Type name, signals, stability.
    fn about(&self) -> &'static About;
    /// Parses a body; `None` (an empty body) gives the defaults.
    fn parse(
        &self,
        body: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<Box<dyn AnyConfig>, erased_serde::Error>;
    /// [`Factory::check_refs`].
    fn check_refs(
        &self,
        config: &dyn AnyConfig,
        id: &ComponentId,
        refs: &Refs<'_>,
    ) -> Result<(), String>;
}

fn downcast<'a, T: 'static>(config: &'a dyn AnyConfig, type_name: &str) -> Result<&'a T, Error> {
    config.as_any().downcast_ref::<T>().ok_or_else(|| {
        Error::component(
            type_name,
            "internal error: config of another component type",
        )
    })
}

impl<F: Factory> Registered for F {
    fn about(&self) -> &'static About {
        &Self::ABOUT
    }

    fn parse(
        &self,
        body: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<Box<dyn AnyConfig>, erased_serde::Error> {
        let config: Option<F::Config> = erased_serde::deserialize(body)?;
        Ok(Box::new(config.unwrap_or_default()))
    }

    fn check_refs(
        &self,
        config: &dyn AnyConfig,
        id: &ComponentId,
        refs: &Refs<'_>,
    ) -> Result<(), String> {
        match config.as_any().downcast_ref::<F::Config>() {
            Some(c) => F::check_refs(c, id, refs),
            None => Err("internal error: config of another component type".into()),
        }
    }
}

/// A receiver factory, erased.
pub trait DynReceiver: Registered {
    /// [`ReceiverFactory::start`].
    fn start<'a>(
        &'a self,
        config: &'a dyn AnyConfig,
        ctx: ReceiverContext,
        host: &'a Host,
    ) -> BoxFuture<'a, Result<Vec<JoinHandle<()>>, Error>>;
}

impl<F: ReceiverFactory> DynReceiver for F {
    fn start<'a>(
        &'a self,
        config: &'a dyn AnyConfig,
        ctx: ReceiverContext,
        host: &'a Host,
    ) -> BoxFuture<'a, Result<Vec<JoinHandle<()>>, Error>> {
        match downcast::<F::Config>(config, F::ABOUT.type_name) {
            Ok(c) => ReceiverFactory::start(self, c, ctx, host),
            Err(err) => Box::pin(async move { Err(err) }),
        }
    }
}

/// A processor factory, erased.
pub trait DynProcessor: Registered {
    /// [`ProcessorFactory::spawn`].
    fn spawn(
        &self,
        config: &dyn AnyConfig,
        stage: ProcessorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error>;
}

impl<F: ProcessorFactory> DynProcessor for F {
    fn spawn(
        &self,
        config: &dyn AnyConfig,
        stage: ProcessorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        ProcessorFactory::spawn(self, downcast(config, F::ABOUT.type_name)?, stage, host)
    }
}

/// An exporter factory, erased.
pub trait DynExporter: Registered {
    /// [`ExporterFactory::EXCLUSIVE`].
    fn exclusive(&self) -> bool;

    /// [`ExporterFactory::build`].
    fn build(
        &self,
        config: &dyn AnyConfig,
        id: &ComponentId,
        host: &Host,
    ) -> Result<BuiltExporter, Error>;
}

impl<F: ExporterFactory> DynExporter for F {
    fn exclusive(&self) -> bool {
        F::EXCLUSIVE
    }

    fn build(
        &self,
        config: &dyn AnyConfig,
        id: &ComponentId,
        host: &Host,
    ) -> Result<BuiltExporter, Error> {
        ExporterFactory::build(self, downcast(config, F::ABOUT.type_name)?, id, host)
    }
}

/// An extension factory, erased.
pub trait DynExtension: Registered {
    /// [`ExtensionFactory::start`].
    fn start<'a>(
        &'a self,
        config: &'a dyn AnyConfig,
        id: &'a ComponentId,
        host: &'a Host,
    ) -> BoxFuture<'a, Result<Extension, Error>>;
    /// [`ExtensionFactory::files`].
    fn files(&self, config: &dyn AnyConfig) -> Vec<std::path::PathBuf>;
}

impl<F: ExtensionFactory> DynExtension for F {
    fn files(&self, config: &dyn AnyConfig) -> Vec<std::path::PathBuf> {
        downcast::<F::Config>(config, F::ABOUT.type_name)
            .map(|c| ExtensionFactory::files(self, c))
            .unwrap_or_default()
    }

    fn start<'a>(
        &'a self,
        config: &'a dyn AnyConfig,
        id: &'a ComponentId,
        host: &'a Host,
    ) -> BoxFuture<'a, Result<Extension, Error>> {
        match downcast::<F::Config>(config, F::ABOUT.type_name) {
            Ok(c) => ExtensionFactory::start(self, c, id, host),
            Err(err) => Box::pin(async move { Err(err) }),
        }
    }
}

/// A connector factory, erased.
pub trait DynConnector: Registered {
    /// [`ConnectorFactory::ROUTES`].
    fn routes(&self) -> &'static [(Signal, Signal)];
    /// [`ConnectorFactory::prepare`].
    fn prepare(
        &self,
        config: &dyn AnyConfig,
        id: &ComponentId,
        feeds: &[Signal],
        host: &Host,
    ) -> Result<(), Error>;
    /// [`ConnectorFactory::spawn`].
    fn spawn(
        &self,
        config: &dyn AnyConfig,
        ctx: ConnectorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error>;
}

impl<F: ConnectorFactory> DynConnector for F {
    fn routes(&self) -> &'static [(Signal, Signal)] {
        F::ROUTES
    }

    fn prepare(
        &self,
        config: &dyn AnyConfig,
        id: &ComponentId,
        feeds: &[Signal],
        host: &Host,
    ) -> Result<(), Error> {
        ConnectorFactory::prepare(self, downcast(config, F::ABOUT.type_name)?, id, feeds, host)
    }

    fn spawn(
        &self,
        config: &dyn AnyConfig,
        ctx: ConnectorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        ConnectorFactory::spawn(self, downcast(config, F::ABOUT.type_name)?, ctx, host)
    }
}
