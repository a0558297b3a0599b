//! Deterministic server spans with log-normal durations (σ = 0.3) around a median: enough to
//! warm the latency detector up and then shift it, for the alert tests.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// One millisecond in nanoseconds.
const MS: u64 = 1_000_000;

/// Spans of one key, each its own trace.
pub(crate) struct Gen {
    /// The random state.
    pub(crate) state: u64,
    /// The end time of the last span, ns since the epoch.
    pub(crate) clock: u64,
    /// The last span id (trace ids follow it).
    pub(crate) next_id: u64,
}

impl Gen {
    fn unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (((z ^ (z >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A span named `name`, ending 5 ms after the previous one, of a duration around `median_ms`.
    pub(crate) fn span(&mut self, name: &str, median_ms: f64) -> Span {
        self.span_every(name, median_ms, 5)
    }

    /// A span named `name`, ending `step_ms` after the previous one, of a duration around
    /// `median_ms`.
    pub(crate) fn span_every(&mut self, name: &str, median_ms: f64, step_ms: u64) -> Span {
        let n = (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos();
        let dur = (median_ms * (0.3 * n).exp() * MS as f64) as u64;
        self.clock += step_ms * MS;
        self.next_id += 1;
        let mut trace_id = [0x5au8; 16];
        trace_id[8..].copy_from_slice(&self.next_id.to_be_bytes());
        Span {
            trace_id: trace_id.to_vec(),
            span_id: self.next_id.to_be_bytes().to_vec(),
            name: name.into(),
            kind: 2,
            start_time_unix_nano: self.clock - dur,
            end_time_unix_nano: self.clock,
            ..Default::default()
        }
    }
}

/// A resource with only `service.name`.
pub(crate) fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(service.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// One export request holding `spans` of `service`.
pub(crate) fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
