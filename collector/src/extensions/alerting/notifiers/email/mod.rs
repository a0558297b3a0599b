//! The `email` notifier: one message per notification over SMTP (lettre), with a subject, a
//! plain-text body and an HTML body rendered from templates ([`template`]), sent to `to` and
//! `cc` from `from`.
//!
//! Each attempt opens its own connection (alerts are rare; a pooled connection would only
//! go stale between them). Errors are sorted for the dispatcher's retry loop: SMTP 4xx
//! replies, refused or dropped connections and timeouts are worth retrying; 5xx replies
//! (a refused login, an unknown recipient), TLS failures (an untrusted certificate stays
//! untrusted) and a template that cannot render are not.

pub(crate) mod template;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::Environment;
use serde::Deserialize;

use super::{Document, Notification, Notifier, NotifyError};
use crate::extensions::auth::Secret;
use template::Context;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SmtpTls {
    /// Plain connection upgraded with `STARTTLS` (submission, port 587 by default); the
    /// upgrade is required: a server that does not offer it is an error.
    #[default]
    Starttls,
    /// TLS from the first byte ("implicit TLS", SMTPS, port 465 by default).
    Tls,
    /// No TLS at all (port 25 by default): for a relay on the same host or network, such as
    /// a local Postfix or a test server. Credentials, if any, then travel in clear.
    None,
}

impl SmtpTls {
    fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

/// `notifiers: <name>: email:` — alert notifications by email over SMTP.
///
/// ```yaml
/// email:
///   endpoint: smtp.example.com:587
///   tls: starttls
///   username: alerts@example.com
///   password: ${env:SMTP_PASSWORD}
///   from: "Lookout <alerts@example.com>"
///   to: [oncall@example.com]
/// ```
///
/// `subject`, `text` and `html` are [minijinja](https://docs.rs/minijinja) (Jinja2) templates.
/// They see: `status` (`firing` / `resolved`), `title` (the group labels' values, or the
/// alert name), `extra_labels` (common labels not in the title), `firing_count`,
/// `resolved_count`, `receiver`, `group_key`, `group_labels`, `common_labels`,
/// `common_annotations`, `external_url`, and `alerts`, each with `status`, `name`,
/// `labels`, `annotations`, `starts_at`, `ends_at`, `generator_url`, `fingerprint` and
/// `evidence`: `trace_ids`, `logs` (`time`, `severity`, `trace_id`, `span_id`, `body`),
/// `figures` (`name`, `value`), `values` (`time`, `value`) and `host` (`at`, `cpu`,
/// `memory`, `load_1m`). Times are formatted `2026-12-06 14:02:05 UTC`, numbers with at most
/// three decimals, utilisations as percentages.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailConfig {
    /// The SMTP server, `host:port`. Without a port: 587 for `starttls`, 465 for `tls`, 25
    /// for `none`.
    pub(crate) endpoint: String,
    /// `starttls` (default), `tls` (implicit TLS) or `none` (plain, for a local relay).
    #[serde(default)]
    pub(crate) tls: SmtpTls,
    /// Login for SMTP AUTH (PLAIN or LOGIN, whichever the server offers). Without it, no
    /// authentication is attempted.
    #[serde(default)]
    pub(crate) username: Option<String>,
    /// Password for `username`; use `${env:VAR}` rather than writing it in the file. Never
    /// logged.
    #[serde(default)]
    pub(crate) password: Option<Secret>,
    /// A file holding the password (surrounding whitespace ignored), read when the notifier
    /// is built; instead of `password`.
    #[serde(default)]
    pub(crate) password_file: Option<PathBuf>,
    /// The sender, `alerts@example.com` or `Lookout <alerts@example.com>`.
    pub(crate) from: String,
    /// Recipients (at least one).
    pub(crate) to: Vec<String>,
    /// Copy recipients.
    #[serde(default)]
    pub(crate) cc: Vec<String>,
    /// Subject template (variables above). Default:
    /// Alertmanager's shape, `[FIRING:2] HttpCheckFailing (http.url=http://x)`. Line breaks
    /// in the result are replaced by spaces.
    #[serde(default)]
    pub(crate) subject: Option<String>,
    /// Plain-text body template. Default: every alert with its labels, annotations, start and
    /// end, and its evidence (figures, values over the window, host CPU / memory / load,
    /// example trace ids, their log lines).
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// HTML body template, rendered with every value HTML-escaped; sent with the text as
    /// `multipart/alternative`. Default: the text body's content as tables. An empty string
    /// sends the text part alone.
    #[serde(default)]
    pub(crate) html: Option<String>,
    /// Name sent with `EHLO` (default `127.0.0.1` as an address literal); some relays want
    /// the host's real name.
    #[serde(default)]
    pub(crate) hello_name: Option<String>,
    /// Accept any server certificate (test servers only).
    #[serde(default)]
    pub(crate) insecure_skip_verify: bool,
    /// PEM file of the CA certificates to trust instead of the built-in Mozilla roots (a
    /// private CA, a test server's self-signed certificate).
    #[serde(default)]
    pub(crate) ca_file: Option<PathBuf>,
    /// Limit on one delivery attempt, from connecting to the server's last reply. Default 10s.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub(crate) timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// A configured `email` notifier.
pub(crate) struct EmailNotifier {
    endpoint: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    /// Domain of the `Message-ID`s: the sender's.
    id_domain: String,
    /// `subject`, `body.txt` and, unless disabled, `body.html`.
    templates: Environment<'static>,
    html: bool,
    timeout: Duration,
}

impl fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The transport holds the credentials: never shown.
        f.debug_struct("EmailNotifier")
            .field("endpoint", &self.endpoint)
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .field("cc", &self.cc.len())
            .finish_non_exhaustive()
    }
}

