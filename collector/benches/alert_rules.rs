//! CPU per point of the `alert_rules` processor with the default rule set, on requests shaped
//! like `hostmetrics` scrapes (8 CPUs, every default-on metric plus the utilisation gauges).
//!
//! `cargo bench -p lookout-collector --bench alert_rules -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout_collector::bench::{AlertRules, hostmetrics_request};

fn alert_rules(c: &mut Criterion) {
    // 50 hosts, so the rules track a realistic number of series.
    let requests: Vec<(Vec<u8>, usize)> = (0..50)
        .map(|h| hostmetrics_request(&format!("host-{h}"), 8))
        .collect();
    let points = requests[0].1;
    let mut g = c.benchmark_group("alert_rules");
    g.throughput(Throughput::Elements(points as u64));
    let mut rules = AlertRules::with_default_rules();
    let mut i = 0;
    g.bench_function(
        format!("observe_hostmetrics_request_{points}_points"),
        |b| {
            b.iter(|| {
                i = (i + 1) % requests.len();
                rules.observe(black_box(&requests[i].0));
            })
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
