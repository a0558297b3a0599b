//! Reading the standard `OTEL_*` environment variables.
//!
//! Parsing goes through a lookup closure instead of `std::env::var` so the
//! rules can be unit-tested without mutating the process environment, which
//! is racy when tests run in parallel.

use std::time::Duration;

use opentelemetry_sdk::trace::Sampler;

use crate::Error;

/// The wire protocol used to send telemetry to the collector.
///
/// ```
/// use lookout_sdk::Protocol;
///
/// let guard = lookout_sdk::builder()
///     .protocol(Protocol::HttpProtobuf)
///     .endpoint("http://127.0.0.1:4318")
///     .build()?;
/// # drop(guard);
/// # Ok::<(), lookout_sdk::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP over gRPC (default port 4317).
    #[default]
    Grpc,
    /// OTLP over HTTP with protobuf bodies (default port 4318).
    HttpProtobuf,
}

impl Protocol {
    pub(crate) fn parse(value: &str) -> Result<Self, Error> {
        match value.trim() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            other => Err(Error::invalid(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                other,
                "supported values are \"grpc\" and \"http/protobuf\"",
            )),
        }
    }

    pub(crate) fn default_endpoint(self) -> &'static str {
        match self {
            Self::Grpc => "http://localhost:4317",
            Self::HttpProtobuf => "http://localhost:4318",
        }
    }
}

/// Settings found in the environment. Every field is `None`/empty when the
/// variable is unset or empty, so builder values can take precedence.
#[derive(Debug, Default)]
pub(crate) struct EnvConfig {
    pub(crate) service_name: Option<String>,
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) endpoint: Option<String>,
    pub(crate) traces_endpoint: Option<String>,
    pub(crate) metrics_endpoint: Option<String>,
    pub(crate) logs_endpoint: Option<String>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) sampler: Option<Sampler>,
    pub(crate) sdk_disabled: bool,
    pub(crate) log_filter: Option<String>,
    pub(crate) metric_interval: Option<Duration>,
    /// Problems that should not stop the service from starting; they are
    /// reported through `tracing` once the subscriber is installed, because
    /// nothing would display them before that.
    pub(crate) warnings: Vec<String>,
}

impl EnvConfig {
    /// Reads configuration through `lookup`, which returns the value of an
    /// environment variable.
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        // The spec says an empty value means "unset".
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let mut cfg = Self {
            service_name: get("OTEL_SERVICE_NAME").map(|s| s.trim().to_owned()),
            endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            traces_endpoint: get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            metrics_endpoint: get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
            logs_endpoint: get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
            log_filter: get("RUST_LOG"),
            ..Self::default()
        };
        if let Some(v) = get("OTEL_RESOURCE_ATTRIBUTES") {
            cfg.resource_attributes = parse_key_values("OTEL_RESOURCE_ATTRIBUTES", &v)?;
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_HEADERS") {
            cfg.headers = parse_key_values("OTEL_EXPORTER_OTLP_HEADERS", &v)?;
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
            cfg.protocol = Some(Protocol::parse(&v)?);
        }
        if let Some(v) = get("OTEL_SDK_DISABLED") {
            cfg.sdk_disabled = v.trim().eq_ignore_ascii_case("true");
        }
        if let Some(v) = get("OTEL_METRIC_EXPORT_INTERVAL") {
            match v.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => cfg.metric_interval = Some(Duration::from_millis(ms)),
                _ => cfg.warnings.push(format!(
                    "ignoring OTEL_METRIC_EXPORT_INTERVAL={v:?}: expected a positive number of milliseconds"
                )),
            }
        }
        if let Some(name) = get("OTEL_TRACES_SAMPLER") {
            let arg = get("OTEL_TRACES_SAMPLER_ARG");
            cfg.sampler = parse_sampler(&name, arg.as_deref(), &mut cfg.warnings);
        }
        Ok(cfg)
    }
}

fn parse_ratio(arg: Option<&str>, warnings: &mut Vec<String>) -> f64 {
    match arg.map(|a| a.trim().parse::<f64>()) {
        None => 1.0,
        Some(Ok(r)) if (0.0..=1.0).contains(&r) => r,
        Some(_) => {
            warnings.push(format!(
                "ignoring OTEL_TRACES_SAMPLER_ARG={:?}: expected a number in [0, 1]; using 1.0",
                arg.unwrap_or_default()
            ));
            1.0
        }
    }
}

/// Unknown sampler names fall back to the default with a warning, as the
/// OpenTelemetry spec asks, rather than refusing to start the service.
fn parse_sampler(name: &str, arg: Option<&str>, warnings: &mut Vec<String>) -> Option<Sampler> {
    let sampler = match name.trim() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(parse_ratio(arg, warnings)),
        "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            parse_ratio(arg, warnings),
        ))),
        other => {
            warnings.push(format!(
                "ignoring unsupported OTEL_TRACES_SAMPLER={other:?}; using parentbased_always_on"
            ));
            return None;
        }
    };
    Some(sampler)
}

