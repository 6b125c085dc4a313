//! Windows container networking as dockerd on Windows shows it, pure: which network a
//! Windows container's mode names (`nat`, dockerd's default on Windows, or `none`), its
//! published ports as HNS port-mapping policies, and `NetworkSettings` of `docker inspect`
//! from the endpoint HNS made. The HNS calls are in [`super::hns`].

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use hcs::network::{HostComputeEndpoint, PortMapping, PROTOCOL_TCP, PROTOCOL_UDP};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spec::api::models::HostConfig;

use super::ports::{self, Bound, Proto, Request};
use super::NetworkError;

/// The network dockerd on Windows puts a container on by default.
pub const NAT: &str = "nat";

/// Host ports HNS mappings take when none is asked for (`-P`, `-p 80`): the ephemeral
/// range dockerd's port allocator uses.
const EPHEMERAL: std::ops::RangeInclusive<u16> = 49153..=65535;

/// What a Windows container's network is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--network none`: no endpoint.
    None,
    /// The `nat` network (the default, `--network nat`).
    Nat,
}

/// The container's mode, with a clear 4xx for what Windows containers cannot have here.
pub fn mode(hc: &HostConfig) -> Result<Mode, NetworkError> {
    match hc.network_mode.as_deref().unwrap_or("") {
        "" | "default" | NAT => Ok(Mode::Nat),
        "none" => Ok(Mode::None),
        "host" | "bridge" => Err(NetworkError::InvalidParameter(format!(
            "network mode {:?} is not supported for Windows containers (use nat or none)",
            hc.network_mode.as_deref().unwrap_or("")
        ))),
        m if m.starts_with("container:") => Err(NetworkError::InvalidParameter(
            "sharing another container's network stack is not supported for Windows containers by dockbridge".into(),
        )),
        // A 400, not a 404: the CLI answers a 404 at create by pulling the image.
        other => Err(NetworkError::InvalidParameter(format!(
            "network {other} not found (dockbridge has no user networks for Windows containers)"
        ))),
    }
}

/// Create-time checks of a Windows container's network: its mode, ports that only make
/// sense on an endpoint, and whether this daemon has HNS at all.
pub fn check_create(
    hc: &HostConfig,
    exposed: &[String],
    hns_live: bool,
) -> Result<Mode, NetworkError> {
    let m = mode(hc)?;
    let reqs =
        ports::requests(hc, exposed).map_err(|e| NetworkError::InvalidParameter(e.to_string()))?;
    match m {
        Mode::None if !reqs.is_empty() => Err(NetworkError::InvalidParameter(
            "conflicting options: port publishing and the container type network mode".into(),
        )),
        Mode::Nat if !hns_live => Err(NetworkError::InvalidParameter(
            "networking of Windows containers needs the Host Network Service (computenetwork.dll), which this daemon could not load: use --network none".into(),
        )),
        _ => {
            for r in &reqs {
                check_request(r)?;
            }
            Ok(m)
        }
    }
}

fn check_request(r: &Request) -> Result<(), NetworkError> {
    match r.host_ip {
        None | Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)) => Ok(()),
        Some(ip) => Err(NetworkError::InvalidParameter(format!(
            "publishing on a host address ({ip}) is not supported for Windows containers by dockbridge: HNS maps every host address"
        ))),
    }
}

fn protocol(p: Proto) -> u32 {
    match p {
        Proto::Tcp => PROTOCOL_TCP,
        Proto::Udp => PROTOCOL_UDP,
    }
}

/// The port-mapping policies for `reqs`, each host port chosen among those asked for (the
/// first free of a range) or from the ephemeral range, never one in `taken` (other
/// containers' mappings, by protocol), and the bindings as inspect shows them.
pub fn plan_ports(
    reqs: &[Request],
    taken: &BTreeSet<(Proto, u16)>,
) -> Result<(Vec<PortMapping>, Vec<Bound>), NetworkError> {
    let mut used = taken.clone();
    let (mut maps, mut bound) = (Vec::new(), Vec::new());
    for r in reqs {
        check_request(r)?;
        let proto = r.container.proto;
        let host_port = if r.host_ports.is_empty() {
            EPHEMERAL.clone().find(|p| !used.contains(&(proto, *p)))
        } else {
            r.host_ports
                .iter()
                .copied()
                .find(|p| !used.contains(&(proto, *p)))
        }
        .ok_or_else(|| {
            NetworkError::Conflict(format!(
                "Bind for 0.0.0.0:{} failed: port is already allocated",
                r.host_ports
                    .first()
                    .map_or_else(|| "(any)".to_string(), u16::to_string)
            ))
        })?;
        used.insert((proto, host_port));
        maps.push(PortMapping {
            protocol: protocol(proto),
            internal_port: r.container.port,
            external_port: host_port,
        });
        bound.push(Bound {
            container: r.container,
            host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            host_port,
        });
    }
    Ok((maps, bound))
}

