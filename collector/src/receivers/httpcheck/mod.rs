//! The httpcheck receiver: probes HTTP endpoints on an interval and reports status class,
//! duration, errors and, for HTTPS, the certificate's remaining lifetime, named as the
//! Collector's `httpcheckreceiver`.
//!
//! Every failure of a target (refused, timed out, DNS, 5xx) is data about that target: the
//! receiver never stops, and targets are probed concurrently so one slow target cannot delay
//! another's report.

pub(crate) mod cert;
pub(crate) mod config;
mod factory;
mod probe;
#[cfg(test)]
mod tests;

pub(crate) use factory::Factory;
use std::sync::Arc;

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::metrics::v1::{ResourceMetrics, ScopeMetrics};
use tokio::task::JoinHandle;

pub(crate) use config::HttpCheckConfig;

use self::probe::Target;
use super::ReceiverContext;
use super::scraping::{self, Schedule};
use crate::Error;
use crate::core::Signal;
use crate::core::otlp_build::scope;

impl HttpCheckConfig {
    /// Checks the settings and prepares one probe per endpoint.
    pub(crate) fn targets(&self) -> Result<Vec<Target>, String> {
        if self.collection_interval.is_zero() {
            return Err("collection_interval must be greater than zero".into());
        }
        let mut out = Vec::new();
        for (i, target) in self.targets.iter().enumerate() {
            let endpoints = std::iter::once(&target.endpoint)
                .filter(|e| !e.is_empty())
                .chain(&target.endpoints);
            let before = out.len();
            for endpoint in endpoints {
                out.push(
                    Target::new(endpoint, target, self.timeout)
                        .map_err(|e| format!("targets[{i}]: {e}"))?,
                );
            }
            if out.len() == before {
                return Err(format!("targets[{i}]: no endpoint"));
            }
        }
        if out.is_empty() {
            return Err("no targets configured".into());
        }
        Ok(out)
    }
}

impl crate::component::Validate for HttpCheckConfig {
    fn validate(&self) -> Result<(), String> {
        self.targets().map(drop)
    }
}

/// Starts the probe loop; it stops when the context's shutdown fires.
pub(crate) async fn start(
    config: &HttpCheckConfig,
    ctx: ReceiverContext,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let targets: Arc<[Target]> = config
        .targets()
        .map_err(|e| Error::component(format!("receivers.{}", ctx.id), e))?
        .into();
    let Some(consumer) = ctx.consumer(Signal::Metrics).cloned() else {
        return Ok(Vec::new());
    };
    let metrics = ctx
        .telemetry
        .receiver(&ctx.id.to_string(), "http", Signal::Metrics);
    let schedule = Schedule {
        interval: config.collection_interval,
        initial_delay: config.initial_delay,
    };
    let task = tokio::spawn(scraping::run(
        schedule,
        consumer,
        metrics,
        ctx.shutdown.clone(),
        move || {
            let targets = Arc::clone(&targets);
            async move { check_all(&targets).await }
        },
    ));
    Ok(vec![task])
}

/// Probes every target concurrently and gathers the results into one request.
pub(crate) async fn check_all(targets: &[Target]) -> ExportMetricsServiceRequest {
    let results = futures::future::join_all(targets.iter().map(Target::check)).await;
    let metrics = results.into_iter().flatten().collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope("lookout/receiver/httpcheck")),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
