//! What every candidate engine implements: a writer owned by the ingest thread and a reader owned
//! by the query thread, answering the console's queries.

use crate::workload::{Log, Point, Red, ServiceRed, Span};

/// Errors of the evaluation (any engine's error, boxed).
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The ingest side of a store. Each write call carries one simulated minute of its signal.
pub trait Writer: Send {
    /// Writes one minute of span summaries and its per-service RED rollup rows.
    fn write_spans(&mut self, spans: &[Span], red: &[Red]) -> Res<()>;
    /// Writes metric points.
    fn write_points(&mut self, points: &[Point]) -> Res<()>;
    /// Writes log records.
    fn write_logs(&mut self, logs: &[Log]) -> Res<()>;
    /// Flushes and compacts everything (after the last write; disk usage is measured after it).
    fn finish(&mut self) -> Res<()>;
    /// Bytes on disk per signal: (spans incl. rollups and indexes, metric points, logs).
    fn disk_bytes(&self) -> Res<(u64, u64, u64)>;
}

/// The query side of a store (the console's queries). Ranges are `[from, to)` in Unix ns.
pub trait Reader: Send {
    /// RED per service from the per-minute rollups.
    fn red(&mut self, from: i64, to: i64) -> Res<Vec<ServiceRed>>;
    /// RED per service computed from the raw span summaries (no rollup).
    fn red_raw(&mut self, from: i64, to: i64) -> Res<Vec<ServiceRed>>;
    /// All spans of a trace.
    fn trace(&mut self, trace_id: &[u8; 16]) -> Res<Vec<Span>>;
    /// Newest traces (distinct ids, newest span first) with an error span of `service` lasting at
    /// least `min_dur` ns, starting in the range.
    fn search(
        &mut self,
        service: u16,
        min_dur: i64,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Res<Vec<[u8; 16]>>;
    /// One series averaged per minute: (minute start, average), in time order.
    fn series(&mut self, series: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>>;
    /// The log records of a trace, in time order.
    fn trace_logs(&mut self, trace_id: &[u8; 16]) -> Res<Vec<Log>>;
}

/// Little helpers shared by the engines' codecs.
pub mod codec {
    /// Appends a length-prefixed byte string.
    pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    }
    /// Reads `n` bytes at `*pos`.
    pub fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> &'a [u8] {
        let s = &b[*pos..*pos + n];
        *pos += n;
        s
    }
    /// Reads a length-prefixed byte string.
    pub fn get_bytes<'a>(b: &'a [u8], pos: &mut usize) -> &'a [u8] {
        let n = u32::from_le_bytes(take(b, pos, 4).try_into().unwrap()) as usize;
        take(b, pos, n)
    }
    /// Reads a little-endian i64.
    pub fn get_i64(b: &[u8], pos: &mut usize) -> i64 {
        i64::from_le_bytes(take(b, pos, 8).try_into().unwrap())
    }
    /// Reads a big-endian i64 (keys).
    pub fn be_i64(b: &[u8]) -> i64 {
        i64::from_be_bytes(b[..8].try_into().unwrap())
    }
}
