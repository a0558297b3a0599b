//! The hostmetrics receiver: scrapes CPU, memory, load, disk, filesystem, network, paging and
//! process figures from the kernel on an interval, named exactly as the Collector's
//! `hostmetricsreceiver` names them, and hands them to the metrics pipelines.

pub(crate) mod config;
mod factory;
pub(crate) mod scrapers;

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod semconv_tests;
#[cfg(test)]
pub(crate) mod test_support;

pub(crate) use factory::Factory;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::metrics::v1::{ResourceMetrics, ScopeMetrics};
use lookout_proto::otlp::resource::v1::Resource;
use tokio::task::JoinHandle;

pub(crate) use config::HostMetricsConfig;

use self::scrapers::{
    Enabled, Env, Scraper, cpu, disk, filesystem, load, memory, network, paging, process, processes,
};
use super::ReceiverContext;
use super::scraping::{self, Schedule};
use crate::Error;
use crate::core::Signal;
use crate::core::otlp_build::{Times, attr, scope, unix_nanos};

/// Scope name metrics are reported under, suffixed with the scraper name.
const SCOPE_PREFIX: &str = "lookout/receiver/hostmetrics/";

impl HostMetricsConfig {
    /// Checks the settings and builds the scrapers they ask for.
    pub(crate) fn scrapers(&self) -> Result<Vec<Box<dyn Scraper>>, String> {
        if self.collection_interval.is_zero() {
            return Err("collection_interval must be greater than zero".into());
        }
        if !self.root_path.is_absolute() {
            return Err(format!(
                "root_path {:?} must be an absolute path",
                self.root_path
            ));
        }
        let s = &self.scrapers;
        let mut out: Vec<Box<dyn Scraper>> = Vec::new();
        if let Some(c) = &s.cpu {
            out.push(Box::new(cpu::CpuScraper::new(Enabled::new(
                "cpu",
                cpu::METRICS,
                &c.metrics,
            )?)));
        }
        if let Some(c) = &s.memory {
            out.push(Box::new(memory::MemoryScraper::new(Enabled::new(
                "memory",
                memory::METRICS,
                &c.metrics,
            )?)));
        }
        if let Some(c) = &s.load {
            out.push(Box::new(load::LoadScraper::new(
                Enabled::new("load", load::METRICS, &c.metrics)?,
                c.cpu_average,
            )));
        }
        if let Some(c) = &s.disk {
            out.push(Box::new(disk::DiskScraper::new(
                Enabled::new("disk", disk::METRICS, &c.metrics)?,
                c.filter().map_err(|e| format!("scrapers.disk: {e}"))?,
            )));
        }
        if let Some(c) = &s.filesystem {
            out.push(Box::new(filesystem::FilesystemScraper::new(
                Enabled::new("filesystem", filesystem::METRICS, &c.metrics)?,
                c.filters()
                    .map_err(|e| format!("scrapers.filesystem: {e}"))?,
                c.include_virtual_filesystems,
            )));
        }
        if let Some(c) = &s.network {
            out.push(Box::new(network::NetworkScraper::new(
                Enabled::new("network", network::METRICS, &c.metrics)?,
                c.filter().map_err(|e| format!("scrapers.network: {e}"))?,
            )));
        }
        if let Some(c) = &s.paging {
            out.push(Box::new(paging::PagingScraper::new(Enabled::new(
                "paging",
                paging::METRICS,
                &c.metrics,
            )?)));
        }
        if let Some(c) = &s.processes {
            out.push(Box::new(processes::ProcessesScraper::new(Enabled::new(
                "processes",
                processes::METRICS,
                &c.metrics,
            )?)));
        }
        if let Some(c) = &s.process {
            out.push(Box::new(process::ProcessScraper::new(
                Enabled::new("process", process::METRICS, &c.metrics)?,
                c.filter().map_err(|e| format!("scrapers.process: {e}"))?,
            )));
        }
        if out.is_empty() {
            return Err("no scrapers configured; add e.g. `scrapers: cpu: memory:`".into());
        }
        Ok(out)
    }
}

impl crate::component::Validate for HostMetricsConfig {
    fn validate(&self) -> Result<(), String> {
        self.scrapers().map(drop)
    }
}

