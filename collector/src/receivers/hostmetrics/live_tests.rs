//! Scrapes of the running kernel, cross-checked against the kernel's own figures read here
//! independently, and one run of the whole receiver into a pipeline queue.

use std::io::{Read, Write};
use std::path::Path;

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::metrics::v1::Metric;
use prost::Message;

use super::config::HostMetricsConfig;
use super::test_support::{attr_text, data_points, int_points, metric, points_by};
use super::{HostScrape, scrapers};
use crate::core::otlp_build::Num;

fn host_metrics(request: &ExportMetricsServiceRequest) -> Vec<Metric> {
    request
        .resource_metrics
        .first()
        .map(|rm| {
            rm.scope_metrics
                .iter()
                .flat_map(|s| s.metrics.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn scraper_for(yaml: &str) -> HostScrape {
    let config: HostMetricsConfig = serde_yaml_ng::from_str(yaml).unwrap();
    HostScrape::new(config.root_path.clone(), config.scrapers().unwrap())
}

fn meminfo_total_bytes() -> i64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
    let kib: i64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn memory_total_matches_meminfo() {
    let mut host =
        scraper_for("scrapers: {memory: {metrics: {system.memory.limit: {enabled: true}}}}");
    let metrics = host_metrics(&host.scrape());
    let total = meminfo_total_bytes();
    let limit = int_points(&metrics, "system.memory.limit", "")[""];
    assert_eq!(limit, total);
    let usage = int_points(&metrics, "system.memory.usage", "state");
    let partition: i64 = ["used", "free", "buffered", "cached"]
        .iter()
        .map(|s| usage[*s])
        .sum();
    let diff = (partition - total).abs() as f64;
    assert!(
        diff <= total as f64 * 0.01,
        "states sum {partition}, MemTotal {total}"
    );
}

#[test]
fn cpu_time_is_monotonic_per_cpu_and_state() {
    let mut host = scraper_for("scrapers: {cpu: }");
    let first = points_by(
        &host_metrics(&host.scrape()),
        "system.cpu.time",
        &["cpu", "state"],
    );
    // Burn some CPU so at least one counter moves.
    let mut x: u64 = 0;
    for i in 0..50_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
    }
    std::hint::black_box(x);
    let second = points_by(
        &host_metrics(&host.scrape()),
        "system.cpu.time",
        &["cpu", "state"],
    );
    assert!(!first.is_empty());
    let mut grew = false;
    for (key, before) in &first {
        let (Num::Double(before), Some(Num::Double(after))) = (before, second.get(key)) else {
            panic!("{key}: missing or not a double");
        };
        assert!(after >= before, "{key} went back: {before} -> {after}");
        grew |= after > before;
    }
    assert!(grew, "no CPU time counter advanced");
}

fn lo_bytes(host: &mut HostScrape) -> (i64, i64) {
    let io = points_by(
        &host_metrics(&host.scrape()),
        "system.network.io",
        &["device", "direction"],
    );
    let get = |k: &str| match io.get(k) {
        Some(Num::Int(v)) => *v,
        other => panic!("lo {k}: {other:?}"),
    };
    (get("lo,receive"), get("lo,transmit"))
}

#[test]
fn loopback_io_grows_by_the_bytes_pushed() {
    let mut host = scraper_for("scrapers: {network: {include: {interfaces: [lo]}}}");
    let (rx0, tx0) = lo_bytes(&mut host);
    const PUSHED: usize = 4 << 20;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        got.len()
    });
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.write_all(&vec![7u8; PUSHED]).unwrap();
    drop(conn);
    assert_eq!(reader.join().unwrap(), PUSHED);
    let (rx1, tx1) = lo_bytes(&mut host);
    assert!(
        rx1 - rx0 >= PUSHED as i64,
        "lo receive grew {} < {PUSHED}",
        rx1 - rx0
    );
    assert!(
        tx1 - tx0 >= PUSHED as i64,
        "lo transmit grew {} < {PUSHED}",
        tx1 - tx0
    );
}

#[test]
fn temp_dir_filesystem_matches_statvfs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    let mut host = scraper_for("scrapers: {filesystem: {include_virtual_filesystems: true}}");
    let metrics = host_metrics(&host.scrape());
    let usage = metric(&metrics, "system.filesystem.usage");
    // The temp dir lives on the mount with the longest mount point that prefixes it.
    let mountpoint = data_points(usage)
        .iter()
        .map(|p| attr_text(p, "mountpoint"))
        .filter(|m| path.starts_with(Path::new(m)))
        .max_by_key(|m| m.len())
        .expect("no mount holds the temp dir");
    let by_state = |name: &str| -> std::collections::HashMap<String, i64> {
        data_points(metric(&metrics, name))
            .iter()
            .filter(|p| attr_text(p, "mountpoint") == mountpoint)
            .map(|p| match super::test_support::value(p) {
                Num::Int(v) => (attr_text(p, "state"), v),
                Num::Double(_) => panic!("{name} must be an int"),
            })
            .collect()
    };
    let bytes = by_state("system.filesystem.usage");
    let inodes = by_state("system.filesystem.inodes.usage");
    let vfs = rustix::fs::statvfs(&path).unwrap();
    let total = (vfs.f_blocks * vfs.f_frsize) as i64;
    assert_eq!(
        bytes["used"] + bytes["free"] + bytes["reserved"],
        total,
        "size of {mountpoint}"
    );
    let free_now = (vfs.f_bavail * vfs.f_frsize) as i64;
    // Other writers share the filesystem: allow 2% drift between the two readings.
    assert!((bytes["free"] - free_now).abs() as f64 <= total as f64 * 0.02);
    if vfs.f_files > 0 {
        assert_eq!(inodes["used"] + inodes["free"], vfs.f_files as i64);
    }
}

