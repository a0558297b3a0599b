//! Scheduled reports: one task per `reports:` entry of a `store` exporter. Each run builds
//! the report of the `since` window before it (on a blocking thread), writes it to `path`
//! (temporary file, then rename; the oldest files beyond `keep` deleted) and sends it
//! through the named notifiers of the `alerting` extension (email: attached). A failed
//! delivery is retried a few times with backoff, then logged; the next run comes anyway.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::config::ScheduleConfig;
use super::{build, nanos, render};
use crate::core::alert::AlertSink;
use crate::exporters::store::{Store, now_ns};
use crate::extensions::alerting::notifiers::{Document, Notifier, NotifyError};

/// Delivery attempts per notifier and run.
const ATTEMPTS: u32 = 3;
/// Wait before the second attempt (doubled after).
const FIRST_BACKOFF: Duration = Duration::from_secs(2);

/// The notifiers a schedule sends through, resolved when the exporter is built.
pub(crate) type Notifiers = Vec<(String, Arc<dyn Notifier>)>;

/// Resolves `config.notifiers` in `sink` (the `alerting` extension named by
/// `config.alerting`): each must exist and carry documents.
pub(crate) fn notifiers(
    config: &ScheduleConfig,
    sink: Option<&Arc<dyn AlertSink>>,
) -> Result<Notifiers, String> {
    let mut out = Vec::new();
    for name in &config.notifiers {
        let sink = sink.ok_or_else(|| {
            format!(
                "reports.{}: notifiers need the alerting extension {:?}",
                config.name, config.alerting
            )
        })?;
        let n = sink.notifier(name).ok_or_else(|| {
            format!(
                "reports.{}: the alerting extension has no notifier {name:?}",
                config.name
            )
        })?;
        if n.kind() != "email" {
            return Err(format!(
                "reports.{}: notifier {name:?} is a {} notifier; reports go through email notifiers",
                config.name,
                n.kind()
            ));
        }
        out.push((name.clone(), n));
    }
    Ok(out)
}

/// When the run after `now` (unix nanoseconds) is: the next multiple of `interval` since
/// the epoch, plus `offset`.
pub(crate) fn next_run(now: i64, interval: Duration, offset: Duration) -> i64 {
    let (i, o) = (nanos(interval).max(1), nanos(offset));
    ((now - o).div_euclid(i) + 1) * i + o
}

/// `path` with `{name}` and `{time}` replaced.
pub(crate) fn expand(path: &Path, name: &str, at: i64) -> PathBuf {
    let time = DateTime::<Utc>::from_timestamp_nanos(at)
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    PathBuf::from(
        path.to_string_lossy()
            .replace("{name}", name)
            .replace("{time}", &time),
    )
}

/// Deletes the oldest files the pattern `path` made beyond `keep` (the pattern's `{time}`
/// sorts by name).
fn prune(path: &Path, name: &str, keep: usize) {
    let Some(file) = path
        .file_name()
        .map(|f| f.to_string_lossy().replace("{name}", name))
    else {
        return;
    };
    let Some((prefix, suffix)) = file.split_once("{time}") else {
        return;
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut made: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.len() > prefix.len() + suffix.len() && n.starts_with(prefix) && n.ends_with(suffix)
        })
        .map(|e| e.path())
        .collect();
    made.sort();
    if keep > 0 && made.len() > keep {
        for old in &made[..made.len() - keep] {
            let _ = std::fs::remove_file(old);
        }
    }
}

/// Runs `config` until `stop`.
pub(crate) fn spawn(
    store: Arc<Store>,
    config: ScheduleConfig,
    notifiers: Notifiers,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let now = now_ns();
            let at = next_run(now, config.interval, config.offset);
            let wait = Duration::from_nanos(u64::try_from(at - now).unwrap_or(0));
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            run_once(&store, &config, &notifiers, at).await;
        }
    });
}

