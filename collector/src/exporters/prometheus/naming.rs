//! OpenTelemetry names to Prometheus names, as the OpenTelemetry "Prometheus and OpenMetrics
//! Compatibility" specification and the Collector's translator
//! (`pkg/translator/prometheus`, name normalisation on) have them: characters outside
//! `[a-zA-Z0-9]` (`.`, `-`, but also `_` and `:`) split the name into words joined by `_`; the
//! unit is appended in Prometheus's words unless the name has that word already (`By` →
//! `bytes`, `ms` → `milliseconds`, `{packets}` dropped, `m/s` → `meters_per_second`, `1` →
//! nothing); monotonic sums end in `_total`; OpenTelemetry gauges with unit `1` end in
//! `_ratio` (gauges only, not up-down sums: the Collector's choice, since some receivers
//! misuse `1` for counts).

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
        // A dimensionless unit adds no word (a gauge gets `_ratio` instead).
        "1" => "",
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

/// The alphanumeric runs of `s` (everything else separates words).
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The word of a unit part: a known unit's word; nothing for a part with a `{annotation}`;
/// anything else with its non-alphanumeric runs joined by `_`.
fn unit_word_of(part: &str, map: fn(&str) -> Option<&'static str>) -> Option<String> {
    let part = part.trim();
    if part.is_empty() || part.contains(['{', '}']) {
        return None;
    }
    let word = map(part).unwrap_or(part);
    let cleaned = words(word).collect::<Vec<_>>().join("_");
    (!cleaned.is_empty()).then_some(cleaned)
}

/// The Prometheus name of metric `name` with `unit`, exposed as `kind`, with an optional
/// `namespace` prefix. `otel_gauge` says the metric is an OpenTelemetry gauge (not an
/// up-down sum, also exposed as a Prometheus gauge): only those get `_ratio`. Without
/// `suffixes`, only the characters are fixed (no unit, no `_total`, no `_ratio`).
pub(crate) fn metric_name(
    name: &str,
    unit: &str,
    kind: Kind,
    otel_gauge: bool,
    namespace: &str,
    suffixes: bool,
) -> String {
    let mut out = if suffixes {
        let mut tokens: Vec<String> = words(name).map(str::to_string).collect();
        let (main, per) = match unit.split_once('/') {
            Some((main, per)) => (main, Some(per)),
            None => (unit, None),
        };
        if let Some(word) = unit_word_of(main, unit_word)
            && !tokens.contains(&word)
        {
            tokens.push(word);
        }
        if let Some(word) = per.and_then(|p| unit_word_of(p, per_unit_word))
            && !tokens.contains(&word)
        {
            tokens.push("per".to_string());
            tokens.push(word);
        }
        if kind == Kind::Counter {
            tokens.retain(|w| w != "total");
            tokens.push("total".to_string());
        }
        if otel_gauge && unit == "1" {
            tokens.retain(|w| w != "ratio");
            tokens.push("ratio".to_string());
        }
        tokens.join("_")
    } else {
        // Only what Prometheus forbids is replaced: `_` and `:` stay.
        name.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("_")
    };
    let namespace = words(namespace).collect::<Vec<_>>().join("_");
    if !namespace.is_empty() {
        out = if out.is_empty() {
            namespace
        } else {
            format!("{namespace}_{out}")
        };
    }
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
            (
                "disk.io",
                "KiBy/s",
                Kind::Counter,
                "disk_io_kibibytes_per_second_total",
            ),
            ("rate", "foo-bar", Kind::Gauge, "rate_foo_bar"),
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
                metric_name(name, unit, kind, kind == Kind::Gauge, "", true),
                want,
                "{name} [{unit}]"
            );
        }
        // An up-down sum with unit `1` is a Prometheus gauge but gets no `_ratio`.
        assert_eq!(
            metric_name("process.threads", "1", Kind::Gauge, false, "", true),
            "process_threads"
        );
        assert_eq!(
            metric_name("ratio.of.hits", "1", Kind::Gauge, true, "", true),
            "of_hits_ratio"
        );
        assert_eq!(
            metric_name("cpu.time", "s", Kind::Counter, false, "my.app", true),
            "my_app_cpu_time_seconds_total"
        );
        assert_eq!(
            metric_name("cpu.time", "s", Kind::Counter, false, "", false),
            "cpu_time"
        );
        assert_eq!(
            metric_name("job:rate_5m", "1/s", Kind::Gauge, true, "", false),
            "job:rate_5m"
        );
        assert_eq!(
            metric_name("9lives", "", Kind::Gauge, true, "", false),
            "_9lives"
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
