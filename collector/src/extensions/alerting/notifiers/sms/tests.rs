//! The SMS line (GSM-7 / UCS-2 limits, truncation) and both gateways against a local HTTP
//! server that checks Twilio's request shape.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method as AxumMethod, StatusCode};
use axum::routing::any;
use base64::Engine;

use super::line::{Encoding, compose, line};
use super::*;
use crate::core::alert::Alert;
use crate::extensions::alerting::notifiers::GroupStatus;

// === fixtures ===

fn at(secs: u64) -> SystemTime {
    // 2026-12-06 14:02:00 UTC and after.
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_565_720 + secs)
}

fn notification(labels: &[(&str, &str)], alerts: usize) -> Notification {
    let mut common = BTreeMap::new();
    common.insert("alertname".to_owned(), "HttpCheckFailing".to_owned());
    for (k, v) in labels {
        common.insert((*k).to_owned(), (*v).to_owned());
    }
    let alerts = (0..alerts)
        .map(|i| {
            let mut a = Alert::firing("HttpCheckFailing", at(60 * i as u64));
            a.labels.extend(common.clone());
            a.generator_url = Some("http://127.0.0.1:8888/api/alerts/1".into());
            a
        })
        .collect();
    let mut group_labels = BTreeMap::new();
    group_labels.insert("alertname".to_owned(), "HttpCheckFailing".to_owned());
    Notification {
        receiver: "pager".into(),
        status: GroupStatus::Firing,
        group_key: "g".into(),
        group_labels,
        common_labels: common,
        common_annotations: BTreeMap::new(),
        alerts,
        external_url: "http://127.0.0.1:8888".into(),
    }
}

/// Percent-decoding of an `application/x-www-form-urlencoded` body.
fn form(body: &str) -> BTreeMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

// === the gateway ===

/// One request as the gateway saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Default)]
struct Gateway {
    seen: Vec<Seen>,
    /// Statuses to answer, in order; then 201.
    script: Vec<u16>,
}

type Shared = Arc<Mutex<Gateway>>;

