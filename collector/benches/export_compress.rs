//! CPU per batch of what the OTLP exporters do before a send: gzip (libdeflate, level 1, the
//! exporters' default) and, for gRPC, the length-prefixed frame. The batch is the
//! whole-process benchmark's: 16 of its 512-span requests concatenated (8,192 spans, as
//! `bench/run.sh`'s `COLLECTOR_BATCH`), which is one valid `ExportTraceServiceRequest`.
//!
//! `cargo bench -p lookout-collector --bench export_compress -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout_bench::gen_traces::{RequestPool, stamp};
use lookout_collector::bench::{otlp_grpc_frame, otlp_http_body};

/// Spans per request, as `bench/run.sh` sends them.
const SPANS: usize = 512;
/// Requests per batch: 8,192 spans.
const REQUESTS: usize = 16;

fn batch() -> Vec<u8> {
    let pool = RequestPool::generate(REQUESTS, SPANS, 7);
    let mut out = Vec::new();
    for (n, (req, offsets)) in pool.requests.iter().zip(&pool.trace_id_offsets).enumerate() {
        out.extend_from_slice(&stamp(req, offsets, n as u64));
    }
    out
}

fn export_compress(c: &mut Criterion) {
    let payload = batch();
    let mut g = c.benchmark_group("export_compress");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("grpc_frame_gzip1_8192_spans", |b| {
        b.iter(|| otlp_grpc_frame(black_box(&payload), 1))
    });
    g.bench_function("http_body_gzip1_8192_spans", |b| {
        b.iter(|| otlp_http_body(black_box(&payload), 1))
    });
    g.finish();
}

criterion_group!(benches, export_compress);
criterion_main!(benches);
