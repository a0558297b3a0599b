//! The store's cost on one synthetic day (ignored; run in release):
//! `cargo test -p lookout-collector --release --lib store_cost -- --ignored --nocapture`.
//! `STORE_BENCH_TRACES_PER_MIN` (default 442, as bench/store-eval) and
//! `STORE_BENCH_SERIES` (default 2,000 series, one point every 30 s) set the volume.
//!
//! A day ending now, 10 services, 3–12 spans per trace with 8 attributes, 1 log record per
//! 4 spans, encoded as OTLP (one request per service and minute, six resource attributes), is
//! written minute by minute through `Store::append`, with a flush (and the hourly compaction
//! it runs) every `flush_interval` of the simulated clock (the default, 5 minutes;
//! `STORE_BENCH_FLUSH_MINUTES` sets another), as a real-time load gets.
//! While the day is written a second thread plays the console in use: it runs the console's
//! queries over the last 24 h of the simulated clock, one every
//! `STORE_BENCH_CONSOLE_PAUSE_MS` (default 100; `STORE_BENCH_CONSOLE=0`: no console).
//! Figures: items per CPU-second of the writing thread (append + flush), disk bytes per item
//! against the OTLP bytes, the console's queries while writing and over the whole day (wall
//! and thread CPU), and the trace search without its pushdown, for comparison.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Instant;

use prost::Message;

use super::config::StoreConfig;
use super::db::{Store, now_ns};
use super::metrics::StoreMetrics;
use super::query::Search;
use super::rollup::{HOUR_NS, MINUTE_NS};
use crate::core::Signal;
use crate::telemetry::Telemetry;
use lookout_proto::otlp::collector::{logs, metrics, trace};
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

const SERVICES: [&str; 10] = [
    "frontend",
    "cart",
    "checkout",
    "payment",
    "shipping",
    "email",
    "currency",
    "ads",
    "recommend",
    "catalog",
];
const OPS: [&str; 6] = [
    "GET /",
    "GET /item",
    "POST /pay",
    "query",
    "publish",
    "render",
];

fn cpu() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift: a reproducible day.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

fn resource(service: &str, host: usize) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", service.into()),
            kv("service.version", "1.4.2".into()),
            kv("host.name", format!("host-{host}")),
            kv("deployment.environment", "prod".into()),
            kv("telemetry.sdk.language", "rust".into()),
            kv("telemetry.sdk.name", "opentelemetry".into()),
        ],
        ..Default::default()
    })
}

/// One minute of traces (a request per service) and logs (one request), encoded.
fn minute_of_traces(
    rng: &mut Rng,
    start: i64,
    traces: usize,
    ids: &mut Vec<[u8; 16]>,
) -> (Vec<Vec<u8>>, Vec<u8>, usize, usize) {
    let mut per_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    let mut records: Vec<LogRecord> = Vec::new();
    let mut n_spans = 0;
    for t in 0..traces {
        let mut tid = [0u8; 16];
        tid[..8].copy_from_slice(&rng.next().to_be_bytes());
        tid[8..].copy_from_slice(&rng.next().to_be_bytes());
        if t % 50 == 0 {
            ids.push(tid);
        }
        let t0 = start + rng.below(MINUTE_NS as u64) as i64;
        let n = 3 + rng.below(10) as usize;
        let error = rng.below(100) < 2;
        let root_dur = 5_000_000 + rng.below(400_000_000) as i64;
        for i in 0..n {
            let svc = if i == 0 { 0 } else { 1 + rng.below(9) as usize };
            let sid = (rng.next() | 1).to_be_bytes();
            let dur = if i == 0 {
                root_dur
            } else {
                root_dur / (2 + rng.below(8) as i64)
            };
            let span = Span {
                trace_id: tid.to_vec(),
                span_id: sid.to_vec(),
                parent_span_id: if i == 0 { Vec::new() } else { vec![7; 8] },
                name: OPS[rng.below(OPS.len() as u64) as usize].into(),
                kind: if i == 0 { 2 } else { 3 },
                start_time_unix_nano: (t0 + i as i64 * 1000) as u64,
                end_time_unix_nano: (t0 + i as i64 * 1000 + dur) as u64,
                attributes: vec![
                    kv("http.route", format!("/api/v1/items/{}", rng.below(50))),
                    kv("http.method", "GET".into()),
                    kv(
                        "http.status_code",
                        if error && i == 0 { "500" } else { "200" }.into(),
                    ),
                    kv("user.id", format!("u{}", rng.below(100_000))),
                    kv("session.id", format!("{:016x}", rng.next())),
                    kv(
                        "net.peer.name",
                        format!("10.0.{}.{}", rng.below(4), rng.below(250)),
                    ),
                    kv("component", "http".into()),
                    kv("region", "eu-west-1".into()),
                ],
                status: Some(Status {
                    code: if error && i == 0 { 2 } else { 0 },
                    ..Default::default()
                }),
                ..Default::default()
            };
            if i % 4 == 0 {
                records.push(LogRecord {
                    time_unix_nano: (t0 + i as i64 * 1000 + 10) as u64,
                    trace_id: tid.to_vec(),
                    span_id: sid.to_vec(),
                    severity_number: if error { 17 } else { 9 },
                    severity_text: if error { "ERROR" } else { "INFO" }.into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(format!(
                            "handled request {} in {} ms",
                            rng.below(1_000_000),
                            dur / 1_000_000
                        ))),
                    }),
                    ..Default::default()
                });
            }
            per_service[svc].push(span);
            n_spans += 1;
        }
    }
    let traces = per_service
        .into_iter()
        .enumerate()
        .map(|(i, spans)| {
            trace::v1::ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: resource(SERVICES[i], i),
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
            .encode_to_vec()
        })
        .collect();
    let n_logs = records.len();
    let logs = logs::v1::ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("frontend", 0),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    (traces, logs, n_spans, n_logs)
}

