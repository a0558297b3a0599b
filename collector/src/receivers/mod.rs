//! Receivers: where data enters. Each hands batches to a [`Consumer`] per signal and stops when
//! its context's shutdown token fires, dropping its consumers so the pipelines can drain.

// Receivers read what clients and files send: an out-of-range index must be an error, not a panic.
#![warn(clippy::string_slice, clippy::indexing_slicing)]

pub(crate) mod filelog;
pub(crate) mod hostmetrics;
pub(crate) mod httpcheck;
pub(crate) mod otlp;
mod scraping;

use tokio_util::sync::CancellationToken;

use crate::core::ComponentId;
use crate::core::{Consumer, Signal};
use crate::telemetry::Telemetry;

/// What a receiver gets when it starts.
#[derive(Debug)]
pub struct ReceiverContext {
    /// The receiver's id, for logs and metrics.
    pub id: ComponentId,
    consumers: [Option<Consumer>; 3],
    /// Self-metrics.
    pub telemetry: Telemetry,
    /// Fires when the receiver must stop accepting data.
    pub shutdown: CancellationToken,
}

impl ReceiverContext {
    /// A context handing each signal to the given consumer (`None`: no pipeline takes it).
    pub fn new(
        id: ComponentId,
        consumers: [Option<Consumer>; 3],
        telemetry: Telemetry,
        shutdown: CancellationToken,
    ) -> ReceiverContext {
        ReceiverContext {
            id,
            consumers,
            telemetry,
            shutdown,
        }
    }

    /// Where to hand data of `signal`, if any pipeline takes it from this receiver.
    pub fn consumer(&self, signal: Signal) -> Option<&Consumer> {
        self.consumers.get(signal as usize).and_then(Option::as_ref)
    }

    /// The same receiver's context for another start, stopped by `shutdown`.
    pub(crate) fn again(&self, shutdown: CancellationToken) -> ReceiverContext {
        ReceiverContext {
            id: self.id.clone(),
            consumers: self.consumers.clone(),
            telemetry: self.telemetry.clone(),
            shutdown,
        }
    }
}
