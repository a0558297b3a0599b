//! The admin listener off loopback: `service.telemetry.metrics.address: 0.0.0.0:<port>` with
//! `auth: {authenticator: basicauth/admin}` answers 401 (with a `Basic` challenge) without
//! credentials or with wrong ones, and 200 with right ones, for the console (`/`), `/metrics`
//! and the `/api/v1/*` routes; Debian's Prometheus scrapes `/metrics` through it with
//! `basic_auth` (and a job without credentials is down). Without `auth` such an address is a
//! config error that says what to do, unless `insecure_no_auth: true`. A config reload turns
//! the listener's auth on and off.

mod support;

use std::path::Path;

use support::prometheus::{self, Prometheus};
use support::{Lookout, http_client, otlp_receiver, service, validate};

/// `admin` / `admin-pw`, as `htpasswd -s` writes it.
const HTPASSWD: &str = "admin:{SHA}wCGkpZJQQ1AJMclU9JNCL4XGWVM=";

fn config(p: &support::Ports, dir: &Path) -> String {
    config_with(
        p,
        dir,
        &format!(
            "      address: 0.0.0.0:{}\n      auth:\n        authenticator: basicauth/admin\n",
            p.metrics
        ),
    )
}

/// The config with `metrics` as the body of `service.telemetry.metrics` (indented by 6).
fn config_with(p: &support::Ports, dir: &Path, metrics: &str) -> String {
    let service = service(
        p,
        "    traces:\n      receivers: [otlp]\n      exporters: [store]\n",
    )
    .replacen(
        &format!("      address: 127.0.0.1:{}\n", p.metrics),
        metrics,
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

/// The status of `GET /metrics` on `port`, with the admin's credentials or without.
async fn metrics_status(port: u16, credentials: bool) -> u16 {
    let request = http_client().get(format!("http://127.0.0.1:{port}/metrics"));
    let request = if credentials {
        request.basic_auth("admin", Some("admin-pw"))
    } else {
        request
    };
    request
        .send()
        .await
        .expect("GET /metrics")
        .status()
        .as_u16()
}

/// Waits (bounded) until `GET /metrics` without credentials answers `want`: the listener a
/// reload replaced closes after the reload's own answer went out.
async fn until_anonymous_gets(port: u16, want: u16) {
    let mut last = 0;
    for _ in 0..100 {
        last = metrics_status(port, false).await;
        if last == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("GET /metrics without credentials kept answering {last}, not {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_turns_the_admin_listeners_auth_on_and_off() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("store");
    let open = |p: &support::Ports| {
        format!(
            "      address: 127.0.0.1:{}\n      enable_lifecycle: true\n",
            p.metrics
        )
    };
    let guarded = |p: &support::Ports| {
        format!(
            "{}      auth: {{authenticator: basicauth/admin}}\n",
            open(p)
        )
    };
    let lookout = Lookout::start(|p| config_with(p, &dir, &open(p))).await;
    let port = lookout.ports.metrics;
    assert_eq!(metrics_status(port, false).await, 200);
    let rewrite = |metrics: String| {
        std::fs::write(
            lookout.dir().join("lookout.yaml"),
            config_with(&lookout.ports, &dir, &metrics),
        )
        .unwrap();
    };
    rewrite(guarded(&lookout.ports));
    let reload = http_client()
        .post(format!("http://127.0.0.1:{port}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status().as_u16(), 200, "{}", lookout.logs());
    until_anonymous_gets(port, 401).await;
    assert_eq!(metrics_status(port, true).await, 200);
    // Off again: the reload itself now needs the credentials.
    rewrite(open(&lookout.ports));
    let url = format!("http://127.0.0.1:{port}/-/reload");
    let refused = http_client().post(&url).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let reload = http_client()
        .post(&url)
        .basic_auth("admin", Some("admin-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status().as_u16(), 200, "{}", lookout.logs());
    until_anonymous_gets(port, 200).await;
    assert!(lookout.stop().await.success());
}
