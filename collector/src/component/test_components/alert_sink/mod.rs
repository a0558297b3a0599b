//! `extensions: test_alert_sink:` — an alert sink keeping every alert it is sent, for tests
//! of alert sources; offers itself as the `alerting` extension will ([`SinkService`]).

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::Error;
use crate::component::{
    About, Extension, ExtensionFactory, Factory as FactoryTrait, Host, Stability, Validate,
};
use crate::core::ComponentId;
use crate::core::alert::{Alert, AlertSink, SinkService};

/// Settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {}

impl Validate for Config {}

/// Alerts received, with the source that sent each.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub(crate) alerts: Mutex<Vec<(String, Alert)>>,
}

impl AlertSink for Collected {
    fn send(&self, source: &str, alert: Alert) {
        if let Ok(mut a) = self.alerts.lock() {
            a.push((source.to_string(), alert));
        }
    }
}

/// Builds `test_alert_sink` extensions.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = Config;
    const ABOUT: About = About {
        type_name: "test_alert_sink",
        aliases: &[],
        signals: &[],
        stability: Stability::Development,
    };
}

impl ExtensionFactory for Factory {
    fn start<'a>(
        &'a self,
        _config: &'a Config,
        id: &'a ComponentId,
        _host: &'a Host,
    ) -> BoxFuture<'a, Result<Extension, Error>> {
        Box::pin(async move {
            let collected = Arc::new(Collected::default());
            REGISTRY
                .lock()
                .map_err(|_| Error::component(id, "poisoned"))?
                .push((id.to_string(), Arc::clone(&collected)));
            let sink: Arc<dyn AlertSink> = collected;
            Ok(Extension {
                service: Some(Arc::new(SinkService::new(sink))),
                tasks: Vec::new(),
                swap: Some(crate::core::alert::swap_sinks),
            })
        })
    }
}

/// Every `test_alert_sink` started in this test process, by id.
pub(crate) static REGISTRY: Mutex<Vec<(String, Arc<Collected>)>> = Mutex::new(Vec::new());
