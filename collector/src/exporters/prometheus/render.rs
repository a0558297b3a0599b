//! The store in the Prometheus text exposition format (0.0.4), or in OpenMetrics 1.0 text
//! when the scraper asks for it.

use std::fmt::Write;

use super::naming::Kind;
use super::store::{Labels, Store, Value};

/// Which text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `text/plain; version=0.0.4`.
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A sample value as Prometheus parses it.
fn number(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v != 0.0 && (v.abs() >= 1e21 || v.abs() < 1e-6) {
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `name{labels,extra} value\n`.
fn sample(out: &mut String, name: &str, labels: &Labels, extra: Option<(&str, &str)>, v: f64) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra)
        {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    number(out, v);
    out.push('\n');
}

/// A bucket bound or quantile as an `le`/`quantile` label value.
pub(crate) fn bound(v: f64) -> String {
    let mut s = String::new();
    number(&mut s, v);
    s
}

/// Renders every family, then `target_info`.
pub(crate) fn render(store: &Store, format: Format) -> String {
    let mut out = String::new();
    for (name, family) in &store.families {
        if family.series.is_empty() {
            continue;
        }
        // OpenMetrics names a counter family without `_total` and requires it on its samples
        // (which a name without suffixes, `add_metric_suffixes: false`, lacks).
        let (family_name, sample_name) = match (format, family.kind) {
            (Format::OpenMetrics, Kind::Counter) => match name.strip_suffix("_total") {
                Some(family_name) => (family_name, name.clone()),
                None => (name.as_str(), format!("{name}_total")),
            },
            _ => (name.as_str(), name.clone()),
        };
        let name = &sample_name;
        if !family.help.is_empty() {
            let _ = write!(out, "# HELP {family_name} ");
            escape_help(&mut out, &family.help);
            out.push('\n');
        }
        let _ = writeln!(out, "# TYPE {family_name} {}", family.kind.as_str());
        for (labels, series) in &family.series {
            match &series.value {
                Value::Number(v) => sample(&mut out, name, labels, None, *v),
                Value::Histogram {
                    bounds,
                    counts,
                    sum,
                    count,
                } => {
                    let bucket = format!("{name}_bucket");
                    let mut cumulative = 0u64;
                    for (b, c) in bounds.iter().zip(counts) {
                        cumulative += c;
                        #[allow(clippy::cast_precision_loss)]
                        sample(
                            &mut out,
                            &bucket,
                            labels,
                            Some(("le", &bound(*b))),
                            cumulative as f64,
                        );
                    }
                    #[allow(clippy::cast_precision_loss)]
                    sample(
                        &mut out,
                        &bucket,
                        labels,
                        Some(("le", "+Inf")),
                        *count as f64,
                    );
                    sample(&mut out, &format!("{name}_sum"), labels, None, *sum);
                    #[allow(clippy::cast_precision_loss)]
                    sample(
                        &mut out,
                        &format!("{name}_count"),
                        labels,
                        None,
                        *count as f64,
                    );
                }
                Value::Summary {
                    quantiles,
                    sum,
                    count,
                } => {
                    for (q, v) in quantiles {
                        sample(&mut out, name, labels, Some(("quantile", &bound(*q))), *v);
                    }
                    sample(&mut out, &format!("{name}_sum"), labels, None, *sum);
                    #[allow(clippy::cast_precision_loss)]
                    sample(
                        &mut out,
                        &format!("{name}_count"),
                        labels,
                        None,
                        *count as f64,
                    );
                }
            }
        }
    }
    if !store.targets.is_empty() {
        match format {
            Format::Prometheus => {
                out.push_str("# HELP target_info Target metadata\n# TYPE target_info gauge\n");
            }
            Format::OpenMetrics => {
                out.push_str("# HELP target Target metadata\n# TYPE target info\n");
            }
        }
        for labels in store.targets.keys() {
            sample(&mut out, "target_info", labels, None, 1.0);
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_render_as_prometheus_parses_them() {
        let cases = [
            (5.0, "5"),
            (0.25, "0.25"),
            (-3.0, "-3"),
            (0.0, "0"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (1e300, "1e300"),
            (1.5e-9, "1.5e-9"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            number(&mut s, v);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut out = String::new();
        sample(
            &mut out,
            "m",
            &vec![("path".into(), "C:\\x \"q\"\nnext".into())],
            None,
            1.0,
        );
        assert_eq!(out, "m{path=\"C:\\\\x \\\"q\\\"\\nnext\"} 1\n");
        let mut help = String::new();
        escape_help(&mut help, "a\\b\nc \"d\"");
        assert_eq!(help, "a\\\\b\\nc \"d\"");
    }
}
