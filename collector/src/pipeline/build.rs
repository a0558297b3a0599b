//! Wiring: turns the configuration into running exporters, pipelines and receivers.
//!
//! Ownership makes shutdown orderly: receivers hold the only senders into the pipelines, and
//! pipelines hold the only senders into the exporters' queues. Stopping the receivers therefore
//! closes each pipeline once it has drained, which closes each exporter queue once it has
//! drained. A processor that feeds other pipelines (see [`crate::config::components::Feed`])
//! holds senders into them too, so a fed pipeline closes only after that processor has made
//! its final flush and returned.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Batch, Consumer, ExporterInput, Output, Signal};
use crate::Error;
use crate::config::shared::{QueueConfig, RetryConfig};
use crate::config::{
    ComponentId, Config, ExporterConfig, PipelineConfig, ProcessorConfig, ReceiverConfig,
};
use crate::exporters::{
    Export, debug::DebugExporter, file::FileExporter, otlp_grpc::OtlpGrpcExporter,
    otlp_http::OtlpHttpExporter, queue,
};
use crate::processors::{self, ProcessorContext};
use crate::receivers::{self, ReceiverContext};
use crate::telemetry::Telemetry;

/// Batches a pipeline's entry queue holds before receivers are told to retry.
const PIPELINE_QUEUE: usize = 64;

/// The running data path, in the order it must be stopped.
#[derive(Debug)]
pub struct Running {
    /// Receiver tasks: stop when `receivers_shutdown` fires.
    pub receivers: Vec<JoinHandle<()>>,
    /// Fires to stop the receivers.
    pub receivers_shutdown: CancellationToken,
    /// Processor tasks: stop once their input closes and is drained.
    pub processors: Vec<JoinHandle<()>>,
    /// Exporter senders: stop once their queue closes and is drained.
    pub exporters: Vec<JoinHandle<()>>,
    /// Fires to make exporters give up retrying.
    pub exporters_abort: CancellationToken,
}

/// Starts every exporter, pipeline and receiver the configuration's pipelines use.
pub async fn start(config: &Config, telemetry: &Telemetry) -> Result<Running, Error> {
    let exporters_abort = CancellationToken::new();
    let mut exporter_tasks = Vec::new();
    let mut exporter_inputs: BTreeMap<ComponentId, ExporterInput> = BTreeMap::new();
    for (_, _, pipeline) in config.pipelines() {
        for id in &pipeline.exporters {
            if exporter_inputs.contains_key(id) {
                continue;
            }
            let Some(exporter_config) = config.exporters.get(id) else {
                continue;
            };
            let (exporter, queue_config, retry) = build_exporter(id, exporter_config)?;
            let (input, handles) = queue::spawn(
                id.to_string(),
                exporter,
                &queue_config,
                retry,
                telemetry.exporter(&id.to_string(), None),
                exporters_abort.clone(),
            );
            exporter_tasks.extend(handles);
            exporter_inputs.insert(id.clone(), input);
        }
    }

    let mut processor_tasks = Vec::new();
    // Entry queues by (receiver, signal): what each receiver's consumer feeds.
    let mut entries: BTreeMap<(ComponentId, Signal), Vec<mpsc::Sender<Batch>>> = BTreeMap::new();
    // Entry queues by pipeline, for processors that feed pipelines built before theirs.
    let mut pipeline_entries: BTreeMap<&ComponentId, mpsc::Sender<Batch>> = BTreeMap::new();
    for (pipeline_id, signal, pipeline) in build_order(config)? {
        let mut output = Output::Exporters(
            pipeline
                .exporters
                .iter()
                .filter_map(|id| exporter_inputs.get(id).cloned())
                .collect(),
        );
        // Build back to front so each stage knows the next.
        for id in pipeline.processors.iter().rev() {
            let Some(processor_config) = config.processors.get(id) else {
                continue;
            };
            let (tx, rx) = mpsc::channel(PIPELINE_QUEUE);
            let ctx = ProcessorContext {
                input: rx,
                output,
                metrics: telemetry.processor(&id.to_string(), &pipeline_id.to_string(), signal),
            };
            let names = (id.to_string(), pipeline_id.to_string());
            processor_tasks.push(spawn_processor(
                processor_config,
                ctx,
                telemetry,
                names,
                &pipeline_entries,
            )?);
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
        for receiver in &pipeline.receivers {
            entries
                .entry((receiver.clone(), signal))
                .or_default()
                .push(entry.clone());
        }
        pipeline_entries.insert(pipeline_id, entry);
    }
    // From here on only receivers and feeding processors hold pipeline senders.
    drop(pipeline_entries);
    drop(exporter_inputs);

    let receivers_shutdown = CancellationToken::new();
    let mut receiver_tasks = Vec::new();
    let receiver_ids: Vec<ComponentId> = entries.keys().map(|(id, _)| id.clone()).collect();
    let mut started: Vec<ComponentId> = Vec::new();
    for id in receiver_ids {
        if started.contains(&id) {
            continue;
        }
        started.push(id.clone());
        let consumers =
            Signal::ALL.map(|signal| entries.remove(&(id.clone(), signal)).map(Consumer::new));
        let ctx = ReceiverContext::new(
            id.clone(),
            consumers,
            telemetry.clone(),
            receivers_shutdown.clone(),
        );
        let Some(receiver_config) = config.receivers.get(&id) else {
            continue;
        };
        match start_receiver(receiver_config, config, ctx).await {
            Ok(handles) => receiver_tasks.extend(handles),
            Err(err) => {
                receivers_shutdown.cancel();
                exporters_abort.cancel();
                return Err(err);
            }
        }
    }
    Ok(Running {
        receivers: receiver_tasks,
        receivers_shutdown,
        processors: processor_tasks,
        exporters: exporter_tasks,
        exporters_abort,
    })
}

/// The pipelines in the order they are built: a pipeline a processor feeds comes before the
/// pipeline running that processor, so its entry queue exists when the processor is spawned.
/// (Config checks make such links go from traces to logs or metrics pipelines, so there is no
/// cycle; one is reported rather than looped on.)
fn build_order(config: &Config) -> Result<Vec<(&ComponentId, Signal, &PipelineConfig)>, Error> {
    let fed_by = |p: &PipelineConfig| -> Vec<&ComponentId> {
        p.processors
            .iter()
            .filter_map(|id| config.processors.get(id))
            .flat_map(|c| c.feeds())
            .flat_map(|f| f.pipelines)
            .collect()
    };
    let mut pending: Vec<_> = config.pipelines().collect();
    let mut order: Vec<(&ComponentId, Signal, &PipelineConfig)> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending.iter().position(|(_, _, p)| {
            fed_by(p)
                .into_iter()
                .all(|target| order.iter().any(|(id, _, _)| *id == target))
        });
        let Some(i) = ready else {
            let ids: Vec<String> = pending.iter().map(|(id, _, _)| id.to_string()).collect();
            return Err(Error::component(
                "service.pipelines",
                format!(
                    "pipelines {} feed each other through their processors",
                    ids.join(", ")
                ),
            ));
        };
        order.push(pending.remove(i));
    }
    Ok(order)
}