/// Builds the notifier: checks addresses, reads the password file and the CA, compiles the
/// templates. The error names the key at fault.
pub(crate) fn build(config: &EmailConfig) -> Result<EmailNotifier, String> {
    let (host, port) = host_port(&config.endpoint, config.tls.default_port())?;
    let from: Mailbox = config
        .from
        .parse()
        .map_err(|err| format!("from {:?}: {err}", config.from))?;
    if config.to.is_empty() {
        return Err("to: at least one recipient is required".into());
    }
    let mailboxes = |key: &str, list: &[String]| -> Result<Vec<Mailbox>, String> {
        list.iter()
            .map(|a| a.parse().map_err(|err| format!("{key} {a:?}: {err}")))
            .collect()
    };
    let to = mailboxes("to", &config.to)?;
    let cc = mailboxes("cc", &config.cc)?;

    // "Dangerous" only because it starts without TLS: the `tls` setting decides just below.
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
        .port(port)
        .timeout(Some(config.timeout));
    transport = transport.tls(match config.tls {
        SmtpTls::Starttls => Tls::Required(tls_parameters(config, &host)?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters(config, &host)?),
        SmtpTls::None => Tls::None,
    });
    if let Some(credentials) = credentials(config)? {
        transport = transport
            .credentials(credentials)
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    if let Some(name) = &config.hello_name {
        transport = transport.hello_name(ClientId::Domain(name.clone()));
    }

    let mut templates = template::environment();
    let html = config.html.as_deref() != Some("");
    // (key, template name, configured, default). The HTML body's name ends in `.html`:
    // minijinja escapes every value in it.
    let mut sources = vec![
        (
            "subject",
            "subject",
            &config.subject,
            template::DEFAULT_SUBJECT,
        ),
        ("text", "body.txt", &config.text, template::DEFAULT_TEXT),
    ];
    if html {
        sources.push(("html", "body.html", &config.html, template::DEFAULT_HTML));
    }
    for (key, name, configured, default) in sources {
        let source = configured.as_deref().unwrap_or(default).to_owned();
        templates
            .add_template_owned(name, source)
            .map_err(|err| format!("{key}: template does not compile: {err:#}"))?;
    }

    Ok(EmailNotifier {
        endpoint: format!("{host}:{port}"),
        transport: transport.build(),
        id_domain: from.email.domain().to_owned(),
        from,
        to,
        cc,
        templates,
        html,
        timeout: config.timeout,
    })
}

/// `host:port` or `[v6]:port`, the port optional.
fn host_port(endpoint: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = || format!("endpoint {endpoint:?}: expected host:port");
    let (host, port) = match endpoint.rsplit_once(':') {
        // An IPv6 address without brackets or port: no port.
        Some((host, _)) if host.contains(':') && !host.starts_with('[') => (endpoint, None),
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (endpoint, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => default_port,
    };
    Ok((host.to_owned(), port))
}

fn tls_parameters(config: &EmailConfig, host: &str) -> Result<TlsParameters, String> {
    let mut params = TlsParameters::builder(host.to_owned())
        .dangerous_accept_invalid_certs(config.insecure_skip_verify);
    if let Some(path) = &config.ca_file {
        let pem =
            std::fs::read(path).map_err(|err| format!("ca_file {}: {err}", path.display()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|err| format!("ca_file {}: {err}", path.display()))?;
        params = params
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    } else {
        params = params.certificate_store(CertificateStore::WebpkiRoots);
    }
    params
        .build_rustls()
        .map_err(|err| format!("tls: cannot set up TLS: {err}"))
}

/// Credentials for AUTH. An empty `username` or `password` counts as unset, so that
/// `${env:SMTP_USERNAME:-}` in a config turns AUTH off when the variable is not set.
fn credentials(config: &EmailConfig) -> Result<Option<Credentials>, String> {
    let set_password = config.password.as_ref().filter(|p| !p.expose().is_empty());
    let username = config.username.as_ref().filter(|u| !u.is_empty());
    let password = match (set_password, &config.password_file) {
        (Some(_), Some(_)) => return Err("set password or password_file, not both".into()),
        (Some(p), None) => Some(p.expose().to_owned()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|err| format!("password_file {}: {err}", path.display()))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    match (username, password) {
        (Some(user), Some(password)) => Ok(Some(Credentials::new(user.clone(), password))),
        (None, None) => Ok(None),
        (Some(_), None) => Err("username is set without password or password_file".into()),
        (None, Some(_)) => Err("password is set without username".into()),
    }
}

impl EmailNotifier {
    /// The message for `n`.
    fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let context = Context::new(n);
        let render = |name| {
            template::render(&self.templates, name, &context).map_err(NotifyError::Permanent)
        };
        let subject = render("subject")?
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let text = render("body.txt")?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .date_now()
            .message_id(Some(format!(
                "<{:016x}{:016x}@{}>",
                rand::random::<u64>(),
                rand::random::<u64>(),
                self.id_domain
            )));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        for cc in &self.cc {
            builder = builder.cc(cc.clone());
        }
        let built = if self.html {
            builder.multipart(MultiPart::alternative_plain_html(
                text,
                render("body.html")?,
            ))
        } else {
            builder.header(ContentType::TEXT_PLAIN).body(text)
        };
        built.map_err(|err| NotifyError::Permanent(format!("cannot build the message: {err}")))
    }
}

impl EmailNotifier {
    /// The message carrying `doc`: its text, and the document attached.
    fn document_message(&self, doc: &Document) -> Result<Message, NotifyError> {
        use lettre::message::{Attachment, SinglePart};
        let content_type = ContentType::parse(&doc.content_type)
            .map_err(|err| NotifyError::Permanent(format!("content type: {err}")))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(doc.subject.replace(['\r', '\n'], " "))
            .date_now()
            .message_id(Some(format!(
                "<{:016x}{:016x}@{}>",
                rand::random::<u64>(),
                rand::random::<u64>(),
                self.id_domain
            )));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        for cc in &self.cc {
            builder = builder.cc(cc.clone());
        }
        builder
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(doc.text.clone()))
                    .singlepart(
                        Attachment::new(doc.file_name.clone())
                            .body(doc.content.clone(), content_type),
                    ),
            )
            .map_err(|err| NotifyError::Permanent(format!("cannot build the message: {err}")))
    }

    /// Sends `message` within the attempt's timeout.
    async fn send(&self, message: Message) -> Result<(), NotifyError> {
        // lettre's own timeout covers connecting only: this one bounds the whole attempt,
        // a server that accepts and then never answers included.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(sent) => sent.map(drop).map_err(|err| classify(&self.endpoint, &err)),
            Err(_) => Err(NotifyError::Retryable(format!(
                "smtp {}: no answer within {:?}",
                self.endpoint, self.timeout
            ))),
        }
    }
}

