//! The embedded DNS server of user-defined networks (dockerd's 127.0.0.11): answers A
//! queries for the names of the containers on the asker's network (names, aliases, short
//! IDs; several containers sharing an alias are all returned, rotated per answer), and
//! forwards everything else to the upstream servers. One UDP listener per container,
//! bound inside its network namespace; served by the daemon.
//!
//! The message handling is pure ([`parse_query`], [`answer`]); A records are synthesised,
//! and AAAA records for containers on `--ipv6` networks (as dockerd 20.10 answers them);
//! AAAA without an IPv6 address and other types for a known name get an empty NOERROR
//! answer, as dockerd gives.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::UdpSocket;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
/// dockerd answers container names with a 600 s TTL.
const TTL: u32 = 600;

/// One question, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// Lower case, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// The recursion-desired bit, echoed back.
    rd: bool,
    /// Where the question section ends (it is copied into the answer).
    question_end: usize,
}

/// A standard query with one question, or `None` (then it is forwarded untouched).
pub fn parse_query(msg: &[u8]) -> Option<Query> {
    if msg.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    // A response, or an opcode other than QUERY.
    if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 || qdcount != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*msg.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        // Compression pointers do not occur in a question written first.
        if len > 63 {
            return None;
        }
        let label = msg.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*msg.get(i + 2)?, *msg.get(i + 3)?]);
    Some(Query {
        id,
        name: labels.join("."),
        qtype,
        qclass,
        rd: flags & 0x0100 != 0,
        question_end: i + 4,
    })
}

/// The answer to `q` (asked as `msg`) with these addresses (already in the order to give).
pub fn answer(msg: &[u8], q: &Query, addrs: &[Ipv4Addr]) -> Vec<u8> {
    answer_records(msg, q, addrs, &[])
}

