//! User-defined bridge networks: the create request checked and turned into a network
//! record, the record's JSON (dockerd's `docker network inspect` shape) and the list
//! filters. Pure: the caller gives the networks and host routes that exist.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spec::filters::Filters;

use super::ipam::{self, Subnet};
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
}

/// `POST /networks/create`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub ingress: bool,
    #[serde(default, rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(default, rename = "IPAM")]
    pub ipam: Option<Ipam>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub config_only: bool,
    #[serde(default)]
    pub scope: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub config: Option<Vec<IpamConfig>>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    #[serde(default)]
    pub subnet: String,
    #[serde(default, rename = "IPRange")]
    pub ip_range: String,
    #[serde(default)]
    pub gateway: String,
    #[serde(default)]
    pub auxiliary_addresses: Option<BTreeMap<String, String>>,
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

/// Checks a create request against what exists (`taken`: the subnets of every network,
/// the default bridge's included; `routed`: the host's routes) and builds the record.
pub fn create(
    req: &CreateRequest,
    id: String,
    created: String,
    taken: &[Subnet],
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
    if req.enable_ipv6 {
        return Err(unsupported("IPv6 on networks (--ipv6)"));
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
    if configs.len() > 1 {
        return Err(unsupported("more than one IPAM config (several subnets)"));
    }
    let mut shown = BTreeMap::new();
    let (subnet, gateway, ip_range) = match configs.first().filter(|c| !c.subnet.is_empty()) {
        Some(c) => {
            if c.auxiliary_addresses
                .as_ref()
                .is_some_and(|a| !a.is_empty())
            {
                return Err(unsupported("auxiliary addresses (--aux-address)"));
            }
            let subnet: Subnet = c.subnet.parse().map_err(|_| {
                invalid(format!(
                    "Invalid subnet {} : invalid CIDR address: {}",
                    c.subnet, c.subnet
                ))
            })?;
            if c.subnet.contains(':') || subnet.prefix > 30 {
                return Err(invalid(format!(
                    "Invalid subnet {}: no room for containers",
                    c.subnet
                )));
            }
            if taken.iter().any(|t| t.overlaps(&subnet)) {
                return Err(NetworkError::Forbidden(
                    "Pool overlaps with other one on this address space".into(),
                ));
            }
            shown.insert("Subnet".to_string(), c.subnet.clone());
            let gateway = if c.gateway.is_empty() {
                subnet.first_host()
            } else {
                let g: Ipv4Addr = c
                    .gateway
                    .parse()
                    .map_err(|_| invalid(format!("invalid gateway address {:?}", c.gateway)))?;
                if !subnet.contains(g) || g == subnet.network || g == subnet.broadcast() {
                    return Err(invalid(format!(
                        "failed to allocate gateway ({g}): Requested address is out of range"
                    )));
                }
                shown.insert("Gateway".to_string(), c.gateway.clone());
                g
            };
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
            (subnet, gateway, ip_range)
        }
        None => {
            if configs
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
        id,
    })
}

/// `docker network inspect` of a user network (`containers` from its endpoints).
pub fn to_json(n: &UserNetwork, containers: Value) -> Value {
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [n.ipam_config]},
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
        assert!(mk(json!({"Name": "x", "EnableIPv6": true}), &[]).is_err());
        assert!(mk(
            json!({"Name": "x", "Options": {"com.docker.network.driver.mtu": "9000"}}),
            &[]
        )
        .is_err());
        assert!(mk(json!({"Name": ""}), &[]).is_err());
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