/// Starts the scrape loop; it stops when the context's shutdown fires.
pub(crate) async fn start(
    config: &HostMetricsConfig,
    ctx: ReceiverContext,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let scrapers = config
        .scrapers()
        .map_err(|e| Error::component(format!("receivers.{}", ctx.id), e))?;
    let Some(consumer) = ctx.consumer(Signal::Metrics).cloned() else {
        return Ok(Vec::new());
    };
    let metrics = ctx
        .telemetry
        .receiver(&ctx.id.to_string(), "scraper", Signal::Metrics);
    let host = Arc::new(Mutex::new(HostScrape::new(
        config.root_path.clone(),
        scrapers,
    )));
    let schedule = Schedule {
        interval: config.collection_interval,
        initial_delay: config.initial_delay,
    };
    let id = ctx.id.to_string();
    let task = tokio::spawn(scraping::run(
        schedule,
        consumer,
        metrics,
        ctx.shutdown.clone(),
        move || {
            let host = Arc::clone(&host);
            let id = id.clone();
            async move {
                // /proc reads and statvfs block (a stale network mount can block for long).
                let scraped = tokio::task::spawn_blocking(move || {
                    host.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .scrape()
                })
                .await;
                scraped.unwrap_or_else(|err| {
                    tracing::error!(receiver = %id, error = %err, "hostmetrics scrape failed");
                    ExportMetricsServiceRequest::default()
                })
            }
        },
    ));
    Ok(vec![task])
}

/// Everything one receiver keeps between scrapes.
pub(crate) struct HostScrape {
    root: PathBuf,
    scrapers: Vec<Box<dyn Scraper>>,
    resource: Option<Vec<KeyValue>>,
    boot_nanos: Option<u64>,
    ticks_per_second: f64,
}

impl HostScrape {
    /// A scrape state reading under `root`.
    pub(crate) fn new(root: PathBuf, scrapers: Vec<Box<dyn Scraper>>) -> HostScrape {
        HostScrape {
            root,
            scrapers,
            resource: None,
            boot_nanos: None,
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
        }
    }

    /// Runs every scraper once. A failing scraper is logged and skipped; the others report.
    pub(crate) fn scrape(&mut self) -> ExportMetricsServiceRequest {
        let now = unix_nanos(SystemTime::now());
        if self.boot_nanos.is_none() {
            self.boot_nanos = boot_time_nanos(&self.root);
        }
        let env = Env {
            root: self.root.clone(),
            // Kernel counters start at boot: a stable start time across collector restarts.
            times: Times {
                start: self.boot_nanos.unwrap_or(now),
                now,
            },
            ticks_per_second: self.ticks_per_second,
        };
        let host_resource = self
            .resource
            .get_or_insert_with(|| host_resource(&self.root))
            .clone();
        let mut host_scopes = Vec::new();
        let mut resources = Vec::new();
        for scraper in &mut self.scrapers {
            let out = match scraper.scrape(&env) {
                Ok(out) => out,
                Err(err) => {
                    tracing::warn!(scraper = scraper.name(), error = %err, "hostmetrics scraper failed");
                    continue;
                }
            };
            let scope_name = format!("{SCOPE_PREFIX}{}", scraper.name());
            if !out.host.is_empty() {
                host_scopes.push(ScopeMetrics {
                    scope: Some(scope(&scope_name)),
                    metrics: out.host,
                    ..Default::default()
                });
            }
            for (attributes, metrics) in out.entities {
                resources.push(ResourceMetrics {
                    resource: Some(Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(scope(&scope_name)),
                        metrics,
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
        }
        if !host_scopes.is_empty() {
            resources.insert(
                0,
                ResourceMetrics {
                    resource: Some(Resource {
                        attributes: host_resource,
                        ..Default::default()
                    }),
                    scope_metrics: host_scopes,
                    ..Default::default()
                },
            );
        }
        ExportMetricsServiceRequest {
            resource_metrics: resources,
        }
    }
}

/// `btime` of `/proc/stat`, in nanoseconds since the epoch.
fn boot_time_nanos(root: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(scrapers::under(root, "/proc/stat")).ok()?;
    let secs: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    secs.checked_mul(1_000_000_000)
}

/// `host.name`, `os.type` and, where the host has a machine id, `host.id`.
fn host_resource(root: &Path) -> Vec<KeyValue> {
    let read = |rel: &str| {
        std::fs::read_to_string(scrapers::under(root, rel))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    // sysinfo asks the running kernel (uname); under another root the host's own file is
    // the right source.
    let host_name = if root == Path::new("/") {
        sysinfo::System::host_name().ok()
    } else {
        None
    }
    .or_else(|| read("/proc/sys/kernel/hostname"))
    .or_else(|| read("/etc/hostname"));
    let mut out = Vec::new();
    if let Some(name) = host_name {
        out.push(attr("host.name", name));
    }
    out.push(attr("os.type", std::env::consts::OS));
    if let Some(id) = read("/etc/machine-id").or_else(|| read("/var/lib/dbus/machine-id")) {
        out.push(attr("host.id", id));
    }
    out
}
