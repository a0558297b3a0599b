//! An agent `lookout` routing by trace id to three gateway `lookout`s with `correlate` (each
//! exporting to its own in-process sink): every trace's spans and its logs land on exactly one
//! gateway, spread over all three, where `correlate` enriches each log with its span. Then one
//! gateway is stopped mid-run: once `backend_down_after` passed its share goes to the other
//! two, and every span and log record the agent acknowledged arrives somewhere (duplicates are
//! reported). Restarted on its port, it rejoins the ring (probe) and gets its share again.
//! Metrics go by `service.name`: each service's points on one gateway.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use support::sink::Sink;
use support::{Lookout, otlp_exporter, otlp_receiver, service, wait_until};
use tonic::transport::Channel;

/// Traces per request, spans per trace, log records per trace.
const TRACES_PER_REQUEST: u64 = 10;
const SPANS: u64 = 4;
const LOGS: u64 = 2;
const DOWN_AFTER: &str = "1s";

fn gateway(p: &support::Ports, sink: u16) -> String {
    let pipelines = "    traces:\n      receivers: [otlp]\n      processors: [correlate, batch]\n      exporters: [otlp]\n\
                     \x20   logs:\n      receivers: [otlp]\n      processors: [correlate, batch]\n      exporters: [otlp]\n\
                     \x20   metrics:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n";
    format!(
        "{}processors:\n  batch:\n    timeout: 20ms\n  correlate:\n    log_wait: 500ms\nexporters:\n{}{}",
        otlp_receiver(p, "", ""),
        otlp_exporter("otlp", sink, "none"),
        service(p, pipelines)
    )
}

fn agent(p: &support::Ports, gateways: &[u16]) -> String {
    let hostnames: Vec<String> = gateways.iter().map(|g| format!("127.0.0.1:{g}")).collect();
    let pipelines = "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [loadbalancing]\n\
                     \x20   logs:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [loadbalancing]\n\
                     \x20   metrics:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [loadbalancing]\n";
    format!(
        "{}processors:\n  batch:\n    timeout: 20ms\nexporters:\n  loadbalancing:\n    protocol:\n      otlp:\n        timeout: 2s\n        compression: none\n        tls:\n          insecure: true\n        retry_on_failure:\n          initial_interval: 50ms\n          max_interval: 200ms\n          max_elapsed_time: 0s\n    resolver:\n      static:\n        hostnames: [{}]\n    backend_down_after: {DOWN_AFTER}\n{}",
        otlp_receiver(p, "", ""),
        hostnames.join(", "),
        service(p, pipelines)
    )
}

fn trace_id(n: u64) -> Vec<u8> {
    let mut id = (n + 1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .to_be_bytes()
        .to_vec();
    id.extend_from_slice(&n.to_be_bytes());
    id
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(service.into())),
            }),
            ..KeyValue::default()
        }],
        ..Resource::default()
    })
}

/// Traces `first..first + TRACES_PER_REQUEST`, their spans under two services.
fn spans(first: u64) -> ExportTraceServiceRequest {
    let span = |t: u64, s: u64| Span {
        trace_id: trace_id(t),
        span_id: (t * 100 + s + 1).to_be_bytes().to_vec(),
        name: format!("t{t}-s{s}"),
        ..Span::default()
    };
    let resource_spans = ["frontend", "backend"]
        .iter()
        .enumerate()
        .map(|(half, service)| ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans: (first..first + TRACES_PER_REQUEST)
                    .flat_map(|t| {
                        (0..SPANS)
                            .filter(move |s| (*s as usize) % 2 == half)
                            .map(move |s| span(t, s))
                    })
                    .collect(),
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// The log records of the same traces (as a tailed file has them: no service.name).
fn logs(first: u64) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (first..first + TRACES_PER_REQUEST)
                    .flat_map(|t| {
                        (0..LOGS).map(move |l| LogRecord {
                            trace_id: trace_id(t),
                            // The trace's first span (under `frontend`).
                            span_id: (t * 100 + 1).to_be_bytes().to_vec(),
                            body: Some(AnyValue {
                                value: Some(Value::StringValue(format!("t{t}-l{l}"))),
                            }),
                            ..LogRecord::default()
                        })
                    })
                    .collect(),
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

struct Client {
    traces: TraceServiceClient<Channel>,
    logs: LogsServiceClient<Channel>,
    metrics: MetricsServiceClient<Channel>,
}

/// Services whose metrics the test sends; metrics route by `service.name`.
const METRIC_SERVICES: usize = 12;

/// One gauge point per service.
fn metrics() -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: (0..METRIC_SERVICES)
            .map(|i| ResourceMetrics {
                resource: resource(&format!("svc-{i}")),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "up".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint::default()],
                        })),
                        ..Metric::default()
                    }],
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            })
            .collect(),
    }
}

