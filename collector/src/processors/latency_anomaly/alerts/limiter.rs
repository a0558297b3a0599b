//! Per-key rate limit of notifications: at most one per key per `min_interval`. Events that
//! arrive sooner are coalesced (the latest wins) and released once the interval has passed,
//! as Alertmanager's `group_interval` does for a group.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lookout_anomaly::KeyHash;

use crate::processors::latency_anomaly::episodes::EpisodeEvent;

struct Slot {
    last_sent: Instant,
    pending: Option<EpisodeEvent>,
}

/// Rate-limit state of every key notified within the last `min_interval`.
pub(crate) struct Limiter {
    min_interval: Duration,
    slots: HashMap<KeyHash, Slot>,
    /// Events replaced by a later one of the same key before they could be sent.
    pub(crate) coalesced: u64,
}

impl Limiter {
    pub(crate) fn new(min_interval: Duration) -> Limiter {
        Limiter {
            min_interval,
            slots: HashMap::new(),
            coalesced: 0,
        }
    }

    /// Returns the event if it may be sent now; otherwise keeps it for [`Limiter::due`].
    pub(crate) fn offer(&mut self, event: EpisodeEvent, now: Instant) -> Option<EpisodeEvent> {
        match self.slots.get_mut(&event.key) {
            Some(slot) if now.saturating_duration_since(slot.last_sent) < self.min_interval => {
                if slot.pending.replace(event).is_some() {
                    self.coalesced += 1;
                }
                None
            }
            Some(slot) => {
                slot.last_sent = now;
                if slot.pending.take().is_some() {
                    self.coalesced += 1;
                }
                Some(event)
            }
            None => {
                self.slots.insert(
                    event.key,
                    Slot {
                        last_sent: now,
                        pending: None,
                    },
                );
                Some(event)
            }
        }
    }

    /// When the earliest held event may be sent.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.slots
            .values()
            .filter(|s| s.pending.is_some())
            .map(|s| s.last_sent + self.min_interval)
            .min()
    }

    /// Held events whose interval has passed (marked sent), and forgets idle keys.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<EpisodeEvent> {
        let min = self.min_interval;
        let mut out = Vec::new();
        for slot in self.slots.values_mut() {
            if now.saturating_duration_since(slot.last_sent) >= min
                && let Some(e) = slot.pending.take()
            {
                slot.last_sent = now;
                out.push(e);
            }
        }
        self.slots
            .retain(|_, s| s.pending.is_some() || now.saturating_duration_since(s.last_sent) < min);
        out
    }

    /// Every held event, for the final flush at shutdown.
    pub(crate) fn drain(&mut self) -> Vec<EpisodeEvent> {
        self.slots.drain().filter_map(|(_, s)| s.pending).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use lookout_anomaly::AnomalyKind;

    use super::*;
    use crate::processors::latency_anomaly::episodes::EpisodeStatus;

    fn event(key: u64, status: EpisodeStatus) -> EpisodeEvent {
        EpisodeEvent {
            status,
            key: KeyHash(key),
            service: String::new(),
            key_attributes: Vec::new(),
            labels: Vec::new(),
            kind: AnomalyKind::Shift,
            baseline_ms: 1.0,
            max_ratio: 2.0,
            example_trace_ids: Vec::new(),
            first_example: None,
            starts_at: SystemTime::UNIX_EPOCH,
            ends_at: None,
        }
    }

    #[test]
    fn latency_limiter_holds_coalesces_and_releases() {
        let mut l = Limiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(l.offer(event(1, EpisodeStatus::Firing), t0).is_some());
        // Another key is independent.
        assert!(l.offer(event(2, EpisodeStatus::Firing), t0).is_some());
        let t1 = t0 + Duration::from_secs(1);
        assert!(l.offer(event(1, EpisodeStatus::Resolved), t1).is_none());
        assert!(l.offer(event(1, EpisodeStatus::Firing), t1).is_none());
        assert!(l.offer(event(1, EpisodeStatus::Resolved), t1).is_none());
        assert_eq!(l.coalesced, 2);
        assert_eq!(l.next_due(), Some(t0 + Duration::from_secs(10)));
        assert!(l.due(t0 + Duration::from_secs(9)).is_empty());
        let released = l.due(t0 + Duration::from_secs(10));
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].status, EpisodeStatus::Resolved);
        assert_eq!(l.next_due(), None);
        // Past the interval a new event goes straight through; idle keys are forgotten.
        let t2 = t0 + Duration::from_secs(30);
        assert!(l.due(t2).is_empty());
        assert!(l.slots.is_empty());
        assert!(l.offer(event(1, EpisodeStatus::Firing), t2).is_some());
        assert!(l.offer(event(1, EpisodeStatus::Resolved), t2).is_none());
        assert_eq!(l.drain().len(), 1);
    }
}
