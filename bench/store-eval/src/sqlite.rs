//! SQLite candidate: `rusqlite` (bundled), one database file per signal, WAL, `synchronous=NORMAL`,
//! one transaction per minute batch, cached prepared statements, covering indexes for the queries.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use crate::engine::{Reader, Res, Writer};
use crate::workload::{
    HIST_BUCKETS, Log, MINUTE_NS, Point, Red, ServiceRed, Span, bucket, merge_red,
};

const SPANS_SQL: &str = "
CREATE TABLE IF NOT EXISTS spans(trace_id BLOB NOT NULL, span_id BLOB NOT NULL, parent BLOB,
  service INTEGER NOT NULL, name INTEGER NOT NULL, kind INTEGER NOT NULL, start INTEGER NOT NULL,
  dur INTEGER NOT NULL, status INTEGER NOT NULL, verdict INTEGER NOT NULL, attrs TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS spans_trace ON spans(trace_id);
CREATE INDEX IF NOT EXISTS spans_svc ON spans(service, start, status, dur);
CREATE TABLE IF NOT EXISTS red(minute INTEGER NOT NULL, service INTEGER NOT NULL, count INTEGER,
  errors INTEGER, dur_sum INTEGER, hist BLOB, PRIMARY KEY(minute, service)) WITHOUT ROWID;";
const POINTS_SQL: &str = "
CREATE TABLE IF NOT EXISTS points(series INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,
  PRIMARY KEY(series, ts)) WITHOUT ROWID;";
const LOGS_SQL: &str = "
CREATE TABLE IF NOT EXISTS logs(ts INTEGER NOT NULL, trace_id BLOB, span_id BLOB, service INTEGER,
  severity INTEGER, body TEXT);
CREATE INDEX IF NOT EXISTS logs_trace ON logs(trace_id);";

fn open(path: &Path, schema: &str) -> Res<Connection> {
    let c = Connection::open(path)?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;",
    )?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.execute_batch(schema)?;
    Ok(c)
}

/// The three databases of one store.
pub struct Sqlite {
    spans: Connection,
    points: Connection,
    logs: Connection,
    dir: PathBuf,
}

