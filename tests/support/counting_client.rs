//! A gRPC client that counts what Lookout acknowledged and refused, request by request, and
//! the matching count of what reached the sink: the fault tests' ledger. Requests carry spans
//! named `c<client>-r<request>-<i>`, so every delivered span says which acknowledged request it
//! belongs to and the order each client's requests arrived in.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

use super::sink::Sink;
use super::trace_request;

/// What the clients saw: acknowledged (client, request number), refusals by status code.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) acked: Vec<(usize, usize)>,
    pub(crate) refused: BTreeMap<String, usize>,
    pub(crate) sent: usize,
}

/// How one client sends.
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    /// Spans per request.
    pub(crate) spans: usize,
    /// Bytes of padding per span.
    pub(crate) padding: usize,
    /// The client's deadline per request.
    pub(crate) timeout: Duration,
}

/// One client: requests named from request number `first` on, one at a time, until the
/// instant in `stop` (which the test may move); a refused request is counted and not sent
/// again (the next one is new), after 20 ms.
pub(crate) async fn client(
    url: String,
    id: usize,
    first: usize,
    shape: Shape,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<Mutex<Instant>>,
) {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(url) else {
        return;
    };
    let mut client = TraceServiceClient::new(
        endpoint
            .connect_timeout(Duration::from_secs(2))
            .timeout(shape.timeout)
            .connect_lazy(),
    );
    let mut n = first;
    while Instant::now() < *stop.lock().unwrap() {
        let request = trace_request(&format!("c{id}-r{n}"), shape.spans, shape.padding);
        let reply = client.export(request).await;
        let refused = {
            let mut seen = seen.lock().unwrap();
            seen.sent += 1;
            match reply {
                Ok(_) => {
                    seen.acked.push((id, n));
                    false
                }
                Err(status) => {
                    *seen
                        .refused
                        .entry(format!("{:?}", status.code()))
                        .or_insert(0) += 1;
                    true
                }
            }
        };
        if refused {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        n += 1;
    }
}

/// Span name → times delivered, and each client's request numbers in the order they arrived.
pub(crate) fn delivered(sink: &Sink) -> (HashMap<String, u32>, HashMap<usize, Vec<usize>>) {
    let mut seen = HashMap::new();
    let mut order: HashMap<usize, Vec<usize>> = HashMap::new();
    for request in sink.traces() {
        for rs in request.resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let mut parts = span.name.split('-');
                    let client = parts.next().and_then(|c| c.strip_prefix('c')?.parse().ok());
                    let number = parts.next().and_then(|r| r.strip_prefix('r')?.parse().ok());
                    if let (Some(client), Some(number)) = (client, number) {
                        let list = order.entry(client).or_default();
                        if list.last() != Some(&number) {
                            list.push(number);
                        }
                    }
                    *seen.entry(span.name).or_insert(0) += 1;
                }
            }
        }
    }
    (seen, order)
}

/// One client that must get every request through: `requests` requests of `shape`, named
/// `c<id>-r<n>-<i>`, each sent again after 50 ms until acknowledged; returns how many times a
/// request was sent again (refused or timed out).
pub(crate) async fn until_acknowledged(
    url: String,
    id: usize,
    requests: usize,
    shape: Shape,
) -> usize {
    let endpoint = tonic::transport::Endpoint::from_shared(url).unwrap();
    let mut client = TraceServiceClient::new(
        endpoint
            .connect_timeout(Duration::from_secs(2))
            .timeout(shape.timeout)
            .connect_lazy(),
    );
    let mut resent = 0;
    for n in 0..requests {
        let request = trace_request(&format!("c{id}-r{n}"), shape.spans, shape.padding);
        while client.export(request.clone()).await.is_err() {
            resent += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    resent
}