/// Per sink, the services whose metric points it received.
fn metric_services(sinks: &[Sink]) -> Vec<Vec<String>> {
    sinks
        .iter()
        .map(|s| {
            s.metrics()
                .iter()
                .flat_map(|r| &r.resource_metrics)
                .filter_map(
                    |r| match r.resource.as_ref()?.attributes[0].value.clone()?.value {
                        Some(Value::StringValue(name)) => Some(name),
                        _ => None,
                    },
                )
                .collect()
        })
        .collect()
}

impl Client {
    fn new(url: String) -> Client {
        let channel = tonic::transport::Endpoint::from_shared(url)
            .unwrap()
            .timeout(Duration::from_secs(10))
            .connect_lazy();
        Client {
            traces: TraceServiceClient::new(channel.clone()),
            logs: LogsServiceClient::new(channel.clone()),
            metrics: MetricsServiceClient::new(channel),
        }
    }

    /// Sends the spans, then the logs, of one group of traces; true if both were acknowledged.
    async fn send(&mut self, first: u64) -> bool {
        self.traces.export(spans(first)).await.is_ok()
            && self.logs.export(logs(first)).await.is_ok()
    }
}

/// Per sink: span names and log bodies received (a name seen twice is a duplicate).
fn received(sinks: &[Sink]) -> Vec<Vec<String>> {
    sinks
        .iter()
        .map(|s| {
            let mut names: Vec<String> = s
                .traces()
                .iter()
                .flat_map(|r| &r.resource_spans)
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| s.name.clone())
                .collect();
            names.extend(
                s.logs()
                    .iter()
                    .flat_map(|r| &r.resource_logs)
                    .flat_map(|r| &r.scope_logs)
                    .flat_map(|s| &s.log_records)
                    .filter_map(|l| match l.body.as_ref().and_then(|b| b.value.as_ref()) {
                        Some(Value::StringValue(s)) => Some(s.clone()),
                        _ => None,
                    }),
            );
            names
        })
        .collect()
}

/// Log records the gateway's `correlate` enriched with their span (`service.name` of the
/// span's resource, `span.name`), and those it did not (their span was elsewhere or late).
fn enrichment(sinks: &[Sink]) -> (usize, usize) {
    let (mut enriched, mut not) = (0, 0);
    for s in sinks {
        for rl in s.logs().iter().flat_map(|r| &r.resource_logs) {
            let service = rl.resource.as_ref().and_then(|r| {
                r.attributes
                    .iter()
                    .find(|a| a.key == "service.name")
                    .and_then(|a| a.value.clone()?.value)
            });
            for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                let span_name = record
                    .attributes
                    .iter()
                    .find(|a| a.key == "span.name")
                    .and_then(|a| a.value.clone()?.value);
                let Some(Value::StringValue(body)) =
                    record.body.as_ref().and_then(|b| b.value.clone())
                else {
                    continue;
                };
                let expected = format!("t{}-s0", trace_of(&body));
                if service == Some(Value::StringValue("frontend".into()))
                    && span_name == Some(Value::StringValue(expected))
                {
                    enriched += 1;
                } else {
                    not += 1;
                }
            }
        }
    }
    (enriched, not)
}

/// The trace number in an item name (`t<n>-...`).
fn trace_of(name: &str) -> u64 {
    name[1..name.find('-').unwrap()].parse().unwrap()
}

