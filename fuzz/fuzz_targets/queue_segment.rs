//! The persistent queue's segment log opened on a directory of arbitrary files and read to the
//! end. Input: a list of files, each `kind u8 | name u8 | len u16 LE | bytes`: kind % 3 is a
//! segment (`segment-<name, 20 digits>.log`), the checkpoint, or some other file.
//!
//! What must hold: opening never fails and nothing panics (bad contents are moved aside); no
//! kept record fails to read back; every record handed out is one whose checksum holds in the
//! segment bytes as written (a differential check with a parser of the format written here:
//! `len | crc32 | id | millis | signal | items | payload`, the CRC over everything after
//! itself); ids strictly increase; opening the result again hands out the same records and
//! finds nothing more to move aside.
//!
//! Seeds are directories written by the log itself (`queue_append`, the SDK's requests of
//! `corpus/wire_validate` as payloads), some then torn or with a byte flipped: run the target
//! once with `LOOKOUT_FUZZ_WRITE_SEEDS=corpus/queue_segment` (it writes them and exits).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_collector::fuzzing::{QueueRecord, queue_append, queue_open};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

const HEADER: usize = 29;

fn word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Whether `segment` holds `record` at some offset with a checksum that holds.
fn holds(segment: &[u8], (id, signal, items, payload): &QueueRecord) -> bool {
    let id = id.to_le_bytes();
    let end = segment.len().saturating_sub(HEADER + payload.len());
    (8..=end).any(|at| {
        let h = &segment[at..at + HEADER];
        h[8..16] == id
            && word(&h[0..4]) as usize == payload.len()
            && h[24] == *signal
            && word(&h[25..29]) as usize == *items
            && &segment[at + HEADER..at + HEADER + payload.len()] == payload.as_slice()
            && {
                let mut crc = crc32fast::Hasher::new();
                crc.update(&h[8..]);
                crc.update(payload);
                crc.finalize() == word(&h[4..8])
            }
    })
}

fn scratch() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "lookout-fuzz-queue-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// With `LOOKOUT_FUZZ_WRITE_SEEDS=<corpus dir>`, writes the seeds there and exits.
fn write_seeds_if_asked() {
    let Some(out) = std::env::var_os("LOOKOUT_FUZZ_WRITE_SEEDS") else {
        return;
    };
    let out = PathBuf::from(out);
    let payload = |name: &str| {
        std::fs::read(out.join("../wire_validate").join(name)).expect("wire_validate seeds")
    };
    let payloads = [
        (1, 2, payload("seed-traces-0.pb")),
        (3, 2, payload("seed-logs-0.pb")),
        (2, 3, payload("seed-metrics-0.pb")),
        (1, 4, payload("seed-traces-1.pb")),
        (3, 4, payload("seed-logs-1.pb")),
        (2, 5, payload("seed-metrics-1.pb")),
    ];
    // (name, records, segment size, acknowledged, damage: (segment index, cut, flipped byte))
    type Damage = Option<(usize, usize, Option<usize>)>;
    let cases: [(&str, usize, u64, usize, Damage); 5] = [
        ("one-segment", 3, 1 << 20, 0, None),
        ("segments-acked", 6, 2048, 2, None),
        ("torn-tail", 3, 1 << 20, 0, Some((0, 10, None))),
        ("flipped-byte", 6, 2048, 1, Some((1, 0, Some(40)))),
        ("all-acked", 2, 1 << 20, 2, None),
    ];
    for (name, n, segment_bytes, acked, damage) in cases {
        let dir = scratch();
        let _ = std::fs::remove_dir_all(&dir);
        let records: Vec<(u8, u32, &[u8])> = payloads[..n]
            .iter()
            .map(|(s, i, p)| (*s, *i, p.as_slice()))
            .collect();
        queue_append(&dir, segment_bytes, &records, acked).expect("queue_append");
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|f| f.starts_with("segment-") || f == "checkpoint")
            .map(|f| (f.clone(), std::fs::read(dir.join(&f)).expect("read")))
            .collect();
        files.sort();
        if let Some((index, cut, flip)) = damage {
            let bytes = &mut files[index].1;
            bytes.truncate(bytes.len() - cut);
            if let Some(at) = flip {
                bytes[at] ^= 0x40;
            }
        }
        let mut seed = Vec::new();
        for (file, bytes) in &files {
            let (kind, id) = match file.strip_prefix("segment-") {
                Some(id) => (
                    0u8,
                    id.trim_end_matches(".log").parse::<u8>().expect("small id"),
                ),
                None => (1, 0),
            };
            seed.extend_from_slice(&[kind, id]);
            seed.extend_from_slice(&u16::try_from(bytes.len()).expect("small").to_le_bytes());
            seed.extend_from_slice(bytes);
        }
        std::fs::write(out.join(format!("seed-{name}")), seed).expect("write seed");
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::process::exit(0);
}

fuzz_target!(init: write_seeds_if_asked(), |data: &[u8]| {
    let dir = scratch();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let mut segments = Vec::new();
    let mut rest = data;
    while let [kind, name, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*l0, *l1])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        let file = match kind % 3 {
            0 => format!("segment-{name:020}.log"),
            1 => "checkpoint".to_owned(),
            _ => format!("other-{name}"),
        };
        std::fs::write(dir.join(&file), bytes).expect("write");
        if kind % 3 == 0 {
            segments.retain(|(f, _)| *f != file);
            segments.push((file, bytes.to_vec()));
        }
    }

    let opened = queue_open(&dir).expect("opening never fails on bad contents");
    assert!(opened.unreadable.is_empty(), "kept but unreadable: {:?}", opened.unreadable);
    assert_eq!(opened.replayed, opened.records.len() as u64);
    for pair in opened.records.windows(2) {
        assert!(pair[0].0 < pair[1].0, "ids out of order: {} then {}", pair[0].0, pair[1].0);
    }
    for record in &opened.records {
        assert!(
            segments.iter().any(|(_, bytes)| holds(bytes, record)),
            "record {} was not written with a valid checksum",
            record.0
        );
    }
    let again = queue_open(&dir).expect("second open");
    assert_eq!(again.corrupted_bytes, 0, "the second open moved more aside");
    assert_eq!(again.records, opened.records, "the second open hands out other records");
    let _ = std::fs::remove_dir_all(&dir);
});
