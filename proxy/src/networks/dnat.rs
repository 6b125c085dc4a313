//! Kernel DNAT for published ports, as dockerd's `DOCKER` nat chain with
//! `userland-proxy=true`: traffic to a published port on one of the host's non-loopback
//! IPv4 addresses is rewritten to the container's address in the kernel (the container
//! sees the client's address). Loopback (`127.0.0.1`, `localhost`), IPv6 and hairpin from
//! the container's own bridge stay with the userland proxy, which listens on every
//! published port as docker-proxy does. Pure: the rules as argument lists; `ops` runs them.

use std::net::{IpAddr, Ipv4Addr};

use super::ports::Bound;

/// dockbridge's own nat chain (dockerd's is `DOCKER`; a dockerd on the same host keeps it).
pub const CHAIN: &str = "DOCKBRIDGE";

/// One published port's DNAT rule in [`CHAIN`] (without `-A`/`-D` and the chain).
pub fn rule(bridge: &str, target: Ipv4Addr, b: &Bound) -> Option<Vec<String>> {
    let dest = match b.host_ip {
        IpAddr::V4(ip) if ip.is_loopback() => return None,
        IpAddr::V4(ip) if ip.is_unspecified() => None,
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => return None,
    };
    let proto = b.container.proto.to_string();
    let mut r = vec!["-p".to_string(), proto.clone()];
    if let Some(ip) = dest {
        r.extend(["-d".to_string(), format!("{ip}/32")]);
    }
    r.extend(
        [
            "!",
            "-i",
            bridge,
            "-m",
            &proto,
            "--dport",
            &b.host_port.to_string(),
            "-j",
            "DNAT",
            "--to-destination",
            &format!("{target}:{}", b.container.port),
        ]
        .map(String::from),
    );
    Some(r)
}

/// The rules of an endpoint's published ports.
pub fn rules(bridge: &str, target: Ipv4Addr, bound: &[Bound]) -> Vec<Vec<String>> {
    bound
        .iter()
        .filter_map(|b| rule(bridge, target, b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks::ports::{ContainerPort, Proto};

    fn b(ip: &str, port: u16, proto: Proto) -> Bound {
        Bound {
            container: ContainerPort { port: 80, proto },
            host_ip: ip.parse().unwrap(),
            host_port: port,
        }
    }

    #[test]
    fn dnat_for_host_addresses_only() {
        let t = Ipv4Addr::new(172, 17, 0, 2);
        let r = rules(
            "db0",
            t,
            &[
                b("0.0.0.0", 8080, Proto::Tcp),
                b("::", 8080, Proto::Tcp),
                b("127.0.0.1", 8081, Proto::Tcp),
                b("10.1.2.3", 5353, Proto::Udp),
            ],
        );
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].join(" "),
            "-p tcp ! -i db0 -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
        );
        assert_eq!(
            r[1].join(" "),
            "-p udp -d 10.1.2.3/32 ! -i db0 -m udp --dport 5353 -j DNAT --to-destination 172.17.0.2:80"
        );
    }
}
