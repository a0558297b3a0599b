//! Config reload of extensions and `service.telemetry`, against the real binary: a bearer
//! token rotated under load (the receiver keeps its listener; nothing acknowledged is lost;
//! the old token is refused after the reload and the new one accepted); a changed
//! `health_check` rebinds; the admin listener moves with its routes; `logs.level` applies
//! live unless `RUST_LOG` is set; an `alerting` extension changed under a kept `alert_rules`
//! processor gets the alerts raised after the reload; a `file_storage` directory change is
//! refused; a refused reload leaves extensions and the admin listener as they were.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use support::sink::Sink;
use support::webhook::{Hooks, start_webhook};
use support::{
    GRPC_METRICS, GRPC_TRACES, Lookout, Metrics, Ports, encode, free_port, grpc_call_on,
    grpc_frame, http_client, trace_request,
};
use tonic::Code;

const SPANS: usize = 10;
const OLD_TOKEN: &str = "old-7c1e55a0";
const NEW_TOKEN: &str = "new-93b2f0d4";
/// Longest wait for anything asked of the collector.
const LIMIT: Duration = Duration::from_secs(30);

/// The parts of the config the tests change.
#[derive(Clone)]
struct Setup {
    /// The sink the `otlp` exporter sends to.
    sink: u16,
    /// `bearertokenauth`'s token, and whether the receiver's protocols use it.
    token: &'static str,
    auth: bool,
    /// `health_check`'s port (`None`: the harness's) and path.
    health: Option<u16>,
    health_path: &'static str,
    /// The admin listener's port (`None`: the harness's).
    metrics: Option<u16>,
    /// `service.telemetry.logs.level`.
    level: &'static str,
    /// More `extensions:` bodies (indented by 2) and their ids for `service.extensions`.
    extensions: String,
    enabled: Vec<String>,
    /// More `processors:` bodies and pipelines (an alert_rules metrics pipeline).
    processors: String,
    pipelines: String,
}

impl Setup {
    fn new(sink: u16) -> Setup {
        Setup {
            sink,
            token: OLD_TOKEN,
            auth: false,
            health: None,
            health_path: "/",
            metrics: None,
            level: "info",
            extensions: String::new(),
            enabled: Vec::new(),
            processors: String::new(),
            pipelines: String::new(),
        }
    }

    fn render(&self, p: &Ports) -> String {
        let auth = if self.auth {
            "        auth:\n          authenticator: bearertokenauth\n"
        } else {
            ""
        };
        let mut enabled = vec!["health_check".to_string(), "bearertokenauth".to_string()];
        enabled.extend(self.enabled.iter().cloned());
        format!(
            "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
{auth}      http:
        endpoint: 127.0.0.1:{http}
{auth}processors:
  batch:
    timeout: 20ms
{processors}exporters:
  otlp:
    endpoint: 127.0.0.1:{sink}
    tls:
      insecure: true
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 200ms
      max_elapsed_time: 60s
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
    path: {path}
  bearertokenauth:
    token: {token}
{extensions}service:
  extensions: [{enabled}]
  telemetry:
    logs:
      level: {level}
    metrics:
      address: 127.0.0.1:{metrics}
      enable_lifecycle: true
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
{pipelines}",
            grpc = p.grpc,
            http = p.http,
            processors = self.processors,
            sink = self.sink,
            health = self.health.unwrap_or(p.health),
            path = self.health_path,
            token = self.token,
            extensions = self.extensions,
            enabled = enabled.join(", "),
            level = self.level,
            metrics = self.metrics.unwrap_or(p.metrics),
            pipelines = self.pipelines,
        )
    }
}

fn rewrite(lookout: &Lookout, text: &str) {
    std::fs::write(lookout.dir().join("lookout.yaml"), text).expect("rewrite the config");
}