impl Notifier for EmailNotifier {
    fn kind(&self) -> &'static str {
        "email"
    }

    fn notify<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let message = self.message(notification)?;
            self.send(message).await
        })
    }

    fn send_document<'a>(
        &'a self,
        document: &'a Document,
    ) -> Option<BoxFuture<'a, Result<(), NotifyError>>> {
        Some(Box::pin(async move {
            let message = self.document_message(document)?;
            self.send(message).await
        }))
    }
}

/// Sorts an SMTP failure into worth-retrying or not.
fn classify(endpoint: &str, err: &lettre::transport::smtp::Error) -> NotifyError {
    let text = format!("smtp {endpoint}: {}", error_chain(err));
    if err.is_permanent() || err.is_tls() || err.is_client() || refused_by_tls(err) {
        // 5xx (refused login, unknown recipient), an untrusted certificate, or something this
        // client cannot do with this server (no common AUTH mechanism, no STARTTLS).
        NotifyError::Permanent(text)
    } else {
        // 4xx, timeouts, refused or dropped connections, garbled replies.
        NotifyError::Retryable(text)
    }
}

/// Whether a TLS handshake failed on its merits (an untrusted or expired certificate, no
/// common protocol version): lettre reports those as connection errors, with the rustls
/// error inside an `io::Error`.
fn refused_by_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        if e.is::<rustls::Error>() || inner.is_some_and(|i| i.is::<rustls::Error>()) {
            return true;
        }
        next = e.source();
    }
    false
}

/// `err` and its sources, `: `-separated (lettre's `Display` leaves the cause out).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
