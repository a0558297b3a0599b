//! Whole process: the web console on `lookout`'s embedded default configuration (no config
//! file, as the README runs it), fed by the example shop (`examples/shop`). Its three services
//! (frontend -> checkout -> inventory, instrumented only through lookout-sdk) send spans and
//! logs over OTLP/gRPC while `shop loadgen` drives orders; inventory adds 100 ms to each request
//! after a warm-up long enough for the default `latency_anomaly` detector to learn its baseline
//! (`min_samples` 100, `sequential_min_samples` 200 per key). Once `/api/v1/alerts` lists an
//! episode of inventory and an anomalous trace of inventory holds spans of the three services
//! with their log lines and a `shift` or `degradation` verdict on an inventory span,
//! `tests/console/drive_shop.mjs` loads every page in headless chromium: no page may log a
//! console error; the Overview lists the shop's entry service, the Host page charts points,
//! the Services page lists the three services and marks inventory's episode as a band, the
//! Traces page finds inventory's traces, the known trace's waterfall spans the three services
//! with their log lines inline and the verdict, the Logs page shows inventory's lines linked to
//! their traces, and the Anomalies page shows inventory's episode (baseline below observed)
//! whose example trace link opens its waterfall.
//!
//! Needs the shop (built here with the test's cargo profile). The browser part needs chromium
//! and `tests/console/node_modules`; without them it is skipped with a message, except under
//! `CI=true`, where it fails. `LOOKOUT_CONSOLE_SCREENSHOTS=<dir>` saves one PNG per page.

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use support::browser::{assert_driven, assert_screenshots, drive, driver_or_skip, screenshot_dir};
use support::shop::{Service, build_shop};
use support::{Lookout, http_client};

/// Orders per second.
const RATE: &str = "25";
/// Seconds of orders in all.
const LOAD_SECS: u64 = 40;
/// Seconds after inventory starts before its latency is added: ~16 s × 25/s = ~400 healthy
/// spans per inventory operation, twice `sequential_min_samples`.
const WARMUP_SECS: &str = "16";
/// What inventory adds to each request once warmed up.
const INJECT_MS: &str = "100";
/// The least duration, ms, of an inventory span that shows the injected latency (and of the
/// worst duration an episode of it observed): a loaded box alone opens episodes of
/// inventory's sub-millisecond operations at ×1.5 (0.38 -> 0.6 ms seen without injection),
/// which must not pass for the injected fault.
const INJECTED_MIN_MS: f64 = 90.0;
/// The verdicts of a sustained latency change.
const SUSTAINED: [&str; 2] = ["shift", "degradation"];
/// The kinds of episode a sustained latency change opens: `intermittent` too, when the
/// intermittent test crosses its threshold (`intermittent_h`, ~4 spans beyond the spike
/// threshold) a span before the mean CUSUM does. The detector then turns its episode into a
/// `shift`, but the processor's episode record keeps the kind of its first tag (see
/// docs/console.md, "Tests").
const EPISODE_KINDS: [&str; 3] = ["shift", "degradation", "intermittent"];
/// The service with the injected latency.
const FAULTY: &str = "inventory";
/// The log lines the known trace must show inline, by the service that wrote them (the shop
/// writes them in the handlers' spans: `tests/examples_e2e.rs` checks the ids).
const TRACE_LOGS: [(&str, &str); 3] = [
    ("frontend", "order received"),
    ("checkout", "payment authorised"),
    ("inventory", "units reserved"),
];
/// Spans the known trace must show, by service.
const TRACE_SPANS: [(&str, &str); 3] = [
    ("frontend", "POST /api/orders"),
    ("checkout", "POST /checkout"),
    ("inventory", "POST /stock/{sku}/reserve"),
];

fn kind(episode: &Json) -> &str {
    episode["kind"].as_str().unwrap_or_default()
}

async fn get_json(url: &str) -> Option<Json> {
    let response = http_client().get(url).send().await.ok()?;
    if response.status() != reqwest::StatusCode::OK {
        return None;
    }
    response.json().await.ok()
}

