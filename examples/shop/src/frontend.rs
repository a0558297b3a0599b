//! frontend: the public API. `POST /api/orders` places an order through
//! checkout; `GET /api/catalogue` lists what is for sale.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::{AppError, Faults, ServiceArgs, call, http_client, serve};
use crate::inventory::CATALOGUE;

/// `frontend` settings.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) service: ServiceArgs,
    /// Base URL of the checkout service.
    #[arg(long, env = "CHECKOUT_URL", default_value = "http://127.0.0.1:8082")]
    pub(crate) checkout_url: String,
}

#[derive(Clone)]
struct AppState {
    client: reqwest::Client,
    checkout: Arc<str>,
    faults: Faults,
}

#[derive(Deserialize)]
struct NewOrder {
    sku: String,
    #[serde(default = "one")]
    quantity: u64,
}

fn one() -> u64 {
    1
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let faults = Faults::from_args(&args.service)?;
    let telemetry = crate::common::install_telemetry("frontend", &args.service)?;
    let state = AppState {
        client: http_client()?,
        checkout: args.checkout_url.trim_end_matches('/').into(),
        faults,
    };
    let app = Router::new()
        .route("/api/orders", post(new_order))
        .route("/api/catalogue", get(catalogue))
        .with_state(state);
    serve("frontend", &args.service, app, telemetry).await
}

async fn catalogue() -> Json<Value> {
    tracing::info!(items = CATALOGUE.len(), "catalogue served");
    Json(json!(
        CATALOGUE
            .iter()
            .map(|(sku, price)| json!({ "sku": sku, "price_cents": price }))
            .collect::<Vec<_>>()
    ))
}

async fn new_order(
    State(state): State<AppState>,
    Json(order): Json<NewOrder>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    state.faults.apply().await?;
    tracing::info!(sku = %order.sku, quantity = order.quantity, "order received");
    let reply = call(
        &state.client,
        reqwest::Method::POST,
        &format!("{}/checkout", state.checkout),
        "/checkout",
        Some(&json!({ "sku": order.sku, "quantity": order.quantity })),
    )
    .await?;
    if reply.status.is_success() {
        tracing::info!(order_id = ?reply.body.get("order_id"), "order confirmed");
        Ok((StatusCode::CREATED, Json(reply.body)))
    } else if reply.status.is_client_error() {
        tracing::warn!(status = reply.status.as_u16(), "order rejected");
        Ok((reply.status, Json(reply.body)))
    } else {
        tracing::error!(status = reply.status.as_u16(), "checkout failed");
        Err(AppError::new(StatusCode::BAD_GATEWAY, "checkout failed"))
    }
}
