//! Dispatcher behaviour on paused time: grouping, repeat, resolve, routes, de-duplication,
//! rate limit, full queues; retries against a local HTTP server; the config.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::RouteConfig;
use super::dispatch::Dispatcher;
use super::notifiers::{GroupStatus, Notification, Notifier, NotifyError};
use super::route::Route;
use super::worker::{self, WorkerHandle, WorkerMetrics, WorkerSettings};
use super::{Alerting, AlertingConfig};
use crate::component::Validate;
use crate::core::alert::{Alert, AlertSink};
use crate::net::client::Backoff;
use crate::telemetry::Telemetry;

// === harness ===

/// Records notifications; `block` makes every attempt hang.
#[derive(Debug, Default)]
struct Recorder {
    got: Mutex<Vec<Notification>>,
    block: bool,
}

impl Recorder {
    fn got(&self) -> Vec<Notification> {
        self.got.lock().unwrap().clone()
    }
}

impl Notifier for Recorder {
    fn kind(&self) -> &'static str {
        "test"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            if self.block {
                std::future::pending::<()>().await;
            }
            self.got.lock().unwrap().push(n.clone());
            Ok(())
        })
    }
}

struct Harness {
    sink: Alerting,
    rec: HashMap<&'static str, Arc<Recorder>>,
    telemetry: Telemetry,
    _shutdown: tokio_util::sync::DropGuard,
}

struct Opts {
    per_minute: u32,
    queue_size: usize,
    resolve_timeout: Duration,
    blocked: &'static [&'static str],
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            per_minute: 1000,
            queue_size: 100,
            resolve_timeout: Duration::from_secs(36_000),
            blocked: &[],
        }
    }
}

