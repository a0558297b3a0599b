//! Lookout's persistent-queue segment log measured against queue crates, on the exporter's
//! workload (RELIABILITY.md, "Why a hand-written segment log").
//!
//! `cargo run --release -- [--secs S] [--backlog-mib M] [--replay-mib M] [--dir D]` runs every
//! workload for every backend, interleaved (one child process per backend and workload, so each
//! peak RSS is its own), and prints markdown tables with ratios to the segment log.
//! `--only NAME[,NAME]` limits the backends; `--rounds R` runs each workload R times, the
//! backends interleaved within each round, and prints the median of each figure (and the range
//! of records/s). `--workloads every_batch,torn` runs only the workloads so named (prefixes).

mod backends;
mod workloads;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// Settings shared by the driver and its children.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Seconds each timed workload runs at most.
    pub(crate) secs: f64,
    /// Backlog kept during the steady state, MiB.
    pub(crate) backlog_mib: u64,
    /// Backlog replayed at start-up, MiB.
    pub(crate) replay_mib: u64,
    /// Where the queues live (removed after each workload).
    pub(crate) dir: PathBuf,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut settings = Settings {
        secs: 8.0,
        backlog_mib: 256,
        replay_mib: 1024,
        dir: PathBuf::from("target/queue-eval-data"),
    };
    let mut only: Option<String> = None;
    let mut rounds = 1;
    let mut workloads_filter: Option<String> = None;
    let mut child: Option<(String, String)> = None;
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--secs" => settings.secs = value.parse().expect("--secs"),
            "--backlog-mib" => settings.backlog_mib = value.parse().expect("--backlog-mib"),
            "--replay-mib" => settings.replay_mib = value.parse().expect("--replay-mib"),
            "--dir" => settings.dir = PathBuf::from(value),
            "--only" => only = Some(value),
            "--rounds" => rounds = value.parse().expect("--rounds"),
            "--workloads" => workloads_filter = Some(value),
            "--child" => {
                child = Some((value, args.get(i + 2).cloned().unwrap_or_default()));
                i += 1;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    if let Some((backend, workload)) = child {
        let line = workloads::run(&backend, &workload, &settings);
        println!("RESULT {line}");
        return;
    }
    drive(
        &settings,
        only.as_deref(),
        workloads_filter.as_deref(),
        rounds,
    );
}

/// The workloads, in the order they run.
const WORKLOADS: &[&str] = &[
    "every_batch:20000",
    "every_batch:200000",
    "interval:20000",
    "interval:200000",
    "steady:20000",
    "steady:200000",
    "replay:200000",
    "torn:truncate",
    "torn:garbage",
];

fn drive(settings: &Settings, only: Option<&str>, filter: Option<&str>, rounds: usize) {
    let exe = std::env::current_exe().expect("current exe");
    let names: Vec<&str> = backends::NAMES
        .iter()
        .copied()
        .filter(|n| only.is_none_or(|o| o.split(',').any(|x| x == *n)))
        .collect();
    println!(
        "secs {} backlog {} MiB replay {} MiB rounds {rounds} dir {}",
        settings.secs,
        settings.backlog_mib,
        settings.replay_mib,
        settings.dir.display()
    );
    let chosen = WORKLOADS
        .iter()
        .filter(|w| filter.is_none_or(|f| f.split(',').any(|x| w.starts_with(x))));
    for workload in chosen {
        let mut runs: Vec<Vec<BTreeMap<String, String>>> = vec![Vec::new(); names.len()];
        for (i, name) in names.iter().cycle().take(names.len() * rounds).enumerate() {
            let out = Command::new(&exe)
                .args([
                    "--secs",
                    &settings.secs.to_string(),
                    "--backlog-mib",
                    &settings.backlog_mib.to_string(),
                    "--replay-mib",
                    &settings.replay_mib.to_string(),
                    "--dir",
                    &settings.dir.to_string_lossy(),
                    "--child",
                    name,
                    workload,
                ])
                .output()
                .expect("run child");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let mut fields = BTreeMap::new();
            match stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) {
                Some(line) => {
                    for kv in line.split('\t') {
                        if let Some((k, v)) = kv.split_once('=') {
                            fields.insert(k.to_string(), v.to_string());
                        }
                    }
                }
                None => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    let last = err
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("");
                    fields.insert("error".into(), format!("child failed: {last}"));
                }
            }
            runs[i % names.len()].push(fields);
        }
        let rows: Vec<(String, BTreeMap<String, String>)> = names
            .iter()
            .zip(&runs)
            .map(|(name, runs)| (name.to_string(), median(runs)))
            .collect();
        print_table(workload, &rows);
    }
}

/// The median of each numeric figure over the rounds (text from the first round), and the
/// range of records/s when there is more than one round.
fn median(runs: &[BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let mut out = runs[0].clone();
    for (key, first) in &runs[0] {
        let mut values: Vec<(f64, &String)> = runs
            .iter()
            .filter_map(|r| r.get(key))
            .filter_map(|v| v.parse::<f64>().ok().map(|x| (x, v)))
            .collect();
        if values.len() != runs.len() || first.parse::<f64>().is_err() {
            continue;
        }
        values.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mid = values[values.len() / 2].1.clone();
        if key == "records/s" && values.len() > 1 {
            out.insert(
                "records/s range".into(),
                format!("{}–{}", values[0].1, values[values.len() - 1].1),
            );
        }
        out.insert(key.clone(), mid);
    }
    out
}

/// Prints one workload's rows; rate columns get a ratio to the first row (the segment log).
fn print_table(workload: &str, rows: &[(String, BTreeMap<String, String>)]) {
    let mut keys: Vec<String> = Vec::new();
    for (_, f) in rows {
        for k in f.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys.sort_by_key(|k| workloads::column_order(k));
    println!("\n### {workload}\n");
    println!("| backend | {} |", keys.join(" | "));
    println!("|---|{}", "---|".repeat(keys.len()));
    let base = &rows[0].1;
    for (name, f) in rows {
        let cells: Vec<String> = keys
            .iter()
            .map(|k| {
                let v = f.get(k).cloned().unwrap_or_default();
                let ratio = workloads::is_rate(k)
                    .then(|| {
                        let a: f64 = v.replace(',', "").parse().ok()?;
                        let b: f64 = base.get(k)?.replace(',', "").parse().ok()?;
                        (b > 0.0 && name != &rows[0].0).then(|| format!(" ({:.2}×)", a / b))
                    })
                    .flatten()
                    .unwrap_or_default();
                format!("{v}{ratio}")
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
