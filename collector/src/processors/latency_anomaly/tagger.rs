//! The per-batch work: judge every span of an encoded traces request, refine the verdicts with
//! the propagation attributor, count it in the RED metrics, and append the anomaly attributes
//! to the tagged spans in one pass over the bytes.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use lookout_anomaly::{
    ATTR_ANOMALY, ATTR_BASELINE_MS, ATTR_CATEGORY, ATTR_KIND, ATTR_RATIO, ATTR_ROOT_SPAN_ID,
    ATTR_SCORE, AnomalyKind, Attributor, ConfigError, Detector, DetectorConfig, KeyField, KeyHash,
    KeyHasher, SpanId, SpanTiming, Verdict, default_key_fields,
};
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use lookout_proto::wire::{
    AnyValueView, ResourceSpansView, SpanEdit, SpanLocation, SpanView, TracesView, WireError,
    append_span_attributes,
};

use super::config::{EpisodeConfig, RedMetricsConfig};
use super::episodes::{EpisodeEvent, EpisodeTag, Episodes};
use super::red::Red;
use crate::core::otlp_build::unix_nanos;

/// What tagging one request produced.
#[derive(Debug, Default)]
pub(crate) struct Tagged {
    /// The edited request, `None` when no span was tagged (forward the input unchanged).
    pub(crate) payload: Option<Vec<u8>>,
    /// Tagged spans by final kind, in [`kind_index`] order.
    pub(crate) by_kind: [u64; 5],
    /// Episodes opened by this request.
    pub(crate) events: Vec<EpisodeEvent>,
}

/// The time one request is judged at.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// Monotonic, for episode quiet times.
    now: Instant,
    /// Wall clock, for episode start and end.
    wall: SystemTime,
    /// `wall` as Unix nanoseconds, for RED series start times.
    wall_nanos: u64,
}

/// Index of a kind in [`Tagged::by_kind`] and in the per-kind counters.
pub(crate) fn kind_index(kind: AnomalyKind) -> usize {
    match kind {
        AnomalyKind::Spike => 0,
        AnomalyKind::Shift => 1,
        AnomalyKind::Degradation => 2,
        AnomalyKind::Propagated => 3,
        AnomalyKind::Intermittent => 4,
    }
}

/// The four kinds in [`kind_index`] order.
pub(crate) const KINDS: [AnomalyKind; 5] = [
    AnomalyKind::Spike,
    AnomalyKind::Shift,
    AnomalyKind::Degradation,
    AnomalyKind::Propagated,
    AnomalyKind::Intermittent,
];

/// Detector, attributor, episode and RED state of one processor instance. Owned by its task.
pub(crate) struct Tagger {
    detector: Detector,
    attributor: Attributor,
    key_fields: Vec<KeyField>,
    emit_category: bool,
    pub(crate) episodes: Episodes,
    /// RED metrics, when some pipeline takes them.
    pub(crate) red: Option<Red>,
    /// The RED key: spanmetrics' four dimensions plus the detector's attribute key fields.
    red_fields: Vec<KeyField>,
    /// Whether the RED key is the detector key (the default), so one hash serves both.
    red_is_detector_key: bool,
    /// Keys and durations of the current request's spans in order, when they are computed
    /// ahead to prefetch the detector's state; reused across requests.
    ahead: Vec<(KeyHash, u64)>,
    /// Key count from which requests are prefetched: [`Detector::PREFETCH_MIN_KEYS`] (tests
    /// lower it). The keys of a request are computed first, and before each window of
    /// [`Detector::PREFETCH_WINDOW`] spans is judged their state is fetched in one tight
    /// loop, where the CPU overlaps the spans' misses (at 100k keys ~25 % less time per
    /// span; `latency_tagging_throughput_many_keys`).
    prefetch_min_keys: usize,
}

impl Tagger {
    pub(crate) fn new(
        detector: DetectorConfig,
        episodes: EpisodeConfig,
        red: Option<&RedMetricsConfig>,
    ) -> Result<Tagger, ConfigError> {
        let attributor = Attributor::new(&detector);
        let key_fields = detector.key_fields.clone();
        let emit_category = detector.emit_category;
        let mut red_fields = default_key_fields();
        red_fields.extend(
            key_fields
                .iter()
                .filter(|f| matches!(f, KeyField::Attribute(_)))
                .cloned(),
        );
        Ok(Tagger {
            detector: Detector::new(detector)?,
            attributor,
            red_is_detector_key: red_fields == key_fields,
            key_fields,
            emit_category,
            episodes: Episodes::new(episodes),
            red: red.map(Red::new),
            red_fields,
            ahead: Vec::new(),
            prefetch_min_keys: Detector::PREFETCH_MIN_KEYS,
        })
    }