/// The HNS endpoint name of a container's endpoint: the daemon finds its own leftovers
/// (after a crash) by this prefix.
pub fn endpoint_name(owner: &str, container_id: &str) -> String {
    format!("{owner}-{container_id}")
}

/// A container's endpoint on `nat`, as inspect shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// HNS's endpoint GUID (what the compute system's namespace holds).
    pub hns_id: String,
    pub ip: String,
    pub prefix: u8,
    pub mac: String,
    pub gateway: String,
    pub ports: Vec<Bound>,
}

impl Attached {
    pub fn from_endpoint(ep: &HostComputeEndpoint, ports: Vec<Bound>) -> Attached {
        let ipc = ep.ip_configurations.first();
        Attached {
            hns_id: ep.id.clone(),
            ip: ipc.map(|c| c.ip_address.clone()).unwrap_or_default(),
            prefix: ipc.map_or(0, |c| c.prefix_length),
            mac: go_mac(&ep.mac_address),
            gateway: ep.gateway().unwrap_or_default().to_string(),
            ports,
        }
    }

    /// dockerd's `EndpointID` is libnetwork's (64 hex digits); dockbridge derives one from
    /// the HNS endpoint, so it is stable for the endpoint's life and unique per endpoint.
    pub fn endpoint_id(&self) -> String {
        hex::encode(Sha256::digest(format!("hns endpoint {}", self.hns_id)))
    }
}

/// HNS writes MACs as `00-15-5D-0A-0B-0C`; dockerd shows Go's `net.HardwareAddr` form.
fn go_mac(hns: &str) -> String {
    hns.replace('-', ":").to_ascii_lowercase()
}

