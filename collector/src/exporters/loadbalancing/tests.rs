//! The load balancer's settings, health rules and backend set (routing and the ring have
//! their own tests beside them; whole-process behaviour is in tests/loadbalancing.rs).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::config::{LoadBalancingConfig, RoutingKey};
use super::health::Health;
use super::*;
use crate::component::Validate;
use crate::telemetry::Telemetry;

#[test]
fn testdata_config_loads() {
    let text = include_str!("testdata/config.yaml");
    crate::config::Config::parse("testdata/config.yaml", text).unwrap();
}

fn parse(yaml: &str) -> Result<LoadBalancingConfig, String> {
    let config: LoadBalancingConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
    config.validate().map(|()| config)
}

#[test]
fn settings_are_checked() {
    let ok = parse("resolver: {static: {hostnames: ['a:4317']}}").unwrap();
    assert_eq!(ok.routing_key, RoutingKey::TraceId);
    assert_eq!(ok.backend_down_after, Duration::from_secs(30));
    assert_eq!(
        parse("routing_key: service\nresolver: {dns: {hostname: localhost}}")
            .unwrap()
            .routing_key,
        RoutingKey::Service
    );
    for (yaml, expected) in [
        ("{}", "exactly one of static"),
        (
            "resolver: {static: {hostnames: []}}",
            "at least one backend",
        ),
        (
            "resolver: {static: {hostnames: [a:1]}, dns: {hostname: b}}",
            "exactly one of static",
        ),
        (
            "resolver: {static: {hostnames: [nohost]}}",
            "expected host:port",
        ),
        (
            "protocol: {otlp: {endpoint: 'a:1'}}\nresolver: {static: {hostnames: [a:1]}}",
            "resolver gives the endpoints",
        ),
        (
            "backend_down_after: 0s\nresolver: {static: {hostnames: [a:1]}}",
            "backend_down_after",
        ),
        (
            "routing_key: spanID\nresolver: {static: {hostnames: [a:1]}}",
            "unknown variant",
        ),
    ] {
        let err = parse(yaml).unwrap_err();
        assert!(err.contains(expected), "{yaml}: {err}");
    }
}

#[test]
fn a_failure_streak_as_long_as_backend_down_after_takes_a_backend_off_and_a_success_brings_it_back()
{
    let telemetry = Telemetry::new();
    let generation = Arc::new(AtomicU64::new(0));
    let down_total = telemetry.counter("t_down", "test", vec![]);
    let health = Health::new(
        "a:4317".into(),
        Duration::from_millis(50),
        Arc::clone(&generation),
        down_total.clone(),
    );
    assert!(!health.failed(), "one failure is not a streak");
    health.succeeded();
    assert!(!health.failed());
    std::thread::sleep(Duration::from_millis(60));
    health.check_streak();
    assert!(health.is_down());
    assert!(health.failed(), "stays down");
    assert_eq!(down_total.get(), 1, "counted once");
    let g = generation.load(Ordering::SeqCst);
    health.succeeded();
    assert!(!health.is_down());
    assert!(generation.load(Ordering::SeqCst) > g, "ring rebuilt");
}

