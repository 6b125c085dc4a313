//! Legacy container links (`--link NAME[:ALIAS]`) on the default bridge, as dockerd writes
//! them: the link's parsing, the environment a linked child gives its parent
//! (`ALIAS_PORT_80_TCP=tcp://172.17.0.2:80`, `ALIAS_NAME=/web/alias`, `ALIAS_ENV_X=…`) and
//! the parent's `/etc/hosts` entry for the child (alias, hostname, name).

use crate::error::Error;

/// `NAME[:ALIAS]` (or the `/name:/parent/alias` form inspect shows): the child's name,
/// without its slash, and the alias.
pub fn parse_link(link: &str) -> Result<(String, String), Error> {
    if link.is_empty() {
        return Err(Error::InvalidParameter(
            "empty string specified for links".into(),
        ));
    }
    let parts: Vec<&str> = link.split(':').collect();
    match parts.as_slice() {
        [one] => Ok((one.trim_start_matches('/').to_string(), one.to_string())),
        [name, alias] => match name.strip_prefix('/') {
            Some(bare) => Ok((
                bare.to_string(),
                alias.rsplit('/').next().unwrap_or(alias).to_string(),
            )),
            None => Ok((name.to_string(), alias.to_string())),
        },
        _ => Err(Error::InvalidParameter(format!(
            "bad format for links: {link}"
        ))),
    }
}

/// A running child as its parent sees it through a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedChild {
    /// `/parent/alias`.
    pub link_name: String,
    /// The child's name without its slash.
    pub name: String,
    pub hostname: String,
    /// The child's address on the default bridge.
    pub ip: String,
    /// The child's `Config.Env`.
    pub env: Vec<String>,
    /// The child's exposed ports: `80/tcp`, `53/udp`.
    pub exposed: Vec<String>,
}

/// `(number, protocol)` of `80/tcp`; a port without a protocol is tcp.
fn port(p: &str) -> Option<(u32, String)> {
    let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    Some((n.parse().ok()?, proto.to_string()))
}

/// moby's ordering: by number, tcp first among equals.
fn sorted_ports(exposed: &[String]) -> Vec<(u32, String)> {
    let mut ports: Vec<(u32, String)> = exposed.iter().filter_map(|p| port(p)).collect();
    ports.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| (b.1.eq_ignore_ascii_case("tcp")).cmp(&a.1.eq_ignore_ascii_case("tcp")))
    });
    ports
}