/// Every span of a trace answer (`spans` with their `children`), flattened.
fn spans(trace: &Json) -> Vec<&Json> {
    fn walk<'a>(list: &'a Json, out: &mut Vec<&'a Json>) {
        for span in list.as_array().into_iter().flatten() {
            out.push(span);
            walk(&span["children"], out);
        }
    }
    let mut out = Vec::new();
    walk(&trace["spans"], &mut out);
    out
}

/// Whether `trace` holds the spans of [`TRACE_SPANS`] and, on spans of the right service, the
/// log lines of [`TRACE_LOGS`].
fn complete(trace: &Json) -> bool {
    let spans = spans(trace);
    TRACE_SPANS.iter().all(|(service, name)| {
        spans
            .iter()
            .any(|s| s["service"] == *service && s["name"] == *name)
    }) && TRACE_LOGS.iter().all(|(service, line)| {
        spans.iter().any(|s| {
            s["service"] == *service
                && s["logs"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|l| l["body"] == *line))
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// On a loaded 2-core box the default detector sometimes opens a `shift` episode of inventory
// during the warm-up (×1.3–1.8); the injected +100 ms then lands in that open episode, whose
// listed record follows it as it grows (`observed_ms`, refreshed once a second), so the wait
// below sees it. Before that refresh existed the record kept its warm-up ×1.5 until it
// resolved, and this test failed 2 times in about 10 under load.
async fn the_console_shows_the_shop_on_the_default_config() {
    let started = Instant::now();
    let driver = driver_or_skip();
    let shop = tokio::task::block_in_place(build_shop);
    let lookout = Lookout::start_default().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let otlp = lookout.grpc_url();
    let inventory = Service::start(
        &shop,
        "inventory",
        dir.path(),
        &otlp,
        &[
            "--inject-latency-ms",
            INJECT_MS,
            "--inject-after-secs",
            WARMUP_SECS,
        ],
    );
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
    let loadgen = tokio::process::Command::new(&shop)
        .args([
            "loadgen",
            "--target",
            &frontend.url,
            "--json",
            "--rate",
            RATE,
        ])
        .args(["--duration-secs", &LOAD_SECS.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run shop loadgen");

    // The detector opens an episode of inventory once its latency shifts. On a loaded box the
    // services' telemetry reaches lookout late (the SDK exports every 5 s, the collector's
    // pipeline queues), so the wait outlasts the load by a minute; it ends as soon as the
    // episode is listed.
    let base = lookout.admin_url("");
    let limit = Duration::from_secs(LOAD_SECS + 60);
    let waited = Instant::now();
    let mut seen = Json::Null;
    let episode = loop {
        if let Some(alerts) = get_json(&format!("{base}/api/v1/alerts")).await {
            seen = alerts["episodes"]["items"].clone();
        }
        let found = seen.as_array().and_then(|items| {
            items
                .iter()
                .find(|e| {
                    e["service"] == FAULTY
                        && EPISODE_KINDS.contains(&kind(e))
                        && e["observed_ms"].as_f64() >= Some(INJECTED_MIN_MS)
                })
                .cloned()
        });
        if let Some(episode) = found {
            break episode;
        }
        assert!(
            waited.elapsed() < limit,
            "no latency episode of {FAULTY} observing {INJECTED_MIN_MS} ms or more within {limit:?} ({WARMUP_SECS} s warm-up at {RATE}/s, then +{INJECT_MS} ms); episodes: {seen}\nlookout log:\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "{} episode of {FAULTY} listed {:?} after the load began",
        episode["kind"],
        waited.elapsed()
    );
    assert!(
        episode["observed_ms"].as_f64() > episode["baseline_ms"].as_f64(),
        "{episode}"
    );
    let operation = episode["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l[0] == "span_name")
        .and_then(|l| l[1].as_str())
        .unwrap_or_default()
        .to_owned();

    // A known trace: a recent anomalous trace of inventory that holds the three services'
    // spans and their log lines (the SDK exports in batches), where an inventory span slowed by
    // the injected latency has the verdict of a sustained change (`shift` or `degradation`).
    let waited = Instant::now();
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    let trace_id = 'found: loop {
        let list = get_json(&format!(
            "{base}/api/v1/traces?service={FAULTY}&anomalous=true&limit=20"
        ))
        .await
        .unwrap_or_default();
        for id in list["traces"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["trace_id"].as_str())
        {
            let Some(trace) = get_json(&format!("{base}/api/v1/traces/{id}")).await else {
                continue;
            };
            // Verdicts on the spans that carry the injected latency.
            let kinds: Vec<&str> = spans(&trace)
                .into_iter()
                .filter(|s| {
                    s["service"] == FAULTY
                        && s["duration_ns"].as_f64() >= Some(INJECTED_MIN_MS * 1e6)
                })
                .filter_map(|s| s["verdict"]["kind"].as_str())
                .collect();
            for k in &kinds {
                *verdicts.entry((*k).to_owned()).or_default() += 1;
            }
            if complete(&trace) && kinds.iter().any(|k| SUSTAINED.contains(k)) {
                break 'found id.to_owned();
            }
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "no anomalous trace of {FAULTY} holds {TRACE_SPANS:?} with {TRACE_LOGS:?} inline and a {SUSTAINED:?} verdict on a span of {FAULTY} of {INJECTED_MIN_MS} ms or more; verdicts of its spans seen: {verdicts:?}; episodes: {seen}\nlookout log:\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("known trace: {trace_id}; verdicts of {FAULTY}'s spans seen: {verdicts:?}");
    if let Some(alerts) = get_json(&format!("{base}/api/v1/alerts")).await {
        let list: Vec<String> = alerts["episodes"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{} {}: {} {:.2} -> {:.1} ms",
                    e["service"].as_str().unwrap_or_default(),
                    e["labels"][1][1].as_str().unwrap_or_default(),
                    kind(e),
                    e["baseline_ms"].as_f64().unwrap_or_default(),
                    e["observed_ms"].as_f64().unwrap_or_default()
                )
            })
            .collect();
        eprintln!("episodes: {list:#?}");
    }

    if let Some(driver) = driver {
        let shots = tempfile::tempdir().expect("tempdir");
        let screenshots = screenshot_dir(shots.path());
        let join = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(service, text)| format!("{service}:{text}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let output = drive(
            &driver,
            "drive_shop.mjs",
            &[
                ("LOOKOUT_CONSOLE_URL", base.as_str()),
                ("LOOKOUT_TRACE_ID", trace_id.as_str()),
                ("LOOKOUT_TRACE_SPANS", &join(&TRACE_SPANS)),
                ("LOOKOUT_TRACE_LOGS", &join(&TRACE_LOGS)),
                ("LOOKOUT_ROOT_SERVICE", "frontend"),
                ("LOOKOUT_SERVICES", "frontend,checkout,inventory"),
                ("LOOKOUT_FAULTY", FAULTY),
                ("LOOKOUT_VERDICTS", &SUSTAINED.join(",")),
                ("LOOKOUT_INJECTED_MIN_MS", &INJECTED_MIN_MS.to_string()),
                (
                    "LOOKOUT_EPISODE_KIND",
                    episode["kind"].as_str().unwrap_or_default(),
                ),
                ("LOOKOUT_EPISODE_OPERATION", &operation),
                ("LOOKOUT_SCREENSHOTS", &screenshots.display().to_string()),
            ],
        )
        .await;
        assert_driven(&output, "the console", &lookout.logs());
        eprintln!("{}", String::from_utf8_lossy(&output.stdout));
        assert_screenshots(
            &screenshots,
            &[
                "shop-overview",
                "shop-host",
                "shop-services",
                "shop-traces",
                "shop-trace",
                "shop-logs",
                "shop-anomalies",
            ],
        );
    }

    // The load ran to its end and orders succeeded.
    let output = tokio::time::timeout(
        Duration::from_secs(LOAD_SECS + 60),
        loadgen.wait_with_output(),
    )
    .await
    .expect("loadgen ends after its duration")
    .expect("loadgen output");
    assert!(
        output.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Json = serde_json::from_slice(&output.stdout).expect("loadgen's JSON summary");
    assert!(
        summary["statuses"]["201"].as_u64() > Some(100),
        "orders placed: {summary}"
    );
    // Callers first, so no request is cut off by a callee that is already gone.
    for service in [frontend, checkout, inventory] {
        tokio::task::block_in_place(|| service.stop());
    }
    lookout.stop_ok().await;
    eprintln!("wall time {:?}", started.elapsed());
}
