//! Docker's network model: dockerd's pre-defined networks (`host`, `none`, and `bridge`
//! when the daemon has its default bridge), their IDs, JSON shape and filters. Pure; the
//! HTTP handlers (`server/networks.rs`) and the container manager use it.
//!
//! - [`ipam`]: subnets, the default bridge's pool choice, address allocation (pure);
//! - [`ports`]: published-port requests and dockerd's shapes for them (pure);
//! - [`user`]: user-defined networks: create checks, JSON shape, filters (pure);
//! - [`bridge`]: the bridge driver (default and user networks), the container manager's
//!   network provider;
//! - [`endpoint6`]: an endpoint's IPv6 address on `--ipv6` networks and its fields (pure);
//! - [`dns`]: the embedded DNS server of user networks;
//! - [`ops`]: the host networking calls behind a trait (real and recording fake);
//! - [`proxy`]: the userland proxy behind published ports;
//! - [`dnat`]: the kernel DNAT rules for published ports on the host's addresses (pure);
//! - [`windows`]: Windows containers' network modes, ports as HNS policies, inspect (pure);
//! - [`hns`]: the HNS driver for Windows containers (`nat`), and the per-platform provider.

pub mod bridge;
pub mod dnat;
pub mod dns;
pub mod endpoint6;
pub mod hns;
pub mod ipam;
pub mod ops;
pub mod ports;
pub mod proxy;
pub mod user;
pub mod windows;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spec::filters::Filters;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Internal(String),
}

impl crate::error_kind::Kinded for NetworkError {
    fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind;
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::InvalidParameter(_) => ErrorKind::InvalidParameter,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// A built-in network: name and driver.
pub const BUILTIN: [(&str, &str); 2] = [("host", "host"), ("none", "null")];

/// The default bridge network, pre-defined when the daemon has a bridge.
pub const BRIDGE: (&str, &str) = ("bridge", "bridge");

/// The pre-defined networks of a daemon with (or without) its default bridge.
pub fn predefined(with_bridge: bool) -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    if with_bridge {
        v.push(BRIDGE);
    }
    v.extend(BUILTIN);
    v
}

/// The default bridge's `Options` and `IPAM.Config` as dockerd shows them.
/// `gateway`: only when configured (`--bip`); dockerd lists the chosen subnet alone.
pub fn bridge_json(
    bridge_name: &str,
    subnet: &ipam::Subnet,
    gateway: Option<std::net::Ipv4Addr>,
    containers: Option<Value>,
) -> Value {
    let mut v = network_json("bridge", "bridge", containers);
    v["IPAM"]["Config"] = match gateway {
        Some(g) => json!([{"Subnet": subnet.to_string(), "Gateway": g.to_string()}]),
        None => json!([{"Subnet": subnet.to_string()}]),
    };
    v["Options"] = json!({
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
        "com.docker.network.bridge.name": bridge_name,
        "com.docker.network.driver.mtu": "1500",
    });
    v
}

/// A stable ID per daemon-independent name (dockerd's are random per host).
pub fn network_id(name: &str) -> String {
    hex::encode(Sha256::digest(format!("dockbridge network {name}")))
}

pub fn network_json(name: &str, driver: &str, containers: Option<Value>) -> Value {
    let mut v = json!({
        "Name": name,
        "Id": network_id(name),
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": {},
        "Options": {},
        "Labels": {},
    });
    if let Some(c) = containers {
        v["Containers"] = c;
    }
    v
}

/// Which built-in networks pass `f` (dockerd's network filters).
pub fn select(f: &Filters) -> Result<Vec<(&'static str, &'static str)>, NetworkError> {
    select_in(f, &BUILTIN)
}

