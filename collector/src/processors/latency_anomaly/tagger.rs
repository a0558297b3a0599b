//! The per-batch work: judge every span of an encoded traces request, refine the verdicts with
//! the propagation attributor, and append the anomaly attributes to the tagged spans in one
//! pass over the bytes.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use lookout_anomaly::{
    ATTR_ANOMALY, ATTR_BASELINE_MS, ATTR_CATEGORY, ATTR_KIND, ATTR_RATIO, ATTR_ROOT_SPAN_ID,
    ATTR_SCORE, AnomalyKind, Attributor, ConfigError, Detector, DetectorConfig, KeyField, KeyHash,
    KeyHasher, SpanId, SpanTiming, Verdict,
};
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use lookout_proto::wire::{
    AnyValueView, ResourceSpansView, SpanEdit, SpanLocation, SpanView, TracesView, WireError,
    append_span_attributes,
};

use super::config::EpisodeConfig;
use super::episodes::{EpisodeEvent, EpisodeTag, Episodes};

/// What tagging one request produced.
#[derive(Debug, Default)]
pub(crate) struct Tagged {
    /// The edited request, `None` when no span was tagged (forward the input unchanged).
    pub(crate) payload: Option<Vec<u8>>,
    /// Tagged spans by final kind, in [`kind_index`] order.
    pub(crate) by_kind: [u64; 4],
    /// Episodes opened by this request.
    pub(crate) events: Vec<EpisodeEvent>,
}

/// Index of a kind in [`Tagged::by_kind`] and in the per-kind counters.
pub(crate) fn kind_index(kind: AnomalyKind) -> usize {
    match kind {
        AnomalyKind::Spike => 0,
        AnomalyKind::Shift => 1,
        AnomalyKind::Degradation => 2,
        AnomalyKind::Propagated => 3,
    }
}

/// The four kinds in [`kind_index`] order.
pub(crate) const KINDS: [AnomalyKind; 4] = [
    AnomalyKind::Spike,
    AnomalyKind::Shift,
    AnomalyKind::Degradation,
    AnomalyKind::Propagated,
];

/// Detector, attributor and episode state of one processor instance. Owned by its task.
pub(crate) struct Tagger {
    detector: Detector,
    attributor: Attributor,
    key_fields: Vec<KeyField>,
    emit_category: bool,
    pub(crate) episodes: Episodes,
}

impl Tagger {
    pub(crate) fn new(
        detector: DetectorConfig,
        episodes: EpisodeConfig,
    ) -> Result<Tagger, ConfigError> {
        let attributor = Attributor::new(&detector);
        let key_fields = detector.key_fields.clone();
        let emit_category = detector.emit_category;
        Ok(Tagger {
            detector: Detector::new(detector)?,
            attributor,
            key_fields,
            emit_category,
            episodes: Episodes::new(episodes),
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
        let mut pending: Vec<(SpanLocation, Verdict)> = Vec::new();
        // Tagged spans of this request by id, so a late child can re-label its parent.
        let mut by_id: HashMap<SpanId, usize> = HashMap::new();
        for rs in TracesView::new(buf).resource_spans() {
            let rs = rs?;
            let service = rs.service_name().unwrap_or("");
            for ss in rs.scope_spans() {
                for span in ss?.spans() {
                    let span = span?;
                    self.judge(
                        &rs,
                        service,
                        &span,
                        now,
                        wall,
                        &mut pending,
                        &mut by_id,
                        &mut out,
                    );
                }
            }
        }
        if pending.is_empty() {
            return Ok(out);
        }
        let edits: Vec<SpanEdit> = pending
            .iter()
            .map(|(location, v)| {
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

    #[allow(clippy::too_many_arguments)]
    fn judge(
        &mut self,
        rs: &ResourceSpansView<'_>,
        service: &str,
        span: &SpanView<'_>,
        now: Instant,
        wall: SystemTime,
        pending: &mut Vec<(SpanLocation, Verdict)>,
        by_id: &mut HashMap<SpanId, usize>,
        out: &mut Tagged,
    ) {
        let (start, end) = (span.start_time_unix_nano(), span.end_time_unix_nano());
        // Unfinished or clock-skewed spans have no meaningful duration.
        if end == 0 || end < start {
            return;
        }
        let key = key_of(&self.key_fields, rs, service, span);
        let mut verdict = self.detector.observe_hashed(key, end - start, end);
        let own_kind = verdict.kind;
        if let Some(timing) = timing(span, end - start) {
            if let Some(fix) = self.attributor.attribute(&timing, &mut verdict)
                && let Some(&i) = by_id.get(&fix.span_id)
            {
                let parent = &mut pending[i].1;
                parent.kind = Some(AnomalyKind::Propagated);
                parent.root_span_id = Some(fix.root_span_id);
            }
            if verdict.is_anomalous() {
                by_id.insert(timing.span_id, pending.len());
            }
        }
        if verdict.is_anomalous() {
            pending.push((span.location(), verdict));
        }
        if let Some(kind) = own_kind {
            let tag = EpisodeTag {
                key,
                kind,
                baseline_ms: verdict.baseline_ms,
                ratio: verdict.ratio,
                trace_id: span.trace_id(),
            };
            let fields = &self.key_fields;
            if let Some(event) = self
                .episodes
                .on_tag(tag, now, wall, || labels(fields, rs, service, span))
            {
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
                let value = match lookup(rs, span, name) {
                    Some(AnyValueView::String(s)) => s.to_string(),
                    Some(AnyValueView::Int(i)) => i.to_string(),
                    Some(AnyValueView::Bool(b)) => b.to_string(),
                    Some(AnyValueView::Double(d)) => d.to_string(),
                    Some(_) => "<complex>".into(),
                    None => String::new(),
                };
                (name.clone(), value)
            }
        })
        .collect()
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

fn kv(key: &str, value: Value) -> KeyValue {
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
