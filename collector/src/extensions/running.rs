//! The running extensions (`service.extensions`): started before the pipelines, changed by a
//! config reload, stopped last.
//!
//! A reload compares each extension's body as written (as [`crate::pipeline::diff`] does for
//! the other components):
//!
//! - unchanged: the instance keeps running (the same service object, the same tasks) — unless
//!   a file its config names changed ([`ExtensionFactory::files`]: `bearertokenauth`'s
//!   `filename`, `basicauth`'s `htpasswd.file`), which counts as a change;
//! - new: started, and offered to the components the reload builds;
//! - changed: the new instance is started beside the running one. If the extension type has a
//!   [`Swap`] (the authenticators, `alerting`), the components holding the running service
//!   get the new behaviour in place; otherwise (`health_check`, `file_storage`) the host hands
//!   out the new service from now on. When the new instance cannot start beside the old one
//!   (its endpoint is the one the old one holds), the old one is stopped first and the start
//!   retried;
//! - removed: stopped once the new configuration runs.
//!
//! [`Extensions::reload`] only stages: the caller [`commit`](Staged::commit)s once the rest of
//! the configuration runs, or [`roll_back`](Staged::roll_back)s, and the running extensions
//! are as they were.
//!
//! [`ExtensionFactory::files`]: crate::component::ExtensionFactory::files

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::component::host::Shared;
use crate::component::{Host, Swap};
use crate::config::Config;
use crate::core::ComponentId;

/// How long a changed extension's start is retried after its old instance was stopped (the
/// old listener closes once its task sees the cancellation).
const RESTART_PATIENCE: Duration = Duration::from_secs(2);
/// Pause between those attempts.
const RESTART_PAUSE: Duration = Duration::from_millis(25);

/// The extensions that run, by id.
#[derive(Debug, Default)]
pub(crate) struct Extensions {
    running: BTreeMap<ComponentId, Instance>,
    /// Tasks of stopped instances, joined at shutdown (finished ones are dropped on reload).
    retired: Vec<JoinHandle<()>>,
}

/// One running extension.
#[derive(Debug)]
struct Instance {
    /// Stops this instance's tasks alone (a child of the host's shutdown token).
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// The service components hold (after a swap: the same object, with the new behaviour).
    service: Option<Shared>,
    swap: Option<Swap>,
    /// Digest of the files its config names, read before it started.
    files: [u8; 32],
}

impl Instance {
    fn stop(self, retired: &mut Vec<JoinHandle<()>>) {
        self.stop.cancel();
        retired.extend(self.tasks);
    }
}

/// Starts extension `id` as `config` describes it, with its own stop token.
async fn start_one(config: &Config, id: &ComponentId, host: &Host) -> Result<Instance, Error> {
    let Some(c) = config.extensions.get(id) else {
        return Err(Error::component(id, "extension is not defined"));
    };
    // Read before the extension reads them: a change in between shows at the next reload.
    let files = files_digest(config, id);
    let stop = host.shutdown().child_token();
    let extension = c
        .factory
        .start(c.config.as_ref(), id, &host.scoped(stop.clone()))
        .await;
    match extension {
        Ok(extension) => Ok(Instance {
            stop,
            tasks: extension.tasks,
            service: extension.service,
            swap: extension.swap,
            files,
        }),
        Err(err) => {
            stop.cancel();
            Err(err)
        }
    }
}

