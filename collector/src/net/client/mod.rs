//! What every outbound connection shares: the exporters, the httpcheck receiver and the
//! latency_anomaly alert webhook all read one `tls:` block with one meaning ([`tls`]), parse
//! configured headers one way ([`headers`]) and back off between retries one way ([`retry`]).

pub(crate) mod headers;
pub(crate) mod retry;
pub(crate) mod tls;

pub(crate) use headers::header_map;
pub(crate) use retry::Backoff;
pub(crate) use tls::{ClientTlsConfig, client_config};
