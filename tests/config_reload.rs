//! Config reload: SIGHUP (and `POST /-/reload` when `enable_lifecycle` is set) re-reads the
//! config file. A changed exporter is rebuilt under load while the unchanged receiver keeps its
//! port and every acknowledged span reaches a sink; a bad config is refused with its error and
//! the old one keeps delivering; the reload route is off unless enabled.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::sink::Sink;
use support::{
    GRPC_TRACES, Lookout, Metrics, Ports, encode, grpc_call, grpc_call_on, grpc_frame, http_client,
    otlp_exporter, otlp_receiver, service, service_with_storage, trace_request,
};
use tonic::Code;

const SPANS: usize = 10;
const RELOADS: &str = "lookout_config_reloads_total";
/// Longest wait for a reload to show in the metrics.
const RELOAD_LIMIT: Duration = Duration::from_secs(30);

/// OTLP in → batch → `otlp` exporter to the sink on `sink`, which retries quickly; `lifecycle`
/// turns `POST /-/reload` on.
fn config(p: &Ports, sink: u16, lifecycle: bool) -> String {
    let text = format!(
        "{}processors:\n  batch:\n    timeout: 20ms\nexporters:\n  otlp:\n    endpoint: 127.0.0.1:{sink}\n    tls:\n      insecure: true\n\
         \x20   retry_on_failure:\n      initial_interval: 50ms\n      max_interval: 200ms\n      max_elapsed_time: 60s\n{}",
        otlp_receiver(p, "", ""),
        service(
            p,
            "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n"
        )
    );
    if lifecycle {
        let address = format!("      address: 127.0.0.1:{}\n", p.metrics);
        text.replacen(
            &address,
            &format!("{address}      enable_lifecycle: true\n"),
            1,
        )
    } else {
        text
    }
}

fn rewrite(lookout: &Lookout, text: &str) {
    std::fs::write(lookout.dir().join("lookout.yaml"), text).expect("rewrite the config");
}

