//! One endpoint's probe: a prepared HTTP client and request, and the metrics its outcome
//! becomes.

use std::time::{Duration, Instant, SystemTime};

use lookout_proto::otlp::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use lookout_proto::otlp::metrics::v1::Metric;
use reqwest::header::HeaderMap;

use super::cert::{self, CertSummary};
use super::config::TargetConfig;
use crate::core::otlp_build::{Num, Times, attr, attr_int, gauge, sum, unix_nanos};
use crate::net::client;

/// The status classes `httpcheck.status` reports, one point each.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// A prepared probe of one endpoint.
#[derive(Debug)]
pub(crate) struct Target {
    url: String,
    method: reqwest::Method,
    headers: HeaderMap,
    body: Option<String>,
    client: reqwest::Client,
    https: bool,
    /// Start of the cumulative `httpcheck.status`/`httpcheck.error` series.
    started: u64,
}

impl Target {
    /// Validates the endpoint and builds its client.
    pub(crate) fn new(
        endpoint: &str,
        config: &TargetConfig,
        default_timeout: Duration,
    ) -> Result<Target, String> {
        let url = reqwest::Url::parse(endpoint)
            .map_err(|e| format!("invalid endpoint {endpoint:?}: {e}"))?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(format!(
                    "endpoint {endpoint:?}: unsupported scheme {other:?}"
                ));
            }
        };
        let method = reqwest::Method::from_bytes(config.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("invalid method {:?}", config.method))?;
        let headers = client::header_map(&config.headers)?;
        // HTTP/1.1 only, as reqwest offers without its http2 feature.
        let tls = client::client_config(&config.tls, &[b"http/1.1"]).map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout.unwrap_or(default_timeout))
            .tls_info(true)
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(Target {
            url: endpoint.to_owned(),
            method,
            headers,
            body: config.body.clone(),
            client,
            https,
            started: unix_nanos(SystemTime::now()),
        })
    }

    /// Probes once. Never fails: every outcome is reported as metrics.
    pub(crate) async fn check(&self) -> Vec<Metric> {
        let mut request = self
            .client
            .request(self.method.clone(), &self.url)
            .headers(self.headers.clone());
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        let began = Instant::now();
        let result = request.send().await;
        let elapsed = began.elapsed();
        let now = SystemTime::now();
        let outcome = match result {
            Ok(response) => {
                let cert = self
                    .https
                    .then(|| {
                        response
                            .extensions()
                            .get::<reqwest::tls::TlsInfo>()?
                            .peer_certificate()
                            .map(cert::summarize)
                    })
                    .flatten();
                let cert = match cert {
                    Some(Ok(summary)) => Some(summary),
                    Some(Err(err)) => {
                        tracing::warn!(url = %self.url, error = %err, "cannot read the server certificate");
                        None
                    }
                    None => None,
                };
                Outcome::Response {
                    status: response.status().as_u16(),
                    cert,
                }
            }
            Err(err) => Outcome::Error(error_message(&err)),
        };
        metrics(
            &self.url,
            self.method.as_str(),
            elapsed,
            &outcome,
            Times {
                start: self.started,
                now: unix_nanos(now),
            },
            unix_secs(now),
        )
    }
}

/// What a probe found.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// The server answered.
    Response {
        /// HTTP status code.
        status: u16,
        /// The leaf certificate, for HTTPS.
        cert: Option<CertSummary>,
    },
    /// No answer: refused, timed out, DNS failure, TLS failure...
    Error(String),
}

/// The error and its causes on one line (`reqwest` puts the useful part in the sources).
fn error_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The metrics of one probe.
pub(crate) fn metrics(
    url: &str,
    method: &str,
    elapsed: Duration,
    outcome: &Outcome,
    times: Times,
    now_secs: i64,
) -> Vec<Metric> {
    let millis = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
    let mut out = vec![gauge(
        "httpcheck.duration",
        "Measures the duration of the HTTP check.",
        "ms",
        times,
        vec![(vec![attr("http.url", url)], Num::Int(millis))],
    )];
    match outcome {
        Outcome::Response { status, cert } => {
            let class = format!("{}xx", status / 100);
            let points = CLASSES
                .iter()
                .map(|c| {
                    (
                        vec![
                            attr("http.url", url),
                            attr_int("http.status_code", i64::from(*status)),
                            attr("http.method", method),
                            attr("http.status_class", *c),
                        ],
                        Num::Int(i64::from(*c == class)),
                    )
                })
                .collect();
            out.push(sum(
                "httpcheck.status",
                "1 if the check resulted in status_code matching the status_class, otherwise 0.",
                "1",
                false,
                times,
                points,
            ));
            if let Some(cert) = cert {
                out.push(gauge(
                    "httpcheck.tls.cert_remaining",
                    "Time in seconds until certificate expiry, as specified by `NotAfter` field in the x.509 certificate. Negative values represent time in seconds since expiration.",
                    "s",
                    times,
                    vec![(
                        vec![
                            attr("http.url", url),
                            attr("http.tls.issuer", &cert.issuer),
                            attr("http.tls.cn", &cert.common_name),
                            string_array("http.tls.san", &cert.sans),
                        ],
                        Num::Int(cert.not_after.saturating_sub(now_secs)),
                    )],
                ));
            }
        }
        Outcome::Error(message) => out.push(sum(
            "httpcheck.error",
            "Records errors occurring during HTTP check.",
            "{error}",
            false,
            times,
            vec![(
                vec![attr("http.url", url), attr("error.message", message)],
                Num::Int(1),
            )],
        )),
    }
    out
}

fn string_array(key: &str, values: &[String]) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: values
                    .iter()
                    .map(|v| AnyValue {
                        value: Some(any_value::Value::StringValue(v.clone())),
                    })
                    .collect(),
            })),
        }),
        ..Default::default()
    }
}
