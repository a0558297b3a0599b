//! A real SMTP server as a test peer: `tests/python/smtp_sink.py` (aiosmtpd) writes every
//! message it accepts as a JSON file (envelope, headers, decoded text and HTML parts). The
//! server ends when its stdin closes, i.e. when the guard drops.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{python, workspace_root};

/// A running `smtp_sink.py`, plain SMTP on 127.0.0.1 (without AUTH unless started with
/// `--user`).
pub(crate) struct SmtpSink {
    child: Child,
    /// Where it listens.
    pub(crate) port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts it (bounded wait for its `ready PORT` line).
    pub(crate) fn start() -> SmtpSink {
        SmtpSink::start_with(&[])
    }

    /// [`SmtpSink::start`] with more of `smtp_sink.py`'s flags (`--user U --password P`).
    pub(crate) fn start_with(args: &[&str]) -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(python(false))
            .arg(workspace_root().join("tests/python/smtp_sink.py"))
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn smtp_sink.py");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("smtp_sink.py did not start in 30 s");
        let port = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("smtp_sink.py said {line:?}"))
            .parse()
            .expect("port");
        SmtpSink { child, port, dir }
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The messages received so far, in order of arrival.
    pub(crate) fn received(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read the sink's directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names.iter().filter_map(|p| read(p)).collect()
    }

    /// Polls until a message satisfies `want`, at most `limit`; returns it with the time it
    /// was first seen.
    pub(crate) fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> (serde_json::Value, Instant) {
        let started = Instant::now();
        loop {
            if let Some(m) = self.received().into_iter().find(|m| want(m)) {
                return (m, Instant::now());
            }
            assert!(
                started.elapsed() < limit,
                "no email {what} within {limit:?}; received: {:#?}",
                self.received()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A message file, or `None` while it is still being written.
fn read(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
