//! Wiring: turns the configuration into running extensions, exporters, connectors, pipelines
//! and receivers, through the factories in the registry. Nothing here knows a component by
//! name.
//!
//! Ownership makes shutdown orderly: receivers hold the only senders into the pipelines, and
//! pipelines hold the only senders into the exporters' (and connectors') input queues.
//! Stopping the receivers therefore closes each pipeline once it has drained, which closes each
//! exporter queue once it has drained. A connector holds senders into the pipelines it feeds,
//! so those close only after the pipelines it exports from are done.
//!
//! A config reload ([`Running::reload`]) builds what changed beside what runs (see
//! [`super::diff`] for what is kept), points the kept receivers at the new pipelines, and
//! retires the rest: replaced pipelines and exporters keep running until what they hold is
//! delivered, then end as at shutdown.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::diff::{self, Plan};
use super::exporter_run::{ExporterRun, Successor, spawn_exporter};
use super::{ExporterInput, Output};
use crate::Error;
use crate::component::Host;
use crate::component::supervise;
use crate::config::{Config, PipelineConfig};
use crate::core::{Batch, ComponentId, Consumer, Signal};
use crate::processors::ProcessorContext;
use crate::receivers::ReceiverContext;

/// Batches a pipeline's entry queue holds before receivers are told to retry.
const PIPELINE_QUEUE: usize = 64;

/// Batches a connector's input queue holds.
const CONNECTOR_QUEUE: usize = 64;

/// How long a reload waits for a replaced receiver to stop before starting its successor.
const RECEIVER_STOP: Duration = Duration::from_secs(5);

/// The running data path, in the order it must be stopped.
#[derive(Debug)]
pub(crate) struct Running {
    /// The configuration it runs.
    config: Arc<Config>,
    /// Receivers by id, each under its supervisor.
    receivers: BTreeMap<ComponentId, ReceiverRun>,
    /// Parent of every receiver's stop token.
    receivers_shutdown: CancellationToken,
    /// Pipelines by id.
    pipelines: BTreeMap<ComponentId, PipelineRun>,
    /// Connector tasks: stop once the pipelines exporting to them are done.
    connectors: Vec<JoinHandle<()>>,
    /// Exporters by id (each behind its queue).
    exporters: BTreeMap<ComponentId, ExporterRun>,
    /// Fires to make exporters (of every generation) give up retrying.
    exporters_abort: CancellationToken,
    /// Tasks replaced by a reload that are still delivering what they held.
    retired: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct ReceiverRun {
    supervisor: JoinHandle<()>,
    stop: CancellationToken,
    /// The receiver's consumers, by signal: a reload retargets them.
    consumers: [Option<Consumer>; 3],
}

#[derive(Debug)]
struct PipelineRun {
    /// Its entry queue (kept here so a reload can hand it to receivers again).
    entry: mpsc::Sender<Batch>,
    /// Its stages' tasks.
    tasks: Vec<JoinHandle<()>>,
    /// Some exporter of it has a persistent queue.
    to_disk: bool,
}

/// Why a reload did not (wholly) happen.
#[derive(Debug)]
pub(crate) enum ReloadError {
    /// Nothing changed: the previous configuration runs as it did.
    Refused(Error),
    /// The new configuration runs, without some receivers.
    Partial(Error),
}

/// Where a pipeline's exporter list sends: an exporter's queue or a connector's input.
type Inputs = BTreeMap<ComponentId, ExporterInput>;

/// What a reload built but has not yet put in place.
#[derive(Default)]
struct Staged {
    exporters: BTreeMap<ComponentId, ExporterRun>,
    successors: Vec<Successor>,
    pipelines: BTreeMap<ComponentId, PipelineRun>,
    connectors: Vec<JoinHandle<()>>,
}

impl Staged {
    /// Lets go of everything staged: with no data in it, it ends at once.
    fn discard(self, retired: &mut Vec<JoinHandle<()>>) {
        for (_, run) in self.exporters {
            retired.extend(run.tasks);
        }
        for (_, run) in self.pipelines {
            retired.extend(run.tasks);
        }
        retired.extend(self.connectors);
    }
}

/// Starts every exporter, connector, pipeline and receiver the configuration's pipelines use
/// (extensions are already running in `host`).
pub(crate) async fn start(config: &Arc<Config>, host: &Host) -> Result<Running, Error> {
    let mut running = Running {
        config: Arc::clone(config),
        receivers: BTreeMap::new(),
        receivers_shutdown: CancellationToken::new(),
        pipelines: BTreeMap::new(),
        connectors: Vec::new(),
        exporters: BTreeMap::new(),
        exporters_abort: CancellationToken::new(),
        retired: Vec::new(),
    };
    if let Err(ReloadError::Refused(err) | ReloadError::Partial(err)) = running
        .apply(Arc::clone(config), &Plan::default(), host)
        .await
    {
        running.receivers_shutdown.cancel();
        running.exporters_abort.cancel();
        return Err(err);
    }
    Ok(running)
}

impl Running {
    /// Replaces the running configuration with `config`: what [`diff::plan`] keeps goes on
    /// running untouched, the rest is built anew and the replaced parts drain in the
    /// background. Until receivers are switched over (the last step) an error leaves the old
    /// configuration running as it was (its admin routes included); a receiver that cannot
    /// start then is reported and the rest of the new configuration runs.
    pub(crate) async fn reload(
        &mut self,
        config: Arc<Config>,
        host: &Host,
    ) -> Result<(), ReloadError> {
        if let Some(why) = diff::needs_restart(&self.config, &config) {
            return Err(ReloadError::Refused(Error::component("config", why)));
        }
        let plan = diff::plan(&self.config, &config);
        self.apply(config, &plan, host).await
    }

