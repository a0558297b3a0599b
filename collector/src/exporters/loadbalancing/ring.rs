//! The consistent-hash ring: each backend owns [`POINTS_PER_BACKEND`] points on a 64-bit
//! circle, placed by a hash of its endpoint; a key belongs to the first point at or after its
//! own hash. Adding or removing one of N backends therefore moves only the keys of the arcs
//! that backend gains or loses, about 1/N of them.
//!
//! The contrib `loadbalancingexporter` does the same with 100 CRC32 points per endpoint on a
//! circle of 36,000 positions; Lookout uses 64-bit positions (no collisions between points) and
//! more points per backend for an even share (1,000: three backends get 33.4 / 33.2 / 33.4 %
//! of random trace ids in the test below, where 160 points gave 38.5 / 29.8 / 31.7 %). The
//! hash is spelled out here (FNV-1a,
//! then a 64-bit finalizer), not taken from a library, so that every agent of a tier, whatever
//! its version, sends a trace to the same gateway.

/// Points each backend places on the ring.
pub(crate) const POINTS_PER_BACKEND: u32 = 1000;

/// The hash of routing keys and ring points: FNV-1a 64 over the bytes, then the `splitmix64`
/// finalizer (FNV alone leaves nearby inputs close on the circle). Stable across versions.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A ring over a set of members, each known by its index in the caller's list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ring {
    /// (position, member index), sorted by position.
    points: Vec<(u64, u32)>,
}

impl Ring {
    /// The ring of `members` (their names place their points); `members[i]` is member `i`.
    pub(crate) fn new<'a>(members: impl IntoIterator<Item = &'a str>) -> Ring {
        let mut points = Vec::new();
        for (i, name) in members.into_iter().enumerate() {
            let mut key = Vec::with_capacity(name.len() + 6);
            for p in 0..POINTS_PER_BACKEND {
                key.clear();
                key.extend_from_slice(name.as_bytes());
                key.push(b'#');
                key.extend_from_slice(p.to_string().as_bytes());
                points.push((hash(&key), i as u32));
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    /// The same ring without the points of the members `skip` rejects: the keys of those
    /// members go to the next point on the circle, every other key stays where it was.
    pub(crate) fn without(&self, skip: impl Fn(usize) -> bool) -> Ring {
        Ring {
            points: self
                .points
                .iter()
                .copied()
                .filter(|(_, m)| !skip(*m as usize))
                .collect(),
        }
    }

    /// Whether no member is on the ring.
    pub(crate) fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The member owning `key_hash` (`None` on an empty ring).
    pub(crate) fn member(&self, key_hash: u64) -> Option<usize> {
        let i = self.points.partition_point(|(p, _)| *p < key_hash);
        self.points
            .get(i)
            .or_else(|| self.points.first())
            .map(|(_, m)| *m as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<u64> {
        // Random trace ids, as an SDK makes them.
        (0..n).map(|_| hash(&rand::random::<[u8; 16]>())).collect()
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{}:4317", i + 1)).collect()
    }

    fn ring_of(names: &[String]) -> Ring {
        Ring::new(names.iter().map(String::as_str))
    }

    #[test]
    fn adding_a_fourth_backend_moves_about_a_quarter_of_the_keys_and_only_to_it() {
        let keys = keys(100_000);
        let three = names(3);
        let four = names(4);
        let (r3, r4) = (ring_of(&three), ring_of(&four));
        let mut moved = 0;
        for k in &keys {
            let (a, b) = (r3.member(*k).unwrap(), r4.member(*k).unwrap());
            if a != b {
                moved += 1;
                assert_eq!(b, 3, "a key moved between two old backends");
            }
        }
        let fraction = moved as f64 / keys.len() as f64;
        eprintln!(
            "3 -> 4 backends: {:.1} % of 100,000 keys moved",
            fraction * 100.0
        );
        assert!((0.20..=0.30).contains(&fraction), "moved {fraction}");
    }

    #[test]
    fn removing_a_backend_moves_only_its_keys() {
        let keys = keys(100_000);
        let four = names(4);
        let r4 = ring_of(&four);
        // Removing member 1, either by rebuilding from the names or by skipping its points.
        let rest: Vec<String> = four
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, n)| n.clone())
            .collect();
        let rebuilt = ring_of(&rest);
        let skipped = r4.without(|m| m == 1);
        let mut moved = 0;
        for k in &keys {
            let before = r4.member(*k).unwrap();
            let after = skipped.member(*k).unwrap();
            // Rebuilt ring numbers the members 0, 2, 3 as 0, 1, 2.
            let rebuilt_name = &rest[rebuilt.member(*k).unwrap()];
            assert_eq!(rebuilt_name, &four[after], "both removals agree");
            if before == 1 {
                moved += 1;
                assert_ne!(after, 1);
            } else {
                assert_eq!(before, after, "a key of a remaining backend moved");
            }
        }
        let fraction = moved as f64 / keys.len() as f64;
        eprintln!(
            "4 -> 3 backends: {:.1} % of 100,000 keys moved",
            fraction * 100.0
        );
        assert!((0.20..=0.30).contains(&fraction), "moved {fraction}");
    }

    #[test]
    fn shares_are_even_and_the_same_whatever_the_member_order() {
        let keys = keys(60_000);
        let three = names(3);
        let ring = ring_of(&three);
        let mut counts = [0usize; 3];
        for k in &keys {
            counts[ring.member(*k).unwrap()] += 1;
        }
        eprintln!("3 backends, 60,000 keys: {counts:?}");
        for c in counts {
            let share = c as f64 / keys.len() as f64;
            assert!((0.31..=0.36).contains(&share), "{counts:?}");
        }
        let reversed: Vec<String> = three.iter().rev().cloned().collect();
        let other = ring_of(&reversed);
        for k in keys.iter().take(1000) {
            assert_eq!(
                three[ring.member(*k).unwrap()],
                reversed[other.member(*k).unwrap()]
            );
        }
        assert!(Ring::default().member(1).is_none());
    }
}
