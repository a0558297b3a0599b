//! Evaluation of candidate engines for Lookout's embedded history store (issue 16).
//!
//! For each engine (built-in cargo features `sqlite`, `fjall`, `parquet`) the parent process runs
//! a child process of itself that ingests 24 simulated hours of a 10-service workload on one
//! thread as fast as it can while a second thread runs the console's queries in a loop, then
//! flushes/compacts, measures disk bytes, and times the console's queries over the full 24 h.
//! The parent prints one Markdown table with the engines side by side.
//!
//! Usage: `store-eval [--engines sqlite,fjall,parquet] [--spans N] [--dir DIR] [--queries R]
//! [--otlp-minutes M]`

// Single-engine builds leave parts of the shared workload and codec unused.
#![cfg_attr(not(all(feature = "sqlite", feature = "fjall", feature = "parquet")), allow(dead_code))]

mod engine;
#[cfg(feature = "fjall")]
mod fjall_store;
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "parquet")]
mod parquet_store;
#[cfg(feature = "sqlite")]
mod sqlite;
mod workload;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use engine::{Reader, Res, Writer};
use workload::{Generator, MINUTE_NS, MINUTES, Rng, SERIES, SERVICES, T0, trace_id};

const QUERIES: [&str; 7] = [
    "red_1h",
    "red_24h",
    "red_raw_1h",
    "trace",
    "search_24h",
    "series_24h_1m",
    "trace_logs",
];

fn open(engine: &str, dir: &Path) -> Res<(Box<dyn Writer>, Box<dyn Reader>)> {
    match engine {
        #[cfg(feature = "sqlite")]
        "sqlite" => sqlite::open_pair(dir),
        #[cfg(feature = "fjall")]
        "fjall" => fjall_store::open_pair(dir),
        #[cfg(feature = "parquet")]
        "parquet" => parquet_store::open_pair(dir),
        _ => Err(format!("engine {engine} not built in (enable its cargo feature)").into()),
    }
}

/// Runs query `q` once with random parameters, `now` being the end of the written data.
fn run_query(r: &mut dyn Reader, q: usize, now: i64, traces: u64, rng: &mut Rng) -> Res<usize> {
    let day = (now - 24 * 60 * MINUTE_NS).max(T0);
    let hour = now - 60 * MINUTE_NS;
    Ok(match q {
        0 => r.red(hour, now)?.len(),
        1 => r.red(day, now)?.len(),
        2 => r.red_raw(hour, now)?.len(),
        3 => r.trace(&trace_id(rng.below(traces)))?.len(),
        4 => r
            .search(1 + rng.below(9) as u16, 100_000_000, day, now, 20)?
            .len(),
        5 => r
            .series(rng.below(u64::from(SERIES)) as u32, day, now)?
            .len(),
        _ => r.trace_logs(&trace_id(rng.below(traces)))?.len(),
    })
}

/// A digest of fixed queries over the full day: equal digests mean the engines return the same.
fn fingerprint(r: &mut dyn Reader, traces: u64) -> Res<String> {
    let end = T0 + MINUTES * MINUTE_NS;
    let mut parts: Vec<String> = Vec::new();
    let red = r.red(T0, end)?;
    let raw = r.red_raw(end - 60 * MINUTE_NS, end)?;
    let red1h = r.red(end - 60 * MINUTE_NS, end)?;
    parts.push(format!("{red:?}"));
    parts.push(format!("{raw:?}"));
    let mut n = 0;
    for k in [7, traces / 2, traces - 3] {
        let mut t: Vec<_> = r
            .trace(&trace_id(k))?
            .into_iter()
            .map(|s| (s.span_id, s.dur, s.attrs))
            .collect();
        t.sort();
        n += t.len();
        parts.push(format!("{t:?}"));
        let l: Vec<_> = r
            .trace_logs(&trace_id(k))?
            .into_iter()
            .map(|l| (l.ts, l.body))
            .collect();
        parts.push(format!("{l:?}"));
    }
    parts.push(format!("{:?}", r.search(3, 100_000_000, T0, end, 20)?));
    let s: Vec<(i64, i64)> = r
        .series(77, T0, end)?
        .into_iter()
        .map(|(m, v)| (m, (v * 1e4).round() as i64))
        .collect();
    parts.push(format!("{s:?}"));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    Ok(format!(
        "{:016x} (rollup RED = raw RED over the last hour: {}; {} spans in 3 traces; {} series minutes)",
        h.finish(),
        red1h == raw,
        n,
        s.len()
    ))
}

fn percentile(v: &mut [Duration], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort();
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1e3
}

