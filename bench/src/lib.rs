//! Benchmark tools.
