//! The alert contract shared by alert sources (`latency_anomaly`, `alert_rules`) and the
//! `alerting` extension that routes, groups and delivers them to notifiers.
//!
//! The model is Alertmanager's: an alert is identified by its label set (its fingerprint); a
//! source sends it again while it fires and once more with `ends_at` set when it resolves.
//! Sources never wait: [`AlertSink::send`] queues or drops (counted by the sink).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::SystemTime;

/// Label every alert carries: what fired (`LatencyAnomaly`, `HttpCheckFailing`, ...).
pub(crate) const ALERTNAME: &str = "alertname";
/// Label for the alert's severity (`critical`, `warning`, `info`).
pub(crate) const SEVERITY: &str = "severity";

/// One alert as its source sees it now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alert {
    /// Identifying labels; always holds [`ALERTNAME`]. Two alerts with the same labels are the
    /// same alert (updated).
    pub(crate) labels: BTreeMap<String, String>,
    /// Descriptive, non-identifying text (`summary`, `description`, `runbook_url`, ...).
    pub(crate) annotations: BTreeMap<String, String>,
    /// When the condition started.
    pub(crate) starts_at: SystemTime,
    /// `None` while firing; when the condition ended, once resolved.
    pub(crate) ends_at: Option<SystemTime>,
    /// A link to where the alert comes from (the trace API, the rule), if any.
    pub(crate) generator_url: Option<String>,
    /// What an on-call person needs to act, beyond labels and annotations.
    pub(crate) evidence: Evidence,
}

impl Alert {
    /// A firing alert named `alertname` started at `starts_at`, with no other label yet.
    pub(crate) fn firing(alertname: &str, starts_at: SystemTime) -> Alert {
        let mut labels = BTreeMap::new();
        labels.insert(ALERTNAME.to_string(), alertname.to_string());
        Alert {
            labels,
            annotations: BTreeMap::new(),
            starts_at,
            ends_at: None,
            generator_url: None,
            evidence: Evidence::default(),
        }
    }

    /// The `alertname` label (empty if a source forgot it).
    pub(crate) fn name(&self) -> &str {
        self.labels.get(ALERTNAME).map_or("", String::as_str)
    }

    /// Whether the alert has ended.
    pub(crate) fn is_resolved(&self) -> bool {
        self.ends_at.is_some()
    }

    /// A stable identity of the label set (FNV-1a over `name=value` pairs in order), as
    /// Alertmanager fingerprints alerts.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (k, v) in &self.labels {
            for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        Fingerprint(h)
    }
}

/// An alert's identity: a hash of its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Fingerprint(pub(crate) u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Evidence attached to an alert. Every part is optional; notifiers render what is there.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Evidence {
    /// Hex trace ids of example requests (a latency episode's slow spans).
    pub(crate) trace_ids: Vec<String>,
    /// Log lines of those traces, when a `correlate` window holds them.
    pub(crate) logs: Vec<EvidenceLog>,
    /// Named figures (`baseline_ms`, `observed_ms`, `ratio`, the rule's value and threshold).
    pub(crate) figures: Vec<(String, f64)>,
    /// The series' values over the rule's `for:` window, oldest first.
    pub(crate) values: Vec<(SystemTime, f64)>,
    /// What the host was doing when the alert started.
    pub(crate) host: Option<HostSnapshot>,
}

impl Evidence {
    /// Whether there is nothing to show.
    pub(crate) fn is_empty(&self) -> bool {
        self.trace_ids.is_empty()
            && self.logs.is_empty()
            && self.figures.is_empty()
            && self.values.is_empty()
            && self.host.is_none()
    }
}

/// One log record of an example trace.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvidenceLog {
    /// Hex trace id.
    pub(crate) trace_id: String,
    /// Hex span id (empty when the record had none).
    pub(crate) span_id: String,
    /// When the record was written (or observed).
    pub(crate) time: SystemTime,
    /// Severity text (`ERROR`, ...), empty if none.
    pub(crate) severity: String,
    /// The body as text.
    pub(crate) body: String,
}

/// Host figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HostSnapshot {
    /// When they were read.
    pub(crate) at: SystemTime,
    /// CPU utilisation, 0..=1 across all cores.
    pub(crate) cpu_utilization: f64,
    /// Memory in use, 0..=1.
    pub(crate) memory_utilization: f64,
    /// 1-minute load average.
    pub(crate) load_1m: f64,
}

/// Where sources send alerts: implemented by the `alerting` extension (and by test sinks).
/// `send` never blocks; a full queue drops the alert and counts it.
pub(crate) trait AlertSink: Send + Sync + fmt::Debug {
    /// Queues `alert` from the source named `source` (the component id, for self-metrics).
    fn send(&self, source: &str, alert: Alert);