/// The answer to `q` with the IPv4 addresses for an A question, the IPv6 ones for AAAA.
pub fn answer_records(msg: &[u8], q: &Query, v4: &[Ipv4Addr], v6: &[Ipv6Addr]) -> Vec<u8> {
    let give: Vec<(u16, Vec<u8>)> = match (q.qtype, q.qclass) {
        (TYPE_A, CLASS_IN) => v4.iter().map(|ip| (TYPE_A, ip.octets().to_vec())).collect(),
        (TYPE_AAAA, CLASS_IN) => v6
            .iter()
            .map(|ip| (TYPE_AAAA, ip.octets().to_vec()))
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::with_capacity(q.question_end + 28 * give.len());
    out.extend_from_slice(&q.id.to_be_bytes());
    // QR, RA; RD echoed; NOERROR. Not authoritative: dockerd's resolver leaves AA clear
    // (nslookup says "Non-authoritative answer" on both engines).
    let flags: u16 = 0x8000 | 0x0080 | if q.rd { 0x0100 } else { 0 };
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(give.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&msg[12..q.question_end]);
    for (rtype, data) in give {
        // The name: a pointer to the question's (offset 12).
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// A SERVFAIL for a query that could not be forwarded.
pub fn servfail(msg: &[u8]) -> Option<Vec<u8>> {
    if msg.len() < 12 {
        return None;
    }
    let mut out = msg.to_vec();
    out[2] = 0x80 | (msg[2] & 0x01);
    out[3] = 0x80 | 2;
    Some(out)
}

/// Who is reachable by name on each network: (network ID, names, address).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub entries: Vec<(String, Vec<String>, Ipv4Addr)>,
    /// The user networks each container (by ID) is on: what its listener answers from.
    pub scopes: HashMap<String, Vec<String>>,
    /// The IPv6 addresses of containers on `--ipv6` networks: (network ID, names, address).
    pub entries6: Vec<(String, Vec<String>, Ipv6Addr)>,
}

impl Directory {
    /// The addresses `name` resolves to for container `scope`: on any of its networks, the
    /// first network with an answer winning (its primary one first), sorted.
    pub fn lookup_for(&self, scope: &str, name: &str) -> Vec<Ipv4Addr> {
        self.scopes
            .get(scope)
            .into_iter()
            .flatten()
            .map(|n| self.lookup(n, name))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    }

    /// The IPv4 and IPv6 addresses `name` resolves to for container `scope`, from the first
    /// of its networks that knows the name.
    pub fn records_for(&self, scope: &str, name: &str) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
        self.scopes
            .get(scope)
            .into_iter()
            .flatten()
            .map(|n| (self.lookup(n, name), self.lookup6(n, name)))
            .find(|(a, b)| !a.is_empty() || !b.is_empty())
            .unwrap_or_default()
    }

    /// The IPv6 addresses `name` resolves to on `network`, sorted.
    pub fn lookup6(&self, network: &str, name: &str) -> Vec<Ipv6Addr> {
        addresses_of(&self.entries6, network, name)
    }

    /// The addresses `name` resolves to on `network`, sorted.
    pub fn lookup(&self, network: &str, name: &str) -> Vec<Ipv4Addr> {
        addresses_of(&self.entries, network, name)
    }
}

/// The addresses of the entries on `network` that carry `name` (DNS names are
/// case-insensitive), sorted and each once.
fn addresses_of<A: Copy + Ord>(
    entries: &[(String, Vec<String>, A)],
    network: &str,
    name: &str,
) -> Vec<A> {
    let mut v: Vec<A> = entries
        .iter()
        .filter(|(n, names, _)| n == network && names.iter().any(|x| x.eq_ignore_ascii_case(name)))
        .map(|(_, _, ip)| *ip)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Serves one container's listener until the task is aborted.
pub async fn serve(
    sock: UdpSocket,
    scope: String,
    directory: Arc<RwLock<Directory>>,
    upstream: Vec<SocketAddr>,
) {
    let sock = Arc::new(sock);
    let turn = Arc::new(AtomicUsize::new(0));
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, client)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let msg = buf[..n].to_vec();
        let local = parse_query(&msg).and_then(|q| {
            let (mut v4, mut v6) = directory
                .read()
                .map(|d| d.records_for(&scope, &q.name))
                .unwrap_or_default();
            if v4.is_empty() && v6.is_empty() {
                return None;
            }
            // Round robin between the containers sharing a name.
            let k = turn.fetch_add(1, Ordering::Relaxed);
            if !v4.is_empty() {
                let n = v4.len();
                v4.rotate_left(k % n);
            }
            if !v6.is_empty() {
                let n = v6.len();
                v6.rotate_left(k % n);
            }
            Some(answer_records(&msg, &q, &v4, &v6))
        });
        match local {
            Some(reply) => {
                let _ = sock.send_to(&reply, client).await;
            }
            None => {
                let (sock, upstream) = (sock.clone(), upstream.clone());
                tokio::spawn(async move {
                    let reply = forward(&msg, &upstream).await.or_else(|| servfail(&msg));
                    if let Some(r) = reply {
                        let _ = sock.send_to(&r, client).await;
                    }
                });
            }
        }
    }
}

