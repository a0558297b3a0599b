//! One JSON POST as a delivery attempt, shared by the HTTP notifiers: the status decides
//! whether the worker retries (connection errors, 408, 429, 5xx) or gives up (other 4xx).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::HeaderMap;

use super::NotifyError;
use crate::net::client::{self, ClientTlsConfig};

/// Request headers from the config; `Debug` shows their names only, since values carry
/// credentials (`Authorization`).
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Headers(pub(crate) BTreeMap<String, String>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[REDACTED]")))
            .finish()
    }
}

/// A prepared client for one URL.
pub(crate) struct JsonPost {
    client: reqwest::Client,
    url: reqwest::Url,
    /// The URL for messages: without a password in its user info.
    shown: String,
    /// Never logged: they may carry credentials.
    headers: HeaderMap,
}

impl fmt::Debug for JsonPost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonPost")
            .field("url", &self.shown)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JsonPost {
    /// A client posting to `url` with `headers`, giving up an attempt after `timeout`.
    pub(crate) fn new(
        url: &str,
        headers: &Headers,
        tls: &ClientTlsConfig,
        timeout: Duration,
    ) -> Result<JsonPost, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("endpoint {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("endpoint {url:?}: scheme must be http or https"));
        }
        let headers = client::header_map(&headers.0)?;
        // HTTP/1.1 only, as reqwest offers without its http2 feature.
        let tls = client::client_config(tls, &[b"http/1.1"]).map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        let mut shown = parsed.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        Ok(JsonPost {
            client,
            url: parsed,
            shown: shown.to_string(),
            headers,
        })
    }

    /// POSTs `body` once.
    pub(crate) async fn post(&self, body: &serde_json::Value) -> Result<(), NotifyError> {
        let sent = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .json(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                let msg = format!(
                    "{} answered {status}: {}",
                    self.shown,
                    text.chars().take(200).collect::<String>().trim()
                );
                if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
                    Err(NotifyError::Retryable(msg))
                } else {
                    Err(NotifyError::Permanent(msg))
                }
            }
            // reqwest's message would repeat the URL, password included.
            Err(e) => Err(NotifyError::Retryable(format!(
                "{}: {}",
                self.shown,
                e.without_url()
            ))),
        }
    }
}

/// RFC 3339 with milliseconds, as Alertmanager writes times.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn debug_and_errors_never_show_secrets() {
        let mut map = BTreeMap::new();
        map.insert("Authorization".to_string(), "Bearer s3cret".to_string());
        let headers = Headers(map);
        assert!(!format!("{headers:?}").contains("s3cret"));
        let post = JsonPost::new(
            "http://127.0.0.1:1/x",
            &headers,
            &ClientTlsConfig::default(),
            Duration::from_secs(1),
        )
        .unwrap();
        let shown = format!("{post:?}");
        assert!(
            shown.contains("authorization") && !shown.contains("s3cret"),
            "{shown}"
        );
        let with_password = JsonPost::new(
            "http://user:s3cret@127.0.0.1:1/x",
            &Headers::default(),
            &ClientTlsConfig::default(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!format!("{with_password:?}").contains("s3cret"));
        let err = with_password
            .post(&serde_json::json!([]))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("user:***@") && !err.contains("s3cret"),
            "{err}"
        );
    }
}
