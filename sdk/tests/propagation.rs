//! A span in service A continues in service B through HTTP headers.

mod common;

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::StatusCode;
use axum::routing::get;
use common::Sink;
use lookout_sdk::Guard;
use lookout_sdk::http::{ServerLayer, record_error};
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;

fn service(name: &str, sink: &Sink) -> Guard {
    lookout_sdk::builder()
        .service_name(name)
        .endpoint(sink.endpoint())
        .stderr(false)
        .metrics(false)
        .env(|_| None)
        .build()
        .unwrap()
}

fn inventory_app() -> Router {
    Router::new()
        .route(
            "/stock/{sku}",
            get(|| async {
                let _child = tracing::info_span!("lookup").entered();
                "3"
            }),
        )
        .route(
            "/broken",
            get(|| async {
                let err = std::io::Error::other("database unreachable");
                record_error(&tracing::Span::current(), &err);
                (StatusCode::INTERNAL_SERVER_ERROR, "nope")
            }),
        )
        .route_layer(
            ServerLayer::new()
                .with_route(|ext| ext.get::<MatchedPath>().map(|p| p.as_str().to_owned())),
        )
}

#[tokio::test]
async fn trace_continues_from_service_a_to_service_b() {
    let sink = Sink::grpc();
    let a = service("checkout", &sink);
    let b = service("inventory", &sink);
    let app = inventory_app();

    // Service A: a client span whose context goes into the request headers.
    let (request, baggage_request) = tracing::dispatcher::with_default(a.dispatch(), || {
        let span = tracing::info_span!("call inventory");
        let _entered = span.enter();
        let mut req = axum::http::Request::get("/stock/42")
            .header("host", "inventory.local:8080")
            .body(axum::body::Body::empty())
            .unwrap();
        lookout_sdk::propagation::inject_context(req.headers_mut());

        use opentelemetry::baggage::BaggageExt;
        let cx = opentelemetry::Context::current()
            .with_baggage(vec![opentelemetry::KeyValue::new("tenant", "t1")]);
        let mut headers = axum::http::HeaderMap::new();
        lookout_sdk::propagation::inject_context_from(&cx, &mut headers);
        (req, headers)
    });
    assert!(request.headers().contains_key("traceparent"));
    assert_eq!(baggage_request["baggage"], "tenant=t1");

    // Service B handles it under its own pipeline.
    let resp = app
        .clone()
        .oneshot(request)
        .with_subscriber(b.dispatch().clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let broken = axum::http::Request::get("/broken")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = app
        .oneshot(broken)
        .with_subscriber(b.dispatch().clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);

    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();

    let spans = sink.received.spans();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name:?} in {spans:?}"))
            .clone()
    };
    let client = find("call inventory");
    let server = find("GET /stock/{sku}");
    let child = find("lookup");
    assert_eq!(client.resource_attr("service.name"), Some("checkout"));
    assert_eq!(server.resource_attr("service.name"), Some("inventory"));

    assert_eq!(
        server.trace_id, client.trace_id,
        "same trace across services"
    );
    assert_eq!(
        server.parent_span_id, client.span_id,
        "server span's parent is A's span"
    );
    assert_eq!(child.trace_id, client.trace_id);
    assert_eq!(child.parent_span_id, server.span_id);

    assert_eq!(server.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(server.attr("http.request.method"), Some("GET"));
    assert_eq!(server.attr("http.route"), Some("/stock/{sku}"));
    assert_eq!(server.attr("url.path"), Some("/stock/42"));
    assert_eq!(server.attr("server.address"), Some("inventory.local"));
    assert_eq!(server.attr("http.response.status_code"), Some("200"));
    assert_eq!(server.status_code, 0, "2xx leaves status unset");

    let failed = find("GET /broken");
    assert_ne!(
        failed.trace_id, client.trace_id,
        "no traceparent, new trace"
    );
    assert_eq!(failed.parent_span_id, "");
    assert_eq!(failed.attr("http.response.status_code"), Some("500"));
    assert_eq!(failed.attr("error.type"), Some("500"));
    assert_eq!(failed.status_code, 2, "STATUS_CODE_ERROR");
    assert!(failed.events.iter().any(|e| e == "exception"), "{failed:?}");
}
