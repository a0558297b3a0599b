//! The example shop (examples/shop) end to end: its three services, instrumented only through
//! lookout-sdk, send to a real `lookout` process, which exports to the in-test OTLP sink. One
//! order placed at the frontend must come out as one trace across frontend -> checkout ->
//! inventory with correct parent links; each service's metrics and logs must arrive after a
//! graceful stop (SIGTERM, the SDK guard flushes); and the services' JSON log files must carry
//! the trace and span ids of the spans that wrote each line.
//!
//! The shop is built and its services run by `support::shop`.

mod support;

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};
use support::shop::{Service, build_shop};
use support::sink::Sink;
use support::{Lookout, otlp_exporter, simple_config};

const SERVICES: [&str; 3] = ["frontend", "checkout", "inventory"];

fn string(v: Option<&AnyValue>) -> Option<String> {
    match v?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| string(kv.value.as_ref()))
}

fn service_name(resource: Option<&Resource>) -> String {
    resource
        .and_then(|r| attr(&r.attributes, "service.name"))
        .unwrap_or_default()
}

/// What the test needs of one span.
#[derive(Debug, Clone)]
struct SpanInfo {
    service: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent: String,
}

/// What the test needs of one log record or JSON log line.
#[derive(Debug, Clone)]
struct LogInfo {
    service: String,
    message: String,
    trace_id: String,
    span_id: String,
}

/// The one span of `service` named `name` with `kind`.
fn the_span<'a>(spans: &'a [SpanInfo], service: &str, name: &str, kind: SpanKind) -> &'a SpanInfo {
    let found: Vec<&SpanInfo> = spans
        .iter()
        .filter(|s| s.service == service && s.name == name && s.kind == kind as i32)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind:?} span {name:?} from {service}, got {found:#?}\nall spans: {spans:#?}"
    );
    found[0]
}

/// Asserts `child`'s parent is `parent`.
fn assert_parent(child: &SpanInfo, parent: &SpanInfo) {
    assert_eq!(
        child.parent, parent.span_id,
        "{} {:?} should be a child of {} {:?}",
        child.service, child.name, parent.service, parent.name
    );
}