#[tokio::test]
async fn the_ring_leaves_out_backends_that_are_down_and_keeps_the_others_keys() {
    let telemetry = Telemetry::new();
    let config =
        parse("resolver: {static: {hostnames: ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3']}}")
            .unwrap();
    let backends = Backends::new(
        "lb".into(),
        config,
        telemetry.clone(),
        CancellationToken::new(),
    );
    backends.set(vec![
        "127.0.0.1:3".into(),
        "127.0.0.1:1".into(),
        "127.0.0.1:2".into(),
    ]);
    let before = backends.members();
    assert_eq!(before.list.len(), 3);
    let keys: Vec<u64> = (0..3000u64).map(|k| ring::hash(&k.to_le_bytes())).collect();
    let owner = |m: &backends::Members, k: u64| m.list[m.ring.member(k).unwrap()].endpoint.clone();
    // One failure is not a streak: still on the ring.
    let _ = before.list[1].health.failed();
    assert_eq!(
        backends.members().ring.member(keys[0]),
        before.ring.member(keys[0])
    );
    let rendered = telemetry.render();
    assert!(
        rendered.contains(r#"lookout_loadbalancer_backends{exporter="lb",state="up"} 3"#),
        "{rendered}"
    );
    // Same endpoints again: nothing changes, the backends (and their queues) are kept.
    backends.set(vec![
        "127.0.0.1:1".into(),
        "127.0.0.1:2".into(),
        "127.0.0.1:3".into(),
    ]);
    assert!(Arc::ptr_eq(&backends.members().list[0], &before.list[0]));
    // A fourth: only keys moving to it move.
    backends.set(vec![
        "127.0.0.1:1".into(),
        "127.0.0.1:2".into(),
        "127.0.0.1:3".into(),
        "127.0.0.1:4".into(),
    ]);
    let after = backends.members();
    assert!(
        Arc::ptr_eq(&after.list[0], &before.list[0]),
        "kept with its queue"
    );
    for k in &keys {
        let (a, b) = (owner(&before, *k), owner(&after, *k));
        assert!(a == b || b == "127.0.0.1:4");
    }
}

// === against fake backends ===

/// A plain-text HTTP/2 gRPC server answering every call OK, or UNAVAILABLE while `refuse` is
/// set; counts the spans of the trace exports it accepted.
struct FakeBackend {
    port: u16,
    refuse: Arc<AtomicBool>,
    spans: Arc<AtomicUsize>,
}

impl FakeBackend {
    async fn start() -> FakeBackend {
        let refuse = Arc::new(AtomicBool::new(false));
        let spans = Arc::new(AtomicUsize::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (r, s) = (Arc::clone(&refuse), Arc::clone(&spans));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (refuse, spans) = (Arc::clone(&r), Arc::clone(&s));
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (refuse, spans) = (Arc::clone(&refuse), Arc::clone(&spans));
                        async move {
                            let body = req.into_body().collect().await.map(|b| b.to_bytes());
                            let body = body.unwrap_or_default();
                            let refused = refuse.load(Ordering::SeqCst);
                            if !refused && body.len() >= 5 {
                                let n = lookout_proto::wire::validate_traces(&body[5..])
                                    .map_or(0, |t| t.spans);
                                spans.fetch_add(n, Ordering::SeqCst);
                            }
                            let mut trailers = http::HeaderMap::new();
                            let status = if refused { "14" } else { "0" };
                            trailers.insert("grpc-status", http::HeaderValue::from_static(status));
                            let frames = [
                                Ok(hyper::body::Frame::data(Bytes::from_static(&[
                                    0, 0, 0, 0, 0,
                                ]))),
                                Ok(hyper::body::Frame::trailers(trailers)),
                            ];
                            let mut r: Response<crate::net::Body> = Response::new(
                                http_body_util::StreamBody::new(futures::stream::iter(frames))
                                    .boxed_unsync(),
                            );
                            r.headers_mut().insert(
                                "content-type",
                                http::HeaderValue::from_static("application/grpc"),
                            );
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        FakeBackend {
            port,
            refuse,
            spans,
        }
    }
}

/// A request of `traces` traces of 2 spans each, trace ids from `seed`.
fn request(seed: u64, traces: u64) -> Batch {
    use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let spans = (0..traces * 2)
        .map(|i| {
            let t = seed * 1000 + i / 2;
            let mut trace_id = t.to_be_bytes().to_vec();
            trace_id.extend_from_slice(&ring::hash(&t.to_le_bytes()).to_be_bytes());
            Span {
                trace_id,
                span_id: (i + 1).to_be_bytes().to_vec(),
                ..Span::default()
            }
        })
        .collect();
    let r = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    Batch::new(
        crate::core::Signal::Traces,
        Bytes::from(r.encode_to_vec()),
        (traces * 2) as usize,
    )
}

fn balancer(telemetry: &Telemetry, resolver: &str) -> LoadBalancer {
    let config = parse(&format!(
        "protocol: {{otlp: {{tls: {{insecure: true}}, compression: none, timeout: 1s, \
         retry_on_failure: {{initial_interval: 10ms, max_interval: 50ms}}}}}}\n\
         backend_down_after: 300ms\nresolver: {resolver}"
    ))
    .unwrap();
    LoadBalancer::start(&config, "lb".into(), telemetry, CancellationToken::new())
}

#[tokio::test]
async fn a_refusing_backend_leaves_the_ring_its_share_goes_elsewhere_and_it_rejoins() {
    let (a, b) = (FakeBackend::start().await, FakeBackend::start().await);
    let telemetry = Telemetry::new();
    let lb = balancer(
        &telemetry,
        &format!(
            "{{static: {{hostnames: ['127.0.0.1:{}', '127.0.0.1:{}']}}}}",
            a.port, b.port
        ),
    );
    lb.export(&request(0, 50)).await.unwrap();
    let (sa, sb) = (
        a.spans.load(Ordering::SeqCst),
        b.spans.load(Ordering::SeqCst),
    );
    assert_eq!(sa + sb, 100);
    assert!(sa > 0 && sb > 0, "{sa} {sb}");

    a.refuse.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    for seed in 1..=10 {
        lb.export(&request(seed, 50)).await.unwrap();
    }
    assert_eq!(a.spans.load(Ordering::SeqCst), sa, "a took nothing");
    assert_eq!(
        b.spans.load(Ordering::SeqCst),
        1100 - sa,
        "b took everything else"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "retried first"
    );
    let rendered = telemetry.render();
    let a_label = format!(r#"backend="127.0.0.1:{}""#, a.port);
    assert!(
        rendered.contains(&format!(
            "lookout_loadbalancer_backend_down_total{{exporter=\"lb\",{a_label}}} 1"
        )),
        "{rendered}"
    );
    assert!(rendered.contains(r#"lookout_loadbalancer_backends{exporter="lb",state="down"} 1"#));

    a.refuse.store(false, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while lb
        .backends
        .members()
        .list
        .iter()
        .any(|m| m.health.is_down())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "probe never brought a back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lb.export(&request(20, 50)).await.unwrap();
    assert!(a.spans.load(Ordering::SeqCst) > sa, "a has its share again");
}

#[tokio::test]
async fn the_dns_resolver_finds_localhost() {
    let backend = FakeBackend::start().await;
    let telemetry = Telemetry::new();
    let lb = balancer(
        &telemetry,
        &format!(
            "{{dns: {{hostname: localhost, port: {}, interval: 100ms}}}}",
            backend.port
        ),
    );
    // Exports wait for the first resolution.
    lb.export(&request(1, 10)).await.unwrap();
    let endpoints: Vec<String> = lb
        .backends
        .members()
        .list
        .iter()
        .map(|b| b.endpoint.clone())
        .collect();
    assert!(
        endpoints.contains(&format!("127.0.0.1:{}", backend.port)),
        "{endpoints:?}"
    );
    // localhost may resolve to ::1 too, where nothing listens: that backend leaves the ring
    // and everything reaches the one on 127.0.0.1.
    assert_eq!(backend.spans.load(Ordering::SeqCst), 20);
    assert!(
        telemetry
            .render()
            .contains(r#"lookout_loadbalancer_resolutions_total{exporter="lb",success="true"}"#)
    );
}

#[tokio::test]
async fn with_every_backend_refusing_a_batch_waits_and_goes_out_when_one_answers() {
    let (a, b) = (FakeBackend::start().await, FakeBackend::start().await);
    a.refuse.store(true, Ordering::SeqCst);
    b.refuse.store(true, Ordering::SeqCst);
    let telemetry = Telemetry::new();
    let lb = Arc::new(balancer(
        &telemetry,
        &format!(
            "{{static: {{hostnames: ['127.0.0.1:{}', '127.0.0.1:{}']}}}}",
            a.port, b.port
        ),
    ));
    let sending = {
        let lb = Arc::clone(&lb);
        tokio::spawn(async move { lb.export(&request(3, 40)).await })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!sending.is_finished(), "still waiting, not dropped");
    assert!(lb.backends.members().ring.is_empty(), "both off the ring");
    b.refuse.store(false, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(5), sending)
        .await
        .expect("delivered once b answers")
        .unwrap()
        .unwrap();
    assert_eq!(b.spans.load(Ordering::SeqCst), 80);
    assert_eq!(a.spans.load(Ordering::SeqCst), 0);
}
