//! `receivers: test_source:` — hands `items` items of every signal a pipeline takes from it
//! once at start, then waits for shutdown.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::Error;
use crate::component::{
    About, Factory as FactoryTrait, Host, ReceiverFactory, Stability, Validate,
};
use crate::core::{Batch, Signal};
use crate::receivers::ReceiverContext;

/// Settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// Items per signal.
    pub(crate) items: usize,
    /// The first start's task panics after handing its items on (to test supervision).
    pub(crate) panic_once: bool,
}

impl Validate for Config {}

/// Builds `test_source` receivers.
#[derive(Debug)]
pub(crate) struct Factory;

impl FactoryTrait for Factory {
    type Config = Config;
    const ABOUT: About = About {
        type_name: "test_source",
        aliases: &[],
        signals: &Signal::ALL,
        stability: Stability::Development,
    };
}

impl ReceiverFactory for Factory {
    fn start<'a>(
        &'a self,
        config: &'a Config,
        ctx: ReceiverContext,
        _host: &'a Host,
    ) -> BoxFuture<'a, Result<Vec<JoinHandle<()>>, Error>> {
        let items = config.items;
        let panic = config.panic_once && !PANICKED.swap(true, Ordering::SeqCst);
        Box::pin(async move {
            Ok(vec![tokio::spawn(async move {
                for signal in Signal::ALL {
                    if let Some(c) = ctx.consumer(signal) {
                        let _ = c.send(Batch::new(signal, Bytes::new(), items)).await;
                    }
                }
                assert!(
                    !panic,
                    "test_source: the panic a supervision test asked for"
                );
                ctx.shutdown.cancelled().await;
            })])
        })
    }
}

/// Whether a `panic_once` source has panicked in this test process.
static PANICKED: AtomicBool = AtomicBool::new(false);
