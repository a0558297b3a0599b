//! Generation of realistic, pre-encoded OTLP trace export requests.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use prost::Message;

/// Small, fast, deterministic pseudo-random generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (zero is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn bytes<const N: usize>(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(N);
        while out.len() < N {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(N);
        out
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A pool of distinct pre-encoded `ExportTraceServiceRequest`s, all with the same span count.
#[derive(Debug, Clone)]
pub struct RequestPool {
    /// The encoded requests.
    pub requests: Vec<Bytes>,
    /// Spans in each request.
    pub spans_per_request: usize,
    /// Average encoded bytes per span (request bytes / spans).
    pub bytes_per_span: f64,
    /// Per request, the byte offsets of every trace id in its encoding (see [`stamp`]).
    pub trace_id_offsets: Vec<Vec<usize>>,
}

/// A copy of `request` whose trace ids are made unique to send number `n`: the first 8 bytes of
/// each id (at `offsets`, from [`RequestPool::trace_id_offsets`]) are XORed with `n + 1`, so
/// spans of one trace keep sharing an id and no two sends share one.
pub fn stamp(request: &[u8], offsets: &[usize], n: u64) -> Bytes {
    let mut out = request.to_vec();
    let mask = (n + 1).to_le_bytes();
    for &at in offsets {
        if let Some(id) = out.get_mut(at..at + 8) {
            for (b, m) in id.iter_mut().zip(mask) {
                *b ^= m;
            }
        }
    }
    Bytes::from(out)
}

/// Offsets of the trace ids of `request`'s spans in its encoding `bytes` (each id is 16 random
/// bytes, so an exact match is the field itself).
fn trace_id_offsets(request: &ExportTraceServiceRequest, bytes: &[u8]) -> Vec<usize> {
    let ids: std::collections::HashSet<&[u8]> = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.trace_id.as_slice())
        .collect();
    bytes
        .windows(16)
        .enumerate()
        .filter(|(_, w)| ids.contains(w))
        .map(|(at, _)| at)
        .collect()
}

impl RequestPool {
    /// Generates `count` requests of `spans_per_request` spans each, deterministically from `seed`.
    pub fn generate(count: usize, spans_per_request: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut requests = Vec::with_capacity(count);
        let mut trace_id_offsets = Vec::with_capacity(count);
        for _ in 0..count {
            let request = build_request(&mut rng, spans_per_request);
            let bytes = request.encode_to_vec();
            trace_id_offsets.push(self::trace_id_offsets(&request, &bytes));
            requests.push(Bytes::from(bytes));
        }
        let total: usize = requests.iter().map(Bytes::len).sum();
        let spans = (count * spans_per_request).max(1);
        Self {
            requests,
            spans_per_request,
            bytes_per_span: total as f64 / spans as f64,
            trace_id_offsets,
        }
    }
}

