//! The load balancer's settings, health rules and backend set (routing and the ring have
//! their own tests beside them; whole-process behaviour is in tests/loadbalancing.rs).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::config::{LoadBalancingConfig, RoutingKey};
use super::health::Health;
use super::*;
use crate::component::Validate;
use crate::telemetry::Telemetry;

#[test]
fn testdata_config_loads() {
    let text = include_str!("testdata/config.yaml");
    crate::config::Config::parse("testdata/config.yaml", text).unwrap();
}

fn parse(yaml: &str) -> Result<LoadBalancingConfig, String> {
    let config: LoadBalancingConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
    config.validate().map(|()| config)
}

#[test]
fn settings_are_checked() {
    let ok = parse("resolver: {static: {hostnames: ['a:4317']}}").unwrap();
    assert_eq!(ok.routing_key, RoutingKey::TraceId);
    assert_eq!(ok.backend_down_after, Duration::from_secs(30));
    assert_eq!(
        parse("routing_key: service\nresolver: {dns: {hostname: localhost}}")
            .unwrap()
            .routing_key,
        RoutingKey::Service
    );
    for (yaml, expected) in [
        ("{}", "exactly one of static"),
        (
            "resolver: {static: {hostnames: []}}",
            "at least one backend",
        ),
        (
            "resolver: {static: {hostnames: [a:1]}, dns: {hostname: b}}",
            "exactly one of static",
        ),
        (
            "resolver: {static: {hostnames: [nohost]}}",
            "expected host:port",
        ),
        (
            "protocol: {otlp: {endpoint: 'a:1'}}\nresolver: {static: {hostnames: [a:1]}}",
            "resolver gives the endpoints",
        ),
        (
            "backend_down_after: 0s\nresolver: {static: {hostnames: [a:1]}}",
            "backend_down_after",
        ),
        (
            "routing_key: spanID\nresolver: {static: {hostnames: [a:1]}}",
            "unknown variant",
        ),
    ] {
        let err = parse(yaml).unwrap_err();
        assert!(err.contains(expected), "{yaml}: {err}");
    }
}

#[test]
fn a_failure_streak_as_long_as_backend_down_after_takes_a_backend_off_and_a_success_brings_it_back()
{
    let telemetry = Telemetry::new();
    let generation = Arc::new(AtomicU64::new(0));
    let down_total = telemetry.counter("t_down", "test", vec![]);
    let health = Health::new(
        "a:4317".into(),
        Duration::from_millis(50),
        Arc::clone(&generation),
        down_total.clone(),
    );
    assert!(!health.failed(), "one failure is not a streak");
    health.succeeded();
    assert!(!health.failed());
    std::thread::sleep(Duration::from_millis(60));
    health.check_streak();
    assert!(health.is_down());
    assert!(health.failed(), "stays down");
    assert_eq!(down_total.get(), 1, "counted once");
    let g = generation.load(std::sync::atomic::Ordering::SeqCst);
    health.succeeded();
    assert!(!health.is_down());
    assert!(
        generation.load(std::sync::atomic::Ordering::SeqCst) > g,
        "ring rebuilt"
    );
}

#[tokio::test]
async fn the_ring_leaves_out_backends_that_are_down_and_keeps_the_others_keys() {
    let telemetry = Telemetry::new();
    let config =
        parse("resolver: {static: {hostnames: ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3']}}")
            .unwrap();
    let backends = Backends::new(
        "lb".into(),
        config,
        telemetry.clone(),
        CancellationToken::new(),
    );
    backends.set(vec![
        "127.0.0.1:3".into(),
        "127.0.0.1:1".into(),
        "127.0.0.1:2".into(),
    ]);
    let before = backends.members();
    assert_eq!(before.list.len(), 3);
    let keys: Vec<u64> = (0..3000u64).map(|k| ring::hash(&k.to_le_bytes())).collect();
    let owner = |m: &backends::Members, k: u64| m.list[m.ring.member(k).unwrap()].endpoint.clone();
    // One failure is not a streak: still on the ring.
    let _ = before.list[1].health.failed();
    assert_eq!(
        backends.members().ring.member(keys[0]),
        before.ring.member(keys[0])
    );
    let rendered = telemetry.render();
    assert!(
        rendered.contains(r#"lookout_loadbalancer_backends{exporter="lb",state="up"} 3"#),
        "{rendered}"
    );
    // Same endpoints again: nothing changes, the backends (and their queues) are kept.
    backends.set(vec![
        "127.0.0.1:1".into(),
        "127.0.0.1:2".into(),
        "127.0.0.1:3".into(),
    ]);
    assert!(Arc::ptr_eq(&backends.members().list[0], &before.list[0]));
    // A fourth: only keys moving to it move.
    backends.set(vec![
        "127.0.0.1:1".into(),
        "127.0.0.1:2".into(),
        "127.0.0.1:3".into(),
        "127.0.0.1:4".into(),
    ]);
    let after = backends.members();
    assert!(
        Arc::ptr_eq(&after.list[0], &before.list[0]),
        "kept with its queue"
    );
    for k in &keys {
        let (a, b) = (owner(&before, *k), owner(&after, *k));
        assert!(a == b || b == "127.0.0.1:4");
    }
}
