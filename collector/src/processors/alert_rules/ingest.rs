//! Data in: a metrics request updates the series of the rules that read its metrics. Metrics
//! no rule reads are skipped by name before any point is looked at.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;
use std::time::SystemTime;

use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::otlp::metrics::v1::{
    AggregationTemporality, Metric, metric::Data, number_data_point,
};
use lookout_proto::wire::{AnyValueView, KeyValueView, MetricsView};
use prost::Message;

use super::Engine;
use super::series::{Point, Series};

/// Hashes series identities; fixed so a series keeps its key for the process's life.
const KEY_HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x5eed);

/// The metrics of a request that some rule reads, each decoded alone with its resource's
/// attributes; the request's other metrics are skipped without decoding their points.
#[derive(Debug, Default)]
pub(crate) struct Watched {
    resources: Vec<Vec<KeyValue>>,
    /// (index into `resources`, metric).
    metrics: Vec<(usize, Metric)>,
}

impl Watched {
    /// Whether the request held no metric a rule reads.
    pub(crate) fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }
}

impl Engine {
    /// Picks out of an encoded request the metrics named in `names` (outside any lock: the
    /// engine is shared by the instance's pipelines).
    pub(crate) fn extract(names: &HashSet<String>, payload: &[u8]) -> Result<Watched, String> {
        let mut out = Watched::default();
        for rm in MetricsView::new(payload).resource_metrics() {
            let rm = rm.map_err(|e| e.to_string())?;
            let mut resource: Option<usize> = None;
            for sm in rm.scope_metrics() {
                let sm = sm.map_err(|e| e.to_string())?;
                for m in sm.metrics() {
                    let m = m.map_err(|e| e.to_string())?;
                    if !names.contains(m.name()) {
                        continue;
                    }
                    let r = *resource.get_or_insert_with(|| {
                        out.resources.push(
                            rm.resource_attributes()
                                .filter_map(|kv| kv.ok().map(owned))
                                .collect(),
                        );
                        out.resources.len() - 1
                    });
                    let metric = Metric::decode(m.encoded()).map_err(|e| e.to_string())?;
                    out.metrics.push((r, metric));
                }
            }
        }
        Ok(out)
    }

    /// Updates the series of every rule reading a metric of `watched`, seen at `now`.
    pub(crate) fn apply_watched(&mut self, watched: &Watched, now: SystemTime) {
        let keys: Vec<u64> = watched.resources.iter().map(|r| attrs_key(r)).collect();
        for (r, m) in &watched.metrics {
            self.apply_metric(&watched.resources[*r], keys[*r], m, now);
        }
    }

    /// Updates the series of every rule reading a metric of a decoded request (tests).
    #[cfg(test)]
    pub(crate) fn apply(
        &mut self,
        req: &lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest,
        now: SystemTime,
    ) {
        for rm in &req.resource_metrics {
            let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
            let resource_key = attrs_key(resource);
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    self.apply_metric(resource, resource_key, m, now);
                }
            }
        }
    }

    fn apply_metric(
        &mut self,
        resource: &[KeyValue],
        resource_key: u64,
        m: &Metric,
        now: SystemTime,
    ) {
        let now_ns = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let Engine {
            rules,
            by_metric,
            max_series,
            dropped,
            ..
        } = self;
        let Some(watching) = by_metric.get(m.name.as_str()) else {
            return;
        };
        let mut feed = |attrs: &[KeyValue], point: Point<'_>| {
            let key = resource_key.wrapping_add(attrs_key(attrs));
            for &i in watching {
                let rs = &mut rules[i];
                if !rs
                    .rule
                    .matchers
                    .iter()
                    .all(|(k, m)| m.matches(&lookup(k, attrs, resource)))
                {
                    continue;
                }
                let window = rs.rule.predict.as_ref().map(|p| p.window);
                let kind = rs.rule.value;
                let len = rs.series.len();
                let series = match rs.series.entry(key) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        if len >= *max_series {
                            dropped.inc();
                            continue;
                        }
                        e.insert(Series::new(labels(resource, attrs), now))
                    }
                };
                series.observe(point, kind, now, window);
            }
        };
        let time = |t: u64| if t == 0 { now_ns } else { t };
        match &m.data {
            Some(Data::Gauge(g)) => {
                for p in &g.data_points {
                    feed(
                        &p.attributes,
                        number(
                            p.value,
                            time(p.time_unix_nano),
                            p.start_time_unix_nano,
                            false,
                            false,
                        ),
                    );
                }
            }
            Some(Data::Sum(s)) => {
                let delta = s.aggregation_temporality == AggregationTemporality::Delta as i32;
                for p in &s.data_points {
                    feed(
                        &p.attributes,
                        number(
                            p.value,
                            time(p.time_unix_nano),
                            p.start_time_unix_nano,
                            !delta,
                            delta,
                        ),
                    );
                }
            }
            Some(Data::Histogram(h)) => {
                let cumulative =
                    h.aggregation_temporality == AggregationTemporality::Cumulative as i32;
                for p in &h.data_points {
                    feed(
                        &p.attributes,
                        Point::Histogram {
                            time_ns: time(p.time_unix_nano),
                            bounds: &p.explicit_bounds,
                            counts: &p.bucket_counts,
                            cumulative,
                        },
                    );
                }
            }
            _ => {}
        }
    }
}

