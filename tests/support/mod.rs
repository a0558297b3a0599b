//! Shared helpers for the whole-process integration tests: free ports, a guard around a running
//! `lookout` process, a `/metrics` scraper, the real Python peers, and an in-process OTLP/gRPC
//! test sink ([`sink`]) with converters from what it received to comparable JSON ([`normalize`]),
//! Debian's Prometheus as a peer ([`prometheus`]), the example shop ([`shop`]) and headless
//! chromium for the console ([`browser`]).
//!
//! Every process started here is killed when its guard drops, and every wait is bounded.

#![allow(dead_code)]

pub(crate) mod alertmanager;
pub(crate) mod browser;
pub(crate) mod counting_client;
pub(crate) mod health_endpoint;
pub(crate) mod normalize;
pub(crate) mod offer;
pub(crate) mod prometheus;
pub(crate) mod shop;
pub(crate) mod sink;
pub(crate) mod smtp;
pub(crate) mod spans;
pub(crate) mod store_api;
pub(crate) mod webhook;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a collector may take to become healthy.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);
/// How long a collector may take to exit after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// A port nobody listens on right now (bind 127.0.0.1:0, read the port, close).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// The `lookout` binary the tests run: `$LOOKOUT_BIN` when set (a relative path is taken from
/// the workspace root, e.g. `target/release/lookout` for release figures), else the one cargo
/// built for these tests.
pub(crate) fn lookout_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("LOOKOUT_BIN") {
        Some(bin) if !bin.is_empty() => workspace_root().join(bin).display().to_string(),
        _ => env!("CARGO_BIN_EXE_lookout").to_string(),
    })
}

/// The workspace root (the collector package's parent).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the collector package sits in the workspace")
        .to_path_buf()
}

/// Runs `lookout validate --config` on `config` (written to a temp dir, returned with the
/// config's path and the command's output).
pub(crate) fn validate(config: &str) -> (tempfile::TempDir, PathBuf, std::process::Output) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("collector.yaml");
    std::fs::write(&path, config).expect("write config");
    let output = Command::new(lookout_bin())
        .args(["validate", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("run lookout validate");
    (dir, path, output)
}

/// The ports one collector listens on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    /// OTLP/gRPC receiver.
    pub(crate) grpc: u16,
    /// OTLP/HTTP receiver.
    pub(crate) http: u16,
    /// health_check extension.
    pub(crate) health: u16,
    /// Self-metrics (`/metrics`).
    pub(crate) metrics: u16,
}

impl Ports {
    fn pick() -> Ports {
        Ports {
            grpc: free_port(),
            http: free_port(),
            health: free_port(),
            metrics: free_port(),
        }
    }
}

/// `receivers:` with an `otlp` receiver on both protocols; `grpc_extra` and `http_extra` are
/// extra settings lines (already indented by 8 spaces), or empty.
pub(crate) fn otlp_receiver(p: &Ports, grpc_extra: &str, http_extra: &str) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{}\n{grpc_extra}      http:\n        endpoint: 127.0.0.1:{}\n{http_extra}",
        p.grpc, p.http
    )
}

/// `extensions:` and `service:` with health check, self-metrics on `p.metrics`, and the given
/// `pipelines:` body (each line indented by 4 spaces).
pub(crate) fn service(p: &Ports, pipelines: &str) -> String {
    format!(
        "extensions:\n  health_check:\n    endpoint: 127.0.0.1:{}\nservice:\n  extensions: [health_check]\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{}\n  pipelines:\n{pipelines}",
        p.health, p.metrics
    )
}

/// [`service`] with a `file_storage/<name>` extension keeping its state in `directory`
/// (created if missing), enabled beside the health check.
pub(crate) fn service_with_storage(
    p: &Ports,
    pipelines: &str,
    name: &str,
    directory: &Path,
) -> String {
    service(p, pipelines)
        .replacen(
            "extensions:\n  health_check:",
            &format!(
                "extensions:\n  file_storage/{name}:\n    directory: {}\n    create_directory: true\n  health_check:",
                directory.display()
            ),
            1,
        )
        .replacen(
            "  extensions: [health_check]",
            &format!("  extensions: [health_check, file_storage/{name}]"),
            1,
        )
}

