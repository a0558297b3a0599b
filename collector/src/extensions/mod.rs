//! Extensions: components outside the data path (`service.extensions`).

pub mod health_check;
pub mod file_storage;