fn harness(route: &str, notifiers: &[&'static str], opts: Opts) -> Harness {
    let telemetry = Telemetry::new();
    let shutdown = CancellationToken::new();
    let config: RouteConfig = serde_yaml_ng::from_str(route).unwrap();
    let root = Route::build(&config).unwrap();
    let mut rec = HashMap::new();
    let mut workers = HashMap::new();
    for name in notifiers {
        let block = opts.blocked.contains(name);
        let r = Arc::new(Recorder {
            block,
            ..Recorder::default()
        });
        let settings = WorkerSettings {
            timeout: Duration::from_secs(36_000),
            backoff: fast_backoff(),
            // The small queue is the stuck notifier's; the others keep up.
            queue_size: if block { opts.queue_size } else { 100 },
            per_minute: opts.per_minute,
        };
        let (h, _task) = WorkerHandle::spawn(
            name,
            Arc::clone(&r) as Arc<dyn Notifier>,
            settings,
            WorkerMetrics::new(&telemetry, name),
            shutdown.clone(),
        );
        workers.insert(name.to_string(), h);
        rec.insert(*name, r);
    }
    let d = Dispatcher::new(root, workers, None, opts.resolve_timeout, String::new());
    let (tx, rx) = mpsc::channel(1000);
    tokio::spawn(d.run(rx, shutdown.clone()));
    Harness {
        sink: Alerting {
            tx,
            telemetry: telemetry.clone(),
        },
        rec,
        telemetry,
        _shutdown: shutdown.drop_guard(),
    }
}

fn fast_backoff() -> Backoff {
    Backoff {
        initial_interval: Duration::from_millis(10),
        multiplier: 2.0,
        randomization_factor: 0.0,
        max_interval: Duration::from_millis(50),
        max_elapsed_time: Some(Duration::from_secs(5)),
        max_attempts: None,
        max_server_delay: None,
    }
}

fn alert(name: &str, labels: &[(&str, &str)]) -> Alert {
    let mut a = Alert::firing(name, SystemTime::now());
    for (k, v) in labels {
        a.labels.insert(k.to_string(), v.to_string());
    }
    a
}

async fn at(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

fn names(n: &Notification) -> Vec<String> {
    n.alerts
        .iter()
        .map(|a| a.labels.get("instance").cloned().unwrap_or_default())
        .collect()
}

fn metric(t: &Telemetry, line: &str) -> bool {
    t.render().lines().any(|l| l == line)
}

// === timing ===

#[tokio::test(start_paused = true)]
async fn group_wait_then_group_interval_then_repeat_interval() {
    let h = harness(
        "{notifiers: [log], group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 1h}",
        &["log"],
        Opts::default(),
    );
    let log = &h.rec["log"];
    h.sink.send("test", alert("Down", &[("instance", "a")]));
    at(29.0).await;
    assert!(log.got().is_empty(), "nothing before group_wait");
    at(2.0).await; // t = 31s
    let got = log.got();
    assert_eq!(got.len(), 1);
    assert_eq!(names(&got[0]), ["a"]);
    assert_eq!(got[0].status, GroupStatus::Firing);
    assert_eq!(got[0].group_labels["alertname"], "Down");
    assert_eq!(got[0].receiver, "log");
    // A second alert of the group waits for the group interval (30s + 5m).
    at(9.0).await; // t = 40s
    h.sink.send("test", alert("Down", &[("instance", "b")]));
    at(288.0).await; // t = 328s
    assert_eq!(log.got().len(), 1, "changes wait for group_interval");
    at(3.0).await; // t = 331s
    let got = log.got();
    assert_eq!(got.len(), 2);
    assert_eq!(names(&got[1]), ["a", "b"]);
    assert_eq!(
        got[1].common_labels.get("alertname").map(String::as_str),
        Some("Down")
    );
    assert!(!got[1].common_labels.contains_key("instance"));
    // Unchanged: looked at every 5m but only re-sent after repeat_interval (1h after 330s).
    at(3000.0).await; // t = 3331s
    assert_eq!(
        log.got().len(),
        2,
        "unchanged groups wait for repeat_interval"
    );
    at(900.0).await; // t = 4231s > 330 + 3600 rounded up to the next group interval (4230s)
    assert_eq!(log.got().len(), 3, "re-sent after repeat_interval");
}

#[tokio::test(start_paused = true)]
async fn old_alert_skips_group_wait() {
    let h = harness(
        "{notifiers: [log], group_wait: 30s}",
        &["log"],
        Opts::default(),
    );
    let mut a = alert("Old", &[]);
    a.starts_at = SystemTime::now() - Duration::from_secs(120);
    h.sink.send("test", a);
    at(0.5).await;
    assert_eq!(h.rec["log"].got().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn resolved_is_sent_once_then_dropped_from_the_group() {
    let h = harness(
        "{notifiers: [log], group_by: [alertname], group_wait: 1s, group_interval: 10s}",
        &["log"],
        Opts::default(),
    );
    let log = &h.rec["log"];
    let a = alert("Down", &[("instance", "a")]);
    h.sink.send("test", a.clone());
    h.sink.send("test", alert("Down", &[("instance", "b")]));
    at(2.0).await;
    assert_eq!(log.got().len(), 1);
    let mut resolved = a.clone();
    resolved.ends_at = Some(SystemTime::now());
    h.sink.send("test", resolved);
    at(10.0).await; // t = 12s > 11s
    let got = log.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].status, GroupStatus::Firing, "b still fires");
    assert_eq!(names(&got[1]), ["b", "a"], "firing first");
    assert!(got[1].alerts[1].is_resolved());
    // The resolved alert is gone: the next change lists b alone.
    let mut b_resolved = alert("Down", &[("instance", "b")]);
    b_resolved.ends_at = Some(SystemTime::now());
    h.sink.send("test", b_resolved);
    at(10.0).await;
    let got = log.got();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].status, GroupStatus::Resolved);
    assert_eq!(names(&got[2]), ["b"]);
    // Nothing more: the empty group was removed.
    at(3600.0).await;
    assert_eq!(log.got().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn firing_then_resolved_before_any_notification_sends_nothing() {
    let h = harness(
        "{notifiers: [log], group_wait: 5s}",
        &["log"],
        Opts::default(),
    );
    let a = alert("Blip", &[]);
    h.sink.send("test", a.clone());
    let mut r = a;
    r.ends_at = Some(SystemTime::now());
    h.sink.send("test", r);
    at(60.0).await;
    assert!(h.rec["log"].got().is_empty());
}

#[tokio::test(start_paused = true)]
async fn quiet_alerts_resolve_after_resolve_timeout_and_refreshes_are_deduplicated() {
    let h = harness(
        "{notifiers: [log], group_wait: 1s, group_interval: 10s, repeat_interval: 1h}",
        &["log"],
        Opts {
            resolve_timeout: Duration::from_secs(60),
            ..Opts::default()
        },
    );
    let log = &h.rec["log"];
    let first = alert("Down", &[("instance", "a")]);
    h.sink.send("test", first.clone());
    at(2.0).await;
    assert_eq!(log.got().len(), 1);
    // The source sends it again (a later start, a new annotation): replaced, not re-notified.
    at(48.0).await; // t = 50s
    let mut again = alert("Down", &[("instance", "a")]);
    again
        .annotations
        .insert("summary".into(), "still down".into());
    h.sink.send("test", again);
    at(55.0).await; // t = 105s: 60s after the refresh not yet passed
    assert_eq!(log.got().len(), 1, "an unchanged refresh is no news");
    at(15.0).await; // t = 120s: resolved at 110s, flushed by 121s at the latest
    at(2.0).await;
    let got = log.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].status, GroupStatus::Resolved);
    let a = &got[1].alerts[0];
    assert!(a.is_resolved());
    assert_eq!(a.starts_at, first.starts_at, "keeps the first start");
    assert_eq!(
        a.annotations["summary"], "still down",
        "keeps the latest update"
    );
}