/// Parses the W3C-baggage-like `k1=v1,k2=v2` format shared by
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`; values are
/// percent-decoded.
pub(crate) fn parse_key_values(var: &str, input: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for item in input.split(',') {
        if item.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = item.split_once('=') else {
            return Err(Error::invalid(var, item, "expected key=value"));
        };
        let key = k.trim();
        if key.is_empty() {
            return Err(Error::invalid(var, item, "empty key"));
        }
        let value = percent_decode(v.trim())
            .ok_or_else(|| Error::invalid(var, item, "invalid percent-encoding"))?;
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<EnvConfig, Error> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EnvConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn empty_environment_sets_nothing() {
        let cfg = env(&[]).unwrap();
        assert!(cfg.service_name.is_none());
        assert!(cfg.endpoint.is_none());
        assert!(cfg.protocol.is_none());
        assert!(cfg.sampler.is_none());
        assert!(!cfg.sdk_disabled);
        assert!(cfg.warnings.is_empty());
    }

    #[test]
    fn empty_values_count_as_unset() {
        let cfg = env(&[
            ("OTEL_SERVICE_NAME", " "),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
        ])
        .unwrap();
        assert!(cfg.service_name.is_none());
        assert!(cfg.endpoint.is_none());
    }

    #[test]
    fn reads_service_endpoints_and_protocol() {
        let cfg = env(&[
            ("OTEL_SERVICE_NAME", "checkout"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/v1/traces"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://m:1/v1/metrics",
            ),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://l:1/v1/logs"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("RUST_LOG", "debug"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
        ])
        .unwrap();
        assert_eq!(cfg.service_name.as_deref(), Some("checkout"));
        assert_eq!(cfg.endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(cfg.traces_endpoint.as_deref(), Some("http://t:1/v1/traces"));
        assert_eq!(
            cfg.metrics_endpoint.as_deref(),
            Some("http://m:1/v1/metrics")
        );
        assert_eq!(cfg.logs_endpoint.as_deref(), Some("http://l:1/v1/logs"));
        assert_eq!(cfg.protocol, Some(Protocol::HttpProtobuf));
        assert!(cfg.sdk_disabled);
        assert_eq!(cfg.log_filter.as_deref(), Some("debug"));
        assert_eq!(cfg.metric_interval, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn unknown_protocol_is_an_error() {
        let err = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("http/json"), "{err}");
    }

    #[test]
    fn resource_attributes_and_headers_are_percent_decoded() {
        let cfg = env(&[
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod, team=a%2Cb,,",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20xyz,x-tenant=t1",
            ),
        ])
        .unwrap();
        assert_eq!(
            cfg.resource_attributes,
            vec![
                ("deployment.environment".to_owned(), "prod".to_owned()),
                ("team".to_owned(), "a,b".to_owned())
            ]
        );
        assert_eq!(
            cfg.headers,
            vec![
                ("authorization".to_owned(), "Bearer xyz".to_owned()),
                ("x-tenant".to_owned(), "t1".to_owned())
            ]
        );
    }

    #[test]
    fn malformed_key_values_are_errors() {
        assert!(
            env(&[("OTEL_RESOURCE_ATTRIBUTES", "novalue")])
                .unwrap_err()
                .is_config()
        );
        assert!(
            env(&[("OTEL_EXPORTER_OTLP_HEADERS", "=v")])
                .unwrap_err()
                .is_config()
        );
        assert!(
            env(&[("OTEL_EXPORTER_OTLP_HEADERS", "k=%zz")])
                .unwrap_err()
                .is_config()
        );
    }

    #[test]
    fn samplers() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("always_on", None, "AlwaysOn"),
            ("always_off", None, "AlwaysOff"),
            ("traceidratio", Some("0.25"), "TraceIdRatioBased(0.25)"),
            ("parentbased_always_on", None, "ParentBased(AlwaysOn)"),
            ("parentbased_always_off", None, "ParentBased(AlwaysOff)"),
            (
                "parentbased_traceidratio",
                Some("0.5"),
                "ParentBased(TraceIdRatioBased(0.5))",
            ),
        ];
        for (name, arg, want) in cases {
            let mut pairs = vec![("OTEL_TRACES_SAMPLER", *name)];
            if let Some(a) = arg {
                pairs.push(("OTEL_TRACES_SAMPLER_ARG", a));
            }
            let cfg = env(&pairs).unwrap();
            assert_eq!(format!("{:?}", cfg.sampler.unwrap()), *want, "{name}");
            assert!(cfg.warnings.is_empty());
        }
    }

    #[test]
    fn bad_sampler_values_fall_back_with_a_warning() {
        let cfg = env(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]).unwrap();
        assert!(cfg.sampler.is_none());
        assert_eq!(cfg.warnings.len(), 1);

        let cfg = env(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ])
        .unwrap();
        assert_eq!(
            format!("{:?}", cfg.sampler.unwrap()),
            "TraceIdRatioBased(1.0)"
        );
        assert_eq!(cfg.warnings.len(), 1);
    }
}