    /// The detector (for key counts and the open-episode count).
    pub(crate) fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Judges every span of the encoded `ExportTraceServiceRequest` in `buf`. A malformed
    /// request is an error (receivers validate, so this means a bug upstream); spans judged
    /// before the error still count toward their keys' baselines.
    pub(crate) fn tag(
        &mut self,
        buf: &[u8],
        now: Instant,
        wall: SystemTime,
    ) -> Result<Tagged, WireError> {
        let mut out = Tagged::default();
        let wall_nanos = unix_nanos(wall);
        // Tagged spans: where they are, their verdict, and their RED series.
        let mut pending: Vec<(SpanLocation, Verdict, Option<usize>)> = Vec::new();
        // Tagged spans of this request by id, so a late child can re-label its parent.
        let mut by_id: HashMap<SpanId, usize> = HashMap::new();
        let mut ahead = std::mem::take(&mut self.ahead);
        ahead.clear();
        if self.detector.len() >= self.prefetch_min_keys {
            // A malformed request fails here and again below, at the same span, after the
            // spans before it were judged (as without the prefetch).
            let _ = self.keys_ahead(buf, &mut ahead);
        }
        let mut i = 0;
        let result = for_each_span(buf, |rs, service, span| {
            if i % Detector::PREFETCH_WINDOW == 0 {
                let window = ahead.get(i..).unwrap_or_default().iter();
                for &(key, duration) in window.take(Detector::PREFETCH_WINDOW) {
                    self.detector.prefetch(key, duration);
                }
            }
            let key = ahead.get(i).map(|a| a.0);
            i += 1;
            let clock = Clock {
                now,
                wall,
                wall_nanos,
            };
            self.judge(
                rs,
                service,
                span,
                key,
                clock,
                &mut pending,
                &mut by_id,
                &mut out,
            );
        });
        self.ahead = ahead;
        result?;
        if pending.is_empty() {
            return Ok(out);
        }
        if let Some(red) = &mut self.red {
            // Final kinds: a parent is re-labelled `propagated` only once its child is seen.
            for (_, v, series) in &pending {
                if let (Some(kind), Some(series)) = (v.kind, *series) {
                    red.anomaly(series, kind);
                }
            }
        }
        let edits: Vec<SpanEdit> = pending
            .iter()
            .map(|(location, v, _)| {
                if let Some(kind) = v.kind {
                    out.by_kind[kind_index(kind)] += 1;
                }
                SpanEdit {
                    location: *location,
                    attributes: attributes(v, self.emit_category),
                }
            })
            .collect();
        out.payload = Some(append_span_attributes(buf, &edits)?);
        Ok(out)
    }

    /// Computes the key and duration of every span of the request into `ahead`, in the order
    /// [`Tagger::tag`] walks them; the judging pass prefetches their detector state a window
    /// at a time. An error leaves the keys computed so far; the judging pass reports it.
    fn keys_ahead(&self, buf: &[u8], ahead: &mut Vec<(KeyHash, u64)>) -> Result<(), WireError> {
        for_each_span(buf, |rs, service, span| {
            let (start, end) = (span.start_time_unix_nano(), span.end_time_unix_nano());
            let key = key_of(&self.key_fields, rs, service, span);
            ahead.push((key, end.saturating_sub(start)));
        })
    }

    /// Prefetches every request from `keys` keys on (tests).
    #[cfg(test)]
    pub(crate) fn prefetch_from(&mut self, keys: usize) {
        self.prefetch_min_keys = keys;
    }

