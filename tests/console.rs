//! Whole process: the web console on the admin listener, in a real browser. Lookout runs with
//! `correlate` on a traces and a logs pipeline; the OpenTelemetry Python SDK sends spans over
//! OTLP/gRPC and their log lines are tailed from a file; then `tests/console/drive.mjs` loads
//! every page in Debian's headless chromium (through `playwright-core`) and checks that no page
//! logs a console error, that the overview draws the pipeline graph with rates above zero, that
//! the known trace's waterfall shows its spans with its log line inline and the latency verdict
//! its `db.query` span was sent with, and that the logs page
//! lists that line linked to its trace.
//!
//! Needs `LOOKOUT_PYTHON` (set by `.ci/run`). The browser part needs `chromium` and
//! `tests/console/node_modules` (`.ci/run` installs both); without them it is skipped with a
//! message, except under `CI=true`, where it fails. `LOOKOUT_CONSOLE_SCREENSHOTS=<dir>` saves
//! one PNG per page there (the ones in `docs/console/` were made so).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value as Json;
use support::sink::Sink;
use support::{
    Lookout, http_client, otlp_exporter, otlp_receiver, python, python_dir, service, workspace_root,
};

/// The first trace `correlate_spans.py` sends: ids chosen by the script.
const TRACE: &str = "c0ffee00000000000000000000000001";
const ROOT: &str = "0000000000001001";
const CHILD: &str = "0000000000001002";

fn chromium() -> PathBuf {
    std::env::var_os("LOOKOUT_CHROMIUM")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Why the browser part cannot run here, if it cannot.
fn browser_missing(driver: &Path) -> Option<String> {
    if !chromium().exists() {
        return Some(format!(
            "{} is absent (apt-get install chromium)",
            chromium().display()
        ));
    }
    if !driver.join("node_modules").join("playwright-core").exists() {
        return Some(format!(
            "playwright-core is not installed (npm ci in {})",
            driver.display()
        ));
    }
    None
}

/// Runs `tests/console/drive.mjs` with `env` (and the browser's path); its output.
async fn drive(driver: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let run = tokio::process::Command::new("node")
        .arg(driver.join("drive.mjs"))
        .current_dir(driver)
        .envs(env.iter().copied())
        .env("LOOKOUT_CHROMIUM", chromium())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser driver finished within 3 minutes")
        .expect("run node")
}

/// Skips (returns `None`) where the browser cannot run, except under CI, where it panics.
fn driver_or_skip() -> Option<PathBuf> {
    let driver = workspace_root().join("tests").join("console");
    match browser_missing(&driver) {
        None => Some(driver),
        Some(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the console's browser test cannot run under CI: {why}"
            );
            eprintln!("SKIPPED the browser part of the console test: {why}");
            None
        }
    }
}

fn append(path: &Path, lines: &[Json]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the log file");
    for line in lines {
        writeln!(file, "{line}").expect("write a line");
    }
}

async fn get(url: &str) -> (u16, String, String) {
    let response = http_client().get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().await.expect("body"))
}

