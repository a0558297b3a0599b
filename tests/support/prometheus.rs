//! Debian's `prometheus` as a test peer: started on a free port with a config the test
//! writes, queried through its HTTP API, killed (by its PID) when dropped.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, http_client};

/// How long Prometheus may take to show what was sent.
pub(crate) const LIMIT: Duration = Duration::from_secs(60);

/// A running Prometheus, killed (by its PID) when dropped, also when a test panics.
pub(crate) struct Prometheus {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Writes a config scraping `targets` (job name, port) every second with `honor_labels`
    /// (the exporter's `job`/`instance` are the sending service's, as the Collector's docs
    /// advise), starts Prometheus on a free port with the extra command-line `flags` (e.g.
    /// `--web.enable-remote-write-receiver`) and waits until it is ready.
    pub(crate) async fn start(targets: &[(&str, u16)], flags: &[&str]) -> Prometheus {
        let scrapes: String = targets
            .iter()
            .map(|(job, port)| {
                format!(
                    "  - job_name: {job}\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
                )
            })
            .collect();
        Prometheus::start_scraping(&scrapes, flags).await
    }

    /// [`Prometheus::start`] with `scrapes` as the items of its `scrape_configs:` list (YAML,
    /// each item indented by 2 spaces; empty: none), e.g. with `basic_auth`.
    pub(crate) async fn start_scraping(scrapes: &str, flags: &[&str]) -> Prometheus {
        let mut last = String::new();
        for _ in 0..3 {
            match Prometheus::try_start(scrapes, flags).await {
                Ok(prometheus) => return prometheus,
                Err(log) => last = log,
            }
        }
        panic!("prometheus did not start:\n{last}");
    }

    async fn try_start(scrapes: &str, flags: &[&str]) -> Result<Prometheus, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let scrapes = if scrapes.is_empty() {
            " []\n".to_string()
        } else {
            format!("\n{scrapes}")
        };
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:{scrapes}"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let mut prometheus = Prometheus { child, port, dir };
        let client = http_client();
        let url = format!("http://127.0.0.1:{port}/-/ready");
        let started = Instant::now();
        loop {
            if let Some(status) = prometheus.child.try_wait().expect("poll prometheus") {
                return Err(format!("exited with {status}:\n{}", prometheus.logs()));
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                return Ok(prometheus);
            }
            if started.elapsed() > LIMIT {
                return Err(format!("not ready after {LIMIT:?}:\n{}", prometheus.logs()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The port its HTTP API (and remote-write receiver) listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Its log (stderr).
    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `GET /api/v1/query?query=...`: every series of the instant vector with its value.
    pub(crate) async fn query(&self, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let response = http_client()
            .get(&url)
            .query(&[("query", promql)])
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}?query={promql}: {err}"));
        let body: serde_json::Value = response.json().await.expect("query answer is JSON");
        assert_eq!(body["status"], "success", "query {promql}: {body}");
        body["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("query {promql}: no result list in {body}"))
            .iter()
            .map(|series| {
                let labels = series["metric"]
                    .as_object()
                    .expect("metric labels")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                let value = series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("query {promql}: bad value in {series}"));
                (labels, value)
            })
            .collect()
    }

    /// Polls `promql` (bounded by [`LIMIT`]) until it returns exactly `want` series, and
    /// returns them.
    pub(crate) async fn wait_for(
        &self,
        promql: &str,
        want: usize,
    ) -> Vec<(BTreeMap<String, String>, f64)> {
        let started = Instant::now();
        loop {
            let result = self.query(promql).await;
            if result.len() == want {
                return result;
            }
            assert!(
                started.elapsed() < LIMIT,
                "{promql}: {} series after {LIMIT:?}, want {want}: {result:?}\nprometheus log:\n{}",
                result.len(),
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the `prometheus` binary can be run.
pub(crate) fn installed() -> bool {
    Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
