//! Lookout's own metrics, named after the Collector's (`otelcol_*` → `lookout_*`) and served in
//! the Prometheus text format on `service.telemetry.metrics.address` (`/metrics`).

pub(crate) mod console;
pub(crate) mod listener;
mod process;
pub(crate) mod server;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::core::Signal;

/// CPU time (user + system) this process used so far, in seconds, if the system reports it.
pub(crate) fn process_cpu_seconds() -> Option<f64> {
    process::cpu_seconds()
}

/// This process's resident set size, in bytes (`VmRSS`), if the system reports it.
pub(crate) fn rss_bytes() -> Option<u64> {
    process::rss_bytes().and_then(|b| u64::try_from(b).ok())
}

type Labels = Vec<(&'static str, String)>;

/// One series handed out by [`Telemetry::counter`] or [`Telemetry::gauge`], kept so the
/// console can read every value without parsing the text it renders.
#[derive(Clone)]
enum Handle {
    Counter(Counter),
    Gauge(Gauge),
}

/// The value of one self-metric series at one moment (name without `lookout_` and `_total`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SeriesValue {
    /// The metric's name as registered (`receiver_accepted_spans`).
    pub(crate) name: String,
    /// Its labels.
    pub(crate) labels: Labels,
    /// Its value now.
    pub(crate) value: f64,
}

