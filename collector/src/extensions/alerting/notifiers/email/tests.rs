//! The email notifier against a real SMTP server: aiosmtpd (`tests/python/smtp_sink.py`),
//! with STARTTLS, implicit TLS and AUTH, plus the pure parts (templates, config checks).
//!
//! The server tests need `LOOKOUT_PYTHON` (a venv with `aiosmtpd`, made by `.ci/run`). Without
//! it they are skipped with a note, except under `CI`, where they fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::*;
use crate::core::alert::{Alert, EvidenceLog, HostSnapshot};
use crate::extensions::alerting::notifiers::GroupStatus;

// === fixtures ===

fn at(secs: u64) -> SystemTime {
    // 2026-12-06 14:02:00 UTC and after.
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_565_720 + secs)
}

fn alert(url: &str, trace: &str) -> Alert {
    let mut a = Alert::firing("HttpCheckFailing", at(0));
    a.labels.insert("severity".into(), "critical".into());
    a.labels.insert("http.url".into(), url.into());
    a.annotations.insert(
        "summary".into(),
        format!("{url} answers 503 <since> & more"),
    );
    a.generator_url = Some("http://127.0.0.1:8888/api/rules/http".into());
    a.evidence.trace_ids = vec![trace.to_owned()];
    a.evidence.logs = vec![EvidenceLog {
        trace_id: trace.to_owned(),
        span_id: "00f067aa0ba902b7".into(),
        time: at(3),
        severity: "ERROR".into(),
        body: format!("upstream {url} refused: <script>alert(1)</script>"),
    }];
    a.evidence.figures = vec![("value".into(), 0.0), ("threshold".into(), 1.0)];
    a.evidence.values = vec![(at(1), 1.0), (at(2), 0.0)];
    a.evidence.host = Some(HostSnapshot {
        at: at(0),
        cpu_utilization: 0.375,
        memory_utilization: 0.8125,
        load_1m: 1.5,
    });
    a
}

const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";

fn notification() -> Notification {
    let alerts = vec![
        alert("http://a.example/health", TRACE_A),
        alert("http://b.example/health", TRACE_B),
    ];
    let mut group_labels = BTreeMap::new();
    group_labels.insert("alertname".to_owned(), "HttpCheckFailing".to_owned());
    let mut common_labels = group_labels.clone();
    common_labels.insert("severity".into(), "critical".into());
    Notification {
        receiver: "oncall".into(),
        status: GroupStatus::Firing,
        group_key: "{}:{alertname=\"HttpCheckFailing\"}".into(),
        group_labels,
        common_labels,
        common_annotations: BTreeMap::new(),
        alerts,
        external_url: "http://127.0.0.1:8888".into(),
    }
}

fn config(endpoint: &str, tls: SmtpTls) -> EmailConfig {
    EmailConfig {
        endpoint: endpoint.to_owned(),
        tls,
        username: None,
        password: None,
        password_file: None,
        from: "Lookout <alerts@lookout.test>".into(),
        to: vec![
            "oncall@lookout.test".into(),
            "Second <two@lookout.test>".into(),
        ],
        cc: vec!["boss@lookout.test".into()],
        subject: None,
        text: None,
        html: None,
        hello_name: Some("lookout.test".into()),
        insecure_skip_verify: false,
        ca_file: None,
        timeout: Duration::from_secs(5),
    }
}

// === the SMTP server ===