/// The variables the link puts in the parent's environment, in dockerd's order: the
/// default port, contiguous port ranges, every port, the name, the child's environment
/// (without `HOME` and `PATH`).
pub fn link_env(l: &LinkedChild) -> Vec<String> {
    let last = l.link_name.rsplit('/').next().unwrap_or(&l.link_name);
    let alias = last.to_uppercase().replace('-', "_");
    let ip = &l.ip;
    let ports = sorted_ports(&l.exposed);
    let mut env = Vec::new();
    if let Some((n, proto)) = ports.first() {
        env.push(format!("{alias}_PORT={proto}://{ip}:{n}"));
    }
    let mut i = 0;
    while i < ports.len() {
        let (n, proto) = &ports[i];
        let j = next_contiguous(&ports, i);
        if j > i + 1 {
            let up = proto.to_uppercase();
            env.push(format!("{alias}_PORT_{n}_{up}_START={proto}://{ip}:{n}"));
            env.push(format!("{alias}_PORT_{n}_{up}_ADDR={ip}"));
            env.push(format!("{alias}_PORT_{n}_{up}_PROTO={proto}"));
            env.push(format!("{alias}_PORT_{n}_{up}_PORT_START={n}"));
            let (qn, qproto) = &ports[j];
            let qup = qproto.to_uppercase();
            env.push(format!("{alias}_PORT_{n}_{qup}_END={qproto}://{ip}:{qn}"));
            env.push(format!("{alias}_PORT_{n}_{qup}_PORT_END={qn}"));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    for (n, proto) in &ports {
        let up = proto.to_uppercase();
        env.push(format!("{alias}_PORT_{n}_{up}={proto}://{ip}:{n}"));
        env.push(format!("{alias}_PORT_{n}_{up}_ADDR={ip}"));
        env.push(format!("{alias}_PORT_{n}_{up}_PORT={n}"));
        env.push(format!("{alias}_PORT_{n}_{up}_PROTO={proto}"));
    }
    env.push(format!("{alias}_NAME={}", l.link_name));
    for v in &l.env {
        let Some((k, val)) = v.split_once('=') else {
            continue;
        };
        if k == "HOME" || k == "PATH" {
            continue;
        }
        env.push(format!("{alias}_ENV_{k}={val}"));
    }
    env
}

/// moby's `nextContiguous`: the last index of the run of consecutive numbers from `i`.
fn next_contiguous(ports: &[(u32, String)], i: usize) -> usize {
    if i + 1 == ports.len() {
        return i;
    }
    // The k-th port after i continues the run while it is at most base + k.
    let base = ports[i].0;
    for (k, p) in ports.iter().enumerate().skip(i + 1) {
        let step = u32::try_from(k - i).unwrap_or(u32::MAX);
        if p.0 > base.saturating_add(step) {
            return k - 1;
        }
    }
    ports.len() - 1
}

/// The parent's `/etc/hosts` entry for the child, in `--add-host` form (`NAMES:IP`, the
/// names separated by spaces): the alias, the child's hostname, and its name when that
/// differs from the alias.
pub fn hosts_entry(l: &LinkedChild) -> String {
    let alias = l.link_name.rsplit('/').next().unwrap_or(&l.link_name);
    let mut names = format!("{alias} {}", l.hostname);
    if alias != l.name {
        names.push(' ');
        names.push_str(&l.name);
    }
    format!("{names}:{}", l.ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(exposed: &[&str]) -> LinkedChild {
        LinkedChild {
            link_name: "/web/db-1".into(),
            name: "db".into(),
            hostname: "abcdef123456".into(),
            ip: "172.17.0.2".into(),
            env: vec![
                "PATH=/bin".into(),
                "HOME=/root".into(),
                "PASSWORD=s=1".into(),
                "BROKEN".into(),
            ],
            exposed: exposed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn parses_links_as_moby() {
        assert_eq!(parse_link("db").unwrap(), ("db".into(), "db".into()));
        assert_eq!(parse_link("db:data").unwrap(), ("db".into(), "data".into()));
        assert_eq!(
            parse_link("/db:/web/data").unwrap(),
            ("db".into(), "data".into())
        );
        assert!(parse_link("").is_err());
        assert_eq!(
            parse_link("a:b:c").unwrap_err().to_string(),
            "bad format for links: a:b:c"
        );
    }

    #[test]
    fn env_as_dockerd_writes_it() {
        assert_eq!(
            link_env(&child(&["80/tcp", "53/udp"])),
            [
                "DB_1_PORT=udp://172.17.0.2:53",
                "DB_1_PORT_53_UDP=udp://172.17.0.2:53",
                "DB_1_PORT_53_UDP_ADDR=172.17.0.2",
                "DB_1_PORT_53_UDP_PORT=53",
                "DB_1_PORT_53_UDP_PROTO=udp",
                "DB_1_PORT_80_TCP=tcp://172.17.0.2:80",
                "DB_1_PORT_80_TCP_ADDR=172.17.0.2",
                "DB_1_PORT_80_TCP_PORT=80",
                "DB_1_PORT_80_TCP_PROTO=tcp",
                "DB_1_NAME=/web/db-1",
                "DB_1_ENV_PASSWORD=s=1",
            ]
        );
        assert_eq!(
            link_env(&child(&[])),
            ["DB_1_NAME=/web/db-1", "DB_1_ENV_PASSWORD=s=1"]
        );
    }

    #[test]
    fn contiguous_ports_get_a_range() {
        let env = link_env(&child(&["8000/tcp", "8001/tcp", "8002/tcp"]));
        assert_eq!(
            &env[..7],
            [
                "DB_1_PORT=tcp://172.17.0.2:8000",
                "DB_1_PORT_8000_TCP_START=tcp://172.17.0.2:8000",
                "DB_1_PORT_8000_TCP_ADDR=172.17.0.2",
                "DB_1_PORT_8000_TCP_PROTO=tcp",
                "DB_1_PORT_8000_TCP_PORT_START=8000",
                "DB_1_PORT_8000_TCP_END=tcp://172.17.0.2:8002",
                "DB_1_PORT_8000_TCP_PORT_END=8002",
            ]
        );
        assert_eq!(env.len(), 7 + 3 * 4 + 2);
    }

    #[test]
    fn hosts_entry_names_alias_hostname_and_name() {
        assert_eq!(hosts_entry(&child(&[])), "db-1 abcdef123456 db:172.17.0.2");
        let mut same = child(&[]);
        same.link_name = "/web/db".into();
        assert_eq!(hosts_entry(&same), "db abcdef123456:172.17.0.2");
    }
}
