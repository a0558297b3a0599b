//! Debian's Alertmanager (`prometheus-alertmanager`) as a test peer: started on a free port
//! with a config the test gives, killed (by its PID) when dropped, also when the test panics.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, http_client};

const BINARY: &str = "prometheus-alertmanager";
const LIMIT: Duration = Duration::from_secs(60);

/// A route that sends everything to a receiver without integrations (tests read the alerts
/// through the API).
pub(crate) const BLACKHOLE: &str =
    "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n";

/// Whether the binary is on the PATH; without it a test fails under `CI` and is skipped, with
/// a notice, otherwise.
pub(crate) fn available() -> bool {
    if Alertmanager::installed() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{BINARY} is not installed (.ci/run installs it with apt-get)"
    );
    eprintln!("skipped: {BINARY} is not installed");
    false
}

/// A running Alertmanager, killed (by its PID) when dropped, also when the test panics.
pub(crate) struct Alertmanager {
    child: Child,
    /// Where it listens (127.0.0.1).
    pub(crate) port: u16,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    fn installed() -> bool {
        Command::new(BINARY)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts it on a free port with `config` (an alertmanager.yml), retrying on a port race.
    pub(crate) async fn start(config: &str) -> Alertmanager {
        let mut last = String::new();
        for _ in 0..3 {
            match Alertmanager::try_start(config).await {
                Ok(am) => return am,
                Err(log) => last = log,
            }
        }
        panic!("alertmanager did not start:\n{last}");
    }

    async fn try_start(config_text: &str) -> Result<Alertmanager, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, config_text).expect("write alertmanager.yml");
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("log file");
        let port = free_port();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn alertmanager");
        let mut am = Alertmanager { child, port, dir };
        let client = http_client();
        let url = format!("http://127.0.0.1:{port}/-/ready");
        let started = Instant::now();
        loop {
            if let Some(status) = am.child.try_wait().expect("poll alertmanager") {
                return Err(format!("exited with {status}:\n{}", am.logs()));
            }
            if let Ok(r) = client.get(&url).send().await
                && r.status() == reqwest::StatusCode::OK
            {
                return Ok(am);
            }
            if started.elapsed() > LIMIT {
                return Err(format!("not ready after {LIMIT:?}:\n{}", am.logs()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// `GET /api/v2/alerts`: the active alerts.
    pub(crate) async fn alerts(&self) -> Vec<serde_json::Value> {
        let url = format!("http://127.0.0.1:{}/api/v2/alerts", self.port);
        let r = http_client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(r.status(), reqwest::StatusCode::OK, "GET {url}");
        r.json::<Vec<serde_json::Value>>()
            .await
            .expect("alerts are a JSON list")
    }

    /// Polls the active alerts until `done` holds for them; returns them.
    pub(crate) async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let started = Instant::now();
        loop {
            let alerts = self.alerts().await;
            if done(&alerts) {
                return alerts;
            }
            assert!(
                started.elapsed() < LIMIT,
                "timed out after {LIMIT:?} waiting for {what}; alerts: {alerts:#?}\nalertmanager log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
