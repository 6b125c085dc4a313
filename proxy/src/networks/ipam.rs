//! Address management for bridge networks: IPv4 subnets, the default bridge's choice of a
//! free private range, address allocation, and the IPv6 subnets of `--ipv6` networks
//! ([`Subnet6`], [`allocate6`]). Pure: the caller says which ranges the host already routes
//! and which addresses are taken.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("invalid CIDR address: {0}")]
    BadCidr(String),
    #[error("no available IPv4 address in {0}")]
    Exhausted(Subnet),
    #[error("no available IPv6 address in {0}")]
    Exhausted6(Subnet6),
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoFreePool,
}

/// An IPv4 network (`172.17.0.0/16`), always stored with its host bits cleared; persisted
/// in its CIDR form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, IpamError> {
        if prefix > 32 {
            return Err(IpamError::BadCidr(format!("{addr}/{prefix}")));
        }
        Ok(Self {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.network)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        u32::from(self.network) & mask(p) == u32::from(other.network) & mask(p)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix))
    }

    /// The first host address, which Docker makes the gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).saturating_add(1))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl TryFrom<String> for Subnet {
    type Error = IpamError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

impl FromStr for Subnet {
    type Err = IpamError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = parse_cidr(s)?;
        Subnet::new(addr, prefix)
    }
}

/// `a.b.c.d/n` with the address kept as written (for `--bip`, which names the gateway).
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), IpamError> {
    let bad = || IpamError::BadCidr(s.to_string());
    let (a, p) = s.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let prefix: u8 = p.parse().map_err(|_| bad())?;
    if prefix > 32 {
        return Err(bad());
    }
    Ok((addr, prefix))
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// The default bridge's candidate pools, in dockerd's order: 172.17–31.0.0/16, then
/// 192.168.0–240.0/20.
pub fn default_pools() -> Vec<Subnet> {
    let mut v: Vec<Subnet> = (17..=31)
        .map(|b| Subnet {
            network: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        })
        .collect();
    v.extend((0..16).map(|i| Subnet {
        network: Ipv4Addr::new(192, 168, i * 16, 0),
        prefix: 20,
    }));
    v
}

/// The first candidate that overlaps nothing the host routes already (as dockerd picks the
/// default bridge's range).
pub fn pick_pool(candidates: &[Subnet], in_use: &[Subnet]) -> Result<Subnet, IpamError> {
    candidates
        .iter()
        .find(|c| !in_use.iter().any(|u| u.overlaps(c)))
        .copied()
        .ok_or(IpamError::NoFreePool)
}

/// The lowest free host address of `subnet`: not the network or broadcast address, not the
/// gateway, not `taken`.
pub fn allocate(
    subnet: Subnet,
    gateway: Ipv4Addr,
    taken: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    allocate_in(subnet, None, gateway, taken)
}

/// As [`allocate`], from `range` (`--ip-range`) when given: every address of the range is
/// usable except the subnet's own network and broadcast addresses (as dockerd hands out
/// `10.0.0.128` first for the range `10.0.0.128/25`).
pub fn allocate_in(
    subnet: Subnet,
    range: Option<Subnet>,
    gateway: Ipv4Addr,
    taken: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    let r = range.unwrap_or(subnet);
    let first = u32::from(r.network).max(u32::from(subnet.network).saturating_add(1));
    let last = u32::from(r.broadcast()).min(u32::from(subnet.broadcast()).saturating_sub(1));
    (first..=last)
        .map(Ipv4Addr::from)
        .find(|ip| *ip != gateway && !taken.contains(ip))
        .ok_or(IpamError::Exhausted(r))
}

/// An IPv6 network (`fd00:db8::/64`), stored with its host bits cleared; persisted in its
/// CIDR form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet6 {
    pub network: Ipv6Addr,
    pub prefix: u8,
}

fn mask6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl Subnet6 {
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Result<Self, IpamError> {
        if prefix > 128 {
            return Err(IpamError::BadCidr(format!("{addr}/{prefix}")));
        }
        Ok(Self {
            network: Ipv6Addr::from(u128::from(addr) & mask6(prefix)),
            prefix,
        })
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask6(self.prefix) == u128::from(self.network)
    }

    pub fn overlaps(&self, other: &Subnet6) -> bool {
        let p = self.prefix.min(other.prefix);
        u128::from(self.network) & mask6(p) == u128::from(other.network) & mask6(p)
    }

    /// The last address (IPv6 has no broadcast address: it can be handed out).
    pub fn last(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.network) | !mask6(self.prefix))
    }

    /// The first address after the network's own (subnet-router anycast) address.
    pub fn first_host(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.network).saturating_add(1))
    }
}

