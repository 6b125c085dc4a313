//! User-defined bridge networks: the create request checked and turned into a network
//! record, the record's JSON (dockerd's `docker network inspect` shape) and the list
//! filters. Pure: the caller gives the networks and host routes that exist.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spec::filters::Filters;

use super::ipam::{self, Subnet, Subnet6};
use super::NetworkError;

/// One user-defined network, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserNetwork {
    pub id: String,
    pub name: String,
    /// RFC 3339 with nanoseconds, as dockerd shows it.
    pub created: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub ip_range: Option<Subnet>,
    /// `IPAM.Config[0]` as dockerd shows it (the request's fields, or the chosen pool).
    pub ipam_config: BTreeMap<String, String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// The Linux bridge: `br-<id[..12]>` or `com.docker.network.bridge.name`.
    pub bridge: String,
    /// `com.docker.network.bridge.enable_ip_masquerade` (default true).
    pub masquerade: bool,
    /// `--ipv6`: containers get an address from [`Self::ipv6`] too.
    #[serde(default)]
    pub enable_ipv6: bool,
    /// The IPv6 subnet (dockerd keeps and shows one given without `--ipv6`, unused).
    #[serde(default)]
    pub ipv6: Option<Ipv6Config>,
}

/// A network's IPv6 subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Config {
    pub subnet: Subnet6,
    pub gateway: Ipv6Addr,
    pub ip_range: Option<Subnet6>,
    /// Its `IPAM.Config` entry as dockerd shows it.
    pub ipam_config: BTreeMap<String, String>,
}

impl UserNetwork {
    /// The IPv6 subnet its containers get addresses from (`--ipv6` networks only).
    pub fn v6(&self) -> Option<&Ipv6Config> {
        self.ipv6.as_ref().filter(|_| self.enable_ipv6)
    }
}

/// `POST /networks/create`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub driver: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub internal: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attachable: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ingress: bool,
    #[serde(default, rename = "EnableIPv6", deserialize_with = "null_as_default")]
    pub enable_ipv6: bool,
    #[serde(default, rename = "IPAM")]
    pub ipam: Option<Ipam>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub config_only: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub scope: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    #[serde(default, deserialize_with = "null_as_default")]
    pub driver: String,
    #[serde(default)]
    pub config: Option<Vec<IpamConfig>>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub subnet: String,
    #[serde(default, rename = "IPRange", deserialize_with = "null_as_default")]
    pub ip_range: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub gateway: String,
    #[serde(default)]
    pub auxiliary_addresses: Option<BTreeMap<String, String>>,
}

/// A JSON `null` read as the field's default: docker-py sends `"IPRange": null`,
/// `"Internal": null`… for what its caller left out, and dockerd (Go) takes them as zero.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

const BRIDGE_NAME: &str = "com.docker.network.bridge.name";
const MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
/// Options dockerd's bridge driver takes that dockbridge does not implement: refused.
const KNOWN_OPTIONS: &[&str] = &[BRIDGE_NAME, MASQUERADE];

fn invalid(m: impl Into<String>) -> NetworkError {
    NetworkError::InvalidParameter(m.into())
}

fn unsupported(what: &str) -> NetworkError {
    invalid(format!("{what} is not supported by dockbridge yet"))
}

fn overlap() -> NetworkError {
    NetworkError::Forbidden("Pool overlaps with other one on this address space".into())
}

fn gateway_out_of_range(g: &str) -> NetworkError {
    invalid(format!(
        "failed to allocate gateway ({g}): Requested address is out of range"
    ))
}

