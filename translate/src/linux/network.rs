//! Network modes and the `/etc/hosts` and `/etc/resolv.conf` contents the proxy writes.
//!
//! `none` and `host` behave exactly as in Docker. The default/bridge mode is the daemon's
//! business (dockbridge's network provider): with a bridge, the container gets an address
//! on it ([`etc_hosts`] maps the hostname to that address); a daemon started with
//! `--bridge none` gives it its own namespace with loopback only and warns
//! ([`BRIDGE_WARNING`]).

use std::net::IpAddr;

use spec::api::models::{ContainerCreateBody, HostConfig};

use super::{invalid, nonempty, nonempty_vec, unsupported};
use crate::Error;

/// The warning `POST /containers/create` returns for the default/bridge mode on a daemon
/// without a bridge (`--bridge none`).
pub const BRIDGE_WARNING: &str = "dockbridge runs without a bridge (--bridge none): the container gets its own network namespace with loopback only (no external connectivity, no published ports)";

/// The network modes dockbridge implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// `""`, `default` or `bridge`: a private network namespace with loopback only.
    Bridge,
    /// `none`: a private network namespace with loopback only, exactly as Docker.
    None,
    /// `host`: the host's network namespace.
    Host,
    /// A user-defined network (by name or ID; the daemon's network provider checks that
    /// it exists): an address on it, and the embedded DNS server at 127.0.0.11.
    User,
    /// `container:NAME`: the network namespace of another, running container (its path
    /// and `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` come from the daemon).
    Container,
}

impl NetworkMode {
    /// Parses `HostConfig.NetworkMode`.
    pub fn parse(mode: &str) -> Result<Self, Error> {
        match mode {
            "" | "default" | "bridge" => Ok(Self::Bridge),
            "none" => Ok(Self::None),
            "host" => Ok(Self::Host),
            "container" => Err(invalid(
                "invalid network mode: invalid container format container:<name|id>",
            )),
            m if m.starts_with("container:") => {
                if m.len() == "container:".len() {
                    return Err(invalid(
                        "invalid network mode: invalid container format container:<name|id>",
                    ));
                }
                Ok(Self::Container)
            }
            _ => Ok(Self::User),
        }
    }

    pub fn of(hc: &HostConfig) -> Result<Self, Error> {
        Self::parse(hc.network_mode.as_deref().unwrap_or(""))
    }

    /// The container gets a network namespace of its own.
    pub fn is_private(self) -> bool {
        self != Self::Host
    }

    fn accepts_endpoint(self, name: &str, mode: &str) -> bool {
        name == mode
            || match self {
                Self::Bridge => matches!(name, "" | "default" | "bridge"),
                Self::None => name == "none",
                Self::Host => name == "host",
                Self::User | Self::Container => false,
            }
    }
}

const MAC_CONFLICT: &str = "conflicting options: mac-address and the network mode";

