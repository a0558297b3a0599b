//! `processors: test_shared_counter:` — counts the items of every pipeline that lists it in
//! one shared state, whatever their signal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::Error;
use crate::component::{
    About, Factory as FactoryTrait, Host, ProcessorFactory, Stability, Validate,
};
use crate::core::{ComponentId, Signal};
use crate::processors::ProcessorContext;

/// Settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// Refuse to load when zero, to show validation at load.
    pub(crate) scale: Option<u64>,
}

impl Validate for Config {
    fn validate(&self) -> Result<(), String> {
        match self.scale {
            Some(0) => Err("scale must be >= 1".into()),
            _ => Ok(()),
        }
    }
}

/// The state every pipeline listing one instance shares.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Items seen, by signal.
    pub(crate) items: [AtomicU64; 3],
    /// Pipelines attached.
    pub(crate) pipelines: AtomicU64,
}

/// Builds `test_shared_counter` processors.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = Config;
    const ABOUT: About = About {
        type_name: "test_shared_counter",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Development,
    };
}

impl ProcessorFactory for Factory {
    fn spawn(
        &self,
        config: &Config,
        mut stage: ProcessorContext,
        host: &Host,
    ) -> Result<JoinHandle<()>, Error> {
        let counts: Arc<Arc<Counts>> = host.shared(&stage.id, || {
            let counts = Arc::new(Counts::default());
            if let Ok(mut all) = COUNTERS.lock() {
                all.push((stage.id.clone(), Arc::clone(&counts)));
            }
            // One route for the one instance, on the admin listener.
            let served = Arc::clone(&counts);
            let owner =
                ComponentId::parse(&stage.id).map_err(|e| Error::component(&stage.id, e))?;
            host.admin()
                .mount(
                    &owner,
                    &format!("/api/test/{}", stage.id.replace('/', "_")),
                    Arc::new(move |_req| {
                        let body = format!(
                            "{{\"traces\":{},\"logs\":{}}}",
                            served.items[Signal::Traces as usize].load(Ordering::Relaxed),
                            served.items[Signal::Logs as usize].load(Ordering::Relaxed)
                        );
                        Box::pin(async move { http::Response::new(crate::net::full(body)) })
                    }),
                )
                .map_err(|e| Error::component(&stage.id, e))?;
            Ok(counts)
        })?;
        let counts = Arc::clone(&counts);
        counts.pipelines.fetch_add(1, Ordering::Relaxed);
        let scale = config.scale.unwrap_or(1);
        Ok(tokio::spawn(async move {
            while let Some(batch) = stage.input.recv().await {
                if let Some(slot) = counts.items.get(batch.signal as usize) {
                    slot.fetch_add(batch.items as u64 * scale, Ordering::Relaxed);
                }
                stage.output.send(batch).await;
            }
        }))
    }
}

/// Every shared state made in this test process, by processor id.
pub(crate) static COUNTERS: Mutex<Vec<(String, Arc<Counts>)>> = Mutex::new(Vec::new());
