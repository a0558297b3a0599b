//! Helpers for the filelog whole-process tests: a counting OTLP/gRPC log sink (tonic and
//! opentelemetry-proto, independent of Lookout's code), a fast log writer that rotates by
//! rename or copytruncate, and a guard around a `lookout` process.
//!
//! Every line the writer produces is `line <n> <padding>`; the sink counts how often each `n`
//! arrived, so losses and duplicates are exact.

#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

/// What the sink counted.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Arrivals per line number.
    pub(crate) per_line: Vec<u32>,
    /// Records whose body was not a `line <n>` of the expected range.
    pub(crate) foreign: u64,
    /// Records holding more than one line (multiline).
    pub(crate) multi: u64,
    /// Batches (export calls) received.
    pub(crate) calls: u64,
    /// Multiline records whose continuation lines did not follow their head line.
    pub(crate) broken_multi: u64,
    /// Foreign records by their `log.file.name`: (records, body characters, first bodies).
    pub(crate) foreign_by_file: std::collections::BTreeMap<String, (u64, u64, Vec<String>)>,
}

impl Counts {
    /// (lost, duplicated) over lines `0..n`.
    pub(crate) fn summary(&self, n: usize) -> (usize, usize) {
        let lost = self.per_line[..n].iter().filter(|c| **c == 0).count();
        let dup = self.per_line[..n]
            .iter()
            .map(|c| c.saturating_sub(1) as usize)
            .sum();
        (lost, dup)
    }

    /// Lines `0..n` received at least once.
    pub(crate) fn seen(&self, n: usize) -> usize {
        self.per_line[..n].iter().filter(|c| **c > 0).count()
    }
}

#[derive(Clone)]
struct Sink {
    counts: Arc<Mutex<Counts>>,
}

fn line_number(text: &str) -> Option<usize> {
    text.strip_prefix("line ")?.split(' ').next()?.parse().ok()
}

#[tonic::async_trait]
impl LogsService for Sink {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.calls += 1;
        for rl in &request.get_ref().resource_logs {
            for sl in &rl.scope_logs {
                for record in &sl.log_records {
                    let Some(Value::StringValue(body)) =
                        record.body.as_ref().and_then(|b| b.value.as_ref())
                    else {
                        counts.foreign += 1;
                        continue;
                    };
                    let mut lines = body.split('\n');
                    let Some(head) = lines.next().and_then(line_number) else {
                        counts.foreign += 1;
                        let file = record
                            .attributes
                            .iter()
                            .find(|kv| kv.key == "log.file.name")
                            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                            .map(|v| match v {
                                Value::StringValue(s) => s.clone(),
                                other => format!("{other:?}"),
                            })
                            .unwrap_or_default();
                        let entry = counts.foreign_by_file.entry(file).or_default();
                        entry.0 += 1;
                        entry.1 += body.chars().count() as u64;
                        if entry.2.len() < 8 {
                            entry.2.push(body.chars().take(200).collect());
                        }
                        continue;
                    };
                    let mut parts = 1;
                    for cont in lines {
                        parts += 1;
                        // Continuation lines are `  at <head>` in the multiline test.
                        if cont
                            .trim_start()
                            .strip_prefix("at ")
                            .and_then(|s| s.parse::<usize>().ok())
                            != Some(head)
                        {
                            counts.broken_multi += 1;
                        }
                    }
                    if parts > 1 {
                        counts.multi += 1;
                    }
                    if head >= counts.per_line.len() {
                        let len = head + 1;
                        counts.per_line.resize(len, 0);
                    }
                    counts.per_line[head] += 1;
                }
            }
        }
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: None,
        }))
    }
}

/// A running sink.
pub(crate) struct SinkHandle {
    /// The port it listens on.
    pub(crate) port: u16,
    counts: Arc<Mutex<Counts>>,
    stop: Option<oneshot::Sender<()>>,
}

