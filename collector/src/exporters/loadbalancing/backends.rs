//! The backends: one `otlp` exporter with its own sending queue and retry per endpoint the
//! resolver gives, their health, and the ring over those that are up. A background task
//! re-resolves DNS, takes backends whose failure streak is too long off the ring, and probes
//! those that are off.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio_util::sync::CancellationToken;

use super::config::{DnsResolver, LoadBalancingConfig};
use super::health::{Health, Tracked};
use super::ring::Ring;
use crate::core::{Batch, Signal};
use crate::exporters::otlp::OtlpGrpcExporter;
use crate::exporters::{Export, queue};
use crate::pipeline::ExporterInput;
use crate::telemetry::Telemetry;

/// One backend.
pub(crate) struct Backend {
    /// `host:port`.
    pub(crate) endpoint: String,
    /// Its sending queue.
    pub(crate) input: ExporterInput,
    pub(crate) health: Arc<Health>,
    exporter: Arc<OtlpGrpcExporter>,
    /// `lookout_loadbalancer_backend_outcome_total{success="true"|"false"}`.
    outcomes: [Counter; 2],
}

impl Backend {
    /// Counts how a piece sent to it ended.
    pub(crate) fn count(&self, delivered: bool) {
        self.outcomes[usize::from(delivered)].inc();
    }
}

/// The backends at one moment, and the ring over those up.
pub(crate) struct Members {
    generation: u64,
    pub(crate) list: Vec<Arc<Backend>>,
    /// Over `list` (member `i` is `list[i]`), without the backends that are down.
    pub(crate) ring: Ring,
}

/// Every backend of one `loadbalancing` exporter.
pub(crate) struct Backends {
    id: String,
    config: LoadBalancingConfig,
    telemetry: Telemetry,
    /// Makes the backends' queues give up retrying (the exporter is gone).
    abort: CancellationToken,
    generation: Arc<AtomicU64>,
    members: RwLock<Arc<Members>>,
    up: Gauge,
    down: Gauge,
    resolutions: [Counter; 2],
}

impl Backends {
    pub(crate) fn new(
        id: String,
        config: LoadBalancingConfig,
        telemetry: Telemetry,
        abort: CancellationToken,
    ) -> Backends {
        let state = |s: &str| {
            telemetry.gauge(
                "loadbalancer_backends",
                "Backends of a loadbalancing exporter, on the ring (up) or off it (down).",
                vec![("exporter", id.clone()), ("state", s.to_string())],
            )
        };
        let resolution = |ok: bool| {
            telemetry.counter(
                "loadbalancer_resolutions",
                "Resolutions of the loadbalancing exporter's DNS resolver.",
                vec![("exporter", id.clone()), ("success", ok.to_string())],
            )
        };
        Backends {
            up: state("up"),
            down: state("down"),
            resolutions: [resolution(false), resolution(true)],
            id,
            config,
            telemetry,
            abort,
            generation: Arc::new(AtomicU64::new(1)),
            members: RwLock::new(Arc::new(Members {
                generation: 0,
                list: Vec::new(),
                ring: Ring::default(),
            })),
        }
    }

    /// The backends now (the ring rebuilt first if a backend went up or down).
    pub(crate) fn members(&self) -> Arc<Members> {
        let current = self.generation.load(Ordering::Acquire);
        {
            let members = self.members.read().unwrap_or_else(PoisonError::into_inner);
            if members.generation == current {
                return Arc::clone(&members);
            }
        }
        let mut members = self.members.write().unwrap_or_else(PoisonError::into_inner);
        let list = members.list.clone();
        *members = Arc::new(self.snapshot(list, current));
        Arc::clone(&members)
    }

    fn snapshot(&self, list: Vec<Arc<Backend>>, generation: u64) -> Members {
        let ring = Ring::new(list.iter().map(|b| b.endpoint.as_str()))
            .without(|i| list[i].health.is_down());
        let down = list.iter().filter(|b| b.health.is_down()).count();
        self.up.set((list.len() - down) as i64);
        self.down.set(down as i64);
        Members {
            generation,
            list,
            ring,
        }
    }

    /// Makes `endpoints` the backends: the ones already there are kept (with what they hold),
    /// new ones get an exporter and a queue, the others are let go (their queues drain: every
    /// piece in them is awaited by the export that routed it, which sends it again if it fails).
    pub(crate) fn set(&self, mut endpoints: Vec<String>) {
        endpoints.sort();
        endpoints.dedup();
        let mut members = self.members.write().unwrap_or_else(PoisonError::into_inner);
        if members
            .list
            .iter()
            .map(|b| &b.endpoint)
            .eq(endpoints.iter())
        {
            return;
        }
        let list: Vec<Arc<Backend>> = endpoints
            .iter()
            .filter_map(|e| match members.list.iter().find(|b| &b.endpoint == e) {
                Some(b) => Some(Arc::clone(b)),
                None => self.spawn(e).map(Arc::new),
            })
            .collect();
        tracing::info!(exporter = %self.id, backends = ?endpoints, "loadbalancing: backends");
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        *members = Arc::new(self.snapshot(list, generation));
    }

