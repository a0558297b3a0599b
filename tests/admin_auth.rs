//! The admin listener off loopback: `service.telemetry.metrics.address: 0.0.0.0:<port>` with
//! `auth: {authenticator: basicauth/admin}` answers 401 (with a `Basic` challenge) without
//! credentials or with wrong ones, and 200 with right ones, for the console (`/`), `/metrics`
//! and the `/api/v1/*` routes; Debian's Prometheus scrapes `/metrics` through it with
//! `basic_auth` (and a job without credentials is down). Without `auth` such an address is a
//! config error that says what to do, unless `insecure_no_auth: true`.

mod support;

use std::path::Path;

use support::prometheus::{self, Prometheus};
use support::{Lookout, http_client, otlp_receiver, service, validate};

/// `admin` / `admin-pw`, as `htpasswd -s` writes it.
const HTPASSWD: &str = "admin:{SHA}wCGkpZJQQ1AJMclU9JNCL4XGWVM=";

fn config(p: &support::Ports, dir: &Path) -> String {
    let service = service(
        p,
        "    traces:\n      receivers: [otlp]\n      exporters: [store]\n",
    )
    .replacen(
        &format!("      address: 127.0.0.1:{}\n", p.metrics),
        &format!(
            "      address: 0.0.0.0:{}\n      auth:\n        authenticator: basicauth/admin\n",
            p.metrics
        ),
        1,
    )
    .replacen(
        "\nservice:\n",
        &format!(
            "\n  basicauth/admin:\n    htpasswd:\n      inline: |\n        {HTPASSWD}\nservice:\n"
        ),
        1,
    )
    .replacen(
        "  extensions: [health_check]",
        "  extensions: [health_check, basicauth/admin]",
        1,
    );
    format!(
        "{}exporters:\n  store:\n    directory: {}\n{service}",
        otlp_receiver(p, "", ""),
        dir.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_every_admin_route_needs_credentials() {
    let data = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(|p| config(p, &data.path().join("store"))).await;
    let client = http_client();
    let paths = [
        "/",
        "/metrics",
        "/api/v1/services/red",
        "/api/v1/history/episodes",
        "/api/v1/traces",
        "/api/services",
    ];
    for path in paths {
        let url = format!("http://127.0.0.1:{}{path}", lookout.ports.metrics);
        let none = client.get(&url).send().await.unwrap();
        assert_eq!(none.status().as_u16(), 401, "{path} without credentials");
        assert_eq!(
            none.headers()["www-authenticate"].to_str().unwrap(),
            r#"Basic realm="lookout""#,
            "{path}"
        );
        let wrong = client
            .get(&url)
            .basic_auth("admin", Some("nope"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "{path} with a wrong password");
        let right = client
            .get(&url)
            .basic_auth("admin", Some("admin-pw"))
            .send()
            .await
            .unwrap();
        assert_eq!(right.status().as_u16(), 200, "{path} with credentials");
        if path == "/metrics" {
            let text = right.text().await.unwrap();
            assert!(text.contains("lookout_store_bytes"), "{text}");
        }
    }

    // Prometheus scrapes it with basic_auth; a job without credentials is down.
    if !prometheus::installed() {
        eprintln!("prometheus is not installed: the scrape through basic auth is not checked");
        return;
    }
    let port = lookout.ports.metrics;
    let scrapes = format!(
        "  - job_name: with_auth\n    basic_auth: {{username: admin, password: admin-pw}}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n  - job_name: without_auth\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    );
    let prometheus = Prometheus::start_scraping(&scrapes, &[]).await;
    let up = prometheus.wait_for("up{job=\"with_auth\"} == 1", 1).await;
    assert_eq!(up[0].1, 1.0);
    let stored = prometheus
        .wait_for(
            "lookout_store_segments{job=\"with_auth\",signal=\"traces\"}",
            1,
        )
        .await;
    assert_eq!(stored[0].0["exporter"], "store");
    let down = prometheus
        .wait_for("up{job=\"without_auth\"} == 0", 1)
        .await;
    assert_eq!(down[0].1, 0.0);
    assert!(lookout.stop().await.success());
}

#[test]
fn off_loopback_without_auth_is_a_config_error_unless_opted_out() {
    let config = |metrics: &str| {
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\nexporters:\n  debug:\nservice:\n  telemetry:\n    metrics:\n{metrics}  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n"
        )
    };
    let (_dir, _path, output) = validate(&config("      address: 0.0.0.0:8888\n"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    for words in [
        "service.telemetry.metrics.address",
        "needs authentication",
        "auth: {authenticator: basicauth/<name>}",
        "insecure_no_auth: true",
    ] {
        assert!(stderr.contains(words), "{words:?} in {stderr}");
    }
    let (_dir, _path, output) = validate(&config(
        "      address: 0.0.0.0:8888\n      insecure_no_auth: true\n",
    ));
    assert!(output.status.success(), "{output:?}");
    let (_dir, _path, output) = validate(&config("      address: '[::1]:8888'\n"));
    assert!(
        output.status.success(),
        "loopback needs no auth: {output:?}"
    );
    let (_dir, _path, output) = validate(&config(
        "      address: 0.0.0.0:8888\n      auth: {authenticator: basicauth/admin}\n",
    ));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("auth.authenticator: extension basicauth/admin is not defined"),
        "{stderr}"
    );
}