fn number(
    value: Option<number_data_point::Value>,
    time_ns: u64,
    start_ns: u64,
    cumulative: bool,
    delta: bool,
) -> Point<'static> {
    let value = match value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => f64::NAN,
    };
    Point::Number {
        time_ns,
        start_ns,
        value,
        cumulative,
        delta,
    }
}

/// An order-independent key of an attribute set (a sum of per-attribute hashes), so the same
/// attributes in another order are the same series.
fn attrs_key(attrs: &[KeyValue]) -> u64 {
    attrs.iter().fold(0u64, |acc, kv| {
        let h = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => KEY_HASH.hash_one((&kv.key, s.as_str())),
            _ => KEY_HASH.hash_one((&kv.key, text(kv.value.as_ref()).as_ref())),
        };
        acc.wrapping_add(h)
    })
}

/// An attribute's value as text: point attributes first, then the resource's; `""` if absent.
fn lookup<'a>(key: &str, attrs: &'a [KeyValue], resource: &'a [KeyValue]) -> Cow<'a, str> {
    attrs
        .iter()
        .chain(resource)
        .find(|kv| kv.key == key)
        .map_or(Cow::Borrowed(""), |kv| text(kv.value.as_ref()))
}

/// A series' labels: resource attributes, then point attributes (which win on a clash).
fn labels(resource: &[KeyValue], attrs: &[KeyValue]) -> BTreeMap<String, String> {
    resource
        .iter()
        .chain(attrs)
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref()).into_owned()))
        .collect()
}

fn text(value: Option<&AnyValue>) -> Cow<'_, str> {
    match value.and_then(|v| v.value.as_ref()) {
        None => Cow::Borrowed(""),
        Some(any_value::Value::StringValue(s)) => Cow::Borrowed(s),
        Some(any_value::Value::BoolValue(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Some(any_value::Value::IntValue(i)) => Cow::Owned(i.to_string()),
        Some(any_value::Value::DoubleValue(d)) => Cow::Owned(d.to_string()),
        Some(any_value::Value::BytesValue(b)) => Cow::Owned(hex::encode(b)),
        Some(other) => Cow::Owned(format!("{other:?}")),
    }
}

/// An attribute read from the wire, owned.
fn owned(kv: KeyValueView<'_>) -> KeyValue {
    KeyValue {
        key: kv.key().to_string(),
        value: kv.value().map(owned_value),
        ..Default::default()
    }
}

fn owned_value(v: AnyValueView<'_>) -> AnyValue {
    use lookout_proto::otlp::common::v1::{ArrayValue, KeyValueList};
    let value = match v {
        AnyValueView::Empty => None,
        AnyValueView::String(s) => Some(any_value::Value::StringValue(s.to_string())),
        AnyValueView::Bool(b) => Some(any_value::Value::BoolValue(b)),
        AnyValueView::Int(i) => Some(any_value::Value::IntValue(i)),
        AnyValueView::StringIndex(i) => Some(any_value::Value::IntValue(i64::from(i))),
        AnyValueView::Double(d) => Some(any_value::Value::DoubleValue(d)),
        AnyValueView::Bytes(b) => Some(any_value::Value::BytesValue(b.to_vec())),
        AnyValueView::Array(a) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: a.values().filter_map(|v| v.ok().map(owned_value)).collect(),
        })),
        AnyValueView::KvList(l) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: l.values().filter_map(|kv| kv.ok().map(owned)).collect(),
        })),
    };
    AnyValue { value }
}