/// One run, at `at` (unix nanoseconds).
pub(crate) async fn run_once(
    store: &Arc<Store>,
    config: &ScheduleConfig,
    notifiers: &Notifiers,
    at: i64,
) {
    let since = nanos(config.since.unwrap_or(config.interval));
    let (s, format) = (Arc::clone(store), config.format);
    let made =
        tokio::task::spawn_blocking(move || render(&build(&s, at - since, at), format)).await;
    let Ok(text) = made else {
        tracing::warn!(report = %config.name, "reports: building the report failed");
        return;
    };
    if let Some(pattern) = &config.path {
        let path = expand(pattern, &config.name, at);
        let (p, bytes) = (path.clone(), text.clone().into_bytes());
        match tokio::task::spawn_blocking(move || super::cli::write_atomically(&p, &bytes)).await {
            Ok(Ok(())) => {
                tracing::info!(report = %config.name, path = %path.display(), "reports: written");
                prune(pattern, &config.name, config.keep);
            }
            Ok(Err(err)) => {
                tracing::warn!(report = %config.name, path = %path.display(), %err, "reports: cannot write the report")
            }
            Err(err) => tracing::warn!(report = %config.name, %err, "reports: write task failed"),
        }
    }
    if notifiers.is_empty() {
        return;
    }
    let stamp = DateTime::<Utc>::from_timestamp_nanos(at);
    let document = Document {
        subject: format!(
            "Lookout report {}: {}",
            config.name,
            stamp.format("%Y-%m-%d %H:%M UTC")
        ),
        text: format!(
            "Lookout report {} over the {} before {}, attached ({}).\n",
            config.name,
            humantime::format_duration(config.since.unwrap_or(config.interval)),
            stamp.format("%Y-%m-%d %H:%M:%S UTC"),
            format.extension()
        ),
        file_name: format!(
            "lookout-report-{}-{}.{}",
            config.name,
            stamp.format("%Y%m%dT%H%M%SZ"),
            format.extension()
        ),
        content_type: format.content_type().to_string(),
        content: text.into_bytes(),
    };
    for (name, notifier) in notifiers {
        deliver(&config.name, name, notifier.as_ref(), &document).await;
    }
}

async fn deliver(report: &str, name: &str, notifier: &dyn Notifier, document: &Document) {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let Some(sending) = notifier.send_document(document) else {
            tracing::warn!(
                report,
                notifier = name,
                "reports: this notifier cannot carry a report"
            );
            return;
        };
        match sending.await {
            Ok(()) => {
                tracing::info!(report, notifier = name, "reports: sent");
                return;
            }
            Err(NotifyError::Retryable(err)) if attempt < ATTEMPTS => {
                tracing::debug!(report, notifier = name, %err, "reports: sending failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(err) => {
                tracing::warn!(report, notifier = name, %err, "reports: cannot send the report");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_fall_on_multiples_of_the_interval_plus_the_offset() {
        let h = 3_600_000_000_000i64;
        let day = Duration::from_secs(86_400);
        // 2026-12-06 10:00 UTC → next 07:00 UTC is the 7th.
        let now = 1_796_551_200 * 1_000_000_000;
        let next = next_run(now, day, Duration::from_secs(7 * 3600));
        assert_eq!(next, (now / (24 * h) + 1) * 24 * h + 7 * h);
        assert_eq!(
            next_run(now, Duration::from_secs(3600), Duration::ZERO),
            now + h
        );
        let p = expand(Path::new("r/{name}-{time}.html"), "daily", now);
        assert_eq!(p, PathBuf::from("r/daily-20261206T100000Z.html"));
    }

    #[test]
    fn prune_keeps_the_newest_files_of_the_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = dir.path().join("{name}-{time}.json");
        for t in ["20261201T000000Z", "20261202T000000Z", "20261203T000000Z"] {
            std::fs::write(dir.path().join(format!("d-{t}.json")), "{}").unwrap();
        }
        std::fs::write(dir.path().join("other.json"), "{}").unwrap();
        prune(&pattern, "d", 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "d-20261202T000000Z.json",
                "d-20261203T000000Z.json",
                "other.json"
            ]
        );
    }
}