/// Opens a writer and a reader on `dir`.
pub fn open_pair(dir: &Path) -> Res<(Box<dyn Writer>, Box<dyn Reader>)> {
    std::fs::create_dir_all(dir)?;
    let w = Sqlite {
        spans: open(&dir.join("spans.db"), SPANS_SQL)?,
        points: open(&dir.join("points.db"), POINTS_SQL)?,
        logs: open(&dir.join("logs.db"), LOGS_SQL)?,
        dir: dir.to_path_buf(),
    };
    let r = Sqlite {
        spans: open(&dir.join("spans.db"), "")?,
        points: open(&dir.join("points.db"), "")?,
        logs: open(&dir.join("logs.db"), "")?,
        dir: dir.to_path_buf(),
    };
    Ok((Box::new(w), Box::new(r)))
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

impl Writer for Sqlite {
    fn write_spans(&mut self, spans: &[Span], red: &[Red]) -> Res<()> {
        let tx = self.spans.transaction()?;
        {
            let mut st =
                tx.prepare_cached("INSERT INTO spans VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)")?;
            for s in spans {
                let parent: Option<&[u8]> = if s.parent == [0; 8] {
                    None
                } else {
                    Some(&s.parent)
                };
                st.execute(params![
                    &s.trace_id[..],
                    &s.span_id[..],
                    parent,
                    s.service,
                    s.name,
                    s.kind,
                    s.start,
                    s.dur,
                    s.status,
                    s.verdict,
                    &s.attrs
                ])?;
            }
            let mut st =
                tx.prepare_cached("INSERT OR REPLACE INTO red VALUES(?1,?2,?3,?4,?5,?6)")?;
            for r in red {
                st.execute(params![
                    r.minute,
                    r.service,
                    r.count as i64,
                    r.errors as i64,
                    r.dur_sum,
                    r.hist_bytes()
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn write_points(&mut self, points: &[Point]) -> Res<()> {
        let tx = self.points.transaction()?;
        {
            let mut st = tx.prepare_cached("INSERT OR REPLACE INTO points VALUES(?1,?2,?3)")?;
            for p in points {
                st.execute(params![p.series, p.ts, p.value])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn write_logs(&mut self, logs: &[Log]) -> Res<()> {
        let tx = self.logs.transaction()?;
        {
            let mut st = tx.prepare_cached("INSERT INTO logs VALUES(?1,?2,?3,?4,?5,?6)")?;
            for l in logs {
                st.execute(params![
                    l.ts,
                    &l.trace_id[..],
                    &l.span_id[..],
                    l.service,
                    l.severity,
                    &l.body
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn finish(&mut self) -> Res<()> {
        for c in [&self.spans, &self.points, &self.logs] {
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        }
        Ok(())
    }

    fn disk_bytes(&self) -> Res<(u64, u64, u64)> {
        let f =
            |n: &str| file_size(&self.dir.join(n)) + file_size(&self.dir.join(format!("{n}-wal")));
        Ok((f("spans.db"), f("points.db"), f("logs.db")))
    }
}

fn row_span(r: &rusqlite::Row<'_>) -> rusqlite::Result<Span> {
    let tid: Vec<u8> = r.get(0)?;
    let sid: Vec<u8> = r.get(1)?;
    let parent: Option<Vec<u8>> = r.get(2)?;
    let mut s = Span {
        trace_id: [0; 16],
        span_id: [0; 8],
        parent: [0; 8],
        service: r.get(3)?,
        name: r.get(4)?,
        kind: r.get(5)?,
        start: r.get(6)?,
        dur: r.get(7)?,
        status: r.get(8)?,
        verdict: r.get(9)?,
        attrs: r.get(10)?,
    };
    s.trace_id.copy_from_slice(&tid);
    s.span_id.copy_from_slice(&sid);
    if let Some(p) = parent {
        s.parent.copy_from_slice(&p);
    }
    Ok(s)
}

impl Reader for Sqlite {
    fn red(&mut self, from: i64, to: i64) -> Res<Vec<ServiceRed>> {
        let (m0, m1) = (from.div_euclid(MINUTE_NS), to.div_euclid(MINUTE_NS));
        let mut st = self.spans.prepare_cached(
            "SELECT service, count, errors, hist FROM red WHERE minute >= ?1 AND minute < ?2",
        )?;
        let rows = st
            .query_map(
                params![
                    m0 - crate::workload::T0 / MINUTE_NS,
                    m1 - crate::workload::T0 / MINUTE_NS
                ],
                |r| {
                    let h: Vec<u8> = r.get(3)?;
                    Ok((
                        r.get::<_, u16>(0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                        Red::hist_from(&h),
                    ))
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(merge_red(rows.into_iter()))
    }

    fn red_raw(&mut self, from: i64, to: i64) -> Res<Vec<ServiceRed>> {
        // Whole table range scan on start: there is no index on start alone, the (service, start)
        // index answers it per service.
        let mut out = Vec::new();
        let mut st = self.spans.prepare_cached(
            "SELECT status, dur FROM spans WHERE service = ?1 AND start >= ?2 AND start < ?3",
        )?;
        for svc in 0..crate::workload::SERVICES.len() as u16 {
            let mut h = [0u32; HIST_BUCKETS];
            let (mut c, mut e) = (0u64, 0u64);
            let mut rows = st.query(params![svc, from, to])?;
            while let Some(r) = rows.next()? {
                c += 1;
                e += u64::from(r.get::<_, u8>(0)? == 2);
                h[bucket(r.get(1)?)] += 1;
            }
            out.push((svc, c, e, h));
        }
        Ok(merge_red(out.into_iter()))
    }

    fn trace(&mut self, trace_id: &[u8; 16]) -> Res<Vec<Span>> {
        let mut st = self
            .spans
            .prepare_cached("SELECT * FROM spans WHERE trace_id = ?1 ORDER BY start")?;
        let v = st
            .query_map(params![&trace_id[..]], row_span)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    fn search(
        &mut self,
        service: u16,
        min_dur: i64,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Res<Vec<[u8; 16]>> {
        let mut st = self.spans.prepare_cached(
            "SELECT trace_id FROM spans WHERE service = ?1 AND start >= ?2 AND start < ?3 AND status = 2 \
             AND dur >= ?4 ORDER BY start DESC",
        )?;
        let mut rows = st.query(params![service, from, to, min_dur])?;
        let mut out: Vec<[u8; 16]> = Vec::new();
        while let Some(r) = rows.next()? {
            let t: Vec<u8> = r.get(0)?;
            let mut id = [0u8; 16];
            id.copy_from_slice(&t);
            if !out.contains(&id) {
                out.push(id);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn series(&mut self, series: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>> {
        let mut st = self.points.prepare_cached(
            "SELECT ts / ?4 * ?4 AS m, avg(value) FROM points WHERE series = ?1 AND ts >= ?2 AND ts < ?3 \
             GROUP BY m ORDER BY m",
        )?;
        let v = st
            .query_map(params![series, from, to, MINUTE_NS], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    fn trace_logs(&mut self, trace_id: &[u8; 16]) -> Res<Vec<Log>> {
        let mut st = self.logs.prepare_cached(
            "SELECT ts, rowid, span_id, service, severity, body FROM logs WHERE trace_id = ?1 ORDER BY ts",
        )?;
        let v = st
            .query_map(params![&trace_id[..]], |r| {
                let sid: Vec<u8> = r.get(2)?;
                let mut span_id = [0u8; 8];
                span_id.copy_from_slice(&sid);
                Ok(Log {
                    ts: r.get(0)?,
                    seq: r.get::<_, i64>(1)? as u64,
                    trace_id: *trace_id,
                    span_id,
                    service: r.get(3)?,
                    severity: r.get(4)?,
                    body: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }
}