/// The self-metrics registry. Cheap to clone; handles taken from it are atomics.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Mutex<Registry>,
    counters: Mutex<Vec<(String, Family<Labels, Counter>)>>,
    gauges: Mutex<Vec<(String, Family<Labels, Gauge>)>>,
    /// Every (name, labels) handed out, once: as many as the registry renders.
    series: Mutex<HashMap<(String, Labels), Handle>>,
    process: process::ProcessGauges,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl Telemetry {
    /// An empty registry with the process metrics registered.
    pub fn new() -> Telemetry {
        let mut registry = Registry::default();
        let process = process::ProcessGauges::register(&mut registry);
        Telemetry {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                counters: Mutex::new(Vec::new()),
                gauges: Mutex::new(Vec::new()),
                series: Mutex::new(HashMap::new()),
                process,
            }),
        }
    }

    /// A counter `lookout_<name>` (exposed with the `_total` suffix) with these labels.
    pub fn counter(&self, name: &str, help: &str, labels: Labels) -> Counter {
        let family = {
            let mut counters = lock(&self.inner.counters);
            match counters.iter().find(|(n, _)| n == name) {
                Some((_, family)) => family.clone(),
                None => {
                    let family = Family::<Labels, Counter>::default();
                    lock(&self.inner.registry).register(
                        format!("lookout_{name}"),
                        // prometheus-client ends every HELP text with a period itself.
                        help.trim_end_matches('.'),
                        family.clone(),
                    );
                    counters.push((name.to_string(), family.clone()));
                    family
                }
            }
        };
        let counter = family.get_or_create(&labels).clone();
        lock(&self.inner.series)
            .entry((name.to_string(), labels))
            .or_insert_with(|| Handle::Counter(counter.clone()));
        counter
    }

    /// A gauge `lookout_<name>` with these labels.
    pub fn gauge(&self, name: &str, help: &str, labels: Labels) -> Gauge {
        let family = {
            let mut gauges = lock(&self.inner.gauges);
            match gauges.iter().find(|(n, _)| n == name) {
                Some((_, family)) => family.clone(),
                None => {
                    let family = Family::<Labels, Gauge>::default();
                    lock(&self.inner.registry).register(
                        format!("lookout_{name}"),
                        // prometheus-client ends every HELP text with a period itself.
                        help.trim_end_matches('.'),
                        family.clone(),
                    );
                    gauges.push((name.to_string(), family.clone()));
                    family
                }
            }
        };
        let gauge = family.get_or_create(&labels).clone();
        lock(&self.inner.series)
            .entry((name.to_string(), labels))
            .or_insert_with(|| Handle::Gauge(gauge.clone()));
        gauge
    }

    /// The value of every counter and gauge handed out (not the process metrics: see
    /// [`process_cpu_seconds`] and [`rss_bytes`]). Work and size are those of one `/metrics`
    /// scrape: one entry per series.
    pub(crate) fn values(&self) -> Vec<SeriesValue> {
        lock(&self.inner.series)
            .iter()
            .map(|((name, labels), handle)| SeriesValue {
                name: name.clone(),
                labels: labels.clone(),
                value: match handle {
                    Handle::Counter(c) => c.get() as f64,
                    Handle::Gauge(g) => g.get() as f64,
                },
            })
            .collect()
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        self.inner.process.refresh();
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &lock(&self.inner.registry));
        out
    }

    /// Counters a receiver updates.
    pub fn receiver(&self, receiver: &str, transport: &str, signal: Signal) -> ReceiverMetrics {
        let labels = || {
            vec![
                ("receiver", receiver.to_string()),
                ("transport", transport.to_string()),
            ]
        };
        let item = signal.item_name();
        ReceiverMetrics {
            accepted: self.counter(
                &format!("receiver_accepted_{item}"),
                "Items successfully pushed into the pipeline.",
                labels(),
            ),
            refused: self.counter(
                &format!("receiver_refused_{item}"),
                "Items that could not be pushed into the pipeline (the client was told).",
                labels(),
            ),
            refused_requests: self.counter(
                "receiver_refused_requests",
                "Requests refused with a retryable status (pipeline full, memory budget, max_concurrent_requests, shutting down). A request refused by the memory budget before its body was read has its items uncounted in receiver_refused_*.",
                labels(),
            ),
        }
    }

    /// Counters of a receiver's cap on requests in flight (`limits: max_concurrent_requests`).
    pub fn receiver_limits(&self, receiver: &str, transport: &str) -> ReceiverLimitMetrics {
        let labels = || {
            vec![
                ("receiver", receiver.to_string()),
                ("transport", transport.to_string()),
            ]
        };
        ReceiverLimitMetrics {
            over_limit_requests: self.counter(
                "receiver_over_limit_requests",
                "Requests refused before their body was read because max_concurrent_requests were in flight (HTTP 503, gRPC UNAVAILABLE).",
                labels(),
            ),
            evicted_requests: self.counter(
                "receiver_evicted_requests",
                "Requests ended while max_concurrent_requests were in flight, to make room for a new one: their body had sent nothing for over 1 s.",
                labels(),
            ),
        }
    }

    /// Counters and gauges an exporter updates.
    pub fn exporter(&self, exporter: &str, signal: Option<Signal>) -> ExporterMetrics {
        let labels = || vec![("exporter", exporter.to_string())];
        let counters = |what: &str, help: &str| -> [Counter; 3] {
            Signal::ALL.map(|s| {
                if signal.is_some_and(|only| only != s) {
                    return Counter::default();
                }
                self.counter(
                    &format!("exporter_{what}_{}", s.item_name()),
                    help,
                    labels(),
                )
            })
        };
        ExporterMetrics {
            sent: counters("sent", "Items successfully sent to the destination."),
            send_failed: counters(
                "send_failed",
                "Items that could not be sent (permanent error or retries exhausted).",
            ),
            enqueue_failed: counters(
                "enqueue_failed",
                "Items dropped because the sending queue was full (block_on_overflow: false).",
            ),
            queue_size: self.gauge(
                "exporter_queue_size",
                "What the sending queue holds (queued and being sent), in its sizer's unit (bytes by default).",
                labels(),
            ),
            queue_capacity: self.gauge(
                "exporter_queue_capacity",
                "Capacity of the sending queue, in its sizer's unit (bytes by default).",
                labels(),
            ),
            concurrency_limit: self.gauge(
                "exporter_concurrency_limit",
                "Requests the exporter may have in flight now (sending_queue.num_consumers; moves with num_consumers: adaptive).",
                labels(),
            ),
            in_flight_requests: self.gauge(
                "exporter_in_flight_requests",
                "Requests the exporter has in flight (sent, not yet answered).",
                labels(),
            ),
            timed_out_requests: self.counter(
                "exporter_timed_out_requests",
                "Send attempts that got no answer within the exporter's timeout (each is retried, and may arrive twice).",
                labels(),
            ),
            panics: self.counter(
                "component_restarts",
                "Times a component task exited or panicked while the collector ran and was started again.",
                vec![("component", exporter.to_string()), ("kind", "exporter".to_string())],
            ),
        }
    }

    /// What a persistent sending queue reports.
    pub fn persistent_queue(&self, exporter: &str) -> PersistentQueueMetrics {
        let labels = || vec![("exporter", exporter.to_string())];
        PersistentQueueMetrics {
            bytes: self.gauge(
                "exporter_persistent_queue_bytes",
                "Bytes of the persistent sending queue's files on disk (what sending_queue.max_size bounds).",
                labels(),
            ),
            records: self.gauge(
                "exporter_persistent_queue_records",
                "Batches in the persistent sending queue not yet acknowledged by the destination.",
                labels(),
            ),
            oldest_age_seconds: self.gauge(
                "exporter_persistent_queue_oldest_age_seconds",
                "Age of the oldest batch in the persistent sending queue (0 when empty).",
                labels(),
            ),
            replayed: self.counter(
                "exporter_persistent_queue_replayed_records",
                "Batches found unacknowledged on disk at start-up, sent again.",
                labels(),
            ),
            corrupted_bytes: self.counter(
                "exporter_persistent_queue_corrupted_bytes",
                "Bytes of the persistent sending queue that did not read back intact (moved aside to corrupted/ at start-up, or dropped when read).",
                labels(),
            ),
        }
    }

    /// Counters a processor updates.
    pub fn processor(&self, processor: &str, pipeline: &str, signal: Signal) -> ProcessorMetrics {
        let labels = || {
            vec![
                ("processor", processor.to_string()),
                ("pipeline", pipeline.to_string()),
                ("otel_signal", signal.as_str().to_string()),
            ]
        };
        ProcessorMetrics {
            incoming: self.counter(
                "processor_incoming_items",
                "Items that entered the processor.",
                labels(),
            ),
            outgoing: self.counter(
                "processor_outgoing_items",
                "Items that left the processor.",
                labels(),
            ),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the data inconsistent (plain inserts).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A receiver's counters for one signal and transport.
#[derive(Clone, Debug)]
pub struct ReceiverMetrics {
    /// Items accepted into the pipeline.
    pub accepted: Counter,
    /// Items refused (the client was told to retry or that its data was bad).
    pub refused: Counter,
    /// Requests refused with a retryable status (shared by the receiver's signals).
    pub refused_requests: Counter,
}

/// A receiver's counters for its cap on requests in flight, per transport.
#[derive(Clone, Debug)]
pub struct ReceiverLimitMetrics {
    /// Requests refused over the cap.
    pub over_limit_requests: Counter,
    /// Stalled requests ended to make room for new ones.
    pub evicted_requests: Counter,
}

/// An exporter's counters, indexed by signal (traces, metrics, logs).
#[derive(Clone, Debug)]
pub struct ExporterMetrics {
    sent: [Counter; 3],
    send_failed: [Counter; 3],
    enqueue_failed: [Counter; 3],
    /// What the sending queue holds, in its sizer unit.
    pub queue_size: Gauge,
    /// Queue capacity, in the queue's sizer unit.
    pub queue_capacity: Gauge,
    /// The limit on requests in flight.
    pub concurrency_limit: Gauge,
    /// Requests in flight.
    pub in_flight_requests: Gauge,
    /// Send attempts that timed out.
    pub timed_out_requests: Counter,
    /// Sends that panicked (and were retried).
    pub panics: Counter,
}

impl ExporterMetrics {
    /// Items delivered.
    pub fn sent(&self, signal: Signal) -> &Counter {
        &self.sent[signal as usize]
    }

    /// Items that failed for good.
    pub fn send_failed(&self, signal: Signal) -> &Counter {
        &self.send_failed[signal as usize]
    }

    /// Items dropped at a full queue.
    pub fn enqueue_failed(&self, signal: Signal) -> &Counter {
        &self.enqueue_failed[signal as usize]
    }
}

/// What a persistent sending queue reports.
#[derive(Clone, Debug)]
pub struct PersistentQueueMetrics {
    /// Bytes of queue files on disk.
    pub bytes: Gauge,
    /// Unacknowledged batches.
    pub records: Gauge,
    /// Age of the oldest unacknowledged batch, in seconds.
    pub oldest_age_seconds: Gauge,
    /// Batches replayed at start-up.
    pub replayed: Counter,
    /// Bytes that did not read back intact.
    pub corrupted_bytes: Counter,
}

/// A processor's item counters.
#[derive(Clone, Debug)]
pub struct ProcessorMetrics {
    /// Items in.
    pub incoming: Counter,
    /// Items out.
    pub outgoing: Counter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_collector_style_names() {
        let t = Telemetry::new();
        let r = t.receiver("otlp", "grpc", Signal::Traces);
        r.accepted.inc_by(7);
        let e = t.exporter("otlp/2", None);
        e.send_failed(Signal::Logs).inc_by(3);
        let text = t.render();
        assert!(
            text.contains(
                r#"lookout_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 7"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"lookout_exporter_send_failed_log_records_total{exporter="otlp/2"} 3"#),
            "{text}"
        );
        assert!(text.contains("lookout_process_uptime"), "{text}");
    }
}