/// Scrapes until `done` holds for the metrics (bounded).
async fn wait_metrics(lookout: &Lookout, what: &str, done: impl Fn(&Metrics) -> bool) -> Metrics {
    let started = Instant::now();
    loop {
        let metrics = lookout.metrics().await;
        if done(&metrics) {
            return metrics;
        }
        assert!(
            started.elapsed() < RELOAD_LIMIT,
            "timed out waiting for {what}; log:\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn reloads(metrics: &Metrics, result: &str) -> f64 {
    metrics.get(RELOADS, &[("result", result)]).unwrap_or(0.0)
}

/// Names of every span the sink received.
fn span_names(sink: &Sink) -> Vec<String> {
    sink.traces()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

/// The log line names the config file and a line in it (`lookout.yaml:12:5: ...`).
fn names_a_line(line: &str) -> bool {
    line.split("lookout.yaml:")
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// What the load clients saw.
#[derive(Default)]
struct Load {
    /// Request prefixes answered OK, with when.
    acked: Mutex<Vec<(String, Instant)>>,
    /// Answers other than OK, by code.
    not_acked: Mutex<HashMap<String, usize>>,
    /// Connections refused (or otherwise failed before an answer).
    refused: AtomicUsize,
}

/// `clients` tasks sending 10-span requests back to back, each over a new connection (so a
/// listener that stopped accepting would show), until `stop`.
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
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let prefix = format!("c{c}r{i}");
                    i += 1;
                    let body = grpc_frame(&encode(&trace_request(&prefix, SPANS, 0)), false);
                    let tcp = match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                        Ok(tcp) => tcp,
                        Err(_) => {
                            load.refused.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        }
                    };
                    let headers = [("content-type", "application/grpc")];
                    match grpc_call_on(tcp, GRPC_TRACES, &headers, body).await {
                        Ok(reply) if reply.code() == Code::Ok => {
                            load.acked.lock().unwrap().push((prefix, Instant::now()));
                        }
                        Ok(reply) => {
                            *load
                                .not_acked
                                .lock()
                                .unwrap()
                                .entry(format!("{:?}", reply.code()))
                                .or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(_) => {
                            load.refused.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    (load, tasks)
}

/// Acknowledged spans that reached none of `sinks`, duplicate spans at them, and the longest
/// time without an acknowledgement from a second before the reload (`hup`) to a second after it
/// was counted (`hup + reloaded`).
fn tally(
    load: &Load,
    sinks: &[&Sink],
    hup: Instant,
    reloaded: Duration,
) -> (Vec<String>, usize, Duration) {
    let acked: Vec<(String, Instant)> = load.acked.lock().unwrap().clone();
    let mut arrived: HashMap<String, usize> = HashMap::new();
    for name in sinks.iter().flat_map(|s| span_names(s)) {
        *arrived.entry(name).or_default() += 1;
    }
    let lost: Vec<String> = acked
        .iter()
        .flat_map(|(prefix, _)| (0..SPANS).map(move |i| format!("{prefix}-{i}")))
        .filter(|name| !arrived.contains_key(name))
        .collect();
    let duplicates: usize = arrived.values().map(|n| n - 1).sum();
    let mut times: Vec<Instant> = acked.iter().map(|(_, t)| *t).collect();
    times.sort();
    let gap = times
        .windows(2)
        .filter(|w| {
            w[1] + Duration::from_secs(1) >= hup && w[0] <= hup + reloaded + Duration::from_secs(1)
        })
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    (lost, duplicates, gap)
}

/// The longest time between two acknowledgements before the reload (`hup`), the first 20
/// (warm-up) left out: what the load shows without a reload.
fn gap_before(load: &Load, hup: Instant) -> Duration {
    let mut times: Vec<Instant> = load
        .acked
        .lock()
        .unwrap()
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| *t < hup)
        .collect();
    times.sort();
    times
        .windows(2)
        .skip(20)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

async fn send_ok(lookout: &Lookout, prefix: &str) {
    let body = grpc_frame(&encode(&trace_request(prefix, SPANS, 0)), false);
    let reply = grpc_call(
        lookout.ports.grpc,
        GRPC_TRACES,
        "application/grpc",
        None,
        body,
    )
    .await;
    assert_eq!(reply.code(), Code::Ok, "{prefix}: {reply:?}");
}

async fn wait_spans(sink: &Sink, prefix: &str, lookout: &Lookout) {
    let want = format!("{prefix}-0");
    let started = Instant::now();
    while !span_names(sink).contains(&want) {
        assert!(
            started.elapsed() < RELOAD_LIMIT,
            "{prefix} never reached the sink; log:\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exporter_changed_under_load_loses_no_acknowledged_span() {
    let a = Sink::start().await;
    let b = Sink::start().await;
    let lookout = Lookout::start(|p| config(p, a.port, false)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (load, tasks) = start_load(lookout.ports.grpc, 2, &stop);
    let acked = || load.acked.lock().unwrap().len();
    let started = Instant::now();
    while acked() < 200 {
        assert!(started.elapsed() < RELOAD_LIMIT, "load did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Sink a refuses for a while around the reload: the replaced exporter then still holds
    // acknowledged data in its queue, which it must deliver after the switch.
    a.set_unavailable(true);
    let refused_before = a.refused_calls();
    let started = Instant::now();
    while a.refused_calls() == refused_before {
        assert!(started.elapsed() < RELOAD_LIMIT, "sink a was never called");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rewrite(&lookout, &config(&lookout.ports, b.port, false));
    let hup = Instant::now();
    lookout.signal("HUP");
    let metrics = wait_metrics(&lookout, "the reload", |m| reloads(m, "success") >= 1.0).await;
    let reloaded = hup.elapsed();
    assert_eq!(reloads(&metrics, "failure"), 0.0);
    assert_eq!(
        metrics.value("lookout_config_last_reload_successful", &[]),
        1.0
    );
    let at_reload = acked();
    while acked() < at_reload + 200 {
        assert!(
            hup.elapsed() < RELOAD_LIMIT,
            "load did not go on after the reload; log:\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.set_unavailable(false);
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let logs = lookout.stop_ok().await;

    let acked = load.acked.lock().unwrap().len();
    let (lost, duplicates, window) = tally(&load, &[&a, &b], hup, reloaded);
    println!(
        "reload under load: {} requests ({} spans) acknowledged, {} lost, {} duplicate spans, \
         not acknowledged {:?}, connections refused {}; SIGHUP to reload counted {:?}; \
         longest gap between acknowledgements around the reload {:?} (before it: {:?}); \
         spans at a {}, at b {}",
        acked,
        acked * SPANS,
        lost.len(),
        duplicates,
        load.not_acked.lock().unwrap(),
        load.refused.load(Ordering::SeqCst),
        reloaded,
        window,
        gap_before(&load, hup),
        span_names(&a).len(),
        span_names(&b).len(),
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged spans never arrived, e.g. {:?}; log:\n{logs}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(
        load.refused.load(Ordering::SeqCst),
        0,
        "the kept receiver refused connections"
    );
    assert!(
        !span_names(&b).is_empty(),
        "nothing reached the new exporter's sink"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_is_refused_and_the_old_one_keeps_delivering() {
    let a = Sink::start().await;
    let lookout = Lookout::start(|p| config(p, a.port, false)).await;
    send_ok(&lookout, "before").await;
    let good = config(&lookout.ports, a.port, false);
    let bad = [
        // An unknown key.
        good.replace(
            "    timeout: 20ms\n",
            "    timeout: 20ms\n    timeoutt: 1s\n",
        ),
        // A dangling reference.
        good.replace("exporters: [otlp]", "exporters: [otlp/missing]"),
    ];
    for (i, text) in bad.iter().enumerate() {
        rewrite(&lookout, text);
        lookout.signal("HUP");
        let metrics = wait_metrics(&lookout, "the refused reload", |m| {
            reloads(m, "failure") >= (i + 1) as f64
        })
        .await;
        assert_eq!(
            reloads(&metrics, "success"),
            0.0,
            "a refused config counted as a successful reload ({} refused); log:\n{}",
            reloads(&metrics, "failure"),
            lookout.logs()
        );
        assert_eq!(
            metrics.value("lookout_config_last_reload_successful", &[]),
            0.0
        );
        let prefix = format!("after{i}");
        send_ok(&lookout, &prefix).await;
        wait_spans(&a, &prefix, &lookout).await;
    }
    let logs = lookout.stop_ok().await;
    for what in ["timeoutt", "otlp/missing"] {
        assert!(
            logs.lines()
                .any(|l| l.contains("configuration reload refused")
                    && l.contains(what)
                    && names_a_line(l)),
            "{what} is not named with its file and line in the log:\n{logs}"
        );
    }
    assert!(span_names(&a).contains(&"before-0".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_is_off_by_default_and_works_when_enabled() {
    let a = Sink::start().await;
    let b = Sink::start().await;
    let client = http_client();
    let off = Lookout::start(|p| config(p, a.port, false)).await;
    let url = format!("http://127.0.0.1:{}/-/reload", off.ports.metrics);
    let answer = client.post(&url).send().await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(reloads(&off.metrics().await, "success"), 0.0);
    off.stop_ok().await;

    let on = Lookout::start(|p| config(p, a.port, true)).await;
    let url = format!("http://127.0.0.1:{}/-/reload", on.ports.metrics);
    let answer = client.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::METHOD_NOT_ALLOWED);
    rewrite(&on, &config(&on.ports, b.port, true));
    let answer = client.post(&url).send().await.unwrap();
    assert_eq!(
        answer.status(),
        reqwest::StatusCode::OK,
        "{:?}",
        answer.text().await
    );
    send_ok(&on, "to-b").await;
    wait_spans(&b, "to-b", &on).await;

    rewrite(
        &on,
        &config(&on.ports, b.port, true).replace("exporters: [otlp]", "exporters: [otlp/missing]"),
    );
    let answer = client.post(&url).send().await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::BAD_REQUEST);
    let text = answer.text().await.unwrap();
    assert!(text.contains("otlp/missing"), "{text}");
    send_ok(&on, "still-b").await;
    wait_spans(&b, "still-b", &on).await;
    let metrics = on.metrics().await;
    assert_eq!(reloads(&metrics, "success"), 1.0);
    assert_eq!(reloads(&metrics, "failure"), 1.0);
    on.stop_ok().await;
    assert!(!span_names(&a).contains(&"to-b-0".to_string()));
}

/// OTLP in → batch → `otlp` exporter to `sink` behind a persistent queue in `storage`.
fn persistent_config(p: &Ports, sink: u16, storage: &std::path::Path) -> String {
    format!(
        "{receivers}processors:\n  batch:\n    timeout: 20ms\n\
         exporters:\n{exporter}    sending_queue:\n      storage: file_storage/queue\n\
         \x20   retry_on_failure:\n      initial_interval: 50ms\n      max_interval: 200ms\n      max_elapsed_time: 0s\n{service}",
        receivers = otlp_receiver(p, "", ""),
        exporter = otlp_exporter("otlp", sink, "none"),
        service = service_with_storage(
            p,
            "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n",
            "queue",
            storage,
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_queue_moved_to_a_new_endpoint_hands_its_disk_to_the_new_exporter() {
    // The old destination is down for good: what the old exporter wrote to disk must reach
    // the new destination, sent by the new exporter once the old one gave up.
    let a = Sink::start().await;
    a.set_unavailable(true);
    let b = Sink::start().await;
    let storage = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(|p| persistent_config(p, a.port, storage.path())).await;
    for i in 0..20 {
        // Answered once the data is on disk.
        send_ok(&lookout, &format!("before{i}")).await;
    }
    assert_eq!(b.span_count(), 0);
    rewrite(
        &lookout,
        &persistent_config(&lookout.ports, b.port, storage.path()),
    );
    lookout.signal("HUP");
    wait_metrics(&lookout, "the reload", |m| reloads(m, "success") >= 1.0).await;
    for i in 0..10 {
        send_ok(&lookout, &format!("after{i}")).await;
    }
    let want = 30 * SPANS;
    let started = Instant::now();
    while b.span_count() < want {
        assert!(
            started.elapsed() < RELOAD_LIMIT,
            "{} of {want} spans reached the new destination; log:\n{}",
            b.span_count(),
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = lookout.stop_ok().await;
    let names = span_names(&b);
    let unique: std::collections::HashSet<&String> = names.iter().collect();
    println!(
        "persistent queue handed over: {} spans at the new destination ({} duplicates), {} at the old",
        names.len(),
        names.len() - unique.len(),
        a.span_count()
    );
    for i in 0..20 {
        assert!(unique.contains(&format!("before{i}-0")), "before{i} lost");
    }
    for i in 0..10 {
        assert!(unique.contains(&format!("after{i}-0")), "after{i} lost");
    }
    assert!(logs.contains("told to give up"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_receiver_restarts_on_its_port_and_loses_nothing_acknowledged() {
    let a = Sink::start().await;
    let lookout = Lookout::start(|p| config(p, a.port, false)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (load, tasks) = start_load(lookout.ports.grpc, 2, &stop);
    let acked = || load.acked.lock().unwrap().len();
    let started = Instant::now();
    while acked() < 200 {
        assert!(started.elapsed() < RELOAD_LIMIT, "load did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Same port, one setting changed: the receiver stops and starts again.
    let changed = config(&lookout.ports, a.port, false).replacen(
        &format!("        endpoint: 127.0.0.1:{}\n", lookout.ports.grpc),
        &format!(
            "        endpoint: 127.0.0.1:{}\n        max_recv_msg_size_mib: 8\n",
            lookout.ports.grpc
        ),
        1,
    );
    rewrite(&lookout, &changed);
    let hup = Instant::now();
    lookout.signal("HUP");
    wait_metrics(&lookout, "the reload", |m| reloads(m, "success") >= 1.0).await;
    let reloaded = hup.elapsed();
    let at_reload = acked();
    while acked() < at_reload + 200 {
        assert!(
            hup.elapsed() < RELOAD_LIMIT,
            "load did not go on after the reload; log:\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let logs = lookout.stop_ok().await;
    let (lost, duplicates, gap) = tally(&load, &[&a], hup, reloaded);
    println!(
        "receiver restarted by a reload: {} requests acknowledged, {} lost, {} duplicate spans, \
         not acknowledged {:?}, connections refused or cut {}; SIGHUP to reload counted {:?}; \
         longest gap between acknowledgements around the reload {:?} (before it: {:?})",
        acked(),
        lost.len(),
        duplicates,
        load.not_acked.lock().unwrap(),
        load.refused.load(Ordering::SeqCst),
        reloaded,
        gap,
        gap_before(&load, hup),
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged spans never arrived, e.g. {:?}; log:\n{logs}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}

/// OTLP metrics in → `prometheus` exporter serving on `endpoint` with `namespace`.
fn prometheus_config(p: &Ports, endpoint: u16, namespace: &str) -> String {
    format!(
        "{}exporters:\n  prometheus:\n    endpoint: 127.0.0.1:{endpoint}\n    namespace: {namespace}\n{}",
        otlp_receiver(p, "", ""),
        service(
            p,
            "    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
        )
    )
}

/// Sends one gauge point named `reload_test_gauge`.
async fn send_gauge(lookout: &Lookout) {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "reload_test_gauge".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: now,
                            value: Some(number_data_point::Value::AsDouble(1.0)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let reply = grpc_call(
        lookout.ports.grpc,
        support::GRPC_METRICS,
        "application/grpc",
        None,
        grpc_frame(&encode(&request), false),
    )
    .await;
    assert_eq!(reply.code(), Code::Ok, "{reply:?}");
}

/// Scrapes the prometheus exporter until its page names `series` (bounded).
async fn wait_scrape(lookout: &Lookout, port: u16, series: &str) {
    let client = http_client();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let started = Instant::now();
    loop {
        if let Ok(answer) = client.get(&url).send().await
            && let Ok(text) = answer.text().await
            && text.contains(series)
        {
            return;
        }
        assert!(
            started.elapsed() < RELOAD_LIMIT,
            "{series} never served at {url}; log:\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_prometheus_exporter_is_served_again_on_its_endpoint() {
    let port = support::free_port();
    let lookout = Lookout::start(|p| prometheus_config(p, port, "one")).await;
    send_gauge(&lookout).await;
    wait_scrape(&lookout, port, "one_reload_test_gauge").await;
    rewrite(&lookout, &prometheus_config(&lookout.ports, port, "two"));
    lookout.signal("HUP");
    let metrics = wait_metrics(&lookout, "the reload", |m| reloads(m, "success") >= 1.0).await;
    assert_eq!(reloads(&metrics, "failure"), 0.0);
    send_gauge(&lookout).await;
    wait_scrape(&lookout, port, "two_reload_test_gauge").await;
    let logs = lookout.stop_ok().await;
    assert!(!logs.contains("could not start"), "{logs}");
}

/// OTLP → `correlate` (with `correlate_body`) → `otlp` to `sink`, plus `extra` pipelines.
fn correlate_config(p: &Ports, sink: u16, correlate_body: &str, extra: &str) -> String {
    format!(
        "{}processors:\n  correlate:\n{correlate_body}exporters:\n{}  debug:\n{}",
        otlp_receiver(p, "", ""),
        otlp_exporter("otlp", sink, "none"),
        service(
            p,
            &format!(
                "    traces:\n      receivers: [otlp]\n      processors: [correlate]\n      exporters: [otlp]\n{extra}"
            )
        )
    )
}

/// The status of the admin API's answer for the trace of [`trace_request`]'s first span.
async fn trace_status(lookout: &Lookout) -> reqwest::StatusCode {
    let url = format!(
        "http://127.0.0.1:{}/api/v1/traces/{}{}",
        lookout.ports.metrics,
        "11".repeat(8),
        "0000000000000001"
    );
    http_client().get(&url).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_correlate_pipeline_keeps_its_window() {
    let a = Sink::start().await;
    let base = |p: &Ports, extra: &str| correlate_config(p, a.port, "    log_wait: 60s\n", extra);
    let lookout = Lookout::start(|p| base(p, "")).await;
    send_ok(&lookout, "kept").await;
    wait_spans(&a, "kept", &lookout).await;
    assert_eq!(trace_status(&lookout).await, reqwest::StatusCode::OK);

    // Another pipeline is added: the correlate pipeline and its window stay.
    let extra = "    traces/2:\n      receivers: [otlp]\n      exporters: [debug]\n";
    rewrite(&lookout, &base(&lookout.ports, extra));
    lookout.signal("HUP");
    wait_metrics(&lookout, "the first reload", |m| {
        reloads(m, "success") >= 1.0
    })
    .await;
    assert_eq!(
        trace_status(&lookout).await,
        reqwest::StatusCode::OK,
        "the kept window lost its trace"
    );

    // The correlate processor itself changes: its pipeline is rebuilt with a new window.
    rewrite(
        &lookout,
        &correlate_config(&lookout.ports, a.port, "    log_wait: 30s\n", extra),
    );
    lookout.signal("HUP");
    wait_metrics(&lookout, "the second reload", |m| {
        reloads(m, "success") >= 2.0
    })
    .await;
    assert_eq!(
        trace_status(&lookout).await,
        reqwest::StatusCode::NOT_FOUND,
        "a rebuilt correlate starts with an empty window"
    );
    send_ok(&lookout, "rebuilt").await;
    wait_spans(&a, "rebuilt", &lookout).await;
    assert_eq!(trace_status(&lookout).await, reqwest::StatusCode::OK);
    lookout.stop_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_refused_while_building_leaves_the_admin_routes_as_they_were() {
    let a = Sink::start().await;
    let lookout = Lookout::start(|p| correlate_config(p, a.port, "    log_wait: 60s\n", "")).await;
    send_ok(&lookout, "kept").await;
    wait_spans(&a, "kept", &lookout).await;
    assert_eq!(trace_status(&lookout).await, reqwest::StatusCode::OK);
    // correlate changes (so its routes are taken down for its new instance) and a second
    // correlate with the API on too: the second cannot mount the same routes, so the new
    // configuration fails while its pipelines are built, after the config checks passed.
    let text = correlate_config(
        &lookout.ports,
        a.port,
        "    log_wait: 30s\n  correlate/2:\n",
        "    traces/2:\n      receivers: [otlp]\n      processors: [correlate/2]\n      exporters: [debug]\n",
    );
    rewrite(&lookout, &text);
    lookout.signal("HUP");
    wait_metrics(&lookout, "the refused reload", |m| {
        reloads(m, "failure") >= 1.0
    })
    .await;
    assert_eq!(
        trace_status(&lookout).await,
        reqwest::StatusCode::OK,
        "the running correlate's API is gone; log:\n{}",
        lookout.logs()
    );
    send_ok(&lookout, "after").await;
    wait_spans(&a, "after", &lookout).await;
    let logs = lookout.stop_ok().await;
    assert!(logs.contains("already mounted"), "{logs}");
}

/// OTLP → batch → `file` exporter appending OTLP/JSON lines to `out.json` (`extra`: more
/// settings of it).
fn file_config(p: &Ports, extra: &str) -> String {
    format!(
        "{}processors:\n  batch:\n    timeout: 20ms\nexporters:\n  file:\n    path: out.json\n    append: true\n{extra}{}",
        otlp_receiver(p, "", ""),
        service(
            p,
            "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [file]\n"
        )
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_exporter_on_the_same_file_loses_no_line() {
    let lookout = Lookout::start(|p| file_config(p, "")).await;
    for i in 0..30 {
        send_ok(&lookout, &format!("before{i}")).await;
    }
    // Same file, another setting: the new instance opens it only once the old one is done.
    let changed = file_config(&lookout.ports, "    rotation:\n      max_megabytes: 50\n");
    rewrite(&lookout, &changed);
    lookout.signal("HUP");
    wait_metrics(&lookout, "the reload", |m| reloads(m, "success") >= 1.0).await;
    for i in 0..30 {
        send_ok(&lookout, &format!("after{i}")).await;
    }
    // Read before the process (and its directory) goes: every batch is flushed when written.
    let path = lookout.dir().join("out.json");
    let started = Instant::now();
    let mut text = String::new();
    while !text.contains("\"after29-9\"") {
        assert!(
            started.elapsed() < RELOAD_LIMIT,
            "the last request never reached out.json; log:\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        text = std::fs::read_to_string(&path).unwrap_or_default();
    }
    let logs = lookout.stop_ok().await;
    let mut names = Vec::new();
    for line in text.lines() {
        let request: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a line of out.json is not JSON ({e}): {line:.200}"));
        for rs in request["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    names.push(span["name"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    for phase in ["before", "after"] {
        for i in 0..30 {
            assert!(
                names.contains(&format!("{phase}{i}-0")),
                "{phase}{i} is not in out.json; log:\n{logs}"
            );
        }
    }
    assert_eq!(names.len(), 60 * SPANS, "duplicates in out.json");
}