fn expected_items(first: u64) -> impl Iterator<Item = String> {
    (first..first + TRACES_PER_REQUEST).flat_map(|t| {
        (0..SPANS)
            .map(move |s| format!("t{t}-s{s}"))
            .chain((0..LOGS).map(move |l| format!("t{t}-l{l}")))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_stay_whole_on_one_gateway_and_a_stopped_gateways_share_reroutes_without_loss() {
    let sinks = vec![
        Sink::start().await,
        Sink::start().await,
        Sink::start().await,
    ];
    let mut gateways = Vec::new();
    for s in &sinks {
        let port = s.port;
        gateways.push(Some(Lookout::start(move |p| gateway(p, port)).await));
    }
    let ports: Vec<u16> = gateways
        .iter()
        .map(|g| g.as_ref().unwrap().ports.grpc)
        .collect();
    let agent = Lookout::start(|p| agent(p, &ports)).await;
    let mut client = Client::new(agent.grpc_url());

    // Phase 1: all gateways up.
    const PHASE1: u64 = 50;
    for r in 0..PHASE1 {
        assert!(client.send(r * TRACES_PER_REQUEST).await, "agent refused");
    }
    const METRIC_REQUESTS: usize = 5;
    for _ in 0..METRIC_REQUESTS {
        client
            .metrics
            .export(metrics())
            .await
            .expect("metrics acknowledged");
    }
    let total1 = (PHASE1 * TRACES_PER_REQUEST * (SPANS + LOGS)) as usize;
    wait_until("phase 1 delivered", Duration::from_secs(30), || {
        received(&sinks).iter().map(Vec::len).sum::<usize>() >= total1
    })
    .await;
    let got = received(&sinks);
    let mut home: HashMap<u64, usize> = HashMap::new();
    for (g, names) in got.iter().enumerate() {
        for n in names {
            let previous = *home.entry(trace_of(n)).or_insert(g);
            assert_eq!(previous, g, "trace of {n} on two gateways");
        }
    }
    wait_until("metrics delivered", Duration::from_secs(30), || {
        metric_services(&sinks).iter().map(Vec::len).sum::<usize>()
            >= METRIC_REQUESTS * METRIC_SERVICES
    })
    .await;
    let by_gateway = metric_services(&sinks);
    let mut service_home: HashMap<&String, usize> = HashMap::new();
    for (g, services) in by_gateway.iter().enumerate() {
        for s in services {
            assert_eq!(
                *service_home.entry(s).or_insert(g),
                g,
                "{s} on two gateways"
            );
        }
    }
    let counts: Vec<usize> = by_gateway.iter().map(Vec::len).collect();
    eprintln!(
        "phase 1: metric points of {METRIC_SERVICES} services per gateway {counts:?}, each service on one gateway"
    );
    assert_eq!(service_home.len(), METRIC_SERVICES);
    let (enriched, not) = enrichment(&sinks);
    eprintln!("phase 1: log records enriched by the gateway's correlate: {enriched}, not: {not}");
    assert_eq!(
        (enriched, not),
        ((PHASE1 * TRACES_PER_REQUEST * LOGS) as usize, 0),
        "every log met its span on its gateway"
    );
    let shares: Vec<usize> = got.iter().map(Vec::len).collect();
    eprintln!(
        "phase 1: {total1} items (spans + logs) of {} traces, per gateway {shares:?}",
        home.len()
    );
    assert!(
        shares.iter().all(|s| *s > total1 / 10),
        "spread over all three: {shares:?}"
    );

    // Phase 2: keep sending, stop gateway 0 after a second.
    let acked: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let sender = {
        let acked = Arc::clone(&acked);
        let url = agent.grpc_url();
        tokio::spawn(async move {
            let mut client = Client::new(url);
            let stop = Instant::now() + Duration::from_secs(5);
            let mut r = PHASE1;
            while Instant::now() < stop {
                if client.send(r * TRACES_PER_REQUEST).await {
                    acked
                        .lock()
                        .unwrap()
                        .push((r * TRACES_PER_REQUEST, Instant::now()));
                }
                r += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped_at = Instant::now();
    gateways[0].take().unwrap().stop_ok().await;
    eprintln!("gateway 0 stopped in {:?}", stopped_at.elapsed());
    sender.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let mut expected: HashSet<String> = (0..PHASE1)
        .flat_map(|r| expected_items(r * TRACES_PER_REQUEST))
        .collect();
    expected.extend(acked.iter().flat_map(|(first, _)| expected_items(*first)));
    let started = Instant::now();
    wait_until(
        "every acknowledged item delivered",
        Duration::from_secs(30),
        || {
            let got: HashSet<String> = received(&sinks).into_iter().flatten().collect();
            expected.is_subset(&got)
        },
    )
    .await;
    let got = received(&sinks);
    let all: Vec<&String> = got.iter().flatten().collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    let lost = expected.iter().filter(|e| !distinct.contains(e)).count();
    let after: Vec<usize> = got.iter().map(Vec::len).collect();
    let metrics = agent.metrics().await;
    let down = metrics.value(
        "lookout_loadbalancer_backend_down_total",
        &[("backend", &format!("127.0.0.1:{}", ports[0]))],
    );
    let rerouted = metrics
        .get("lookout_loadbalancer_rerouted_items_total", &[])
        .unwrap_or(0.0);
    let split = {
        let mut homes: HashMap<u64, HashSet<usize>> = HashMap::new();
        for (g, names) in got.iter().enumerate() {
            for n in names {
                homes.entry(trace_of(n)).or_default().insert(g);
            }
        }
        homes.values().filter(|h| h.len() > 1).count()
    };
    eprintln!(
        "phase 2: {} requests of {TRACES_PER_REQUEST} traces acknowledged; expected {} items, received {} ({} distinct), lost {lost}, duplicates {}; per gateway {after:?}; gateway 0 taken off the ring {down} time(s), {rerouted} items re-routed; traces split over two gateways: {split}; delivered {:?} after the sender stopped",
        acked.len(),
        expected.len(),
        all.len(),
        distinct.len(),
        all.len() - distinct.len(),
        started.elapsed()
    );
    let (enriched, not) = enrichment(&sinks);
    eprintln!("after phase 2: log records enriched {enriched}, not {not}");
    assert_eq!(lost, 0);
    assert!(down >= 1.0, "gateway 0 was taken off the ring");
    assert_eq!(
        metrics.value("lookout_loadbalancer_backends", &[("state", "up")]),
        2.0
    );
    // Traces acknowledged once gateway 0 was off the ring: spread over both others.
    let late = stopped_at + Duration::from_millis(1500);
    let late_traces: HashSet<u64> = acked
        .iter()
        .filter(|(_, at)| *at > late)
        .flat_map(|(first, _)| *first..*first + TRACES_PER_REQUEST)
        .collect();
    let late_homes: Vec<usize> = got
        .iter()
        .map(|names| {
            names
                .iter()
                .map(|n| trace_of(n))
                .filter(|t| late_traces.contains(t))
                .collect::<HashSet<u64>>()
                .len()
        })
        .collect();
    eprintln!("traces acknowledged 1.5 s after the stop, per gateway: {late_homes:?}");
    assert!(!late_traces.is_empty());
    assert_eq!(late_homes[0], 0);
    assert_eq!(
        late_homes[1] + late_homes[2],
        late_traces.len(),
        "each on one gateway"
    );
    assert!(late_homes[1] > 0 && late_homes[2] > 0, "{late_homes:?}");

    // Phase 3: gateway 0 back on its port: a probe puts it back on the ring and it gets its
    // share again.
    let (port0, sink0) = (ports[0], sinks[0].port);
    let restarted = Instant::now();
    gateways[0] =
        Some(Lookout::start(move |p| gateway(&support::Ports { grpc: port0, ..*p }, sink0)).await);
    let rejoined = loop {
        let up = agent
            .metrics()
            .await
            .get("lookout_loadbalancer_backends", &[("state", "up")]);
        if up == Some(3.0) {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(20),
            "gateway 0 never back on the ring"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let before = received(&sinks)[0].len();
    let first = 1_000_000;
    for r in 0..20 {
        assert!(client.send(first + r * TRACES_PER_REQUEST).await);
    }
    let more = (20 * TRACES_PER_REQUEST * (SPANS + LOGS)) as usize;
    wait_until("phase 3 delivered", Duration::from_secs(30), || {
        received(&sinks).iter().map(Vec::len).sum::<usize>() >= all.len() + more
    })
    .await;
    let gained = received(&sinks)[0].len() - before;
    eprintln!(
        "phase 3: gateway 0 restarted, back on the ring {rejoined:?} after its start began; it took {gained} of {more} new items"
    );
    assert!(gained > 0, "gateway 0 has its share again");
    agent.stop_ok().await;
    for g in gateways.into_iter().flatten() {
        g.stop_ok().await;
    }
}
