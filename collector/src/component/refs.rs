//! What a factory may ask about the rest of the configuration when it checks its references
//! ([`super::Factory::check_refs`]), without seeing other components' settings.

use crate::config::Config;
use crate::core::{ComponentId, Signal};

/// A read-only view of the configuration's components and pipelines.
#[derive(Debug, Clone, Copy)]
pub struct Refs<'a> {
    config: &'a Config,
}

impl<'a> Refs<'a> {
    pub(crate) fn new(config: &'a Config) -> Refs<'a> {
        Refs { config }
    }

    /// The type of extension `id` when it is defined and enabled in `service.extensions`;
    /// otherwise an error saying which of the two is missing.
    pub fn enabled_extension(&self, id: &ComponentId) -> Result<&'static str, String> {
        let Some(ext) = self.config.extensions.get(id) else {
            return Err(format!("extension {id} is not defined"));
        };
        if !self.config.service.extensions.contains(id) {
            return Err(format!(
                "extension {id} is not enabled in service.extensions"
            ));
        }
        Ok(ext.about().type_name)
    }

    /// The settings of extension `id` as their concrete type, if it is defined with that type.
    pub(crate) fn extension_settings<T: 'static>(&self, id: &ComponentId) -> Option<&'a T> {
        self.config.extensions.get(id)?.settings::<T>()
    }

    /// Whether processor `id` is defined and listed in a pipeline.
    pub fn processor_in_use(&self, id: &ComponentId) -> bool {
        self.config.processors.get(id).is_some()
            && self
                .config
                .pipelines()
                .any(|(_, _, p)| p.processors.contains(id))
    }

    /// The pipelines of `signal` that list processor `id`, in configuration order.
    pub fn pipelines_with_processor(&self, id: &ComponentId, signal: Signal) -> Vec<String> {
        self.config
            .pipelines()
            .filter(|(_, s, p)| *s == signal && p.processors.contains(id))
            .map(|(name, _, _)| name.to_string())
            .collect()
    }
}