/// SHA-256 over the paths and contents of the files extension `id`'s config names (an
/// unreadable file counts as its error text).
fn files_digest(config: &Config, id: &ComponentId) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    if let Some(c) = config.extensions.get(id) {
        for path in c.factory.files(c.config.as_ref()) {
            context.update(path.as_os_str().as_encoded_bytes());
            match std::fs::read(&path) {
                Ok(contents) => {
                    context.update(&(contents.len() as u64).to_le_bytes());
                    context.update(&contents);
                }
                Err(err) => context.update(err.to_string().as_bytes()),
            }
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// [`start_one`], retried for [`RESTART_PATIENCE`] (an endpoint being released).
async fn start_with_patience(
    config: &Config,
    id: &ComponentId,
    host: &Host,
) -> Result<Instance, Error> {
    let started = tokio::time::Instant::now();
    loop {
        match start_one(config, id, host).await {
            Ok(instance) => return Ok(instance),
            Err(err) if started.elapsed() >= RESTART_PATIENCE => return Err(err),
            Err(_) => tokio::time::sleep(RESTART_PAUSE).await,
        }
    }
}

impl Extensions {
    /// Starts the extensions of `service.extensions`, in order, offering each one's service
    /// through `host`.
    pub(crate) async fn start(config: &Config, host: &Host) -> Result<Extensions, Error> {
        let mut extensions = Extensions::default();
        for id in &config.service.extensions {
            let instance = start_one(config, id, host).await?;
            host.add_extension(id.clone(), instance.service.clone());
            extensions.running.insert(id.clone(), instance);
        }
        Ok(extensions)
    }

    /// Starts what `new` adds or changes beside what `old` runs and offers it through `host`;
    /// nothing is stopped yet (but the old instance of a changed extension that could not
    /// start beside it). On error everything is as it was.
    pub(crate) async fn reload(
        &mut self,
        old: &Config,
        new: &Config,
        host: &Host,
    ) -> Result<Staged, Error> {
        self.retired.retain(|h| !h.is_finished());
        let mut staged = Staged::default();
        for id in &new.service.extensions {
            let before = old.service.extensions.contains(id);
            if before
                && old.raw(&["extensions"], Some(id)) == new.raw(&["extensions"], Some(id))
                && self
                    .running
                    .get(id)
                    .is_some_and(|r| r.files == files_digest(new, id))
            {
                continue;
            }
            let result = if before {
                match self.running.remove(id) {
                    Some(running) => self.replace(old, new, id, running, host).await,
                    None => Err(Error::component(
                        id,
                        "internal error: extension not running",
                    )),
                }
            } else {
                start_one(new, id, host).await.map(|instance| {
                    host.add_extension(id.clone(), instance.service.clone());
                    Change::Added {
                        id: id.clone(),
                        instance,
                    }
                })
            };
            match result {
                Ok(change) => staged.changes.push(change),
                Err(err) => {
                    self.roll_back(staged, old, host).await;
                    return Err(err);
                }
            }
        }
        staged.removed = old
            .service
            .extensions
            .iter()
            .filter(|id| !new.service.extensions.contains(id))
            .cloned()
            .collect();
        Ok(staged)
    }

    /// Starts the changed extension `id` and puts it in place of `running` (kept in the
    /// change, to stop or to restore).
    async fn replace(
        &mut self,
        old: &Config,
        new: &Config,
        id: &ComponentId,
        running: Instance,
        host: &Host,
    ) -> Result<Change, Error> {
        let (instance, old_stopped) = match start_one(new, id, host).await {
            Ok(instance) => (instance, false),
            // Holding what the new one needs (its endpoint)? A swappable service holds
            // nothing of the kind: its start failed on the config itself.
            Err(err) if running.swap.is_some() => {
                self.running.insert(id.clone(), running);
                return Err(err);
            }
            Err(_) => {
                running.stop.cancel();
                match start_with_patience(new, id, host).await {
                    Ok(instance) => (instance, true),
                    Err(err) => {
                        running.stop(&mut self.retired);
                        match start_with_patience(old, id, host).await {
                            Ok(restarted) => {
                                host.add_extension(id.clone(), restarted.service.clone());
                                self.running.insert(id.clone(), restarted);
                            }
                            Err(again) => {
                                tracing::error!(extension = %id, error = %again, "the previous instance of the extension did not start again");
                                host.remove_extension(id);
                            }
                        }
                        return Err(err);
                    }
                }
            }
        };
        let swapped = !old_stopped
            && match (running.swap, &running.service, &instance.service) {
                (Some(swap), Some(a), Some(b)) => swap(a.as_ref(), b.as_ref()),
                _ => false,
            };
        if !swapped {
            host.add_extension(id.clone(), instance.service.clone());
        }
        Ok(Change::Replaced {
            id: id.clone(),
            old: running,
            new: instance,
            swapped,
            old_stopped,
        })
    }

    /// Puts `staged` in place for good: replaced and removed instances stop.
    pub(crate) fn commit(&mut self, staged: Staged, host: &Host) {
        for change in staged.changes {
            match change {
                Change::Added { id, instance } => {
                    tracing::info!(extension = %id, "extension started");
                    self.running.insert(id, instance);
                }
                Change::Replaced {
                    id,
                    old,
                    mut new,
                    swapped,
                    ..
                } => {
                    if swapped {
                        // Components hold the old service object, which now does what the
                        // new instance does: it stays the one offered.
                        new.service.clone_from(&old.service);
                    }
                    old.stop(&mut self.retired);
                    tracing::info!(extension = %id, in_place = swapped, "extension reloaded");
                    self.running.insert(id, new);
                }
            }
        }
        for id in staged.removed {
            if let Some(instance) = self.running.remove(&id) {
                host.remove_extension(&id);
                instance.stop(&mut self.retired);
                tracing::info!(extension = %id, "extension stopped");
            }
        }
    }

    /// Undoes `staged`: what it started stops, and what it replaced runs as before.
    pub(crate) async fn roll_back(&mut self, staged: Staged, old: &Config, host: &Host) {
        for change in staged.changes.into_iter().rev() {
            match change {
                Change::Added { id, instance } => {
                    host.remove_extension(&id);
                    instance.stop(&mut self.retired);
                }
                Change::Replaced {
                    id,
                    old: previous,
                    new,
                    swapped,
                    old_stopped,
                } => {
                    if swapped
                        && let (Some(swap), Some(a), Some(b)) =
                            (previous.swap, &previous.service, &new.service)
                    {
                        swap(a.as_ref(), b.as_ref());
                    }
                    new.stop(&mut self.retired);
                    if old_stopped {
                        previous.stop(&mut self.retired);
                        match start_with_patience(old, &id, host).await {
                            Ok(restarted) => {
                                host.add_extension(id.clone(), restarted.service.clone());
                                self.running.insert(id, restarted);
                            }
                            Err(err) => {
                                tracing::error!(extension = %id, error = %err, "the previous instance of the extension did not start again");
                                host.remove_extension(&id);
                            }
                        }
                    } else {
                        host.add_extension(id.clone(), previous.service.clone());
                        self.running.insert(id, previous);
                    }
                }
            }
        }
    }

    /// Every task of every instance, running or stopped, for the service to join once the
    /// host's shutdown token fired.
    pub(crate) fn into_tasks(self) -> Vec<JoinHandle<()>> {
        let mut tasks = self.retired;
        for instance in self.running.into_values() {
            tasks.extend(instance.tasks);
        }
        tasks
    }
}

/// What [`Extensions::reload`] started, for [`Extensions::commit`] or
/// [`Extensions::roll_back`].
#[derive(Debug, Default)]
#[must_use = "commit or roll back a staged extension reload"]
pub(crate) struct Staged {
    changes: Vec<Change>,
    removed: Vec<ComponentId>,
}

#[derive(Debug)]
enum Change {
    /// A new extension, started and offered.
    Added { id: ComponentId, instance: Instance },
    /// A changed extension: the new instance started (and swapped into the running service,
    /// or offered instead of it); the old one runs until the commit (unless `old_stopped`).
    Replaced {
        id: ComponentId,
        old: Instance,
        new: Instance,
        swapped: bool,
        old_stopped: bool,
    },
}