/// One minute of points: `series` series (10 hosts, `series / 10` metrics each), two
/// points each (every 30 s), one request per host.
fn minute_of_points(rng: &mut Rng, start: i64, series: usize) -> (Vec<Vec<u8>>, usize) {
    let per_host = series / 10;
    let mut n = 0;
    let requests = (0..10)
        .map(|host| {
            let metrics = (0..per_host)
                .map(|m| Metric {
                    name: format!("system.metric_{}", m % 50),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: (0..2)
                            .map(|k| {
                                n += 1;
                                NumberDataPoint {
                                    attributes: vec![kv("device", format!("d{}", m / 50))],
                                    time_unix_nano: (start + k * 30_000_000_000) as u64,
                                    value: Some(number_data_point::Value::AsDouble(
                                        (rng.below(10_000) as f64) / 100.0,
                                    )),
                                    ..Default::default()
                                }
                            })
                            .collect(),
                    })),
                    ..Default::default()
                })
                .collect();
            metrics::v1::ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource: resource("hostmetrics", host),
                    scope_metrics: vec![ScopeMetrics {
                        metrics,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
            .encode_to_vec()
        })
        .collect();
    (requests, n)
}

fn dir_bytes(dir: &std::path::Path, subdirs: &[&str]) -> u64 {
    subdirs
        .iter()
        .flat_map(|d| std::fs::read_dir(dir.join(d)).into_iter().flatten())
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// p50 and p95 of `v` (sorted in place).
fn p50_p95(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.5), at(0.95))
}

/// A console query over `[from, to)`: store, from, to, a known trace id, iteration.
type ConsoleQuery = fn(&Store, i64, i64, Option<&[u8; 16]>, usize) -> usize;

/// The console's queries, as the after-the-day measurement runs them.
fn console_queries() -> [(&'static str, ConsoleQuery); 7] {
    [
        ("red_1h", |s, _, to, _, _| s.red(to - HOUR_NS, to).len()),
        ("red_24h", |s, from, to, _, _| s.red(from, to).len()),
        ("trace", |s, _, _, id, _| {
            id.map_or(0, |id| s.trace(id).len())
        }),
        ("trace_logs", |s, _, _, id, _| {
            id.map_or(0, |id| s.trace_logs(id).len())
        }),
        ("search_24h", |s, from, to, _, i| {
            s.search(&Search {
                service: Some(SERVICES[i % SERVICES.len()].into()),
                min_duration: Some(100_000_000),
                error: Some(true),
                from,
                to,
                limit: 20,
                ..Search::default()
            })
            .len()
        }),
        ("series_24h_1m", |s, from, to, _, i| {
            s.series(&format!("system.metric_{}", i % 50), from, to, MINUTE_NS)
                .len()
        }),
        ("series_24h_1h", |s, from, to, _, i| {
            s.series(&format!("system.metric_{}", i % 50), from, to, HOUR_NS)
                .len()
        }),
    ]
}

/// A store in a temporary directory, as the benchmarks write it: no fsync, no size limit.
fn open_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig {
        directory: dir.path().to_path_buf(),
        fsync: super::config::FsyncPolicy::Never,
        ..StoreConfig::default()
    };
    config.retention.max_bytes = None;
    let telemetry = Telemetry::new();
    let store = Store::open(&config, StoreMetrics::new(&telemetry, "store")).unwrap();
    (dir, store)
}

