//! A running exporter behind its sending queue, and the successor of one a config reload
//! changed: built beside the old instance when it can be, or started only once the old one
//! delivered what it held and stopped when both cannot run at once (an
//! [`EXCLUSIVE`](crate::component::ExporterFactory::EXCLUSIVE) exporter: a file, a port; or a
//! persistent queue, whose directory is locked: the successor sends what is left on disk).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::build::join_all;
use super::{ExporterInput, Output};
use crate::Error;
use crate::component::{BuiltExporter, Host};
use crate::config::Config;
use crate::core::{Batch, ComponentId};
use crate::exporters::queue;
use crate::extensions::file_storage::FileStorage;

/// How long the previous instance of a changed exporter that cannot run beside its successor
/// may take to deliver what it holds before it is told to give up, as at shutdown (a
/// persistent queue keeps what is left on disk for the successor).
const PREDECESSOR_DRAIN: Duration = Duration::from_secs(10);

/// How long the successor of an exclusive exporter tries to build while what the previous
/// instance held is being let go.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// One exporter instance.
#[derive(Debug)]
pub(super) struct ExporterRun {
    /// Its queue's sending side (pipelines hold clones).
    pub(super) input: ExporterInput,
    /// Its senders (and disk thread); they end once every input clone is dropped and the queue
    /// is empty.
    pub(super) tasks: Vec<JoinHandle<()>>,
    /// It has a persistent queue.
    pub(super) persistent: bool,
    /// Makes this instance give up retrying (a child of the collector's exporters' token).
    pub(super) abort: CancellationToken,
}

/// A changed exporter waiting for its previous instance to stop; until it starts, its
/// pipelines send to `rx` (bounded: a full one pushes back to the receivers).
pub(super) struct Successor {
    pub(super) id: ComponentId,
    pub(super) rx: mpsc::Receiver<Batch>,
    /// Built already (only its persistent queue waits), or built when it starts (exclusive).
    pub(super) built: Option<BuiltExporter>,
}

impl Successor {
    /// The task that waits for `previous` to stop (telling it to give up after
    /// [`PREDECESSOR_DRAIN`]), starts the new instance with `abort`, and forwards to it what
    /// the pipelines sent meanwhile and later. It ends once those pipelines are done and the
    /// new instance drained.
    pub(super) fn follow(
        self,
        previous: ExporterRun,
        config: Arc<Config>,
        host: Host,
        abort: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let Successor { id, mut rx, built } = self;
            let ExporterRun {
                input,
                tasks,
                abort: previous_abort,
                ..
            } = previous;
            drop(input);
            let mut stopped = std::pin::pin!(join_all(tasks));
            if tokio::time::timeout(PREDECESSOR_DRAIN, &mut stopped)
                .await
                .is_err()
            {
                tracing::warn!(exporter = %id, waited = ?PREDECESSOR_DRAIN, "the replaced exporter still holds data; told to give up so the new one can start");
                previous_abort.cancel();
                stopped.await;
            }
            let built = match built {
                Some(built) => Ok(built),
                None => build_again(&config, &id, &host).await,
            };
            let run = match built {
                Ok(built) => spawn_exporter(&id, built, &host, abort).await,
                Err(err) => Err(err),
            };
            match run {
                Ok(run) => {
                    tracing::info!(exporter = %id, "changed exporter started after the replaced one stopped");
                    let output = Output::Exporters(vec![run.input.clone()]);
                    while let Some(batch) = rx.recv().await {
                        output.send(batch).await;
                    }
                    drop(output);
                    drop(run.input);
                    join_all(run.tasks).await;
                }
                Err(err) => {
                    // Its acks fail: receivers waiting for them tell their clients to retry.
                    tracing::error!(exporter = %id, error = %err, "changed exporter could not start; what its pipelines send fails");
                    while let Some(batch) = rx.recv().await {
                        drop(batch);
                    }
                }
            }
        })
    }
}

/// Builds exclusive exporter `id`, trying again for up to [`RELEASE_WAIT`]: what the previous
/// instance held (a listener) is let go by tasks winding down after its queue drained.
async fn build_again(
    config: &Config,
    id: &ComponentId,
    host: &Host,
) -> Result<BuiltExporter, Error> {
    let Some(c) = config.exporters.get(id) else {
        return Err(Error::component(id, "exporter is not defined"));
    };
    let started = tokio::time::Instant::now();
    loop {
        match c.factory.build(c.config.as_ref(), id, host) {
            Ok(built) => return Ok(built),
            Err(err) if started.elapsed() >= RELEASE_WAIT => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Starts a built exporter behind its sending queue (in memory, or on disk with `storage`).
pub(super) async fn spawn_exporter(
    id: &ComponentId,
    built: BuiltExporter,
    host: &Host,
    abort: CancellationToken,
) -> Result<ExporterRun, Error> {
    let telemetry = host.telemetry();
    let persistent = built.queue.storage.is_some();
    let (input, tasks) = match &built.queue.storage {
        None => queue::spawn(
            id.to_string(),
            built.export,
            &built.queue,
            built.retry,
            telemetry.exporter(&id.to_string(), None),
            abort.clone(),
        ),
        Some(storage) => {
            let key = format!("exporters.{id}.sending_queue.storage");
            let dir = host
                .extension::<FileStorage>(storage)
                .and_then(|s| {
                    s.client(&format!("exporter_{id}_queue"))
                        .map_err(|e| e.to_string())
                })
                .map_err(|m| Error::component(&key, m))?
                .dir()
                .to_path_buf();
            queue::spawn_persistent(
                id.to_string(),
                built.export,
                &built.queue,
                dir,
                built.retry,
                telemetry,
                abort.clone(),
            )
            .await
            .map_err(|e| Error::component(&key, e.to_string()))?
        }
    };
    Ok(ExporterRun {
        input,
        tasks,
        persistent,
        abort,
    })
}
