//! fjall candidate: an LSM key-value store with our own key layout. Primary keyspaces are
//! time-ordered (big-endian start time first); secondary keyspaces index by trace id and by
//! (service, time). One write batch per minute and signal.
//!
//! Key layout:
//! - `spans`:          start(8) span_id(8)               -> trace_id parent svc name kind dur status verdict attrs
//! - `spans_by_trace`: trace_id(16) start(8) span_id(8)  -> ()
//! - `spans_by_svc`:   svc(2) start(8) span_id(8)        -> dur(8) status(1) trace_id(16)   (covering the search)
//! - `red`:            minute(8) svc(2)                  -> count errors dur_sum hist
//! - `points`:         series(4) ts(8)                   -> value(8)
//! - `logs`:           ts(8) seq(8)                      -> trace_id span_id svc severity body
//! - `logs_by_trace`:  trace_id(16) ts(8) seq(8)         -> ()

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::engine::codec::{be_i64, get_bytes, get_i64, put_bytes, take};
use crate::engine::{Reader, Res, Writer};
use crate::workload::{
    HIST_BUCKETS, Log, MINUTE_NS, Point, Red, ServiceRed, Span, T0, bucket, merge_red,
};

/// One fjall database with the keyspaces above.
#[derive(Clone)]
pub struct Fjall {
    db: Database,
    spans: Keyspace,
    by_trace: Keyspace,
    by_svc: Keyspace,
    red: Keyspace,
    points: Keyspace,
    logs: Keyspace,
    logs_by_trace: Keyspace,
}