// === routes ===

#[tokio::test(start_paused = true)]
async fn routes_pick_notifiers_and_continue_goes_on() {
    let h = harness(
        r#"
notifiers: [log]
group_wait: 1s
routes:
  - matchers: ['severity = "critical"']
    notifiers: [am]
    continue: true
  - matchers: ['service.name =~ "check.*"']
    notifiers: [hook]
  - matchers: ['service.name = "checkout"']
    notifiers: [log]
"#,
        &["log", "am", "hook"],
        Opts::default(),
    );
    h.sink.send(
        "test",
        alert(
            "Slow",
            &[("severity", "critical"), ("service.name", "checkout")],
        ),
    );
    at(2.0).await;
    assert_eq!(h.rec["am"].got().len(), 1);
    assert_eq!(h.rec["hook"].got().len(), 1);
    assert!(
        h.rec["log"].got().is_empty(),
        "first match without continue stops"
    );
    assert_ne!(
        h.rec["am"].got()[0].group_key,
        h.rec["hook"].got()[0].group_key
    );
    h.sink.send("test", alert("Other", &[("severity", "info")]));
    at(2.0).await;
    assert_eq!(
        h.rec["log"].got().len(),
        1,
        "no child matched: the root takes it"
    );
    assert_eq!(h.rec["am"].got().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn group_by_everything_makes_one_group_per_alert() {
    let h = harness(
        "{notifiers: [log], group_by: ['...'], group_wait: 1s}",
        &["log"],
        Opts::default(),
    );
    for i in ["a", "b", "c"] {
        h.sink.send("test", alert("Down", &[("instance", i)]));
    }
    at(2.0).await;
    let got = h.rec["log"].got();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|n| n.alerts.len() == 1));
}

// === limits ===

#[tokio::test(start_paused = true)]
async fn rate_limit_drops_and_counts() {
    let h = harness(
        "{notifiers: [log], group_by: ['...'], group_wait: 0s}",
        &["log"],
        Opts {
            per_minute: 2,
            ..Opts::default()
        },
    );
    for i in 0..5 {
        h.sink
            .send("src", alert("Down", &[("instance", &i.to_string())]));
    }
    at(1.0).await;
    assert_eq!(h.rec["log"].got().len(), 2);
    assert!(metric(
        &h.telemetry,
        r#"lookout_alerting_notifications_rate_limited_total{notifier="log"} 3"#
    ));
    assert!(metric(
        &h.telemetry,
        r#"lookout_alerting_notifications_sent_total{notifier="log"} 2"#
    ));
    assert!(metric(
        &h.telemetry,
        r#"lookout_alerting_alerts_received_total{source="src"} 5"#
    ));
    at(60.0).await;
    h.sink.send("src", alert("Down", &[("instance", "late")]));
    at(1.0).await;
    assert_eq!(h.rec["log"].got().len(), 3, "the window moved on");
}

#[tokio::test]
async fn full_input_queue_drops_and_counts() {
    let telemetry = Telemetry::new();
    let (tx, _rx) = mpsc::channel(2);
    let sink = Alerting {
        tx,
        telemetry: telemetry.clone(),
    };
    for _ in 0..5 {
        sink.send("src", alert("Down", &[]));
    }
    assert!(metric(
        &telemetry,
        r#"lookout_alerting_alerts_received_total{source="src"} 5"#
    ));
    assert!(metric(
        &telemetry,
        r#"lookout_alerting_alerts_dropped_total{source="src"} 3"#
    ));
}

#[tokio::test(start_paused = true)]
async fn a_stuck_notifier_does_not_hold_the_others() {
    let h = harness(
        "{notifiers: [stuck, log], group_by: ['...'], group_wait: 0s}",
        &["stuck", "log"],
        Opts {
            queue_size: 2,
            blocked: &["stuck"],
            ..Opts::default()
        },
    );
    for i in 0..10 {
        h.sink
            .send("src", alert("Down", &[("instance", &i.to_string())]));
    }
    at(1.0).await;
    assert_eq!(h.rec["log"].got().len(), 10);
    // The ten groups flush in one pass of the dispatcher: two fit the queue, eight are
    // dropped at once, and nothing waits for the stuck attempt.
    assert!(metric(
        &h.telemetry,
        r#"lookout_alerting_notifications_failed_total{notifier="stuck"} 8"#
    ));
}

