//! Supervision: a receiver whose task exits or panics while the collector runs is reported at
//! once, marks health not ready, and is started again with backoff (counted in
//! `lookout_component_restarts_total`). Exporters recover per batch instead (a panicking send
//! is a failed, retryable send: see [`crate::exporters::queue`]).

use std::sync::Arc;
use std::time::Duration;

use futures::future::select_all;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{AnyConfig, DynReceiver, Host};
use crate::Error;
use crate::config::Config;
use crate::core::ComponentId;
use crate::receivers::ReceiverContext;

/// First wait before a restart; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A receiver that ran this long before failing starts again from the first backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// Counts restarts of component `id` of `kind`.
pub(crate) fn restarts(
    host: &Host,
    kind: &str,
    id: &str,
) -> prometheus_client::metrics::counter::Counter {
    host.telemetry().counter(
        "component_restarts",
        "Times a component task exited or panicked while the collector ran and was started again.",
        vec![("component", id.to_string()), ("kind", kind.to_string())],
    )
}

/// Starts receiver `id` and a task supervising it until `shutdown` fires. A failure to start
/// the first time is returned (the collector does not start); later failures are retried.
pub(crate) async fn start_receiver(
    config: &Arc<Config>,
    id: &ComponentId,
    ctx: ReceiverContext,
    host: &Host,
    shutdown: &CancellationToken,
) -> Result<JoinHandle<()>, Error> {
    let Some(c) = config.receivers.get(id) else {
        return Err(Error::component(id, "receiver is not defined"));
    };
    let first = shutdown.child_token();
    let handles = c
        .factory
        .start(c.config.as_ref(), ctx.again(first.clone()), host)
        .await?;
    let supervisor = Supervisor {
        config: Arc::clone(config),
        id: id.clone(),
        ctx,
        host: host.clone(),
        shutdown: shutdown.clone(),
    };
    Ok(tokio::spawn(supervisor.run(handles, first)))
}

struct Supervisor {
    config: Arc<Config>,
    id: ComponentId,
    /// Kept to start the receiver again; its consumers are dropped when supervision ends.
    ctx: ReceiverContext,
    host: Host,
    shutdown: CancellationToken,
}

impl Supervisor {
    fn factory(&self) -> Option<(&'static dyn DynReceiver, &dyn AnyConfig)> {
        self.config
            .receivers
            .get(&self.id)
            .map(|c| (c.factory, c.config.as_ref()))
    }

    async fn run(self, mut handles: Vec<JoinHandle<()>>, mut attempt: CancellationToken) {
        let id = self.id.to_string();
        let restarts = restarts(&self.host, "receiver", &id);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let started = Instant::now();
            if handles.is_empty() {
                // Nothing to watch (no pipeline takes what it produces).
                self.shutdown.cancelled().await;
                return;
            }
            let ended = tokio::select! {
                (result, index, _) = select_all(handles.iter_mut()) => Some((result, index)),
                () = self.shutdown.cancelled() => None,
            };
            let Some((result, index)) = ended else {
                // The receiver's tasks see the same token (a child of it): wait for them to
                // drop their consumers.
                join(handles).await;
                return;
            };
            // That one has finished: joining it again would never return.
            drop(handles.swap_remove(index));
            if self.shutdown.is_cancelled() {
                join(handles).await;
                return;
            }
            match result {
                Ok(()) => {
                    tracing::error!(receiver = %id, "receiver task exited while the collector runs; restarting it")
                }
                Err(err) => {
                    tracing::error!(receiver = %id, error = %err, "receiver task failed; restarting it")
                }
            }
            self.host.health().set_component(&id, false);
            attempt.cancel();
            join(std::mem::take(&mut handles)).await;
            if started.elapsed() >= STABLE_AFTER {
                backoff = FIRST_BACKOFF;
            }
            loop {
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = self.shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                let Some((factory, config)) = self.factory() else {
                    return;
                };
                attempt = self.shutdown.child_token();
                match factory
                    .start(config, self.ctx.again(attempt.clone()), &self.host)
                    .await
                {
                    Ok(h) => {
                        restarts.inc();
                        self.host.health().set_component(&id, true);
                        tracing::info!(receiver = %id, "receiver started again");
                        handles = h;
                        break;
                    }
                    Err(err) => {
                        tracing::error!(receiver = %id, error = %err, retry_in = ?backoff, "receiver could not start again");
                    }
                }
            }
        }
    }
}

async fn join(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}
