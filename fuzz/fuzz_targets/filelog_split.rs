//! The filelog reader's line splitter and multiline aggregation on arbitrary bytes fed in
//! arbitrary pieces. Input: an encoding byte (UTF-8, UTF-16LE, UTF-16BE; its high bits pick the
//! start offset), `max_log_size - 1`, a multiline selector (none, two start patterns, two end
//! patterns), a count `k` of chunk sizes, `k` sizes, then the file's bytes.
//!
//! What must hold: no panic; the same lines and records whether the bytes come in one piece or
//! in pieces of the fuzzed sizes (the splitter keeps what it has not returned, so where a read
//! ends must not matter); line and record ends strictly increase and the last one is the end of
//! the input; no line holds its newline; without multiline every line is a record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_collector::fuzzing::{SplitItem, filelog_split};

const ENCODINGS: [&str; 3] = ["utf-8", "utf-16le", "utf-16be"];
const MULTILINE: [Option<(bool, &str)>; 5] = [
    None,
    Some((true, r"^\S")),
    Some((true, r"^\d{4}-\d\d-\d\d")),
    Some((false, r";$")),
    Some((false, r"^\}")),
];

fn check_ends(items: &[SplitItem], offset: u64, len: usize, what: &str) {
    let mut last = offset;
    for (i, (_, end, _)) in items.iter().enumerate() {
        assert!(*end > last, "{what} {i}: end {end} after {last}");
        last = *end;
    }
    if len > 0 {
        assert_eq!(
            last,
            offset + len as u64,
            "{what}: the last one must end the input"
        );
    } else {
        assert!(items.is_empty(), "{what} out of no bytes");
    }
}

fuzz_target!(|data: &[u8]| {
    let [enc, max, multi, k, rest @ ..] = data else {
        return;
    };
    let k = usize::from(*k % 16);
    let Some((sizes, bytes)) = rest.split_at_checked(k) else {
        return;
    };
    let encoding = ENCODINGS[usize::from(*enc) % 3];
    let offset = u64::from(*enc / 3) * 1000;
    let max = usize::from(*max) + 1;
    let multiline = MULTILINE[usize::from(*multi) % MULTILINE.len()];

    let whole = filelog_split(encoding, max, multiline, offset, &[bytes]).expect("whole");
    let mut pieces = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < bytes.len() {
        let n = sizes.get(i % k.max(1)).map_or(1, |s| usize::from(*s) + 1);
        let end = (at + n).min(bytes.len());
        pieces.push(&bytes[at..end]);
        at = end;
        i += 1;
    }
    let chunked = filelog_split(encoding, max, multiline, offset, &pieces).expect("chunked");
    assert_eq!(
        whole, chunked,
        "pieces of sizes {sizes:?} changed the output"
    );

    check_ends(&whole.lines, offset, bytes.len(), "line");
    check_ends(&whole.records, offset, bytes.len(), "record");
    for (text, _, _) in &whole.lines {
        assert!(!text.contains('\n'), "a line holds a newline: {text:?}");
    }
    if multiline.is_none() {
        assert_eq!(whole.lines, whole.records);
    }
});
