//! The component model: how a component type describes itself ([`factory`]), the list of
//! types this build has ([`registry`]), and the services components get from the collector
//! while they are built and run ([`host`], [`admin`], [`refs`], [`trace_sources`]).
//!
//! A component is a folder (`receivers/otlp/`, `processors/batch/`, ...) with its config
//! type, which validates itself, and a unit-struct factory implementing one of
//! [`ReceiverFactory`], [`ProcessorFactory`], [`ExporterFactory`], [`ExtensionFactory`] or
//! [`ConnectorFactory`]; registering it is one line in [`registry`]. The wiring in
//! [`crate::pipeline::build`] knows no component by name.

pub(crate) mod admin;
pub(crate) mod factory;
pub(crate) mod host;
pub(crate) mod refs;
pub(crate) mod registry;
pub(crate) mod supervise;
#[cfg(test)]
pub(crate) mod test_components;
pub(crate) mod trace_sources;

pub(crate) use admin::AdminRoutes;
pub(crate) use factory::{
    About, AnyConfig, BuiltExporter, ConnectorContext, ConnectorFactory, DynReceiver,
    ExporterFactory, Extension, ExtensionFactory, Factory, Kind, ProcessorFactory, ReceiverFactory,
    Registered, Stability, Swap, Validate,
};
pub(crate) use host::Host;
pub(crate) use refs::Refs;
