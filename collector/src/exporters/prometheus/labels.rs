//! OpenTelemetry resources, scopes and attributes as Prometheus labels, shared by the
//! `prometheus` (pull) and `prometheusremotewrite` (push) exporters: attribute keys sanitised
//! ([`naming::label_name`]), `job`/`instance` from the resource's service identity, the
//! `target_info` labels of a resource, `otel_scope_name`/`otel_scope_version` labels.

use std::collections::BTreeMap;

use lookout_proto::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};

use super::naming;

/// Sorted label pairs of one series.
pub(crate) type Labels = Vec<(String, String)>;

/// How series are named and labelled.
#[derive(Debug, Clone, Default)]
pub(crate) struct Naming {
    /// Prefix of every metric name.
    pub namespace: String,
    /// Labels added to every series, `target_info` included.
    pub const_labels: Labels,
    /// Every resource attribute as a label too (not only `job` and `instance`).
    pub resource_labels: bool,
    /// Unit and type suffixes (`_seconds`, `_total`).
    pub suffixes: bool,
}

/// Labels under construction: every source key of each sanitised name, with its value.
pub(crate) type Pending = BTreeMap<String, Vec<(String, String)>>;

pub(crate) fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => {
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        }
        // JSON, as the Collector renders composite attributes.
        Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => {
            value.map_or_else(String::new, |v| json(v).to_string())
        }
        // A string-table index (profiles only): no text to show here.
        Some(any_value::Value::StringValueStrindex(_)) | None => String::new(),
    }
}

fn json(value: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &value.value {
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => J::from(*d),
        Some(any_value::Value::BytesValue(b)) => {
            J::String(b.iter().map(|x| format!("{x:02x}")).collect())
        }
        Some(any_value::Value::ArrayValue(a)) => J::Array(a.values.iter().map(json).collect()),
        Some(any_value::Value::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(J::Null, json)))
                .collect(),
        ),
        Some(any_value::Value::StringValueStrindex(_)) | None => J::Null,
    }
}

/// Adds `attributes` to `labels` under their Prometheus names; keys that collide once
/// sanitised get their values joined by `;` in key order, as the Collector does.
pub(crate) fn add_attributes(labels: &mut Pending, attributes: &[KeyValue]) {
    for kv in attributes {
        if let Some(name) = naming::label_name(&kv.key) {
            labels
                .entry(name)
                .or_default()
                .push((kv.key.clone(), text(kv.value.as_ref())));
        }
    }
}

pub(crate) fn finish(labels: Pending) -> Labels {
    labels
        .into_iter()
        .map(|(name, mut values)| {
            values.sort();
            let joined: Vec<String> = values.into_iter().map(|(_, v)| v).collect();
            (name, joined.join(";"))
        })
        .collect()
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// `job` and `instance` from a resource, as the specification derives them.
fn job_instance(resource: &[KeyValue]) -> Labels {
    let mut out = Vec::new();
    let name = attr(resource, "service.name").map(|v| text(Some(v)));
    let namespace = attr(resource, "service.namespace").map(|v| text(Some(v)));
    let job = match (namespace, name) {
        (Some(ns), Some(name)) if !ns.is_empty() => Some(format!("{ns}/{name}")),
        (_, name) => name,
    };
    if let Some(job) = job {
        out.push(("job".to_string(), job));
    }
    if let Some(instance) = attr(resource, "service.instance.id") {
        out.push(("instance".to_string(), text(Some(instance))));
    }
    out
}

fn is_identity(key: &str) -> bool {
    matches!(
        key,
        "service.name" | "service.namespace" | "service.instance.id"
    )
}

/// The `target_info` labels of a resource: its attributes other than the service identity,
/// plus `job`, `instance` and the constant labels (which win over an attribute of the same
/// sanitised name). `None` for a resource with nothing but its identity, as in the Collector.
pub(crate) fn target_info(resource: &[KeyValue], const_labels: &Labels) -> Option<Labels> {
    let mut target = Pending::new();
    for kv in resource.iter().filter(|kv| !is_identity(&kv.key)) {
        add_attributes(&mut target, std::slice::from_ref(kv));
    }
    let mut target = finish(target);
    if target.is_empty() {
        return None;
    }
    let extra: Labels = job_instance(resource)
        .into_iter()
        .chain(const_labels.iter().cloned())
        .collect();
    target.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    target.extend(extra);
    target.sort();
    Some(target)
}

/// The labels every point of one scope carries: the resource's attributes when `naming`
/// asks for them, the scope's name and version, `job`/`instance` and the constant labels.
pub(crate) fn scope_labels(
    resource: &[KeyValue],
    scope: Option<&InstrumentationScope>,
    naming: &Naming,
) -> Pending {
    let mut base = Pending::new();
    if naming.resource_labels {
        add_attributes(&mut base, resource);
    }
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            base.insert(
                "otel_scope_name".into(),
                vec![(String::new(), scope.name.clone())],
            );
        }
        if !scope.version.is_empty() {
            base.insert(
                "otel_scope_version".into(),
                vec![(String::new(), scope.version.clone())],
            );
        }
    }
    for (name, value) in job_instance(resource).iter().chain(&naming.const_labels) {
        base.insert(name.clone(), vec![(String::new(), value.clone())]);
    }
    base
}

/// The sorted labels of one point: its scope's labels and its own attributes.
pub(crate) fn point_labels(base: &Pending, attributes: &[KeyValue]) -> Labels {
    let mut all = base.clone();
    add_attributes(&mut all, attributes);
    finish(all)
}
