//! A small shop made of three services instrumented with lookout-sdk:
//! `frontend` → `checkout` → `inventory`, plus `loadgen` to drive traffic.
//!
//! ```text
//! shop inventory --listen 127.0.0.1:8083 --log-file inventory.log.json
//! shop checkout  --listen 127.0.0.1:8082 --inventory-url http://127.0.0.1:8083
//! shop frontend  --listen 127.0.0.1:8081 --checkout-url http://127.0.0.1:8082
//! shop loadgen   --target http://127.0.0.1:8081 --duration-secs 20
//! ```
//!
//! Telemetry goes wherever the `OTEL_*` variables say (default
//! `http://localhost:4317`). `INJECT_LATENCY_MS` and `INJECT_ERROR_RATE`
//! (or `--inject-latency-ms`, `--inject-error-rate`) make a service slow or
//! flaky. `examples/demo.sh` runs all of it against a `lookout` collector.

mod checkout;
mod common;
mod frontend;
mod inventory;
mod loadgen;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "shop",
    about = "Lookout demo shop: frontend -> checkout -> inventory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Public API: POST /api/orders, GET /api/catalogue.
    Frontend(frontend::Args),
    /// POST /checkout: checks stock, charges, reserves.
    Checkout(checkout::Args),
    /// GET /stock/{sku}, POST /stock/{sku}/reserve.
    Inventory(common::ServiceArgs),
    /// Sends orders to the frontend for a bounded time.
    Loadgen(loadgen::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Frontend(args) => frontend::run(args).await,
        Command::Checkout(args) => checkout::run(args).await,
        Command::Inventory(args) => inventory::run(args).await,
        Command::Loadgen(args) => loadgen::run(args).await,
    }
}
