//! How many requests an exporter keeps in flight (`sending_queue.num_consumers`): a fixed
//! number, or `adaptive`, after Vector's adaptive request concurrency.
//!
//! Every send attempt holds a [`Permit`] from the exporter's [`Limiter`] and reports, when it
//! is done, how long it took and what the destination answered ([`Feedback`]). With
//! `adaptive`, the [`Controller`] turns those reports into the limit: additive increase while
//! response times stay at their baseline and the limit is in use, multiplicative decrease when
//! they rise above it or the destination pushes back. A fixed `num_consumers` is the same
//! limiter with a limit that never moves, so both report the same self-metrics.

mod controller;
mod feedback;
mod limiter;

pub(crate) use controller::Controller;
pub(crate) use feedback::Feedback;
pub(crate) use limiter::{Limiter, Permit};