/// Which of `nets` (pre-defined networks) pass `f`.
pub fn select_in(
    f: &Filters,
    nets: &[(&'static str, &'static str)],
) -> Result<Vec<(&'static str, &'static str)>, NetworkError> {
    f.validate(&["dangling", "driver", "id", "label", "name", "scope", "type"])
        .map_err(|e| NetworkError::InvalidParameter(e.0))?;
    let any = |k: &str, pred: &dyn Fn(&str) -> bool| f.any_or_absent(k, pred);
    for v in f.get("dangling") {
        if !matches!(v.as_str(), "true" | "false" | "1" | "0") {
            return Err(NetworkError::InvalidParameter(format!(
                "invalid filter 'dangling={v}'"
            )));
        }
    }
    for v in f.get("type") {
        if v != "builtin" && v != "custom" {
            return Err(NetworkError::InvalidParameter(format!(
                "invalid filter: 'type'='{v}'"
            )));
        }
    }
    Ok(nets
        .iter()
        .copied()
        .filter(|(name, driver)| {
            let id = network_id(name);
            any("name", &|v| name.contains(v))
                && any("id", &|v| id.starts_with(v))
                && any("driver", &|v| v == *driver)
                && any("scope", &|v| v == "local")
                && any("type", &|v| v == "builtin")
                // Built-in networks have no labels.
                && !f.contains("label")
                // dockerd never counts its pre-defined networks as dangling, and lists them
                // all for dangling=false, used or not.
                && any("dangling", &|v| matches!(v, "false" | "0"))
        })
        .collect())
}

pub fn find(key: &str) -> Result<(&'static str, &'static str), NetworkError> {
    find_in(key, &BUILTIN)
}

/// `key` (name, ID or unique ID prefix) among `nets`.
pub fn find_in(
    key: &str,
    nets: &[(&'static str, &'static str)],
) -> Result<(&'static str, &'static str), NetworkError> {
    nets.iter()
        .copied()
        .find(|(n, _)| *n == key || network_id(n) == key)
        .or_else(|| {
            let hits: Vec<_> = nets
                .iter()
                .copied()
                .filter(|(n, _)| !key.is_empty() && network_id(n).starts_with(key))
                .collect();
            (hits.len() == 1).then(|| hits[0])
        })
        .ok_or_else(|| NetworkError::NotFound(format!("network {key} not found")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(raw: &str) -> Filters {
        Filters::from_json(raw).unwrap()
    }

    fn names(v: Vec<(&'static str, &'static str)>) -> Vec<&'static str> {
        v.into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn filters_pick_builtin_networks() {
        let pick = |raw: &str| names(select(&f(raw)).unwrap());
        assert_eq!(pick("{}"), ["host", "none"]);
        assert_eq!(pick(r#"{"driver":["null"]}"#), ["none"]);
        assert_eq!(pick(r#"{"name":["os"]}"#), ["host"]);
        let id = network_id("none");
        assert_eq!(pick(&format!(r#"{{"id":["{}"]}}"#, &id[..6])), ["none"]);
        assert!(pick(r#"{"type":["custom"]}"#).is_empty());
        assert!(pick(r#"{"label":["a"]}"#).is_empty());
        // Pre-defined networks are never dangling, and dangling=false lists them all.
        assert!(pick(r#"{"dangling":["true"]}"#).is_empty());
        assert_eq!(pick(r#"{"dangling":["false"]}"#), ["host", "none"]);
        assert!(select(&f(r#"{"bogus":["x"]}"#)).is_err());
        assert!(select(&f(r#"{"dangling":["maybe"]}"#)).is_err());
    }

    #[test]
    fn lookup_by_name_id_and_prefix() {
        assert_eq!(find("host").unwrap().1, "host");
        assert_eq!(find(&network_id("none")).unwrap().0, "none");
        assert_eq!(find(&network_id("none")[..8]).unwrap().0, "none");
        assert!(matches!(find("bridge"), Err(NetworkError::NotFound(_))));
        let with = predefined(true);
        assert_eq!(find_in("bridge", &with).unwrap(), BRIDGE);
        assert_eq!(
            names(select_in(&f(r#"{"driver":["bridge"]}"#), &with).unwrap()),
            ["bridge"]
        );
        let v = bridge_json(
            "db0",
            &"172.18.0.0/16".parse().unwrap(),
            Some([172, 18, 0, 1].into()),
            None,
        );
        assert_eq!(v["IPAM"]["Config"][0]["Gateway"], "172.18.0.1");
        let v = bridge_json("db0", &"172.18.0.0/16".parse().unwrap(), None, None);
        assert_eq!(v["IPAM"]["Config"], json!([{"Subnet": "172.18.0.0/16"}]));
        assert_eq!(v["Options"]["com.docker.network.bridge.name"], "db0");
    }
}