/// An Ethernet address as `ip link` takes it: six colon-separated hex octets.
fn is_mac48(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `--mac-address` on any endpoint (the server folds a legacy `Config.MacAddress` into the
/// first network's endpoint, as dockerd 25+ does).
fn wants_mac(create: &ContainerCreateBody) -> bool {
    create
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .is_some_and(|eps| eps.values().any(|e| nonempty(&e.mac_address).is_some()))
}

/// dockerd's refusals for `container:NAME` (moby's `validateNetContainerMode`, in its
/// order): what the joined namespace already decides cannot be asked for again.
fn container_mode_conflicts(create: &ContainerCreateBody, hc: &HostConfig) -> Result<(), Error> {
    let mac = wants_mac(create);
    let conflict = if nonempty(&create.hostname).is_some() {
        "conflicting options: hostname and the network mode"
    } else if nonempty_vec(&hc.links).is_some() {
        "conflicting options: container type network can't be used with links. This would result in undefined behavior"
    } else if nonempty_vec(&hc.dns).is_some() {
        "conflicting options: dns and the network mode"
    } else if nonempty_vec(&hc.extra_hosts).is_some() {
        "conflicting options: custom host-to-IP mapping and the network mode"
    } else if mac {
        MAC_CONFLICT
    } else if hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty())
        || hc.publish_all_ports == Some(true)
    {
        "conflicting options: port publishing and the container type network mode"
    } else if create.exposed_ports.as_ref().is_some_and(|p| !p.is_empty()) {
        "conflicting options: port exposing and the container type network mode"
    } else {
        return Ok(());
    };
    Err(invalid(conflict))
}

/// Create-time checks of the network fields; returns the mode and pushes warnings.
pub(super) fn validate(
    create: &ContainerCreateBody,
    hc: &HostConfig,
    warnings: &mut Vec<String>,
) -> Result<NetworkMode, Error> {
    let mode_str = hc.network_mode.as_deref().unwrap_or("");
    let mode = NetworkMode::parse(mode_str)?;
    if mode == NetworkMode::Container {
        container_mode_conflicts(create, hc)?;
    }
    if mode == NetworkMode::Host && wants_mac(create) {
        return Err(invalid(MAC_CONFLICT));
    }
    if mode == NetworkMode::Host && nonempty_vec(&hc.links).is_some() {
        return Err(invalid(
            "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
        ));
    }
    if let Some(links) = nonempty_vec(&hc.links) {
        match mode {
            // Legacy links live on the default bridge (the daemon checks it has one).
            NetworkMode::Bridge => {
                for l in links {
                    super::links::parse_link(l)?;
                }
            }
            NetworkMode::User => {
                return Err(unsupported(
                    "--link on a user-defined network (containers there find each other by name and --network-alias)",
                ))
            }
            NetworkMode::None | NetworkMode::Host | NetworkMode::Container => {
                return Err(unsupported("--link without the default bridge"))
            }
        }
    }
    let published = hc
        .port_bindings
        .iter()
        .flatten()
        .any(|(_, b)| b.as_ref().is_some_and(|b| !b.is_empty()));
    if published || hc.publish_all_ports == Some(true) {
        match mode {
            NetworkMode::Host => warnings
                .push("Published ports are discarded when using host network mode".into()),
            // Refused above with dockerd's message.
            NetworkMode::Container => {}
            // Published on the bridge by the daemon's network provider, which checks the
            // bindings (and refuses them on a daemon without a bridge).
            NetworkMode::Bridge | NetworkMode::User => {}
            NetworkMode::None if published => {
                return Err(unsupported(
                    "-p/--publish with --network none (the container has no interface to publish from)",
                ))
            }
            NetworkMode::None => {
                return Err(unsupported(
                    "-P/--publish-all with --network none (the container has no interface to publish from)",
                ))
            }
        }
    }
    for h in hc.extra_hosts.iter().flatten() {
        // `host-gateway` is resolved by the daemon (its default bridge's gateway) before
        // `etc_hosts` sees it.
        if h.split_once(':')
            .is_some_and(|(n, ip)| !n.is_empty() && ip == HOST_GATEWAY)
        {
            continue;
        }
        parse_extra_host(h)?;
    }
    for d in hc.dns.iter().flatten() {
        if d.parse::<IpAddr>().is_err() {
            return Err(invalid(format!("{d} is not an ip address")));
        }
    }

    let endpoints = create
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref());
    for (name, ep) in endpoints.into_iter().flatten() {
        // Further endpoints (several `--network`s, API 1.44) are user networks joined
        // beside the first, or the default bridge (`network connect bridge`); the other
        // built-in ones cannot be.
        let further = !mode.accepts_endpoint(name, mode_str);
        if further && mode == NetworkMode::Container {
            return Err(invalid(
                "container sharing network namespace with another container or host cannot be connected to any other network",
            ));
        }
        if further
            && (matches!(mode, NetworkMode::None | NetworkMode::Host)
                || matches!(name.as_str(), "" | "default" | "host" | "none"))
        {
            return Err(unsupported(format!(
                "--network {name} (connecting to more than one network)"
            )));
        }
        let mode = if further { NetworkMode::User } else { mode };
        let ipam = ep.ipam_config.as_ref();
        let v4 = ipam.and_then(|i| nonempty(&i.ipv4_address));
        let v6 = ipam.and_then(|i| nonempty(&i.ipv6_address));
        if (v4.is_some() || v6.is_some()) && mode != NetworkMode::User {
            return Err(invalid(
                "user specified IP address is supported on user defined networks only",
            ));
        }
        // Whether they are in the network's subnets is the daemon's check.
        if let Some(ip) = v4 {
            ip.parse::<std::net::Ipv4Addr>()
                .map_err(|_| invalid(format!("invalid IPv4 address: {ip}")))?;
        }
        if let Some(ip) = v6 {
            ip.parse::<std::net::Ipv6Addr>()
                .map_err(|_| invalid(format!("invalid IPv6 address: {ip}")))?;
        }
        if ipam.is_some_and(|i| nonempty_vec(&i.link_local_ips).is_some()) {
            return Err(unsupported("--link-local-ip"));
        }
        if nonempty_vec(&ep.links).is_some() {
            return Err(unsupported("--link"));
        }
        if nonempty_vec(&ep.aliases).is_some() && mode != NetworkMode::User {
            // dockerd: aliases only mean something on user-defined networks.
            return Err(invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
        if let Some(mac) = nonempty(&ep.mac_address) {
            if !is_mac48(mac) {
                return Err(invalid(format!("invalid MAC address: {mac}")));
            }
        }
        if ep.driver_opts.as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(unsupported("--network …,driver-opt="));
        }
        if ep.gw_priority.unwrap_or(0) != 0 {
            return Err(unsupported("--network …,gw-priority="));
        }
    }
    Ok(mode)
}

/// The special `--add-host` address: the daemon's host gateway (dockerd: the default
/// bridge's address).
pub const HOST_GATEWAY: &str = "host-gateway";

/// `--add-host name:ip` (split at the first `:`, so IPv6 addresses work).
fn parse_extra_host(h: &str) -> Result<(&str, IpAddr), Error> {
    let (name, ip) = h
        .split_once(':')
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| invalid(format!("bad format for add-host: {h:?}")))?;
    if ip == HOST_GATEWAY {
        return Err(unsupported(format!(
            "--add-host {name}:host-gateway on a daemon without a default bridge (--bridge none)"
        )));
    }
    let ip: IpAddr = ip
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| invalid(format!("invalid IP address in add-host: {ip:?}")))?;
    Ok((name, ip))
}

