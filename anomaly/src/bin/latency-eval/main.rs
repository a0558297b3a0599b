//! `latency-eval`: the evaluation harness of `lookout-anomaly`.
//!
//! Generates seeded synthetic traces with labelled injections, runs Lookout's
//! detector and the baselines over the same stream, and prints Markdown
//! tables (mean ± sd over seeds, [min, max]) plus hot-path timings.

mod baselines;
mod metrics;
mod perf;
mod rng;
mod synth;
mod tail_diag;

use std::collections::BTreeMap;
use std::time::Instant;

use clap::Parser;
use lookout_anomaly::{Detector, DetectorConfig};

use crate::baselines::{Ewma, Lookout, OracleClean, Scorer, SketchP99, StaticThreshold};
use crate::metrics::Row;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Evaluate lookout-anomaly against baselines on synthetic traces")]
struct Args {
    /// Number of seeds (worlds) to evaluate.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Simulated hours per seed (the load curve has a 24 h period).
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// Target spans per seed.
    #[arg(long, default_value_t = 2_000_000.0)]
    spans: f64,
    /// Timed spans per key-count in the hot-path measurement (0 = skip).
    #[arg(long, default_value_t = 2_000_000)]
    perf_spans: usize,
    /// Optional detector config (JSON) overriding the defaults.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Reference, not a detector: Lookout scores every span as usual, but
    /// the spans the generator labels as injected contamination do not
    /// update their key's baseline (see `OracleClean`). Without a value,
    /// `bursts`; `LX_ORACLE_CLEAN=1` does the same.
    #[arg(
        long,
        env = "LX_ORACLE_CLEAN",
        value_enum,
        num_args = 0..=1,
        default_missing_value = "bursts"
    )]
    oracle_clean: Option<OracleClean>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let cfg = match &args.config {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        None => DetectorConfig::default(),
    };
    cfg.validate()?;
    if let Some(o) = args.oracle_clean {
        eprintln!("oracle-clean learning: {o:?} (a reference, not the detector)");
    }
    let started = Instant::now();
    let mut names: Vec<&'static str> = Vec::new();
    // detector -> metric -> per-seed values
    let mut all: Vec<BTreeMap<String, Vec<f64>>> = Vec::new();
    // detector -> episode group -> per-episode delays, all seeds
    let mut pooled: Vec<metrics::Delays> = Vec::new();
    let mut world_info = Vec::new();
    let mut diag = tail_diag::Diag::new();
    for seed in args.first_seed..args.first_seed + args.seeds {
        let w = synth::World::new(seed, args.hours, args.spans);
        let spans = w.generate(seed);
        let keys: std::collections::HashSet<u64> = spans.iter().map(|s| s.key).collect();
        world_info.push(format!(
            "seed {seed}: {} services, {} operations, {} keys, {} spans, {} injections",
            w.n_services,
            w.ops.len(),
            keys.len(),
            spans.len(),
            w.injections.len()
        ));
        eprintln!(
            "{} ({:.1}s)",
            world_info.last().map_or("", |s| s),
            started.elapsed().as_secs_f64()
        );
        let mut scorers: Vec<Box<dyn Scorer>> = vec![
            Box::new(Lookout::new(
                cfg.clone(),
                args.oracle_clean.map(|o| o.unlearned(&w, &spans)),
            )),
            Box::new(StaticThreshold),
            Box::new(Ewma {
                log_space: false,
                half_life_s: 7200.0,
                k_sigma: 3.0,
            }),
            Box::new(Ewma {
                log_space: true,
                half_life_s: 7200.0,
                k_sigma: 3.0,
            }),
            Box::new(SketchP99 { k: 2.0 }),
        ];
        if all.is_empty() {
            names = scorers.iter().map(|s| s.name()).collect();
            all = names.iter().map(|_| BTreeMap::new()).collect();
            pooled = names.iter().map(|_| BTreeMap::new()).collect();
        }
        for (i, sc) in scorers.iter_mut().enumerate() {
            let tags = sc.run(&spans);
            let (row, delays): (Row, _) = metrics::score(&w, &spans, &tags, &cfg);
            if i == 0 {
                tail_diag::tail_events(&w, &spans, &tags, &mut diag);
                tail_diag::steady_fp_split(&w, &spans, &tags);
            }
            for (k, v) in row {
                all[i].entry(k).or_default().push(v);
            }
            for (k, v) in delays {
                pooled[i].entry(k).or_default().extend(v);
            }
        }
    }

    println!(
        "## Accuracy ({} seeds, {} simulated hours each, mean ± sd [min, max] over seeds)\n",
        args.seeds, args.hours
    );
    for l in &world_info {
        println!("- {l}");
    }
    println!();
    print!("| metric |");
    for n in &names {
        print!(" {n} |");
    }
    println!();
    print!("|---|");
    for _ in &names {
        print!("---|");
    }
    println!();
    let metrics: Vec<String> = all[0].keys().cloned().collect();
    for m in &metrics {
        print!("| {m} |");
        for det in &all {
            let v: Vec<f64> = det
                .get(m)
                .map(|v| v.iter().copied().filter(|x| x.is_finite()).collect())
                .unwrap_or_default();
            print!(" {} |", fmt_stat(m, &v));
        }
        println!();
    }

    println!(
        "\n## Shift and ramp detection delay, episodes of all seeds pooled\n\n\
         Delay in spans of the injected key: median [90th percentile] over the detected episodes, \
         detected / all. Lookout beside the clairvoyant CUSUM (true baseline, σ and factor; ≤ 1 \
         false alarm per 10⁶ spans).\n"
    );
    println!("| episode group | lookout | clairvoyant CUSUM |");
    println!("|---|---|---|");
    for (group, v) in &pooled[0] {
        let ours: Vec<Option<f64>> = v.iter().map(|x| x.0).collect();
        let cv: Vec<Option<f64>> = v.iter().map(|x| x.1).collect();
        println!(
            "| {group} | {} | {} |",
            pooled_stat(&ours),
            pooled_stat(&cv)
        );
    }
    println!();
    tail_diag::print(&diag);

    if args.perf_spans > 0 {
        println!(
            "\n## Hot path (one core, `observe_hashed` + `Attributor::attribute` + `after_attribution`)\n"
        );
        println!(
            "Bytes per key: {} (state with inline sketch + table entry); +{} while an episode is open.\n",
            Detector::bytes_per_key(),
            Detector::episode_bytes()
        );
        println!(
            "Spans one at a time, each timed; and in batches of {} (the processor's prefetch window, used from {} keys \
             on), where `Detector::prefetch` first runs over the batch and a span's time is its own \
             plus an equal share of the prefetch pass.\n",
            Detector::PREFETCH_WINDOW,
            Detector::PREFETCH_MIN_KEYS
        );
        println!(
            "| keys | spans | ns/span p50 | ns/span p99 | ns/span mean (incl. timer) | timer overhead (ns) |"
        );
        println!("|---|---|---|---|---|---|");
        for keys in [10_000, 100_000] {
            for batch in [0, Detector::PREFETCH_WINDOW] {
                let p = perf::measure(&cfg, keys, args.perf_spans, batch, 99);
                println!(
                    "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
                    p.keys,
                    if batch == 0 {
                        "one at a time".to_string()
                    } else {
                        format!("batches of {batch}, prefetched")
                    },
                    p.p50,
                    p.p99,
                    p.mean,
                    p.timer_overhead
                );
            }
        }
    }
    eprintln!("total {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// "median [p90], detected/all" of per-episode delays (`None` = missed).
fn pooled_stat(v: &[Option<f64>]) -> String {
    let mut d: Vec<f64> = v.iter().flatten().copied().collect();
    if d.is_empty() {
        return format!("– (0/{})", v.len());
    }
    d.sort_by(f64::total_cmp);
    let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
    format!("{:.0} [{:.0}], {}/{}", at(0.5), at(0.9), d.len(), v.len())
}

fn fmt_stat(metric: &str, v: &[f64]) -> String {
    if v.is_empty() {
        return "–".into();
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let counts = metric.contains("episodes")
        || metric.ends_with(": windows")
        || metric.ends_with("≥ 10 tail events")
        || metric.ends_with("burst spans")
        || metric.starts_with("normal spans")
        || metric.starts_with("spike spans")
        || metric.starts_with("tagged");
    if counts {
        return format!("{:.0} (Σ {:.0})", mean, v.iter().sum::<f64>());
    }
    let prec = if mean.abs() >= 100.0 {
        0
    } else if mean.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{mean:.prec$} ± {sd:.prec$} [{lo:.prec$}, {hi:.prec$}]")
}
