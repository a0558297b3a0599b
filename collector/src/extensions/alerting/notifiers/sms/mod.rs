//! The `sms` notifier: one line per notification ([`line`]), kept within one SMS, with a
//! link back, sent through an HTTP SMS gateway — Twilio's Messages API as a preset, or any
//! gateway through a templated request.
//!
//! One request per recipient. Errors for the dispatcher's retry loop: refused connections,
//! timeouts, 429 and 5xx are worth retrying; other 4xx (bad credentials, an invalid number)
//! are not. A retry sends to every recipient again, including those that already got it.

pub(crate) mod line;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;
use minijinja::Environment;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};

use super::email::template::{self, Context};
use super::{Notification, Notifier, NotifyError};
use crate::extensions::auth::Secret;
use crate::net::client::{self, ClientTlsConfig};

/// Twilio's API, unless `base_url` says otherwise.
const TWILIO_BASE_URL: &str = "https://api.twilio.com";

/// The generic gateway's default body: JSON with the recipient and the line.
const DEFAULT_HTTP_BODY: &str = r#"{"to": {{ to|tojson }}, "message": {{ message|tojson }}}"#;

/// `notifiers: <name>: sms:` — one-line alert notifications by SMS through an HTTP gateway.
/// Exactly one of `twilio` and `http`.
///
/// ```yaml
/// sms:
///   twilio:
///     account_sid: ACxxxxxxxx
///     auth_token: ${env:TWILIO_AUTH_TOKEN}
///     from: "+15550001111"
///     to: ["+15552223333"]
/// ```
///
/// The message is one line, `FIRING HttpCheckFailing http.url=http://x since 14:02 UTC
/// <link>`, where the link is the collector's `external_url` (and the first alert's
/// `generator_url` when it has one). It is kept within one SMS: 160 GSM-7 characters, or 70
/// when a character needs UCS-2; the labels and then the title are shortened with `...`,
/// never the links.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SmsConfig {
    /// Twilio's Messages API (form POST with basic auth).
    #[serde(default)]
    pub(crate) twilio: Option<TwilioConfig>,
    /// Any other gateway: a templated HTTP request.
    #[serde(default)]
    pub(crate) http: Option<HttpGatewayConfig>,
    /// TLS towards the gateway (`ca_file`, `insecure_skip_verify`, ... as for exporters).
    #[serde(default)]
    pub(crate) tls: ClientTlsConfig,
    /// Limit on each request. Default 10s.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub(crate) timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `sms: twilio:` — `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json` with
/// the form fields `To`, `From` and `Body`, authenticated as `account_sid:auth_token`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TwilioConfig {
    /// The account SID (`AC...`).
    pub(crate) account_sid: String,
    /// The auth token; use `${env:VAR}`. Never logged.
    #[serde(default)]
    pub(crate) auth_token: Option<Secret>,
    /// A file holding the auth token (surrounding whitespace ignored), read when the notifier
    /// is built; instead of `auth_token`.
    #[serde(default)]
    pub(crate) auth_token_file: Option<PathBuf>,
    /// The sending number (E.164, `+15550001111`) or alphanumeric sender id.
    pub(crate) from: String,
    /// Recipient numbers (at least one); one message each.
    pub(crate) to: Vec<String>,
    /// The API's base URL (default `https://api.twilio.com`); for tests and proxies.
    #[serde(default)]
    pub(crate) base_url: Option<String>,
}

/// `sms: http:` — a request to any SMS gateway, its body rendered from a template.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpGatewayConfig {
    /// The gateway URL.
    pub(crate) endpoint: String,
    /// HTTP method (default `POST`).
    #[serde(default)]
    pub(crate) method: Option<String>,
    /// Headers added to every request (an API key, ...); their values are never logged.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, Secret>,
    /// Recipients: one request each, the number in the template's `to`. Empty: one request,
    /// `to` empty (the gateway knows the recipients).
    #[serde(default)]
    pub(crate) to: Vec<String>,
    /// Body template (minijinja): `message` is the SMS line, `to` the recipient, and the
    /// email templates' variables are there too (`status`, `alerts`, `common_labels`, ...).
    /// Filters `tojson` and `urlencode` quote values for JSON and forms. Default
    /// `{"to": {{ to|tojson }}, "message": {{ message|tojson }}}`.
    #[serde(default)]
    pub(crate) body: Option<String>,
    /// `Content-Type` of the body (default `application/json`).
    #[serde(default)]
    pub(crate) content_type: Option<String>,
}

/// A configured `sms` notifier.
pub(crate) struct SmsNotifier {
    client: reqwest::Client,
    gateway: Gateway,
}

enum Gateway {
    Twilio {
        url: Url,
        account_sid: String,
        auth_token: Secret,
        from: String,
        to: Vec<String>,
    },
    Http {
        url: Url,
        method: Method,
        headers: HeaderMap,
        to: Vec<String>,
        /// Boxed: an environment is large, and the Twilio variant needs none.
        body: Box<Environment<'static>>,
    },
}

impl fmt::Debug for SmsNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens and headers are left out.
        let (kind, url, to) = match &self.gateway {
            Gateway::Twilio { url, to, .. } => ("twilio", url, to.len()),
            Gateway::Http { url, to, .. } => ("http", url, to.len()),
        };
        f.debug_struct("SmsNotifier")
            .field("gateway", &kind)
            .field("url", &url.as_str())
            .field("to", &to)
            .finish_non_exhaustive()
    }
}