    /// The configured notifier `name`, for what is sent besides alerts (scheduled reports
    /// send their document through it, not through the alert routes); `None` if there is
    /// no such notifier.
    fn notifier(
        &self,
        _name: &str,
    ) -> Option<std::sync::Arc<dyn crate::extensions::alerting::notifiers::Notifier>> {
        None
    }
}

// === trace logs ===

/// The longest body of an evidence log line, in bytes: longer ones are cut on a character
/// boundary and end with `…`. Lookups copy at most this much per line while they hold a
/// source's lock.
pub(crate) const EVIDENCE_BODY_MAX: usize = 300;

/// A holder of log records by trace id (a `correlate` processor's window), asked for the log
/// lines of an alert's example traces.
pub(crate) trait TraceLogs: Send + Sync + fmt::Debug {
    /// At most `max` log lines of the trace `trace_id`, oldest first, bodies cut to
    /// [`EVIDENCE_BODY_MAX`]; when the trace has more, the most severe are kept. Empty when
    /// the trace is not held. Must be quick: the caller is the alerting dispatcher.
    fn logs(&self, trace_id: &[u8; 16], max: usize) -> Vec<EvidenceLog>;
}

/// The [`Host::shared`](crate::component::Host::shared) key of the process's one
/// [`TraceLogsRegistry`]: the `alerting` extension asks for it when it starts, each
/// `correlate` instance when it is built (later), so both get the same registry whichever
/// asks first.
pub(crate) const TRACE_LOGS_KEY: &str = "core:trace_logs";

/// The [`TraceLogs`] sources of one collector. It holds them weakly: a stopped pipeline frees
/// its window, and the registry forgets it at the next lookup.
#[derive(Debug, Default)]
pub(crate) struct TraceLogsRegistry {
    sources: Mutex<Vec<Weak<dyn TraceLogs>>>,
}

impl TraceLogsRegistry {
    /// Adds a source.
    pub(crate) fn register(&self, source: &Arc<dyn TraceLogs>) {
        self.lock().push(Arc::downgrade(source));
    }

    /// The sources still alive (the registry's lock is not held while they are asked).
    pub(crate) fn sources(&self) -> Vec<Arc<dyn TraceLogs>> {
        let mut sources = self.lock();
        sources.retain(|s| s.strong_count() > 0);
        sources.iter().filter_map(Weak::upgrade).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<dyn TraceLogs>>> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The text of an OpenTelemetry severity number when a record has no severity text.
pub(crate) fn severity_name(number: i32) -> &'static str {
    match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "",
    }
}

/// `body` cut to [`EVIDENCE_BODY_MAX`] bytes on a character boundary, marked with `…` when cut.
pub(crate) fn evidence_body(body: &str) -> String {
    if body.len() <= EVIDENCE_BODY_MAX {
        return body.to_string();
    }
    let mut end = EVIDENCE_BODY_MAX - '…'.len_utf8();
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(EVIDENCE_BODY_MAX);
    out.push_str(&body[..end]);
    out.push('…');
    out
}

/// What an extension that receives alerts offers other components through
/// `Host::extension::<SinkService>(id)`: its [`AlertSink`], type-erased so sources do not
/// depend on the extension's type, behind a handle a config reload swaps in place
/// ([`swap_sinks`]): sources keep sending to the same handle, and alerts go to the reloaded
/// extension. An extension offers it as
/// `Extension { service: Some(Arc::new(SinkService::new(sink))), swap: Some(swap_sinks), .. }`.
#[derive(Debug, Clone)]
pub(crate) struct SinkService(Arc<SwappableSink>);

impl SinkService {
    /// A handle on `sink`.
    pub(crate) fn new(sink: Arc<dyn AlertSink>) -> SinkService {
        SinkService(Arc::new(SwappableSink {
            current: RwLock::new(sink),
        }))
    }

    /// The handle sources send to.
    pub(crate) fn sink(&self) -> Arc<dyn AlertSink> {
        let sink: Arc<dyn AlertSink> = Arc::clone(&self.0) as _;
        sink
    }
}

/// The sink behind a [`SinkService`], replaceable while sources hold it.
#[derive(Debug)]
pub(crate) struct SwappableSink {
    current: RwLock<Arc<dyn AlertSink>>,
}

