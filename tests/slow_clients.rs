//! Slow uploads cannot hold the memory budget (a slowloris on the body): three raw HTTP/1.1
//! clients announce 10 MiB bodies and then send a few bytes a second. Their announced sizes
//! reserve 30 of the 32 MiB the `memory_limiter` admits, so a normal 4 MiB export is refused
//! (503, retryable) while they hold it. `read_timeout` cuts each slow upload off with 408 and
//! releases its reservation; the same 4 MiB export then goes through, and every span of it
//! reaches the destination.
//!
//! Idle connections are bounded too: with `max_connections: 40`, of 100 connections that
//! open HTTP/2 (gRPC) or HTTP/1.1 and then send nothing, exactly 60 are closed by the server
//! at once, and `idle_timeout: 2s` closes the other 40; clients are then served again.

mod support;

use std::time::{Duration, Instant};

use support::sink::Sink;
use support::{Lookout, encode, http_client, otlp_receiver, service, trace_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_TIMEOUT: Duration = Duration::from_secs(2);
const SLOW_CLIENTS: usize = 3;
const ANNOUNCED: usize = 10 << 20;

/// Opens a connection, sends headers announcing `ANNOUNCED` bytes, then 16 bytes every 100 ms
/// until the server answers; returns the status line and when it came.
async fn slow_upload(port: u16) -> (String, Instant) {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: {ANNOUNCED}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("headers");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let started = Instant::now();
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(2).any(|w| w == b"\r\n") {
                        break;
                    }
                }
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                // A write may fail once the server has answered and closed: then read the answer.
                let _ = stream.write_all(&[0x0a; 16]).await;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no answer to a slow upload in 30 s"
        );
    }
    let line = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    (line, Instant::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_are_cut_off_and_release_the_memory_they_reserved() {
    let sink = Sink::start().await;
    let sink_port = sink.port;
    let lookout = Lookout::start(|p| {
        format!(
            "{}processors:\n  memory_limiter:\n    check_interval: 100ms\n    limit_mib: 48\n    spike_limit_mib: 16\n\
             exporters:\n  otlp:\n    endpoint: 127.0.0.1:{sink_port}\n    tls:\n      insecure: true\n{}",
            otlp_receiver(
                p,
                "",
                &format!("        read_timeout: {}s\n", READ_TIMEOUT.as_secs())
            ),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      processors: [memory_limiter]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;
    let port = lookout.ports.http;

    let started = Instant::now();
    let slow: Vec<_> = (0..SLOW_CLIENTS)
        .map(|_| tokio::spawn(slow_upload(port)))
        .collect();
    // Let them connect and reserve.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let request = trace_request("after-slowloris", 400, 10_000);
    let body = encode(&request);
    assert!(body.len() > 3 << 20, "{} bytes", body.len());
    let client = http_client();
    let post = || {
        client
            .post(lookout.http_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send()
    };
    let held = post()
        .await
        .expect("export while the slow clients hold the budget");
    assert_eq!(
        held.status(),
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "the slow clients' reservations should fill the budget"
    );
    assert!(held.headers().contains_key("retry-after"));

    for task in slow {
        let (line, at) = task.await.expect("slow client");
        assert!(line.contains(" 408 "), "slow upload answered {line:?}");
        let after = at - started;
        assert!(
            after >= READ_TIMEOUT && after < READ_TIMEOUT * 4,
            "cut off after {after:?}, read_timeout {READ_TIMEOUT:?}"
        );
    }

    let response = post().await.expect("export after the cut");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    support::wait_until(
        "the export's spans at the sink",
        Duration::from_secs(20),
        || sink.span_count() >= 400,
    )
    .await;
    assert_eq!(sink.span_count(), 400);
}

/// Whether the server closed `stream` (EOF or reset) within `wait`.
async fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // HTTP/2 SETTINGS and the like: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_max_connections_are_closed_and_others_are_served() {
    const MAX: usize = 40;
    const OPENED: usize = 100;
    let sink = Sink::start().await;
    let sink_port = sink.port;
    let lookout = Lookout::start(|p| {
        format!(
            "{}exporters:\n  otlp:\n    endpoint: 127.0.0.1:{sink_port}\n    tls:\n      insecure: true\n{}",
            otlp_receiver(
                p,
                &format!("        max_connections: {MAX}\n        idle_timeout: 2s\n"),
                &format!("        max_connections: {MAX}\n        idle_timeout: 2s\n")
            ),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;
    for (what, port, hello) in [
        (
            "gRPC",
            lookout.ports.grpc,
            // The HTTP/2 preface and an empty SETTINGS frame, then nothing.
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"[..],
        ),
        ("HTTP", lookout.ports.http, &b""[..]),
    ] {
        let mut idle = Vec::new();
        for _ in 0..OPENED {
            let mut s = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            s.write_all(hello).await.expect("hello");
            idle.push(s);
        }
        // All at once, well within idle_timeout.
        let closed = futures::future::join_all(
            idle.iter_mut()
                .map(|s| closed_by_server(s, Duration::from_millis(500))),
        )
        .await
        .into_iter()
        .filter(|&c| c)
        .count();
        assert_eq!(
            closed,
            OPENED - MAX,
            "{what}: {closed} of {OPENED} idle connections closed with max_connections {MAX}"
        );
        // Those held count against the limit until idle_timeout closes them.
        let closed_idle = futures::future::join_all(
            idle.iter_mut()
                .map(|s| closed_by_server(s, Duration::from_secs(8))),
        )
        .await
        .into_iter()
        .filter(|&c| c)
        .count();
        assert_eq!(
            closed_idle, OPENED,
            "{what}: {closed_idle} of the {MAX} held idle connections closed by idle_timeout"
        );
    }
    let body = encode(&trace_request("after-idle", 10, 0));
    let response = http_client()
        .post(lookout.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("export once idle_timeout closed the idle connections");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(
        lookout.logs().contains("connection limit reached"),
        "{}",
        lookout.logs()
    );
}
