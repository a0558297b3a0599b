//! Latency anomaly episodes as their detectors (`latency_anomaly` processors) opened and
//! resolved them.

use serde::Serialize;

use super::ring::{Listed, Openable, Ring};

/// One episode of one detector key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct EpisodeRecord {
    /// The `latency_anomaly` processor that detected it.
    pub(crate) source: String,
    /// The detector key, hex.
    pub(crate) key: String,
    /// `service.name` of the first tagged span (empty when it had none).
    pub(crate) service: String,
    /// The key's fields as (name, value).
    pub(crate) labels: Vec<(String, String)>,
    /// `shift`, `degradation` or `intermittent`.
    pub(crate) kind: String,
    /// The key's median duration before the episode, ms.
    pub(crate) baseline_ms: f64,
    /// The worst duration seen in the episode, ms (`baseline_ms × max_ratio`).
    pub(crate) observed_ms: f64,
    /// The worst duration / baseline ratio seen in the episode.
    pub(crate) max_ratio: f64,
    /// Hex trace ids of the first tagged spans.
    pub(crate) example_trace_ids: Vec<String>,
    /// When it opened, ms since the Unix epoch.
    pub(crate) starts_at_ms: u64,
    /// When it resolved (`None` while open).
    pub(crate) ends_at_ms: Option<u64>,
}

impl Openable for EpisodeRecord {
    fn is_open(&self) -> bool {
        self.ends_at_ms.is_none()
    }
}

/// The most recent episodes, bounded.
#[derive(Debug)]
pub(crate) struct EpisodeHistory {
    ring: Ring<EpisodeRecord>,
}

impl EpisodeHistory {
    /// An empty history of at most `capacity` episodes.
    pub(crate) fn new(capacity: usize) -> EpisodeHistory {
        EpisodeHistory {
            ring: Ring::new(capacity),
        }
    }

    /// Records an episode event: a firing one opens a record (or refreshes the open record of
    /// the same source and key); a resolved one closes that record, or is kept closed when its
    /// opening was not seen (evicted, or sent before a restart).
    pub(crate) fn record(&mut self, event: EpisodeRecord) {
        let open = self
            .ring
            .newest_open_mut(|r| r.source == event.source && r.key == event.key);
        match open {
            Some(record) => {
                let starts_at_ms = record.starts_at_ms.min(event.starts_at_ms);
                *record = EpisodeRecord {
                    starts_at_ms,
                    ..event
                };
            }
            None => self.ring.push(event),
        }
    }

    /// How many episodes it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Open episodes first, then resolved ones, newest first.
    pub(crate) fn listed(&self) -> Listed<EpisodeRecord> {
        self.ring.listed()
    }
}