#[test]
fn own_process_is_reported_with_its_resource() {
    let exe_name = std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim()
        .to_owned();
    let yaml = format!("scrapers: {{process: {{include: {{names: [{exe_name:?}]}}}}}}");
    let mut host = scraper_for(&yaml);
    let request = host.scrape();
    let me = i64::from(std::process::id());
    let mine = request
        .resource_metrics
        .iter()
        .find(|rm| {
            rm.resource.as_ref().is_some_and(|r| {
                r.attributes
                    .contains(&crate::core::otlp_build::attr_int("process.pid", me))
            })
        })
        .expect("own process not reported");
    let metrics: Vec<Metric> = mine
        .scope_metrics
        .iter()
        .flat_map(|s| s.metrics.clone())
        .collect();
    let rss = int_points(&metrics, "process.memory.usage", "")[""];
    assert!(rss > 0);
    assert!(metrics.iter().any(|m| m.name == "process.cpu.time"));
    let names: Vec<&str> = request
        .resource_metrics
        .iter()
        .flat_map(|rm| rm.resource.iter().flat_map(|r| r.attributes.iter()))
        .filter(|kv| kv.key == "process.executable.name")
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            lookout_proto::otlp::common::v1::any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        names.iter().all(|n| *n == exe_name),
        "filter let through {names:?}"
    );
}

#[test]
fn root_path_reads_another_tree() {
    // A fake root with only a meminfo: the memory scraper must read it, not the host's.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("proc")).unwrap();
    std::fs::write(
        root.path().join("proc/meminfo"),
        "MemTotal: 2048 kB\nMemFree: 1024 kB\n",
    )
    .unwrap();
    let mut host = HostScrape::new(
        root.path().to_path_buf(),
        serde_yaml_ng::from_str::<HostMetricsConfig>("scrapers: {memory: }")
            .unwrap()
            .scrapers()
            .unwrap(),
    );
    let metrics = host_metrics(&host.scrape());
    assert_eq!(
        int_points(&metrics, "system.memory.usage", "state")["free"],
        1024 * 1024
    );
    assert!(scrapers::under(root.path(), "/proc/stat").starts_with(root.path()));
}

#[tokio::test]
async fn receiver_sends_scrapes_into_the_pipeline_and_stops_on_shutdown() {
    use tokio_util::sync::CancellationToken;

    use crate::core::ComponentId;
    use crate::core::{Consumer, Signal};
    use crate::receivers::ReceiverContext;
    use crate::telemetry::Telemetry;

    let config: HostMetricsConfig = serde_yaml_ng::from_str(
        "collection_interval: 50ms\ninitial_delay: 0s\nscrapers: {cpu: , memory: , load: }",
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let shutdown = CancellationToken::new();
    let telemetry = Telemetry::new();
    let ctx = ReceiverContext::new(
        ComponentId::parse("hostmetrics").unwrap(),
        [None, Some(Consumer::new(vec![tx])), None],
        telemetry.clone(),
        shutdown.clone(),
    );
    let tasks = super::start(&config, ctx).await.unwrap();
    let batch = rx.recv().await.expect("a scrape");
    assert_eq!(batch.signal, Signal::Metrics);
    let request = ExportMetricsServiceRequest::decode(batch.payload.clone()).unwrap();
    let resource = request.resource_metrics[0].resource.as_ref().unwrap();
    let keys: Vec<&str> = resource
        .attributes
        .iter()
        .map(|kv| kv.key.as_str())
        .collect();
    assert!(
        keys.contains(&"host.name") && keys.contains(&"os.type"),
        "{keys:?}"
    );
    let metrics = host_metrics(&request);
    for name in [
        "system.cpu.time",
        "system.memory.usage",
        "system.cpu.load_average.1m",
    ] {
        assert!(metrics.iter().any(|m| m.name == name), "{name} missing");
    }
    assert!(batch.items > 0);
    let rendered = telemetry.render();
    assert!(
        rendered.contains("hostmetrics"),
        "self-metrics name the receiver"
    );
    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    // The task dropped its consumer: the queue closes once drained.
    while rx.recv().await.is_some() {}
}
