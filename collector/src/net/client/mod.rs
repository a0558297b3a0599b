//! What every outbound connection shares: the exporters, the httpcheck receiver and the
//! latency_anomaly alert webhook all read one `tls:` block with one meaning ([`tls`]), parse
//! configured headers one way ([`headers`]) and back off between retries one way ([`retry`]).

pub mod headers;
pub mod retry;
pub mod tls;

pub use headers::header_map;
pub use retry::{Backoff, Retry};
pub use tls::{ClientTlsConfig, TlsError, client_config};