impl SinkHandle {
    /// Starts a sink on an ephemeral loopback port.
    pub(crate) async fn start(expected: usize) -> SinkHandle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sink");
        let port = listener.local_addr().expect("sink address").port();
        let counts = Arc::new(Mutex::new(Counts {
            per_line: vec![0; expected],
            ..Counts::default()
        }));
        let sink = Sink {
            counts: Arc::clone(&counts),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let incoming = tokio_stream_listener(listener);
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(LogsServiceServer::new(sink).max_decoding_message_size(64 << 20))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = rx.await;
                })
                .await;
        });
        SinkHandle {
            port,
            counts,
            stop: Some(tx),
        }
    }

    /// Runs `f` on the counts.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Counts) -> T) -> T {
        f(&self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Waits until lines `0..n` all arrived or `limit` passed; returns whether they did.
    pub(crate) async fn wait_all(&self, n: usize, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.with(|c| c.seen(n)) == n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Waits until at least `n` distinct lines arrived.
    pub(crate) async fn wait_at_least(&self, n: usize, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            let total = self.with(|c| c.seen(c.per_line.len()));
            if total >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

impl Drop for SinkHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let next = listener.accept().await.map(|(s, _)| s);
        Some((next, listener))
    })
}

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A collector config: filelog (with storage in `state`) → otlp exporter to the sink.
pub(crate) fn config(dir: &Path, include: &str, sink_port: u16, extra: &str) -> String {
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    format!(
        "receivers:\n  filelog:\n    include: [{include}]\n    start_at: beginning\n    poll_interval: 50ms\n    storage: file_storage\n{extra}\
         extensions:\n  file_storage:\n    directory: {}\n\
         exporters:\n  otlp:\n    endpoint: 127.0.0.1:{sink_port}\n    tls:\n      insecure: true\n    compression: none\n\
         service:\n  extensions: [file_storage]\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{}\n  pipelines:\n    logs:\n      receivers: [filelog]\n      exporters: [otlp]\n",
        state.display(),
        free_port()
    )
}

/// A running `lookout`, killed when dropped.
pub(crate) struct Collector {
    child: Child,
}

impl Collector {
    /// Starts `lookout --config <dir>/lookout.yaml`.
    pub(crate) fn start(dir: &Path, config: &str) -> Collector {
        let path = dir.join("lookout.yaml");
        std::fs::write(&path, config).expect("write config");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("lookout.log"))
            .expect("collector log");
        let child = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start lookout");
        Collector { child }
    }

    /// SIGKILL: no shutdown, no final checkpoint.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub(crate) fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the writer rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rotation {
    /// `mv app.log app.log.N` then create a new `app.log`.
    Rename,
    /// `cp app.log app.log.N` then truncate `app.log` (the writer appends, as with O_APPEND).
    CopyTruncate,
}

/// Writes lines `from..to` to `dir/app.log` as fast as it can, rotating every `every` lines;
/// `multiline` adds two continuation lines to every 10th line.
pub(crate) fn write_lines(
    dir: &Path,
    from: usize,
    to: usize,
    every: usize,
    rotation: Rotation,
    multiline: bool,
) {
    let path = dir.join("app.log");
    let open = |p: &Path| -> BufWriter<File> {
        BufWriter::with_capacity(
            1 << 16,
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .expect("open log"),
        )
    };
    let mut out = open(&path);
    let mut rotations = std::fs::read_dir(dir)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("app.log."))
            })
            .count()
        })
        .unwrap_or(0);
    for n in from..to {
        if n > from && n % every == 0 {
            out.flush().expect("flush");
            rotations += 1;
            let rotated: PathBuf = dir.join(format!("app.log.{rotations}"));
            match rotation {
                Rotation::Rename => {
                    std::fs::rename(&path, &rotated).expect("rename");
                    out = open(&path);
                }
                Rotation::CopyTruncate => {
                    std::fs::copy(&path, &rotated).expect("copy");
                    out.get_ref().set_len(0).expect("truncate");
                }
            }
        }
        writeln!(
            out,
            "line {n} lorem ipsum dolor sit amet, consectetur adipiscing elit"
        )
        .expect("write");
        if multiline && n % 10 == 0 {
            writeln!(out, "  at {n}\n  at {n}").expect("write");
        }
    }
    out.flush().expect("flush");
}

/// Line counts for CI, or the full size with `LOOKOUT_FILELOG_FULL=1`.
pub(crate) fn sizes() -> (usize, usize) {
    if std::env::var_os("LOOKOUT_FILELOG_FULL").is_some() {
        (1_000_000, 100_000)
    } else {
        (200_000, 20_000)
    }
}
