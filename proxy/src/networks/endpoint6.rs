//! The IPv6 half of an endpoint on an `--ipv6` network: the address it asks for (`--ip6`),
//! the one it gets, and the fields dockerd shows for it. Pure.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use serde_json::{json, Value};
use spec::api::models::EndpointSettings;

use super::ipam;
use super::user::Ipv6Config;
use crate::containers::ContainerError;

/// `--ip6` (`EndpointsConfig.<net>.IPAMConfig.IPv6Address`): checked by translate at
/// create, but `network connect` brings it here unchecked.
pub fn requested(ep: &EndpointSettings) -> Result<Option<Ipv6Addr>, ContainerError> {
    let Some(s) = ep
        .ipam_config
        .as_ref()
        .and_then(|i| i.ipv6_address.as_deref())
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    s.parse()
        .map(Some)
        .map_err(|_| ContainerError::InvalidParameter(format!("invalid IPv6 address: {s}")))
}

/// The endpoint's IPv6 address: none on a network without IPv6, else `wanted` (libnetwork's
/// errors when it is outside the subnet or taken, the gateway included) or the next free one.
pub fn pick(
    v6: Option<&Ipv6Config>,
    taken: &BTreeSet<Ipv6Addr>,
    wanted: Option<Ipv6Addr>,
) -> Result<Option<Ipv6Addr>, ContainerError> {
    let Some(c) = v6 else {
        return match wanted {
            Some(ip) => Err(not_in_subnets(ip)),
            None => Ok(None),
        };
    };
    match wanted {
        Some(ip) if !c.subnet.contains(ip) || ip == c.subnet.network => Err(not_in_subnets(ip)),
        Some(ip) if ip == c.gateway || taken.contains(&ip) => {
            Err(ContainerError::Forbidden("Address already in use".into()))
        }
        Some(ip) => Ok(Some(ip)),
        None => ipam::allocate6(c.subnet, c.ip_range, c.gateway, taken)
            .map(Some)
            .map_err(|e| ContainerError::Internal(e.to_string())),
    }
}

fn not_in_subnets(ip: Ipv6Addr) -> ContainerError {
    ContainerError::InvalidParameter(format!(
        "Invalid address {ip}: It does not belong to any of this network's subnets"
    ))
}

/// `NetworkSettings.Networks.<net>`'s IPv6 fields (empty without an IPv6 address).
pub fn inspect_fields(
    ip6: Option<Ipv6Addr>,
    v6: Option<&Ipv6Config>,
) -> [(&'static str, Value); 3] {
    match (ip6, v6) {
        (Some(ip), Some(c)) => [
            ("GlobalIPv6Address", json!(ip.to_string())),
            ("GlobalIPv6PrefixLen", json!(c.subnet.prefix)),
            ("IPv6Gateway", json!(c.gateway.to_string())),
        ],
        _ => [
            ("GlobalIPv6Address", json!("")),
            ("GlobalIPv6PrefixLen", json!(0)),
            ("IPv6Gateway", json!("")),
        ],
    }
}

/// `IPv6Address` of an endpoint in `docker network inspect`'s `Containers`.
pub fn network_inspect_address(ip6: Option<Ipv6Addr>, v6: Option<&Ipv6Config>) -> String {
    match (ip6, v6) {
        (Some(ip), Some(c)) => format!("{ip}/{}", c.subnet.prefix),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg(subnet: &str, range: Option<&str>) -> Ipv6Config {
        let subnet: ipam::Subnet6 = subnet.parse().unwrap();
        let ip_range = range.map(|r| r.parse().unwrap());
        Ipv6Config {
            subnet,
            gateway: ipam::default_gateway6(subnet, ip_range),
            ip_range,
            ipam_config: BTreeMap::new(),
        }
    }

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_as_libnetwork_hands_them_out() {
        let c = cfg("fd00:db8::/64", None);
        let mut taken = BTreeSet::new();
        let a = pick(Some(&c), &taken, None).unwrap().unwrap();
        assert_eq!(a, ip("fd00:db8::2"));
        taken.insert(a);
        assert_eq!(
            pick(Some(&c), &taken, None).unwrap(),
            Some(ip("fd00:db8::3"))
        );
        // --ip6: as asked; never twice, never the gateway, never outside the subnet.
        assert_eq!(
            pick(Some(&c), &taken, Some(ip("fd00:db8::99"))).unwrap(),
            Some(ip("fd00:db8::99"))
        );
        for used in ["fd00:db8::2", "fd00:db8::1"] {
            let e = pick(Some(&c), &taken, Some(ip(used))).unwrap_err();
            assert!(matches!(e, ContainerError::Forbidden(ref m) if m == "Address already in use"));
        }
        let e = pick(Some(&c), &taken, Some(ip("fd00:ffff::5"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid address fd00:ffff::5: It does not belong to any of this network's subnets"
        );
        // No IPv6 on the network: no address, and --ip6 cannot be had.
        assert_eq!(pick(None, &taken, None).unwrap(), None);
        assert!(pick(None, &taken, Some(ip("fd00:db8::5"))).is_err());
        // A range: its first address is the gateway, containers get the next ones.
        let r = cfg("fd00:dbc::/64", Some("fd00:dbc::100/120"));
        assert_eq!(
            pick(Some(&r), &BTreeSet::new(), None).unwrap(),
            Some(ip("fd00:dbc::101"))
        );
    }

    #[test]
    fn requested_addresses_are_checked() {
        let ep = |ip: &str| -> EndpointSettings {
            serde_json::from_value(json!({"IPAMConfig": {"IPv6Address": ip}})).unwrap()
        };
        assert_eq!(requested(&ep("fd00::5")).unwrap(), Some(ip("fd00::5")));
        assert_eq!(requested(&ep("")).unwrap(), None);
        assert_eq!(requested(&EndpointSettings::default()).unwrap(), None);
        assert_eq!(
            requested(&ep("zz")).unwrap_err().to_string(),
            "invalid IPv6 address: zz"
        );
    }

    #[test]
    fn fields_as_dockerd_shows_them() {
        let c = cfg("fd00:db8::/64", None);
        let f = inspect_fields(Some(ip("fd00:db8::2")), Some(&c));
        assert_eq!(f[0].1, json!("fd00:db8::2"));
        assert_eq!(f[1].1, json!(64));
        assert_eq!(f[2].1, json!("fd00:db8::1"));
        assert_eq!(inspect_fields(None, Some(&c))[1].1, json!(0));
        assert_eq!(
            network_inspect_address(Some(ip("fd00:db8::99")), Some(&c)),
            "fd00:db8::99/64"
        );
        assert_eq!(network_inspect_address(None, None), "");
    }
}