/// The IPv6 half of a network: its subnet (not overlapping `taken6`), gateway and range,
/// and `IPAM.Config` as dockerd shows it (the request's fields only).
fn ipv6_config(c: &IpamConfig, taken6: &[Subnet6]) -> Result<Ipv6Config, NetworkError> {
    let subnet: Subnet6 = c.subnet.parse().map_err(|_| {
        invalid(format!(
            "Invalid subnet {} : invalid CIDR address: {}",
            c.subnet, c.subnet
        ))
    })?;
    if subnet.prefix > 127 {
        return Err(invalid(format!(
            "Invalid subnet {}: no room for containers",
            c.subnet
        )));
    }
    if taken6.iter().any(|t| t.overlaps(&subnet)) {
        return Err(overlap());
    }
    let mut shown = BTreeMap::from([("Subnet".to_string(), c.subnet.clone())]);
    let ip_range = if c.ip_range.is_empty() {
        None
    } else {
        let r: Subnet6 = c.ip_range.parse().map_err(|_| {
            invalid(format!(
                "Invalid IP range {}: invalid CIDR address",
                c.ip_range
            ))
        })?;
        // dockerd 20.10 takes a range outside the subnet and hands out nothing from it;
        // refused here, as for IPv4.
        if !subnet.contains(r.network) || r.prefix < subnet.prefix {
            return Err(invalid(format!(
                "Invalid IP range {}: not within the subnet {}",
                c.ip_range, c.subnet
            )));
        }
        shown.insert("IPRange".to_string(), c.ip_range.clone());
        Some(r)
    };
    let gateway = if c.gateway.is_empty() {
        ipam::default_gateway6(subnet, ip_range)
    } else {
        let g: Ipv6Addr = c
            .gateway
            .parse()
            .map_err(|_| gateway_out_of_range(&c.gateway))?;
        if !subnet.contains(g) || g == subnet.network {
            return Err(gateway_out_of_range(&c.gateway));
        }
        shown.insert("Gateway".to_string(), c.gateway.clone());
        g
    };
    Ok(Ipv6Config {
        subnet,
        gateway,
        ip_range,
        ipam_config: shown,
    })
}

/// Checks a create request against what exists (`taken`: the IPv4 subnets of every
/// network, the default bridge's included; `taken6`: their IPv6 subnets; `routed`: the
/// host's routes) and builds the record.
pub fn create(
    req: &CreateRequest,
    id: String,
    created: String,
    taken: &[Subnet],
    taken6: &[Subnet6],
    routed: &[Subnet],
) -> Result<UserNetwork, NetworkError> {
    if req.name.is_empty() {
        return Err(invalid("network name is required"));
    }
    if !matches!(req.driver.as_str(), "" | "bridge") {
        return Err(unsupported(&format!(
            "the {:?} network driver (only \"bridge\" is)",
            req.driver
        )));
    }
    if req.ingress || req.config_only || !matches!(req.scope.as_str(), "" | "local") {
        return Err(unsupported(
            "swarm-scoped, ingress and config-only networks",
        ));
    }
    let ipam = req.ipam.clone().unwrap_or_default();
    if !matches!(ipam.driver.as_str(), "" | "default") {
        return Err(unsupported(&format!("the {:?} IPAM driver", ipam.driver)));
    }
    if ipam.options.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(unsupported("IPAM options"));
    }
    let options = req.options.clone().unwrap_or_default();
    if let Some(k) = options
        .keys()
        .find(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
    {
        return Err(unsupported(&format!("the network option {k}")));
    }
    let masquerade = match options.get(MASQUERADE).map(String::as_str) {
        None | Some("true") => true,
        Some("false") => false,
        Some(v) => return Err(invalid(format!("invalid value {v:?} for {MASQUERADE}"))),
    };
    let configs = ipam.config.unwrap_or_default();
    for c in &configs {
        if c.auxiliary_addresses
            .as_ref()
            .is_some_and(|a| !a.is_empty())
        {
            return Err(unsupported("auxiliary addresses (--aux-address)"));
        }
    }
    // An IPv6 subnet (dockerd sorts the configs by the family of their subnet).
    let is_v6 = |c: &&IpamConfig| c.subnet.contains(':');
    let (v6, v4): (Vec<&IpamConfig>, Vec<&IpamConfig>) = configs.iter().partition(is_v6);
    if v4.len() > 1 || v6.len() > 1 {
        return Err(invalid("bridge driver doesn't support multiple subnets"));
    }
    let mut shown = BTreeMap::new();
    let (subnet, gateway, ip_range) = match v4.first().filter(|c| !c.subnet.is_empty()) {
        Some(c) => {
            let subnet: Subnet = c.subnet.parse().map_err(|_| {
                invalid(format!(
                    "Invalid subnet {} : invalid CIDR address: {}",
                    c.subnet, c.subnet
                ))
            })?;
            if subnet.prefix > 30 {
                return Err(invalid(format!(
                    "Invalid subnet {}: no room for containers",
                    c.subnet
                )));
            }
            if taken.iter().any(|t| t.overlaps(&subnet)) {
                return Err(overlap());
            }
            shown.insert("Subnet".to_string(), c.subnet.clone());
            let ip_range = if c.ip_range.is_empty() {
                None
            } else {
                let r: Subnet = c.ip_range.parse().map_err(|_| {
                    invalid(format!(
                        "Invalid IP range {}: invalid CIDR address",
                        c.ip_range
                    ))
                })?;
                if !subnet.contains(r.network) || r.prefix < subnet.prefix {
                    return Err(invalid(format!(
                        "Invalid IP range {}: not within the subnet {}",
                        c.ip_range, c.subnet
                    )));
                }
                shown.insert("IPRange".to_string(), c.ip_range.clone());
                Some(r)
            };
            let gateway = if c.gateway.is_empty() {
                ipam::default_gateway(subnet, ip_range)
            } else {
                let g: Ipv4Addr = c
                    .gateway
                    .parse()
                    .map_err(|_| gateway_out_of_range(&c.gateway))?;
                if !subnet.contains(g) || g == subnet.network || g == subnet.broadcast() {
                    return Err(gateway_out_of_range(&c.gateway));
                }
                shown.insert("Gateway".to_string(), c.gateway.clone());
                g
            };
            (subnet, gateway, ip_range)
        }
        None => {
            if v4
                .first()
                .is_some_and(|c| !c.gateway.is_empty() || !c.ip_range.is_empty())
            {
                return Err(invalid("a gateway or IP range needs a subnet (--subnet)"));
            }
            let mut in_use = taken.to_vec();
            in_use.extend_from_slice(routed);
            let subnet = ipam::pick_pool(&ipam::default_pools(), &in_use)
                .map_err(|e| NetworkError::Forbidden(e.to_string()))?;
            let gateway = subnet.first_host();
            shown.insert("Subnet".to_string(), subnet.to_string());
            shown.insert("Gateway".to_string(), gateway.to_string());
            (subnet, gateway, None)
        }
    };
    let ipv6 = match v6.first() {
        Some(c) => Some(ipv6_config(c, taken6)?),
        // dockerd has no default IPv6 pools (its 404).
        None if req.enable_ipv6 => return Err(NetworkError::NotFound(
            "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network".into(),
        )),
        None => None,
    };
    let bridge = match options.get(BRIDGE_NAME) {
        Some(b) if b.is_empty() || b.len() > 15 || b.contains(['/', ' ']) => {
            return Err(invalid(format!("invalid bridge name {b:?}")))
        }
        Some(b) => b.clone(),
        None => format!("br-{}", &id[..12.min(id.len())]),
    };
    Ok(UserNetwork {
        name: req.name.clone(),
        created,
        subnet,
        gateway,
        ip_range,
        ipam_config: shown,
        internal: req.internal,
        attachable: req.attachable,
        labels: req.labels.clone().unwrap_or_default(),
        options,
        bridge,
        masquerade,
        enable_ipv6: req.enable_ipv6,
        ipv6,
        id,
    })
}