    #[allow(clippy::too_many_arguments)]
    fn judge(
        &mut self,
        rs: &ResourceSpansView<'_>,
        service: &str,
        span: &SpanView<'_>,
        key: Option<KeyHash>,
        clock: Clock,
        pending: &mut Vec<(SpanLocation, Verdict, Option<usize>)>,
        by_id: &mut HashMap<SpanId, usize>,
        out: &mut Tagged,
    ) {
        let Clock {
            now,
            wall,
            wall_nanos,
        } = clock;
        let (start, end) = (span.start_time_unix_nano(), span.end_time_unix_nano());
        // Unfinished or clock-skewed spans have no meaningful duration: the detector skips
        // them, RED counts them as lasting 0 (as spanmetrics does).
        let timed = end != 0 && end >= start;
        let key = key.unwrap_or_else(|| key_of(&self.key_fields, rs, service, span));
        let series = self.red.as_mut().map(|red| {
            let red_key = if self.red_is_detector_key {
                key
            } else {
                key_of(&self.red_fields, rs, service, span)
            };
            let fields = &self.red_fields;
            let duration = if timed { end - start } else { 0 };
            red.record(red_key, duration, wall_nanos, || {
                (
                    service.to_owned(),
                    key_attributes(fields, rs, service, span),
                )
            })
        });
        if !timed {
            return;
        }
        let mut verdict = self.detector.observe_hashed(key, end - start, end);
        let mut own_kind = verdict.kind;
        if let Some(timing) = timing(span, end - start) {
            if let Some(fix) = self.attributor.attribute(&timing, &mut verdict)
                && let Some(&i) = by_id.get(&fix.span_id)
            {
                let parent = &mut pending[i].1;
                parent.kind = Some(AnomalyKind::Propagated);
                parent.root_span_id = Some(fix.root_span_id);
            }
            // A key that only carries a dependency's slowness stops tagging
            // the requests that did not take the slow path (or calls one of
            // them a spike of its own).
            let attributed = verdict.kind;
            self.detector
                .after_attribution(key, end - start, &mut verdict);
            if verdict.kind != attributed {
                own_kind = verdict.kind;
            }
            if verdict.is_anomalous() {
                by_id.insert(timing.span_id, pending.len());
            }
        }
        if verdict.is_anomalous() {
            pending.push((span.location(), verdict, series));
        }
        if let Some(kind) = own_kind {
            let tag = EpisodeTag {
                key,
                kind,
                baseline_ms: verdict.baseline_ms,
                ratio: verdict.ratio,
                trace_id: span.trace_id(),
                span_id: span.span_id(),
                service,
            };
            let fields = &self.key_fields;
            let describe = || {
                (
                    labels(fields, rs, service, span),
                    key_attributes(fields, rs, service, span),
                )
            };
            if let Some(event) = self.episodes.on_tag(tag, now, wall, describe) {
                out.events.push(event);
            }
        }
    }
}

fn timing(span: &SpanView<'_>, duration_ns: u64) -> Option<SpanTiming> {
    let parent = span.parent_span_id();
    Some(SpanTiming {
        trace_id: span.trace_id().try_into().ok()?,
        span_id: span.span_id().try_into().ok()?,
        parent_span_id: if parent.is_empty() {
            None
        } else {
            Some(parent.try_into().ok()?)
        },
        duration_ns,
    })
}

/// The configured key fields of `span`, hashed. An `attribute` field is looked up on the span
/// first, then on its resource; a missing one hashes as a distinct marker.
/// Calls `f` with every span of the encoded `ExportTraceServiceRequest` in `buf`, its
/// resource spans and service name, in order; stops at the first malformed part.
fn for_each_span(
    buf: &[u8],
    mut f: impl FnMut(&ResourceSpansView<'_>, &str, &SpanView<'_>),
) -> Result<(), WireError> {
    for rs in TracesView::new(buf).resource_spans() {
        let rs = rs?;
        let service = rs.service_name().unwrap_or("");
        for ss in rs.scope_spans() {
            for span in ss?.spans() {
                f(&rs, service, &span?);
            }
        }
    }
    Ok(())
}

fn key_of(
    fields: &[KeyField],
    rs: &ResourceSpansView<'_>,
    service: &str,
    span: &SpanView<'_>,
) -> KeyHash {
    let mut h = KeyHasher::new();
    for field in fields {
        match field {
            KeyField::ServiceName => h.write_str(service),
            KeyField::SpanName => h.write_str(span.name()),
            KeyField::SpanKind => h.write_u64(span.kind() as u64),
            KeyField::StatusCode => h.write_u64(span.status_code() as u64),
            KeyField::Attribute(name) => match lookup(rs, span, name) {
                Some(AnyValueView::String(s)) => {
                    h.write_u64(1);
                    h.write_str(s);
                }
                Some(AnyValueView::Int(i)) => {
                    h.write_u64(2);
                    h.write_u64(i as u64);
                }
                Some(AnyValueView::Bool(b)) => {
                    h.write_u64(3);
                    h.write_u64(b as u64);
                }
                Some(AnyValueView::Double(d)) => {
                    h.write_u64(4);
                    h.write_u64(d.to_bits());
                }
                // Arrays, maps and bytes are not useful grouping values: one bucket for all.
                Some(_) => h.write_u64(5),
                None => h.write_u64(0),
            },
        }
    }
    h.finish()
}