/// A whole config: the OTLP receiver, a `batch` processor with `batch_body`, the given
/// `exporters:` body (indented by 2), and traces, metrics and logs pipelines from `otlp`
/// through batch to `exporter_list` (e.g. `[otlp]`).
pub(crate) fn simple_config(
    p: &Ports,
    batch_body: &str,
    exporters: &str,
    exporter_list: &str,
) -> String {
    let pipelines: String = ["traces", "metrics", "logs"]
        .iter()
        .map(|s| {
            format!(
                "    {s}:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: {exporter_list}\n"
            )
        })
        .collect();
    format!(
        "{}processors:\n  batch:\n{batch_body}exporters:\n{exporters}{}",
        otlp_receiver(p, "", ""),
        service(p, &pipelines)
    )
}

/// An `otlp` exporter body (indented by 2, named `name`) sending to the sink at `port` in plain
/// text with `compression`.
pub(crate) fn otlp_exporter(name: &str, port: u16, compression: &str) -> String {
    format!(
        "  {name}:\n    endpoint: 127.0.0.1:{port}\n    tls:\n      insecure: true\n    compression: {compression}\n"
    )
}

/// A running `lookout` process. Killed on drop; [`Lookout::stop`] stops it with SIGTERM.
pub(crate) struct Lookout {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Where it listens.
    pub(crate) ports: Ports,
    log: PathBuf,
}

impl Lookout {
    /// Writes the config `make_config` returns for freshly picked ports, runs `lookout --config`
    /// on it (RUST_LOG=warn, stderr to a file), and waits until its health endpoint answers 200.
    /// Panics, with the collector's log, if it exits first or is not healthy in time. If another
    /// process took one of the picked ports in between, starts again with new ones (3 tries).
    pub(crate) async fn start(make_config: impl Fn(&Ports) -> String) -> Lookout {
        Lookout::start_with_env(make_config, |_| Vec::new()).await
    }

    /// Starts `lookout` with no `--config` (its embedded default configuration), on picked
    /// ports through the `LOOKOUT_*` variables that configuration reads, in a temporary
    /// working directory (where it keeps `./lookout-data`).
    pub(crate) async fn start_default() -> Lookout {
        Lookout::start_with_env(
            |_| String::new(),
            |p| {
                [
                    ("LOOKOUT_GRPC_ENDPOINT", p.grpc),
                    ("LOOKOUT_HTTP_ENDPOINT", p.http),
                    ("LOOKOUT_HEALTH_ENDPOINT", p.health),
                    ("LOOKOUT_METRICS_ADDRESS", p.metrics),
                ]
                .into_iter()
                .map(|(k, port)| (k.to_string(), format!("127.0.0.1:{port}")))
                .collect()
            },
        )
        .await
    }

