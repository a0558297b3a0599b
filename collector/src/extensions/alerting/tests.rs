//! Dispatcher behaviour on paused time.