/// A running `smtp_sink.py`; stops when dropped (its stdin closes, and the process is
/// killed).
struct Sink {
    _child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// The venv's Python, or `None` (with a note) outside CI when there is none.
fn python() -> Option<String> {
    match std::env::var("LOOKOUT_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "LOOKOUT_PYTHON is not set: run the tests through `.ci/run`, which creates the \
                 venv with aiosmtpd"
            );
            eprintln!("skipped: LOOKOUT_PYTHON is not set (a Python with aiosmtpd)");
            None
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/smtp_sink.py")
}

impl Sink {
    async fn start(args: &[&str]) -> Option<Sink> {
        let python = python()?;
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(python)
            .arg(script())
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("smtp_sink.py did not start in 20 s")
        .unwrap();
        let port = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("smtp_sink.py said {line:?}"))
            .parse()
            .unwrap();
        Some(Sink {
            _child: child,
            port,
            dir,
        })
    }

    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The messages received so far, in order.
    fn received(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits for the first message.
    async fn first(&self) -> serde_json::Value {
        let started = Instant::now();
        loop {
            if let Some(m) = self.received().into_iter().next() {
                return m;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no message");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A CA and a server certificate for 127.0.0.1, as PEM files.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Certs {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        Certs { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn field<'a>(m: &'a serde_json::Value, key: &str) -> &'a str {
    m[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {m:#}"))
}

// === against the server ===

#[tokio::test]
async fn a_firing_group_arrives_with_recipients_and_evidence_in_both_parts() {
    let Some(sink) = Sink::start(&[]).await else {
        return;
    };
    let notifier = build(&config(&sink.endpoint(), SmtpTls::None)).unwrap();
    notifier.notify(&notification()).await.unwrap();

    let m = sink.first().await;
    assert_eq!(
        field(&m, "subject"),
        "[FIRING:2] HttpCheckFailing (severity=critical)"
    );
    assert_eq!(field(&m, "from"), "Lookout <alerts@lookout.test>");
    assert_eq!(
        field(&m, "to"),
        "oncall@lookout.test, Second <two@lookout.test>"
    );
    assert_eq!(field(&m, "cc"), "boss@lookout.test");
    assert_eq!(field(&m, "mail_from"), "alerts@lookout.test");
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!([
            "oncall@lookout.test",
            "two@lookout.test",
            "boss@lookout.test"
        ])
    );
    assert_eq!(field(&m, "content_type"), "multipart/alternative");
    assert!(field(&m, "message_id").ends_with("@lookout.test>"));
    assert!(!field(&m, "date").is_empty());

    let text = field(&m, "text");
    let raw_html = field(&m, "html");
    // Everything in the HTML part is escaped (`/` too, as minijinja does).
    assert!(!raw_html.contains("<script>"), "{raw_html}");
    assert!(
        raw_html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{raw_html}"
    );
    assert!(
        raw_html.contains("answers 503 &lt;since&gt; &amp; more"),
        "{raw_html}"
    );
    assert!(raw_html.contains("<table"), "{raw_html}");
    let html = &raw_html.replace("&#x2f;", "/");
    for part in [text, html] {
        for needle in [
            TRACE_A,
            TRACE_B,
            "http://a.example/health",
            "http://b.example/health",
            "2026-12-06 14:02:03 UTC",
            "ERROR",
            "37.5%",
            "81.2%",
            "http://127.0.0.1:8888/api/rules/http",
        ] {
            assert!(part.contains(needle), "{needle} missing in:\n{part}");
        }
    }
    assert!(
        text.contains(&format!(
            "2026-12-06 14:02:03 UTC ERROR [{TRACE_A}/00f067aa0ba902b7] upstream \
             http://a.example/health refused: <script>alert(1)</script>"
        )),
        "{text}"
    );
    assert!(
        text.contains("Started:   2026-12-06 14:02:00 UTC"),
        "{text}"
    );
    assert!(text.contains("  threshold = 1"), "{text}");
    assert!(text.contains("  2026-12-06 14:02:01 UTC  1"), "{text}");
}

#[tokio::test]
async fn starttls_and_auth_deliver() {
    let certs = Certs::new();
    let (cert, key) = (certs.path("server.pem"), certs.path("server.key"));
    let args = [
        "--starttls",
        &cert,
        &key,
        "--user",
        "lookout",
        "--password",
        "s3cret",
    ];
    let Some(sink) = Sink::start(&args).await else {
        return;
    };
    let mut config = config(&sink.endpoint(), SmtpTls::Starttls);
    config.username = Some("lookout".into());
    config.password = Some(Secret::from("s3cret".to_owned()));
    config.ca_file = Some(certs.dir.path().join("ca.pem"));
    let notifier = build(&config).unwrap();
    notifier.notify(&notification()).await.unwrap();

    let m = sink.first().await;
    assert_eq!(m["tls"], true);
    assert_eq!(m["auth_user"], "lookout");
    assert!(field(&m, "text").contains(TRACE_B));
}

#[tokio::test]
async fn implicit_tls_and_auth_deliver() {
    let certs = Certs::new();
    let (cert, key) = (certs.path("server.pem"), certs.path("server.key"));
    let args = [
        "--smtps",
        &cert,
        &key,
        "--user",
        "lookout",
        "--password",
        "s3cret",
    ];
    let Some(sink) = Sink::start(&args).await else {
        return;
    };
    let mut config = config(&sink.endpoint(), SmtpTls::Tls);
    config.username = Some("lookout".into());
    let file = certs.dir.path().join("password");
    std::fs::write(&file, "s3cret\n").unwrap();
    config.password_file = Some(file);
    config.ca_file = Some(certs.dir.path().join("ca.pem"));
    let notifier = build(&config).unwrap();
    notifier.notify(&notification()).await.unwrap();

    let m = sink.first().await;
    assert_eq!(m["tls"], true);
    assert_eq!(m["auth_user"], "lookout");
}

#[tokio::test]
async fn a_plain_local_relay_with_auth_delivers() {
    let Some(sink) = Sink::start(&["--user", "lookout", "--password", "s3cret"]).await else {
        return;
    };
    let mut config = config(&sink.endpoint(), SmtpTls::None);
    config.username = Some("lookout".into());
    config.password = Some(Secret::from("s3cret".to_owned()));
    build(&config)
        .unwrap()
        .notify(&notification())
        .await
        .unwrap();
    let m = sink.first().await;
    assert_eq!(m["tls"], false);
    assert_eq!(m["auth_user"], "lookout");
}

#[tokio::test]
async fn a_refused_login_is_permanent() {
    let certs = Certs::new();
    let (cert, key) = (certs.path("server.pem"), certs.path("server.key"));
    let args = [
        "--starttls",
        &cert,
        &key,
        "--user",
        "lookout",
        "--password",
        "s3cret",
    ];
    let Some(sink) = Sink::start(&args).await else {
        return;
    };
    let mut config = config(&sink.endpoint(), SmtpTls::Starttls);
    config.username = Some("lookout".into());
    config.password = Some(Secret::from("wrong".to_owned()));
    config.ca_file = Some(certs.dir.path().join("ca.pem"));
    let err = build(&config)
        .unwrap()
        .notify(&notification())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NotifyError::Permanent(m) if m.contains("535")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong"), "{err}");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_is_permanent() {
    let certs = Certs::new();
    let (cert, key) = (certs.path("server.pem"), certs.path("server.key"));
    let Some(sink) = Sink::start(&["--starttls", &cert, &key]).await else {
        return;
    };
    // The built-in roots do not know the test CA.
    let config = config(&sink.endpoint(), SmtpTls::Starttls);
    let err = build(&config)
        .unwrap()
        .notify(&notification())
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Permanent(_)), "{err:?}");

    // insecure_skip_verify accepts it.
    let mut config = config;
    config.insecure_skip_verify = true;
    build(&config)
        .unwrap()
        .notify(&notification())
        .await
        .unwrap();
    assert_eq!(sink.first().await["tls"], true);
}

#[tokio::test]
async fn a_server_that_is_down_is_retryable() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = config(&format!("127.0.0.1:{port}"), SmtpTls::Starttls);
    let err = build(&config)
        .unwrap()
        .notify(&notification())
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Retryable(_)), "{err:?}");
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_retryable_after_the_timeout() {
    // Accepts the connection, never greets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    let held = tokio::spawn(async move {
        let conn = listener.accept().await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(conn);
    });
    let mut config = config(&endpoint, SmtpTls::None);
    config.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = build(&config)
        .unwrap()
        .notify(&notification())
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Retryable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    held.abort();
}