    async fn apply(
        &mut self,
        config: Arc<Config>,
        plan: &Plan,
        host: &Host,
    ) -> Result<(), ReloadError> {
        self.retired.retain(|h| !h.is_finished());
        let mut staged = Staged::default();
        let routes = host.admin().snapshot();
        let entries = match self.stage(&config, plan, host, &mut staged).await {
            Ok(entries) => entries,
            Err(err) => {
                // The running components' routes come back; what was staged mounted none
                // that stays.
                host.admin().restore(&routes);
                host.release_shared();
                staged.discard(&mut self.retired);
                return Err(ReloadError::Refused(err));
            }
        };
        let (pipelines_built, exporters_built) = (staged.pipelines.len(), staged.exporters.len());
        let receivers = self.switch_receivers(&config, plan, entries, host).await;
        // Lookups of shared instances happen while building; what they hold (channels) must
        // not outlive the components using it.
        host.release_shared();
        self.retire(plan, staged, &config, host);
        tracing::info!(
            pipelines_kept = self.pipelines.len() - pipelines_built,
            pipelines_built,
            exporters_kept = self.exporters.len() - exporters_built,
            exporters_built,
            "configuration applied"
        );
        self.config = config;
        receivers
    }

    /// Builds the exporters, connectors and pipelines `plan` does not keep. Returns the
    /// consumers' targets by (receiver or connector, signal): entry queues, and whether one of
    /// them ends in a persistent queue.
    async fn stage(
        &self,
        config: &Arc<Config>,
        plan: &Plan,
        host: &Host,
        staged: &mut Staged,
    ) -> Result<Entries, Error> {
        // Routes of the components replaced or removed go first: the new instances,
        // exporters included, mount their own as they are built.
        for (_, _, p) in self.config.pipelines().chain(config.pipelines()) {
            for id in p.processors.iter().chain(p.exporters.iter()) {
                if !self.runs_kept(plan, id) {
                    host.admin().unmount(id);
                }
            }
        }
        for id in self.config.connectors.ids().chain(config.connectors.ids()) {
            host.admin().unmount(id);
        }

        let telemetry = host.telemetry();
        let mut inputs: Inputs = BTreeMap::new();
        for id in config.pipelines().flat_map(|(_, _, p)| &p.exporters) {
            if inputs.contains_key(id) || config.exporters.get(id).is_none() {
                continue;
            }
            if plan.exporters.contains(id)
                && let Some(run) = self.exporters.get(id)
            {
                inputs.insert(id.clone(), run.input.clone());
                continue;
            }
            let abort = self.exporters_abort.child_token();
            let Some(c) = config.exporters.get(id) else {
                continue;
            };
            // A changed exporter runs beside its previous instance, unless that one holds what
            // the new one needs (see `EXCLUSIVE`; a persistent queue's directory is locked).
            let previous = self.exporters.get(id);
            let exclusive = previous.is_some() && c.factory.exclusive();
            let built = match exclusive {
                true => None,
                false => Some(c.factory.build(c.config.as_ref(), id, host)?),
            };
            let after_previous = exclusive
                || previous.is_some_and(|p| {
                    p.persistent && built.as_ref().is_some_and(|b| b.queue.storage.is_some())
                });
            let run = match built {
                Some(built) if !after_previous => spawn_exporter(id, built, host, abort).await?,
                built => {
                    let (tx, rx) = mpsc::channel::<Batch>(PIPELINE_QUEUE);
                    // Not known before an exclusive exporter is built: taken as it was.
                    let persistent = built.as_ref().map_or_else(
                        || previous.is_some_and(|p| p.persistent),
                        |b| b.queue.storage.is_some(),
                    );
                    staged.successors.push(Successor {
                        id: id.clone(),
                        rx,
                        built,
                    });
                    ExporterRun {
                        input: ExporterInput {
                            id: id.to_string(),
                            tx,
                            gate: None,
                            block_on_overflow: true,
                            persistent: false,
                            metrics: telemetry.exporter(&id.to_string(), None),
                        },
                        tasks: Vec::new(),
                        persistent,
                        abort,
                    }
                }
            };
            inputs.insert(id.clone(), run.input.clone());
            staged.exporters.insert(id.clone(), run);
        }
        // Each exporter id is served by its staged instance or else by the kept one.
        let persistent: BTreeSet<ComponentId> = inputs
            .keys()
            .filter(|id| {
                staged
                    .exporters
                    .get(*id)
                    .or_else(|| self.exporters.get(*id))
                    .is_some_and(|run| run.persistent)
            })
            .cloned()
            .collect();

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

        let mut entries = Entries::default();
        for (pipeline_id, signal, pipeline) in config.pipelines() {
            let (entry, to_disk) = match self.pipelines.get(pipeline_id) {
                Some(run) if plan.pipelines.contains(pipeline_id) => {
                    (run.entry.clone(), run.to_disk)
                }
                _ => {
                    let run = start_pipeline(
                        config,
                        pipeline_id,
                        signal,
                        pipeline,
                        &inputs,
                        &persistent,
                        host,
                    )?;
                    let entry = run.entry.clone();
                    let to_disk = run.to_disk;
                    staged.pipelines.insert(pipeline_id.clone(), run);
                    (entry, to_disk)
                }
            };
            for receiver in &pipeline.receivers {
                entries
                    .queues
                    .entry((receiver.clone(), signal))
                    .or_default()
                    .push(entry.clone());
                if to_disk {
                    entries.durable.insert((receiver.clone(), signal));
                }
            }
        }
        // From here on only receivers, connectors and pipeline stages (and the running
        // exporters' records) hold senders into exporter and connector queues.
        drop(inputs);

        for (id, rx) in connector_rx {
            let Some(c) = config.connectors.get(&id) else {
                continue;
            };
            let ctx = crate::component::ConnectorContext {
                id: id.clone(),
                input: rx,
                outputs: entries.consumers(&id, host),
            };
            staged
                .connectors
                .push(c.factory.spawn(c.config.as_ref(), ctx, host)?);
        }
        Ok(entries)
    }

