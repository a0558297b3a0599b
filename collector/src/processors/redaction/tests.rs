//! Unit tests of the redaction processor: one per rule, on encoded requests.

// In a test a failed unwrap is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, span::Event};
use prost::Message;

use super::builtin::luhn;
use super::{RedactionConfig, Rules, logs, traces};
use crate::component::Validate;

fn rules(yaml: &str) -> Rules {
    let config: RedactionConfig = serde_yaml_ng::from_str(yaml).unwrap();
    config.validate().unwrap();
    Rules::new(&config).unwrap()
}

fn validate(yaml: &str) -> Result<(), String> {
    let config: RedactionConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
    config.validate()
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn request(attrs: Vec<KeyValue>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![s("service.name", "shop")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "GET /pay".into(),
                    attributes: attrs,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The span attributes after redaction (the input's if nothing changed).
fn redact(rules: &Rules, attrs: Vec<KeyValue>) -> Vec<KeyValue> {
    let req = request(attrs);
    let buf = req.encode_to_vec();
    let out = traces(rules, &buf).unwrap();
    let got = match out.payload {
        Some(p) => ExportTraceServiceRequest::decode(&p[..]).unwrap(),
        None => req,
    };
    got.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .clone()
}

const ALL: &str = "allow_all_keys: true\n";

#[test]
fn nothing_to_redact_forwards_the_same_bytes() {
    let r = rules(&format!(
        "{ALL}builtin_patterns: [credit_card, email, bearer_token]\nblocked_key_patterns: [password]"
    ));
    let buf = request(vec![s("http.route", "/pay"), s("n", "1234")]).encode_to_vec();
    let out = traces(&r, &buf).unwrap();
    assert!(out.payload.is_none());
    assert_eq!((out.masked, out.removed), (0, 0));
}

#[test]
fn keys_not_allowed_are_removed() {
    let r = rules("allowed_keys: [http.route]\nsummary: debug");
    let got = redact(
        &r,
        vec![s("user.name", "ann"), s("http.route", "/pay"), s("b", "x")],
    );
    assert_eq!(
        got,
        vec![
            s("http.route", "/pay"),
            s("redaction.redacted.keys", "b,user.name"),
            kv("redaction.redacted.count", Value::IntValue(2)),
        ]
    );
}

#[test]
fn ignored_keys_are_untouched_and_counted() {
    let r = rules("ignored_keys: [card]\nsummary: info\nbuiltin_patterns: [credit_card]");
    let got = redact(&r, vec![s("card", "4111111111111111")]);
    assert_eq!(
        got,
        vec![
            s("card", "4111111111111111"),
            kv("redaction.ignored.count", Value::IntValue(1)),
        ]
    );
    let r = rules(&format!(
        "{ALL}ignored_key_patterns: ['^raw\\.']\nblocked_values: ['secret']"
    ));
    let got = redact(&r, vec![s("raw.body", "secret"), s("other", "secret")]);
    assert_eq!(got, vec![s("raw.body", "secret"), s("other", "****")]);
}

#[test]
fn blocked_keys_are_masked_whole_whatever_their_type() {
    let r = rules(&format!(
        "{ALL}blocked_key_patterns: ['(?i)password', '^pin$']"
    ));
    let got = redact(
        &r,
        vec![
            s("db.password", "hunter2"),
            kv("pin", Value::IntValue(1234)),
            s("pinned", "yes"),
        ],
    );
    assert_eq!(
        got,
        vec![
            s("db.password", "****"),
            s("pin", "****"),
            s("pinned", "yes")
        ]
    );
}

#[test]
fn blocked_values_mask_only_the_matching_parts() {
    let r = rules(&format!(
        "{ALL}blocked_values: ['[0-9]{{3}}-[0-9]{{2}}-[0-9]{{4}}', 'k-[a-z]+']"
    ));
    let got = redact(
        &r,
        vec![
            s("note", "ssn 123-45-6789 key k-abc, k-def"),
            kv("n", Value::IntValue(123)),
        ],
    );
    assert_eq!(
        got,
        vec![
            s("note", "ssn **** key ****, ****"),
            kv("n", Value::IntValue(123))
        ]
    );
}

#[test]
fn allowed_values_are_never_masked() {
    let r = rules(&format!(
        "{ALL}builtin_patterns: [email]\nallowed_values: ['@example\\.com$']\nblocked_key_patterns: [contact]"
    ));
    let got = redact(
        &r,
        vec![
            s("to", "ann@example.com"),
            s("cc", "bob@corp.io"),
            s("contact", "x@example.com"),
        ],
    );
    assert_eq!(
        got,
        vec![
            s("to", "ann@example.com"),
            s("cc", "****"),
            s("contact", "x@example.com")
        ]
    );
}

#[test]
fn card_numbers_are_masked_only_when_luhn_valid() {
    let r = rules(&format!("{ALL}builtin_patterns: [credit_card]"));
    let got = redact(
        &r,
        vec![
            s("a", "paid with 4111 1111 1111 1111."),
            s("b", "4111-1111-1111-1111"),
            s("c", "5500005555555559"),
            // 16 digits, Luhn sum not a multiple of 10.
            s("d", "1234567812345678"),
            // Too short to be a card.
            s("e", "order 411111111111"),
        ],
    );
    assert_eq!(
        got,
        vec![
            s("a", "paid with ****."),
            s("b", "****"),
            s("c", "****"),
            s("d", "1234567812345678"),
            s("e", "order 411111111111"),
        ]
    );
}

#[test]
fn luhn_check() {
    assert!(luhn(b"4111111111111111"));
    assert!(luhn(b"4111 1111 1111 1111"));
    assert!(luhn(b"378282246310005")); // 15-digit Amex test number
    assert!(!luhn(b"4111111111111112"));
    assert!(!luhn(b"0000000000")); // too short
}

#[test]
fn emails_and_bearer_tokens_are_masked() {
    let r = rules(&format!("{ALL}builtin_patterns: [email, bearer_token]"));
    let got = redact(
        &r,
        vec![
            s("user", "mail ann.lee+x@mail.example.co.uk now"),
            s("header", "Bearer eyJhbGciOi.J9.x-y_z=="),
            s("lower", "sent bearer abc123 to api"),
            s("http.request.header.authorization", "Basic dXNlcjpwYXNz"),
            s("authorization_server", "https://auth"),
        ],
    );
    assert_eq!(
        got,
        vec![
            s("user", "mail **** now"),
            s("header", "Bearer ****"),
            s("lower", "sent bearer **** to api"),
            s("http.request.header.authorization", "****"),
            s("authorization_server", "https://auth"),
        ]
    );
}

#[test]
fn masked_parts_can_be_hashed() {
    let hex = |d: &[u8]| hex::encode(d);
    let r = rules(&format!(
        "{ALL}builtin_patterns: [email]\nhash_function: sha1"
    ));
    let got = redact(&r, vec![s("to", "to a@b.io")]);
    let sha1 =
        hex(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b"a@b.io").as_ref());
    assert_eq!(got, vec![s("to", &format!("to {sha1}"))]);

    let r = rules(&format!(
        "{ALL}blocked_key_patterns: [token]\nhash_function: hmac-sha256\nhmac_key: k3y"
    ));
    let got = redact(&r, vec![s("token", "abc")]);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"k3y");
    let mac = hex(ring::hmac::sign(&key, b"abc").as_ref());
    assert_eq!(got, vec![s("token", &mac)]);
}

#[test]
fn summary_counts_merge_with_a_previous_processor() {
    let r = rules(&format!("{ALL}blocked_values: [secret]\nsummary: debug"));
    let first = redact(&r, vec![s("a", "secret"), s("b", "ok")]);
    assert_eq!(
        first,
        vec![
            s("a", "****"),
            s("b", "ok"),
            s("redaction.masked.keys", "a"),
            kv("redaction.masked.count", Value::IntValue(1)),
        ]
    );
    let mut again = first.clone();
    again.push(s("c", "secret"));
    let second = redact(&r, again);
    assert_eq!(
        second,
        vec![
            s("a", "****"),
            s("b", "ok"),
            s("redaction.masked.keys", "a,c"),
            kv("redaction.masked.count", Value::IntValue(2)),
            s("c", "****"),
        ]
    );
    let silent = rules(&format!("{ALL}blocked_values: [secret]"));
    assert_eq!(
        redact(&silent, vec![s("a", "secret")]),
        vec![s("a", "****")]
    );
}

#[test]
fn resource_scope_and_event_attributes_are_redacted() {
    let r = rules(&format!("{ALL}builtin_patterns: [email]"));
    let mut req = request(vec![s("a", "x@y.io")]);
    let rs = &mut req.resource_spans[0];
    rs.resource
        .as_mut()
        .unwrap()
        .attributes
        .push(s("owner", "ops@corp.io"));
    rs.scope_spans[0].scope = Some(InstrumentationScope {
        name: "lib".into(),
        attributes: vec![s("maintainer", "dev@corp.io")],
        ..Default::default()
    });
    rs.scope_spans[0].spans[0].events.push(Event {
        name: "exception".into(),
        attributes: vec![s("exception.message", "no user z@q.io")],
        ..Default::default()
    });
    let buf = req.encode_to_vec();
    let out = traces(&r, &buf).unwrap();
    assert_eq!(out.masked, 4);
    let got = ExportTraceServiceRequest::decode(&out.payload.unwrap()[..]).unwrap();
    let mut want = req;
    let rs = &mut want.resource_spans[0];
    rs.resource.as_mut().unwrap().attributes[1] = s("owner", "****");
    let ss = &mut rs.scope_spans[0];
    ss.scope.as_mut().unwrap().attributes[0] = s("maintainer", "****");
    ss.spans[0].attributes[0] = s("a", "****");
    ss.spans[0].events[0].attributes[0] = s("exception.message", "no user ****");
    assert_eq!(got, want);
}

/// Nested values are not scanned: a kvlist or array attribute passes as it is (contrib scans
/// only string values at the top); a blocked key's value is masked whole, nested or not.
#[test]
fn nested_values_are_not_scanned() {
    let r = rules(&format!(
        "{ALL}builtin_patterns: [email]\nblocked_key_patterns: [^user$]"
    ));
    let nested = Value::KvlistValue(KeyValueList {
        values: vec![s("email", "a@b.io")],
    });
    let got = redact(
        &r,
        vec![kv("ctx", nested.clone()), kv("user", nested.clone())],
    );
    assert_eq!(got, vec![kv("ctx", nested), s("user", "****")]);
}

fn log_request(body: Option<Value>, attrs: Vec<KeyValue>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![s("host.owner", "root@corp.io")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: body.map(|v| AnyValue { value: Some(v) }),
                    attributes: attrs,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn string_log_bodies_are_masked() {
    let r = rules(&format!(
        "{ALL}builtin_patterns: [credit_card, email]\nsummary: debug"
    ));
    let body = Value::StringValue("charged 4111111111111111 for ann@x.io".into());
    let req = log_request(Some(body), vec![s("k", "v")]);
    let out = logs(&r, &req.encode_to_vec()).unwrap();
    let got = ExportLogsServiceRequest::decode(&out.payload.unwrap()[..]).unwrap();
    let rl = &got.resource_logs[0];
    assert_eq!(
        rl.resource.as_ref().unwrap().attributes[0],
        s("host.owner", "****")
    );
    let record = &rl.scope_logs[0].log_records[0];
    assert_eq!(
        record.body.as_ref().unwrap().value,
        Some(Value::StringValue("charged **** for ****".into()))
    );
    assert_eq!(
        record.attributes,
        vec![
            s("k", "v"),
            s("redaction.body.masked.keys", "body"),
            kv("redaction.body.masked.count", Value::IntValue(1)),
        ]
    );
}

#[test]
fn other_log_bodies_pass_through() {
    let r = rules(&format!("{ALL}builtin_patterns: [email]"));
    for body in [
        None,
        Some(Value::IntValue(4)),
        Some(Value::StringValue("nothing here".into())),
        Some(Value::KvlistValue(KeyValueList {
            values: vec![s("to", "a@b.io")],
        })),
    ] {
        let mut req = log_request(body, Vec::new());
        req.resource_logs[0].resource = None;
        let out = logs(&r, &req.encode_to_vec()).unwrap();
        assert!(out.payload.is_none());
    }
}

#[test]
fn a_malformed_request_is_an_error() {
    let r = rules(&format!("{ALL}builtin_patterns: [email]"));
    assert!(traces(&r, &[0x0a, 0x05, 0x12]).is_err());
}

#[test]
fn config_errors_name_the_key_and_the_pattern() {
    let err = validate("blocked_values: ['ok', '(unclosed']").unwrap_err();
    assert!(
        err.contains("blocked_values[1]") && err.contains("`(unclosed`"),
        "{err}"
    );
    let err = validate("allowed_values: ['[z-a]']").unwrap_err();
    assert!(err.contains("allowed_values[0]"), "{err}");
    let err = validate("hash_function: hmac-sha512").unwrap_err();
    assert!(err.contains("hmac_key"), "{err}");
    let err = validate("hmac_key: x").unwrap_err();
    assert!(err.contains("hmac_key"), "{err}");
    let err = validate("hash_function: md5").unwrap_err();
    assert!(err.contains("md5"), "{err}");
    let err = validate("builtin_patterns: [iban]").unwrap_err();
    assert!(err.contains("credit_card"), "{err}");
    let err = validate("summary: loud").unwrap_err();
    assert!(err.contains("debug"), "{err}");
    assert!(validate("unknown_key: 1").is_err());
}

#[test]
fn hmac_key_is_not_shown_by_debug() {
    let config: RedactionConfig =
        serde_yaml_ng::from_str("hash_function: hmac-sha256\nhmac_key: sup3rs3cret").unwrap();
    assert!(!format!("{config:?}").contains("sup3rs3cret"));
}

#[test]
fn authorization_keys_and_the_prefilter() {
    use super::builtin::{Prefilter, is_authorization_key};
    use super::config::Builtin;
    for key in [
        "authorization",
        "Authorization",
        "http.request.header.authorization",
        "x-Authorization",
    ] {
        assert!(is_authorization_key(key.as_bytes()), "{key}");
    }
    for key in ["authorization_server", "preauthorization", "auth", ""] {
        assert!(!is_authorization_key(key.as_bytes()), "{key}");
    }
    let all = Prefilter::new(&[Builtin::CreditCard, Builtin::Email, Builtin::BearerToken]);
    for v in [
        "4111111111111111",
        "4111 1111-1111 1111",
        "a@b",
        "x BEARER y",
    ] {
        assert!(all.may_match(v.as_bytes()), "{v}");
    }
    for v in [
        "/api/v1/orders/7",
        "Mozilla/5.0",
        "bear with me",
        "123456789012",
    ] {
        assert!(!all.may_match(v.as_bytes()), "{v}");
    }
    let email_only = Prefilter::new(&[Builtin::Email]);
    assert!(!email_only.may_match(b"4111111111111111"));
}
