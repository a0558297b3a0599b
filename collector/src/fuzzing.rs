//! Entry points for the `cargo fuzz` targets in `fuzz/` (at the repository root).
//!
//! Compiled only with the `fuzzing` feature, which no normal build enables; not a stable API.
//! Each function wraps one crate-private piece that reads hostile input, with plain types in
//! and out so the fuzz crate needs none of the collector's internals:
//!
//! * [`grpc_unframe`] — the OTLP/gRPC receiver's unframing and decompression of a unary body.
//! * [`decompress`] — the shared decompressor (gRPC and HTTP bodies) under a size limit.
//! * [`FilelogOperators`] — the filelog receiver's `operators:` (parsers, field operators,
//!   routers) built from YAML and run on lines; [`filelog_expr`] — its `expr` language alone.
//! * [`filelog_split`] — the filelog reader's line splitter (encoding, `max_log_size`) and
//!   multiline aggregation, fed chunk by chunk as the reader feeds them.
//! * [`queue_append`] / [`queue_open`] — the persistent queue's segment log: written by the log
//!   itself (for seeds), and opened on a directory of arbitrary files and read to the end.
//! * [`segment_log`] — the persistent queue's segment log, for `bench/queue-eval/` (not a fuzz
//!   target: the evaluation against queue crates in RELIABILITY.md).

use std::path::Path;

pub mod segment_log;

use bytes::Bytes;

use crate::compression::{self, Codec};
use crate::core::Signal;
use crate::exporters::persistent_queue::log::{LogOptions, SegmentLog};
use crate::receivers::filelog::operators::{Entry, OperatorConfig, Pipeline, expr::Expr};
use crate::receivers::filelog::split::{Aggregator, Encoding, LineBuffer, Multiline};

/// The codecs [`grpc_unframe`] and [`decompress`] take, by index (`i % 4`).
pub fn codec_name(i: u8) -> &'static str {
    match i % 4 {
        0 => "identity",
        1 => "gzip",
        2 => "deflate",
        _ => "zstd",
    }
}

/// Unframes (and decompresses, per `encoding`) one gRPC unary request body as the OTLP
/// receiver does, refusing messages over `limit` bytes. Returns the message, or the gRPC
/// status code and message of the refusal.
pub fn grpc_unframe(body: &[u8], encoding: &str, limit: usize) -> Result<Vec<u8>, String> {
    let codec = Codec::from_name(encoding).ok_or_else(|| format!("unknown codec {encoding}"))?;
    crate::receivers::otlp::grpc::unframe(Bytes::copy_from_slice(body), codec, limit)
        .map(|b| b.to_vec())
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
}

/// Decompresses `data` with `encoding` under `limit`, as every receiver does.
pub fn decompress(data: &[u8], encoding: &str, limit: usize) -> Result<Vec<u8>, String> {
    let codec = Codec::from_name(encoding).ok_or_else(|| format!("unknown codec {encoding}"))?;
    compression::decompress(codec, Bytes::copy_from_slice(data), limit)
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string())
}

/// A filelog `operators:` list, built.
pub struct FilelogOperators(Pipeline);

impl FilelogOperators {
    /// Builds the operators from the YAML of an `operators:` list (the receiver's checks).
    pub fn new(yaml: &str) -> Result<FilelogOperators, String> {
        let configs: Vec<OperatorConfig> =
            serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        Pipeline::new(&configs).map(FilelogOperators)
    }

    /// Runs the operators on one line; returns (kept, errors).
    pub fn process(&self, line: &str) -> (bool, usize) {
        let mut entry = Entry::from_line(line.to_owned());
        let outcome = self.0.process(&mut entry);
        (outcome.keep, outcome.errors)
    }
}

/// Parses `source` as a filelog `expr` and evaluates it on a record whose body is `line`.
pub fn filelog_expr(source: &str, line: &str) -> Result<bool, String> {
    let expr = Expr::parse(source)?;
    Ok(expr.is_true(&Entry::from_line(line.to_owned())))
}

/// One line or record out of [`filelog_split`]: (text, file offset just past it, cut at
/// `max_log_size`).
pub type SplitItem = (String, u64, bool);

/// What [`filelog_split`] produced: every line the splitter returned, and every record the
/// multiline aggregator made of them, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SplitOutput {
    /// Lines, as the splitter returned them.
    pub lines: Vec<SplitItem>,
    /// Records, as the aggregator returned them (the last ones at end of file).
    pub records: Vec<SplitItem>,
}