#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn store_cost() {
    let traces_per_min = env("STORE_BENCH_TRACES_PER_MIN", 442);
    let series = env("STORE_BENCH_SERIES", 2000);
    let (dir, store) = open_store();
    let end = now_ns().div_euclid(MINUTE_NS) * MINUTE_NS;
    let start = end - 24 * HOUR_NS;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ids = Vec::new();
    let (mut spans, mut logs, mut points) = (0usize, 0usize, 0usize);
    let (mut otlp_spans, mut otlp_logs, mut otlp_points) = (0usize, 0usize, 0usize);
    let (mut cpu_spans, mut cpu_points, mut cpu_flush) = (0.0, 0.0, 0.0);
    // The console in use: while the day is written, another thread runs the console's
    // queries over the last 24 h of the simulated clock, one every `pause`.
    let pause = std::time::Duration::from_millis(env("STORE_BENCH_CONSOLE_PAUSE_MS", 100) as u64);
    let console_on = env("STORE_BENCH_CONSOLE", 1) != 0;
    let default_flush = (StoreConfig::default().flush_interval.as_secs() / 60).max(1);
    let flush_every = env("STORE_BENCH_FLUSH_MINUTES", default_flush as usize).max(1) as i64;
    let clock = AtomicI64::new(start);
    let done = AtomicBool::new(false);
    let shared_ids: Mutex<Vec<[u8; 16]>> = Mutex::new(Vec::new());
    let wall = Instant::now();
    let during = std::thread::scope(|scope| {
        let console = console_on.then(|| {
            scope.spawn(|| {
                let mut times: BTreeMap<&'static str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
                let mut i = 0usize;
                while !done.load(Ordering::Relaxed) {
                    let now = clock.load(Ordering::Relaxed);
                    let id = {
                        let ids = shared_ids.lock().unwrap_or_else(|e| e.into_inner());
                        (!ids.is_empty()).then(|| ids[(i * 97) % ids.len()])
                    };
                    for (name, q) in console_queries() {
                        let (w, c) = (Instant::now(), cpu());
                        q(&store, now - 24 * HOUR_NS, now, id.as_ref(), i);
                        let e = times.entry(name).or_default();
                        e.0.push(w.elapsed().as_secs_f64() * 1e3);
                        e.1.push((cpu() - c) * 1e3);
                        std::thread::sleep(pause);
                    }
                    i += 1;
                }
                times
            })
        });
        for m in 0..24 * 60 {
            let t = start + m * MINUTE_NS;
            let (treqs, lreq, ns, nl) = minute_of_traces(&mut rng, t, traces_per_min, &mut ids);
            let (preqs, np) = minute_of_points(&mut rng, t, series);
            let c0 = cpu();
            for r in &treqs {
                store.append(Signal::Traces, r).unwrap();
            }
            store.append(Signal::Logs, &lreq).unwrap();
            let c1 = cpu();
            for r in &preqs {
                store.append(Signal::Metrics, r).unwrap();
            }
            let c2 = cpu();
            // The clock of the simulated day: each hour is compacted once, after it ended.
            if (m + 1) % flush_every == 0 || m + 1 == 24 * 60 {
                store.flush_at(t + MINUTE_NS).unwrap();
            }
            let c3 = cpu();
            cpu_spans += c1 - c0;
            cpu_points += c2 - c1;
            cpu_flush += c3 - c2;
            spans += ns;
            logs += nl;
            points += np;
            otlp_spans += treqs.iter().map(Vec::len).sum::<usize>();
            otlp_logs += lreq.len();
            otlp_points += preqs.iter().map(Vec::len).sum::<usize>();
            clock.store(t + MINUTE_NS, Ordering::Relaxed);
            shared_ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone_from(&ids);
        }
        done.store(true, Ordering::Relaxed);
        console.map(|c| c.join().unwrap())
    });
    let wall = wall.elapsed().as_secs_f64();
    let span_disk = dir_bytes(dir.path(), &["spans", "red_1m"]);
    let log_disk = dir_bytes(dir.path(), &["logs"]);
    let point_disk = dir_bytes(dir.path(), &["metrics_raw", "metrics_1m", "metrics_1h"]);
    // Flush CPU shared by bytes written... apportioned by OTLP bytes of each signal.
    let total_otlp = (otlp_spans + otlp_logs + otlp_points) as f64;
    let flush_spans = cpu_flush * (otlp_spans + otlp_logs) as f64 / total_otlp;
    let flush_points = cpu_flush * otlp_points as f64 / total_otlp;
    println!(
        "store_cost: one day, {traces_per_min} traces/min, {series} series, a flush every {flush_every} min"
    );
    println!("  written: {spans} spans, {logs} log records, {points} points in {wall:.1} s wall");
    println!(
        "  CPU: traces+logs append {cpu_spans:.2} s, points append {cpu_points:.2} s, flush+compaction {cpu_flush:.2} s"
    );
    if let Some(during) = during {
        println!(
            "  console while writing (one query every {} ms, over the last 24 h of the clock):",
            pause.as_millis()
        );
        for (name, (mut walls, mut cpus)) in during {
            let (w50, w95) = p50_p95(&mut walls);
            let (c50, c95) = p50_p95(&mut cpus);
            println!(
                "    {name}: {} runs, wall p50 {w50:.1} ms p95 {w95:.1} ms, cpu p50 {c50:.1} ms p95 {c95:.1} ms",
                walls.len()
            );
        }
    } else {
        println!("  console off while writing (STORE_BENCH_CONSOLE=0)");
    }
    println!(
        "  spans/s per CPU-second (append + its share of flush, logs included): {:.0}",
        spans as f64 / (cpu_spans + flush_spans)
    );
    println!(
        "  points/s per CPU-second (append + its share of flush): {:.0}",
        points as f64 / (cpu_points + flush_points)
    );
    println!(
        "  disk per span {:.1} B (OTLP {:.1} B, {:.1} %); per log record {:.1} B (OTLP {:.1} B); per point {:.2} B (OTLP {:.1} B)",
        span_disk as f64 / spans as f64,
        otlp_spans as f64 / spans as f64,
        100.0 * span_disk as f64 / otlp_spans as f64,
        log_disk as f64 / logs as f64,
        otlp_logs as f64 / logs as f64,
        point_disk as f64 / points as f64,
        otlp_points as f64 / points as f64,
    );

    let reps = 40;
    let run = |name: &str, f: &mut dyn FnMut(usize) -> usize| {
        let (mut walls, mut cpus, mut n) = (Vec::new(), Vec::new(), 0);
        for i in 0..reps {
            let (w, c) = (Instant::now(), cpu());
            n = f(i);
            cpus.push((cpu() - c) * 1e3);
            walls.push(w.elapsed().as_secs_f64() * 1e3);
        }
        let (w50, w95) = p50_p95(&mut walls);
        let (c50, c95) = p50_p95(&mut cpus);
        println!(
            "  {name}: wall p50 {w50:.1} ms p95 {w95:.1} ms, cpu p50 {c50:.1} ms p95 {c95:.1} ms ({n} results)"
        );
    };
    run("red_1h", &mut |_| store.red(end - HOUR_NS, end).len());
    run("red_24h", &mut |_| store.red(start, end).len());
    // The Services page over 24 h: every service per 15 min, then one service per operation.
    run("red_24h_step_15m", &mut |_| {
        store
            .red_query(&super::query::RedQuery {
                from: start,
                to: end,
                service: None,
                step: Some(15 * MINUTE_NS),
            })
            .services
            .iter()
            .map(|r| r.points.len())
            .sum()
    });
    run("red_24h_one_service_per_operation", &mut |i| {
        store
            .red_query(&super::query::RedQuery {
                from: start,
                to: end,
                service: Some(SERVICES[i % SERVICES.len()].into()),
                step: None,
            })
            .operations
            .len()
    });
    run("trace", &mut |i| {
        store.trace(&ids[(i * 97) % ids.len()]).len()
    });
    run("trace_logs", &mut |i| {
        store.trace_logs(&ids[(i * 89) % ids.len()]).len()
    });
    run(
        "search_24h (service, >= 100 ms, error, newest 20)",
        &mut |i| {
            store
                .search(&Search {
                    service: Some(SERVICES[i % SERVICES.len()].into()),
                    min_duration: Some(100_000_000),
                    error: Some(true),
                    from: start,
                    to: end,
                    limit: 20,
                    ..Search::default()
                })
                .len()
        },
    );
    run(
        "search_24h without pushdown (the path it replaced, same searches)",
        &mut |i| {
            store
                .search_scan(&Search {
                    service: Some(SERVICES[i % SERVICES.len()].into()),
                    min_duration: Some(100_000_000),
                    error: Some(true),
                    from: start,
                    to: end,
                    limit: 20,
                    ..Search::default()
                })
                .len()
        },
    );
    run(
        "series_24h_1m (one metric name: 10 hosts x devices)",
        &mut |i| {
            store
                .series(&format!("system.metric_{}", i % 50), start, end, MINUTE_NS)
                .len()
        },
    );
    run("series_24h_1h", &mut |i| {
        store
            .series(&format!("system.metric_{}", i % 50), start, end, HOUR_NS)
            .len()
    });
}

