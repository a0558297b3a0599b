//! `ServerLayer::with_red_metrics` records `http.server.request.duration` per request.

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::StatusCode;
use axum::routing::get;
use lookout_sdk::http::ServerLayer;
use opentelemetry::Value;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use tower::ServiceExt;

#[tokio::test]
async fn each_request_is_counted_with_route_status_and_error() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());

    let app: Router = Router::new()
        .route("/orders/{id}", get(|| async { "ok" }))
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route_layer(
            ServerLayer::new()
                .with_route(|ext| ext.get::<MatchedPath>().map(|p| p.as_str().to_owned()))
                .with_red_metrics(),
        );
    for uri in ["/orders/1", "/orders/2", "/fail"] {
        let request = axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        app.clone().oneshot(request).await.unwrap();
    }
    provider.force_flush().unwrap();

    let mut points = Vec::new();
    for rm in exporter.get_finished_metrics().unwrap() {
        for sm in rm.scope_metrics() {
            for m in sm
                .metrics()
                .filter(|m| m.name() == "http.server.request.duration")
            {
                let AggregatedMetrics::F64(MetricData::Histogram(h)) = m.data() else {
                    panic!("not an f64 histogram");
                };
                for p in h.data_points() {
                    let attr = |k: &str| {
                        p.attributes()
                            .find(|kv| kv.key.as_str() == k)
                            .map(|kv| kv.value.clone())
                    };
                    points.push((
                        attr("http.route"),
                        attr("http.response.status_code"),
                        attr("error.type"),
                        p.count(),
                    ));
                }
            }
        }
    }
    assert!(
        points.contains(&(
            Some(Value::from("/orders/{id}")),
            Some(Value::I64(200)),
            None,
            2
        )),
        "{points:?}"
    );
    assert!(
        points.contains(&(
            Some(Value::from("/fail")),
            Some(Value::I64(500)),
            Some(Value::from("500")),
            1
        )),
        "{points:?}"
    );
}
