//! Every metric the scrapers can emit, checked against a table copied from the Collector's
//! scraper `documentation.md` files (semantic conventions): name, unit, instrument, attribute
//! keys and, for enumerated attributes, values. A typo in a scraper fails here.

use std::collections::BTreeSet;
use std::path::PathBuf;

use lookout_proto::otlp::metrics::v1::{AggregationTemporality, Metric, metric::Data};

use super::config::{HostMetricsConfig, MetricToggle, MetricToggles};
use super::scrapers::{cpu, disk, filesystem, load, memory, network, paging, process, processes};
use super::test_support::{attr_text, data_points};
use crate::core::otlp_build::Times;
use crate::receivers::hostmetrics::config::Filter;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    MonotonicSum,
    Sum,
    Gauge,
}
use Kind::*;

const ANY: &[&str] = &[];
const CPU_STATES: &[&str] = &[
    "idle",
    "interrupt",
    "nice",
    "softirq",
    "steal",
    "system",
    "user",
    "wait",
];
const MEM_STATES: &[&str] = &[
    "total",
    "buffered",
    "cached",
    "inactive",
    "free",
    "slab_reclaimable",
    "slab_unreclaimable",
    "used",
];
const DISK_DIR: &[&str] = &["read", "write"];
const NET_DIR: &[&str] = &["receive", "transmit"];
const FS_STATES: &[&str] = &["free", "reserved", "used"];
const PAGING_STATES: &[&str] = &["cached", "free", "used"];
const PROC_STATUS: &[&str] = &[
    "blocked", "daemon", "detached", "idle", "locked", "orphan", "paging", "running", "sleeping",
    "stopped", "system", "unknown", "zombies",
];
const PROC_CPU_STATES: &[&str] = &["system", "user", "wait"];

type Spec = (
    &'static str,
    &'static str,
    Kind,
    &'static [(&'static str, &'static [&'static str])],
);

const FS_ATTRS: &[(&str, &[&str])] = &[
    ("device", ANY),
    ("mode", ANY),
    ("mountpoint", ANY),
    ("type", ANY),
    ("state", FS_STATES),
];

const SPEC: &[Spec] = &[
    (
        "system.cpu.time",
        "s",
        MonotonicSum,
        &[("cpu", ANY), ("state", CPU_STATES)],
    ),
    (
        "system.cpu.utilization",
        "1",
        Gauge,
        &[("cpu", ANY), ("state", CPU_STATES)],
    ),
    ("system.cpu.logical.count", "{cpu}", Sum, &[]),
    ("system.cpu.frequency", "Hz", Gauge, &[("cpu", ANY)]),
    ("system.memory.usage", "By", Sum, &[("state", MEM_STATES)]),
    (
        "system.memory.utilization",
        "1",
        Gauge,
        &[("state", MEM_STATES)],
    ),
    ("system.memory.limit", "By", Sum, &[]),
    ("system.cpu.load_average.1m", "{thread}", Gauge, &[]),
    ("system.cpu.load_average.5m", "{thread}", Gauge, &[]),
    ("system.cpu.load_average.15m", "{thread}", Gauge, &[]),
    (
        "system.disk.io",
        "By",
        MonotonicSum,
        &[("device", ANY), ("direction", DISK_DIR)],
    ),
    (
        "system.disk.operations",
        "{operations}",
        MonotonicSum,
        &[("device", ANY), ("direction", DISK_DIR)],
    ),
    ("system.disk.io_time", "s", MonotonicSum, &[("device", ANY)]),
    (
        "system.disk.operation_time",
        "s",
        MonotonicSum,
        &[("device", ANY), ("direction", DISK_DIR)],
    ),
    (
        "system.disk.weighted_io_time",
        "s",
        MonotonicSum,
        &[("device", ANY)],
    ),
    (
        "system.disk.pending_operations",
        "{operations}",
        Sum,
        &[("device", ANY)],
    ),
    (
        "system.disk.merged",
        "{operations}",
        MonotonicSum,
        &[("device", ANY), ("direction", DISK_DIR)],
    ),
    ("system.filesystem.usage", "By", Sum, FS_ATTRS),
    ("system.filesystem.inodes.usage", "{inodes}", Sum, FS_ATTRS),
    (
        "system.filesystem.utilization",
        "1",
        Gauge,
        &[
            ("device", ANY),
            ("mode", ANY),
            ("mountpoint", ANY),
            ("type", ANY),
        ],
    ),
    (
        "system.network.io",
        "By",
        MonotonicSum,
        &[("device", ANY), ("direction", NET_DIR)],
    ),
    (
        "system.network.packets",
        "{packets}",
        MonotonicSum,
        &[("device", ANY), ("direction", NET_DIR)],
    ),
    (
        "system.network.errors",
        "{errors}",
        MonotonicSum,
        &[("device", ANY), ("direction", NET_DIR)],
    ),
    (
        "system.network.dropped",
        "{packets}",
        MonotonicSum,
        &[("device", ANY), ("direction", NET_DIR)],
    ),
    (
        "system.network.connections",
        "{connections}",
        Sum,
        &[("protocol", &["tcp"]), ("state", ANY)],
    ),
    (
        "system.paging.usage",
        "By",
        Sum,
        &[("device", ANY), ("state", PAGING_STATES)],
    ),
    (
        "system.paging.operations",
        "{operations}",
        MonotonicSum,
        &[
            ("direction", &["page_in", "page_out"]),
            ("type", &["major", "minor"]),
        ],
    ),
    (
        "system.paging.faults",
        "{faults}",
        MonotonicSum,
        &[("type", &["major", "minor"])],
    ),
    (
        "system.paging.utilization",
        "1",
        Gauge,
        &[("device", ANY), ("state", PAGING_STATES)],
    ),
    (
        "system.processes.count",
        "{processes}",
        Sum,
        &[("status", PROC_STATUS)],
    ),
    ("system.processes.created", "{processes}", MonotonicSum, &[]),
    (
        "process.cpu.time",
        "s",
        MonotonicSum,
        &[("state", PROC_CPU_STATES)],
    ),
    ("process.memory.usage", "By", Sum, &[]),
    ("process.memory.virtual", "By", Sum, &[]),
    (
        "process.disk.io",
        "By",
        MonotonicSum,
        &[("direction", DISK_DIR)],
    ),
];

