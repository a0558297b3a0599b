//! CPU per point of the `alert_rules` processor with the default rule set, on requests shaped
//! like `hostmetrics` scrapes (8 CPUs, every default-on metric plus the utilisation gauges), each a new scrape.
//!
//! `cargo bench -p lookout-collector --bench alert_rules -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lookout_collector::bench::{AlertRules, hostmetrics_request};

fn alert_rules(c: &mut Criterion) {
    // 50 hosts, so the rules track a realistic number of series; every request is a new
    // scrape (later timestamps), built outside the measured time.
    const HOSTS: u64 = 50;
    let points = hostmetrics_request("host-0", 8, 0).1;
    let mut g = c.benchmark_group("alert_rules");
    g.throughput(Throughput::Elements(points as u64));
    let mut rules = AlertRules::with_default_rules();
    let mut i: u64 = 0;
    g.bench_function(
        format!("observe_hostmetrics_request_{points}_points"),
        |b| {
            b.iter_batched(
                || {
                    i += 1;
                    hostmetrics_request(&format!("host-{}", i % HOSTS), 8, i / HOSTS).0
                },
                |req| rules.observe(black_box(&req)),
                BatchSize::SmallInput,
            )
        },
    );
    g.throughput(Throughput::Elements(1));
    g.bench_function("evaluate_default_rules_50_hosts", |b| {
        b.iter(|| rules.evaluate())
    });
    g.finish();
}

criterion_group!(benches, alert_rules);
criterion_main!(benches);
