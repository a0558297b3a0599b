//! checkout: places an order. `POST /checkout` checks stock with inventory,
//! charges the (simulated) payment, then reserves the units.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use lookout_sdk::opentelemetry::KeyValue;
use lookout_sdk::opentelemetry::metrics::Counter;
use rand::Rng as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::common::{AppError, Faults, ServiceArgs, call, http_client, serve};
use crate::inventory::CATALOGUE;

/// `checkout` settings.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) service: ServiceArgs,
    /// Base URL of the inventory service.
    #[arg(long, env = "INVENTORY_URL", default_value = "http://127.0.0.1:8083")]
    pub(crate) inventory_url: String,
}

#[derive(Clone)]
struct AppState {
    client: reqwest::Client,
    inventory: Arc<str>,
    faults: Faults,
    orders: Counter<u64>,
    next_order: Arc<AtomicU64>,
}

#[derive(Deserialize)]
struct Order {
    sku: String,
    quantity: u64,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let faults = Faults::from_args(&args.service)?;
    let telemetry = crate::common::install_telemetry("checkout", &args.service)?;
    let meter = lookout_sdk::opentelemetry::global::meter("checkout");
    let state = AppState {
        client: http_client()?,
        inventory: args.inventory_url.trim_end_matches('/').into(),
        faults,
        orders: meter
            .u64_counter("shop.orders")
            .with_unit("{order}")
            .with_description("Orders by outcome")
            .build(),
        next_order: Arc::new(AtomicU64::new(1)),
    };
    let app = Router::new()
        .route("/checkout", post(checkout))
        .with_state(state);
    serve("checkout", &args.service, app, telemetry).await
}

async fn checkout(
    State(state): State<AppState>,
    Json(order): Json<Order>,
) -> Result<Json<Value>, AppError> {
    let result = place(&state, &order).await;
    let outcome = match &result {
        Ok(_) => "placed",
        Err(e) if e.status().is_client_error() => "rejected",
        Err(_) => "failed",
    };
    state.orders.add(
        1,
        &[
            KeyValue::new("outcome", outcome),
            KeyValue::new("sku", order.sku.clone()),
        ],
    );
    result
}

async fn place(state: &AppState, order: &Order) -> Result<Json<Value>, AppError> {
    state.faults.apply().await?;
    tracing::info!(sku = %order.sku, quantity = order.quantity, "checkout started");
    if order.quantity == 0 {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "quantity must be positive",
        ));
    }
    let stock = call(
        &state.client,
        reqwest::Method::GET,
        &format!("{}/stock/{}", state.inventory, order.sku),
        "/stock/{sku}",
        None,
    )
    .await?;
    if stock.status == StatusCode::NOT_FOUND {
        tracing::warn!(sku = %order.sku, "order for unknown sku rejected");
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            format!("unknown sku {}", order.sku),
        ));
    }
    if !stock.status.is_success() {
        tracing::error!(status = stock.status.as_u16(), "inventory lookup failed");
        return Err(AppError::new(
            StatusCode::BAD_GATEWAY,
            "inventory unavailable",
        ));
    }
    let price = CATALOGUE
        .iter()
        .find(|(sku, _)| *sku == order.sku)
        .map_or(0, |(_, price)| *price);
    let total_cents = price * order.quantity;
    charge(total_cents)
        .instrument(tracing::info_span!("charge payment", total_cents))
        .await;
    let reserved = call(
        &state.client,
        reqwest::Method::POST,
        &format!("{}/stock/{}/reserve", state.inventory, order.sku),
        "/stock/{sku}/reserve",
        Some(&json!({ "quantity": order.quantity })),
    )
    .await?;
    if !reserved.status.is_success() {
        tracing::error!(status = reserved.status.as_u16(), "reservation failed");
        return Err(AppError::new(StatusCode::BAD_GATEWAY, "reservation failed"));
    }
    let order_id = state.next_order.fetch_add(1, Ordering::Relaxed);
    tracing::info!(order_id, total_cents, "order placed");
    Ok(Json(json!({
        "order_id": order_id,
        "sku": order.sku,
        "quantity": order.quantity,
        "total_cents": total_cents,
        "stock_left": reserved.body.get("left"),
    })))
}

/// Stands in for a payment provider: a few milliseconds of work.
async fn charge(total_cents: u64) {
    let ms = rand::rng().random_range(2..8);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    tracing::info!(total_cents, "payment authorised");
}