// === retries against a real HTTP server ===

async fn flaky_server(fail_first: usize, status: u16) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let counter = Arc::clone(&counter);
            async move {
                assert_eq!(body["version"], "4");
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let code = if n < fail_first { status } else { 200 };
                axum::http::StatusCode::from_u16(code).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), hits)
}

fn one_notification() -> Notification {
    Notification {
        receiver: "hook".into(),
        status: GroupStatus::Firing,
        group_key: "{0}:{}".into(),
        group_labels: BTreeMap::new(),
        common_labels: BTreeMap::new(),
        common_annotations: BTreeMap::new(),
        alerts: vec![alert("Down", &[])],
        external_url: String::new(),
    }
}

fn webhook(endpoint: &str) -> super::notifiers::webhook::WebhookNotifier {
    let config: super::notifiers::webhook::WebhookConfig =
        serde_yaml_ng::from_str(&format!("{{endpoint: '{endpoint}', format: alertmanager}}"))
            .unwrap();
    super::notifiers::webhook::build(&config, Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn webhook_is_retried_after_503_and_succeeds() {
    let (url, hits) = flaky_server(1, 503).await;
    let n = webhook(&url);
    let attempts = worker::deliver(
        &n,
        &one_notification(),
        Duration::from_secs(5),
        &fast_backoff(),
    )
    .await
    .unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn webhook_400_is_not_retried_and_a_dead_endpoint_gives_up() {
    let (url, hits) = flaky_server(10, 400).await;
    let err = worker::deliver(
        &webhook(&url),
        &one_notification(),
        Duration::from_secs(5),
        &fast_backoff(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, NotifyError::Permanent(_)), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Nothing listens there: retried until max_elapsed_time, then given up.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut backoff = fast_backoff();
    backoff.max_elapsed_time = Some(Duration::from_millis(200));
    let err = worker::deliver(
        &webhook(&format!("http://{dead}/hook")),
        &one_notification(),
        Duration::from_secs(5),
        &backoff,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, NotifyError::Retryable(_)) && err.to_string().contains("gave up"),
        "{err}"
    );
}

// === config ===

#[test]
fn testdata_config_loads() {
    let text = include_str!("testdata/config.yaml");
    crate::config::Config::parse("testdata/config.yaml", text).unwrap();
}

fn config(yaml: &str) -> Result<AlertingConfig, String> {
    let c: AlertingConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
    c.validate()?;
    Ok(c)
}

#[test]
fn config_errors_name_the_key() {
    let ok = "notifiers: {log: {console: {}}}\nroute: {notifiers: [log]}";
    let c = config(ok).unwrap();
    assert_eq!(c.resolve_timeout, Duration::from_secs(300));
    let cases = [
        (
            "notifiers: {log: {console: {}}}\nroute: {notifiers: [am]}",
            "route.notifiers: no notifier named \"am\" (defined: log)",
        ),
        (
            "notifiers: {log: {console: {}}}\nroute: {notifiers: [log], routes: [{notifiers: [x]}]}",
            "route.routes[0].notifiers: no notifier named \"x\"",
        ),
        (
            "notifiers: {log: {console: {}}}\nroute: {notifiers: [log], routes: [{matchers: ['a =~ \"[\"']}]}",
            "route.routes[0].matchers[0]",
        ),
        (
            "notifiers: {log: {pager: {}}}\nroute: {notifiers: [log]}",
            "unknown notifier type `pager`",
        ),
        (
            "notifiers: {log: {webhook: {endpoint: 'http://x', nope: 1}}}\nroute: {notifiers: [log]}",
            "webhook: unknown field `nope`",
        ),
        (
            "notifiers: {log: {webhook: {endpoint: 'ftp://x'}}}\nroute: {notifiers: [log]}",
            "notifiers.log.webhook: endpoint",
        ),
        (
            "notifiers: {log: {alertmanager: {endpoints: []}}}\nroute: {notifiers: [log]}",
            "notifiers.log.alertmanager: endpoints",
        ),
        (
            "notifiers: {log: {console: {}, webhook: {endpoint: 'http://x'}}}\nroute: {notifiers: [log]}",
            "exactly one key",
        ),
        (
            "notifiers: {log: {console: {queue_size: 0}}}\nroute: {notifiers: [log]}",
            "notifiers.log.console.queue_size",
        ),
        (
            "notifiers: {log: {console: {}}}\nroute: {}",
            "route.notifiers",
        ),
        (
            "notifiers: {log: {console: {}}}\nroute: {notifiers: [log], group_wait: soon}",
            "group_wait",
        ),
        (
            "notifiers: {log: {console: {}}}\nroute: {notifiers: [log]}\nrate_limit: {max_notifications_per_minute: 0}",
            "rate_limit",
        ),
    ];
    for (yaml, want) in cases {
        let err = config(yaml).unwrap_err();
        assert!(err.contains(want), "{yaml}\n=> {err}\nwanted {want}");
    }
    // Shared delivery settings are accepted inside every type.
    let c = config("notifiers: {am: {alertmanager: {endpoints: ['http://a:9093'], timeout: 2s, retry: {max_elapsed_time: 1m}, queue_size: 5}}}\nroute: {notifiers: [am]}").unwrap();
    assert_eq!(c.notifiers["am"].delivery.timeout, Duration::from_secs(2));
    assert_eq!(c.notifiers["am"].delivery.queue_size, 5);
}

#[test]
fn latency_anomaly_alerting_key_must_name_an_enabled_alerting_extension() {
    let whole = |processor_alerting: &str, enabled: &str| {
        format!(
            "extensions:\n  alerting/a:\n    notifiers: {{log: {{console: {{}}}}}}\n    route: {{notifiers: [log]}}\n  file_storage:\n    directory: /tmp\nreceivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:4317}}\nprocessors:\n  latency_anomaly:\n    alerting: {processor_alerting}\nexporters:\n  debug:\nservice:\n  extensions: [{enabled}]\n  pipelines:\n    traces: {{receivers: [otlp], processors: [latency_anomaly], exporters: [debug]}}\n"
        )
    };
    let parse =
        |text: String| crate::config::Config::parse("x.yaml", &text).map_err(|e| e.to_string());
    parse(whole("alerting/a", "alerting/a, file_storage")).unwrap();
    for (alerting, enabled, want) in [
        (
            "alerting/b",
            "alerting/a",
            "extension alerting/b is not defined",
        ),
        (
            "alerting/a",
            "file_storage",
            "not enabled in service.extensions",
        ),
        (
            "file_storage",
            "alerting/a, file_storage",
            "is a file_storage extension, not an alerting one",
        ),
    ] {
        let err = parse(whole(alerting, enabled)).unwrap_err();
        assert!(err.contains(want), "{alerting}: {err}");
    }
}

#[tokio::test]
async fn alertmanager_ha_succeeds_if_one_endpoint_takes_the_alerts() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/api/v2/alerts",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let counter = Arc::clone(&counter);
            async move {
                assert_eq!(body[0]["labels"]["alertname"], "Down");
                counter.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let am = |endpoints: &[String]| {
        let config: super::notifiers::alertmanager::AlertmanagerConfig =
            serde_json::from_value(serde_json::json!({ "endpoints": endpoints })).unwrap();
        super::notifiers::alertmanager::build(&config, Duration::from_secs(2)).unwrap()
    };
    let both = am(&[format!("http://{dead}"), format!("http://{live}/")]);
    both.notify(&one_notification()).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let none = am(&[format!("http://{dead}")]);
    let err = none.notify(&one_notification()).await.unwrap_err();
    assert!(matches!(err, NotifyError::Retryable(_)), "{err}");
}

#[tokio::test]
async fn a_dead_destination_is_retried_then_counted_as_failed() {
    let telemetry = Telemetry::new();
    let shutdown = CancellationToken::new();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut backoff = fast_backoff();
    backoff.max_elapsed_time = Some(Duration::from_millis(150));
    let (mut handle, task) = WorkerHandle::spawn(
        "hook",
        Arc::new(webhook(&format!("http://{dead}/hook"))),
        WorkerSettings {
            timeout: Duration::from_secs(1),
            backoff,
            queue_size: 4,
            per_minute: 100,
        },
        WorkerMetrics::new(&telemetry, "hook"),
        shutdown.clone(),
    );
    handle.offer(one_notification(), tokio::time::Instant::now());
    let failed = r#"lookout_alerting_notifications_failed_total{notifier="hook"} 1"#;
    let started = std::time::Instant::now();
    while !metric(&telemetry, failed) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            telemetry.render()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metric(
        &telemetry,
        r#"lookout_alerting_notifications_sent_total{notifier="hook"} 0"#
    ));
    shutdown.cancel();
    task.await.unwrap();
}
