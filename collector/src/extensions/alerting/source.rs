//! How an alert source (`latency_anomaly`, `alert_rules`) names the extension it sends to with
//! `alerting: <id>`: one reference check for `validate`, one lookup at build time.

use std::sync::Arc;

use crate::component::{Host, Refs};
use crate::core::ComponentId;
use crate::core::alert::{AlertSink, SinkService};

/// Checks that `alerting: <id>` names an enabled `alerting` extension (in unit tests, also
/// the `test_alert_sink` stand-in).
pub(crate) fn check_ref(id: Option<&ComponentId>, refs: &Refs<'_>) -> Result<(), String> {
    let Some(id) = id else {
        return Ok(());
    };
    match refs.enabled_extension(id) {
        Ok("alerting") => Ok(()),
        #[cfg(test)]
        Ok("test_alert_sink") => Ok(()),
        Ok(other) => Err(format!(
            "alerting: extension {id} is a {other} extension, not an alerting one"
        )),
        Err(e) => Err(format!("alerting: {e}")),
    }
}

/// The [`AlertSink`] the running extension `id` offers (as a [`SinkService`]).
pub(crate) fn sink(host: &Host, id: &ComponentId) -> Result<Arc<dyn AlertSink>, String> {
    host.extension::<SinkService>(id)
        .map(|s| s.sink())
        .map_err(|e| format!("alerting: {e}"))
}
