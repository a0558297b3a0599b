//! `exporters: test_memory:` — keeps every batch it is sent, for tests to read.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::Error;
use crate::component::{
    About, BuiltExporter, ExporterFactory, Factory as FactoryTrait, Host, Stability, Validate,
};
use crate::config::shared::{QueueConfig, RetryConfig};
use crate::core::{Batch, ComponentId, Signal};
use crate::exporters::{Export, ExportError};

/// Settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {}

impl Validate for Config {}

/// What the exporters of one id received: (signal, items) per batch.
#[derive(Debug, Default)]
pub(crate) struct Received {
    pub(crate) batches: Mutex<Vec<(Signal, usize)>>,
}

struct Memory {
    received: Arc<Received>,
}

impl Export for Memory {
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        if let Ok(mut b) = self.received.batches.lock() {
            b.push((batch.signal, batch.items));
        }
        Box::pin(async { Ok(()) })
    }
}

/// Builds `test_memory` exporters.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = Config;
    const ABOUT: About = About {
        type_name: "test_memory",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Development,
    };
}

impl ExporterFactory for Factory {
    fn build(
        &self,
        _config: &Config,
        id: &ComponentId,
        host: &Host,
    ) -> Result<BuiltExporter, Error> {
        let received: Arc<Received> =
            host.shared(&format!("test_memory/{id}"), || Ok(Received::default()))?;
        // A test reads it after shutdown, when the build-time shared map is gone.
        REGISTRY
            .lock()
            .map_err(|_| Error::component(id, "poisoned"))?
            .push((id.to_string(), Arc::clone(&received)));
        Ok(BuiltExporter {
            export: Arc::new(Memory { received }),
            queue: QueueConfig {
                num_consumers: crate::config::shared::NumConsumers::Fixed(1),
                ..QueueConfig::default()
            },
            retry: RetryConfig::default(),
        })
    }
}

/// Every `test_memory` exporter built in this test process, by id.
pub(crate) static REGISTRY: Mutex<Vec<(String, Arc<Received>)>> = Mutex::new(Vec::new());