/// `docker network inspect` of a user network (`containers` from its endpoints).
pub fn to_json(n: &UserNetwork, containers: Value) -> Value {
    // IPv4's entry first, as libnetwork lists them.
    let mut config = vec![json!(n.ipam_config)];
    config.extend(n.ipv6.as_ref().map(|c| json!(c.ipam_config)));
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": n.enable_ipv6,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": n.options,
        "Labels": n.labels,
    })
}

/// dockerd's list filters for a user network (`in_use`: it has endpoints).
pub fn matches(f: &Filters, n: &UserNetwork, in_use: bool) -> bool {
    let any = |k: &str, pred: &dyn Fn(&str) -> bool| f.any_or_absent(k, pred);
    any("name", &|v| n.name.contains(v))
        && any("id", &|v| n.id.starts_with(v))
        && any("driver", &|v| v == "bridge")
        && any("scope", &|v| v == "local")
        && any("type", &|v| v == "custom")
        && any("dangling", &|v| matches!(v, "true" | "1") != in_use)
        && f.get("label").iter().all(|l| label_matches(&n.labels, l))
}

/// `key` or `key=value`.
pub fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

/// `network prune` filters: `label`, `label!`, `until` (created before).
pub fn prune_matches(
    f: &Filters,
    n: &UserNetwork,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> bool {
    f.get("label").iter().all(|l| label_matches(&n.labels, l))
        && !f.get("label!").iter().any(|l| label_matches(&n.labels, l))
        && until.is_none_or(|u| {
            chrono::DateTime::parse_from_rfc3339(&n.created)
                .map(|c| c < u)
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> CreateRequest {
        serde_json::from_value(v).unwrap()
    }

    fn mk(v: Value, taken: &[Subnet]) -> Result<UserNetwork, NetworkError> {
        create(
            &req(v),
            "ab".repeat(32),
            "2026-01-01T00:00:00Z".into(),
            taken,
            &["fd00:db8::/64".parse().unwrap()],
            &[],
        )
    }

    #[test]
    fn auto_pool_and_shape() {
        let n = mk(
            json!({"Name": "n1", "Labels": {"a": "b"}}),
            &["172.17.0.0/16".parse().unwrap()],
        )
        .unwrap();
        assert_eq!(n.subnet.to_string(), "172.18.0.0/16");
        assert_eq!(n.bridge, "br-abababababab");
        let v = to_json(&n, json!({}));
        assert_eq!(
            v["IPAM"]["Config"],
            json!([{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}])
        );
        assert_eq!(v["Labels"], json!({"a": "b"}));
        assert_eq!(v["Options"], json!({}));
    }

    #[test]
    fn explicit_config_shown_as_given() {
        let n = mk(
            json!({"Name": "n2", "Internal": true,
                   "IPAM": {"Config": [{"Subnet": "10.10.0.0/24", "Gateway": "10.10.0.254", "IPRange": "10.10.0.128/25"}]},
                   "Options": {"com.docker.network.bridge.name": "mybr"}}),
            &[],
        )
        .unwrap();
        assert_eq!(n.gateway, Ipv4Addr::new(10, 10, 0, 254));
        assert_eq!(n.bridge, "mybr");
        assert!(n.internal);
        let v = to_json(&n, json!({}));
        assert_eq!(
            v["IPAM"]["Config"],
            json!([{"Subnet": "10.10.0.0/24", "IPRange": "10.10.0.128/25", "Gateway": "10.10.0.254"}])
        );
    }

    #[test]
    fn errors_as_dockerd_words_them() {
        let taken = ["10.10.0.0/24".parse().unwrap()];
        let e = mk(
            json!({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.10.0.0/16"}]}}),
            &taken,
        )
        .unwrap_err();
        assert!(
            matches!(e, NetworkError::Forbidden(ref m) if m == "Pool overlaps with other one on this address space")
        );
        let e = mk(
            json!({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.10.0.0/33"}]}}),
            &[],
        )
        .unwrap_err();
        assert!(
            matches!(e, NetworkError::InvalidParameter(ref m) if m.contains("invalid CIDR address"))
        );
        let e = mk(
            json!({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.20.0.0/24", "Gateway": "10.30.0.1"}]}}),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("out of range"));
        assert!(mk(json!({"Name": "x", "Driver": "overlay"}), &[]).is_err());
        // --ipv6 without an IPv6 subnet: dockerd has no default IPv6 pools.
        let e = mk(json!({"Name": "x", "EnableIPv6": true}), &[]).unwrap_err();
        assert!(
            matches!(e, NetworkError::NotFound(ref m) if m.contains("non-overlapping IPv6 address pool"))
        );
        let v6 = |c: Value| {
            mk(
                json!({"Name": "x", "EnableIPv6": true, "IPAM": {"Config": c}}),
                &[],
            )
        };
        let e = v6(json!([{"Subnet": "fd00:db8::/80"}])).unwrap_err();
        assert!(
            matches!(e, NetworkError::Forbidden(ref m) if m == "Pool overlaps with other one on this address space")
        );
        let e = v6(json!([{"Subnet": "fd00::zz/64"}])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid subnet fd00::zz/64 : invalid CIDR address: fd00::zz/64"
        );
        let e = v6(json!([{"Subnet": "fd00:e3::/64", "Gateway": "fd00:e4::1"}])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to allocate gateway (fd00:e4::1): Requested address is out of range"
        );
        let e = v6(json!([{"Subnet": "fd00:e3::/64"}, {"Subnet": "fd00:e5::/64"}])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bridge driver doesn't support multiple subnets"
        );
        assert!(mk(
            json!({"Name": "x", "Options": {"com.docker.network.driver.mtu": "9000"}}),
            &[]
        )
        .is_err());
        assert!(mk(json!({"Name": ""}), &[]).is_err());
    }

    #[test]
    fn ipv6_networks_as_dockerd_shows_them() {
        // IPv6 alone: dockerd still picks an IPv4 pool, listed first with its gateway.
        let n = mk(
            json!({"Name": "v6", "EnableIPv6": true, "IPAM": {"Config": [{"Subnet": "fd00:dc::/64"}]}}),
            &["172.17.0.0/16".parse().unwrap()],
        )
        .unwrap();
        let c = n.v6().unwrap();
        assert_eq!(c.gateway.to_string(), "fd00:dc::1");
        let v = to_json(&n, json!({}));
        assert_eq!(v["EnableIPv6"], true);
        assert_eq!(
            v["IPAM"]["Config"],
            json!([{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}, {"Subnet": "fd00:dc::/64"}])
        );
        // Dual stack, the IPv6 config first in the request: shown IPv4 first, as given.
        let n = mk(
            json!({"Name": "d", "EnableIPv6": true, "IPAM": {"Config": [
                {"Subnet": "fd00:dd::/64", "Gateway": "fd00:dd::fe", "IPRange": "fd00:dd::100/120"},
                {"Subnet": "10.50.0.0/24"}]}}),
            &[],
        )
        .unwrap();
        assert_eq!(n.gateway, Ipv4Addr::new(10, 50, 0, 1));
        let c = n.v6().unwrap();
        assert_eq!(c.gateway.to_string(), "fd00:dd::fe");
        assert_eq!(c.ip_range.unwrap().to_string(), "fd00:dd::100/120");
        assert_eq!(
            to_json(&n, json!({}))["IPAM"]["Config"],
            json!([{"Subnet": "10.50.0.0/24"},
                   {"Subnet": "fd00:dd::/64", "Gateway": "fd00:dd::fe", "IPRange": "fd00:dd::100/120"}])
        );
        // An IPv6 subnet without --ipv6 is kept and shown, but hands out nothing.
        let n = mk(
            json!({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd00:de::/64"}]}}),
            &[],
        )
        .unwrap();
        assert!(n.v6().is_none());
        let v = to_json(&n, json!({}));
        assert_eq!(v["EnableIPv6"], false);
        assert_eq!(v["IPAM"]["Config"][1], json!({"Subnet": "fd00:de::/64"}));
        // A record written before IPv6 existed reads back without it.
        let mut old = serde_json::to_value(&n).unwrap();
        let o = old.as_object_mut().unwrap();
        o.remove("enable_ipv6");
        o.remove("ipv6");
        let back: UserNetwork = serde_json::from_value(old).unwrap();
        assert!(back.ipv6.is_none() && !back.enable_ipv6);
    }

    #[test]
    fn nulls_read_as_go_zero_values() {
        // docker-py's IPAMPool and networks.create leave what was not given as null.
        let n = mk(
            json!({"Name": "py", "Driver": null, "Internal": null, "EnableIPv6": true,
                   "IPAM": {"Driver": "default", "Config": [
                       {"Subnet": "fd00:c1::/64", "IPRange": null, "Gateway": "fd00:c1::1",
                        "AuxiliaryAddresses": null}]}}),
            &[],
        )
        .unwrap();
        assert_eq!(n.v6().unwrap().gateway.to_string(), "fd00:c1::1");
        assert!(!n.internal);
    }

    #[test]
    fn filters() {
        let n = mk(json!({"Name": "web-net", "Labels": {"env": "ci"}}), &[]).unwrap();
        let f = |s: &str| Filters::from_json(s).unwrap();
        assert!(matches(&f(r#"{"name":["web"]}"#), &n, false));
        assert!(matches(&f(r#"{"type":["custom"]}"#), &n, false));
        assert!(!matches(&f(r#"{"type":["builtin"]}"#), &n, false));
        assert!(matches(&f(r#"{"label":["env=ci"]}"#), &n, false));
        assert!(!matches(&f(r#"{"label":["env=prod"]}"#), &n, false));
        assert!(matches(&f(r#"{"dangling":["true"]}"#), &n, false));
        assert!(!matches(&f(r#"{"dangling":["true"]}"#), &n, true));
        assert!(prune_matches(&f(r#"{"label!":["keep"]}"#), &n, None));
        assert!(!prune_matches(&f(r#"{"label!":["env"]}"#), &n, None));
    }
}
