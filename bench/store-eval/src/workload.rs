//! The synthetic 10-service workload: span summaries, metric points and log records spread over
//! 24 simulated hours, generated minute by minute (deterministic: the same seed gives the same data,
//! so every engine stores exactly the same rows and the query thread can rebuild any trace id).

/// Nanoseconds in one minute.
pub const MINUTE_NS: i64 = 60_000_000_000;
/// Minutes in the simulated day.
pub const MINUTES: i64 = 24 * 60;
/// Start of the simulated day (2026-01-01T00:00:00Z) in Unix nanoseconds.
pub const T0: i64 = 1_767_225_600_000_000_000;
/// Metric series in the workload (10 hosts x 200 hostmetrics-like series).
pub const SERIES: u32 = 2000;
/// Interval between two points of one series.
pub const POINT_INTERVAL_NS: i64 = 30_000_000_000;

/// The ten services of the workload.
pub const SERVICES: [&str; 10] = [
    "frontend",
    "cart",
    "checkout",
    "payment",
    "shipping",
    "currency",
    "email",
    "recommendation",
    "ad",
    "product-catalog",
];
/// Operations per service (span name = `OPS[i]` prefixed by the service's verb).
pub const OPS: [&str; 5] = [
    "GET /api/items",
    "POST /api/order",
    "GET /api/user",
    "rpc Get",
    "db SELECT",
];

/// One span summary, as the store keeps it.
#[derive(Clone, Debug)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: [u8; 8],
    pub service: u16,
    pub name: u16,
    pub kind: u8,
    pub start: i64,
    pub dur: i64,
    /// 0 unset, 1 ok, 2 error.
    pub status: u8,
    /// 0 normal, 1 slow, 2 anomalous.
    pub verdict: u8,
    /// Eight attributes encoded `key=value` separated by 0x1f.
    pub attrs: String,
}

/// One metric point.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    pub series: u32,
    pub ts: i64,
    pub value: f64,
}

/// One log record, linked to its span.
#[derive(Clone, Debug)]
pub struct Log {
    pub ts: i64,
    pub seq: u64,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub service: u16,
    pub severity: u8,
    pub body: String,
}

/// Buckets of the per-minute duration histogram: bucket i holds durations below 2^(i/2) µs.
pub const HIST_BUCKETS: usize = 48;

/// Per (minute, service) RED rollup, written when the minute closes.
#[derive(Clone, Debug)]
pub struct Red {
    pub minute: i64,
    pub service: u16,
    pub count: u64,
    pub errors: u64,
    pub dur_sum: i64,
    pub hist: [u32; HIST_BUCKETS],
}

impl Red {
    /// An empty rollup for one service and minute.
    pub fn new(minute: i64, service: u16) -> Self {
        Red {
            minute,
            service,
            count: 0,
            errors: 0,
            dur_sum: 0,
            hist: [0; HIST_BUCKETS],
        }
    }
    /// Adds a span.
    pub fn add(&mut self, s: &Span) {
        self.count += 1;
        self.errors += u64::from(s.status == 2);
        self.dur_sum += s.dur;
        self.hist[bucket(s.dur)] += 1;
    }
    /// Histogram as little-endian bytes.
    pub fn hist_bytes(&self) -> Vec<u8> {
        self.hist.iter().flat_map(|c| c.to_le_bytes()).collect()
    }
    /// Histogram from little-endian bytes.
    pub fn hist_from(b: &[u8]) -> [u32; HIST_BUCKETS] {
        let mut h = [0u32; HIST_BUCKETS];
        for (i, c) in b.chunks_exact(4).take(HIST_BUCKETS).enumerate() {
            h[i] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        h
    }
}

/// Histogram bucket of a duration in nanoseconds.
pub fn bucket(dur_ns: i64) -> usize {
    let us = (dur_ns / 1000).max(1) as f64;
    ((us.log2() * 2.0).ceil() as usize).min(HIST_BUCKETS - 1)
}

/// Upper bound (ns) of the bucket holding the q-quantile of a histogram.
pub fn hist_quantile(h: &[u32; HIST_BUCKETS], q: f64) -> i64 {
    let total: u64 = h.iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return 0;
    }
    let rank = (q * total as f64).ceil() as u64;
    let mut acc = 0u64;
    for (i, &c) in h.iter().enumerate() {
        acc += u64::from(c);
        if acc >= rank {
            return (2f64.powf(i as f64 / 2.0) * 1000.0) as i64;
        }
    }
    0
}

/// RED of one service over a range, as the console shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceRed {
    pub service: u16,
    pub count: u64,
    pub errors: u64,
    pub p95_ns: i64,
}

/// Merges rollup rows into one RED line per service.
pub fn merge_red(
    rows: impl Iterator<Item = (u16, u64, u64, [u32; HIST_BUCKETS])>,
) -> Vec<ServiceRed> {
    let mut acc: Vec<(u64, u64, [u32; HIST_BUCKETS])> =
        vec![(0, 0, [0; HIST_BUCKETS]); SERVICES.len()];
    for (svc, c, e, h) in rows {
        let a = &mut acc[usize::from(svc) % SERVICES.len()];
        a.0 += c;
        a.1 += e;
        for (x, y) in a.2.iter_mut().zip(h.iter()) {
            *x += y;
        }
    }
    acc.iter()
        .enumerate()
        .filter(|(_, a)| a.0 > 0)
        .map(|(i, a)| ServiceRed {
            service: i as u16,
            count: a.0,
            errors: a.1,
            p95_ns: hist_quantile(&a.2, 0.95),
        })
        .collect()
}

