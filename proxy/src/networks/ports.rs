//! Published ports: what a container asks for (`HostConfig.PortBindings`, `-P` with the
//! exposed ports), and the shapes dockerd reports once they are bound
//! (`NetworkSettings.Ports`, the `Ports` of `docker ps`). Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spec::api::models::{HostConfig, PortSummary, PortSummaryTypeEnum};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// A container port as Docker keys it (`80/tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContainerPort {
    pub port: u16,
    pub proto: Proto,
}

impl fmt::Display for ContainerPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

/// `80`, `80/tcp`, `53/udp` (Docker's `nat.Port`); `sctp` is refused, not ignored.
pub fn parse_container_port(key: &str) -> Result<ContainerPort, PortError> {
    let (p, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tcp" | "" => Proto::Tcp,
        "udp" => Proto::Udp,
        "sctp" => {
            return Err(PortError::Unsupported(format!(
                "publishing or exposing sctp ports ({key}) is not supported by dockbridge"
            )))
        }
        _ => return Err(PortError::Invalid(format!("invalid proto: {proto}"))),
    };
    let port = p
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| PortError::Invalid(format!("invalid port: {p}")))?;
    Ok(ContainerPort { port, proto })
}

/// One requested binding of a container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub container: ContainerPort,
    /// `None`: every address (dockerd reports `0.0.0.0` and `::`).
    pub host_ip: Option<IpAddr>,
    /// The host ports to try, in order; empty: a free one from the ephemeral range.
    pub host_ports: Vec<u16>,
}

/// `HostPort`: `""` (any), `8080`, or a range `8000-8010` (the first free one).
fn parse_host_ports(s: &str) -> Result<Vec<u16>, PortError> {
    let bad = || PortError::Invalid(format!("invalid hostPort: {s}"));
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a > b {
        return Err(bad());
    }
    if a == 0 {
        return Ok(Vec::new());
    }
    Ok((a..=b).collect())
}

fn parse_host_ip(s: &str) -> Result<Option<IpAddr>, PortError> {
    let s = s.trim_start_matches('[').trim_end_matches(']');
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| PortError::Invalid(format!("invalid IP address: {s}")))
}

