//! OpenTelemetry names to Prometheus names, as the OpenTelemetry "Prometheus and OpenMetrics
//! Compatibility" specification and the Collector's translator
//! (`pkg/translator/prometheus`, name normalisation on) have them: characters outside
//! `[a-zA-Z0-9_:]` split the name into words joined by `_`; the unit is appended in
//! Prometheus's words (`By` → `bytes`, `ms` → `milliseconds`, `{packets}` dropped, `1/s` →
//! `per_second`); counters end in `_total`; gauges with unit `1` end in `_ratio`.

/// How a metric is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A monotonic sum.
    Counter,
    /// A gauge, or a sum that can go down.
    Gauge,
    /// An explicit-bucket histogram.
    Histogram,
    /// A summary (quantiles, sum, count).
    Summary,
}

impl Kind {
    /// The `# TYPE` word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// UCUM units to Prometheus words.
fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

/// UCUM units after a `/` to Prometheus words.
fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The words of a unit part: a known unit's word, a `{annotation}` dropped, anything else
/// with its non-alphanumeric characters removed.
fn unit_words(part: &str, map: fn(&str) -> Option<&'static str>) -> Option<String> {
    let part = part.trim();
    if part.is_empty() || part.starts_with('{') {
        return None;
    }
    if let Some(word) = map(part) {
        return Some(word.to_string());
    }
    let cleaned: String = part.chars().filter(char::is_ascii_alphanumeric).collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// The Prometheus name of metric `name` with `unit`, exposed as `kind`, with an optional
/// `namespace` prefix. Without `suffixes`, only the characters are fixed (no unit, no
/// `_total`, no `_ratio`).
pub(crate) fn metric_name(
    name: &str,
    unit: &str,
    kind: Kind,
    namespace: &str,
    suffixes: bool,
) -> String {
    let mut words: Vec<String> = Vec::new();
    if !namespace.is_empty() {
        words.extend(
            namespace
                .split(|c| !is_name_char(c))
                .filter(|w| !w.is_empty())
                .map(str::to_string),
        );
    }
    words.extend(
        name.split(|c| !is_name_char(c))
            .filter(|w| !w.is_empty())
            .map(str::to_string),
    );
    if suffixes {
        let (main, per) = match unit.split_once('/') {
            Some((main, per)) => (main, Some(per)),
            None => (unit, None),
        };
        if let Some(word) = unit_words(main, unit_word)
            && !words.contains(&word)
        {
            words.push(word);
        }
        if let Some(word) = per.and_then(|p| unit_words(p, per_unit_word))
            && !words.contains(&word)
        {
            words.push("per".to_string());
            words.push(word);
        }
        match kind {
            Kind::Counter => {
                words.retain(|w| w != "total");
                words.push("total".to_string());
            }
            Kind::Gauge if unit == "1" && !words.iter().any(|w| w == "ratio") => {
                words.push("ratio".to_string());
            }
            _ => {}
        }
    }
    let mut out = words.join("_");
    if out.is_empty() {
        out.push('_');
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Prometheus name of attribute `key`: characters outside `[a-zA-Z0-9_]` become `_`; a
/// leading digit gets `key_` before it, a single leading `_` gets `key`. `None` for an empty
/// key.
pub(crate) fn label_name(key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_the_collector_translator() {
        let cases = [
            (
                "system.filesystem.usage",
                "By",
                Kind::Gauge,
                "system_filesystem_usage_bytes",
            ),
            (
                "system.cpu.time",
                "s",
                Kind::Counter,
                "system_cpu_time_seconds_total",
            ),
            (
                "system.network.dropped",
                "{packets}",
                Kind::Counter,
                "system_network_dropped_total",
            ),
            (
                "system.network.dropped",
                "packets",
                Kind::Gauge,
                "system_network_dropped_packets",
            ),
            (
                "system.memory.utilization",
                "1",
                Kind::Gauge,
                "system_memory_utilization_ratio",
            ),
            ("requests", "1", Kind::Counter, "requests_total"),
            ("requests.total", "1", Kind::Counter, "requests_total"),
            (
                "(lambda).function.executions(#)",
                "",
                Kind::Gauge,
                "lambda_function_executions",
            ),
            ("latency", "ms", Kind::Histogram, "latency_milliseconds"),
            ("speed", "m/s", Kind::Gauge, "speed_meters_per_second"),
            (
                "throughput",
                "{req}/s",
                Kind::Gauge,
                "throughput_per_second",
            ),
            ("temperature", "Cel", Kind::Gauge, "temperature_celsius"),
            ("2xx.responses", "", Kind::Counter, "_2xx_responses_total"),
            (
                "http.server.duration_seconds",
                "s",
                Kind::Histogram,
                "http_server_duration_seconds",
            ),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(
                metric_name(name, unit, kind, "", true),
                want,
                "{name} [{unit}]"
            );
        }
        assert_eq!(
            metric_name("cpu.time", "s", Kind::Counter, "my.app", true),
            "my_app_cpu_time_seconds_total"
        );
        assert_eq!(
            metric_name("cpu.time", "s", Kind::Counter, "", false),
            "cpu_time"
        );
    }

    #[test]
    fn label_names_are_sanitised() {
        assert_eq!(label_name("http.route").as_deref(), Some("http_route"));
        assert_eq!(label_name("0day").as_deref(), Some("key_0day"));
        assert_eq!(label_name("_private").as_deref(), Some("key_private"));
        assert_eq!(label_name("__reserved").as_deref(), Some("__reserved"));
        assert_eq!(label_name("ünit").as_deref(), Some("key_nit"));
        assert_eq!(label_name(""), None);
    }
}