/// Opens a writer and a reader (clones of one handle; fjall is internally synchronised).
pub fn open_pair(dir: &Path) -> Res<(Box<dyn Writer>, Box<dyn Reader>)> {
    let db = Database::builder(dir).cache_size(256 << 20).open()?;
    let ks = |n: &str| db.keyspace(n, KeyspaceCreateOptions::default);
    let f = Fjall {
        spans: ks("spans")?,
        by_trace: ks("spans_by_trace")?,
        by_svc: ks("spans_by_svc")?,
        red: ks("red")?,
        points: ks("points")?,
        logs: ks("logs")?,
        logs_by_trace: ks("logs_by_trace")?,
        db,
    };
    Ok((Box::new(f.clone()), Box::new(f)))
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn decode_span(key: &[u8], v: &[u8]) -> Span {
    let mut p = 0;
    let mut s = Span {
        trace_id: take(v, &mut p, 16).try_into().unwrap(),
        span_id: key[8..16].try_into().unwrap(),
        parent: take(v, &mut p, 8).try_into().unwrap(),
        service: u16::from_le_bytes(take(v, &mut p, 2).try_into().unwrap()),
        name: u16::from_le_bytes(take(v, &mut p, 2).try_into().unwrap()),
        kind: take(v, &mut p, 1)[0],
        start: be_i64(key),
        dur: 0,
        status: 0,
        verdict: 0,
        attrs: String::new(),
    };
    s.dur = get_i64(v, &mut p);
    s.status = take(v, &mut p, 1)[0];
    s.verdict = take(v, &mut p, 1)[0];
    s.attrs = String::from_utf8_lossy(get_bytes(v, &mut p)).into_owned();
    s
}

impl Writer for Fjall {
    fn write_spans(&mut self, spans: &[Span], red: &[Red]) -> Res<()> {
        let mut b = self.db.batch();
        let mut v = Vec::with_capacity(256);
        for s in spans {
            let start = s.start.to_be_bytes();
            v.clear();
            v.extend_from_slice(&s.trace_id);
            v.extend_from_slice(&s.parent);
            v.extend_from_slice(&s.service.to_le_bytes());
            v.extend_from_slice(&s.name.to_le_bytes());
            v.push(s.kind);
            v.extend_from_slice(&s.dur.to_le_bytes());
            v.push(s.status);
            v.push(s.verdict);
            put_bytes(&mut v, s.attrs.as_bytes());
            b.insert(&self.spans, cat(&[&start, &s.span_id]), v.as_slice());
            b.insert(
                &self.by_trace,
                cat(&[&s.trace_id, &start, &s.span_id]),
                &[][..],
            );
            let cov = cat(&[&s.dur.to_le_bytes(), &[s.status], &s.trace_id]);
            b.insert(
                &self.by_svc,
                cat(&[&s.service.to_be_bytes(), &start, &s.span_id]),
                cov,
            );
        }
        for r in red {
            let mut v = cat(&[
                &r.count.to_le_bytes(),
                &r.errors.to_le_bytes(),
                &r.dur_sum.to_le_bytes(),
            ]);
            v.extend_from_slice(&r.hist_bytes());
            b.insert(
                &self.red,
                cat(&[&r.minute.to_be_bytes(), &r.service.to_be_bytes()]),
                v,
            );
        }
        b.commit()?;
        Ok(())
    }

    fn write_points(&mut self, points: &[Point]) -> Res<()> {
        let mut b = self.db.batch();
        for p in points {
            b.insert(
                &self.points,
                cat(&[&p.series.to_be_bytes(), &p.ts.to_be_bytes()]),
                &p.value.to_le_bytes()[..],
            );
        }
        b.commit()?;
        Ok(())
    }

    fn write_logs(&mut self, logs: &[Log]) -> Res<()> {
        let mut b = self.db.batch();
        for l in logs {
            let (ts, seq) = (l.ts.to_be_bytes(), l.seq.to_be_bytes());
            let mut v = cat(&[
                &l.trace_id,
                &l.span_id,
                &l.service.to_le_bytes(),
                &[l.severity],
            ]);
            put_bytes(&mut v, l.body.as_bytes());
            b.insert(&self.logs, cat(&[&ts, &seq]), v);
            b.insert(&self.logs_by_trace, cat(&[&l.trace_id, &ts, &seq]), &[][..]);
        }
        b.commit()?;
        Ok(())
    }

    fn finish(&mut self) -> Res<()> {
        self.db.persist(PersistMode::SyncAll)?;
        for k in self.all() {
            k.rotate_memtable_and_wait()?;
            k.major_compact()?;
        }
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    fn disk_bytes(&self) -> Res<(u64, u64, u64)> {
        let journal = self.db.journal_disk_space()?;
        let spans = self.spans.disk_space() + self.by_trace.disk_space() + self.by_svc.disk_space();
        let spans = spans + self.red.disk_space() + journal; // the journal is counted with spans (conservative)
        Ok((
            spans,
            self.points.disk_space(),
            self.logs.disk_space() + self.logs_by_trace.disk_space(),
        ))
    }
}

impl Fjall {
    fn all(&self) -> [&Keyspace; 7] {
        [
            &self.spans,
            &self.by_trace,
            &self.by_svc,
            &self.red,
            &self.points,
            &self.logs,
            &self.logs_by_trace,
        ]
    }
}

impl Reader for Fjall {
    fn red(&mut self, from: i64, to: i64) -> Res<Vec<ServiceRed>> {
        let (m0, m1) = (
            (from - T0).div_euclid(MINUTE_NS),
            (to - T0).div_euclid(MINUTE_NS),
        );
        let mut rows = Vec::new();
        for kv in self.red.range(m0.to_be_bytes()..m1.to_be_bytes()) {
            let (k, v) = kv.into_inner()?;
            let svc = u16::from_be_bytes([k[8], k[9]]);
            let mut p = 0;
            let c = get_i64(&v, &mut p) as u64;
            let e = get_i64(&v, &mut p) as u64;
            rows.push((svc, c, e, Red::hist_from(&v[24..])));
        }
        Ok(merge_red(rows.into_iter()))
    }

    fn red_raw(&mut self, from: i64, to: i64) -> Res<Vec<ServiceRed>> {
        let mut acc: Vec<(u16, u64, u64, [u32; HIST_BUCKETS])> = (0
            ..crate::workload::SERVICES.len() as u16)
            .map(|s| (s, 0, 0, [0; HIST_BUCKETS]))
            .collect();
        for svc in 0..acc.len() as u16 {
            let lo = cat(&[&svc.to_be_bytes(), &from.to_be_bytes()]);
            let hi = cat(&[&svc.to_be_bytes(), &to.to_be_bytes()]);
            let a = &mut acc[usize::from(svc)];
            for kv in self.by_svc.range(lo..hi) {
                let (_, v) = kv.into_inner()?;
                let mut p = 0;
                let dur = get_i64(&v, &mut p);
                a.1 += 1;
                a.2 += u64::from(v[8] == 2);
                a.3[bucket(dur)] += 1;
            }
        }
        Ok(merge_red(acc.into_iter()))
    }

    fn trace(&mut self, trace_id: &[u8; 16]) -> Res<Vec<Span>> {
        let mut out = Vec::new();
        for kv in self.by_trace.prefix(trace_id) {
            let k = kv.key()?;
            let pk = &k[16..32];
            if let Some(v) = self.spans.get(pk)? {
                out.push(decode_span(pk, &v));
            }
        }
        Ok(out)
    }

    fn search(
        &mut self,
        service: u16,
        min_dur: i64,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Res<Vec<[u8; 16]>> {
        let lo = cat(&[&service.to_be_bytes(), &from.to_be_bytes()]);
        let hi = cat(&[&service.to_be_bytes(), &to.to_be_bytes()]);
        let mut out: Vec<[u8; 16]> = Vec::new();
        for kv in self.by_svc.range(lo..hi).rev() {
            let (_, v) = kv.into_inner()?;
            let mut p = 0;
            let dur = get_i64(&v, &mut p);
            if v[8] == 2 && dur >= min_dur {
                let id: [u8; 16] = v[9..25].try_into().unwrap();
                if !out.contains(&id) {
                    out.push(id);
                    if out.len() == limit {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    fn series(&mut self, series: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>> {
        let lo = cat(&[&series.to_be_bytes(), &from.to_be_bytes()]);
        let hi = cat(&[&series.to_be_bytes(), &to.to_be_bytes()]);
        let mut out: Vec<(i64, f64)> = Vec::new();
        let mut cur = (i64::MIN, 0.0, 0u32);
        for kv in self.points.range(lo..hi) {
            let (k, v) = kv.into_inner()?;
            let m = be_i64(&k[4..]).div_euclid(MINUTE_NS) * MINUTE_NS;
            let x = f64::from_le_bytes(v[..8].try_into().unwrap());
            if m != cur.0 {
                if cur.2 > 0 {
                    out.push((cur.0, cur.1 / f64::from(cur.2)));
                }
                cur = (m, 0.0, 0);
            }
            cur.1 += x;
            cur.2 += 1;
        }
        if cur.2 > 0 {
            out.push((cur.0, cur.1 / f64::from(cur.2)));
        }
        Ok(out)
    }

    fn trace_logs(&mut self, trace_id: &[u8; 16]) -> Res<Vec<Log>> {
        let mut out = Vec::new();
        for kv in self.logs_by_trace.prefix(trace_id) {
            let k = kv.key()?;
            let pk = &k[16..32];
            if let Some(v) = self.logs.get(pk)? {
                let mut p = 0;
                let trace_id = take(&v, &mut p, 16).try_into().unwrap();
                let span_id = take(&v, &mut p, 8).try_into().unwrap();
                let service = u16::from_le_bytes(take(&v, &mut p, 2).try_into().unwrap());
                let severity = take(&v, &mut p, 1)[0];
                let body = String::from_utf8_lossy(get_bytes(&v, &mut p)).into_owned();
                let seq = u64::from_be_bytes(pk[8..16].try_into().unwrap());
                out.push(Log {
                    ts: be_i64(pk),
                    seq,
                    trace_id,
                    span_id,
                    service,
                    severity,
                    body,
                });
            }
        }
        Ok(out)
    }
}