// === without a server ===

#[test]
fn the_subject_follows_alertmanager_and_resolved_has_no_count() {
    let notifier = build(&config("127.0.0.1:25", SmtpTls::None)).unwrap();
    let mut n = notification();
    let render = |n: &Notification| {
        template::render(&notifier.templates, "subject", &Context::new(n)).unwrap()
    };
    assert_eq!(
        render(&n),
        "[FIRING:2] HttpCheckFailing (severity=critical)"
    );
    n.status = GroupStatus::Resolved;
    for a in &mut n.alerts {
        a.ends_at = Some(at(60));
    }
    assert_eq!(
        render(&n),
        "[RESOLVED] HttpCheckFailing (severity=critical)"
    );
    // No group labels: the alert name is the title, other common labels follow.
    n.group_labels.clear();
    n.common_labels.insert("http.url".into(), "http://x".into());
    assert_eq!(
        render(&n),
        "[RESOLVED] HttpCheckFailing (http.url=http://x severity=critical)"
    );
}

#[test]
fn configured_templates_replace_the_defaults_and_empty_html_sends_text_only() {
    let mut config = config("127.0.0.1:25", SmtpTls::None);
    config.subject = Some("{{ alerts|length }} x {{ title }}\nsecond line".into());
    config.text = Some("{% for a in alerts %}{{ a.labels['http.url'] }};{% endfor %}".into());
    config.html = Some(String::new());
    let notifier = build(&config).unwrap();
    let message = notifier.message(&notification()).unwrap();
    let raw = String::from_utf8(message.formatted()).unwrap();
    assert!(
        raw.contains("Subject: 2 x HttpCheckFailing second line"),
        "{raw}"
    );
    assert!(raw.contains("Content-Type: text/plain"), "{raw}");
    assert!(!raw.contains("multipart"), "{raw}");
    assert!(
        raw.contains("http://a.example/health;http://b.example/health;"),
        "{raw}"
    );
}

