//! The `lookout` binary: command line, logging and signals around [`lookout_collector`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lookout_collector::config::{self, Config};
use lookout_collector::service::{LogLevel, Service};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

mod malloc;

/// Lookout, an OpenTelemetry collector. With no config it runs an embedded default: OTLP in on
/// 127.0.0.1:4317 (gRPC) and :4318 (HTTP), batched, summarised on stderr and written as OTLP/JSON
/// to ./lookout-data/.
#[derive(Parser)]
#[command(name = "lookout", version, about)]
struct Cli {
    /// Configuration file (OpenTelemetry Collector YAML).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector (the default).
    Run,
    /// Check a configuration and exit.
    Validate,
    /// List the component types this build has.
    Components,
    /// Write a report from the history store (docs/reports.md): RED, anomaly episodes,
    /// error-log hot spots, host utilisation, alerts, forecasts.
    Report(lookout_collector::reports::cli::ReportArgs),
}

/// How long exporters may take to flush at shutdown.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    malloc::tune();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("lookout: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Run) {
        Command::Components => {
            print_components();
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(args) => {
            lookout_collector::reports::cli::run(&args, cli.config.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate => {
            let config = load(cli.config.as_deref())?;
            let pipelines = config.pipeline_count();
            println!(
                "{}: valid ({pipelines} pipeline{})",
                config_name(cli.config.as_deref()),
                if pipelines == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => {
            let config = load(cli.config.as_deref())?;
            let log_level = init_logging(config.log_level());
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(serve(config, cli.config, log_level))
        }
    }
}

async fn serve(
    config: Config,
    path: Option<PathBuf>,
    log_level: Option<LogLevel>,
) -> anyhow::Result<ExitCode> {
    // Before starting: SIGHUP's default action would end the process.
    let mut signals = Signals::new()?;
    let mut service = Service::start(config).await?;
    if let Some(set) = log_level {
        service.set_log_level(set);
    }
    tracing::info!(
        config = %config_name(path.as_deref()),
        version = env!("CARGO_PKG_VERSION"),
        "lookout is running"
    );
    loop {
        tokio::select! {
            stop = signals.next() => match stop? {
                Event::Stop => break,
                Event::Reload => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    let _ = service.reload(load(path.as_deref())).await;
                }
            },
            request = service.reload_requested() => {
                tracing::info!("POST /-/reload: reloading the configuration");
                let result = service.reload(load(path.as_deref())).await;
                request.answer(result);
            }
        }
    }
    tracing::info!("shutting down: draining pipelines");
    let clean = service.shutdown(SHUTDOWN_DEADLINE).await;
    tracing::info!(clean, "stopped");
    Ok(ExitCode::SUCCESS)
}

/// What a signal asks for.
enum Event {
    /// SIGINT or SIGTERM.
    Stop,
    /// SIGHUP.
    Reload,
}

/// The signals lookout answers: SIGINT and SIGTERM stop it, SIGHUP reloads its configuration.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            hup: signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
        })
    }

    async fn next(&mut self) -> anyhow::Result<Event> {
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("cannot listen for SIGINT").map(|()| Event::Stop),
            _ = self.term.recv() => Ok(Event::Stop),
            _ = self.hup.recv() => Ok(Event::Reload),
        }
    }
}

/// The configuration file (or the embedded default) read and checked as at start.
fn load(path: Option<&std::path::Path>) -> Result<Config, config::ConfigError> {
    match path {
        Some(path) => Config::load(path),
        None => Config::default_config(),
    }
}

fn config_name(path: Option<&std::path::Path>) -> String {
    path.map(|p| p.display().to_string())
        .unwrap_or_else(|| config::DEFAULT_CONFIG_NAME.to_string())
}

/// Logs to stderr at `RUST_LOG`'s level if it is set and not empty, else at `level`
/// (`service.telemetry.logs.level`); in that case, returns how a reload changes the level.
fn init_logging(level: &str) -> Option<LogLevel> {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|_| EnvFilter::try_from_default_env().ok());
    let fixed = from_env.is_some();
    let filter = from_env
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour only for a terminal: logs redirected to files stay plain text.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    if fixed {
        return None;
    }
    Some(Box::new(move |level: &str| {
        let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    }))
}

fn print_components() {
    print!("{}", lookout_collector::describe());
}