#[tokio::test]
async fn console_pages_show_the_pipeline_and_the_trace_with_its_logs() {
    let driver = driver_or_skip();
    let interpreter = python(false);
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let include = log.display().to_string();
    let sink_port = sink.port;
    let lookout = Lookout::start(|p| {
        format!(
            "{}  filelog:\n    include: [{include}]\n    start_at: beginning\n    poll_interval: 50ms\n    operators:\n      - type: json_parser\n        severity: {{parse_from: attributes.level}}\n      - type: trace_parser\n\
             processors:\n  latency_anomaly:\n  correlate:\n    log_wait: 60s\n  batch:\n    timeout: 50ms\n\
             exporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink_port, "none"),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly, correlate, batch]\n      exporters: [otlp]\n\
                 \x20   logs:\n      receivers: [filelog]\n      processors: [correlate]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;

    // Three traces from the real SDK, then a line on the first trace's child span and an error
    // line on its root.
    let output = tokio::process::Command::new(&interpreter)
        .arg(python_dir().join("correlate_spans.py"))
        .args(["--endpoint", &format!("127.0.0.1:{}", lookout.ports.grpc)])
        .args(["--traces", "3", "--verdict"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run correlate_spans.py");
    assert!(
        output.status.success(),
        "correlate_spans.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = "order 0 loaded from the primary";
    append(
        &log,
        &[
            serde_json::json!({"msg": line, "level": "info", "trace_id": TRACE, "span_id": CHILD}),
            serde_json::json!({"msg": "payment declined", "level": "error", "trace_id": TRACE, "span_id": ROOT}),
        ],
    );
    let base = format!("http://127.0.0.1:{}", lookout.ports.metrics);
    let mut trace = Json::Null;
    for _ in 0..300 {
        let (status, _, body) = get(&format!("{base}/api/v1/traces/{TRACE}")).await;
        if status == 200 {
            trace = serde_json::from_str(&body).expect("trace json");
            if trace["spans"][0]["children"][0]["logs"]
                .as_array()
                .is_some_and(|l| !l.is_empty())
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        trace.to_string().contains(line),
        "the line reached the window: {trace}\n{}",
        lookout.logs()
    );

    // The console's own routes, over plain HTTP.
    let (status, content_type, html) = get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.contains("/console/app.js"), "{html}");
    // A rate needs a second between samples: ask until the first answer with one.
    let mut pipelines = Json::Null;
    for _ in 0..100 {
        let (status, _, body) = get(&format!("{base}/api/v1/pipelines")).await;
        assert_eq!(status, 200, "{body}");
        pipelines = serde_json::from_str(&body).expect("pipelines json");
        if !pipelines["rate_window_seconds"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let traces = pipelines["pipelines"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == "traces"))
        .expect("traces pipeline");
    assert_eq!(traces["receivers"][0]["id"], "otlp");
    assert_eq!(traces["receivers"][0]["accepted_total"], 6.0, "{pipelines}");
    assert!(
        traces["receivers"][0]["accepted_per_second"]
            .as_f64()
            .is_some_and(|r| r > 0.0),
        "{pipelines}"
    );
    assert_eq!(traces["processors"][1]["id"], "correlate");
    let (status, _, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("lookout_receiver_accepted_spans_total"));

    let Some(driver) = driver else {
        lookout.stop_ok().await;
        return;
    };
    let shots = tempfile::tempdir().expect("tempdir");
    let screenshots = std::env::var_os("LOOKOUT_CONSOLE_SCREENSHOTS")
        .filter(|v| !v.is_empty())
        .map_or_else(|| shots.path().to_path_buf(), PathBuf::from);
    let output = drive(
        &driver,
        &[
            ("LOOKOUT_CONSOLE_URL", base.as_str()),
            ("LOOKOUT_TRACE_ID", TRACE),
            ("LOOKOUT_SPAN_NAMES", "GET /order/0,db.query"),
            ("LOOKOUT_LOG_LINE", line),
            ("LOOKOUT_SERVICE", "orders"),
            ("LOOKOUT_VERDICT_SPAN", "db.query"),
            ("LOOKOUT_SCREENSHOTS", &screenshots.display().to_string()),
        ],
    )
    .await;
    assert!(
        output.status.success(),
        "the console failed in the browser:\n{}\n{}\nlookout log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        lookout.logs()
    );
    for page in ["overview", "traces", "trace", "logs"] {
        assert!(
            screenshots.join(format!("{page}.png")).exists(),
            "screenshot of {page}"
        );
    }
    lookout.stop_ok().await;
}

#[tokio::test]
async fn without_correlate_each_page_says_what_to_configure() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let sink = Sink::start().await;
    let lookout = Lookout::start(|p| {
        format!(
            "{}exporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink.port, "none"),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;
    let base = format!("http://127.0.0.1:{}", lookout.ports.metrics);
    // No component serves the trace API: the console is told so, and asks for nothing else.
    let (_, _, body) = get(&format!("{base}/api/v1/pipelines")).await;
    let pipelines: Json = serde_json::from_str(&body).expect("pipelines json");
    assert_eq!(pipelines["routes"], serde_json::json!([]), "{pipelines}");
    let output = drive(
        &driver,
        &[
            ("LOOKOUT_CONSOLE_URL", base.as_str()),
            ("LOOKOUT_EXPECT", "no-correlate"),
        ],
    )
    .await;
    assert!(
        output.status.success(),
        "the console without correlate failed in the browser:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    lookout.stop_ok().await;
}

/// The ids of the pipelines `/api/v1/pipelines` lists.
async fn pipeline_ids(base: &str) -> Vec<String> {
    let (status, _, body) = get(&format!("{base}/api/v1/pipelines")).await;
    assert_eq!(status, 200, "{body}");
    let answer: Json = serde_json::from_str(&body).expect("pipelines json");
    answer["pipelines"]
        .as_array()
        .expect("pipelines")
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_config_reload_redraws_the_pipeline_graph() {
    let sink = Sink::start().await;
    let config = |p: &support::Ports, logs: bool| {
        let logs = if logs {
            "    logs:\n      receivers: [otlp]\n      exporters: [otlp]\n"
        } else {
            ""
        };
        format!(
            "{}exporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink.port, "none"),
            service(
                p,
                &format!("    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n{logs}")
            )
        )
    };
    let lookout = Lookout::start(|p| config(p, false)).await;
    let base = format!("http://127.0.0.1:{}", lookout.ports.metrics);
    assert_eq!(pipeline_ids(&base).await, ["traces"]);
    std::fs::write(
        lookout.dir().join("lookout.yaml"),
        config(&lookout.ports, true),
    )
    .expect("rewrite the config");
    lookout.signal("HUP");
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids = pipeline_ids(&base).await;
        if ids.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ids, ["logs", "traces"], "{}", lookout.logs());
    lookout.stop_ok().await;
}