    fn spawn(&self, endpoint: &str) -> Option<Backend> {
        let otlp = self.config.backend(endpoint);
        let name = format!("{}/{endpoint}", self.id);
        let exporter = match OtlpGrpcExporter::new(name.clone(), &otlp) {
            Ok(e) => Arc::new(e),
            Err(e) => {
                tracing::error!(exporter = %self.id, backend = endpoint, error = %e, "loadbalancing: backend skipped");
                return None;
            }
        };
        let labels = |extra: Vec<(&'static str, String)>| {
            let mut l = vec![
                ("exporter", self.id.clone()),
                ("backend", endpoint.to_string()),
            ];
            l.extend(extra);
            l
        };
        let health = Arc::new(Health::new(
            endpoint.to_string(),
            self.config.backend_down_after,
            Arc::clone(&self.generation),
            self.telemetry.counter(
                "loadbalancer_backend_down",
                "Times a backend of a loadbalancing exporter was taken off the ring (failing for backend_down_after).",
                labels(vec![]),
            ),
        ));
        let outcome = |ok: bool| {
            self.telemetry.counter(
                "loadbalancer_backend_outcome",
                "Pieces of requests a loadbalancing exporter sent to a backend, by outcome (a failed piece is routed again).",
                labels(vec![("success", ok.to_string())]),
            )
        };
        // A batch stops retrying on a backend once the backend could be off the ring: the load
        // balancer then routes it again.
        let mut retry = otlp.retry_on_failure.clone();
        if retry.max_elapsed_time.is_zero()
            || retry.max_elapsed_time > self.config.backend_down_after
        {
            retry.max_elapsed_time = self.config.backend_down_after;
        }
        let tracked: Arc<dyn Export> = Arc::new(Tracked {
            inner: Arc::clone(&exporter),
            health: Arc::clone(&health),
        });
        // The queue's senders end once its input is dropped and it is empty: they need no
        // joining (each piece they hold is awaited by the export that routed it).
        let (input, _senders) = queue::spawn(
            name.clone(),
            tracked,
            &otlp.sending_queue,
            retry,
            self.telemetry.exporter(&name, None),
            self.abort.clone(),
        );
        Some(Backend {
            endpoint: endpoint.to_string(),
            input,
            health,
            exporter,
            outcomes: [outcome(false), outcome(true)],
        })
    }

    /// The background task: re-resolves DNS (if that is the resolver), takes backends with a
    /// long failure streak off the ring and probes those off it, until `stop` fires.
    pub(crate) async fn run(self: Arc<Self>, dns: Option<DnsResolver>, stop: CancellationToken) {
        let down_after = self.config.backend_down_after;
        let tick = (down_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let mut next_resolution = Instant::now();
        loop {
            if let Some(dns) = &dns
                && Instant::now() >= next_resolution
            {
                self.resolve(dns).await;
                next_resolution = Instant::now() + dns.interval;
            }
            let members = self.members();
            for b in &members.list {
                if b.health.is_down() {
                    self.probe(b).await;
                } else {
                    b.health.check_streak();
                }
            }
            let wait = match &dns {
                Some(_) => tick.min(next_resolution.saturating_duration_since(Instant::now())),
                None => tick,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    async fn resolve(&self, dns: &DnsResolver) {
        let lookup = tokio::net::lookup_host((dns.hostname.as_str(), dns.port));
        match tokio::time::timeout(dns.timeout, lookup).await {
            Ok(Ok(addrs)) => {
                self.resolutions[1].inc();
                let endpoints: Vec<String> = addrs.map(|a| a.to_string()).collect();
                if endpoints.is_empty() {
                    tracing::warn!(exporter = %self.id, hostname = %dns.hostname, "loadbalancing: name resolved to no address; backends kept");
                } else {
                    self.set(endpoints);
                }
            }
            Ok(Err(e)) => {
                self.resolutions[0].inc();
                tracing::warn!(exporter = %self.id, hostname = %dns.hostname, error = %e, "loadbalancing: resolution failed; backends kept");
            }
            Err(_) => {
                self.resolutions[0].inc();
                tracing::warn!(exporter = %self.id, hostname = %dns.hostname, "loadbalancing: resolution timed out; backends kept");
            }
        }
    }

    /// Sends an empty trace export to a backend off the ring; an answer puts it back. A
    /// refusal that is not worth retrying (a gateway without a traces pipeline answers
    /// UNIMPLEMENTED) is an answer too; UNAVAILABLE, a timeout or no connection are not.
    async fn probe(&self, backend: &Backend) {
        let empty = Batch::new(Signal::Traces, Bytes::new(), 0);
        match backend.exporter.export(&empty).await {
            Ok(()) => backend.health.succeeded(),
            Err(e) if !e.is_retryable() => backend.health.succeeded(),
            Err(_) => {}
        }
    }
}