#[test]
fn bad_settings_are_refused_with_the_key() {
    let base = config("127.0.0.1:25", SmtpTls::None);
    let refused = |edit: &dyn Fn(&mut EmailConfig)| {
        let mut c = base.clone();
        edit(&mut c);
        build(&c).unwrap_err()
    };
    assert!(refused(&|c| c.from = "not an address".into()).starts_with("from "));
    assert!(refused(&|c| c.to.clear()).starts_with("to:"));
    assert!(refused(&|c| c.cc = vec!["@".into()]).starts_with("cc "));
    assert!(refused(&|c| c.endpoint = "host:port".into()).starts_with("endpoint "));
    assert!(refused(&|c| c.username = Some("u".into())).starts_with("username "));
    assert!(refused(&|c| c.password = Some(Secret::from("p".to_owned()))).starts_with("password "));
    assert!(refused(&|c| c.subject = Some("{% if %}".into())).starts_with("subject:"));
    assert!(
        refused(&|c| {
            c.tls = SmtpTls::Tls;
            c.ca_file = Some("/nonexistent/ca.pem".into());
        })
        .starts_with("ca_file ")
    );
    assert!(
        refused(&|c| c.password_file = Some("/nonexistent/pw".into()))
            .starts_with("password_file ")
    );
}

#[test]
fn endpoints_take_default_ports_and_ipv6() {
    assert_eq!(host_port("smtp.x", 587).unwrap(), ("smtp.x".into(), 587));
    assert_eq!(
        host_port("smtp.x:2525", 587).unwrap(),
        ("smtp.x".into(), 2525)
    );
    assert_eq!(host_port("[::1]:25", 587).unwrap(), ("::1".into(), 25));
    assert_eq!(host_port("[::1]", 587).unwrap(), ("::1".into(), 587));
    assert!(host_port(":25", 587).is_err());
}

#[test]
fn the_config_reads_yaml_and_never_shows_the_password() {
    let yaml = "endpoint: smtp.example.com\n\
                username: alerts\n\
                password: hunter2\n\
                from: alerts@example.com\n\
                to: [oncall@example.com]\n\
                timeout: 3s\n";
    let config: EmailConfig = serde_yaml_ng::from_str(yaml).unwrap();
    assert_eq!(config.tls, SmtpTls::Starttls);
    assert_eq!(config.timeout, Duration::from_secs(3));
    assert!(!format!("{config:?}").contains("hunter2"));
    let notifier = build(&config).unwrap();
    assert!(!format!("{notifier:?}").contains("hunter2"));
    assert_eq!(notifier.kind(), "email");

    let unknown = serde_yaml_ng::from_str::<EmailConfig>(&format!("{yaml}bcc: [x@y]\n"));
    assert!(unknown.unwrap_err().to_string().contains("unknown field"));
    let tls = serde_yaml_ng::from_str::<EmailConfig>(&format!("{yaml}tls: none\n")).unwrap();
    assert_eq!(tls.tls, SmtpTls::None);
}
