//! Extensions: components outside the data path (`service.extensions`).

pub mod file_storage;
pub mod health_check;