/// The bindings a container asks for: its `PortBindings`, and with `-P` every exposed port
/// that has none (on every address, a random port). Ordered by container port.
pub fn requests(hc: &HostConfig, exposed: &[String]) -> Result<Vec<Request>, PortError> {
    let mut out = Vec::new();
    let mut bound = BTreeSet::new();
    let mut keys: Vec<(ContainerPort, &str)> = Vec::new();
    for key in hc.port_bindings.iter().flat_map(|m| m.keys()) {
        keys.push((parse_container_port(key)?, key));
    }
    keys.sort();
    for (cp, key) in keys {
        let list = hc
            .port_bindings
            .as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .flatten()
            .unwrap_or_default();
        for b in list {
            out.push(Request {
                container: cp,
                host_ip: parse_host_ip(b.host_ip.as_deref().unwrap_or(""))?,
                host_ports: parse_host_ports(b.host_port.as_deref().unwrap_or(""))?,
            });
            bound.insert(cp);
        }
    }
    if hc.publish_all_ports == Some(true) {
        let mut ports = exposed
            .iter()
            .map(|k| parse_container_port(k))
            .collect::<Result<Vec<_>, _>>()?;
        ports.sort();
        ports.dedup();
        for cp in ports.into_iter().filter(|cp| !bound.contains(cp)) {
            out.push(Request {
                container: cp,
                host_ip: None,
                host_ports: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// A binding in place: `host_ip:host_port` forwards to the container's port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    pub container: ContainerPort,
    pub host_ip: IpAddr,
    pub host_port: u16,
}

/// `NetworkSettings.Ports`: every exposed port, with its bindings or `null`.
pub fn port_map(exposed: &[String], bound: &[Bound]) -> Value {
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    for k in exposed {
        if let Ok(cp) = parse_container_port(k) {
            map.insert(cp.to_string(), Value::Null);
        }
    }
    for b in bound {
        let entry = map
            .entry(b.container.to_string())
            .or_insert_with(|| json!([]));
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({"HostIp": b.host_ip.to_string(), "HostPort": b.host_port.to_string()}));
        }
    }
    serde_json::to_value(map).unwrap_or_else(|_| json!({}))
}

/// `Ports` of `docker ps`: the bindings, then the exposed ports without one.
pub fn summary(exposed: &[String], bound: &[Bound]) -> Vec<PortSummary> {
    let typ = |p: Proto| match p {
        Proto::Tcp => PortSummaryTypeEnum::TCP,
        Proto::Udp => PortSummaryTypeEnum::UDP,
    };
    let mut out: Vec<PortSummary> = bound
        .iter()
        .map(|b| PortSummary {
            ip: Some(b.host_ip.to_string()),
            private_port: b.container.port,
            public_port: Some(b.host_port),
            typ: Some(typ(b.container.proto)),
        })
        .collect();
    let published: BTreeSet<ContainerPort> = bound.iter().map(|b| b.container).collect();
    let mut unpublished: Vec<ContainerPort> = exposed
        .iter()
        .filter_map(|k| parse_container_port(k).ok())
        .filter(|cp| !published.contains(cp))
        .collect();
    unpublished.sort();
    unpublished.dedup();
    out.extend(unpublished.into_iter().map(|cp| PortSummary {
        ip: None,
        private_port: cp.port,
        public_port: None,
        typ: Some(typ(cp.proto)),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec::api::models::PortBinding;

    fn hc(bindings: &[(&str, &str, &str)], all: bool) -> HostConfig {
        let mut m: std::collections::HashMap<String, Option<Vec<PortBinding>>> = Default::default();
        for (k, ip, port) in bindings {
            m.entry(k.to_string())
                .or_default()
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(ip.to_string()),
                    host_port: Some(port.to_string()),
                });
        }
        HostConfig {
            port_bindings: Some(m),
            publish_all_ports: Some(all),
            ..Default::default()
        }
    }

    #[test]
    fn container_ports() {
        assert_eq!(
            parse_container_port("80").unwrap(),
            ContainerPort {
                port: 80,
                proto: Proto::Tcp
            }
        );
        assert_eq!(
            parse_container_port("53/udp").unwrap().to_string(),
            "53/udp"
        );
        assert!(matches!(
            parse_container_port("1/sctp"),
            Err(PortError::Unsupported(_))
        ));
        for bad in ["0", "x/tcp", "70000", "80/icmp"] {
            assert!(
                matches!(parse_container_port(bad), Err(PortError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn requests_from_the_cli_shapes() {
        // -p 127.0.0.1::80 -p 8080:80 -p 53/udp -p 9000-9002:90
        let h = hc(
            &[
                ("80/tcp", "127.0.0.1", ""),
                ("80/tcp", "", "8080"),
                ("53/udp", "", ""),
                ("90/tcp", "", "9000-9002"),
            ],
            false,
        );
        let r = requests(&h, &[]).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].container.to_string(), "53/udp");
        assert_eq!(r[1].host_ip, Some("127.0.0.1".parse().unwrap()));
        assert!(r[1].host_ports.is_empty());
        assert_eq!(r[2].host_ports, [8080]);
        assert_eq!(r[3].host_ports, [9000, 9001, 9002]);
        let v6 = requests(&hc(&[("80/tcp", "[::1]", "80")], false), &[]).unwrap();
        assert_eq!(v6[0].host_ip, Some("::1".parse().unwrap()));
        assert!(requests(&hc(&[("80/tcp", "nope", "")], false), &[]).is_err());
        assert!(requests(&hc(&[("80/tcp", "", "90-80")], false), &[]).is_err());
        assert!(requests(&hc(&[("80/tcp", "", "x")], false), &[]).is_err());
    }

    #[test]
    fn publish_all_adds_exposed_ports_without_bindings() {
        let h = hc(&[("80/tcp", "", "8080")], true);
        let r = requests(&h, &["80/tcp".into(), "443/tcp".into(), "53/udp".into()]).unwrap();
        let keys: Vec<String> = r.iter().map(|r| r.container.to_string()).collect();
        assert_eq!(keys, ["80/tcp", "53/udp", "443/tcp"]);
        assert!(r[1].host_ports.is_empty() && r[1].host_ip.is_none());
    }

    #[test]
    fn shapes_as_dockerd_reports_them() {
        let b = |ip: &str, port| Bound {
            container: parse_container_port("80/tcp").unwrap(),
            host_ip: ip.parse().unwrap(),
            host_port: port,
        };
        let bound = [b("0.0.0.0", 49153), b("::", 49153)];
        let exposed = ["80/tcp".to_string(), "443/tcp".to_string()];
        assert_eq!(
            port_map(&exposed, &bound),
            json!({
                "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"},
                           {"HostIp": "::", "HostPort": "49153"}],
                "443/tcp": null
            })
        );
        let s = serde_json::to_value(summary(&exposed, &bound)).unwrap();
        assert_eq!(
            s,
            json!([
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 49153, "Type": "tcp"},
                {"IP": "::", "PrivatePort": 80, "PublicPort": 49153, "Type": "tcp"},
                {"PrivatePort": 443, "Type": "tcp"}
            ])
        );
    }
}