type BuiltExporter = (Arc<dyn Export>, QueueConfig, RetryConfig);

fn build_exporter(id: &ComponentId, config: &ExporterConfig) -> Result<BuiltExporter, Error> {
    let err = |message: String| Error::component(format!("exporters.{id}"), message);
    // Exporters that write locally send one batch at a time, in order, and do not retry forever.
    let local_queue = QueueConfig {
        num_consumers: 1,
        ..QueueConfig::default()
    };
    Ok(match config {
        ExporterConfig::Otlp(c) => (
            Arc::new(OtlpGrpcExporter::new(id.to_string(), c).map_err(err)?),
            c.sending_queue.clone(),
            c.retry_on_failure.clone(),
        ),
        ExporterConfig::OtlpHttp(c) => (
            Arc::new(OtlpHttpExporter::new(id.to_string(), c).map_err(err)?),
            c.sending_queue.clone(),
            c.retry_on_failure.clone(),
        ),
        ExporterConfig::File(c) => (
            Arc::new(FileExporter::new(c).map_err(err)?),
            local_queue,
            RetryConfig::default(),
        ),
        ExporterConfig::Debug(c) => (
            Arc::new(DebugExporter::new(id.to_string(), c)),
            local_queue,
            RetryConfig {
                enabled: false,
                ..RetryConfig::default()
            },
        ),
    })
}

/// `names` is (processor id, pipeline id), for processors with their own self-metrics;
/// `pipelines` holds the entry queues of the pipelines built so far, for processors that feed
/// other pipelines.
fn spawn_processor(
    config: &ProcessorConfig,
    ctx: ProcessorContext,
    telemetry: &Telemetry,
    names: (String, String),
    pipelines: &BTreeMap<&ComponentId, mpsc::Sender<Batch>>,
) -> Result<JoinHandle<()>, Error> {
    let senders = |ids: &[ComponentId]| -> Result<Vec<mpsc::Sender<Batch>>, Error> {
        ids.iter()
            .map(|id| {
                pipelines.get(id).cloned().ok_or_else(|| {
                    Error::component(
                        format!("processors.{}", names.0),
                        format!("pipeline {id} it feeds was not built before it"),
                    )
                })
            })
            .collect()
    };
    Ok(match config {
        ProcessorConfig::Batch(c) => tokio::spawn(processors::batch::run(c.clone(), ctx)),
        ProcessorConfig::LatencyAnomaly(c) => {
            use processors::latency_anomaly::{LatencyMetrics, Targets, run};
            let metrics = LatencyMetrics::new(telemetry, &names.0, &names.1);
            let targets = Targets {
                events: senders(&c.events.pipelines)?,
                red_metrics: senders(&c.red_metrics.pipelines)?,
            };
            tokio::spawn(run((**c).clone(), ctx, metrics, targets))
        }
    })
}

async fn start_receiver(
    config: &ReceiverConfig,
    full: &Config,
    ctx: ReceiverContext,
) -> Result<Vec<JoinHandle<()>>, Error> {
    match config {
        ReceiverConfig::Otlp(c) => receivers::otlp::start(c, ctx).await,
        ReceiverConfig::HostMetrics(c) => receivers::hostmetrics::start(c, ctx).await,
        ReceiverConfig::HttpCheck(c) => receivers::httpcheck::start(c, ctx).await,
        ReceiverConfig::FileLog(c) => receivers::filelog::start_with_storage(c, full, ctx).await,
    }
}
