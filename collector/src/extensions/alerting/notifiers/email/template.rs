//! What notifier templates see (a [`Notification`] flattened into strings, maps and lists)
//! and the built-in templates of the `email` notifier.
//!
//! Times and numbers are formatted here, once, so the default templates, user templates and
//! the SMS line show them alike: times as `2026-12-06 14:02:05 UTC`, numbers with at most
//! three decimals, utilisations as percentages.

use std::collections::BTreeMap;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use minijinja::Environment;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use serde::Serialize;

use crate::core::alert::{ALERTNAME, Alert, Evidence};
use crate::extensions::alerting::notifiers::{GroupStatus, Notification};

/// Alertmanager's default subject shape: `[FIRING:2] HttpCheckFailing (http.url=http://x)`.
pub(crate) const DEFAULT_SUBJECT: &str = "[{{ status|upper }}{% if status == \"firing\" %}:{{ firing_count }}{% endif %}] {{ title }}\
{% if extra_labels %} ({% for k, v in extra_labels|items %}{{ k }}={{ v }}{% if not loop.last %} {% endif %}{% endfor %}){% endif %}";

/// The plain-text body: every alert with its labels, annotations, times and evidence.
pub(crate) const DEFAULT_TEXT: &str = r#"{{ status|upper }}: {{ title }}{% if extra_labels %} ({% for k, v in extra_labels|items %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %}){% endif %}

{{ firing_count }} firing, {{ resolved_count }} resolved.
{% for alert in alerts %}

== Alert {{ loop.index }}: {{ alert.name }} [{{ alert.status|upper }}]
Started:   {{ alert.starts_at }}
{% if alert.ends_at %}
Ended:     {{ alert.ends_at }}
{% endif %}
{% if alert.generator_url %}
Source:    {{ alert.generator_url }}
{% endif %}
Labels:
{% for k, v in alert.labels|items %}
  {{ k }} = {{ v }}
{% endfor %}
{% if alert.annotations %}
Annotations:
{% for k, v in alert.annotations|items %}
  {{ k }}: {{ v }}
{% endfor %}
{% endif %}
{% if alert.evidence.figures %}
Figures:
{% for f in alert.evidence.figures %}
  {{ f.name }} = {{ f.value }}
{% endfor %}
{% endif %}
{% if alert.evidence.values %}
Values:
{% for p in alert.evidence.values %}
  {{ p.time }}  {{ p.value }}
{% endfor %}
{% endif %}
{% if alert.evidence.host %}
Host at {{ alert.evidence.host.at }}: CPU {{ alert.evidence.host.cpu }}, memory {{ alert.evidence.host.memory }}, load (1m) {{ alert.evidence.host.load_1m }}
{% endif %}
{% if alert.evidence.trace_ids %}
Example traces:
{% for id in alert.evidence.trace_ids %}
  {{ id }}
{% endfor %}
{% endif %}
{% if alert.evidence.logs %}
Log lines of those traces:
{% for l in alert.evidence.logs %}
  {{ l.time }} {{ l.severity or "-" }} [{{ l.trace_id }}{% if l.span_id %}/{{ l.span_id }}{% endif %}] {{ l.body }}
{% endfor %}
{% endif %}
{% endfor %}
{% if external_url %}

Lookout: {{ external_url }}
{% endif %}
"#;