/// `POST /-/reload` on the admin listener at `port`: status and body.
async fn post_reload(port: u16) -> (u16, String) {
    let response = http_client()
        .post(format!("http://127.0.0.1:{port}/-/reload"))
        .send()
        .await
        .unwrap_or_else(|err| panic!("POST /-/reload on {port}: {err}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Writes `setup`'s config and reloads it over the admin listener on `admin`; asserts it
/// succeeded.
async fn reload_ok(lookout: &Lookout, admin: u16, setup: &Setup) {
    rewrite(lookout, &setup.render(&lookout.ports));
    let (status, body) = post_reload(admin).await;
    assert_eq!(
        status,
        200,
        "reload refused: {body}; log:\n{}",
        lookout.logs()
    );
}

/// GET `http://127.0.0.1:<port><path>`: the status, or `None` when nothing listens.
async fn get_status(port: u16, path: &str) -> Option<u16> {
    http_client()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Whether `port` stops answering `path` within 5 s: a listener replaced by a reload closes
/// after the reload's own response has gone out, so the first request after it may still
/// reach the old one.
async fn closes(port: u16, path: &str) -> bool {
    for _ in 0..100 {
        if get_status(port, path).await.is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn scrape(port: u16) -> Metrics {
    let text = http_client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    Metrics::parse(&text)
}

fn reloads(metrics: &Metrics, result: &str) -> f64 {
    metrics
        .get("lookout_config_reloads_total", &[("result", result)])
        .unwrap_or(0.0)
}

/// An OTLP/gRPC export of `prefix`'s spans with `Bearer <token>` over a new connection.
async fn grpc_export(port: u16, token: &str, prefix: &str) -> Result<Code, String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let authorization = format!("Bearer {token}");
    let headers = [
        ("content-type", "application/grpc"),
        ("authorization", authorization.as_str()),
    ];
    let body = grpc_frame(&encode(&trace_request(prefix, SPANS, 0)), false);
    grpc_call_on(tcp, GRPC_TRACES, &headers, body)
        .await
        .map(|reply| reply.code())
}

/// An OTLP/HTTP export with `Bearer <token>`: the status.
async fn http_export(port: u16, token: &str) -> u16 {
    http_client()
        .post(format!("http://127.0.0.1:{port}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("authorization", format!("Bearer {token}"))
        .body(encode(&trace_request("http", 1, 0)))
        .send()
        .await
        .expect("HTTP export")
        .status()
        .as_u16()
}

fn span_names(sink: &Sink) -> Vec<String> {
    sink.traces()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

/// What the load clients saw.
#[derive(Default)]
struct Load {
    /// Request prefixes answered OK.
    acked: Mutex<Vec<String>>,
    /// Requests answered UNAUTHENTICATED (each client then takes the new token).
    refused: AtomicUsize,
    /// Answers other than OK and UNAUTHENTICATED, by code.
    other: Mutex<HashMap<String, usize>>,
    /// Connections that failed (refused, reset, or no answer).
    failed: AtomicUsize,
    /// Requests acknowledged with the new token.
    acked_new: AtomicUsize,
}

/// `clients` tasks sending 10-span requests back to back, each over a new connection (a
/// listener that stopped accepting would show), with the old token until it is refused, then
/// with the new one, as a client that re-reads its credentials on a 401.
fn start_load(
    port: u16,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> (Arc<Load>, Vec<tokio::task::JoinHandle<()>>) {
    let load = Arc::new(Load::default());
    let tasks = (0..clients)
        .map(|c| {
            let load = Arc::clone(&load);
            let stop = Arc::clone(stop);
            tokio::spawn(async move {
                let mut token = OLD_TOKEN;
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let prefix = format!("c{c}r{i}");
                    i += 1;
                    match grpc_export(port, token, &prefix).await {
                        Ok(Code::Ok) => {
                            load.acked.lock().unwrap().push(prefix);
                            if token == NEW_TOKEN {
                                load.acked_new.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Ok(Code::Unauthenticated) => {
                            load.refused.fetch_add(1, Ordering::SeqCst);
                            token = NEW_TOKEN;
                        }
                        Ok(code) => {
                            *load
                                .other
                                .lock()
                                .unwrap()
                                .entry(format!("{code:?}"))
                                .or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(_) => {
                            load.failed.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
            })
        })
        .collect();
    (load, tasks)
}

async fn wait_for(what: &str, lookout: &Lookout, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < LIMIT,
            "timed out waiting for {what}; log:\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_rotated_under_load_loses_nothing_and_refuses_the_old_token() {
    let sink = Sink::start().await;
    let mut setup = Setup::new(sink.port);
    setup.auth = true;
    let lookout = Lookout::start(|p| setup.render(p)).await;
    let grpc = lookout.ports.grpc;
    assert_eq!(
        grpc_export(grpc, NEW_TOKEN, "early").await,
        Ok(Code::Unauthenticated),
        "the new token is accepted before the reload"
    );

    const CLIENTS: usize = 4;
    let stop = Arc::new(AtomicBool::new(false));
    let (load, tasks) = start_load(grpc, CLIENTS, &stop);
    let acked = || load.acked.lock().unwrap().len();
    wait_for("load before the reload", &lookout, || acked() >= 200).await;

    setup.token = NEW_TOKEN;
    let reload_started = Instant::now();
    reload_ok(&lookout, lookout.ports.metrics, &setup).await;
    let reload_took = reload_started.elapsed();
    let at_reload = acked();
    wait_for("load with the new token", &lookout, || {
        acked() >= at_reload + 200 && load.refused.load(Ordering::SeqCst) >= CLIENTS
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("load task");
    }

    // After the reload: the old token refused, the new one accepted, on both protocols.
    assert_eq!(
        grpc_export(grpc, OLD_TOKEN, "late-old").await,
        Ok(Code::Unauthenticated)
    );
    assert_eq!(grpc_export(grpc, NEW_TOKEN, "late-new").await, Ok(Code::Ok));
    assert_eq!(http_export(lookout.ports.http, OLD_TOKEN).await, 401);
    assert_eq!(http_export(lookout.ports.http, NEW_TOKEN).await, 200);

    let acked: Vec<String> = load.acked.lock().unwrap().clone();
    let wanted: Vec<String> = acked
        .iter()
        .flat_map(|prefix| (0..SPANS).map(move |i| format!("{prefix}-{i}")))
        .collect();
    wait_for("every acknowledged span at the sink", &lookout, || {
        let arrived: std::collections::HashSet<String> = span_names(&sink).into_iter().collect();
        wanted.iter().all(|name| arrived.contains(name))
    })
    .await;
    let arrived: std::collections::HashSet<String> = span_names(&sink).into_iter().collect();
    let lost = wanted.iter().filter(|n| !arrived.contains(*n)).count();
    let refused = load.refused.load(Ordering::SeqCst);
    let failed = load.failed.load(Ordering::SeqCst);
    println!(
        "token rotation under load ({CLIENTS} clients, a new connection per request): \
         {} requests ({} spans) acknowledged, {} of them with the new token; {lost} spans lost; \
         {refused} refused (UNAUTHENTICATED, old token after the reload); other answers {:?}; \
         {failed} connection failures; POST /-/reload answered in {reload_took:?}",
        acked.len(),
        acked.len() * SPANS,
        load.acked_new.load(Ordering::SeqCst),
        load.other.lock().unwrap(),
    );
    assert_eq!(lost, 0, "acknowledged spans lost");
    assert_eq!(failed, 0, "connections failed across the reload");
    assert_eq!(
        refused, CLIENTS,
        "each client is refused once, with the old token, after the reload"
    );
    assert!(load.other.lock().unwrap().is_empty());
    let logs = lookout.stop_ok().await;
    assert!(
        !logs.contains(OLD_TOKEN) && !logs.contains(NEW_TOKEN),
        "a token in the log:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_health_check_rebinds() {
    let sink = Sink::start().await;
    let setup = Setup::new(sink.port);
    let lookout = Lookout::start(|p| setup.render(p)).await;
    let admin = lookout.ports.metrics;
    let old = lookout.ports.health;

    // Same endpoint, another path: the old server gives the port up to the new one.
    let mut changed = setup.clone();
    changed.health = Some(old);
    changed.health_path = "/healthz";
    reload_ok(&lookout, admin, &changed).await;
    assert_eq!(get_status(old, "/healthz").await, Some(200));
    assert_eq!(get_status(old, "/").await, Some(404));

    // Another endpoint: the new port answers, the old one is closed.
    let new = free_port();
    changed.health = Some(new);
    reload_ok(&lookout, admin, &changed).await;
    assert_eq!(get_status(new, "/healthz").await, Some(200));
    assert_eq!(
        get_status(old, "/healthz").await,
        None,
        "the old health endpoint still answers"
    );
    lookout.stop_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_moves_with_its_routes() {
    let sink = Sink::start().await;
    let setup = Setup::new(sink.port);
    let lookout = Lookout::start(|p| setup.render(p)).await;
    let old = lookout.ports.metrics;
    let new = free_port();
    let mut moved = setup.clone();
    moved.metrics = Some(new);
    // The reload asked on the old listener is answered there, then the old one closes.
    reload_ok(&lookout, old, &moved).await;
    assert!(
        closes(old, "/metrics").await,
        "old address still open after 5 s"
    );
    let metrics = scrape(new).await;
    assert_eq!(reloads(&metrics, "success"), 1.0);
    // /-/reload moved too.
    reload_ok(&lookout, new, &moved).await;
    assert_eq!(reloads(&scrape(new).await, "success"), 2.0);
    // Back to the first address.
    reload_ok(&lookout, new, &setup).await;
    assert_eq!(reloads(&scrape(old).await, "success"), 3.0);
    assert!(
        closes(new, "/metrics").await,
        "new address still open after 5 s"
    );
    lookout.stop_ok().await;
}

/// What a successful reload logs at level info.
const RELOADED: &str = "configuration reloaded";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_level_applies_live_unless_rust_log_is_set() {
    let sink = Sink::start().await;
    let mut setup = Setup::new(sink.port);
    setup.level = "warn";
    // RUST_LOG empty: the config decides.
    let lookout = Lookout::start_with_env(
        |p| setup.render(p),
        |_| vec![("RUST_LOG".into(), String::new())],
    )
    .await;
    let admin = lookout.ports.metrics;
    reload_ok(&lookout, admin, &setup).await;
    assert!(
        !lookout.logs().contains(RELOADED),
        "an info line at level warn"
    );
    let mut info = setup.clone();
    info.level = "info";
    reload_ok(&lookout, admin, &info).await;
    assert!(
        lookout.logs().contains(RELOADED),
        "logs.level: info did not apply; log:\n{}",
        lookout.logs()
    );
    lookout.stop_ok().await;

    // RUST_LOG set (the harness sets warn): it rules, the config's level is not applied.
    let lookout = Lookout::start(|p| setup.render(p)).await;
    reload_ok(&lookout, lookout.ports.metrics, &info).await;
    reload_ok(&lookout, lookout.ports.metrics, &setup).await;
    let logs = lookout.stop_ok().await;
    assert!(
        !logs.contains(RELOADED),
        "RUST_LOG=warn overridden:\n{logs}"
    );
}

/// `alerting` with one webhook notifier on `hook`, grouping nothing and flushing at once.
fn alerting(hook: u16) -> String {
    format!(
        "  alerting:
    host_snapshot: false
    notifiers:
      hook:
        webhook:
          endpoint: http://127.0.0.1:{hook}/hook
          format: json
    route:
      notifiers: [hook]
      group_by: [alertname]
      group_wait: 0s
      group_interval: 500ms
      repeat_interval: 1h
"
    )
}

/// Gauge points of `name` (value 1).
fn signal(name: &str) -> ExportMetricsServiceRequest {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: name.into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: now,
                            value: Some(number_data_point::Value::AsDouble(1.0)),
                            ..NumberDataPoint::default()
                        }],
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

async fn send_metrics(lookout: &Lookout, request: &ExportMetricsServiceRequest) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", lookout.ports.grpc))
        .await
        .expect("connect");
    let reply = grpc_call_on(
        tcp,
        GRPC_METRICS,
        &[("content-type", "application/grpc")],
        grpc_frame(&encode(request), false),
    )
    .await
    .expect("gRPC call");
    assert_eq!(reply.code(), Code::Ok, "{reply:?}");
}

/// The alert names of the firing notifications a webhook got.
fn firing(hooks: &Hooks) -> Vec<String> {
    hooks
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "firing")
        .flat_map(|h| h["alerts"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_raised_after_the_reload_goes_to_the_new_notifier() {
    let sink = Sink::start().await;
    let (hook_a, hooks_a, _a) = start_webhook().await;
    let (hook_b, hooks_b, _b) = start_webhook().await;
    let mut setup = Setup::new(sink.port);
    setup.extensions = alerting(hook_a);
    setup.enabled = vec!["alerting".into()];
    let rule = |alert: &str, metric: &str| {
        format!(
            "      - alert: {alert}\n        metric: {metric}\n        aggregate: {{op: max}}\n        condition: \"> 0\"\n"
        )
    };
    setup.processors = format!(
        "  alert_rules:\n    alerting: alerting\n    evaluation_interval: 100ms\n    default_rules: false\n    rules:\n{}{}",
        rule("BeforeReload", "signal.before"),
        rule("AfterReload", "signal.after"),
    );
    setup.pipelines = "    metrics:\n      receivers: [otlp]\n      processors: [alert_rules]\n      exporters: [otlp]\n".into();
    let lookout = Lookout::start(|p| setup.render(p)).await;

    send_metrics(&lookout, &signal("signal.before")).await;
    wait_for("the first alert at notifier a", &lookout, || {
        firing(&hooks_a).contains(&"BeforeReload".to_string())
    })
    .await;

    // Only the extension changes: the metrics pipeline (and its alert_rules engine) is kept.
    let mut changed = setup.clone();
    changed.extensions = alerting(hook_b);
    reload_ok(&lookout, lookout.ports.metrics, &changed).await;
    send_metrics(&lookout, &signal("signal.after")).await;
    wait_for(
        "the alert raised after the reload at notifier b",
        &lookout,
        || firing(&hooks_b).contains(&"AfterReload".to_string()),
    )
    .await;
    assert!(
        !firing(&hooks_a).contains(&"AfterReload".to_string()),
        "the old notifier got the alert raised after the reload"
    );
    let logs = lookout.stop_ok().await;
    assert!(!logs.contains("panicked"), "a task panicked:\n{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_storage_directory_change_is_refused_and_other_changes_apply() {
    let sink = Sink::start().await;
    let state = tempfile::tempdir().expect("temp dir");
    let storage = |create: bool, dir: &str| {
        format!(
            "  file_storage:\n    directory: {}\n    create_directory: {create}\n",
            state.path().join(dir).display()
        )
    };
    let mut setup = Setup::new(sink.port);
    setup.extensions = storage(true, "a");
    setup.enabled = vec!["file_storage".into()];
    let lookout = Lookout::start(|p| setup.render(p)).await;
    let admin = lookout.ports.metrics;

    let mut moved = setup.clone();
    moved.extensions = storage(true, "b");
    rewrite(&lookout, &moved.render(&lookout.ports));
    let (status, body) = post_reload(admin).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("extensions.file_storage.directory") && body.contains("restart lookout"),
        "{body}"
    );
    let metrics = scrape(admin).await;
    assert_eq!(reloads(&metrics, "failure"), 1.0);

    // create_directory is read when a component opens its storage: it applies.
    let mut safe = setup.clone();
    safe.extensions = storage(false, "a");
    reload_ok(&lookout, admin, &safe).await;
    lookout.stop_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reload_leaves_extensions_and_the_admin_listener_as_they_were() {
    let sink = Sink::start().await;
    let mut setup = Setup::new(sink.port);
    setup.auth = true;
    let lookout = Lookout::start(|p| setup.render(p)).await;
    let (grpc, admin, health) = (
        lookout.ports.grpc,
        lookout.ports.metrics,
        lookout.ports.health,
    );
    // A new token and health path (staged first), and an admin address another process
    // holds: the reload fails after the extensions changed, and must undo them.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut bad = setup.clone();
    bad.token = NEW_TOKEN;
    bad.health = Some(health);
    bad.health_path = "/healthz";
    bad.metrics = Some(held.local_addr().expect("address").port());
    rewrite(&lookout, &bad.render(&lookout.ports));
    let (status, body) = post_reload(admin).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("service.telemetry.metrics"), "{body}");

    assert_eq!(grpc_export(grpc, OLD_TOKEN, "after").await, Ok(Code::Ok));
    assert_eq!(
        grpc_export(grpc, NEW_TOKEN, "after-new").await,
        Ok(Code::Unauthenticated)
    );
    assert_eq!(get_status(health, "/").await, Some(200));
    let metrics = scrape(admin).await;
    assert_eq!(reloads(&metrics, "failure"), 1.0);
    assert_eq!(
        metrics.value("lookout_config_last_reload_successful", &[]),
        0.0
    );

    // The same extension changes and a new `prometheus` exporter on the held address: the
    // pipelines refuse it after the extensions and the admin listener were staged.
    let mut good = bad.clone();
    good.metrics = None;
    let held_port = held.local_addr().expect("address").port();
    let refused_by_pipelines = good
        .render(&lookout.ports)
        .replacen(
            "exporters:\n",
            &format!("exporters:\n  prometheus:\n    endpoint: 127.0.0.1:{held_port}\n"),
            1,
        )
        .replacen(
            "  pipelines:\n",
            "  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n",
            1,
        );
    rewrite(&lookout, &refused_by_pipelines);
    let (status, body) = post_reload(admin).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("prometheus"), "{body}");
    assert_eq!(grpc_export(grpc, OLD_TOKEN, "after2").await, Ok(Code::Ok));
    assert_eq!(
        grpc_export(grpc, NEW_TOKEN, "after2-new").await,
        Ok(Code::Unauthenticated)
    );
    assert_eq!(get_status(health, "/").await, Some(200));
    assert_eq!(reloads(&scrape(admin).await, "failure"), 2.0);

    // The same change without the held address applies.
    reload_ok(&lookout, admin, &good).await;
    assert_eq!(grpc_export(grpc, NEW_TOKEN, "good-new").await, Ok(Code::Ok));
    assert_eq!(get_status(health, "/healthz").await, Some(200));
    lookout.stop_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_token_file_applies_on_reload_with_the_config_unchanged() {
    let sink = Sink::start().await;
    let secrets = tempfile::tempdir().expect("temp dir");
    let file = secrets.path().join("token");
    std::fs::write(&file, format!("{OLD_TOKEN}\n")).expect("write the token file");
    let mut setup = Setup::new(sink.port);
    setup.auth = true;
    let render = |p: &Ports| {
        setup.render(p).replace(
            &format!("    token: {OLD_TOKEN}\n"),
            &format!("    filename: {}\n", file.display()),
        )
    };
    let lookout = Lookout::start(render).await;
    let grpc = lookout.ports.grpc;
    assert_eq!(grpc_export(grpc, OLD_TOKEN, "a").await, Ok(Code::Ok));
    std::fs::write(&file, format!("{NEW_TOKEN}\n")).expect("rewrite the token file");
    let (status, body) = post_reload(lookout.ports.metrics).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        grpc_export(grpc, OLD_TOKEN, "b").await,
        Ok(Code::Unauthenticated),
        "the old token from the file still accepted"
    );
    assert_eq!(grpc_export(grpc, NEW_TOKEN, "c").await, Ok(Code::Ok));
    lookout.stop_ok().await;
}
