//! Episode bookkeeping for alerts: which keys are in a shift, degradation or intermittent
//! episode, and when one starts or ends.
//!
//! The detector exposes only the verdicts and a global count of open episodes, so an episode
//! is opened by the first span of a key tagged `shift`, `degradation` or `intermittent`, and
//! closed after `resolve_after` without such a tag, or at once when the detector's count drops
//! to zero.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use lookout_anomaly::{AnomalyKind, KeyHash};
use lookout_proto::otlp::common::v1::KeyValue;

use super::config::EpisodeConfig;
use crate::core::recent::EpisodeRecord;

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether an episode event opens or closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpisodeStatus {
    /// The episode started.
    Firing,
    /// The episode is over.
    Resolved,
}

impl EpisodeStatus {
    /// Alertmanager's spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EpisodeStatus::Firing => "firing",
            EpisodeStatus::Resolved => "resolved",
        }
    }
}

/// One start or end of an anomaly episode of one key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EpisodeEvent {
    /// Firing or resolved.
    pub(crate) status: EpisodeStatus,
    /// The detector key.
    pub(crate) key: KeyHash,
    /// `service.name` of the first tagged span's resource (empty when it had none).
    pub(crate) service: String,
    /// The key's fields as (name, value), e.g. `("service", "checkout")`.
    pub(crate) labels: Vec<(String, String)>,
    /// The key's fields as OTLP attributes with spanmetrics' names (`service.name`, `span.name`,
    /// `span.kind`, `status.code`, attribute fields under their own name).
    pub(crate) key_attributes: Vec<KeyValue>,
    /// `shift`, `degradation` or `intermittent`.
    pub(crate) kind: AnomalyKind,
    /// Baseline median of the key before the episode, ms.
    pub(crate) baseline_ms: f64,
    /// Largest duration / baseline ratio seen in the episode so far.
    pub(crate) max_ratio: f64,
    /// Hex trace ids of the first tagged spans.
    pub(crate) example_trace_ids: Vec<String>,
    /// (trace id, span id) of the first tagged span with well-formed ids, for log correlation.
    pub(crate) first_example: Option<([u8; 16], [u8; 8])>,
    /// When the episode was opened.
    pub(crate) starts_at: SystemTime,
    /// When it was closed (resolved events only).
    pub(crate) ends_at: Option<SystemTime>,
}

impl EpisodeEvent {
    /// What the console's episode list keeps of it; `source` is the processor id.
    pub(crate) fn record(&self, source: &str) -> EpisodeRecord {
        EpisodeRecord {
            source: source.to_string(),
            key: format!("{:016x}", self.key.0),
            service: self.service.clone(),
            labels: self.labels.clone(),
            kind: self.kind.to_string(),
            baseline_ms: self.baseline_ms,
            observed_ms: self.baseline_ms * self.max_ratio,
            max_ratio: self.max_ratio,
            example_trace_ids: self.example_trace_ids.clone(),
            starts_at_ms: unix_ms(self.starts_at),
            ends_at_ms: self.ends_at.map(unix_ms),
        }
    }

    /// One line for people: key values, kind, baseline and worst ratio.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} latency {} (baseline {:.3} ms, up to x{:.2})",
            self.labels
                .iter()
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            self.kind,
            self.baseline_ms,
            self.max_ratio
        )
    }
}

struct Open {
    event: EpisodeEvent,
    last_tag: Instant,
    /// `max_ratio` and example count as last shown (at firing or the last refresh).
    shown: (f64, usize),
}

/// How much an open episode's worst ratio must grow before the console's record of it is
/// refreshed.
const REFRESH_GROWTH: f64 = 1.1;

/// One tagged episode span, as the tracker needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EpisodeTag<'a> {
    /// The detector key.
    pub(crate) key: KeyHash,
    /// The detector's kind (before propagation re-labelling).
    pub(crate) kind: AnomalyKind,
    /// Verdict baseline, ms.
    pub(crate) baseline_ms: f64,
    /// Verdict ratio.
    pub(crate) ratio: f64,
    /// The span's trace id.
    pub(crate) trace_id: &'a [u8],
    /// The span's id.
    pub(crate) span_id: &'a [u8],
    /// `service.name` of the span's resource.
    pub(crate) service: &'a str,
}

impl EpisodeTag<'_> {
    fn ids(&self) -> Option<([u8; 16], [u8; 8])> {
        Some((
            self.trace_id.try_into().ok()?,
            self.span_id.try_into().ok()?,
        ))
    }
}

/// Open episodes, bounded by `max_open`.
pub(crate) struct Episodes {
    config: EpisodeConfig,
    open: HashMap<KeyHash, Open>,
    /// Episodes not reported because `max_open` were already open.
    pub(crate) overflow: u64,
}

