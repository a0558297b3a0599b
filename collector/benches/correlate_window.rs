//! CPU per span of the `correlate` window's insert path (enrichment mode's traces stage) on
//! the whole-process benchmark's requests (512 spans in traces of about 8, 1–3 resources of
//! 11 attributes, 10 attributes per span), every request with trace ids never sent before,
//! the window full at `max_bytes` so each new trace evicts the oldest — the steady state of
//! `bench/run.sh`'s `lookout-correlate`. `validate_traces` of the same request is measured
//! beside it: the read every request already costs on the plain pipeline.
//!
//! `cargo bench -p lookout-collector --bench correlate_window -- --warm-up-time 1 --measurement-time 3`
//!
//! With `CORRELATE_RSS_TRACES=100000` it instead fills a window (no byte limit) with that many
//! traces and prints the accounted bytes and the process's resident memory before and after.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use lookout_bench::gen_traces::{RequestPool, stamp};
use lookout_collector::bench::CorrelateWindow;

/// Spans per request, as `bench/run.sh` sends them.
const SPANS: usize = 512;
/// Distinct requests the ids are stamped onto.
const POOL: usize = 64;

fn pool() -> RequestPool {
    RequestPool::generate(POOL, SPANS, 7)
}

/// The `n`-th request of the load: pool request `n % POOL` with fresh trace ids.
fn request(pool: &RequestPool, n: u64) -> bytes::Bytes {
    let i = (n % POOL as u64) as usize;
    stamp(&pool.requests[i], &pool.trace_id_offsets[i], n)
}

fn correlate_window(c: &mut Criterion) {
    let pool = pool();
    // bench/run.sh's lookout-correlate: num_traces 100000, the default 256 MiB max_bytes.
    let mut window = CorrelateWindow::new(100_000, 256 << 20);
    let mut n = 0u64;
    // Fill to the byte limit first, so every measured request evicts as in the steady state.
    while window.bytes() < (250 << 20) && n < 1_000_000 {
        window.add_spans(&request(&pool, n));
        n += 1;
    }
    let mut g = c.benchmark_group("correlate_window");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("add_spans_fresh_ids_full_window", |b| {
        b.iter_batched(
            || {
                n += 1;
                request(&pool, n)
            },
            |req| window.add_spans(black_box(&req)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("validate_traces_reference", |b| {
        b.iter(|| lookout_proto::wire::validate_traces(black_box(&pool.requests[0])))
    });
    g.finish();
}

/// Resident memory of this process, bytes (Linux; 0 elsewhere).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

fn rss_at(traces: usize) {
    let pool = pool();
    let mut window = CorrelateWindow::new(traces, usize::MAX);
    let before = rss();
    let mut n = 0u64;
    while window.traces() < traces {
        window.add_spans(&request(&pool, n));
        n += 1;
    }
    let after = rss();
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    println!(
        "traces held {}; accounted {} B ({} B per trace); RSS {:.1} MiB before, {:.1} MiB after \
         (+{:.1} MiB, {} B per trace)",
        window.traces(),
        window.bytes(),
        window.bytes() / window.traces().max(1),
        mib(before),
        mib(after),
        mib(after.saturating_sub(before)),
        after.saturating_sub(before) / window.traces().max(1) as u64,
    );
}

criterion_group!(benches, correlate_window);

fn main() {
    if let Some(traces) = std::env::var("CORRELATE_RSS_TRACES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        rss_at(traces);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
