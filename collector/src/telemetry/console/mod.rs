//! The web console on the admin listener: the single page at `/`, its files under `/console/`
//! (embedded, [`assets`]), and the JSON routes it needs that no component offers
//! (`/api/v1/pipelines`, `/api/v1/alerts`, `/api/v1/logs/tail`: [`api`], the last two from the
//! host's [`Recent`] lists). Traces and logs come from the `correlate`
//! processor's routes (`/api/v1/traces`), which the page calls directly.
//!
//! The telemetry server owns it (not a component): it answers whatever pipelines run, and a
//! reload that changes them changes the graph it draws ([`Console::set_config`]).

mod api;
mod assets;
mod graph;
mod rates;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use http::{Method, Response, StatusCode, header};
use serde::Serialize;

use super::Telemetry;
use crate::component::AdminRoutes;
use crate::config::Config;
use crate::core::recent::{Recent, TailQuery};
use crate::net::{self, Body};
use graph::Graph;
use rates::Rates;

/// The paths the console answers under; components may not mount routes there.
pub(crate) const PREFIXES: [&str; 4] = ["/console", PIPELINES, ALERTS, LOGS_TAIL];
const PIPELINES: &str = "/api/v1/pipelines";
const ALERTS: &str = "/api/v1/alerts";
const LOGS_TAIL: &str = "/api/v1/logs/tail";
/// Key of the process CPU counter among the sampled series (not a registered metric name).
const CPU_KEY: &str = "process_cpu_seconds";

/// The console's state, shared by every admin listener of the process (a reload that moves
/// the listener keeps it). Cheap to clone.
#[derive(Clone)]
pub(crate) struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    telemetry: Telemetry,
    graph: RwLock<Arc<Graph>>,
    rates: Mutex<Rates>,
    /// Recent episodes, alerts and log records, as components recorded them.
    recent: Arc<Recent>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Console")
    }
}

impl Console {
    /// The console of `config`'s pipelines, reading `telemetry` and what components record
    /// in `recent` (the host's shared [`Recent`]).
    pub(crate) fn new(telemetry: Telemetry, config: &Config, recent: Arc<Recent>) -> Console {
        Console {
            inner: Arc::new(Inner {
                telemetry,
                graph: RwLock::new(Arc::new(Graph::of(config))),
                rates: Mutex::new(Rates::new(Instant::now())),
                recent,
            }),
        }
    }

    /// The configuration now running (after a reload committed).
    pub(crate) fn set_config(&self, config: &Config) {
        *self
            .inner
            .graph
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(Graph::of(config));
    }

    /// The answer for `path` (with the request's `query` string), if the console owns it;
    /// `routes` are the components' routes (the page asks for `/api/v1/traces` only when a
    /// component serves it).
    pub(crate) fn answer(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        routes: &AdminRoutes,
    ) -> Option<Response<Body>> {
        let owned = path == "/"
            || PREFIXES
                .iter()
                .any(|p| path == *p || path.starts_with(&format!("{p}/")));
        if !owned {
            return None;
        }
        if method != Method::GET && method != Method::HEAD {
            return Some(text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"));
        }
        Some(match path {
            PIPELINES => {
                let graph = Arc::clone(
                    &self
                        .inner
                        .graph
                        .read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
                let (observed, cpu) = self.observe();
                let mounted = routes
                    .list()
                    .into_iter()
                    .map(|(prefix, _)| prefix)
                    .collect();
                json(&api::pipelines(
                    &graph,
                    &observed,
                    cpu,
                    super::rss_bytes(),
                    mounted,
                ))
            }
            ALERTS => {
                let graph = Arc::clone(
                    &self
                        .inner
                        .graph
                        .read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
                json(&api::alerts(&self.observe().0, &graph, &self.inner.recent))
            }
            LOGS_TAIL => {
                let params = crate::net::query::parse_query(query.unwrap_or(""));
                match TailQuery::from_params(params) {
                    Ok(q) => json(&self.inner.recent.logs().query(&q)),
                    Err(e) => text_owned(StatusCode::BAD_REQUEST, format!("{e}\n")),
                }
            }
            _ => match assets::find(path) {
                Some(asset) => Response::builder()
                    .header(header::CONTENT_TYPE, asset.content_type)
                    .header(header::CACHE_CONTROL, "no-cache")
                    .body(net::full(asset.body))
                    .unwrap_or_else(|_| Response::new(net::full(""))),
                None => text(StatusCode::NOT_FOUND, "no such console file\n"),
            },
        })
    }

    /// Every self-metric now, with rates, and the process CPU (seconds, per second).
    fn observe(&self) -> (rates::Observed, (Option<f64>, Option<f64>)) {
        let mut values = self.inner.telemetry.values();
        let cpu = super::process_cpu_seconds();
        if let Some(cpu) = cpu {
            values.push(super::SeriesValue {
                name: CPU_KEY.to_string(),
                labels: Vec::new(),
                value: cpu,
            });
        }
        let observed = self
            .inner
            .rates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .observe(Instant::now(), values);
        let key = (CPU_KEY.to_string(), Vec::new());
        let cpu_rate = observed.rate(&key);
        (observed, (cpu, cpu_rate))
    }
}

fn json(body: &impl Serialize) -> Response<Body> {
    match serde_json::to_vec(body) {
        Ok(bytes) => Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .body(net::full(bytes))
            .unwrap_or_else(|_| Response::new(net::full(""))),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "could not encode\n"),
    }
}

fn text_owned(status: StatusCode, text: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(net::full(text))
        .unwrap_or_else(|_| Response::new(net::full("")))
}

fn text(status: StatusCode, text: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(net::full(text))
        .unwrap_or_else(|_| Response::new(net::full("")))
}
