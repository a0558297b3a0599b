//! `network`: interface counters from `/proc/net/dev` and TCP connections by state from
//! `/proc/net/tcp` and `/proc/net/tcp6`.

use lookout_proto::otlp::metrics::v1::Metric;

use super::{Enabled, Env, Output, ScrapeError, Scraper, parse_u64};
use crate::core::otlp_build::{Num, Point, Times, attr, sum};
use crate::receivers::hostmetrics::config::Filter;

/// The scraper's metrics and whether each is on by default.
pub(crate) const METRICS: &[(&str, bool)] = &[
    ("system.network.io", true),
    ("system.network.packets", true),
    ("system.network.errors", true),
    ("system.network.dropped", true),
    ("system.network.connections", true),
];

/// One interface's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Interface {
    /// Interface name.
    pub(crate) device: String,
    /// Received bytes, packets, errors, drops.
    pub(crate) rx: [u64; 4],
    /// Transmitted bytes, packets, errors, drops.
    pub(crate) tx: [u64; 4],
}

/// Parses `/proc/net/dev`.
pub(crate) fn parse_net_dev(text: &str) -> Result<Vec<Interface>, ScrapeError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let [r0, r1, r2, r3, _, _, _, _, t0, t1, t2, t3, _, _, _, _, ..] = f.as_slice() else {
            continue;
        };
        let n = |s: &str| parse_u64("/proc/net/dev", s);
        out.push(Interface {
            device: name.trim().to_owned(),
            rx: [n(r0)?, n(r1)?, n(r2)?, n(r3)?],
            tx: [n(t0)?, n(t1)?, n(t2)?, n(t3)?],
        });
    }
    Ok(out)
}

/// TCP states as the Collector (gopsutil) names them, by kernel state number.
const TCP_STATES: [(u8, &str); 11] = [
    (0x01, "ESTABLISHED"),
    (0x02, "SYN_SENT"),
    (0x03, "SYN_RECV"),
    (0x04, "FIN_WAIT1"),
    (0x05, "FIN_WAIT2"),
    (0x06, "TIME_WAIT"),
    (0x07, "CLOSE"),
    (0x08, "CLOSE_WAIT"),
    (0x09, "LAST_ACK"),
    (0x0A, "LISTEN"),
    (0x0B, "CLOSING"),
];

/// Adds the connections of one `/proc/net/tcp{,6}` table to `counts` (indexed as
/// [`TCP_STATES`]).
pub(crate) fn count_tcp(text: &str, counts: &mut [u64; 11]) {
    for line in text.lines().skip(1) {
        let Some(st) = line.split_whitespace().nth(3) else {
            continue;
        };
        let Ok(st) = u8::from_str_radix(st, 16) else {
            continue;
        };
        if let Some((_, count)) = TCP_STATES
            .iter()
            .zip(counts.iter_mut())
            .find(|((n, _), _)| *n == st)
        {
            *count += 1;
        }
    }
}

/// Network metrics for the interfaces `filter` allows, and connection counts.
pub(crate) fn metrics(
    ifaces: &[Interface],
    tcp: &[u64; 11],
    filter: &Filter,
    times: Times,
) -> Vec<Metric> {
    let ifaces: Vec<&Interface> = ifaces.iter().filter(|i| filter.allows(&i.device)).collect();
    let rw = |pick: fn(&[u64; 4]) -> u64| -> Vec<Point> {
        ifaces
            .iter()
            .flat_map(|i| {
                [
                    (
                        vec![attr("device", &i.device), attr("direction", "receive")],
                        Num::from_u64(pick(&i.rx)),
                    ),
                    (
                        vec![attr("device", &i.device), attr("direction", "transmit")],
                        Num::from_u64(pick(&i.tx)),
                    ),
                ]
            })
            .collect()
    };
    let connections = TCP_STATES
        .iter()
        .zip(tcp)
        .map(|((_, state), n)| {
            (
                vec![attr("protocol", "tcp"), attr("state", *state)],
                Num::from_u64(*n),
            )
        })
        .collect();
    vec![
        sum(
            "system.network.io",
            "The number of bytes transmitted and received.",
            "By",
            true,
            times,
            rw(|c| c[0]),
        ),
        sum(
            "system.network.packets",
            "The number of packets transferred.",
            "{packets}",
            true,
            times,
            rw(|c| c[1]),
        ),
        sum(
            "system.network.errors",
            "The number of errors encountered.",
            "{errors}",
            true,
            times,
            rw(|c| c[2]),
        ),
        sum(
            "system.network.dropped",
            "The number of packets dropped.",
            "{packets}",
            true,
            times,
            rw(|c| c[3]),
        ),
        sum(
            "system.network.connections",
            "The number of connections.",
            "{connections}",
            false,
            times,
            connections,
        ),
    ]
}

