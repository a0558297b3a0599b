//! Wiring: turns the configuration into running extensions, exporters, connectors, pipelines
//! and receivers, through the factories in the registry. Nothing here knows a component by
//! name.
//!
//! Ownership makes shutdown orderly: receivers hold the only senders into the pipelines, and
//! pipelines hold the only senders into the exporters' (and connectors') input queues.
//! Stopping the receivers therefore closes each pipeline once it has drained, which closes each
//! exporter queue once it has drained. A connector holds senders into the pipelines it feeds,
//! so those close only after the pipelines it exports from are done.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{ExporterInput, Output};
use crate::Error;
use crate::component::Host;
use crate::component::supervise;
use crate::config::Config;
use crate::core::{Batch, ComponentId, Consumer, Signal};
use crate::exporters::queue;
use crate::extensions::file_storage::FileStorage;
use crate::processors::ProcessorContext;
use crate::receivers::ReceiverContext;

/// Batches a pipeline's entry queue holds before receivers are told to retry.
const PIPELINE_QUEUE: usize = 64;

/// Batches a connector's input queue holds.
const CONNECTOR_QUEUE: usize = 64;

/// The running data path, in the order it must be stopped.
#[derive(Debug)]
pub(crate) struct Running {
    /// Receiver supervisors: stop when `receivers_shutdown` fires.
    pub(crate) receivers: Vec<JoinHandle<()>>,
    /// Fires to stop the receivers.
    pub(crate) receivers_shutdown: CancellationToken,
    /// Processor and connector tasks: stop once their input closes and is drained.
    pub(crate) processors: Vec<JoinHandle<()>>,
    /// Exporter senders: stop once their queue closes and is drained.
    pub(crate) exporters: Vec<JoinHandle<()>>,
    /// Fires to make exporters give up retrying.
    pub(crate) exporters_abort: CancellationToken,
}

/// Where a pipeline's exporter list sends: an exporter's queue or a connector's input.
type Inputs = BTreeMap<ComponentId, ExporterInput>;