/// CPU seconds (user + system) from a /proc stat file.
fn cpu_secs(path: &str) -> f64 {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// CPU time consumed so far by the calling thread.
#[allow(unsafe_code)]
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is supported on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f`, adding its wall time and its thread CPU time to the accumulators.
fn timed<T>(wall: &mut Duration, cpu: &mut Duration, f: impl FnOnce() -> Res<T>) -> Res<T> {
    let (t, c) = (Instant::now(), thread_cpu());
    let r = f();
    *cpu += thread_cpu() - c;
    *wall += t.elapsed();
    r
}

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// The child: one engine, printing `R key value` lines.
fn child(engine: &str, dir: &Path, spans_total: u64, repeats: usize) -> Res<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let (mut w, mut r) = open(engine, dir)?;
    let mut g = Generator::new(spans_total);
    let tpm = g.traces_per_minute;
    let done = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (d2, s2) = (done.clone(), stop.clone());
    let qt = std::thread::spawn(move || -> Res<(Box<dyn Reader>, Vec<Vec<Duration>>, f64)> {
        let mut lat = vec![Vec::new(); QUERIES.len()];
        let mut rng = Rng(7);
        while !s2.load(Ordering::Acquire) {
            let m = d2.load(Ordering::Acquire);
            if m < 90 {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            for (q, l) in lat.iter_mut().enumerate() {
                let t = Instant::now();
                run_query(r.as_mut(), q, T0 + m * MINUTE_NS, m as u64 * tpm, &mut rng)?;
                l.push(t.elapsed());
            }
        }
        Ok((r, lat, cpu_secs("/proc/thread-self/stat")))
    });

    let (mut t_spans, mut t_points, mut t_logs, mut t_gen) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    let (mut c_spans, mut c_points, mut c_logs) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut n_spans, mut n_points, mut n_logs) = (0u64, 0u64, 0u64);
    let cpu0 = cpu_secs("/proc/self/stat");
    let wall0 = Instant::now();
    for m in 0..MINUTES {
        let t = Instant::now();
        let d = g.minute(m);
        t_gen += t.elapsed();
        timed(&mut t_spans, &mut c_spans, || {
            w.write_spans(&d.spans, &d.red)
        })?;
        timed(&mut t_points, &mut c_points, || w.write_points(&d.points))?;
        timed(&mut t_logs, &mut c_logs, || w.write_logs(&d.logs))?;
        n_spans += d.spans.len() as u64;
        n_points += d.points.len() as u64;
        n_logs += d.logs.len() as u64;
        done.store(m + 1, Ordering::Release);
    }
    let ingest_wall = wall0.elapsed();
    let ingest_thread_cpu = cpu_secs("/proc/thread-self/stat");
    let proc_cpu = cpu_secs("/proc/self/stat") - cpu0;
    stop.store(true, Ordering::Release);
    let (mut r, mut lat, query_cpu) = qt.join().map_err(|_| "query thread panicked")??;
    let t = Instant::now();
    w.finish()?;
    let t_finish = t.elapsed();
    let (b_spans, b_points, b_logs) = w.disk_bytes()?;

    let out = |k: &str, v: String| println!("R {k} {v}");
    out("spans", n_spans.to_string());
    out("points", n_points.to_string());
    out("logs", n_logs.to_string());
    let rate = |n: u64, t: Duration| format!("{:.0}", n as f64 / t.as_secs_f64());
    out("spans_per_cpu_s", rate(n_spans, c_spans));
    out("points_per_cpu_s", rate(n_points, c_points));
    out("logs_per_cpu_s", rate(n_logs, c_logs));
    out("spans_per_wall_s", rate(n_spans, t_spans));
    out("points_per_wall_s", rate(n_points, t_points));
    out("logs_per_wall_s", rate(n_logs, t_logs));
    let budget = n_spans as f64 / 100_000.0 + n_points as f64 / 200_000.0;
    let (wall, cpu) = (
        (t_spans + t_points + t_logs).as_secs_f64(),
        (c_spans + c_points + c_logs).as_secs_f64(),
    );
    out("write_wall_s", format!("{wall:.1}"));
    out("write_cpu_s", format!("{cpu:.1}"));
    out("target_load_cpu", format!("{:.2}", cpu / budget));
    out("gen_s", format!("{:.1}", t_gen.as_secs_f64()));
    out("ingest_wall_s", format!("{:.1}", ingest_wall.as_secs_f64()));
    out("ingest_thread_cpu_s", format!("{ingest_thread_cpu:.1}"));
    out("proc_cpu_during_ingest_s", format!("{proc_cpu:.1}"));
    out("query_thread_cpu_s", format!("{query_cpu:.1}"));
    out("finish_s", format!("{:.1}", t_finish.as_secs_f64()));
    for (q, l) in lat.iter_mut().enumerate() {
        out(
            &format!("during_{}", QUERIES[q]),
            format!(
                "{:.1} / {:.1} (n={})",
                percentile(l, 0.5),
                percentile(l, 0.95),
                l.len()
            ),
        );
    }
    out(
        "bytes_per_span",
        format!("{:.1}", b_spans as f64 / n_spans as f64),
    );
    out(
        "bytes_per_point",
        format!("{:.2}", b_points as f64 / n_points as f64),
    );
    out(
        "bytes_per_log",
        format!("{:.1}", b_logs as f64 / n_logs as f64),
    );
    out(
        "disk_mib",
        format!("{:.0}", (b_spans + b_points + b_logs) as f64 / 1048576.0),
    );

    // Queries over the full day, the ingest stopped.
    let traces = MINUTES as u64 * tpm;
    let now = T0 + MINUTES * MINUTE_NS;
    let mut rng = Rng(11);
    for (q, name) in QUERIES.iter().enumerate() {
        let (mut l, mut c) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
        for _ in 0..repeats {
            let (t, t0) = (Instant::now(), thread_cpu());
            run_query(r.as_mut(), q, now, traces, &mut rng)?;
            c.push(thread_cpu() - t0);
            l.push(t.elapsed());
        }
        let (l50, l95) = (percentile(&mut l, 0.5), percentile(&mut l, 0.95));
        out(
            &format!("after_{name}"),
            format!(
                "{l50:.1} / {l95:.1} (cpu {:.1} / {:.1})",
                percentile(&mut c, 0.5),
                percentile(&mut c, 0.95)
            ),
        );
    }
    out("fingerprint", fingerprint(r.as_mut(), traces)?);
    out("peak_rss_mib", format!("{:.0}", peak_rss_mib()));
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let spans: u64 = arg("--spans")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5_000_000);
    let repeats: usize = arg("--queries")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(40);
    let dir = PathBuf::from(arg("--dir").unwrap_or_else(|| "target/eval-data".into()));
    if let Some(e) = arg("--child") {
        return child(&e, &dir.join(&e), spans, repeats);
    }
    let engines = arg("--engines").unwrap_or_else(|| "sqlite,fjall,parquet".into());
    let mut table: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let engines: Vec<&str> = engines.split(',').collect();
    for e in &engines {
        eprintln!(
            "== {e}: ingesting ~{spans} spans over 24 simulated hours ({} services)",
            SERVICES.len()
        );
        let o = std::process::Command::new(std::env::current_exe()?)
            .args([
                "--child",
                e,
                "--spans",
                &spans.to_string(),
                "--queries",
                &repeats.to_string(),
            ])
            .arg("--dir")
            .arg(&dir)
            .stderr(std::process::Stdio::inherit())
            .output()?;
        let text = String::from_utf8_lossy(&o.stdout);
        if !o.status.success() {
            eprintln!("{e} failed: {}\n{text}", o.status);
        }
        for l in text.lines() {
            if let Some((k, v)) = l.strip_prefix("R ").and_then(|l| l.split_once(' ')) {
                eprintln!("   {e} {k} = {v}");
                table
                    .entry(k.to_string())
                    .or_default()
                    .push((e.to_string(), v.to_string()));
            }
        }
        let _ = std::fs::remove_dir_all(dir.join(e));
    }
    #[cfg(feature = "otlp")]
    {
        let minutes = arg("--otlp-minutes")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(20);
        let (s, p, l) = otlp::bytes_per_item(spans, minutes);
        println!(
            "OTLP protobuf bytes (first {minutes} simulated minutes, one export per minute and signal): per span {s:.1}, per point {p:.2}, per log {l:.1}; 1/4 of a span: {:.1}\n",
            s / 4.0
        );
    }
    let order: Vec<&str> = [
        "spans",
        "points",
        "logs",
        "spans_per_cpu_s",
        "points_per_cpu_s",
        "logs_per_cpu_s",
        "spans_per_wall_s",
        "points_per_wall_s",
        "logs_per_wall_s",
        "write_wall_s",
        "write_cpu_s",
        "target_load_cpu",
        "gen_s",
        "ingest_wall_s",
        "ingest_thread_cpu_s",
        "proc_cpu_during_ingest_s",
        "query_thread_cpu_s",
        "finish_s",
    ]
    .into_iter()
    .chain(
        QUERIES
            .iter()
            .map(|q| Box::leak(format!("during_{q}").into_boxed_str()) as &str),
    )
    .chain([
        "bytes_per_span",
        "bytes_per_point",
        "bytes_per_log",
        "disk_mib",
    ])
    .chain(
        QUERIES
            .iter()
            .map(|q| Box::leak(format!("after_{q}").into_boxed_str()) as &str),
    )
    .chain(["peak_rss_mib", "fingerprint"])
    .collect();
    println!("| measure | {} |", engines.join(" | "));
    println!("|---|{}", "---|".repeat(engines.len()));
    for k in order {
        let row = table.get(k);
        let cells: Vec<String> = engines
            .iter()
            .map(|e| {
                row.and_then(|r| r.iter().find(|x| x.0 == *e))
                    .map(|x| x.1.clone())
                    .unwrap_or_else(|| "-".into())
            })
            .collect();
        println!("| {k} | {} |", cells.join(" | "));
    }
    Ok(())
}
