//! loadgen: sends orders to the frontend at a fixed rate for a bounded time
//! and prints what came back. Not instrumented, so every trace starts at the
//! frontend, as it would for a browser.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng as _;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::inventory::CATALOGUE;

/// `loadgen` settings.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// Base URL of the frontend.
    #[arg(long, env = "FRONTEND_URL", default_value = "http://127.0.0.1:8081")]
    pub(crate) target: String,
    /// How long to send for, in seconds.
    #[arg(long, default_value_t = 20.0)]
    pub(crate) duration_secs: f64,
    /// Orders per second.
    #[arg(long, default_value_t = 20.0)]
    pub(crate) rate: f64,
    /// Most requests in flight at once; ticks beyond it are skipped.
    #[arg(long, default_value_t = 16)]
    pub(crate) concurrency: usize,
    /// Fraction of orders for a SKU that does not exist (answered 404).
    #[arg(long, default_value_t = 0.02)]
    pub(crate) unknown_sku_ratio: f64,
    /// Print the summary as one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<String, u64>,
    latencies_ms: Vec<f64>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    anyhow::ensure!(
        args.duration_secs.is_finite() && args.duration_secs >= 0.0,
        "--duration-secs must be a non-negative number"
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let url = format!("{}/api/orders", args.target.trim_end_matches('/'));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let slots = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut skipped = 0u64;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + Duration::from_secs_f64(args.duration_secs);
    while Instant::now() < end {
        ticker.tick().await;
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let body = {
            let mut rng = rand::rng();
            let sku = if rng.random_bool(args.unknown_sku_ratio.clamp(0.0, 1.0)) {
                "unicorn"
            } else {
                CATALOGUE[rng.random_range(0..CATALOGUE.len())].0
            };
            json!({ "sku": sku, "quantity": rng.random_range(1..4) })
        };
        let (client, url, tally) = (client.clone(), url.clone(), tally.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let status = match client.post(&url).json(&body).send().await {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) if e.is_timeout() => "timeout".to_owned(),
                Err(_) => "connection error".to_owned(),
            };
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let mut t = tally.lock().unwrap();
            *t.statuses.entry(status).or_default() += 1;
            t.latencies_ms.push(ms);
            drop(permit);
        });
    }
    // Wait for requests in flight; each is bounded by the client timeout.
    let _all = slots
        .acquire_many(u32::try_from(args.concurrency.max(1))?)
        .await?;
    let mut t = std::mem::take(&mut *tally.lock().unwrap());
    t.latencies_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        if t.latencies_ms.is_empty() {
            return 0.0;
        }
        let i = ((t.latencies_ms.len() as f64 - 1.0) * p).round() as usize;
        t.latencies_ms[i]
    };
    let total: u64 = t.statuses.values().sum();
    let (p50, p95, p99) = (pct(0.50), pct(0.95), pct(0.99));
    if args.json {
        println!(
            "{}",
            json!({
                "requests": total,
                "skipped": skipped,
                "statuses": t.statuses,
                "latency_ms": { "p50": p50, "p95": p95, "p99": p99 },
            })
        );
    } else {
        println!("loadgen: {total} requests to {url} ({skipped} skipped: all slots busy)");
        for (status, n) in &t.statuses {
            println!("  {status:>16}: {n}");
        }
        println!("  latency ms: p50 {p50:.1}  p95 {p95:.1}  p99 {p99:.1}");
    }
    Ok(())
}