/// The network scraper.
pub(crate) struct NetworkScraper {
    enabled: Enabled,
    filter: Filter,
}

impl NetworkScraper {
    /// A scraper for the interfaces `filter` allows.
    pub(crate) fn new(enabled: Enabled, filter: Filter) -> NetworkScraper {
        NetworkScraper { enabled, filter }
    }
}

impl Scraper for NetworkScraper {
    fn name(&self) -> &'static str {
        "network"
    }

    fn scrape(&mut self, env: &Env) -> Result<Output, ScrapeError> {
        let ifaces = parse_net_dev(&env.read("/proc/net/dev")?)?;
        let mut tcp = [0u64; 11];
        if self.enabled.is_on("system.network.connections") {
            // IPv6 may be disabled, so each table is optional.
            for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
                if let Ok(text) = env.read(table) {
                    count_tcp(&text, &mut tcp);
                }
            }
        }
        let mut out = metrics(&ifaces, &tcp, &self.filter, env.times);
        self.enabled.retain(&mut out);
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::hostmetrics::test_support::points_by;

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  1000      10    1    2    0     0          0         0     2000      20    3    4    0     0       0          0
  eth0: 5 6 7 8 0 0 0 0 9 10 11 12 0 0 0 0
";

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:0CEA 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:0CEB 0100007F:A1B3 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
";

    #[test]
    fn interfaces_and_connections() {
        let ifaces = parse_net_dev(NET_DEV).unwrap();
        assert_eq!(ifaces.len(), 2);
        assert_eq!(ifaces[1].rx, [5, 6, 7, 8]);
        assert_eq!(ifaces[1].tx, [9, 10, 11, 12]);
        assert_eq!(
            parse_net_dev("eth1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15").unwrap(),
            []
        );
        let mut tcp = [0; 11];
        count_tcp(TCP, &mut tcp);
        let include = vec!["lo".to_owned()];
        let filter = Filter::new(Some((&include, Default::default())), None).unwrap();
        let out = metrics(&ifaces, &tcp, &filter, Times { start: 0, now: 1 });
        let io = points_by(&out, "system.network.io", &["device", "direction"]);
        assert_eq!(io.len(), 2, "eth0 is not included");
        assert_eq!(io["lo,receive"], Num::Int(1000));
        assert_eq!(io["lo,transmit"], Num::Int(2000));
        assert_eq!(
            points_by(&out, "system.network.packets", &["device", "direction"])["lo,transmit"],
            Num::Int(20)
        );
        assert_eq!(
            points_by(&out, "system.network.errors", &["device", "direction"])["lo,receive"],
            Num::Int(1)
        );
        assert_eq!(
            points_by(&out, "system.network.dropped", &["device", "direction"])["lo,transmit"],
            Num::Int(4)
        );
        let conns = points_by(&out, "system.network.connections", &["protocol", "state"]);
        assert_eq!(conns["tcp,LISTEN"], Num::Int(1));
        assert_eq!(conns["tcp,ESTABLISHED"], Num::Int(2));
        assert_eq!(conns["tcp,TIME_WAIT"], Num::Int(0));
    }
}
