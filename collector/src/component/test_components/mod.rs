//! Components that exist only in tests, to show that a new component is one folder plus one
//! registry line: a processor keeping one state for every pipeline that lists it (of any
//! signal), and an exporter keeping what it gets in memory.

pub(crate) mod alert_sink;
pub(crate) mod memory_exporter;
pub(crate) mod shared_counter;
pub(crate) mod source;

#[cfg(test)]
mod tests;