impl SwappableSink {
    fn current(&self) -> Arc<dyn AlertSink> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl AlertSink for SwappableSink {
    fn send(&self, source: &str, alert: Alert) {
        self.current().send(source, alert);
    }

    fn notifier(
        &self,
        name: &str,
    ) -> Option<Arc<dyn crate::extensions::alerting::notifiers::Notifier>> {
        self.current().notifier(name)
    }
}

/// The alert sinks' [`Swap`](crate::component::Swap): the running [`SinkService`] takes the
/// reloaded one's sink (and the other way round, so swapping again undoes it).
pub(crate) fn swap_sinks(
    running: &(dyn std::any::Any + Send + Sync),
    new: &(dyn std::any::Any + Send + Sync),
) -> bool {
    let (Some(running), Some(new)) = (
        running.downcast_ref::<SinkService>(),
        new.downcast_ref::<SinkService>(),
    ) else {
        return false;
    };
    if Arc::ptr_eq(&running.0, &new.0) {
        return true;
    }
    let poisoned = PoisonError::into_inner;
    let mut mine = running.0.current.write().unwrap_or_else(poisoned);
    let mut theirs = new.0.current.write().unwrap_or_else(poisoned);
    std::mem::swap(&mut *mine, &mut *theirs);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Names(std::sync::Mutex<Vec<String>>);

    impl AlertSink for Names {
        fn send(&self, _source: &str, alert: Alert) {
            self.0.lock().unwrap().push(alert.name().to_string());
        }
    }

    #[test]
    fn swap_sinks_redirects_a_held_sink_and_undoes() {
        let (old, new) = (Arc::new(Names::default()), Arc::new(Names::default()));
        let running = SinkService::new(Arc::clone(&old) as Arc<dyn AlertSink>);
        let reloaded = SinkService::new(Arc::clone(&new) as Arc<dyn AlertSink>);
        let held = running.sink();
        let t = SystemTime::UNIX_EPOCH;
        held.send("src", Alert::firing("A", t));
        assert!(swap_sinks(&running, &reloaded));
        held.send("src", Alert::firing("B", t));
        assert!(swap_sinks(&running, &reloaded));
        held.send("src", Alert::firing("C", t));
        assert_eq!(*old.0.lock().unwrap(), ["A", "C"]);
        assert_eq!(*new.0.lock().unwrap(), ["B"]);
        assert!(!swap_sinks(&running, &"not a sink"));
    }

    #[test]
    fn fingerprint_depends_on_labels_only() {
        let t = SystemTime::UNIX_EPOCH;
        let mut a = Alert::firing("DiskFull", t);
        a.labels.insert("mountpoint".into(), "/".into());
        let mut b = a.clone();
        b.annotations.insert("summary".into(), "x".into());
        b.ends_at = Some(t);
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.labels.insert("mountpoint".into(), "/var".into());
        assert_ne!(a.fingerprint(), b.fingerprint());
        // Concatenation ambiguity: {a: "bc"} vs {ab: "c"}.
        let mut c = Alert::firing("X", t);
        c.labels.insert("a".into(), "bc".into());
        let mut d = Alert::firing("X", t);
        d.labels.insert("ab".into(), "c".into());
        assert_ne!(c.fingerprint(), d.fingerprint());
        assert_eq!(a.name(), "DiskFull");
        assert!(b.is_resolved() && !a.is_resolved());
    }

    #[derive(Debug)]
    struct Fixed(&'static str);

    impl TraceLogs for Fixed {
        fn logs(&self, trace_id: &[u8; 16], _max: usize) -> Vec<EvidenceLog> {
            vec![EvidenceLog {
                trace_id: hex::encode(trace_id),
                span_id: String::new(),
                time: SystemTime::UNIX_EPOCH,
                severity: String::new(),
                body: self.0.to_string(),
            }]
        }
    }

    #[test]
    fn registry_forgets_dropped_sources() {
        let registry = TraceLogsRegistry::default();
        assert!(registry.sources().is_empty());
        let kept: Arc<dyn TraceLogs> = Arc::new(Fixed("kept"));
        let dropped: Arc<dyn TraceLogs> = Arc::new(Fixed("dropped"));
        registry.register(&kept);
        registry.register(&dropped);
        drop(dropped);
        let sources = registry.sources();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].logs(&[1; 16], 1)[0].body, "kept");
    }

    #[test]
    fn bodies_are_cut_on_a_character_boundary() {
        assert_eq!(evidence_body("short"), "short");
        let long = "é".repeat(EVIDENCE_BODY_MAX);
        let cut = evidence_body(&long);
        assert!(
            cut.len() <= EVIDENCE_BODY_MAX && cut.ends_with('…'),
            "{cut}"
        );
        assert_eq!(severity_name(17), "ERROR");
        assert_eq!(severity_name(0), "");
    }
}
