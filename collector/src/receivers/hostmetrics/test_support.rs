//! Helpers for reading metric trees in tests.

use std::collections::HashMap;

use lookout_proto::otlp::common::v1::any_value;
use lookout_proto::otlp::metrics::v1::{Metric, NumberDataPoint, metric::Data, number_data_point};

use crate::core::otlp_build::Num;

/// The number data points of a sum or gauge (empty for other kinds).
pub(crate) fn data_points(m: &Metric) -> &[NumberDataPoint] {
    match &m.data {
        Some(Data::Sum(s)) => &s.data_points,
        Some(Data::Gauge(g)) => &g.data_points,
        _ => &[],
    }
}

/// A point's value.
pub(crate) fn value(p: &NumberDataPoint) -> Num {
    match p.value {
        Some(number_data_point::Value::AsInt(v)) => Num::Int(v),
        Some(number_data_point::Value::AsDouble(v)) => Num::Double(v),
        None => panic!("data point without a value"),
    }
}

/// An attribute's value as text (`""` when absent).
pub(crate) fn attr_text(p: &NumberDataPoint, key: &str) -> String {
    p.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            any_value::Value::StringValue(s) => s.clone(),
            any_value::Value::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

/// The metric called `name`; panics when missing.
pub(crate) fn metric<'a>(metrics: &'a [Metric], name: &str) -> &'a Metric {
    metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Values of `name` keyed by the comma-joined values of `keys`.
pub(crate) fn points_by(metrics: &[Metric], name: &str, keys: &[&str]) -> HashMap<String, Num> {
    data_points(metric(metrics, name))
        .iter()
        .map(|p| {
            let key: Vec<String> = keys.iter().map(|k| attr_text(p, k)).collect();
            (key.join(","), value(p))
        })
        .collect()
}

/// Integer values of `name` keyed by one attribute.
pub(crate) fn int_points(metrics: &[Metric], name: &str, key: &str) -> HashMap<String, i64> {
    points_by(metrics, name, &[key])
        .into_iter()
        .map(|(k, v)| match v {
            Num::Int(i) => (k, i),
            Num::Double(_) => panic!("{name} must be an int"),
        })
        .collect()
}

/// Integer values of `name`, in order.
pub(crate) fn only_points(metrics: &[Metric], name: &str) -> Vec<i64> {
    data_points(metric(metrics, name))
        .iter()
        .map(|p| match value(p) {
            Num::Int(i) => i,
            Num::Double(_) => panic!("{name} must be an int"),
        })
        .collect()
}
