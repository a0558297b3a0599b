//! `receivers: filelog:` — tails log files the way the Collector's filelog receiver does
//! (same keys, same operators), without its data loss: checkpoints advance only once the
//! pipeline delivered a batch, rotation by rename or copytruncate is followed by fingerprint
//! and inode, and a full pipeline pauses reading instead of dropping.
//!
//! Layout: [`config`] settings; [`discover`] globbing; [`identity`] which file is which;
//! [`reader`] one open file; [`split`] bytes to lines to records; [`acks`] delivery
//! tracking; [`checkpoint`] what is persisted; [`encode`] records to OTLP; [`watch`] change
//! notifications; [`tailer`] the loop.

pub(crate) mod acks;
pub(crate) mod checkpoint;
pub(crate) mod config;
pub(crate) mod discover;
pub(crate) mod encode;
mod factory;
pub(crate) mod identity;
pub(crate) mod operators;
pub(crate) mod reader;
pub(crate) mod split;
pub(crate) mod tailer;
pub(crate) mod watch;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use regex::Regex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub(crate) use config::FileLogConfig;
pub(crate) use factory::Factory;

use super::ReceiverContext;
use crate::Error;
use crate::component::Validate;
use crate::core::Signal;
use crate::extensions::file_storage::FileStorage;
use crate::receivers::filelog::operators::Pipeline;
use config::StartAt;
use discover::Finder;
use reader::ReaderSettings;
use split::{Encoding, Multiline};
use tailer::{Metrics, Setup, Tailer};

/// The settings turned into the objects the tailer uses; [`Validate`] builds them too, so a
/// config that loads is one that starts.
struct Parsed {
    finder: Finder,
    encoding: Encoding,
    multiline: Option<Multiline>,
    gzip: bool,
    pipeline: Pipeline,
}

fn parse_settings(config: &FileLogConfig) -> Result<Parsed, String> {
    if config.include.is_empty() {
        return Err("include must list at least one glob pattern".into());
    }
    let finder = Finder::new(&config.include, &config.exclude)?;
    let encoding = Encoding::parse(&config.encoding)?;
    let multiline = match &config.multiline {
        None => None,
        Some(m) => match (&m.line_start_pattern, &m.line_end_pattern) {
            (Some(p), None) => Some(Multiline::Start(
                Regex::new(p).map_err(|e| format!("multiline.line_start_pattern: {e}"))?,
            )),
            (None, Some(p)) => Some(Multiline::End(
                Regex::new(p).map_err(|e| format!("multiline.line_end_pattern: {e}"))?,
            )),
            _ => {
                return Err(
                    "multiline needs exactly one of line_start_pattern and line_end_pattern".into(),
                );
            }
        },
    };
    let gzip = match config.compression.as_deref() {
        None | Some("") => false,
        Some("gzip") => true,
        Some(other) => {
            return Err(format!(
                "unsupported compression {other:?}; supported: gzip"
            ));
        }
    };
    if config.delete_after_read && config.start_at != StartAt::Beginning {
        return Err("delete_after_read requires start_at: beginning".into());
    }
    if config.fingerprint_size < 16 {
        return Err("fingerprint_size must be at least 16 bytes".into());
    }
    let pipeline = Pipeline::new(&config.operators)?;
    Ok(Parsed {
        finder,
        encoding,
        multiline,
        gzip,
        pipeline,
    })
}

impl Validate for FileLogConfig {
    fn validate(&self) -> Result<(), String> {
        parse_settings(self).map(drop)
    }
}

/// Starts tailing, keeping checkpoints in `storage` when given.
pub(crate) async fn start(
    config: &FileLogConfig,
    storage: Option<&FileStorage>,
    ctx: ReceiverContext,
) -> Result<Vec<JoinHandle<()>>, Error> {
    start_with_queue(config, storage, ctx, watch::QUEUE).await
}

/// [`start`] with `notice_queue` notices held for the tailer (tests make it tiny to lose some).
async fn start_with_queue(
    config: &FileLogConfig,
    storage: Option<&FileStorage>,
    ctx: ReceiverContext,
    notice_queue: usize,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let err = |m: String| Error::component(format!("receivers.{}", ctx.id), m);
    let Parsed {
        finder,
        encoding,
        multiline,
        gzip,
        pipeline,
    } = parse_settings(config).map_err(err)?;
    let storage = match storage {
        Some(s) => {
            let owner = format!("receiver_filelog_{}", ctx.id);
            Some(s.client(&owner).map_err(|e| err(format!("storage: {e}")))?)
        }
        None => {
            tracing::warn!(
                receiver = %ctx.id,
                "no storage configured: read positions are not saved, so after a restart files are read again according to start_at (duplicates or gaps); set storage: file_storage"
            );
            None
        }
    };
    let Some(consumer) = ctx.consumer(Signal::Logs).cloned() else {
        return Ok(Vec::new());
    };
    let (notice_tx, notice_rx) = mpsc::channel(notice_queue.max(1));
    let lost = Arc::new(AtomicBool::new(false));
    let setup = Setup {
        id: ctx.id.to_string(),
        config: config.clone(),
        finder,
        settings: ReaderSettings {
            fingerprint_size: config.fingerprint_size,
            max_log_size: config.max_log_size,
            encoding,
            multiline,
            force_flush: config.force_flush_period,
            gzip,
        },
        pipeline,
        storage,
        consumer: Some(consumer),
        notices: Some(notice_rx),
        lost: lost.clone(),
        metrics: Metrics::new(&ctx.telemetry, &ctx.id.to_string()),
    };
    // Notifications say which files to read; polling finds what they miss (see `watch`).
    let watcher = watch::start(&ctx.id.to_string(), &setup.finder, notice_tx, lost);
    let shutdown = ctx.shutdown.clone();
    let id = ctx.id.to_string();
    // The context holds the pipeline senders; only the tailer's clone may keep them open.
    drop(ctx);
    tracing::info!(receiver = %id, include = ?config.include, "filelog receiver started");
    let tailer = Tailer::new(setup);
    Ok(vec![tokio::spawn(async move {
        let _watcher = watcher;
        tailer.run(shutdown).await;
    })])
}

#[cfg(test)]
mod tests;