/// Feeds `chunks` one after the other to the filelog splitter (`encoding` by name,
/// `max_log_size`, starting at file offset `offset`) as the reader does: every complete line
/// taken after each chunk, then the rest flushed at end of file. `multiline` is
/// `(is_start_pattern, regex)`. Fails only on a bad encoding name or regex.
pub fn filelog_split(
    encoding: &str,
    max_log_size: usize,
    multiline: Option<(bool, &str)>,
    offset: u64,
    chunks: &[&[u8]],
) -> Result<SplitOutput, String> {
    let encoding = Encoding::parse(encoding)?;
    let multiline = match multiline {
        None => None,
        Some((start, re)) => {
            let re = cached_regex(re)?;
            Some(if start {
                Multiline::Start(re)
            } else {
                Multiline::End(re)
            })
        }
    };
    let mut lines = LineBuffer::new(encoding, max_log_size, offset);
    let mut aggregator = Aggregator::new(multiline, max_log_size);
    let mut out = SplitOutput::default();
    let mut take = |line: crate::receivers::filelog::split::Line, out: &mut SplitOutput| {
        out.lines.push((line.text.clone(), line.end, line.split));
        if let Some(r) = aggregator.push(line) {
            out.records.push((r.text, r.end, r.split));
        }
    };
    for chunk in chunks {
        lines.extend(chunk);
        while let Some(line) = lines.next_line(false) {
            take(line, &mut out);
        }
    }
    while let Some(line) = lines.next_line(true) {
        take(line, &mut out);
    }
    if let Some(r) = aggregator.flush() {
        out.records.push((r.text, r.end, r.split));
    }
    Ok(out)
}

/// `pattern` compiled once per thread: compiling a multiline pattern cost more than splitting
/// a fuzzer's input, and a `Regex` clone shares the compiled program.
fn cached_regex(pattern: &str) -> Result<regex::Regex, String> {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, regex::Regex>> =
            std::cell::RefCell::default();
    }
    CACHE.with(|cache| {
        if let Some(re) = cache.borrow().get(pattern) {
            return Ok(re.clone());
        }
        let re = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
        cache.borrow_mut().insert(pattern.to_owned(), re.clone());
        Ok(re)
    })
}

/// The segment log's byte for a signal (`signal` in a record header).
fn signal_byte(signal: Signal) -> u8 {
    match signal {
        Signal::Traces => 1,
        Signal::Metrics => 2,
        Signal::Logs => 3,
    }
}

/// Opens the persistent queue's log in `dir` (segments of `segment_bytes`), appends `records`
/// (`(signal byte 1–3, items, payload)`), acknowledges the first `acked` of the records found
/// there, and closes it, writing its checkpoint: real segment and checkpoint files.
pub fn queue_append(
    dir: &Path,
    segment_bytes: u64,
    records: &[(u8, u32, &[u8])],
    acked: usize,
) -> Result<(), String> {
    let options = LogOptions {
        max_bytes: 1 << 30,
        segment_bytes,
    };
    let (mut log, _) = SegmentLog::open(dir, options).map_err(|e| e.to_string())?;
    for (signal, items, payload) in records {
        let signal = match *signal {
            1 => Signal::Traces,
            2 => Signal::Metrics,
            _ => Signal::Logs,
        };
        log.append(signal, *items as usize, payload)
            .map_err(|e| e.to_string())?;
    }
    log.sync().map_err(|e| e.to_string())?;
    for _ in 0..acked {
        match log.next_unread_with(|_| None) {
            Some(Ok(record)) => log.ack(record.id),
            Some(Err(_)) => {}
            None => break,
        }
    }
    log.write_checkpoint().map_err(|e| e.to_string())
}

/// A record read back by [`queue_open`]: (id, signal byte, items, payload).
pub type QueueRecord = (u64, u8, usize, Vec<u8>);

/// What [`queue_open`] found.
#[derive(Debug, Default)]
pub struct QueueOpened {
    /// Every record handed out, in order.
    pub records: Vec<QueueRecord>,
    /// Records that were kept at start-up but did not read back (dropped, with the reason).
    pub unreadable: Vec<String>,
    /// `Recovery::replayed`.
    pub replayed: u64,
    /// `Recovery::corrupted_bytes`.
    pub corrupted_bytes: u64,
}

/// Opens the persistent queue's log in `dir` as the exporter does at start-up and reads every
/// unacknowledged record (none is acknowledged), then closes it.
pub fn queue_open(dir: &Path) -> Result<QueueOpened, String> {
    let (mut log, recovery) =
        SegmentLog::open(dir, LogOptions::for_limit(1 << 30)).map_err(|e| e.to_string())?;
    let mut opened = QueueOpened {
        replayed: recovery.replayed,
        corrupted_bytes: recovery.corrupted_bytes,
        ..QueueOpened::default()
    };
    while let Some(next) = log.next_unread_with(|_| None) {
        match next {
            Ok(r) => {
                opened
                    .records
                    .push((r.id, signal_byte(r.signal), r.items, r.payload.to_vec()))
            }
            Err((why, _)) => opened.unreadable.push(why),
        }
    }
    Ok(opened)
}
