//! Extensions: components outside the data path (`service.extensions`).

pub mod health_check;