fn lookup<'a>(
    rs: &ResourceSpansView<'a>,
    span: &SpanView<'a>,
    name: &str,
) -> Option<AnyValueView<'a>> {
    span.attribute(name).or_else(|| rs.resource_attribute(name))
}

/// Human-readable key fields for alert labels.
fn labels(
    fields: &[KeyField],
    rs: &ResourceSpansView<'_>,
    service: &str,
    span: &SpanView<'_>,
) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|field| match field {
            KeyField::ServiceName => ("service".into(), service.into()),
            KeyField::SpanName => ("span_name".into(), span.name().into()),
            KeyField::SpanKind => ("span_kind".into(), span_kind_name(span.kind()).into()),
            KeyField::StatusCode => ("status_code".into(), status_name(span.status_code()).into()),
            KeyField::Attribute(name) => {
                let value = lookup(rs, span, name).map(attribute_value);
                let value = match value {
                    Some(Value::StringValue(s)) => s,
                    Some(Value::IntValue(i)) => i.to_string(),
                    Some(Value::BoolValue(b)) => b.to_string(),
                    Some(Value::DoubleValue(d)) => d.to_string(),
                    Some(_) | None => String::new(),
                };
                (name.clone(), value)
            }
        })
        .collect()
}

/// The key fields as OTLP attributes, named and spelled as the spanmetrics connector's
/// dimensions (`span.kind=SPAN_KIND_SERVER`); an attribute field missing from the span and its
/// resource is left out, as spanmetrics leaves out a dimension without a default.
pub(crate) fn key_attributes(
    fields: &[KeyField],
    rs: &ResourceSpansView<'_>,
    service: &str,
    span: &SpanView<'_>,
) -> Vec<KeyValue> {
    let string = |s: &str| Value::StringValue(s.to_owned());
    fields
        .iter()
        .filter_map(|field| {
            Some(match field {
                KeyField::ServiceName => kv("service.name", string(service)),
                KeyField::SpanName => kv("span.name", string(span.name())),
                KeyField::SpanKind => kv("span.kind", string(span_kind_otel(span.kind()))),
                KeyField::StatusCode => kv("status.code", string(status_otel(span.status_code()))),
                KeyField::Attribute(name) => kv(name, attribute_value(lookup(rs, span, name)?)),
            })
        })
        .collect()
}

/// A scalar attribute's value; arrays, maps and bytes (never useful grouping values) become
/// the string `<complex>`.
fn attribute_value(v: AnyValueView<'_>) -> Value {
    match v {
        AnyValueView::String(s) => Value::StringValue(s.to_owned()),
        AnyValueView::Int(i) => Value::IntValue(i),
        AnyValueView::Bool(b) => Value::BoolValue(b),
        AnyValueView::Double(d) => Value::DoubleValue(d),
        _ => Value::StringValue("<complex>".into()),
    }
}

/// OTLP's enum name of a span kind, as spanmetrics writes `span.kind`.
fn span_kind_otel(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

/// OTLP's enum name of a status code, as spanmetrics writes `status.code`.
fn status_otel(code: i32) -> &'static str {
    match code {
        1 => "STATUS_CODE_OK",
        2 => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

fn span_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

fn status_name(code: i32) -> &'static str {
    match code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}

/// An attribute.
pub(crate) fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// The attributes a tagged span gets, in a fixed order.
pub(crate) fn attributes(v: &Verdict, emit_category: bool) -> Vec<KeyValue> {
    let kind = v.kind.map(AnomalyKind::as_str).unwrap_or("spike");
    let mut attrs = vec![
        kv(ATTR_ANOMALY, Value::BoolValue(true)),
        kv(ATTR_SCORE, Value::DoubleValue(v.score)),
        kv(ATTR_KIND, Value::StringValue(kind.into())),
        kv(ATTR_BASELINE_MS, Value::DoubleValue(v.baseline_ms)),
        kv(ATTR_RATIO, Value::DoubleValue(v.ratio)),
    ];
    if let Some(root) = v.root_span_id {
        attrs.push(kv(ATTR_ROOT_SPAN_ID, Value::StringValue(hex::encode(root))));
    }
    if emit_category && let Some(category) = v.category {
        attrs.push(kv(
            ATTR_CATEGORY,
            Value::StringValue(category.as_str().into()),
        ));
    }
    attrs
}