/// The container's `/etc/hosts`.
///
/// `host-gateway` entries must have been resolved by the caller ([`resolve_host_gateway`]).
/// For private namespaces: Docker's default entries (localhost and the IPv6 names), the
/// `--add-host` entries, and for the bridge mode the container's hostname on its bridge
/// address (`address`), or on 127.0.0.1 when the daemon has no bridge and loopback is the
/// only address the container has. `none` gets no hostname entry, as in Docker. For
/// `host`, the host's own file (`host_etc_hosts`) plus the `--add-host` entries.
pub fn etc_hosts(
    hostname: &str,
    extra_hosts: &[String],
    network_mode: &str,
    host_etc_hosts: Option<&str>,
    address: Option<IpAddr>,
) -> Result<String, Error> {
    let addresses: Vec<IpAddr> = address.into_iter().collect();
    etc_hosts_with(
        hostname,
        extra_hosts,
        network_mode,
        host_etc_hosts,
        &addresses,
    )
}

/// [`etc_hosts`] with every address of the container (IPv4, then IPv6 on an `--ipv6`
/// network): dockerd writes one hostname line per address.
pub fn etc_hosts_with(
    hostname: &str,
    extra_hosts: &[String],
    network_mode: &str,
    host_etc_hosts: Option<&str>,
    addresses: &[IpAddr],
) -> Result<String, Error> {
    let mode = NetworkMode::parse(network_mode)?;
    let mut out = String::new();
    if mode == NetworkMode::Host {
        if let Some(h) = host_etc_hosts {
            out.push_str(h);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
        }
    } else {
        out.push_str(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
    }
    for h in extra_hosts {
        let (name, ip) = parse_extra_host(h)?;
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    if matches!(mode, NetworkMode::Bridge | NetworkMode::User) && !hostname.is_empty() {
        if addresses.is_empty() {
            out.push_str(&format!("127.0.0.1\t{hostname}\n"));
        }
        for ip in addresses {
            out.push_str(&format!("{ip}\t{hostname}\n"));
        }
    }
    Ok(out)
}

/// `--add-host` entries with `host-gateway` replaced by `gateway`.
pub fn resolve_host_gateway(extra_hosts: &[String], gateway: IpAddr) -> Vec<String> {
    extra_hosts
        .iter()
        .map(|h| match h.split_once(':') {
            Some((name, ip)) if ip == HOST_GATEWAY => format!("{name}:{gateway}"),
            _ => h.clone(),
        })
        .collect()
}

/// The container's `/etc/resolv.conf`, built from the host's as dockerd builds it for a
/// network without an internal resolver: `--dns`, `--dns-search` and `--dns-option` replace
/// the host's nameservers, search domains and options; for private namespaces, loopback
/// nameservers (unreachable from the container) are dropped and Google's public servers
/// used if none remain. `host` keeps the host's nameservers.
pub fn resolv_conf(
    host_resolv: &str,
    dns: &[String],
    dns_search: &[String],
    dns_options: &[String],
    network_mode: &str,
) -> Result<String, Error> {
    let mode = NetworkMode::parse(network_mode)?;
    let mut nameservers: Vec<IpAddr> = Vec::new();
    let mut search: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    for line in host_resolv.lines() {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => {}
            ["nameserver", ns, ..] => {
                // Unparsable nameservers are dropped, as dockerd does.
                if let Ok(ip) = ns.parse() {
                    nameservers.push(ip);
                }
            }
            ["search" | "domain", rest @ ..] if !rest.is_empty() => {
                search = rest.iter().map(|s| s.to_string()).collect();
            }
            ["options", rest @ ..] => options.extend(rest.iter().map(|s| s.to_string())),
            ["nameserver" | "search" | "domain"] => {}
            _ => other.push(line.to_string()),
        }
    }
    let mut overrides: Vec<&str> = Vec::new();
    if mode == NetworkMode::User {
        // As dockerd: the embedded DNS server answers the network's names and forwards the
        // rest to the host's (or the `--dns`) servers; the container sees only 127.0.0.11.
        if !dns.is_empty() {
            overrides.push("nameservers");
        }
        nameservers = vec![[127, 0, 0, 11].into()];
        options.retain(|o| !o.starts_with("ndots:"));
        options.push("ndots:0".into());
    } else if !dns.is_empty() {
        nameservers = dns
            .iter()
            .map(|d| {
                d.parse::<IpAddr>()
                    .map_err(|_| invalid(format!("{d} is not an ip address")))
            })
            .collect::<Result<_, _>>()?;
        overrides.push("nameservers");
    } else if mode.is_private() {
        nameservers.retain(|ip| !ip.is_loopback() && ip.is_ipv4());
        if nameservers.is_empty() {
            nameservers = vec![[8, 8, 8, 8].into(), [8, 8, 4, 4].into()];
        }
    }
    if !dns_search.is_empty() {
        search = dns_search.iter().filter(|s| *s != ".").cloned().collect();
        overrides.push("search");
    }
    if !dns_options.is_empty() {
        options = dns_options.to_vec();
        overrides.push("options");
    }

    let mut out = String::from("# Generated by dockbridge.\n\n");
    for ns in &nameservers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    for o in &other {
        out.push_str(o);
        out.push('\n');
    }
    out.push_str(&format!("\n# Overrides: [{}]\n", overrides.join(" ")));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn modes() {
        assert_eq!(NetworkMode::parse("default").unwrap(), NetworkMode::Bridge);
        assert_eq!(NetworkMode::parse("none").unwrap(), NetworkMode::None);
        assert_eq!(NetworkMode::parse("mynet").unwrap(), NetworkMode::User);
        assert_eq!(
            NetworkMode::parse("container:abc").unwrap(),
            NetworkMode::Container
        );
        assert!(NetworkMode::Container.is_private());
        assert!(matches!(
            NetworkMode::parse("container:").unwrap_err(),
            Error::InvalidParameter(_)
        ));
    }

    #[test]
    fn container_mode_refusals_in_dockerd_order() {
        let body =
            |v: serde_json::Value| -> ContainerCreateBody { serde_json::from_value(v).unwrap() };
        let check = |b: &ContainerCreateBody| {
            let hc = b.host_config.clone().unwrap_or_default();
            validate(b, &hc, &mut Vec::new()).map_err(|e| e.to_string())
        };
        let mode = serde_json::json!({"NetworkMode": "container:web"});
        assert_eq!(
            check(&body(serde_json::json!({"HostConfig": mode}))),
            Ok(NetworkMode::Container)
        );
        // Hostname is checked before DNS, DNS before ports.
        let e = check(&body(serde_json::json!({
            "Hostname": "x", "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"NetworkMode": "container:web", "Dns": ["1.1.1.1"]}
        })))
        .unwrap_err();
        assert!(e.contains("hostname and the network mode"), "{e}");
        let e = check(&body(serde_json::json!({
            "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"NetworkMode": "container:web", "PublishAllPorts": true}
        })))
        .unwrap_err();
        assert!(e.contains("port publishing and the container type"), "{e}");
        let e = check(&body(serde_json::json!({
            "HostConfig": mode,
            "NetworkingConfig": {"EndpointsConfig": {"container:web": {"MacAddress": "02:42:ac:11:00:09"}}}
        })))
        .unwrap_err();
        assert!(e.contains("mac-address and the network mode"), "{e}");
        let e = check(&body(serde_json::json!({
            "HostConfig": mode,
            "NetworkingConfig": {"EndpointsConfig": {"other": {}}}
        })))
        .unwrap_err();
        assert!(
            e.contains("cannot be connected to any other network"),
            "{e}"
        );
        // `network connect bridge` records the default bridge beside a user network; the
        // other built-in ones cannot be further networks.
        let user = |eps: serde_json::Value| {
            check(&body(serde_json::json!({
                "HostConfig": {"NetworkMode": "web"},
                "NetworkingConfig": {"EndpointsConfig": eps}
            })))
        };
        assert_eq!(
            user(serde_json::json!({"web": {}, "bridge": {}})),
            Ok(NetworkMode::User)
        );
        let e = user(serde_json::json!({"web": {}, "host": {}})).unwrap_err();
        assert!(e.contains("--network host"), "{e}");
    }

    #[test]
    fn ip6_is_checked_as_dockerd_does() {
        let body =
            |v: serde_json::Value| -> ContainerCreateBody { serde_json::from_value(v).unwrap() };
        let check = |b: &ContainerCreateBody| {
            let hc = b.host_config.clone().unwrap_or_default();
            validate(b, &hc, &mut Vec::new()).map_err(|e| e.to_string())
        };
        let ip6 = |mode: &str, ip: &str| {
            body(serde_json::json!({
                "HostConfig": {"NetworkMode": mode},
                "NetworkingConfig": {"EndpointsConfig": {mode: {"IPAMConfig": {"IPv6Address": ip}}}}
            }))
        };
        assert_eq!(check(&ip6("v6net", "fd00:db8::99")), Ok(NetworkMode::User));
        assert_eq!(
            check(&ip6("v6net", "zz")).unwrap_err(),
            "invalid IPv6 address: zz"
        );
        assert!(check(&ip6("v6net", "10.0.0.1")).is_err());
        assert_eq!(
            check(&ip6("bridge", "fd00:db8::7")).unwrap_err(),
            "user specified IP address is supported on user defined networks only"
        );
    }

    #[test]
    fn hosts_file() {
        let h = etc_hosts("abc", &s(&["db:10.0.0.5", "v6:::1"]), "bridge", None, None).unwrap();
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.0.0.5\tdb\n") && h.contains("::1\tv6\n"));
        assert!(h.ends_with("127.0.0.1\tabc\n"));
        let h = etc_hosts("abc", &[], "none", None, None).unwrap();
        assert!(!h.contains("abc"));
        let h = etc_hosts("abc", &[], "", None, Some([172, 17, 0, 2].into())).unwrap();
        assert!(h.ends_with("172.17.0.2\tabc\n"), "{h}");
        let h = etc_hosts(
            "abc",
            &s(&["x:1.2.3.4"]),
            "host",
            Some("127.0.0.1 localhost"),
            None,
        )
        .unwrap();
        assert_eq!(h, "127.0.0.1 localhost\n1.2.3.4\tx\n");
        assert!(matches!(
            etc_hosts("a", &s(&["gw:host-gateway"]), "", None, None).unwrap_err(),
            Error::Unsupported(_)
        ));
        let resolved = resolve_host_gateway(
            &s(&["gw:host-gateway", "x:1.2.3.4"]),
            [172, 17, 0, 1].into(),
        );
        assert_eq!(resolved, s(&["gw:172.17.0.1", "x:1.2.3.4"]));
        let h = etc_hosts("a", &resolved, "", None, None).unwrap();
        assert!(h.contains("172.17.0.1\tgw\n"), "{h}");
        assert!(etc_hosts("a", &s(&["nocolon"]), "", None, None).is_err());
        // On an --ipv6 network dockerd writes the hostname on both addresses.
        let both = [
            "172.18.0.2".parse().unwrap(),
            "fd00:db8::2".parse().unwrap(),
        ];
        let h = etc_hosts_with("abc", &[], "v6net", None, &both).unwrap();
        assert!(
            h.ends_with("ff02::2\tip6-allrouters\n172.18.0.2\tabc\nfd00:db8::2\tabc\n"),
            "{h}"
        );
    }

    #[test]
    fn resolv() {
        let host = "# hi\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
        let r = resolv_conf(host, &[], &[], &[], "bridge").unwrap();
        assert!(
            r.contains(
                "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0 trust-ad\n"
            ),
            "{r}"
        );
        let r = resolv_conf(host, &[], &[], &[], "host").unwrap();
        assert!(r.contains("nameserver 127.0.0.53\n"));
        let r = resolv_conf(host, &s(&["1.1.1.1"]), &s(&["a.b"]), &s(&["ndots:2"]), "").unwrap();
        assert!(
            r.contains("nameserver 1.1.1.1\nsearch a.b\noptions ndots:2\n")
                && r.contains("[nameservers search options]"),
            "{r}"
        );
        assert!(resolv_conf(host, &s(&["nope"]), &[], &[], "").is_err());
        let r = resolv_conf(host, &[], &[], &[], "mynet").unwrap();
        assert!(
            r.contains("nameserver 127.0.0.11\nsearch lan\noptions edns0 trust-ad ndots:0\n"),
            "{r}"
        );
    }
}