    /// `http://127.0.0.1:<admin port><path>` (self-metrics, console, APIs).
    pub(crate) fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.metrics)
    }

    /// [`Lookout::start`] with extra environment variables (for configs that read
    /// `${env:...}`), made for the picked ports by `make_env`.
    pub(crate) async fn start_with_env(
        make_config: impl Fn(&Ports) -> String,
        make_env: impl Fn(&Ports) -> Vec<(String, String)>,
    ) -> Lookout {
        let mut last_log = String::new();
        for _ in 0..3 {
            let ports = Ports::pick();
            match Lookout::try_start(ports, &make_config(&ports), &make_env(&ports)).await {
                Ok(lookout) => return lookout,
                Err(log) if log.contains("in use") => last_log = log,
                Err(log) => panic!("lookout did not start:\n{log}"),
            }
        }
        panic!("lookout did not start (ports kept being taken):\n{last_log}");
    }

    async fn try_start(
        ports: Ports,
        config: &str,
        env: &[(String, String)],
    ) -> Result<Lookout, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("lookout.yaml");
        std::fs::write(&config_path, config).expect("write config");
        let log = dir.path().join("lookout.log");
        let log_file = std::fs::File::create(&log).expect("create log file");
        let mut command = Command::new(lookout_bin());
        if config.is_empty() {
            // The embedded default configuration, as `lookout` with no argument runs it.
        } else {
            command.arg("--config").arg(&config_path);
        }
        let child = command
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn lookout");
        let mut lookout = Lookout {
            child: Some(child),
            dir,
            ports,
            log,
        };
        let client = http_client();
        let url = format!("http://127.0.0.1:{}/", ports.health);
        let started = Instant::now();
        loop {
            if let Some(status) = lookout.child_mut().try_wait().expect("poll lookout") {
                lookout.child = None;
                return Err(format!(
                    "exited with {status} before becoming healthy; config:\n{config}\nlog:\n{}",
                    lookout.logs()
                ));
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                return Ok(lookout);
            }
            if started.elapsed() > STARTUP_LIMIT {
                return Err(format!(
                    "not healthy after {STARTUP_LIMIT:?}; config:\n{config}\nlog:\n{}",
                    lookout.logs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("lookout is running")
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("lookout is running").id()
    }

    /// The working directory it runs in.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What it logged to stderr so far.
    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `http://127.0.0.1:<http port><path>`.
    pub(crate) fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.http)
    }

    /// `http://127.0.0.1:<grpc port>`.
    pub(crate) fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.grpc)
    }

    /// Scrapes `/metrics`.
    pub(crate) async fn metrics(&self) -> Metrics {
        let url = format!("http://127.0.0.1:{}/metrics", self.ports.metrics);
        let response = http_client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}: {err}"));
        assert_eq!(response.status(), reqwest::StatusCode::OK, "GET {url}");
        Metrics::parse(&response.text().await.expect("metrics body"))
    }

    /// Peak resident memory (`VmHWM` from /proc/PID/status), in KiB.
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// Waits (bounded) until the health endpoint stops answering 200, which lookout does as
    /// soon as it begins shutting down.
    pub(crate) async fn wait_unhealthy(&self) {
        let client = http_client();
        let url = format!("http://127.0.0.1:{}/", self.ports.health);
        let started = Instant::now();
        loop {
            match client.get(&url).send().await {
                Ok(response) if response.status() == reqwest::StatusCode::OK => {}
                _ => return,
            }
            assert!(
                started.elapsed() < STOP_LIMIT,
                "lookout still healthy {STOP_LIMIT:?} after being told to stop"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends a signal (`TERM`, `INT`, ...) with the `kill` command.
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -{signal} {pid} failed");
    }

    /// Waits (bounded) for the process to exit; returns its exit status.
    pub(crate) async fn wait_exit(mut self) -> ExitStatus {
        self.wait_status().await
    }

    /// Waits (bounded) for the process to exit, keeping the guard (and its log) alive.
    async fn wait_status(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child_mut().try_wait().expect("poll lookout") {
                self.child = None;
                return status;
            }
            if started.elapsed() > STOP_LIMIT {
                let logs = self.logs();
                // Drop kills the process before the panic unwinds further.
                if let Some(child) = self.child.as_mut() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                panic!("lookout did not exit within {STOP_LIMIT:?}; log:\n{logs}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; returns its exit status.
    pub(crate) async fn stop(self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit().await
    }

    /// [`Lookout::stop`], asserting a clean exit (code 0); returns the log.
    pub(crate) async fn stop_ok(self) -> String {
        self.signal("TERM");
        self.wait_exit_ok().await
    }

    /// [`Lookout::wait_exit`], asserting a clean exit (code 0); returns the log.
    pub(crate) async fn wait_exit_ok(mut self) -> String {
        let status = self.wait_status().await;
        // Read before `self` (and the temporary directory holding the log) is dropped.
        let logs = self.logs();
        assert_eq!(
            status.code(),
            Some(0),
            "lookout exit status {status}; log:\n{logs}"
        );
        logs
    }
}

impl Drop for Lookout {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A plain HTTP/1 client with a per-request bound.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// A series' labels, as (name, value) pairs.
type Labels = Vec<(String, String)>;

/// One scrape of Prometheus text.
#[derive(Debug)]
pub(crate) struct Metrics {
    samples: Vec<(String, Labels, f64)>,
    text: String,
}

impl Metrics {
    /// Parses the Prometheus text exposition format (enough of it for Lookout's output).
    pub(crate) fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
                None => (series, Vec::new()),
            };
            samples.push((name.to_string(), labels, value));
        }
        Metrics {
            samples,
            text: text.to_string(),
        }
    }

    /// The sum over every series named `name` whose labels include `labels`; `None` if no
    /// series matches.
    pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for (n, l, v) in &self.samples {
            if n == name
                && labels
                    .iter()
                    .all(|(k, want)| l.iter().any(|(lk, lv)| lk == k && lv == want))
            {
                *found.get_or_insert(0.0) += v;
            }
        }
        found
    }

    /// Like [`Metrics::get`], panicking (with the scrape) when no series matches.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no series {name}{labels:?} in:\n{}", self.text))
    }

    /// The raw scrape.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

fn parse_labels(s: &str) -> Labels {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(match e {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((key.trim().trim_start_matches(',').trim().to_string(), value));
        rest = &after[end..];
    }
    out
}

/// Polls `done` every 20 ms until it is true; panics with `what` after `limit`.
pub(crate) async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Python interpreter of the venv `.ci/run` prepares: `LOOKOUT_PYTHON` (protobuf gRPC and
/// HTTP exporters) or, with `json`, `LOOKOUT_PYTHON_JSON` (the OTLP/JSON exporter). Panics
/// when unset: these tests must not pass without the real peers.
pub(crate) fn python(json: bool) -> String {
    let var = if json {
        "LOOKOUT_PYTHON_JSON"
    } else {
        "LOOKOUT_PYTHON"
    };
    match std::env::var(var) {
        Ok(path) if !path.is_empty() => path,
        _ => panic!(
            "{var} is not set: run the tests through `.ci/run`, which creates the Python venvs \
             with the real OpenTelemetry exporters and exports {var}"
        ),
    }
}

/// The `tests/python` folder.
pub(crate) fn python_dir() -> PathBuf {
    workspace_root().join("tests").join("python")
}

/// Runs `tests/python/send.py` (the real OpenTelemetry Python SDK) against `endpoint` and
/// returns the items it says it emitted; panics, with lookout's log, if it fails. `env` adds
/// variables for the SDK (e.g. `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`). An
/// `https://` endpoint runs it with `--tls` (certificates through the SDK's variables).
pub(crate) async fn run_send_py(
    protocol: &str,
    endpoint: &str,
    signal: &str,
    lookout: &Lookout,
    env: &[(&str, &str)],
) -> Vec<serde_json::Value> {
    let interpreter = python(protocol == "json");
    let script = python_dir().join("send.py");
    let mut command = tokio::process::Command::new(&interpreter);
    if endpoint.starts_with("https://") {
        command.arg(&script).arg("--tls");
    } else {
        command.arg(&script);
    }
    command
        .args([
            "--protocol",
            protocol,
            "--endpoint",
            endpoint,
            "--signal",
            signal,
        ])
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    // The protobuf exporters compress with gzip (exercising lookout's decompression with a
    // real client); the JSON exporter sends plain bodies.
    if protocol != "json" {
        command.env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("{interpreter} send.py did not finish within 120 s"))
        .unwrap_or_else(|err| panic!("cannot run {interpreter}: {err}"));
    assert!(
        output.status.success(),
        "send.py --protocol {protocol} --signal {signal} failed ({}):\n{}\nlookout log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        lookout.logs()
    );
    let emitted: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "send.py printed no JSON ({err}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let items = emitted["items"].as_array().cloned().unwrap_or_default();
    assert!(!items.is_empty(), "send.py emitted nothing: {emitted}");
    items
}

/// A gRPC answer seen at the HTTP/2 level.
#[derive(Debug)]
pub(crate) struct GrpcReply {
    /// The HTTP status.
    pub(crate) http: u16,
    /// The gRPC status from the headers (trailers-only) or trailers, if any.
    pub(crate) status: Option<tonic::Status>,
    /// The response message (without its 5-byte prefix), empty if none was sent.
    pub(crate) message: bytes::Bytes,
}

impl GrpcReply {
    /// The gRPC code, panicking if the answer had none.
    pub(crate) fn code(&self) -> tonic::Code {
        self.status
            .as_ref()
            .unwrap_or_else(|| panic!("no grpc-status in {self:?}"))
            .code()
    }
}

/// A gRPC length-prefixed message (flag 1 when `compressed`).
pub(crate) fn grpc_frame(payload: &[u8], compressed: bool) -> bytes::Bytes {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(u8::from(compressed));
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .expect("frame fits")
            .to_be_bytes(),
    );
    out.extend_from_slice(payload);
    out.into()
}

/// gRPC paths of the three OTLP services.
pub(crate) const GRPC_TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// See [`GRPC_TRACES`].
pub(crate) const GRPC_METRICS: &str =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
/// See [`GRPC_TRACES`].
pub(crate) const GRPC_LOGS: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// One unary gRPC call made by hand over a fresh h2c connection, so that malformed frames,
/// odd content types and encodings can be sent: `body` is sent as is (frame it with
/// [`grpc_frame`]). Bounded by 30 s.
pub(crate) async fn grpc_call(
    port: u16,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: bytes::Bytes,
) -> GrpcReply {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the gRPC receiver");
    let headers = [("content-type", content_type)];
    let encoding = encoding.map(|e| ("grpc-encoding", e));
    let headers: Vec<(&str, &str)> = headers.into_iter().chain(encoding).collect();
    grpc_call_on(tcp, path, &headers, body)
        .await
        .expect("HTTP/2 call")
}

/// One plain (uncompressed, `application/grpc`) OTLP traces export of the encoded request
/// `message`, made with [`grpc_call`].
pub(crate) async fn grpc_traces(port: u16, message: &[u8]) -> GrpcReply {
    grpc_call(
        port,
        GRPC_TRACES,
        "application/grpc",
        None,
        grpc_frame(message, false),
    )
    .await
}

/// One unary gRPC call over `io` (a TCP or TLS stream already connected), with `headers`
/// (which must include `content-type`). `Err` when the connection or the HTTP/2 exchange
/// fails. Bounded by 30 s.
pub(crate) async fn grpc_call_on<IO>(
    io: IO,
    path: &str,
    headers: &[(&str, &str)],
    body: bytes::Bytes,
) -> Result<GrpcReply, String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt;
    let call = async {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(io),
        )
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        let conn = tokio::spawn(conn);
        let mut request =
            http::Request::post(format!("http://127.0.0.1{path}")).header("te", "trailers");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(http_body_util::Full::new(body))
            .expect("request");
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("gRPC request: {e}"))?;
        let (parts, body) = response.into_parts();
        let header_status = tonic::Status::from_header_map(&parts.headers);
        let collected = body
            .collect()
            .await
            .map_err(|e| format!("read the gRPC response: {e}"))?;
        let trailer_status = collected
            .trailers()
            .and_then(tonic::Status::from_header_map);
        let data = collected.to_bytes();
        let message = if data.len() >= 5 {
            data.slice(5..)
        } else {
            bytes::Bytes::new()
        };
        drop(sender);
        conn.abort();
        Ok(GrpcReply {
            http: parts.status.as_u16(),
            status: header_status.or(trailer_status),
            message,
        })
    };
    tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("gRPC call finished within 30 s")
}

