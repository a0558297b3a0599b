//! Extensions: components outside the data path (`service.extensions`).

pub(crate) mod file_storage;
pub(crate) mod health_check;
