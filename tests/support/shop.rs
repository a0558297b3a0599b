//! The example shop (`examples/shop`) for whole-process tests: building its `shop` binary and
//! running its services under a guard.
//!
//! The shop binary belongs to another package, so cargo gives no `CARGO_BIN_EXE_` for it:
//! [`build_shop`] builds it with the cargo that runs the test (a no-op when it is up to date)
//! and takes the executable path from cargo's JSON messages.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Building the shop from a clean checkout compiles its dependency tree.
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);
/// How long a service may take to print its address, or to exit after SIGTERM.
const SERVICE_LIMIT: Duration = Duration::from_secs(30);

/// Builds `lookout-example-shop`'s `shop` binary with the profile the test itself was built
/// with (read from where cargo put `lookout`), returning its path.
pub(crate) fn build_shop() -> PathBuf {
    let lookout = Path::new(super::lookout_bin());
    let profile_dir = lookout
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .expect("lookout sits in a profile directory");
    let profile = if profile_dir == "debug" {
        "dev"
    } else {
        profile_dir
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let mut child = Command::new(cargo)
        .current_dir(super::workspace_root())
        .args([
            "build",
            "--profile",
            profile,
            "-p",
            "lookout-example-shop",
            "--bin",
            "shop",
            "--message-format=json-render-diagnostics",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cargo build");
    let stdout = drain(child.stdout.take().expect("cargo stdout"));
    let stderr = drain(child.stderr.take().expect("cargo stderr"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll cargo") {
            break status;
        }
        if started.elapsed() > BUILD_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("building the shop took over {BUILD_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.join().expect("cargo stdout reader");
    let stderr = stderr.join().expect("cargo stderr reader");
    assert!(
        status.success(),
        "cargo build of the shop failed:\n{stderr}"
    );
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "shop")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no shop executable:\n{stderr}"))
}

/// Reads a pipe to the end on a thread (so the child never blocks on a full pipe).
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// One running shop service; killed on drop unless stopped.
pub(crate) struct Service {
    pub(crate) name: &'static str,
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`, as the service printed it.
    pub(crate) url: String,
    stderr: PathBuf,
}

impl Service {
    /// Starts `shop <name> --listen 127.0.0.1:0 ...` and waits (bounded) for its address.
    pub(crate) fn start(
        shop: &Path,
        name: &'static str,
        dir: &Path,
        otlp: &str,
        extra: &[&str],
    ) -> Service {
        let stderr = dir.join(format!("{name}.stderr"));
        let mut child = Command::new(shop)
            .arg(name)
            .args(["--listen", "127.0.0.1:0", "--log-file"])
            .arg(dir.join(format!("{name}.log.json")))
            .args(extra)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
            // Longer than the test: metrics must arrive through the flush on shutdown.
            .env("OTEL_METRIC_EXPORT_INTERVAL", "600000")
            .env("RUST_LOG", "info")
            .env_remove("OTEL_SDK_DISABLED")
            .env_remove("OTEL_SERVICE_NAME")
            .env_remove("OTEL_TRACES_SAMPLER")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
            .env_remove("INJECT_LATENCY_MS")
            .env_remove("INJECT_ERROR_RATE")
            .env_remove("INJECT_AFTER_SECS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("create stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", shop.display()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("service stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let mut service = Service {
            name,
            child: Some(child),
            url: String::new(),
            stderr,
        };
        match rx.recv_timeout(SERVICE_LIMIT) {
            Ok(url) => service.url = url,
            Err(_) => panic!(
                "{name} printed no address within {SERVICE_LIMIT:?}; stderr:\n{}",
                service.logs()
            ),
        }
        service
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then waits (bounded) for a clean exit: the SDK guard has flushed by then.
    pub(crate) fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -TERM {pid} ({})", self.name);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("poll service") {
                break status;
            }
            if started.elapsed() > SERVICE_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not exit within {SERVICE_LIMIT:?} of SIGTERM; stderr:\n{}",
                    self.name,
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "{} exited with {status}; stderr:\n{}",
            self.name,
            self.logs()
        );
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