/// The HTML body: the same as [`DEFAULT_TEXT`] in tables. Rendered with HTML escaping of
/// every value.
pub(crate) const DEFAULT_HTML: &str = r#"<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family: sans-serif; font-size: 14px; color: #222;">
<h2 style="color: {% if status == "firing" %}#b00020{% else %}#1b5e20{% endif %};">{{ status|upper }}: {{ title }}</h2>
{% if extra_labels %}
<p>{% for k, v in extra_labels|items %}<code>{{ k }}={{ v }}</code>{% if not loop.last %} {% endif %}{% endfor %}</p>
{% endif %}
<p>{{ firing_count }} firing, {{ resolved_count }} resolved.</p>
{% for alert in alerts %}
<h3>Alert {{ loop.index }}: {{ alert.name }} [{{ alert.status|upper }}]</h3>
<table style="border-collapse: collapse;" cellpadding="4">
<tr><th align="left">Started</th><td>{{ alert.starts_at }}</td></tr>
{% if alert.ends_at %}
<tr><th align="left">Ended</th><td>{{ alert.ends_at }}</td></tr>
{% endif %}
{% if alert.generator_url %}
<tr><th align="left">Source</th><td><a href="{{ alert.generator_url }}">{{ alert.generator_url }}</a></td></tr>
{% endif %}
</table>
<h4>Labels</h4>
<table border="1" style="border-collapse: collapse;" cellpadding="4">
{% for k, v in alert.labels|items %}
<tr><th align="left">{{ k }}</th><td>{{ v }}</td></tr>
{% endfor %}
</table>
{% if alert.annotations %}
<h4>Annotations</h4>
<table border="1" style="border-collapse: collapse;" cellpadding="4">
{% for k, v in alert.annotations|items %}
<tr><th align="left">{{ k }}</th><td>{{ v }}</td></tr>
{% endfor %}
</table>
{% endif %}
{% if alert.evidence.figures %}
<h4>Figures</h4>
<table border="1" style="border-collapse: collapse;" cellpadding="4">
{% for f in alert.evidence.figures %}
<tr><th align="left">{{ f.name }}</th><td align="right">{{ f.value }}</td></tr>
{% endfor %}
</table>
{% endif %}
{% if alert.evidence.values %}
<h4>Values</h4>
<table border="1" style="border-collapse: collapse;" cellpadding="4">
<tr><th>Time</th><th>Value</th></tr>
{% for p in alert.evidence.values %}
<tr><td>{{ p.time }}</td><td align="right">{{ p.value }}</td></tr>
{% endfor %}
</table>
{% endif %}
{% if alert.evidence.host %}
<h4>Host at {{ alert.evidence.host.at }}</h4>
<table border="1" style="border-collapse: collapse;" cellpadding="4">
<tr><th align="left">CPU</th><td align="right">{{ alert.evidence.host.cpu }}</td></tr>
<tr><th align="left">Memory</th><td align="right">{{ alert.evidence.host.memory }}</td></tr>
<tr><th align="left">Load (1m)</th><td align="right">{{ alert.evidence.host.load_1m }}</td></tr>
</table>
{% endif %}
{% if alert.evidence.trace_ids %}
<h4>Example traces</h4>
<ul>
{% for id in alert.evidence.trace_ids %}
<li><code>{{ id }}</code></li>
{% endfor %}
</ul>
{% endif %}
{% if alert.evidence.logs %}
<h4>Log lines of those traces</h4>
<table border="1" style="border-collapse: collapse;" cellpadding="4">
<tr><th>Time</th><th>Severity</th><th>Trace / span</th><th>Body</th></tr>
{% for l in alert.evidence.logs %}
<tr><td>{{ l.time }}</td><td>{{ l.severity }}</td><td><code>{{ l.trace_id }}{% if l.span_id %}/{{ l.span_id }}{% endif %}</code></td><td><pre style="margin: 0; white-space: pre-wrap;">{{ l.body }}</pre></td></tr>
{% endfor %}
</table>
{% endif %}
{% endfor %}
{% if external_url %}
<p><a href="{{ external_url }}">Lookout</a></p>
{% endif %}
</body>
</html>
"#;

/// A template environment with the settings every notifier template shares: block tags
/// do not leave blank lines behind, templates named `*.html` escape every value.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Both settings are plain flags: building cannot fail.
    if let Ok(syntax) = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env
}

/// Renders the template `name` of `env` with `context`.
pub(crate) fn render(
    env: &Environment<'_>,
    name: &str,
    context: &impl Serialize,
) -> Result<String, String> {
    env.get_template(name)
        .and_then(|t| t.render(Value::from(Serde(context))))
        .map_err(|err| format!("template {name}: {err:#}"))
}

/// A notification as templates see it.
#[derive(Debug, Serialize)]
pub(crate) struct Context<'a> {
    /// The notifier's name.
    pub(crate) receiver: &'a str,
    /// `firing` or `resolved`.
    pub(crate) status: &'static str,
    /// What the group is about: the values of its group labels, or the alert name.
    pub(crate) title: String,
    /// Labels every alert shares beyond those in `title`.
    pub(crate) extra_labels: BTreeMap<&'a str, &'a str>,
    /// Alerts firing.
    pub(crate) firing_count: usize,
    /// Alerts resolved.
    pub(crate) resolved_count: usize,
    /// The group's identity.
    pub(crate) group_key: &'a str,
    /// The route's `group_by` labels.
    pub(crate) group_labels: &'a BTreeMap<String, String>,
    /// Labels every alert shares.
    pub(crate) common_labels: &'a BTreeMap<String, String>,
    /// Annotations every alert shares.
    pub(crate) common_annotations: &'a BTreeMap<String, String>,
    /// Link back to the collector, empty if unknown.
    pub(crate) external_url: &'a str,
    /// The alerts, firing first.
    pub(crate) alerts: Vec<AlertView<'a>>,
}

/// One alert as templates see it.
#[derive(Debug, Serialize)]
pub(crate) struct AlertView<'a> {
    /// `firing` or `resolved`.
    pub(crate) status: &'static str,
    /// Its `alertname`.
    pub(crate) name: &'a str,
    /// Every label.
    pub(crate) labels: &'a BTreeMap<String, String>,
    /// Every annotation.
    pub(crate) annotations: &'a BTreeMap<String, String>,
    /// When it started.
    pub(crate) starts_at: String,
    /// When it ended, once resolved.
    pub(crate) ends_at: Option<String>,
    /// Where it comes from.
    pub(crate) generator_url: Option<&'a str>,
    /// Its identity (hex).
    pub(crate) fingerprint: String,
    /// Its evidence, formatted.
    pub(crate) evidence: EvidenceView<'a>,
}