/// Asserts the log `message` from `service` (there must be one) was written in `span`.
fn assert_logged_in(logs: &[LogInfo], source: &str, service: &str, message: &str, span: &SpanInfo) {
    let found: Vec<&LogInfo> = logs
        .iter()
        .filter(|l| l.service == service && l.message == message)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {source} log {message:?} from {service}, got {found:#?}"
    );
    assert_eq!(
        (&found[0].trace_id, &found[0].span_id),
        (&span.trace_id, &span.span_id),
        "{source} log {message:?} from {service} should carry the ids of {:?}",
        span.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_is_one_trace_with_metrics_and_logs() {
    let shop = tokio::task::block_in_place(build_shop);
    let sink = Sink::start().await;
    let lookout = Lookout::start(|p| {
        simple_config(
            p,
            "    timeout: 200ms\n",
            &otlp_exporter("otlp", sink.port, "none"),
            "[otlp]",
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let otlp = lookout.grpc_url();

    let inventory = Service::start(&shop, "inventory", dir.path(), &otlp, &[]);
    let checkout = Service::start(
        &shop,
        "checkout",
        dir.path(),
        &otlp,
        &["--inventory-url", &inventory.url],
    );
    let frontend = Service::start(
        &shop,
        "frontend",
        dir.path(),
        &otlp,
        &["--checkout-url", &checkout.url],
    );

    let response = support::http_client()
        .post(format!("{}/api/orders", frontend.url))
        .json(&json!({ "sku": "mug", "quantity": 2 }))
        .send()
        .await
        .expect("POST /api/orders");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON answer");
    assert_eq!(status, reqwest::StatusCode::CREATED, "answer: {body}");
    assert_eq!(body["sku"], "mug");
    assert_eq!(body["total_cents"], 2 * 599);

    // Callers first, so no request is cut off by a callee that is already gone.
    for service in [frontend, checkout, inventory] {
        tokio::task::block_in_place(|| service.stop());
    }
    let lookout_log = lookout.stop_ok().await;

    // Traces: every span belongs to the one trace the order started.
    let spans: Vec<SpanInfo> = sink
        .traces()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| {
            let service = service_name(rs.resource.as_ref());
            rs.scope_spans.iter().flat_map(move |ss| {
                let service = service.clone();
                ss.spans.iter().map(move |s| SpanInfo {
                    service: service.clone(),
                    name: s.name.clone(),
                    kind: s.kind,
                    trace_id: hex::encode(&s.trace_id),
                    span_id: hex::encode(&s.span_id),
                    parent: hex::encode(&s.parent_span_id),
                })
            })
        })
        .collect();
    let trace_ids: HashSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(
        trace_ids.len(),
        1,
        "one request, one trace; got {trace_ids:?}; lookout log:\n{lookout_log}"
    );
    let trace_id = spans[0].trace_id.clone();

    let front_server = the_span(&spans, "frontend", "POST /api/orders", SpanKind::Server);
    let front_client = the_span(&spans, "frontend", "POST /checkout", SpanKind::Client);
    let checkout_server = the_span(&spans, "checkout", "POST /checkout", SpanKind::Server);
    let stock_client = the_span(&spans, "checkout", "GET /stock/{sku}", SpanKind::Client);
    let payment = the_span(&spans, "checkout", "charge payment", SpanKind::Internal);
    let reserve_client = the_span(
        &spans,
        "checkout",
        "POST /stock/{sku}/reserve",
        SpanKind::Client,
    );
    let stock_server = the_span(&spans, "inventory", "GET /stock/{sku}", SpanKind::Server);
    let reserve_server = the_span(
        &spans,
        "inventory",
        "POST /stock/{sku}/reserve",
        SpanKind::Server,
    );
    assert_eq!(
        front_server.parent, "",
        "the frontend's server span is the root"
    );
    assert_parent(front_client, front_server);
    assert_parent(checkout_server, front_client);
    assert_parent(stock_client, checkout_server);
    assert_parent(payment, checkout_server);
    assert_parent(reserve_client, checkout_server);
    assert_parent(stock_server, stock_client);
    assert_parent(reserve_server, reserve_client);
    let span_ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    assert_eq!(span_ids.len(), spans.len(), "span ids are unique");
    for s in &spans {
        assert!(
            s.parent.is_empty() || span_ids.contains(s.parent.as_str()),
            "{s:?} has a parent that never arrived"
        );
    }

    // Metrics: each service's request-duration histogram saw its requests; the business
    // counters count this order.
    let mut histogram_counts: HashMap<(String, String), u64> = HashMap::new();
    let mut sums: HashMap<(String, String), i64> = HashMap::new();
    for rm in sink.metrics().iter().flat_map(|r| &r.resource_metrics) {
        let service = service_name(rm.resource.as_ref());
        for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
            match &m.data {
                Some(Data::Histogram(h)) if m.name == "http.server.request.duration" => {
                    for p in &h.data_points {
                        let route = attr(&p.attributes, "http.route").unwrap_or_default();
                        // Cumulative: the last point per series holds the total.
                        histogram_counts.insert((service.clone(), route), p.count);
                    }
                }
                Some(Data::Sum(s)) => {
                    for p in &s.data_points {
                        let value = match p.value {
                            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i)) => i,
                            _ => continue,
                        };
                        sums.insert((service.clone(), m.name.clone()), value);
                    }
                }
                _ => {}
            }
        }
    }
    for (service, route) in [
        ("frontend", "/api/orders"),
        ("checkout", "/checkout"),
        ("inventory", "/stock/{sku}"),
        ("inventory", "/stock/{sku}/reserve"),
    ] {
        assert_eq!(
            histogram_counts.get(&(service.to_owned(), route.to_owned())),
            Some(&1),
            "http.server.request.duration for {service} {route}; got {histogram_counts:?}"
        );
    }
    assert_eq!(
        sums.get(&("checkout".to_owned(), "shop.orders".to_owned())),
        Some(&1),
        "shop.orders; got {sums:?}"
    );
    assert_eq!(
        sums.get(&(
            "inventory".to_owned(),
            "inventory.units.reserved".to_owned()
        )),
        Some(&2),
        "inventory.units.reserved; got {sums:?}"
    );

    // OTLP logs: the handlers' events arrive carrying the ids of the spans they ran in.
    let otlp_logs: Vec<LogInfo> = sink
        .logs()
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|rl| {
            let service = service_name(rl.resource.as_ref());
            rl.scope_logs.iter().flat_map(move |sl| {
                let service = service.clone();
                sl.log_records.iter().map(move |l| LogInfo {
                    service: service.clone(),
                    message: string(l.body.as_ref()).unwrap_or_default(),
                    trace_id: hex::encode(&l.trace_id),
                    span_id: hex::encode(&l.span_id),
                })
            })
        })
        .collect();
    for service in SERVICES {
        assert!(
            otlp_logs
                .iter()
                .any(|l| l.service == service && l.trace_id == trace_id),
            "no OTLP log record from {service} with trace id {trace_id}: {otlp_logs:#?}"
        );
    }
    assert_each_in_own_span(&otlp_logs, &spans, &trace_id, "OTLP");
    let expected = [
        ("frontend", "order received", front_server),
        ("checkout", "checkout started", checkout_server),
        ("checkout", "payment authorised", payment),
        ("inventory", "stock looked up", stock_server),
        ("inventory", "units reserved", reserve_server),
    ];
    for (service, message, span) in expected {
        assert_logged_in(&otlp_logs, "OTLP", service, message, span);
    }

    // JSON log files: the same events, with the same ids.
    let mut file_logs = Vec::new();
    for service in SERVICES {
        let path = dir.path().join(format!("{service}.log.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        for line in text.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{service}.log.json: {e}: {line}"));
            assert_eq!(v["service.name"], service, "{line}");
            file_logs.push(LogInfo {
                service: service.to_owned(),
                message: v["message"].as_str().unwrap_or_default().to_owned(),
                trace_id: v["trace_id"].as_str().unwrap_or_default().to_owned(),
                span_id: v["span_id"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    assert_each_in_own_span(&file_logs, &spans, &trace_id, "JSON file");
    for (service, message, span) in expected {
        assert_logged_in(&file_logs, "JSON file", service, message, span);
    }
    drop(sink);
}

/// Every record carrying `trace_id` names a span of that trace from its own service.
fn assert_each_in_own_span(logs: &[LogInfo], spans: &[SpanInfo], trace_id: &str, source: &str) {
    let own: HashSet<(&str, &str)> = spans
        .iter()
        .map(|s| (s.service.as_str(), s.span_id.as_str()))
        .collect();
    let in_trace: Vec<&LogInfo> = logs.iter().filter(|l| l.trace_id == trace_id).collect();
    assert!(
        !in_trace.is_empty(),
        "no {source} log carries trace id {trace_id}"
    );
    for l in in_trace {
        assert!(
            own.contains(&(l.service.as_str(), l.span_id.as_str())),
            "{source} log {l:?} names no span of {} in the trace",
            l.service
        );
    }
}
