//! Where alert state changes are kept beyond the console's in-memory list: a host service
//! (a shared instance under [`ALERT_HISTORY_KEY`]) that components keeping a history
//! register with (the `store` exporter), and that the `alerting` extension writes each state
//! change to. With no sink registered the changes go nowhere (the in-memory list still has
//! them). Sinks are held weakly: a store a reload replaced stops receiving once it is dropped.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::recent::AlertRecord;

/// The key of the [`AlertHistory`] among the host's shared instances. It survives config
/// reloads (`Host::release_shared`), like the other process-wide registries.
pub(crate) const ALERT_HISTORY_KEY: &str = "core:alert_history";

/// A component that keeps alert state changes.
pub(crate) trait AlertHistorySink: Send + Sync {
    /// Takes one state change (a newly firing alert, or a resolved one). Must not block: the
    /// alerting dispatcher calls it.
    fn record(&self, alert: &AlertRecord);
}

/// The alert history sinks of one collector.
#[derive(Default)]
pub(crate) struct AlertHistory {
    sinks: Mutex<Vec<Weak<dyn AlertHistorySink>>>,
}

impl std::fmt::Debug for AlertHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertHistory").finish_non_exhaustive()
    }
}

impl AlertHistory {
    /// Adds a sink (held weakly: it stops receiving once dropped).
    pub(crate) fn register(&self, sink: &Arc<dyn AlertHistorySink>) {
        self.lock().push(Arc::downgrade(sink));
    }

    /// Hands one state change to every live sink (the lock is not held while they take it).
    pub(crate) fn record(&self, alert: &AlertRecord) {
        let live: Vec<Arc<dyn AlertHistorySink>> = {
            let mut sinks = self.lock();
            sinks.retain(|s| s.strong_count() > 0);
            sinks.iter().filter_map(Weak::upgrade).collect()
        };
        for sink in live {
            sink.record(alert);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<dyn AlertHistorySink>>> {
        self.sinks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(Mutex<Vec<String>>);

    impl AlertHistorySink for Count {
        fn record(&self, alert: &AlertRecord) {
            self.0.lock().unwrap().push(alert.fingerprint.clone());
        }
    }

    fn alert(fp: &str) -> AlertRecord {
        AlertRecord {
            fingerprint: fp.into(),
            state: "firing",
            labels: Default::default(),
            annotations: Default::default(),
            starts_at_ms: 1,
            ends_at_ms: None,
            updated_at_ms: 1,
            notifiers: vec![],
            trace_ids: vec![],
        }
    }

    #[test]
    fn live_sinks_get_each_change_and_dropped_ones_are_forgotten() {
        let history = AlertHistory::default();
        history.record(&alert("none"));
        let kept = Arc::new(Count(Mutex::new(vec![])));
        let kept_dyn: Arc<dyn AlertHistorySink> = kept.clone();
        let dropped: Arc<dyn AlertHistorySink> = Arc::new(Count(Mutex::new(vec![])));
        history.register(&kept_dyn);
        history.register(&dropped);
        drop(dropped);
        history.record(&alert("a"));
        assert_eq!(*kept.0.lock().unwrap(), vec!["a".to_string()]);
        assert_eq!(history.lock().len(), 1);
    }
}