/// Episodes and alerts over a day of logs (ignored; a measurement):
/// `cargo test -p lookout-collector --release --lib store_events_cost -- --ignored --nocapture`.
/// `STORE_BENCH_LOGS_PER_MIN` (default 1,000: 1.44 M log records a day) ordinary log records
/// a minute, an anomaly episode firing every 30 minutes and resolving 10 minutes later, and an
/// alert firing and resolving with it, written minute by minute with a flush per minute. The
/// figures: `Store::episodes` and `Store::alerts` over the day, against reading every log
/// record of the day (what finding them among the logs would cost).
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn store_events_cost() {
    use super::events_tests::{alert_at, episode_at};
    use super::segment::{self, Kind, Select};

    let per_min = env("STORE_BENCH_LOGS_PER_MIN", 1000);
    let (_dir, store) = open_store();
    let end = now_ns().div_euclid(MINUTE_NS) * MINUTE_NS;
    let start = end - 24 * HOUR_NS;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let wall = Instant::now();
    let mut logs = 0;
    for m in 0..24 * 60 {
        let t = start + m * MINUTE_NS;
        let records: Vec<LogRecord> = (0..per_min)
            .map(|i| LogRecord {
                time_unix_nano: (t + i as i64 * 1000) as u64,
                severity_number: 9,
                severity_text: "INFO".into(),
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(format!(
                        "handled request {}",
                        rng.below(1_000_000)
                    ))),
                }),
                ..Default::default()
            })
            .collect();
        logs += records.len();
        let req = logs::v1::ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(SERVICES[m as usize % SERVICES.len()], 0),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        store.append(Signal::Logs, &req.encode_to_vec()).unwrap();
        if m % 30 == 0 {
            store.append(Signal::Logs, &episode_at(t, None)).unwrap();
            store.append(Signal::Logs, &alert_at("firing", t)).unwrap();
        }
        if m % 30 == 10 {
            let began = t - 10 * MINUTE_NS;
            store
                .append(Signal::Logs, &episode_at(began, Some(t)))
                .unwrap();
            store
                .append(Signal::Logs, &alert_at("resolved", t))
                .unwrap();
        }
        store.flush_at(t + MINUTE_NS).unwrap();
    }
    println!(
        "store_events_cost: {logs} log records, 96 episode and 96 alert records over a day, written in {:.1} s",
        wall.elapsed().as_secs_f64()
    );
    let (from_s, to_s) = (start / 1_000_000_000, end / 1_000_000_000);
    let reps = 40;
    let run = |name: &str, f: &mut dyn FnMut() -> usize| {
        let (mut walls, mut cpus, mut n) = (Vec::new(), Vec::new(), 0);
        for _ in 0..reps {
            let (w, c) = (Instant::now(), cpu());
            n = f();
            cpus.push((cpu() - c) * 1e3);
            walls.push(w.elapsed().as_secs_f64() * 1e3);
        }
        let (w50, w95) = p50_p95(&mut walls);
        let (c50, c95) = p50_p95(&mut cpus);
        println!(
            "  {name}: wall p50 {w50:.2} ms p95 {w95:.2} ms, cpu p50 {c50:.2} ms p95 {c95:.2} ms ({n} results)"
        );
    };
    run("episodes_24h", &mut || {
        store.episodes(from_s, to_s, 1000).len()
    });
    run("alerts_24h", &mut || store.alerts(from_s, to_s, 1000).len());
    let select = Select {
        from: start,
        to: end,
        trace_id: None,
        footers: Some(store.footers()),
    };
    run(
        "every log record of the day (a scan, for comparison)",
        &mut || {
            store
                .read(Kind::Logs, start, end, |p| segment::read_logs(p, &select))
                .len()
        },
    );
}