/// Asks the upstream servers in turn; the first answer wins.
async fn forward(msg: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    for server in upstream {
        let bind: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(s) = UdpSocket::bind(bind).await else {
            continue;
        };
        if s.send_to(msg, server).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(5), s.recv_from(&mut buf)).await
        {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

/// The upstream servers: the container's `--dns`, else the host's resolv.conf's.
pub fn upstream(dns: &[String], host_resolv: &str) -> Vec<SocketAddr> {
    let from_host = host_resolv.lines().filter_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver")).then(|| w.next()).flatten()
    });
    let list: Vec<String> = if dns.is_empty() {
        from_host.map(str::to_string).collect()
    } else {
        dns.to_vec()
    };
    list.iter()
        .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as `dig`/busybox write it.
    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m
    }

    #[test]
    fn parses_and_answers_a_queries() {
        let m = query(0x1234, "Web", 1);
        let q = parse_query(&m).unwrap();
        assert_eq!(q.name, "web");
        assert_eq!((q.id, q.qtype), (0x1234, 1));
        let ips = [Ipv4Addr::new(172, 18, 0, 2), Ipv4Addr::new(172, 18, 0, 3)];
        let r = answer(&m, &q, &ips);
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80, "QR");
        assert_eq!(r[2] & 0x04, 0, "AA");
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 2, "ANCOUNT");
        assert_eq!(&r[r.len() - 4..], &[172, 18, 0, 3]);
        // AAAA for a known name: NOERROR without answers.
        let m6 = query(7, "web", 28);
        let q6 = parse_query(&m6).unwrap();
        let r6 = answer(&m6, &q6, &ips);
        assert_eq!(u16::from_be_bytes([r6[6], r6[7]]), 0);
        // Responses and garbage are not queries.
        assert!(parse_query(&r).is_none());
        assert!(parse_query(&[1, 2, 3]).is_none());
        let s = servfail(&m).unwrap();
        assert_eq!(s[3] & 0x0f, 2);
    }

    #[test]
    fn directory_is_scoped_to_the_network() {
        let d = Directory {
            entries: vec![
                (
                    "n1".into(),
                    vec!["web".into(), "www".into()],
                    Ipv4Addr::new(10, 0, 0, 2),
                ),
                (
                    "n1".into(),
                    vec!["db".into(), "www".into()],
                    Ipv4Addr::new(10, 0, 0, 3),
                ),
                ("n2".into(), vec!["web".into()], Ipv4Addr::new(10, 1, 0, 2)),
            ],
            scopes: HashMap::new(),
            entries6: vec![("n2".into(), vec!["web".into()], "fd00::2".parse().unwrap())],
        };
        assert_eq!(d.lookup("n1", "WEB"), [Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(d.lookup("n1", "www").len(), 2);
        assert_eq!(d.lookup("n2", "web"), [Ipv4Addr::new(10, 1, 0, 2)]);
        assert!(d.lookup("n2", "db").is_empty());
        // A container on both networks finds names on either, its first network first.
        let mut d = d;
        d.scopes.insert("c".into(), vec!["n2".into(), "n1".into()]);
        assert_eq!(d.lookup_for("c", "web"), [Ipv4Addr::new(10, 1, 0, 2)]);
        assert_eq!(d.lookup_for("c", "db").len(), 1);
        assert!(d.lookup_for("other", "web").is_empty());
        // Both families come from the same network.
        let (v4, v6) = d.records_for("c", "web");
        assert_eq!(v4, [Ipv4Addr::new(10, 1, 0, 2)]);
        assert_eq!(v6, ["fd00::2".parse::<Ipv6Addr>().unwrap()]);
        let (v4, v6) = d.records_for("c", "db");
        assert_eq!((v4.len(), v6.len()), (1, 0));
    }

    #[test]
    fn answers_aaaa_with_the_ipv6_addresses() {
        let v4 = [Ipv4Addr::new(172, 18, 0, 2)];
        let v6: [Ipv6Addr; 1] = ["fd00:db8::2".parse().unwrap()];
        let m = query(9, "web", 28);
        let q = parse_query(&m).unwrap();
        let r = answer_records(&m, &q, &v4, &v6);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "ANCOUNT");
        let rr = &r[m.len()..];
        assert_eq!(&rr[..4], &[0xc0, 0x0c, 0, 28], "name pointer, type AAAA");
        assert_eq!(u16::from_be_bytes([rr[10], rr[11]]), 16, "RDLENGTH");
        assert_eq!(&rr[12..], &v6[0].octets());
        // The A question of the same name gets the IPv4 address only.
        let m4 = query(10, "web", 1);
        let r4 = answer_records(&m4, &parse_query(&m4).unwrap(), &v4, &v6);
        assert_eq!(u16::from_be_bytes([r4[6], r4[7]]), 1);
        assert_eq!(&r4[r4.len() - 4..], &[172, 18, 0, 2]);
    }

    #[test]
    fn upstream_servers() {
        let host = "nameserver 10.0.0.53\nsearch x\nnameserver ::1\n";
        assert_eq!(upstream(&[], host).len(), 2);
        assert_eq!(
            upstream(&["1.1.1.1".into()], host),
            ["1.1.1.1:53".parse().unwrap()]
        );
    }
}