/// Fills `NetworkSettings` (already in dockerd's full shape, `Networks.nat` present for a
/// container on nat) from the container's endpoint: `Networks.nat`, `Ports`. Without an
/// endpoint (stopped) a container that ran keeps the network's ID, as dockerd does.
pub fn patch_inspect(
    v: &mut Value,
    exposed: &[String],
    running: bool,
    ran: bool,
    ep: Option<&Attached>,
) {
    let Some(ns) = v.get_mut("NetworkSettings") else {
        return;
    };
    let network_id = super::network_id(NAT);
    match ep {
        Some(ep) => {
            ns["Ports"] = ports::port_map(exposed, &ep.ports);
            if let Some(b) = ns.get_mut("Networks").and_then(|n| n.get_mut(NAT)) {
                for (k, val) in [
                    ("NetworkID", json!(network_id)),
                    ("EndpointID", json!(ep.endpoint_id())),
                    ("Gateway", json!(ep.gateway)),
                    ("IPAddress", json!(ep.ip)),
                    ("IPPrefixLen", json!(ep.prefix)),
                    ("MacAddress", json!(ep.mac)),
                ] {
                    b[k] = val;
                }
            }
        }
        None => {
            if running {
                ns["Ports"] = ports::port_map(exposed, &[]);
            }
            if ran {
                if let Some(b) = ns.get_mut("Networks").and_then(|n| n.get_mut(NAT)) {
                    b["NetworkID"] = json!(network_id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec::api::models::PortBinding;
    use std::collections::HashMap;

    fn hc(mode: &str, bindings: &[(&str, &str, &str)], all: bool) -> HostConfig {
        let mut pb: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for (cport, ip, hport) in bindings {
            pb.entry(cport.to_string())
                .or_insert_with(|| Some(Vec::new()))
                .as_mut()
                .unwrap()
                .push(PortBinding {
                    host_ip: Some(ip.to_string()),
                    host_port: Some(hport.to_string()),
                });
        }
        HostConfig {
            network_mode: Some(mode.into()),
            port_bindings: Some(pb),
            publish_all_ports: Some(all),
            ..HostConfig::default()
        }
    }

    #[test]
    fn modes_map_to_nat_none_or_a_clear_error() {
        assert_eq!(mode(&hc("default", &[], false)).unwrap(), Mode::Nat);
        assert_eq!(mode(&hc("", &[], false)).unwrap(), Mode::Nat);
        assert_eq!(mode(&hc("nat", &[], false)).unwrap(), Mode::Nat);
        assert_eq!(mode(&hc("none", &[], false)).unwrap(), Mode::None);
        assert!(matches!(
            mode(&hc("host", &[], false)),
            Err(NetworkError::InvalidParameter(_))
        ));
        assert!(matches!(
            mode(&hc("mynet", &[], false)),
            Err(NetworkError::InvalidParameter(m)) if m.contains("mynet")
        ));
        // Ports need an endpoint; nat needs HNS.
        assert!(check_create(&hc("none", &[("80/tcp", "", "8080")], false), &[], true).is_err());
        assert!(check_create(&hc("default", &[], false), &[], false).is_err());
        assert_eq!(
            check_create(&hc("none", &[], false), &[], false).unwrap(),
            Mode::None
        );
        assert!(check_create(
            &hc("default", &[("80/tcp", "127.0.0.1", "8080")], false),
            &[],
            true
        )
        .is_err());
    }

    #[test]
    fn bindings_become_port_mapping_policies_with_free_host_ports() {
        let h = hc(
            "default",
            &[
                ("80/tcp", "", "8080"),
                ("53/udp", "0.0.0.0", ""),
                ("81/tcp", "", "9000-9002"),
            ],
            true,
        );
        let exposed = vec![
            "80/tcp".into(),
            "443/tcp".into(),
            "53/udp".into(),
            "81/tcp".into(),
        ];
        let reqs = ports::requests(&h, &exposed).unwrap();
        let taken = BTreeSet::from([(Proto::Tcp, 9000), (Proto::Udp, 49153)]);
        let (maps, bound) = plan_ports(&reqs, &taken).unwrap();
        let got: Vec<(u32, u16, u16)> = maps
            .iter()
            .map(|m| (m.protocol, m.internal_port, m.external_port))
            .collect();
        assert_eq!(
            got,
            vec![
                (17, 53, 49154),
                (6, 80, 8080),
                (6, 81, 9001),
                // -P: the exposed port without a binding gets an ephemeral one.
                (6, 443, 49153),
            ]
        );
        assert_eq!(bound.len(), 4);
        let map = ports::port_map(&exposed, &bound);
        assert_eq!(
            map["80/tcp"],
            json!([{"HostIp": "0.0.0.0", "HostPort": "8080"}])
        );
        // A taken fixed port is dockerd's conflict.
        let clash = BTreeSet::from([(Proto::Tcp, 8080)]);
        let only80 =
            ports::requests(&hc("default", &[("80/tcp", "", "8080")], false), &[]).unwrap();
        assert!(matches!(
            plan_ports(&only80, &clash),
            Err(NetworkError::Conflict(m)) if m.contains("8080")
        ));
    }

    #[test]
    fn inspect_shows_the_nat_endpoint_as_dockerd_on_windows() {
        let ep: HostComputeEndpoint = serde_json::from_value(json!({
            "ID": "5e1a0000-0000-4000-8000-000000000001",
            "IpConfigurations": [{"IpAddress": "172.20.0.2", "PrefixLength": 20}],
            "MacAddress": "00-15-5D-14-00-02",
            "Routes": [{"NextHop": "172.20.0.1", "DestinationPrefix": "0.0.0.0/0"}]
        }))
        .unwrap();
        let reqs = ports::requests(&hc("default", &[("80/tcp", "", "8080")], false), &[]).unwrap();
        let (_, bound) = plan_ports(&reqs, &BTreeSet::new()).unwrap();
        let a = Attached::from_endpoint(&ep, bound);
        let mut v =
            json!({"NetworkSettings": {"Ports": {}, "Networks": {"nat": {"IPAddress": ""}}}});
        patch_inspect(&mut v, &["80/tcp".into()], true, true, Some(&a));
        let nat = &v["NetworkSettings"]["Networks"]["nat"];
        assert_eq!(nat["IPAddress"], "172.20.0.2");
        assert_eq!(nat["IPPrefixLen"], 20);
        assert_eq!(nat["Gateway"], "172.20.0.1");
        assert_eq!(nat["MacAddress"], "00:15:5d:14:00:02");
        assert_eq!(nat["EndpointID"].as_str().unwrap().len(), 64);
        assert_eq!(nat["NetworkID"], json!(super::super::network_id("nat")));
        assert_eq!(
            v["NetworkSettings"]["Ports"]["80/tcp"],
            json!([{"HostIp": "0.0.0.0", "HostPort": "8080"}])
        );
        // Stopped: no endpoint, the network's ID kept, ports left as they are.
        let mut v =
            json!({"NetworkSettings": {"Ports": {}, "Networks": {"nat": {"IPAddress": ""}}}});
        patch_inspect(&mut v, &["80/tcp".into()], false, true, None);
        assert_eq!(v["NetworkSettings"]["Networks"]["nat"]["IPAddress"], "");
        assert_eq!(
            v["NetworkSettings"]["Networks"]["nat"]["NetworkID"],
            json!(super::super::network_id("nat"))
        );
        assert_eq!(v["NetworkSettings"]["Ports"], json!({}));
    }
}