struct Server {
    base: String,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(script: Vec<u16>) -> Server {
        let state: Shared = Arc::new(Mutex::new(Gateway {
            script,
            ..Gateway::default()
        }));
        async fn record(
            State(state): State<Shared>,
            method: AxumMethod,
            Path(path): Path<String>,
            headers: HeaderMap,
            body: String,
        ) -> (StatusCode, String) {
            let mut s = state.lock().unwrap();
            s.seen.push(Seen {
                method: method.to_string(),
                path: format!("/{path}"),
                headers,
                body,
            });
            let code = if s.script.is_empty() {
                201
            } else {
                s.script.remove(0)
            };
            let body = if code < 300 {
                r#"{"sid": "SM1", "status": "queued"}"#.to_owned()
            } else {
                format!(r#"{{"code": 21211, "message": "refused with {code}", "status": {code}}}"#)
            };
            (StatusCode::from_u16(code).unwrap(), body)
        }
        let app = Router::new()
            .route("/{*path}", any(record))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { base, state, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn twilio(base: &str, to: &[&str]) -> SmsConfig {
    SmsConfig {
        twilio: Some(TwilioConfig {
            account_sid: "AC0123456789abcdef".into(),
            auth_token: Some(Secret::from("tok3n".to_owned())),
            auth_token_file: None,
            from: "+15550001111".into(),
            to: to.iter().map(|s| (*s).to_owned()).collect(),
            base_url: Some(base.to_owned()),
        }),
        http: None,
        tls: ClientTlsConfig::default(),
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn twilio_gets_one_form_post_per_recipient_within_one_sms() {
    let server = Server::start(Vec::new()).await;
    let long_url = format!("http://checkout.internal.example.com/{}", "x".repeat(150));
    let n = notification(&[("http.url", &long_url), ("severity", "critical")], 2);
    let notifier = build(&twilio(&server.base, &["+15552223333", "+15554445555"])).unwrap();
    notifier.notify(&n).await.unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("AC0123456789abcdef:tok3n")
    );
    for (request, to) in seen.iter().zip(["+15552223333", "+15554445555"]) {
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.path,
            "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
        );
        assert_eq!(request.headers["authorization"], auth.as_str());
        assert_eq!(
            request.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
        let fields = form(&request.body);
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            ["Body", "From", "To"],
            "{fields:?}"
        );
        assert_eq!(fields["To"], to);
        assert_eq!(fields["From"], "+15550001111");
        let body = &fields["Body"];
        assert_eq!(Encoding::of(body), Encoding::Gsm7);
        assert!(Encoding::Gsm7.cost(body) <= 160, "{} {body}", body.len());
        assert!(
            body.starts_with("FIRING:2 HttpCheckFailing http.url=http://checkout"),
            "{body}"
        );
        assert!(
            body.ends_with(
                "... since 14:02 UTC http://127.0.0.1:8888 http://127.0.0.1:8888/api/alerts/1"
            ),
            "{body}"
        );
    }
}

#[tokio::test]
async fn throttling_and_server_errors_are_retryable_other_4xx_are_not() {
    let server = Server::start(vec![429, 503, 400, 401]).await;
    let notifier = build(&twilio(&server.base, &["+15552223333"])).unwrap();
    let n = notification(&[], 1);
    for retryable in [true, true, false, false] {
        let err = notifier.notify(&n).await.unwrap_err();
        match err {
            NotifyError::Retryable(_) => assert!(retryable, "{err:?}"),
            NotifyError::Permanent(ref m) => {
                assert!(!retryable, "{err:?}");
                assert!(m.contains("refused with 4"), "{m}");
            }
        }
        assert!(!err.to_string().contains("tok3n"));
    }
    notifier.notify(&n).await.unwrap();
    assert_eq!(server.seen().len(), 5);
}

#[tokio::test]
async fn a_gateway_that_is_down_is_retryable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let notifier = build(&twilio(&format!("http://127.0.0.1:{port}"), &["+1555"])).unwrap();
    let err = notifier.notify(&notification(&[], 1)).await.unwrap_err();
    assert!(matches!(err, NotifyError::Retryable(_)), "{err:?}");
}

#[tokio::test]
async fn the_generic_gateway_sends_the_rendered_body_per_recipient() {
    let server = Server::start(vec![200, 200]).await;
    let mut headers = BTreeMap::new();
    headers.insert("X-Api-Key".to_owned(), Secret::from("k3y".to_owned()));
    let config = SmsConfig {
        twilio: None,
        http: Some(HttpGatewayConfig {
            endpoint: format!("{}/v1/sms", server.base),
            method: Some("put".into()),
            headers,
            to: vec!["+491701".into(), "+491702".into()],
            body: Some(
                r#"{"number": {{ to|tojson }}, "text": {{ message|tojson }}, "status": "{{ status }}", "n": {{ alerts|length }}}"#
                    .into(),
            ),
            content_type: None,
        }),
        tls: ClientTlsConfig::default(),
        timeout: Duration::from_secs(5),
    };
    let notifier = build(&config).unwrap();
    assert!(!format!("{notifier:?}").contains("k3y"));
    let n = notification(&[("http.url", "http://x/\"quoted\"")], 1);
    notifier.notify(&n).await.unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for (request, to) in seen.iter().zip(["+491701", "+491702"]) {
        assert_eq!(request.method, "PUT");
        assert_eq!(request.path, "/v1/sms");
        assert_eq!(request.headers["x-api-key"], "k3y");
        assert_eq!(request.headers["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["number"], to);
        assert_eq!(body["status"], "firing");
        assert_eq!(body["n"], 1);
        assert_eq!(
            body["text"],
            "FIRING HttpCheckFailing http.url=http://x/\"quoted\" since 14:02 UTC \
             http://127.0.0.1:8888 http://127.0.0.1:8888/api/alerts/1"
        );
    }
}

// === the line ===

#[test]
fn gsm7_detection_counts_extension_characters_twice() {
    assert_eq!(
        Encoding::of("FIRING Disk / 95% at 14:02 @host"),
        Encoding::Gsm7
    );
    assert_eq!(Encoding::of("Käse é ñ ø Δ"), Encoding::Gsm7);
    assert_eq!(Encoding::of("{a|b} ~ [x] ^ € \\"), Encoding::Gsm7);
    assert_eq!(Encoding::Gsm7.cost("{a|b}"), 8);
    assert_eq!(Encoding::Gsm7.cost("€"), 2);
    assert_eq!(Encoding::of("Zażółć"), Encoding::Ucs2);
    assert_eq!(Encoding::of("磁盘已满"), Encoding::Ucs2);
    assert_eq!(Encoding::of("disk full 🔥"), Encoding::Ucs2);
    // An emoji is two UTF-16 units.
    assert_eq!(Encoding::Ucs2.cost("a🔥"), 3);
    assert_eq!(Encoding::Gsm7.limit(), 160);
    assert_eq!(Encoding::Ucs2.limit(), 70);
}

#[test]
fn a_short_group_fits_whole() {
    let n = notification(&[("http.url", "http://x")], 1);
    assert_eq!(
        line(&n),
        "FIRING HttpCheckFailing http.url=http://x since 14:02 UTC http://127.0.0.1:8888 \
         http://127.0.0.1:8888/api/alerts/1"
    );
    let mut resolved = n;
    resolved.status = GroupStatus::Resolved;
    resolved.alerts[0].ends_at = Some(at(300));
    resolved.external_url.clear();
    assert_eq!(
        line(&resolved),
        "RESOLVED HttpCheckFailing http.url=http://x ended 14:07 UTC \
         http://127.0.0.1:8888/api/alerts/1"
    );
}

#[test]
fn many_long_labels_are_cut_in_the_middle_never_the_links() {
    let labels: Vec<(String, String)> = (0..30)
        .map(|i| {
            (
                format!("label.{i:02}"),
                format!("value-{i}-{}", "v".repeat(i)),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let n = notification(&borrowed, 3);
    let text = line(&n);
    assert!(Encoding::Gsm7.cost(&text) <= 160, "{text}");
    assert!(
        text.starts_with("FIRING:3 HttpCheckFailing label.00=value-0-"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "... since 14:02 UTC http://127.0.0.1:8888 http://127.0.0.1:8888/api/alerts/1"
        ),
        "{text}"
    );
    // Exactly as long as allowed: nothing wasted.
    assert!(Encoding::Gsm7.cost(&text) >= 155, "{text}");
}

#[test]
fn a_ucs2_line_is_kept_within_70() {
    let n = notification(
        &[("service", "支付服务"), ("summary", &"延迟很高".repeat(10))],
        1,
    );
    let text = line(&n);
    assert_eq!(Encoding::of(&text), Encoding::Ucs2);
    assert!(Encoding::Ucs2.cost(&text) <= 70, "{text}");
    assert!(
        text.starts_with("FIRING HttpCheckFailing service=支付服务"),
        "{text}"
    );
    // Two links would leave no room: since and the second link go, the first stays whole.
    assert!(text.ends_with(" http://127.0.0.1:8888"), "{text}");
}

#[test]
fn links_too_long_for_the_message_are_kept_whole() {
    let long = format!("https://lookout.example.com/{}", "p".repeat(170));
    let text = compose(
        "FIRING X",
        &[],
        Some("since 14:02 UTC"),
        std::slice::from_ref(&long),
    );
    assert_eq!(text, long);
    let text = compose(
        "FIRING X",
        &["a=b".into()],
        Some("since 14:02 UTC"),
        &["http://l/1".into(), "x".repeat(150)],
    );
    assert_eq!(text, "FIRING X a=b http://l/1");
}

// === the config ===

#[test]
fn the_config_needs_exactly_one_gateway_and_hides_the_token() {
    let yaml =
        "twilio:\n  account_sid: AC1\n  auth_token: hunter2\n  from: '+1555'\n  to: ['+1666']\n";
    let config: SmsConfig = serde_yaml_ng::from_str(yaml).unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
    let notifier = build(&config).unwrap();
    assert!(!format!("{notifier:?}").contains("hunter2"));
    assert_eq!(notifier.kind(), "sms");

    let both = format!("{yaml}http:\n  endpoint: http://x\n");
    let both: SmsConfig = serde_yaml_ng::from_str(&both).unwrap();
    assert_eq!(
        build(&both).unwrap_err(),
        "set exactly one of twilio and http"
    );
    let none: SmsConfig = serde_yaml_ng::from_str("timeout: 2s\n").unwrap();
    assert!(build(&none).is_err());
    let unknown = serde_yaml_ng::from_str::<SmsConfig>(&format!("{yaml}  cc: []\n"));
    assert!(unknown.unwrap_err().to_string().contains("unknown field"));

    let mut c = config.clone();
    c.twilio.as_mut().unwrap().to.clear();
    assert!(build(&c).unwrap_err().starts_with("twilio.to"));
    let mut c = config.clone();
    c.twilio.as_mut().unwrap().auth_token_file = Some("/nonexistent".into());
    assert!(build(&c).unwrap_err().starts_with("twilio: set one of"));
    let mut c = config;
    c.twilio.as_mut().unwrap().account_sid = "AC1/../x".into();
    assert!(build(&c).unwrap_err().starts_with("twilio.account_sid"));
}