/// Starts every exporter, connector, pipeline and receiver the configuration's pipelines use
/// (extensions are already running in `host`).
pub(crate) async fn start(config: &Arc<Config>, host: &Host) -> Result<Running, Error> {
    let telemetry = host.telemetry();
    let exporters_abort = CancellationToken::new();
    let mut exporter_tasks = Vec::new();
    let mut inputs: Inputs = BTreeMap::new();
    // Exporters behind a persistent queue: receivers feeding them wait for their data to be
    // written before answering their clients.
    let mut persistent: Vec<ComponentId> = Vec::new();
    for id in config.pipelines().flat_map(|(_, _, p)| &p.exporters) {
        if inputs.contains_key(id) {
            continue;
        }
        let Some(c) = config.exporters.get(id) else {
            continue;
        };
        let built = c.factory.build(c.config.as_ref(), id, host)?;
        let (input, handles) = match &built.queue.storage {
            None => queue::spawn(
                id.to_string(),
                built.export,
                &built.queue,
                built.retry,
                telemetry.exporter(&id.to_string(), None),
                exporters_abort.clone(),
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
                    exporters_abort.clone(),
                )
                .await
                .map_err(|e| Error::component(&key, e.to_string()))?
            }
        };
        if built.queue.storage.is_some() {
            persistent.push(id.clone());
        }
        exporter_tasks.extend(handles);
        inputs.insert(id.clone(), input);
    }

    // Connectors: their input queue exists before the pipelines that export to them, their
    // task starts after the pipelines they feed.
    let mut connector_rx = BTreeMap::new();
    for (id, c) in config.connectors.iter() {
        let feeds: Vec<Signal> = config
            .pipelines()
            .filter(|(_, _, p)| p.receivers.contains(id))
            .map(|(_, s, _)| s)
            .collect();
        if feeds.is_empty() {
            continue;
        }
        c.factory.prepare(c.config.as_ref(), id, &feeds, host)?;
        let (tx, rx) = mpsc::channel::<Batch>(CONNECTOR_QUEUE);
        inputs.insert(
            id.clone(),
            ExporterInput {
                id: id.to_string(),
                tx,
                gate: None,
                block_on_overflow: true,
                persistent: false,
                metrics: telemetry.exporter(&id.to_string(), None),
            },
        );
        connector_rx.insert(id.clone(), rx);
    }

    let mut processor_tasks = Vec::new();
    // Entry queues by (receiver or connector, signal): what each one's consumer feeds.
    let mut entries: BTreeMap<(ComponentId, Signal), Vec<mpsc::Sender<Batch>>> = BTreeMap::new();
    // Entries with a persistent queue at the end of some pipeline.
    let mut durable: BTreeSet<(ComponentId, Signal)> = BTreeSet::new();
    for (pipeline_id, signal, pipeline) in config.pipelines() {
        let mut output = Output::Exporters(
            pipeline
                .exporters
                .iter()
                .filter_map(|id| inputs.get(id).cloned())
                .collect(),
        );
        // Build back to front so each stage knows the next.
        for id in pipeline.processors.iter().rev() {
            let Some(c) = config.processors.get(id) else {
                continue;
            };
            let (tx, rx) = mpsc::channel(PIPELINE_QUEUE);
            let stage = ProcessorContext {
                id: id.to_string(),
                pipeline: pipeline_id.to_string(),
                input: rx,
                output,
                metrics: telemetry.processor(&id.to_string(), &pipeline_id.to_string(), signal),
            };
            processor_tasks.push(c.factory.spawn(c.config.as_ref(), stage, host)?);
            output = Output::Next(tx);
        }
        let entry = match output {
            Output::Next(tx) => tx,
            exporters @ Output::Exporters(_) => {
                // No processors: a forwarding stage keeps one queue per pipeline so a full
                // exporter queue pushes back to the receivers in the same way.
                let (tx, mut rx) = mpsc::channel::<Batch>(PIPELINE_QUEUE);
                processor_tasks.push(tokio::spawn(async move {
                    while let Some(batch) = rx.recv().await {
                        exporters.send(batch).await;
                    }
                }));
                tx
            }
        };
        let to_disk = pipeline.exporters.iter().any(|id| persistent.contains(id));
        for receiver in &pipeline.receivers {
            entries
                .entry((receiver.clone(), signal))
                .or_default()
                .push(entry.clone());
            if to_disk {
                durable.insert((receiver.clone(), signal));
            }
        }
    }
    // From here on only receivers, connectors and pipeline stages hold pipeline senders.
    drop(inputs);

    let mut take_consumers = |id: &ComponentId| {
        Signal::ALL.map(|signal| {
            let key = (id.clone(), signal);
            let waits = durable.contains(&key);
            entries.remove(&key).map(|pipelines| {
                Consumer::with_budget(pipelines, host.memory().clone()).waiting_for_queues(waits)
            })
        })
    };
    for (id, rx) in connector_rx {
        let Some(c) = config.connectors.get(&id) else {
            continue;
        };
        let ctx = crate::component::ConnectorContext {
            id: id.clone(),
            input: rx,
            outputs: take_consumers(&id),
        };
        processor_tasks.push(c.factory.spawn(c.config.as_ref(), ctx, host)?);
    }

    let receivers_shutdown = CancellationToken::new();
    let mut receiver_tasks = Vec::new();
    let mut receiver_ids: Vec<ComponentId> = Vec::new();
    for (_, _, p) in config.pipelines() {
        for id in &p.receivers {
            if config.receivers.get(id).is_some() && !receiver_ids.contains(id) {
                receiver_ids.push(id.clone());
            }
        }
    }
    for id in receiver_ids {
        let ctx = ReceiverContext::new(
            id.clone(),
            take_consumers(&id),
            telemetry.clone(),
            receivers_shutdown.child_token(),
        );
        match supervise::start_receiver(config, &id, ctx, host, &receivers_shutdown).await {
            Ok(handle) => receiver_tasks.push(handle),
            Err(err) => {
                receivers_shutdown.cancel();
                exporters_abort.cancel();
                return Err(err);
            }
        }
    }
    // Lookups of shared instances happen while building; what they hold (channels) must not
    // outlive the components using it.
    host.release_shared();
    Ok(Running {
        receivers: receiver_tasks,
        receivers_shutdown,
        processors: processor_tasks,
        exporters: exporter_tasks,
        exporters_abort,
    })
}
