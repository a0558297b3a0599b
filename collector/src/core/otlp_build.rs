//! Small constructors for OTLP metric trees, shared by the components that produce metrics
//! themselves (scrapers, the `latency_anomaly` processor's RED metrics) rather than forwarding
//! encoded requests.

use std::time::{SystemTime, UNIX_EPOCH};

use lookout_proto::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use lookout_proto::otlp::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
    metric::Data, number_data_point,
};

/// Nanoseconds since the Unix epoch, as OTLP timestamps are.
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A string attribute.
pub(crate) fn attr(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// An integer attribute.
pub(crate) fn attr_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// A data point's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// Integer value.
    Int(i64),
    /// Floating-point value.
    Double(f64),
}

impl Num {
    /// An unsigned kernel counter as an OTLP int, saturating rather than wrapping negative.
    pub(crate) fn from_u64(v: u64) -> Num {
        Num::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// One data point: attributes and value.
pub(crate) type Point = (Vec<KeyValue>, Num);

/// The timestamps shared by every point of one scrape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Times {
    /// Start of the cumulative series (nanoseconds since the epoch).
    pub(crate) start: u64,
    /// When the scrape was taken.
    pub(crate) now: u64,
}

/// One number data point; `times.start` is the series start (0 for gauges).
pub(crate) fn number_point(attributes: Vec<KeyValue>, times: Times, value: Num) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: times.start,
        time_unix_nano: times.now,
        value: Some(match value {
            Num::Int(v) => number_data_point::Value::AsInt(v),
            Num::Double(v) => number_data_point::Value::AsDouble(v),
        }),
        ..Default::default()
    }
}

fn points(list: Vec<Point>, times: Times, cumulative: bool) -> Vec<NumberDataPoint> {
    let times = Times {
        start: if cumulative { times.start } else { 0 },
        now: times.now,
    };
    list.into_iter()
        .map(|(attributes, value)| number_point(attributes, times, value))
        .collect()
}

/// A cumulative sum whose points share one start time.
pub(crate) fn sum(
    name: &str,
    description: &str,
    unit: &str,
    monotonic: bool,
    times: Times,
    list: Vec<Point>,
) -> Metric {
    sum_of(
        name,
        description,
        unit,
        monotonic,
        points(list, times, true),
    )
}

/// A cumulative sum of prepared points (each with its own series start time).
pub(crate) fn sum_of(
    name: &str,
    description: &str,
    unit: &str,
    monotonic: bool,
    data_points: Vec<NumberDataPoint>,
) -> Metric {
    let data = Data::Sum(Sum {
        data_points,
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
        is_monotonic: monotonic,
    });
    metric(name, description, unit, data)
}

/// A cumulative explicit-bucket histogram of prepared points.
pub(crate) fn histogram(
    name: &str,
    description: &str,
    unit: &str,
    data_points: Vec<HistogramDataPoint>,
) -> Metric {
    let data = Data::Histogram(Histogram {
        data_points,
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
    });
    metric(name, description, unit, data)
}

/// A gauge.
pub(crate) fn gauge(
    name: &str,
    description: &str,
    unit: &str,
    times: Times,
    list: Vec<Point>,
) -> Metric {
    let data = Data::Gauge(Gauge {
        data_points: points(list, times, false),
    });
    metric(name, description, unit, data)
}

fn metric(name: &str, description: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

/// The instrumentation scope a receiver's metrics are reported under.
pub(crate) fn scope(name: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    }
}
