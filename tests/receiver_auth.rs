//! Receiver authentication: `bearertokenauth` and `basicauth` extensions named by the OTLP
//! receiver's `auth: authenticator:`. Right credentials get in over gRPC and HTTP (the Python
//! SDK's exporters with OTEL_EXPORTER_OTLP_HEADERS, and hand-made requests); wrong or missing
//! ones get 401 with `WWW-Authenticate` / UNAUTHENTICATED, before the body is read; secrets
//! appear neither in the log nor in `lookout validate`'s output.
//!
//! Needs `LOOKOUT_PYTHON` (set by `.ci/run`); fails without it.

mod support;

use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use support::{
    GRPC_TRACES, Lookout, Ports, encode, grpc_call_on, grpc_frame, otlp_receiver, run_send_py,
    service, trace_request, validate,
};

const TOKEN: &str = "0pen-sesame-7f3c9a";

/// The receiver on both protocols with `auth: {authenticator: <id>}`, the extension `id`
/// defined by `body` (indented by 4) and enabled.
fn config(p: &Ports, id: &str, body: &str) -> String {
    let auth = format!("        auth:\n          authenticator: {id}\n");
    let service = service(
        p,
        "    traces:\n      receivers: [otlp]\n      exporters: [debug]\n",
    )
    .replace(
        "extensions:\n  health_check:",
        &format!("extensions:\n  {id}:\n{body}  health_check:"),
    )
    .replace(
        "extensions: [health_check]",
        &format!("extensions: [health_check, {id}]"),
    );
    format!(
        "{}exporters:\n  debug:\n{service}",
        otlp_receiver(p, &auth, &auth)
    )
}

/// An OTLP/gRPC export with `authorization` (if any): the gRPC code.
async fn grpc_export(port: u16, authorization: Option<&str>) -> tonic::Code {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut headers = vec![("content-type", "application/grpc")];
    headers.extend(authorization.map(|a| ("authorization", a)));
    let body = grpc_frame(&encode(&trace_request("auth", 1, 0)), false);
    grpc_call_on(tcp, GRPC_TRACES, &headers, body)
        .await
        .expect("gRPC call")
        .code()
}

/// An OTLP/HTTP export with `authorization` (if any): status and `WWW-Authenticate`.
async fn http_export(port: u16, authorization: Option<&str>) -> (u16, Option<String>) {
    let mut request = support::http_client()
        .post(format!("http://127.0.0.1:{port}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(encode(&trace_request("auth", 1, 0)));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.expect("HTTP request");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ASCII").to_owned());
    (response.status().as_u16(), challenge)
}

/// Sends only the headers of a request announcing a 100 MB body and returns the first line
/// of the answer: a refusal that comes without the body proves it was not waited for.
async fn answer_without_body(port: u16) -> String {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    tcp.write_all(
        b"POST /v1/traces HTTP/1.1\r\nhost: lookout\r\ncontent-type: application/x-protobuf\r\n\
          content-length: 100000000\r\nauthorization: Bearer wrong\r\n\r\n",
    )
    .await
    .expect("send headers");
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut answer))
        .await
        .expect("an answer before the body was sent")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    answer.lines().next().unwrap_or_default().to_owned()
}

/// Right credentials in over both protocols (hand-made and the SDK's), wrong and missing
/// ones refused.
async fn check(lookout: &Lookout, right: &str, wrong: &str, challenge: &str) {
    let ports = lookout.ports;
    assert_eq!(grpc_export(ports.grpc, Some(right)).await, tonic::Code::Ok);
    assert_eq!(http_export(ports.http, Some(right)).await, (200, None));
    for authorization in [Some(wrong), None] {
        assert_eq!(
            grpc_export(ports.grpc, authorization).await,
            tonic::Code::Unauthenticated,
            "gRPC with {authorization:?}"
        );
        assert_eq!(
            http_export(ports.http, authorization).await,
            (401, Some(challenge.to_owned())),
            "HTTP with {authorization:?}"
        );
    }
    let headers = format!("authorization={}", right.replace(' ', "%20"));
    let env = [("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str())];
    run_send_py(
        "grpc",
        &format!("127.0.0.1:{}", ports.grpc),
        "traces",
        lookout,
        &env,
    )
    .await;
    run_send_py(
        "http",
        &format!("http://127.0.0.1:{}", ports.http),
        "traces",
        lookout,
        &env,
    )
    .await;
}

#[tokio::test]
async fn bearer_token() {
    let lookout =
        Lookout::start(|p| config(p, "bearertokenauth", &format!("    token: {TOKEN}\n"))).await;
    check(
        &lookout,
        &format!("Bearer {TOKEN}"),
        "Bearer guess",
        "Bearer",
    )
    .await;
    assert_eq!(
        answer_without_body(lookout.ports.http).await,
        "HTTP/1.1 401 Unauthorized"
    );
    let log = lookout.stop_ok().await;
    assert!(!log.contains(TOKEN), "the token is in the log:\n{log}");
}

#[tokio::test]
async fn basic_auth_with_bcrypt_and_sha() {
    let hash = bcrypt::hash("correct horse", 4).expect("bcrypt");
    // `htpasswd -nbs bob battery`
    let sha = "{SHA}PzxYrkK5tCKJf/wXUBSipPzxbXs=";
    let body = format!("    htpasswd:\n      inline: |\n        alice:{hash}\n        bob:{sha}\n");
    let lookout = Lookout::start(|p| config(p, "basicauth", &body)).await;
    let basic = |credentials: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    };
    let challenge = "Basic realm=\"lookout\"";
    check(
        &lookout,
        &basic("alice:correct horse"),
        &basic("alice:battery"),
        challenge,
    )
    .await;
    check(
        &lookout,
        &basic("bob:battery"),
        &basic("bob:correct horse"),
        challenge,
    )
    .await;
    lookout.stop_ok().await;
}

#[test]
fn validate_checks_the_authenticator_and_shows_no_secret() {
    let ports = Ports {
        grpc: 4317,
        http: 4318,
        health: 13133,
        metrics: 8888,
    };
    let good = config(&ports, "bearertokenauth", &format!("    token: {TOKEN}\n"));
    let (_dir, _path, output) = validate(&good);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{shown}");
    assert!(!shown.contains(TOKEN), "validate shows the token: {shown}");

    let unknown = good.replace(
        "authenticator: bearertokenauth",
        "authenticator: bearertokenauth/other",
    );
    let (_dir, _path, output) = validate(&unknown);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "validate accepted it: {stderr}");
    assert!(
        stderr.contains("auth.authenticator: extension bearertokenauth/other is not defined"),
        "{stderr}"
    );
}
