//! Benchmark tools for Lookout's whole-process benchmarks: a raw-bytes gRPC codec, a shallow
//! OTLP wire-format item counter, a generator of realistic pre-encoded trace requests, the
//! sampling workload's trace shapes and its whole-trace tally, and process CPU / memory
//! readings from `/proc`.
//!
//! The binaries `loadgen` and `sink` build on these; `bench/run.sh` drives them.

pub mod codec;
pub mod gen_traces;
pub mod procstat;
pub mod whole;
pub mod wire;
pub mod workload;

/// gRPC method path of the OTLP trace export call.
pub const TRACE_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// gRPC method path of the OTLP logs export call.
pub const LOGS_EXPORT_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
/// gRPC method path of the OTLP metrics export call.
pub const METRICS_EXPORT_PATH: &str =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