/// Evidence as templates see it; empty lists and a missing host render as nothing.
#[derive(Debug, Serialize)]
pub(crate) struct EvidenceView<'a> {
    /// Example trace ids.
    pub(crate) trace_ids: &'a [String],
    /// Their log lines.
    pub(crate) logs: Vec<LogView<'a>>,
    /// Named figures.
    pub(crate) figures: Vec<Figure<'a>>,
    /// The series' values over the window, oldest first.
    pub(crate) values: Vec<Point>,
    /// The host at the start.
    pub(crate) host: Option<HostView>,
}

/// One log line.
#[derive(Debug, Serialize)]
pub(crate) struct LogView<'a> {
    /// When it was written.
    pub(crate) time: String,
    /// Severity text.
    pub(crate) severity: &'a str,
    /// Trace id (hex).
    pub(crate) trace_id: &'a str,
    /// Span id (hex), may be empty.
    pub(crate) span_id: &'a str,
    /// The body.
    pub(crate) body: &'a str,
}

/// A named number.
#[derive(Debug, Serialize)]
pub(crate) struct Figure<'a> {
    /// Its name.
    pub(crate) name: &'a str,
    /// Its value, formatted.
    pub(crate) value: String,
}

/// A value at a time.
#[derive(Debug, Serialize)]
pub(crate) struct Point {
    /// When.
    pub(crate) time: String,
    /// The value, formatted.
    pub(crate) value: String,
}

/// Host figures, formatted.
#[derive(Debug, Serialize)]
pub(crate) struct HostView {
    /// When they were read.
    pub(crate) at: String,
    /// CPU utilisation (`37.5%`).
    pub(crate) cpu: String,
    /// Memory utilisation (`81.2%`).
    pub(crate) memory: String,
    /// 1-minute load average.
    pub(crate) load_1m: String,
}

impl<'a> Context<'a> {
    /// The view of `n`.
    pub(crate) fn new(n: &'a Notification) -> Context<'a> {
        let firing_count = n.alerts.iter().filter(|a| !a.is_resolved()).count();
        let (title, title_labels): (String, Vec<&str>) = if n.group_labels.is_empty() {
            let name = n
                .common_labels
                .get(ALERTNAME)
                .map(String::as_str)
                .or_else(|| n.alerts.first().map(Alert::name))
                .unwrap_or("");
            (name.to_owned(), vec![ALERTNAME])
        } else {
            let values: Vec<&str> = n.group_labels.values().map(String::as_str).collect();
            (
                values.join(" "),
                n.group_labels.keys().map(String::as_str).collect(),
            )
        };
        let extra_labels = n
            .common_labels
            .iter()
            .filter(|(k, _)| !title_labels.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Context {
            receiver: &n.receiver,
            status: n.status.as_str(),
            title,
            extra_labels,
            firing_count,
            resolved_count: n.alerts.len() - firing_count,
            group_key: &n.group_key,
            group_labels: &n.group_labels,
            common_labels: &n.common_labels,
            common_annotations: &n.common_annotations,
            external_url: &n.external_url,
            alerts: n.alerts.iter().map(AlertView::new).collect(),
        }
    }
}

impl<'a> AlertView<'a> {
    fn new(a: &'a Alert) -> AlertView<'a> {
        AlertView {
            status: if a.is_resolved() {
                GroupStatus::Resolved.as_str()
            } else {
                GroupStatus::Firing.as_str()
            },
            name: a.name(),
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: time(a.starts_at),
            ends_at: a.ends_at.map(time),
            generator_url: a.generator_url.as_deref(),
            fingerprint: a.fingerprint().to_string(),
            evidence: EvidenceView::new(&a.evidence),
        }
    }
}

impl<'a> EvidenceView<'a> {
    fn new(e: &'a Evidence) -> EvidenceView<'a> {
        EvidenceView {
            trace_ids: &e.trace_ids,
            logs: e
                .logs
                .iter()
                .map(|l| LogView {
                    time: time(l.time),
                    severity: &l.severity,
                    trace_id: &l.trace_id,
                    span_id: &l.span_id,
                    body: &l.body,
                })
                .collect(),
            figures: e
                .figures
                .iter()
                .map(|(name, v)| Figure {
                    name,
                    value: number(*v),
                })
                .collect(),
            values: e
                .values
                .iter()
                .map(|(t, v)| Point {
                    time: time(*t),
                    value: number(*v),
                })
                .collect(),
            host: e.host.map(|h| HostView {
                at: time(h.at),
                cpu: percent(h.cpu_utilization),
                memory: percent(h.memory_utilization),
                load_1m: number(h.load_1m),
            }),
        }
    }
}

/// `2026-12-06 14:02:05 UTC`.
pub(crate) fn time(t: SystemTime) -> String {
    DateTime::<Utc>::from(t)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// At most three decimals, trailing zeros dropped: `0.5`, `1234`, `0.001`.
pub(crate) fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// A 0..=1 ratio as a percentage with one decimal: `37.5%`.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_percentages_read_well() {
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1234.0), "1234");
        assert_eq!(number(0.0004), "0");
        assert_eq!(number(-0.0001), "0");
        assert_eq!(number(2.0 / 3.0), "0.667");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(percent(0.375), "37.5%");
        assert_eq!(
            time(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400 + 61)),
            "1970-01-02 00:01:01 UTC"
        );
    }
}