fn kv_str(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

const SERVICES: &[(&str, &str, &str)] = &[
    ("frontend", "1.14.2", "go"),
    ("checkout", "2.3.0", "java"),
    ("cart", "0.9.7", "dotnet"),
    ("payment", "4.1.1", "nodejs"),
    ("product-catalog", "1.2.0", "go"),
    ("recommendation", "3.0.5", "python"),
];

fn resource(rng: &mut Rng, service: usize) -> Resource {
    let (name, version, lang) = SERVICES[service % SERVICES.len()];
    let pod = rng.next_u64() & 0xff_ffff;
    Resource {
        attributes: vec![
            kv_str("service.name", name),
            kv_str("service.version", version),
            kv_str("service.namespace", "shop"),
            kv_str("service.instance.id", format!("{name}-{pod:06x}")),
            kv_str("deployment.environment.name", "production"),
            kv_str(
                "host.name",
                format!("ip-10-0-{}-{}.ec2.internal", pod % 256, pod >> 16),
            ),
            kv_str("k8s.namespace.name", "shop"),
            kv_str("k8s.pod.name", format!("{name}-7d9f8b6c4-{pod:05x}")),
            kv_str("telemetry.sdk.name", "opentelemetry"),
            kv_str("telemetry.sdk.language", lang),
            kv_str("telemetry.sdk.version", "1.38.0"),
        ],
        ..Default::default()
    }
}

const ROUTES: &[&str] = &[
    "/api/cart",
    "/api/products/{id}",
    "/api/checkout",
    "/api/recommendations",
    "/api/currency",
    "/api/shipping/quote",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
    "python-requests/2.32.3",
];
const QUERIES: &[&str] = &[
    "SELECT id, name, price FROM products WHERE id = ?",
    "UPDATE carts SET items = ? WHERE user_id = ?",
    "INSERT INTO orders (user_id, total) VALUES (?, ?)",
];

fn span(rng: &mut Rng, trace_id: &[u8], parent: &[u8], start: u64) -> Span {
    let duration = 50_000 + (rng.next_u64() % 20_000_000);
    let (name, kind, attributes) = match rng.below(3) {
        0 => {
            let route = rng.pick(ROUTES);
            let code = if rng.below(50) == 0 { 500 } else { 200 };
            (
                format!("GET {route}"),
                span::SpanKind::Server,
                vec![
                    kv_str("http.request.method", "GET"),
                    kv_str("http.route", route),
                    kv_str(
                        "url.path",
                        route.replace("{id}", &format!("{}", rng.below(100_000))),
                    ),
                    kv_str("url.scheme", "http"),
                    kv_int("http.response.status_code", code),
                    kv_str("server.address", "frontend-proxy.shop.svc.cluster.local"),
                    kv_int("server.port", 8080),
                    kv_str(
                        "client.address",
                        format!("10.0.{}.{}", rng.below(256), rng.below(256)),
                    ),
                    kv_str("user_agent.original", rng.pick(AGENTS)),
                    kv_str("network.protocol.version", "1.1"),
                ],
            )
        }
        1 => {
            let query = rng.pick(QUERIES);
            (
                format!("{} shop", query.split(' ').next().unwrap_or("SELECT")),
                span::SpanKind::Client,
                vec![
                    kv_str("db.system", "postgresql"),
                    kv_str("db.namespace", "shop"),
                    kv_str("db.query.text", query),
                    kv_str(
                        "db.operation.name",
                        query.split(' ').next().unwrap_or("SELECT"),
                    ),
                    kv_str("server.address", "postgres-primary.shop.svc.cluster.local"),
                    kv_int("server.port", 5432),
                    kv_str(
                        "network.peer.address",
                        format!("10.1.{}.{}", rng.below(256), rng.below(256)),
                    ),
                    kv_str("db.user", "shop_app"),
                    kv_int("thread.id", rng.below(64) as i64),
                    kv_str("thread.name", "pool-1-thread"),
                ],
            )
        }
        _ => (
            "CartService.AddItem".to_owned(),
            span::SpanKind::Internal,
            vec![
                kv_str("code.function.name", "AddItem"),
                kv_str("code.namespace", "oteldemo.Services.CartService.Handlers"),
                kv_str("code.file.path", "src/cart/services/CartService.cs"),
                kv_int("code.line.number", 40 + rng.below(200) as i64),
                kv_int("thread.id", rng.below(64) as i64),
                kv_str("thread.name", "worker"),
                kv_int("app.cart.items.count", rng.below(12) as i64),
                kv_str("app.user.id", format!("user-{:08x}", rng.next_u64() as u32)),
                kv_str("app.session.id", format!("{:016x}", rng.next_u64())),
                kv_str("app.product.id", format!("OLJCESPC7Z{}", rng.below(10))),
            ],
        ),
    };
    let error = attributes.iter().any(|kv| {
        kv.key == "http.response.status_code"
            && matches!(
                kv.value,
                Some(AnyValue {
                    value: Some(Value::IntValue(500))
                })
            )
    });
    Span {
        trace_id: trace_id.to_vec(),
        span_id: rng.bytes::<8>(),
        parent_span_id: parent.to_vec(),
        name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + duration,
        attributes,
        flags: 0x100,
        status: Some(Status {
            code: if error {
                status::StatusCode::Error
            } else {
                status::StatusCode::Unset
            } as i32,
            message: String::new(),
        }),
        ..Default::default()
    }
}

fn build_request(rng: &mut Rng, spans: usize) -> ExportTraceServiceRequest {
    let base_ns = 1_764_000_000_000_000_000u64 + (rng.next_u64() % 1_000_000_000_000);
    // Split the spans over 1–3 resources, each with one scope.
    let n_resources = (1 + rng.below(3)).min(spans.max(1));
    let first_service = rng.below(SERVICES.len());
    let mut resource_spans = Vec::with_capacity(n_resources);
    let mut left = spans;
    for r in 0..n_resources {
        let here = if r + 1 == n_resources {
            left
        } else {
            spans / n_resources
        };
        left -= here;
        let service = first_service + r;
        let mut out = Vec::with_capacity(here);
        let mut trace_id = rng.bytes::<16>();
        let mut parent = Vec::new();
        for i in 0..here {
            // Traces of about 8 spans each, children pointing at the trace's first span.
            if i % 8 == 0 {
                trace_id = rng.bytes::<16>();
                parent = Vec::new();
            }
            let s = span(rng, &trace_id, &parent, base_ns + (i as u64) * 1_000_000);
            if parent.is_empty() {
                parent = s.span_id.clone();
            }
            out.push(s);
        }
        resource_spans.push(ResourceSpans {
            resource: Some(resource(rng, service)),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: format!("{}-instrumentation", SERVICES[service % SERVICES.len()].0),
                    version: "1.0.0".to_owned(),
                    ..Default::default()
                }),
                spans: out,
                schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
        });
    }
    ExportTraceServiceRequest { resource_spans }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_is_distinct_and_sized() {
        let pool = RequestPool::generate(4, 512, 42);
        assert_eq!(pool.requests.len(), 4);
        assert_ne!(pool.requests[0], pool.requests[1]);
        eprintln!("bytes/span {}", pool.bytes_per_span);
        assert!(
            pool.bytes_per_span > 300.0 && pool.bytes_per_span < 650.0,
            "{}",
            pool.bytes_per_span
        );
    }

    fn trace_ids(bytes: &[u8]) -> Vec<Vec<u8>> {
        let request = ExportTraceServiceRequest::decode(bytes).expect("decodes");
        request
            .resource_spans
            .into_iter()
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .map(|s| s.trace_id)
            .collect()
    }

    #[test]
    fn stamping_gives_each_send_its_own_trace_ids_and_keeps_traces_together() {
        let pool = RequestPool::generate(2, 64, 7);
        let original = trace_ids(&pool.requests[0]);
        let offsets = &pool.trace_id_offsets[0];
        assert!(offsets.len() >= original.len(), "every span's id was found");
        let a = trace_ids(&stamp(&pool.requests[0], offsets, 0));
        let b = trace_ids(&stamp(&pool.requests[0], offsets, 1));
        assert_eq!(a.len(), original.len());
        for ((o, a), b) in original.iter().zip(&a).zip(&b) {
            assert_ne!(o, a, "stamped ids differ from the pool's");
            assert_ne!(a, b, "two sends do not share an id");
            assert_eq!(o[8..], a[8..], "only the first 8 bytes change");
        }
        // Spans that shared an id still do, and only those.
        for i in 0..original.len() {
            for j in 0..original.len() {
                assert_eq!(original[i] == original[j], a[i] == a[j]);
            }
        }
    }
}
