//! `extensions: alerting:` settings.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::notifiers::config::NotifierConfig;
use super::route::Route;
use crate::component::Validate;

/// The whole extension body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertingConfig {
    /// Base URL for links back to the collector (e.g. the admin listener). Optional.
    #[serde(default)]
    pub(crate) external_url: String,
    /// Named notifiers.
    #[serde(default)]
    pub(crate) notifiers: BTreeMap<String, NotifierConfig>,
    /// The routing tree's root.
    #[serde(default)]
    pub(crate) route: RouteConfig,
    /// At most this many notifications per minute per notifier.
    #[serde(default)]
    pub(crate) rate_limit: RateLimitConfig,
    /// Alerts waiting for the dispatcher; when full, new ones are dropped (counted) so that
    /// sources never wait. Default 1000.
    #[serde(default = "default_queue_size")]
    pub(crate) queue_size: usize,
    /// A firing alert its source has not sent again for this long is taken as resolved, as
    /// Alertmanager's `resolve_timeout`. Default 5m.
    #[serde(default = "default_resolve_timeout", with = "humantime_serde")]
    pub(crate) resolve_timeout: Duration,
    /// Fill an alert's missing host evidence (CPU, memory, load) when it first arrives.
    /// Default true.
    #[serde(default = "yes")]
    pub(crate) host_snapshot: bool,
}

fn default_queue_size() -> usize {
    1000
}

fn default_resolve_timeout() -> Duration {
    Duration::from_secs(300)
}

fn yes() -> bool {
    true
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            external_url: String::new(),
            notifiers: BTreeMap::new(),
            route: RouteConfig::default(),
            rate_limit: RateLimitConfig::default(),
            queue_size: default_queue_size(),
            resolve_timeout: default_resolve_timeout(),
            host_snapshot: true,
        }
    }
}

/// One node of `route:` (the root or one of its `routes`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteConfig {
    /// Alertmanager matchers (`severity = "critical"`, `service.name =~ "check.*"`); all must
    /// match. Not on the root.
    #[serde(default)]
    pub(crate) matchers: Vec<String>,
    /// Notifier names; inherited when unset.
    #[serde(default)]
    pub(crate) notifiers: Option<Vec<String>>,
    /// Labels forming a group; `['...']` for every label. Inherited when unset; the root's
    /// default is none (one group).
    #[serde(default)]
    pub(crate) group_by: Option<Vec<String>>,
    /// Inherited when unset; the root's default is 30s.
    #[serde(default, with = "humantime_serde")]
    pub(crate) group_wait: Option<Duration>,
    /// Inherited when unset; the root's default is 5m.
    #[serde(default, with = "humantime_serde")]
    pub(crate) group_interval: Option<Duration>,
    /// Inherited when unset; the root's default is 4h.
    #[serde(default, with = "humantime_serde")]
    pub(crate) repeat_interval: Option<Duration>,
    /// Go on to the next sibling after this route matched.
    #[serde(default, rename = "continue")]
    pub(crate) continue_: bool,
    /// Child routes, tried in order.
    #[serde(default)]
    pub(crate) routes: Vec<RouteConfig>,
}

/// `rate_limit:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RateLimitConfig {
    /// Notifications per notifier per minute; further ones are dropped and counted.
    /// Default 60.
    pub(crate) max_notifications_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            max_notifications_per_minute: 60,
        }
    }
}

impl Validate for AlertingConfig {
    fn validate(&self) -> Result<(), String> {
        if self.queue_size == 0 {
            return Err("queue_size must be >= 1".into());
        }
        if self.resolve_timeout.is_zero() {
            return Err("resolve_timeout must be > 0".into());
        }
        if self.rate_limit.max_notifications_per_minute == 0 {
            return Err("rate_limit.max_notifications_per_minute must be >= 1".into());
        }
        if !self.external_url.is_empty() {
            reqwest::Url::parse(&self.external_url)
                .map_err(|e| format!("external_url {:?}: {e}", self.external_url))?;
        }
        for (name, n) in &self.notifiers {
            let at = format!("notifiers.{name}.{}", n.kind.name());
            n.delivery.check().map_err(|e| format!("{at}.{e}"))?;
            // Building reads CA files and parses URLs and headers: fail at load, not later.
            n.kind
                .build(&n.delivery)
                .map_err(|e| format!("{at}: {e}"))?;
        }
        let root = Route::build(&self.route)?;
        if root.notifiers.is_empty() {
            return Err("route.notifiers: the root route needs at least one notifier".into());
        }
        check_names(&self.route, "route", &self.notifiers)
    }
}

fn check_names(
    r: &RouteConfig,
    path: &str,
    known: &BTreeMap<String, NotifierConfig>,
) -> Result<(), String> {
    for name in r.notifiers.iter().flatten() {
        if !known.contains_key(name) {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            return Err(format!(
                "{path}.notifiers: no notifier named {name:?} (defined: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
    }
    for (i, child) in r.routes.iter().enumerate() {
        check_names(child, &format!("{path}.routes[{i}]"), known)?;
    }
    Ok(())
}