/// Deterministic 64-bit generator (splitmix64).
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The trace id of trace number `k` (the query thread rebuilds ids of traces already written).
pub fn trace_id(k: u64) -> [u8; 16] {
    let mut r = Rng(k ^ 0x5EED_0000_7ACE);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&r.next().to_be_bytes());
    id[8..].copy_from_slice(&r.next().to_be_bytes());
    id
}

/// One simulated minute of data.
pub struct MinuteData {
    pub spans: Vec<Span>,
    pub points: Vec<Point>,
    pub logs: Vec<Log>,
    pub red: Vec<Red>,
}

/// Generates the workload minute by minute.
pub struct Generator {
    pub traces_per_minute: u64,
    rng: Rng,
    log_seq: u64,
    gauges: Vec<f64>,
}

impl Generator {
    /// A generator of about `spans_total` spans over the day (8 spans per trace on average).
    pub fn new(spans_total: u64) -> Self {
        let mut rng = Rng(42);
        let gauges = (0..SERIES).map(|_| rng.unit() * 1000.0).collect();
        Generator {
            traces_per_minute: (spans_total / 8 / MINUTES as u64).max(1),
            rng,
            log_seq: 0,
            gauges,
        }
    }

    /// Data of minute `m` (0..MINUTES).
    pub fn minute(&mut self, m: i64) -> MinuteData {
        let tpm = self.traces_per_minute;
        let mut spans = Vec::with_capacity((tpm * 9) as usize);
        let mut logs = Vec::with_capacity((tpm * 2) as usize);
        let base = T0 + m * MINUTE_NS;
        for t in 0..tpm {
            let k = m as u64 * tpm + t;
            self.trace(
                k,
                base + (t * (MINUTE_NS as u64 - 2_000_000_000) / tpm) as i64,
                &mut spans,
                &mut logs,
            );
        }
        let mut red: Vec<Red> = (0..SERVICES.len() as u16).map(|s| Red::new(m, s)).collect();
        for s in &spans {
            red[usize::from(s.service)].add(s);
        }
        let mut points = Vec::with_capacity(SERIES as usize * 2);
        for half in 0..2 {
            let ts = base + half * POINT_INTERVAL_NS;
            for series in 0..SERIES {
                let g = &mut self.gauges[series as usize];
                if series % 3 == 0 {
                    *g += self.rng.unit() * 50.0; // counters grow
                } else {
                    *g = (*g + (self.rng.unit() - 0.5) * 20.0).max(0.0); // gauges wander
                }
                points.push(Point {
                    series,
                    ts,
                    value: (*g * 100.0).round() / 100.0,
                });
            }
        }
        MinuteData {
            spans,
            points,
            logs,
            red,
        }
    }

    fn trace(&mut self, k: u64, start: i64, spans: &mut Vec<Span>, logs: &mut Vec<Log>) {
        let tid = trace_id(k);
        let n = 3 + self.rng.below(10) as usize; // 3..12, mean 7.5 + root
        let root_dur = 5_000_000 + (self.rng.unit().powi(3) * 400_000_000.0) as i64;
        let error_trace = self.rng.below(50) == 0;
        let mut ids: Vec<[u8; 8]> = Vec::with_capacity(n + 1);
        for i in 0..=n {
            let span_id = self.rng.next().to_be_bytes();
            let (service, parent) = if i == 0 {
                (0u16, [0u8; 8])
            } else {
                (
                    1 + self.rng.below(9) as u16,
                    ids[self.rng.below(i as u64) as usize],
                )
            };
            ids.push(span_id);
            let op = self.rng.below(OPS.len() as u64) as u16;
            let dur = if i == 0 {
                root_dur
            } else {
                (root_dur as f64 * self.rng.unit() * 0.8) as i64 + 50_000
            };
            let st = start
                + if i == 0 {
                    0
                } else {
                    (root_dur - dur).max(0) / 2
                };
            let err = error_trace && (i == 0 || self.rng.below(3) == 0);
            let code = if err { 500 } else { 200 };
            let attrs = format!(
                "http.request.method={}\x1fhttp.route=/api/v1/{}/{}\x1fhttp.response.status_code={code}\x1fserver.address={}.shop.svc\x1fnetwork.peer.address=10.0.{}.{}\x1fuser.id=u{}\x1fsession.id={:016x}\x1fdeployment.environment=prod",
                if op == 1 { "POST" } else { "GET" },
                SERVICES[usize::from(service)],
                op,
                SERVICES[usize::from(service)],
                self.rng.below(4),
                self.rng.below(250),
                self.rng.below(100_000),
                self.rng.next(),
            );
            let verdict = if dur > 300_000_000 {
                1 + u8::from(self.rng.below(4) == 0)
            } else {
                0
            };
            spans.push(Span {
                trace_id: tid,
                span_id,
                parent,
                service,
                name: op,
                kind: if i == 0 {
                    2
                } else {
                    1 + (self.rng.below(3) as u8)
                },
                start: st,
                dur,
                status: if err {
                    2
                } else {
                    u8::from(self.rng.below(2) == 0)
                },
                verdict,
                attrs,
            });
            if err || self.rng.below(4) == 0 {
                self.log_seq += 1;
                logs.push(Log {
                    ts: st + dur / 2,
                    seq: self.log_seq,
                    trace_id: tid,
                    span_id,
                    service,
                    severity: if err { 17 } else { 9 },
                    body: format!(
                        "{} {} handled in {} ms for user u{} (items={}){}",
                        if op == 1 { "POST" } else { "GET" },
                        OPS[usize::from(op)],
                        dur / 1_000_000,
                        self.rng.below(100_000),
                        self.rng.below(20),
                        if err {
                            " error: upstream returned 503"
                        } else {
                            ""
                        }
                    ),
                });
            }
        }
    }
}
