//! What every part of the collector shares: the [`Signal`]s, the [`Batch`] that moves through
//! pipelines, delivery acknowledgement ([`Ack`]), the memory budget ([`MemoryBudget`]), component ids ([`ComponentId`]) and the
//! receiver-facing fan-out ([`Consumer`]). This module depends on nothing else in the crate.

pub(crate) mod ack;
pub(crate) mod alert;
pub(crate) mod alert_history;
pub(crate) mod batch;
pub(crate) mod consumer;
pub(crate) mod dir_lock;
pub(crate) mod id;
pub(crate) mod memory;
pub(crate) mod otlp_build;
pub(crate) mod recent;
pub(crate) mod signal;

pub(crate) use ack::{Ack, AckSet};
pub(crate) use batch::{Batch, split, validate, validate_with};
pub(crate) use consumer::Consumer;
pub(crate) use id::ComponentId;
pub(crate) use memory::{
    DEFAULT_HARD_LIMIT, DEFAULT_SOFT_LIMIT, Hold, MemoryBudget, OverBudget, Reservation,
};
pub(crate) use signal::Signal;