impl fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl TryFrom<String> for Subnet6 {
    type Error = IpamError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Subnet6> for String {
    fn from(s: Subnet6) -> String {
        s.to_string()
    }
}

impl FromStr for Subnet6 {
    type Err = IpamError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IpamError::BadCidr(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Subnet6::new(addr, prefix).map_err(|_| bad())
    }
}

/// The address libnetwork makes a network's gateway when none is given: the first usable
/// address of the `--ip-range` when there is one, else of the subnet (IPv4 and IPv6 alike:
/// `10.0.0.128` for the range `10.0.0.128/25`, `fd00::100` for `fd00::100/120`).
pub fn default_gateway(subnet: Subnet, range: Option<Subnet>) -> Ipv4Addr {
    let first = subnet.first_host();
    range.map_or(first, |r| r.network.max(first))
}

/// [`default_gateway`] for IPv6.
pub fn default_gateway6(subnet: Subnet6, range: Option<Subnet6>) -> Ipv6Addr {
    let first = subnet.first_host();
    range.map_or(first, |r| r.network.max(first))
}

/// The lowest free IPv6 address of `range` (else `subnet`): never the subnet's own network
/// address, the gateway or one in `taken` (libnetwork reserves only the first address of an
/// IPv6 pool).
pub fn allocate6(
    subnet: Subnet6,
    range: Option<Subnet6>,
    gateway: Ipv6Addr,
    taken: &BTreeSet<Ipv6Addr>,
) -> Result<Ipv6Addr, IpamError> {
    let r = range.unwrap_or(subnet);
    let first = u128::from(r.network).max(u128::from(subnet.network).saturating_add(1));
    let last = u128::from(r.last()).min(u128::from(subnet.last()));
    // Only `taken.len() + 2` candidates can be refused, so the walk stays short even in a /64.
    (first..=last)
        .map(Ipv6Addr::from)
        .find(|ip| *ip != gateway && !taken.contains(ip))
        .ok_or(IpamError::Exhausted6(r))
}

/// dockerd 20.10 derives a container's MAC from its IPv4 address: `02:42` + the 4 bytes.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        x.parse().unwrap()
    }

    #[test]
    fn subnets_parse_and_normalise() {
        assert_eq!(s("172.17.0.1/16").to_string(), "172.17.0.0/16");
        assert_eq!(
            s("10.1.2.3/8").broadcast(),
            Ipv4Addr::new(10, 255, 255, 255)
        );
        assert!(s("172.17.0.0/16").contains(Ipv4Addr::new(172, 17, 200, 1)));
        assert!(!s("172.17.0.0/16").contains(Ipv4Addr::new(172, 18, 0, 1)));
        for bad in ["172.17.0.0", "x/16", "1.2.3.4/33", "1.2.3/8"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
        assert_eq!(
            parse_cidr("10.9.0.1/24").unwrap(),
            (Ipv4Addr::new(10, 9, 0, 1), 24)
        );
    }

    #[test]
    fn overlap_and_pool_choice() {
        assert!(s("172.17.0.0/16").overlaps(&s("172.17.5.0/24")));
        assert!(s("172.16.0.0/12").overlaps(&s("172.17.0.0/16")));
        assert!(!s("172.17.0.0/16").overlaps(&s("172.18.0.0/16")));
        let pools = default_pools();
        assert_eq!(pick_pool(&pools, &[]).unwrap(), s("172.17.0.0/16"));
        // docker0 on the host already has 172.17: the next one.
        assert_eq!(
            pick_pool(&pools, &[s("172.17.0.1/16"), s("10.0.0.0/8")]).unwrap(),
            s("172.18.0.0/16")
        );
        assert_eq!(
            pick_pool(&pools, &[s("172.16.0.0/12")]).unwrap(),
            s("192.168.0.0/20")
        );
        assert_eq!(
            pick_pool(&pools, &[s("0.0.0.0/0")]),
            Err(IpamError::NoFreePool)
        );
    }

    #[test]
    fn allocation_skips_gateway_and_taken() {
        let net = s("10.0.0.0/29");
        let gw = net.first_host();
        let mut taken = BTreeSet::new();
        let a = allocate(net, gw, &taken).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 0, 0, 2));
        taken.insert(a);
        assert_eq!(
            allocate(net, gw, &taken).unwrap(),
            Ipv4Addr::new(10, 0, 0, 3)
        );
        for i in 3..=6 {
            taken.insert(Ipv4Addr::new(10, 0, 0, i));
        }
        // .7 is the broadcast address.
        assert_eq!(allocate(net, gw, &taken), Err(IpamError::Exhausted(net)));
        // A released address is handed out again.
        taken.remove(&Ipv4Addr::new(10, 0, 0, 4));
        assert_eq!(
            allocate(net, gw, &taken).unwrap(),
            Ipv4Addr::new(10, 0, 0, 4)
        );
    }

    #[test]
    fn ranges_start_at_their_first_address() {
        let net = s("10.0.0.0/24");
        let r = Some(s("10.0.0.128/25"));
        let gw = Ipv4Addr::new(10, 0, 0, 254);
        let mut taken = BTreeSet::new();
        assert_eq!(
            allocate_in(net, r, gw, &taken).unwrap(),
            Ipv4Addr::new(10, 0, 0, 128)
        );
        for i in 128..=253 {
            taken.insert(Ipv4Addr::new(10, 0, 0, i));
        }
        // .254 is the gateway and .255 the broadcast address.
        assert!(allocate_in(net, r, gw, &taken).is_err());
        let whole = Some(s("10.0.0.0/24"));
        assert_eq!(
            allocate_in(net, whole, gw, &BTreeSet::new()).unwrap(),
            Ipv4Addr::new(10, 0, 0, 1)
        );
    }

    #[test]
    fn ipv6_subnets_and_allocation() {
        let net: Subnet6 = "fd00:db8::1/64".parse().unwrap();
        assert_eq!(net.to_string(), "fd00:db8::/64");
        assert!(net.contains("fd00:db8::ffff".parse().unwrap()));
        assert!(!net.contains("fd00:db9::1".parse().unwrap()));
        let inner: Subnet6 = "fd00:db8:0:0:1::/80".parse().unwrap();
        assert!(net.overlaps(&inner) && inner.overlaps(&net));
        assert!(!net.overlaps(&"fd00:db9::/64".parse().unwrap()));
        for bad in ["fd00::zz/64", "fd00::/129", "fd00::", "10.0.0.0/8"] {
            assert!(bad.parse::<Subnet6>().is_err(), "{bad}");
        }
        // The gateway is the first address, containers get the next ones, in order.
        let gw = default_gateway6(net, None);
        assert_eq!(gw, "fd00:db8::1".parse::<Ipv6Addr>().unwrap());
        let mut taken = BTreeSet::new();
        let a = allocate6(net, None, gw, &taken).unwrap();
        assert_eq!(a.to_string(), "fd00:db8::2");
        taken.insert(a);
        assert_eq!(
            allocate6(net, None, gw, &taken).unwrap().to_string(),
            "fd00:db8::3"
        );
        // A range: the gateway is its first address, containers the following ones.
        let r: Subnet6 = "fd00:db8::100/120".parse().unwrap();
        let gw = default_gateway6(net, Some(r));
        assert_eq!(gw.to_string(), "fd00:db8::100");
        assert_eq!(
            allocate6(net, Some(r), gw, &BTreeSet::new())
                .unwrap()
                .to_string(),
            "fd00:db8::101"
        );
        // A /127 has one address besides the network's: the gateway's.
        let tiny: Subnet6 = "fd00:dc0::/127".parse().unwrap();
        let gw = default_gateway6(tiny, None);
        assert_eq!(
            allocate6(tiny, None, gw, &BTreeSet::new()),
            Err(IpamError::Exhausted6(tiny))
        );
        // IPv4 ranges: the gateway is the range's first host address too.
        let v4 = s("10.77.0.0/24");
        assert_eq!(
            default_gateway(v4, Some(s("10.77.0.128/25"))),
            Ipv4Addr::new(10, 77, 0, 128)
        );
        assert_eq!(
            default_gateway(v4, Some(s("10.77.0.0/25"))),
            Ipv4Addr::new(10, 77, 0, 1)
        );
        assert_eq!(default_gateway(v4, None), Ipv4Addr::new(10, 77, 0, 1));
    }

    #[test]
    fn macs_follow_the_address() {
        assert_eq!(mac_for(Ipv4Addr::new(172, 17, 0, 2)), "02:42:ac:11:00:02");
    }
}