/// Builds the notifier: checks the gateway settings, reads the token file, compiles the body
/// template. The error names the key at fault.
pub(crate) fn build(config: &SmsConfig) -> Result<SmsNotifier, String> {
    let gateway = match (&config.twilio, &config.http) {
        (Some(twilio), None) => twilio_gateway(twilio)?,
        (None, Some(http)) => http_gateway(http)?,
        _ => return Err("set exactly one of twilio and http".into()),
    };
    // HTTP/1.1 only, as reqwest offers without its http2 feature.
    let tls = client::client_config(&config.tls, &[b"http/1.1"]).map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
    Ok(SmsNotifier { client, gateway })
}

fn twilio_gateway(config: &TwilioConfig) -> Result<Gateway, String> {
    let sid = &config.account_sid;
    if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "twilio.account_sid {sid:?}: expected letters and digits"
        ));
    }
    let auth_token = match (&config.auth_token, &config.auth_token_file) {
        (Some(token), None) => token.clone(),
        (None, Some(path)) => Secret::from(
            std::fs::read_to_string(path)
                .map_err(|err| format!("twilio.auth_token_file {}: {err}", path.display()))?
                .trim()
                .to_owned(),
        ),
        _ => return Err("twilio: set one of auth_token and auth_token_file".into()),
    };
    if auth_token.expose().is_empty() {
        return Err("twilio.auth_token is empty".into());
    }
    if config.from.is_empty() {
        return Err("twilio.from is empty".into());
    }
    if config.to.is_empty() {
        return Err("twilio.to: at least one recipient is required".into());
    }
    let base = config.base_url.as_deref().unwrap_or(TWILIO_BASE_URL);
    let url = Url::parse(&format!(
        "{}/2010-04-01/Accounts/{sid}/Messages.json",
        base.trim_end_matches('/')
    ))
    .map_err(|err| format!("twilio.base_url {base:?}: {err}"))?;
    Ok(Gateway::Twilio {
        url,
        account_sid: sid.clone(),
        auth_token,
        from: config.from.clone(),
        to: config.to.clone(),
    })
}

fn http_gateway(config: &HttpGatewayConfig) -> Result<Gateway, String> {
    let url = Url::parse(&config.endpoint)
        .map_err(|err| format!("http.endpoint {:?}: {err}", config.endpoint))?;
    let method = match &config.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("http.method {m:?} is not an HTTP method"))?,
        None => Method::POST,
    };
    let plain: BTreeMap<String, String> = config
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_owned()))
        .collect();
    let mut headers = client::header_map(&plain).map_err(|err| format!("http.headers: {err}"))?;
    for value in headers.values_mut() {
        value.set_sensitive(true);
    }
    let content_type = config.content_type.as_deref().unwrap_or("application/json");
    let content_type = HeaderValue::from_str(content_type)
        .map_err(|_| format!("http.content_type {content_type:?} is not a header value"))?;
    headers.insert(CONTENT_TYPE, content_type);
    let mut body = template::environment();
    body.add_template_owned(
        "body",
        config
            .body
            .clone()
            .unwrap_or_else(|| DEFAULT_HTTP_BODY.to_owned()),
    )
    .map_err(|err| format!("http.body: template does not compile: {err:#}"))?;
    Ok(Gateway::Http {
        url,
        method,
        headers,
        to: config.to.clone(),
        body: Box::new(body),
    })
}

/// What the generic gateway's body template sees.
#[derive(Serialize)]
struct BodyContext<'a> {
    message: &'a str,
    to: &'a str,
    #[serde(flatten)]
    notification: &'a Context<'a>,
}

impl SmsNotifier {
    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        let message = line::line(n);
        match &self.gateway {
            Gateway::Twilio {
                url,
                account_sid,
                auth_token,
                from,
                to,
            } => {
                for number in to {
                    let request = self
                        .client
                        .post(url.clone())
                        .basic_auth(account_sid, Some(auth_token.expose()))
                        .form(&[("To", number.as_str()), ("From", from), ("Body", &message)]);
                    check(request.send().await).await?;
                }
            }
            Gateway::Http {
                url,
                method,
                headers,
                to,
                body,
            } => {
                let context = Context::new(n);
                let one = [String::new()];
                let recipients = if to.is_empty() { &one[..] } else { &to[..] };
                for number in recipients {
                    let text = template::render(
                        body,
                        "body",
                        &BodyContext {
                            message: &message,
                            to: number,
                            notification: &context,
                        },
                    )
                    .map_err(NotifyError::Permanent)?;
                    let request = self
                        .client
                        .request(method.clone(), url.clone())
                        .headers(headers.clone())
                        .body(text);
                    check(request.send().await).await?;
                }
            }
        }
        Ok(())
    }
}

/// Sorts a gateway's answer: success, worth retrying, or not.
async fn check(sent: Result<reqwest::Response, reqwest::Error>) -> Result<(), NotifyError> {
    let response = match sent {
        Ok(r) => r,
        // Connection refused or reset, timeout: the gateway may be back soon.
        Err(err) => {
            return Err(NotifyError::Retryable(format!(
                "sms gateway: {}",
                err.without_url()
            )));
        }
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let url = response.url().path().to_owned();
    // The gateway's own explanation (Twilio: JSON with `message`), a line of it.
    let detail: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = format!("sms gateway {url} answered {status}: {detail}");
    if status.as_u16() == 429 || status.is_server_error() {
        Err(NotifyError::Retryable(text))
    } else {
        Err(NotifyError::Permanent(text))
    }
}

impl Notifier for SmsNotifier {
    fn kind(&self) -> &'static str {
        "sms"
    }

    fn notify<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(self.deliver(notification))
    }
}
