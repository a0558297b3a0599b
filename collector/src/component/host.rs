//! The services a component may use while it is built and while it runs: running extensions
//! by typed lookup, instances shared by several pipelines, routes on the admin listener, the
//! sources of the trace APIs,
//! self-metrics, health, and the shutdown token.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::admin::AdminRoutes;
use super::trace_sources::TraceSources;
use crate::Error;
use crate::core::{ComponentId, DEFAULT_HARD_LIMIT, DEFAULT_SOFT_LIMIT, MemoryBudget};
use crate::extensions::health_check::Health;
use crate::telemetry::Telemetry;

/// What an extension offers components, type-erased.
pub(crate) type Shared = Arc<dyn Any + Send + Sync>;

/// What components get from the collector (the Collector's `component.Host`, Vector's
/// `SourceContext`). Cheap to clone.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
    /// What [`Host::shutdown`] hands out: the collector's token, or a child of it for one
    /// extension instance (a reload stops a replaced extension alone).
    shutdown: CancellationToken,
}

struct Inner {
    telemetry: Telemetry,
    health: Health,
    admin: AdminRoutes,
    trace_sources: TraceSources,
    memory: MemoryBudget,
    /// Running extensions' services, by id (only those enabled in `service.extensions`).
    extensions: Mutex<BTreeMap<ComponentId, Option<Shared>>>,
    /// Instances shared by every pipeline listing a component, by key.
    shared: Mutex<BTreeMap<String, Shared>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Host {
    /// A host with no extension running yet.
    pub fn new(telemetry: Telemetry, health: Health, admin: AdminRoutes) -> Host {
        Host {
            inner: Arc::new(Inner {
                telemetry,
                health,
                admin,
                trace_sources: TraceSources::default(),
                memory: MemoryBudget::with_limits(DEFAULT_SOFT_LIMIT, DEFAULT_HARD_LIMIT),
                extensions: Mutex::new(BTreeMap::new()),
                shared: Mutex::new(BTreeMap::new()),
            }),
            shutdown: CancellationToken::new(),
        }
    }

    /// The same host, whose [`shutdown`](Host::shutdown) token also fires when `stop` is
    /// cancelled: what one extension instance is started with, so that a reload can stop it
    /// alone. `stop` must be a child of this host's token.
    pub(crate) fn scoped(&self, stop: CancellationToken) -> Host {
        Host {
            inner: Arc::clone(&self.inner),
            shutdown: stop,
        }
    }

    /// Self-metrics.
    pub fn telemetry(&self) -> &Telemetry {
        &self.inner.telemetry
    }

    /// Whether the collector reports itself ready.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// Routes on the admin listener (the one serving `/metrics`).
    pub fn admin(&self) -> &AdminRoutes {
        &self.inner.admin
    }

    /// The components that answer the trace APIs (a `correlate` window, the `store`).
    pub fn trace_sources(&self) -> &TraceSources {
        &self.inner.trace_sources
    }

    /// The process-wide budget of bytes in flight that receivers reserve before reading data
    /// (the `memory_limiter` processor sets its limits).
    pub fn memory(&self) -> &MemoryBudget {
        &self.inner.memory
    }

    /// Fires when the collector stops, after the data path drained: for components' own
    /// background tasks that are not part of the data path (servers, timers).
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Records a running extension's service (replacing what `id` offered before, which is
    /// returned).
    pub(crate) fn add_extension(
        &self,
        id: ComponentId,
        service: Option<Shared>,
    ) -> Option<Option<Shared>> {
        lock(&self.inner.extensions).insert(id, service)
    }

    /// Forgets extension `id` (stopped by a reload); returns what it offered.
    pub(crate) fn remove_extension(&self, id: &ComponentId) -> Option<Option<Shared>> {
        lock(&self.inner.extensions).remove(id)
    }

    /// The running extension `id`, as the type `T` it offers. Errors say whether it is not
    /// running or offers something else.
    pub fn extension<T: Any + Send + Sync>(&self, id: &ComponentId) -> Result<Arc<T>, String> {
        let extensions = lock(&self.inner.extensions);
        match extensions.get(id) {
            None => Err(format!(
                "extension {id} is not running (define it and list it in service.extensions)"
            )),
            Some(None) => Err(format!("extension {id} offers no service to components")),
            Some(Some(service)) => Arc::clone(service)
                .downcast::<T>()
                .map_err(|_| format!("extension {id} is not of the expected type")),
        }
    }

    /// The instance stored under `key`, made by `init` the first time it is asked for. This is
    /// how one component configured once and listed in several pipelines (possibly of
    /// different signals) keeps one state: its factory, called once per pipeline, asks for
    /// the same key (its id) each time — the Collector's `sharedcomponent`.
    pub fn shared<T, F>(&self, key: &str, init: F) -> Result<Arc<T>, Error>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Result<T, Error>,
    {
        let mut shared = lock(&self.inner.shared);
        if let Some(existing) = shared.get(key) {
            return Arc::clone(existing).downcast::<T>().map_err(|_| {
                Error::component(key, "internal error: shared instance of another type")
            });
        }
        let made = Arc::new(init()?);
        shared.insert(key.to_string(), Arc::clone(&made) as Shared);
        Ok(made)
    }

    /// The instance stored under `key`, if some component made one.
    pub fn find_shared<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        let shared = lock(&self.inner.shared);
        shared
            .get(key)
            .and_then(|s| Arc::clone(s).downcast::<T>().ok())
    }

    /// Drops the shared instances, so channels they hold close once their users are done.
    /// The registry of trace windows stays: extensions took it before the pipelines were
    /// built, and the windows a config reload builds must join the same one; so does the
    /// recent episodes, alerts and log records the console reads, and the alert history
    /// sinks.
    pub(crate) fn release_shared(&self) {
        lock(&self.inner.shared).retain(|key, _| {
            key == crate::core::alert::TRACE_LOGS_KEY
                || key == crate::core::recent::RECENT_KEY
                || key == crate::core::alert_history::ALERT_HISTORY_KEY
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::alert::{TRACE_LOGS_KEY, TraceLogsRegistry};
    use crate::core::recent::{RECENT_KEY, Recent};

    #[test]
    fn released_pipelines_keep_the_process_wide_registries() {
        let host = Host::new(Telemetry::new(), Health::default(), AdminRoutes::default());
        let recent = host.shared(RECENT_KEY, || Ok(Recent::default())).unwrap();
        let logs = host
            .shared(TRACE_LOGS_KEY, || Ok(TraceLogsRegistry::default()))
            .unwrap();
        let pipeline = host.shared("correlate:x", || Ok(1u8)).unwrap();
        host.release_shared();
        let again = host.shared(RECENT_KEY, || Ok(Recent::default())).unwrap();
        assert!(
            Arc::ptr_eq(&recent, &again),
            "the console's lists survive a reload"
        );
        let logs_again = host
            .shared(TRACE_LOGS_KEY, || Ok(TraceLogsRegistry::default()))
            .unwrap();
        assert!(Arc::ptr_eq(&logs, &logs_again));
        assert!(host.find_shared::<u8>("correlate:x").is_none());
        drop(pipeline);
    }
}