/// A trace export request with `spans` spans named `<prefix>-<i>` (16- and 8-byte ids),
/// each carrying `padding` bytes in an attribute.
pub(crate) fn trace_request(
    prefix: &str,
    spans: usize,
    padding: usize,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue, any_value,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let kv = |k: &str, v: String| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    };
    let spans = (0..spans)
        .map(|i| {
            let n = i as u64 + 1;
            let mut trace_id = [0x11u8; 16];
            trace_id[8..].copy_from_slice(&n.to_be_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: n.to_be_bytes().to_vec(),
                name: format!("{prefix}-{i}"),
                kind: 2,
                start_time_unix_nano: 1_700_000_000_000_000_000 + n,
                end_time_unix_nano: 1_700_000_000_000_001_000 + n,
                attributes: if padding > 0 {
                    vec![kv("padding", "x".repeat(padding))]
                } else {
                    Vec::new()
                },
                ..Default::default()
            }
        })
        .collect();
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "lookout-it".into())],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lookout.tests".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The protobuf encoding of `message`.
pub(crate) fn encode(message: &impl prost::Message) -> Vec<u8> {
    message.encode_to_vec()
}

/// A destination that is down: it holds its port (so no other test can take it) and closes every
/// connection as soon as it is accepted, so every export to it fails with a retryable error.
pub(crate) struct DeadEndpoint {
    /// Its port.
    pub(crate) port: u16,
    /// Connections accepted and closed so far.
    pub(crate) closed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl DeadEndpoint {
    /// Binds an ephemeral port and starts closing connections.
    pub(crate) async fn start() -> DeadEndpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the dead endpoint");
        let port = listener.local_addr().expect("address").port();
        let closed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&closed);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                drop(stream);
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        DeadEndpoint { port, closed, task }
    }
}

impl Drop for DeadEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}