/// Resource attributes the Collector's process scraper sets.
const PROCESS_RESOURCE: &[&str] = &[
    "process.pid",
    "process.parent_pid",
    "process.executable.name",
    "process.executable.path",
    "process.command",
    "process.command_line",
    "process.owner",
];

fn check(m: &Metric) {
    let Some((_, unit, kind, attrs)) = SPEC.iter().find(|(n, ..)| *n == m.name) else {
        panic!("{} is not a semantic-convention hostmetrics name", m.name)
    };
    assert_eq!(m.unit, *unit, "unit of {}", m.name);
    let actual = match &m.data {
        Some(Data::Sum(s)) => {
            assert_eq!(
                s.aggregation_temporality,
                AggregationTemporality::Cumulative as i32,
                "{} must be cumulative",
                m.name
            );
            if s.is_monotonic { MonotonicSum } else { Sum }
        }
        Some(Data::Gauge(_)) => Gauge,
        other => panic!("{}: unexpected data {other:?}", m.name),
    };
    assert_eq!(actual, *kind, "instrument of {}", m.name);
    let expected_keys: BTreeSet<&str> = attrs.iter().map(|(k, _)| *k).collect();
    for p in data_points(m) {
        let keys: BTreeSet<&str> = p.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, expected_keys, "attribute keys of {}", m.name);
        for (key, values) in attrs.iter() {
            if !values.is_empty() {
                let v = attr_text(p, key);
                assert!(
                    values.contains(&v.as_str()),
                    "{}: {key}={v:?} not in {values:?}",
                    m.name
                );
            }
        }
        if matches!(kind, MonotonicSum | Sum) {
            assert!(
                p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano,
                "{} start time",
                m.name
            );
        }
    }
}

/// Every scraper's metrics built from fixtures, so each table entry is exercised with points.
fn from_fixtures() -> Vec<Metric> {
    let t = Times {
        start: 1_000,
        now: 1_000_000_000_000,
    };
    let stat = cpu::parse_stat("cpu0 1 2 3 4 5 6 7 8\ncpu1 1 2 3 4 5 6 7 8\n").unwrap();
    let later = cpu::parse_stat("cpu0 2 3 4 5 6 7 8 9\ncpu1 2 3 4 5 6 7 8 9\n").unwrap();
    let mut all = cpu::metrics(&later, Some(&stat), 100.0, t);
    all.push(cpu::frequency_metric(&[1e9, 2e9], t));
    let meminfo =
        memory::parse_meminfo("MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 1 kB\nCached: 5 kB\n")
            .unwrap();
    all.extend(memory::metrics(&meminfo, t));
    all.extend(load::metrics([1.0, 2.0, 3.0], 1.0, t));
    let disks = disk::parse_diskstats("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n").unwrap();
    all.extend(disk::metrics(&disks, &Filter::default(), t));
    let mount = filesystem::parse_mounts("/dev/sda1 / ext4 rw 0 0\n").remove(0);
    all.extend(filesystem::metrics(
        &[(
            mount,
            filesystem::Usage::from_statvfs(4096, 10, 5, 4, 10, 5),
        )],
        t,
    ));
    let ifaces = network::parse_net_dev("lo: 1 2 3 4 0 0 0 0 5 6 7 8 0 0 0 0\n").unwrap();
    all.extend(network::metrics(&ifaces, &[1; 11], &Filter::default(), t));
    let swaps =
        paging::parse_swaps("Filename Type Size Used Priority\n/swap file 100 10 -2\n").unwrap();
    let vmstat = paging::parse_vmstat(
        "pgfault 10\npgmajfault 1\npswpin 1\npswpout 1\npgpgin 1\npgpgout 1\n",
    )
    .unwrap();
    all.extend(paging::metrics(&swaps, &vmstat, t));
    all.extend(processes::metrics(
        &['R', 'S', 'Z', 'D', 'T', 'I', 'W', '?'],
        5,
        t,
    ));
    let info = process::ProcInfo {
        pid: 1,
        stat: process::parse_stat("1 (init) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 10 100 10")
            .unwrap(),
        args: vec!["/sbin/init".into()],
        exe: None,
        io: Some((1, 2)),
    };
    all.extend(process::metrics(&info, 100.0, 4096, t));
    all
}