impl Episodes {
    pub(crate) fn new(config: EpisodeConfig) -> Episodes {
        Episodes {
            config,
            open: HashMap::new(),
            overflow: 0,
        }
    }

    /// Episodes currently open.
    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }

    /// Records a span tagged `shift`, `degradation` or `intermittent`; returns the firing event when it opens
    /// an episode. `describe` gives the key's labels and attributes and is called only then
    /// (building them allocates).
    pub(crate) fn on_tag(
        &mut self,
        tag: EpisodeTag<'_>,
        now: Instant,
        wall: SystemTime,
        describe: impl FnOnce() -> (Vec<(String, String)>, Vec<KeyValue>),
    ) -> Option<EpisodeEvent> {
        if !matches!(
            tag.kind,
            AnomalyKind::Shift | AnomalyKind::Degradation | AnomalyKind::Intermittent
        ) {
            return None;
        }
        let max_examples = self.config.max_examples;
        if let Some(open) = self.open.get_mut(&tag.key) {
            open.last_tag = now;
            let e = &mut open.event;
            e.max_ratio = e.max_ratio.max(tag.ratio);
            if e.first_example.is_none() {
                e.first_example = tag.ids();
            }
            if e.example_trace_ids.len() < max_examples && !tag.trace_id.is_empty() {
                let id = hex::encode(tag.trace_id);
                if !e.example_trace_ids.contains(&id) {
                    e.example_trace_ids.push(id);
                }
            }
            return None;
        }
        if self.open.len() >= self.config.max_open {
            self.overflow += 1;
            return None;
        }
        let mut example_trace_ids = Vec::new();
        if max_examples > 0 && !tag.trace_id.is_empty() {
            example_trace_ids.push(hex::encode(tag.trace_id));
        }
        let (labels, key_attributes) = describe();
        let event = EpisodeEvent {
            status: EpisodeStatus::Firing,
            key: tag.key,
            service: tag.service.to_owned(),
            labels,
            key_attributes,
            kind: tag.kind,
            baseline_ms: tag.baseline_ms,
            max_ratio: tag.ratio,
            example_trace_ids,
            first_example: tag.ids(),
            starts_at: wall,
            ends_at: None,
        };
        self.open.insert(
            tag.key,
            Open {
                shown: (event.max_ratio, event.example_trace_ids.len()),
                event: event.clone(),
                last_tag: now,
            },
        );
        Some(event)
    }

    /// Open episodes that grew since they were last shown — a worst ratio up by
    /// [`REFRESH_GROWTH`] or more, or more example traces — as firing events for the console's
    /// record of them (which a firing event of the same key refreshes); not for alerts, which
    /// fire once per episode. A warm-up episode at ×1.5 that a later fault drives to ×250 then
    /// shows ×250 while it is open, not only once it resolves.
    pub(crate) fn grown(&mut self) -> Vec<EpisodeEvent> {
        self.open
            .values_mut()
            .filter(|o| {
                o.event.max_ratio >= o.shown.0 * REFRESH_GROWTH
                    || o.event.example_trace_ids.len() > o.shown.1
            })
            .map(|o| {
                o.shown = (o.event.max_ratio, o.event.example_trace_ids.len());
                o.event.clone()
            })
            .collect()
    }

    /// Closes episodes quiet for `resolve_after`, or all of them when `detector_open` (the
    /// detector's own count, when the caller looked) is zero. Returns the resolved events.
    pub(crate) fn sweep(
        &mut self,
        now: Instant,
        wall: SystemTime,
        detector_open: Option<usize>,
    ) -> Vec<EpisodeEvent> {
        let all = detector_open == Some(0);
        let resolve_after = self.config.resolve_after;
        let done: Vec<KeyHash> = self
            .open
            .iter()
            .filter(|(_, o)| all || now.saturating_duration_since(o.last_tag) >= resolve_after)
            .map(|(k, _)| *k)
            .collect();
        let mut events = Vec::with_capacity(done.len());
        for key in done {
            if let Some(open) = self.open.remove(&key) {
                let mut e = open.event;
                e.status = EpisodeStatus::Resolved;
                e.ends_at = Some(wall);
                events.push(e);
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tag(key: u64, kind: AnomalyKind, ratio: f64, trace: u8) -> EpisodeTag<'static> {
        let id: &'static [u8] = Box::leak(vec![trace; 16].into_boxed_slice());
        let span: &'static [u8] = Box::leak(vec![trace; 8].into_boxed_slice());
        EpisodeTag {
            key: KeyHash(key),
            kind,
            baseline_ms: 10.0,
            ratio,
            trace_id: id,
            span_id: span,
            service: "svc",
        }
    }

    fn labels() -> (Vec<(String, String)>, Vec<KeyValue>) {
        (vec![("service".into(), "svc".into())], Vec::new())
    }

    #[test]
    fn an_open_episode_that_grows_is_shown_again_once_per_growth() {
        let cfg = EpisodeConfig {
            resolve_after: Duration::from_secs(10),
            max_open: 10,
            max_examples: 1,
        };
        let mut eps = Episodes::new(cfg);
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        eps.on_tag(tag(1, AnomalyKind::Shift, 1.5, 1), t0, wall, labels)
            .expect("opens");
        assert!(eps.grown().is_empty(), "nothing grew since the firing");
        // Below the refresh growth: not shown again.
        eps.on_tag(tag(1, AnomalyKind::Shift, 1.6, 2), t0, wall, labels);
        assert!(eps.grown().is_empty());
        // A fault drives the same open episode to x250.
        eps.on_tag(tag(1, AnomalyKind::Shift, 250.0, 3), t0, wall, labels);
        let grown = eps.grown();
        assert_eq!(grown.len(), 1);
        assert_eq!(grown[0].status, EpisodeStatus::Firing);
        assert_eq!(grown[0].max_ratio, 250.0);
        assert_eq!(grown[0].kind, AnomalyKind::Shift);
        assert_eq!(grown[0].record("p").observed_ms, 10.0 * 250.0);
        assert!(eps.grown().is_empty(), "shown once per growth");
        assert_eq!(eps.len(), 1, "still open");
    }

    #[test]
    fn opens_once_tracks_examples_and_resolves_when_quiet() {
        let cfg = EpisodeConfig {
            resolve_after: Duration::from_secs(10),
            max_open: 10,
            max_examples: 2,
        };
        let mut eps = Episodes::new(cfg);
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        assert!(
            eps.on_tag(tag(1, AnomalyKind::Spike, 9.0, 1), t0, wall, labels)
                .is_none()
        );
        let fired = eps
            .on_tag(tag(1, AnomalyKind::Shift, 2.0, 1), t0, wall, labels)
            .expect("first shift tag opens");
        assert_eq!(fired.status, EpisodeStatus::Firing);
        assert_eq!(fired.service, "svc");
        assert_eq!(fired.first_example, Some(([1; 16], [1; 8])));
        for (i, trace) in [1u8, 2, 3].into_iter().enumerate() {
            let later = t0 + Duration::from_secs(i as u64 + 1);
            assert!(
                eps.on_tag(tag(1, AnomalyKind::Shift, 3.0, trace), later, wall, labels)
                    .is_none()
            );
        }
        assert!(
            eps.sweep(t0 + Duration::from_secs(12), wall, Some(1))
                .is_empty()
        );
        let resolved = eps.sweep(t0 + Duration::from_secs(13), wall, Some(1));
        assert_eq!(resolved.len(), 1);
        let r = &resolved[0];
        assert_eq!(r.status, EpisodeStatus::Resolved);
        assert_eq!(r.max_ratio, 3.0);
        assert_eq!(
            r.example_trace_ids,
            vec![hex::encode([1; 16]), hex::encode([2; 16])]
        );
        assert_eq!(eps.len(), 0);
    }

    #[test]
    fn intermittent_tags_open_an_episode_of_their_kind() {
        let mut eps = Episodes::new(EpisodeConfig::default());
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        let fired = eps
            .on_tag(tag(3, AnomalyKind::Intermittent, 20.0, 7), t0, wall, labels)
            .expect("an intermittent tag opens an episode");
        assert_eq!(fired.kind, AnomalyKind::Intermittent);
        assert_eq!(fired.example_trace_ids, vec![hex::encode([7; 16])]);
        assert!(
            eps.on_tag(tag(3, AnomalyKind::Intermittent, 25.0, 8), t0, wall, labels)
                .is_none()
        );
        let resolved = eps.sweep(t0, wall, Some(0));
        assert_eq!(resolved[0].kind, AnomalyKind::Intermittent);
        assert_eq!(resolved[0].max_ratio, 25.0);
    }

    #[test]
    fn detector_count_zero_resolves_all_and_max_open_bounds() {
        let cfg = EpisodeConfig {
            max_open: 1,
            ..EpisodeConfig::default()
        };
        let mut eps = Episodes::new(cfg);
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        assert!(
            eps.on_tag(tag(1, AnomalyKind::Degradation, 2.0, 1), t0, wall, labels)
                .is_some()
        );
        assert!(
            eps.on_tag(tag(2, AnomalyKind::Shift, 2.0, 1), t0, wall, labels)
                .is_none()
        );
        assert_eq!(eps.overflow, 1);
        assert!(eps.sweep(t0, wall, None).is_empty());
        assert_eq!(eps.sweep(t0, wall, Some(0)).len(), 1);
    }
}
