//! inventory: stock levels per SKU. `GET /stock/{sku}`, `POST /stock/{sku}/reserve`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use lookout_sdk::opentelemetry::KeyValue;
use lookout_sdk::opentelemetry::metrics::Counter;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::{AppError, Faults, ServiceArgs, serve};

/// The catalogue: every SKU the shop sells, with its price in cents.
pub(crate) const CATALOGUE: &[(&str, u64)] = &[
    ("kettle", 2_999),
    ("teapot", 1_899),
    ("mug", 599),
    ("grinder", 4_500),
    ("scale", 2_250),
];

/// Stock at start and after a restock; small enough that restocks happen
/// during a demo run and show up in the logs.
const RESTOCK_TO: u64 = 50;

#[derive(Clone)]
struct AppState {
    stock: Arc<Mutex<HashMap<String, u64>>>,
    faults: Faults,
    reserved: Counter<u64>,
}

#[derive(Deserialize)]
struct Reserve {
    quantity: u64,
}

pub(crate) async fn run(args: ServiceArgs) -> anyhow::Result<()> {
    let faults = Faults::from_args(&args)?;
    let telemetry = crate::common::install_telemetry("inventory", &args)?;
    let meter = lookout_sdk::opentelemetry::global::meter("inventory");
    let state = AppState {
        stock: Arc::new(Mutex::new(
            CATALOGUE
                .iter()
                .map(|(sku, _)| ((*sku).to_owned(), RESTOCK_TO))
                .collect(),
        )),
        faults,
        reserved: meter
            .u64_counter("inventory.units.reserved")
            .with_unit("{unit}")
            .with_description("Units reserved for orders")
            .build(),
    };
    let app = Router::new()
        .route("/stock/{sku}", get(stock))
        .route("/stock/{sku}/reserve", post(reserve))
        .with_state(state);
    serve("inventory", &args, app, telemetry).await
}

async fn stock(
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<Value>, AppError> {
    state.faults.apply().await?;
    let available = state.stock.lock().unwrap().get(&sku).copied();
    match available {
        Some(available) => {
            tracing::info!(%sku, available, "stock looked up");
            Ok(Json(json!({ "sku": sku, "available": available })))
        }
        None => {
            tracing::warn!(%sku, "unknown sku");
            Err(AppError::new(
                StatusCode::NOT_FOUND,
                format!("unknown sku {sku}"),
            ))
        }
    }
}

async fn reserve(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    Json(req): Json<Reserve>,
) -> Result<Json<Value>, AppError> {
    state.faults.apply().await?;
    let (left, restocked) = {
        let mut stock = state.stock.lock().unwrap();
        let Some(level) = stock.get_mut(&sku) else {
            tracing::warn!(%sku, "unknown sku");
            return Err(AppError::new(
                StatusCode::NOT_FOUND,
                format!("unknown sku {sku}"),
            ));
        };
        let restocked = *level < req.quantity;
        if restocked {
            *level = RESTOCK_TO.max(req.quantity);
        }
        *level -= req.quantity;
        (*level, restocked)
    };
    if restocked {
        tracing::warn!(%sku, restock_to = RESTOCK_TO, "stock ran out, restocked");
    }
    state
        .reserved
        .add(req.quantity, &[KeyValue::new("sku", sku.clone())]);
    tracing::info!(%sku, quantity = req.quantity, left, "units reserved");
    Ok(Json(
        json!({ "sku": sku, "reserved": req.quantity, "left": left }),
    ))
}