    /// Whether component `id` (a processor or an exporter) keeps its running instance.
    fn runs_kept(&self, plan: &Plan, id: &ComponentId) -> bool {
        plan.exporters.contains(id)
            || self
                .config
                .pipelines()
                .any(|(pid, _, p)| plan.pipelines.contains(pid) && p.processors.contains(id))
    }

    /// Points kept receivers at the new pipelines, stops the replaced and removed ones and
    /// starts the new ones.
    async fn switch_receivers(
        &mut self,
        config: &Arc<Config>,
        plan: &Plan,
        mut entries: Entries,
        host: &Host,
    ) -> Result<(), ReloadError> {
        let mut ids: Vec<ComponentId> = Vec::new();
        for (_, _, p) in config.pipelines() {
            for id in &p.receivers {
                if config.receivers.get(id).is_some() && !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
        // Replaced receivers stop first: a successor may bind the same port.
        let mut kept = BTreeMap::new();
        for (id, run) in std::mem::take(&mut self.receivers) {
            let keep = ids.contains(&id)
                && plan.receivers.contains(&id)
                && Signal::ALL.iter().all(|s| {
                    run.consumers[*s as usize].is_some()
                        == entries.queues.contains_key(&(id.clone(), *s))
                });
            if keep {
                kept.insert(id, run);
            } else {
                self.stop_receiver(&id, run).await;
            }
        }
        let mut failed = Vec::new();
        for id in ids {
            if let Some(run) = kept.remove(&id) {
                for signal in Signal::ALL {
                    let key = (id.clone(), signal);
                    let waits = entries.durable.contains(&key);
                    if let (Some(consumer), Some(queues)) =
                        (&run.consumers[signal as usize], entries.queues.remove(&key))
                    {
                        consumer.retarget(queues, waits);
                    }
                }
                self.receivers.insert(id, run);
                continue;
            }
            let consumers = entries.consumers(&id, host);
            let stop = self.receivers_shutdown.child_token();
            let ctx = ReceiverContext::new(
                id.clone(),
                consumers.clone(),
                host.telemetry().clone(),
                stop.child_token(),
            );
            match supervise::start_receiver(config, &id, ctx, host, &stop).await {
                Ok(supervisor) => {
                    self.receivers.insert(
                        id,
                        ReceiverRun {
                            supervisor,
                            stop,
                            consumers,
                        },
                    );
                }
                Err(err) => {
                    stop.cancel();
                    tracing::error!(receiver = %id, error = %err, "receiver could not start");
                    failed.push(err.to_string());
                }
            }
        }
        match failed.is_empty() {
            true => Ok(()),
            false => Err(ReloadError::Partial(Error::component(
                "receivers",
                format!(
                    "the new configuration runs, but these receivers could not start: {}",
                    failed.join("; ")
                ),
            ))),
        }
    }

    async fn stop_receiver(&mut self, id: &ComponentId, run: ReceiverRun) {
        run.stop.cancel();
        let mut supervisor = run.supervisor;
        if tokio::time::timeout(RECEIVER_STOP, &mut supervisor)
            .await
            .is_err()
        {
            tracing::warn!(receiver = %id, "receiver still stopping; starting the new configuration beside it");
            self.retired.push(supervisor);
        }
    }

    /// Lets go of the pipelines, exporters and connectors the new configuration replaced
    /// (they end once drained) and puts the staged ones in their place.
    fn retire(&mut self, plan: &Plan, staged: Staged, config: &Arc<Config>, host: &Host) {
        let mut successors: BTreeMap<ComponentId, Successor> = staged
            .successors
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        for (id, run) in std::mem::take(&mut self.pipelines) {
            if plan.pipelines.contains(&id) {
                self.pipelines.insert(id, run);
            } else {
                self.retired.extend(run.tasks);
            }
        }
        let mut exporters = staged.exporters;
        for (id, run) in std::mem::take(&mut self.exporters) {
            if plan.exporters.contains(&id) {
                self.exporters.insert(id, run);
            } else if let (Some(successor), Some(next)) =
                (successors.remove(&id), exporters.get_mut(&id))
            {
                let abort = next.abort.clone();
                next.tasks
                    .push(successor.follow(run, Arc::clone(config), host.clone(), abort));
            } else {
                self.retired.extend(run.tasks);
            }
        }
        self.retired.append(&mut self.connectors);
        self.pipelines.extend(staged.pipelines);
        self.exporters.extend(exporters);
        self.connectors = staged.connectors;
    }

    /// Stops receivers, drains pipelines and lets exporters flush for up to `deadline`;
    /// returns whether everything drained in time.
    pub(crate) async fn shutdown(self, deadline: Duration) -> bool {
        self.receivers_shutdown.cancel();
        let mut processors = Vec::new();
        let mut exporters = self.retired;
        for (_, run) in self.receivers {
            join_all(vec![run.supervisor]).await;
        }
        for (_, run) in self.pipelines {
            processors.extend(run.tasks);
        }
        processors.extend(self.connectors);
        for (_, run) in self.exporters {
            exporters.extend(run.tasks);
        }
        let drained = tokio::time::timeout(deadline, async {
            join_all(processors).await;
            join_all(exporters).await;
        });
        // The drain future owns the handles; on timeout, exporters are told to give up
        // (counting what they held as failed) and the process exits without waiting longer.
        if drained.await.is_err() {
            tracing::warn!(
                ?deadline,
                "exporters did not drain before the shutdown deadline"
            );
            self.exporters_abort.cancel();
            tokio::time::sleep(Duration::from_millis(200)).await;
            return false;
        }
        true
    }
}

/// The entry queues each (receiver or connector, signal) feeds.
#[derive(Default)]
struct Entries {
    queues: BTreeMap<(ComponentId, Signal), Vec<mpsc::Sender<Batch>>>,
    /// Entries with a persistent queue at the end of some pipeline.
    durable: BTreeSet<(ComponentId, Signal)>,
}

impl Entries {
    /// Takes the consumers of `id`, by signal.
    fn consumers(&mut self, id: &ComponentId, host: &Host) -> [Option<Consumer>; 3] {
        Signal::ALL.map(|signal| {
            let key = (id.clone(), signal);
            let waits = self.durable.contains(&key);
            self.queues.remove(&key).map(|pipelines| {
                Consumer::with_budget(pipelines, host.memory().clone()).waiting_for_queues(waits)
            })
        })
    }
}

/// Spawns one pipeline's stages, back to front so each knows the next.
fn start_pipeline(
    config: &Config,
    pipeline_id: &ComponentId,
    signal: Signal,
    pipeline: &PipelineConfig,
    inputs: &Inputs,
    persistent: &BTreeSet<ComponentId>,
    host: &Host,
) -> Result<PipelineRun, Error> {
    let mut tasks = Vec::new();
    let mut output = Output::Exporters(
        pipeline
            .exporters
            .iter()
            .filter_map(|id| inputs.get(id).cloned())
            .collect(),
    );
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
            metrics: host
                .telemetry()
                .processor(&id.to_string(), &pipeline_id.to_string(), signal),
        };
        tasks.push(c.factory.spawn(c.config.as_ref(), stage, host)?);
        output = Output::Next(tx);
    }
    let entry = match output {
        Output::Next(tx) => tx,
        exporters @ Output::Exporters(_) => {
            // No processors: a forwarding stage keeps one queue per pipeline so a full
            // exporter queue pushes back to the receivers in the same way.
            let (tx, mut rx) = mpsc::channel::<Batch>(PIPELINE_QUEUE);
            tasks.push(tokio::spawn(async move {
                while let Some(batch) = rx.recv().await {
                    exporters.send(batch).await;
                }
            }));
            tx
        }
    };
    Ok(PipelineRun {
        entry,
        tasks,
        to_disk: pipeline.exporters.iter().any(|id| persistent.contains(id)),
    })
}

pub(super) async fn join_all(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        if let Err(err) = handle.await
            && err.is_panic()
        {
            tracing::error!(error = %err, "a task panicked");
        }
    }
}
