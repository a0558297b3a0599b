//! Extensions: components outside the data path (`service.extensions`).

pub(crate) mod alerting;
pub(crate) mod auth;
pub(crate) mod basicauth;
pub(crate) mod bearertokenauth;
pub(crate) mod file_storage;
pub(crate) mod health_check;
pub(crate) mod running;