#[test]
fn every_fixture_metric_matches_the_conventions_and_covers_the_table() {
    let all = from_fixtures();
    for m in &all {
        check(m);
        assert!(
            !data_points(m).is_empty(),
            "{} has no points in the fixture",
            m.name
        );
    }
    for (name, ..) in SPEC {
        assert!(
            all.iter().any(|m| m.name == *name),
            "{name} is never emitted"
        );
    }
    // The scrapers' own lists of known metrics agree with the table too.
    for list in [
        cpu::METRICS,
        memory::METRICS,
        load::METRICS,
        disk::METRICS,
        filesystem::METRICS,
        network::METRICS,
        paging::METRICS,
        processes::METRICS,
        process::METRICS,
    ] {
        for (name, _) in list {
            assert!(
                SPEC.iter().any(|(n, ..)| n == name),
                "{name} is listed by a scraper but not in the table"
            );
        }
    }
}

fn everything_on(list: &[(&str, bool)]) -> MetricToggles {
    list.iter()
        .map(|(n, _)| ((*n).to_owned(), MetricToggle { enabled: true }))
        .collect()
}

/// Every scraper with every metric on, against the live kernel.
pub(super) fn everything_config() -> HostMetricsConfig {
    let yaml = "scrapers: {cpu: , memory: , load: , disk: , filesystem: {include_virtual_filesystems: true}, network: , paging: , processes: , process: }";
    let mut config: HostMetricsConfig = serde_yaml_ng::from_str(yaml).unwrap();
    let s = &mut config.scrapers;
    s.cpu.as_mut().unwrap().metrics = everything_on(cpu::METRICS);
    s.memory.as_mut().unwrap().metrics = everything_on(memory::METRICS);
    s.filesystem.as_mut().unwrap().metrics = everything_on(filesystem::METRICS);
    s.paging.as_mut().unwrap().metrics = everything_on(paging::METRICS);
    config.root_path = PathBuf::from("/");
    config
}

#[test]
fn every_live_metric_matches_the_conventions() {
    let config = everything_config();
    let mut host = super::HostScrape::new(config.root_path.clone(), config.scrapers().unwrap());
    // Twice, so the utilization gauges (which need a previous reading) are present.
    let _ = host.scrape();
    let request = host.scrape();
    let mut names = BTreeSet::new();
    for rm in &request.resource_metrics {
        let resource_keys: Vec<&str> = rm
            .resource
            .as_ref()
            .map(|r| r.attributes.iter().map(|kv| kv.key.as_str()).collect())
            .unwrap_or_default();
        let is_process = resource_keys.contains(&"process.pid");
        for key in &resource_keys {
            if is_process {
                assert!(
                    PROCESS_RESOURCE.contains(key),
                    "process resource attribute {key}"
                );
            } else {
                assert!(
                    ["host.name", "os.type", "host.id"].contains(key),
                    "host resource attribute {key}"
                );
            }
        }
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                check(m);
                names.insert(m.name.clone());
            }
        }
    }
    for expected in [
        "system.cpu.time",
        "system.cpu.utilization",
        "system.memory.usage",
        "system.network.io",
        "process.cpu.time",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from a live scrape: {names:?}"
        );
    }
}

#[test]
fn unknown_metric_names_are_config_errors() {
    let config: HostMetricsConfig =
        serde_yaml_ng::from_str("scrapers: {cpu: {metrics: {system.cpu.tme: {enabled: true}}}}")
            .unwrap();
    let err = config.scrapers().err().unwrap();
    assert!(err.contains("system.cpu.tme"), "{err}");
}
