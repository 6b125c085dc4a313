//! The bridge driver: the default `bridge` network (a Linux bridge, `dockbridge0` unless
//! `--bridge` names another) and user-defined networks (a bridge each, `br-<id>`). A
//! running container gets one pinned network namespace with a veth on its network's
//! bridge, an address from the network's subnet, masquerade for outbound traffic (not on
//! `--internal` networks, which have no default route either), its published ports behind
//! userland proxies, and on user networks the embedded DNS server at 127.0.0.11.
//!
//! Lifetime of an endpoint: created by [`NetworkProvider::attach`] before the task exists
//! (the namespace path goes into the spec), released after the run ends, a start fails, or
//! the container is removed. Endpoints are persisted under the data root
//! (`network/bridge.json`), so a restarted daemon keeps running containers' addresses and
//! ports, never hands an address out twice, and releases what a crash left behind
//! ([`BridgeNetworks::sweep`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spec::api::models::ContainerCreateBody;

use super::dns;
use super::endpoint6;
use super::ipam::{self, Subnet};
use super::ops::{Link, LinkV6, NetOps};
use super::ports::{self, Bound, PortError};
use super::proxy::{self, Published};
use super::user::{self, UserNetwork};
use super::NetworkError;
use crate::containers::providers::{NetworkAttachment, NetworkProvider};
use crate::containers::record::Record;
use crate::containers::{ContainerError, Result};

/// `--bridge` / `--bip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The bridge interface; `None`: `--bridge none`, no default bridge network.
    pub name: Option<String>,
    /// `--bip`: the bridge's own address and prefix (the containers' gateway).
    pub bip: Option<(Ipv4Addr, u8)>,
}

impl BridgeConfig {
    pub fn parse(bridge: &str, bip: Option<&str>) -> std::result::Result<Self, String> {
        let name = match bridge {
            "none" => None,
            "" => Some("dockbridge0".to_string()),
            n if n.len() > 15 || n.contains(['/', ' ']) => {
                return Err(format!("invalid bridge name {n:?}"))
            }
            n => Some(n.to_string()),
        };
        let bip = bip
            .map(|b| {
                let (ip, p) = ipam::parse_cidr(b).map_err(|e| format!("--bip: {e}"))?;
                if p > 30 {
                    return Err(format!("--bip {b}: the subnet has no room for containers"));
                }
                Ok((ip, p))
            })
            .transpose()?;
        Ok(Self { name, bip })
    }
}

/// A container's endpoint on the bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub endpoint_id: String,
    pub sandbox_id: String,
    pub netns: PathBuf,
    pub host_if: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    #[serde(default)]
    pub ports: Vec<Bound>,
    /// The user network's ID; empty on the default bridge.
    #[serde(default)]
    pub network_id: String,
    /// The names other containers find this one by on a user network (its name, its
    /// `--network-alias`es, its short ID).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The container's `--dns` servers: where its DNS listener forwards (else the host's).
    #[serde(default)]
    pub dns: Vec<String>,
    /// The interface inside the namespace; empty for `eth0` (the first network's).
    #[serde(default)]
    pub ifname: String,
    /// Its IPv6 address on an `--ipv6` network.
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
}

/// What survives a daemon restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Persisted {
    subnet: Option<Subnet>,
    gateway: Option<Ipv4Addr>,
    /// By container ID.
    endpoints: BTreeMap<String, Endpoint>,
    /// User-defined networks, by ID.
    #[serde(default)]
    networks: BTreeMap<String, UserNetwork>,
    /// A running container's further networks (`network connect`, or several networks
    /// at create): endpoints in the first endpoint's namespace, by container ID.
    #[serde(default)]
    extra: BTreeMap<String, Vec<Endpoint>>,
    /// Running containers disconnected from every network: their pinned namespace (with
    /// loopback only) stays until the run ends, ready for a later `network connect`.
    #[serde(default)]
    bare: BTreeMap<String, Bare>,
    /// Running containers with an embedded DNS listener, which they keep after leaving
    /// their user networks (their resolv.conf still names it), as dockerd's.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    resolvers: BTreeSet<String>,
    /// The number of the next interface (`ethN`) joined in a running container's
    /// namespace: libnetwork counts them per sandbox and never reuses one while it lives.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    if_next: BTreeMap<String, u32>,
}

/// A container's pinned namespace without endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Bare {
    netns: PathBuf,
    sandbox_id: String,
}

impl Persisted {
    /// Every endpoint with its container's ID: the first networks', then the others.
    fn all(&self) -> impl Iterator<Item = (&String, &Endpoint)> {
        self.endpoints.iter().chain(
            self.extra
                .iter()
                .flat_map(|(id, v)| v.iter().map(move |e| (id, e))),
        )
    }
}

/// A task that ends when dropped (a container's DNS listener).
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Live {
    persisted: Persisted,
    proxies: HashMap<String, Published>,
    dns: HashMap<String, Task>,
}

/// A container about to join a network: where, under which names, at which `--ip`, with
/// which `--mac-address`.
struct Joining {
    target: Target,
    aliases: Vec<String>,
    ip: Option<Ipv4Addr>,
    mac: Option<String>,
    /// `--ip6`.
    ip6: Option<Ipv6Addr>,
}

/// Where an endpoint goes: the default bridge or a user network.
struct Target {
    /// Empty for the default bridge.
    network_id: String,
    bridge: String,
    subnet: Subnet,
    gateway: Ipv4Addr,
    ip_range: Option<Subnet>,
    internal: bool,
    /// The IPv6 subnet of an `--ipv6` network.
    v6: Option<user::Ipv6Config>,
}

/// The bridge as configured at start.
#[derive(Debug, Clone, Copy)]
pub struct Net {
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// `--bip` named the gateway: dockerd then lists it in `IPAM.Config`.
    pub gateway_configured: bool,
}

pub struct BridgeNetworks {
    bridge: Option<String>,
    net: Option<Net>,
    ops: Arc<dyn NetOps>,
    state_file: PathBuf,
    netns_dir: PathBuf,
    live: tokio::sync::Mutex<Live>,
    /// Read by inspect without waiting for a network operation in progress.
    snapshot: std::sync::RwLock<Persisted>,
    /// What the DNS listeners answer from, rebuilt at every change.
    directory: Arc<std::sync::RwLock<dns::Directory>>,
    /// Where `network connect`/`disconnect` events go (set once the bus exists).
    events: std::sync::OnceLock<Arc<crate::events::EventBus>>,
}

fn err(e: impl std::fmt::Display) -> ContainerError {
    ContainerError::Internal(e.to_string())
}

fn port_err(e: PortError) -> ContainerError {
    match e {
        PortError::Invalid(m) => ContainerError::InvalidParameter(m),
        PortError::Unsupported(m) => ContainerError::InvalidParameter(m),
    }
}

/// How a container's `EndpointsConfig` names the default bridge it was connected to.
pub const BRIDGE_KEY: &str = "bridge";

/// `default`/`bridge`/empty: the container is on the default bridge (when there is one).
fn on_default_bridge(mode: Option<&str>) -> bool {
    matches!(mode.unwrap_or(""), "" | "default" | "bridge")
}

/// A fixed host port another container already publishes: dockerd's own allocator's
/// message, before any socket is tried.
fn allocated_elsewhere(
    requests: &[ports::Request],
    endpoints: &BTreeMap<String, Endpoint>,
) -> Option<String> {
    for r in requests.iter().filter(|r| r.host_ports.len() == 1) {
        let port = r.host_ports[0];
        let clash = endpoints.values().flat_map(|e| &e.ports).find(|b| {
            b.host_port == port
                && b.container.proto == r.container.proto
                && (r.host_ip.is_none()
                    || b.host_ip.is_unspecified()
                    || Some(b.host_ip) == r.host_ip)
        });
        if clash.is_some() {
            let ip = r
                .host_ip
                .map(|i| i.to_string())
                .unwrap_or_else(|| "0.0.0.0".into());
            return Some(format!(
                "Bind for {ip}:{port} failed: port is already allocated"
            ));
        }
    }
    None
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

impl BridgeNetworks {
    /// Sets the bridge up (or adopts the one there) and re-opens the published ports of
    /// the endpoints a previous run left, for containers that still run.
    pub async fn start(
        config: BridgeConfig,
        ops: Arc<dyn NetOps>,
        data_root: &Path,
        exec_root: &Path,
    ) -> anyhow::Result<Arc<Self>> {
        let state_file = data_root.join("network").join("bridge.json");
        let mut persisted: Persisted = match std::fs::read(&state_file) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!("ignoring unreadable {}: {e}", state_file.display());
                Persisted::default()
            }),
            Err(_) => Persisted::default(),
        };
        let mut net = None;
        if let Some(name) = &config.name {
            let (gateway, prefix) = match (config.bip, ops.address_of(name).await?) {
                (Some(bip), _) => bip,
                // An existing bridge keeps its address (as dockerd adopts docker0's).
                (None, Some(existing)) => existing,
                (None, None) => match (persisted.subnet, persisted.gateway) {
                    (Some(s), Some(g)) => (g, s.prefix),
                    _ => {
                        let used = ops.routed_subnets(name).await?;
                        let s = ipam::pick_pool(&ipam::default_pools(), &used)?;
                        (s.first_host(), s.prefix)
                    }
                },
            };
            let subnet = Subnet::new(gateway, prefix)?;
            ops.ensure_bridge(name, gateway, prefix).await?;
            if let Err(e) = ops.ensure_nat(name, subnet).await {
                // Containers still reach each other and published ports; say what is missing.
                tracing::warn!("no outbound NAT for {subnet} on {name}: {e}");
            }
            if let Err(e) = ops.ensure_isolation(name).await {
                tracing::warn!("no isolation between {name} and other networks: {e}");
            }
            if persisted.subnet != Some(subnet) {
                // A different range now: old endpoints cannot be kept as they were, and
                // what they had on the host goes with them.
                let stale: Vec<String> = persisted
                    .endpoints
                    .iter()
                    .filter(|(_, ep)| ep.network_id.is_empty() && !subnet.contains(ep.ip))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in stale {
                    if let Some(ep) = persisted.endpoints.remove(&id) {
                        let _ = ops.remove_link(&ep.host_if).await;
                        let _ = ops.remove_netns(&ep.netns).await;
                    }
                }
            }
            persisted.subnet = Some(subnet);
            persisted.gateway = Some(gateway);
            net = Some(Net {
                subnet,
                gateway,
                gateway_configured: config.bip.is_some(),
            });
            tracing::info!("default bridge {name}: {subnet} via {gateway}");
        }
        for n in persisted.networks.values() {
            ops.ensure_bridge(&n.bridge, n.gateway, n.subnet.prefix)
                .await?;
            if let Some(c) = n.v6() {
                // IPv4 still works without it (a host whose IPv6 went off since).
                if let Err(e) = ops
                    .ensure_bridge_v6(&n.bridge, c.gateway, c.subnet.prefix)
                    .await
                {
                    tracing::warn!("no IPv6 on network {}: {e}", n.name);
                }
            }
            if !n.internal && n.masquerade {
                if let Err(e) = ops.ensure_nat(&n.bridge, n.subnet).await {
                    tracing::warn!("no outbound NAT for network {}: {e}", n.name);
                }
            }
            if let Err(e) = ops.ensure_isolation(&n.bridge).await {
                tracing::warn!("no isolation of network {}: {e}", n.name);
            }
        }
        let mut proxies = HashMap::new();
        for (id, ep) in &persisted.endpoints {
            if ep.ports.is_empty() {
                continue;
            }
            match proxy::republish(&ep.ports, ep.ip, ep.ip6) {
                Ok(p) => {
                    proxies.insert(id.clone(), p);
                }
                Err(e) => tracing::warn!(container = %id, "re-publishing ports: {e}"),
            }
        }
        let me = Arc::new(Self {
            bridge: config.name,
            net,
            ops,
            state_file,
            netns_dir: exec_root.join("netns"),
            snapshot: std::sync::RwLock::new(persisted.clone()),
            directory: Arc::default(),
            events: std::sync::OnceLock::new(),
            live: tokio::sync::Mutex::new(Live {
                persisted,
                proxies,
                dns: HashMap::new(),
            }),
        });
        {
            let mut live = me.live.lock().await;
            // The kernel's half of the published ports (idempotent: a crash may have left
            // them in place).
            for ep in live.persisted.endpoints.values() {
                let Some(t) = me.target_of(ep) else { continue };
                let rules = super::dnat::rules(&t.bridge, ep.ip, &ep.ports);
                if let Err(e) = me.ops.add_dnat(&rules).await {
                    tracing::warn!("restoring DNAT rules: {e}");
                }
            }
            if live
                .persisted
                .endpoints
                .values()
                .any(|e| !e.ports.is_empty())
            {
                me.proxy_returns(&live.persisted).await;
            }
            // Every container on a user network has its resolver, and so does one that
            // had it when it left them (in its first endpoint's namespace, or the one it
            // kept with no network).
            let p = &live.persisted;
            let wanted: BTreeSet<String> = p
                .all()
                .filter(|(_, e)| !e.network_id.is_empty())
                .map(|(id, _)| id.clone())
                .chain(p.resolvers.iter().cloned())
                .collect();
            let mut homes = Vec::new();
            for id in wanted {
                let home = match (p.endpoints.get(&id), p.bare.get(&id)) {
                    (Some(e), _) => (e.netns.clone(), e.dns.clone()),
                    (None, Some(b)) => (b.netns.clone(), Vec::new()),
                    (None, None) => continue,
                };
                homes.push((id, home));
            }
            live.persisted.resolvers.clear();
            for (id, (netns, servers)) in homes {
                match me.start_dns(&id, &netns, &servers).await {
                    Ok(Some(t)) => {
                        live.dns.insert(id.clone(), t);
                        live.persisted.resolvers.insert(id);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(container = %id, "restarting DNS: {e}"),
                }
            }
            me.save(&live.persisted)?;
        }
        Ok(me)
    }

    /// The container's DNS listener at 127.0.0.11 in its namespace (user networks).
    async fn start_dns(
        &self,
        container_id: &str,
        netns: &Path,
        servers: &[String],
    ) -> Result<Option<Task>> {
        let Some(sock) = self.ops.dns_socket(netns).await.map_err(err)? else {
            return Ok(None);
        };
        let sock = tokio::net::UdpSocket::from_std(sock)
            .map_err(|e| ContainerError::io("serving DNS", e))?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let upstream = dns::upstream(servers, &host_resolv);
        Ok(Some(Task(tokio::spawn(dns::serve(
            sock,
            container_id.to_string(),
            self.directory.clone(),
            upstream,
        )))))
    }

    /// Reports `network connect`/`disconnect` events on this bus from now on.
    pub fn set_events(&self, events: Arc<crate::events::EventBus>) {
        let _ = self.events.set(events);
    }

    /// dockerd's `network` event when a container joins or leaves a network.
    fn network_event(&self, action: &str, container: &str, ep: &Endpoint) {
        let Some(bus) = self.events.get() else {
            return;
        };
        let (id, name) = if ep.network_id.is_empty() {
            (super::network_id("bridge"), "bridge".to_string())
        } else {
            let name = self
                .snapshot
                .read()
                .ok()
                .and_then(|s| s.networks.get(&ep.network_id).map(|n| n.name.clone()))
                .unwrap_or_default();
            (ep.network_id.clone(), name)
        };
        bus.emit(
            spec::api::models::EventMessageTypeEnum::NETWORK,
            action,
            &id,
            HashMap::from([
                ("container".to_string(), container.to_string()),
                ("name".to_string(), name),
                ("type".to_string(), "bridge".to_string()),
            ]),
        );
    }

    /// `host-gateway` of `--add-host`: the default bridge's address, as dockerd's default.
    pub fn host_gateway(&self) -> Option<IpAddr> {
        self.net.map(|n| IpAddr::V4(n.gateway))
    }

    pub fn bridge_name(&self) -> Option<&str> {
        self.bridge.as_deref()
    }

    pub fn net(&self) -> Option<Net> {
        self.net
    }

    fn save(&self, p: &Persisted) -> Result<()> {
        if let Ok(mut s) = self.snapshot.write() {
            *s = p.clone();
        }
        if let Ok(mut d) = self.directory.write() {
            d.entries = p
                .all()
                .filter(|(_, e)| !e.network_id.is_empty())
                .map(|(_, e)| (e.network_id.clone(), e.aliases.clone(), e.ip))
                .collect();
            d.entries6 = p
                .all()
                .filter(|(_, e)| !e.network_id.is_empty())
                .filter_map(|(_, e)| Some((e.network_id.clone(), e.aliases.clone(), e.ip6?)))
                .collect();
            d.scopes = HashMap::new();
            for (id, e) in p.all().filter(|(_, e)| !e.network_id.is_empty()) {
                d.scopes
                    .entry(id.clone())
                    .or_default()
                    .push(e.network_id.clone());
            }
        }
        let dir = self.state_file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| ContainerError::io("creating network state dir", e))?;
        let tmp = self.state_file.with_extension("json.tmp");
        let data = serde_json::to_vec_pretty(p).map_err(err)?;
        std::fs::write(&tmp, data).map_err(|e| ContainerError::io("writing network state", e))?;
        std::fs::rename(&tmp, &self.state_file)
            .map_err(|e| ContainerError::io("writing network state", e))
    }

    /// The endpoint of a running container on the default bridge.
    pub fn endpoint(&self, container_id: &str) -> Option<Endpoint> {
        self.snapshot
            .read()
            .ok()?
            .endpoints
            .get(container_id)
            .cloned()
    }

    /// Every endpoint, by container ID.
    pub fn endpoints(&self) -> BTreeMap<String, Endpoint> {
        self.snapshot
            .read()
            .map(|s| s.endpoints.clone())
            .unwrap_or_default()
    }

    /// The user-defined networks.
    pub fn user_networks(&self) -> Vec<UserNetwork> {
        self.snapshot
            .read()
            .map(|s| s.networks.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A user network by name, ID or unique ID prefix.
    pub fn find_user(&self, key: &str) -> Option<UserNetwork> {
        find_user_in(&self.user_networks(), key)
    }

    /// Whether a network (by ID; empty: the default bridge) has endpoints.
    pub fn in_use(&self, network_id: &str) -> bool {
        self.snapshot
            .read()
            .map(|s| s.all().any(|(_, e)| e.network_id == network_id))
            .unwrap_or(false)
    }

    /// A running container's further networks' endpoints.
    pub fn extra_endpoints(&self, container_id: &str) -> Vec<Endpoint> {
        self.snapshot
            .read()
            .ok()
            .and_then(|s| s.extra.get(container_id).cloned())
            .unwrap_or_default()
    }

    /// `POST /networks/create`.
    pub async fn create_network(
        &self,
        req: &user::CreateRequest,
    ) -> Result<UserNetwork, NetworkError> {
        let mut live = self.live.lock().await;
        let predefined = ["bridge", "host", "none"];
        if live.persisted.networks.values().any(|n| n.name == req.name)
            || (predefined.contains(&req.name.as_str())
                && (req.name != "bridge" || self.net.is_some()))
        {
            return Err(NetworkError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let mut taken: Vec<Subnet> = live.persisted.networks.values().map(|n| n.subnet).collect();
        if let Some(n) = self.net {
            taken.push(n.subnet);
        }
        let routed = self
            .ops
            .routed_subnets(self.bridge.as_deref().unwrap_or(""))
            .await
            .unwrap_or_default();
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let taken6: Vec<ipam::Subnet6> = live
            .persisted
            .networks
            .values()
            .filter_map(|n| n.ipv6.as_ref().map(|c| c.subnet))
            .collect();
        let n = user::create(req, random_hex(), created, &taken, &taken6, &routed)?;
        if live
            .persisted
            .networks
            .values()
            .any(|x| x.bridge == n.bridge)
            || self.bridge.as_deref() == Some(n.bridge.as_str())
        {
            return Err(NetworkError::Conflict(format!(
                "bridge name {} is already in use by another network",
                n.bridge
            )));
        }
        let set_up = async {
            self.ops
                .ensure_bridge(&n.bridge, n.gateway, n.subnet.prefix)
                .await?;
            if let Some(c) = n.v6() {
                self.ops
                    .ensure_bridge_v6(&n.bridge, c.gateway, c.subnet.prefix)
                    .await?;
            }
            if !n.internal && n.masquerade {
                self.ops.ensure_nat(&n.bridge, n.subnet).await?;
            }
            self.ops.ensure_isolation(&n.bridge).await?;
            Ok::<(), super::ops::OpsError>(())
        };
        if let Err(e) = set_up.await {
            let _ = self.ops.remove_isolation(&n.bridge).await;
            let _ = self.ops.remove_nat(&n.bridge, n.subnet).await;
            let _ = self.ops.remove_link(&n.bridge).await;
            return Err(NetworkError::Internal(format!(
                "creating network {}: {e}",
                n.name
            )));
        }
        live.persisted.networks.insert(n.id.clone(), n.clone());
        self.proxy_returns(&live.persisted).await;
        if let Err(e) = self.save(&live.persisted) {
            let _ = self.ops.remove_proxy_return(&n.bridge).await;
            live.persisted.networks.remove(&n.id);
            let _ = self.ops.remove_isolation(&n.bridge).await;
            let _ = self.ops.remove_nat(&n.bridge, n.subnet).await;
            let _ = self.ops.remove_link(&n.bridge).await;
            return Err(NetworkError::Internal(e.to_string()));
        }
        Ok(n)
    }

    /// `DELETE /networks/{id}` of a user network: refused while containers are on it.
    pub async fn remove_network(&self, key: &str) -> Result<UserNetwork, NetworkError> {
        let mut live = self.live.lock().await;
        let nets: Vec<UserNetwork> = live.persisted.networks.values().cloned().collect();
        let n = find_user_in(&nets, key)
            .ok_or_else(|| NetworkError::NotFound(format!("network {key} not found")))?;
        if live.persisted.all().any(|(_, e)| e.network_id == n.id) {
            return Err(NetworkError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.ops
            .remove_proxy_return(&n.bridge)
            .await
            .map_err(|e| NetworkError::Internal(e.to_string()))?;
        self.ops
            .remove_isolation(&n.bridge)
            .await
            .map_err(|e| NetworkError::Internal(e.to_string()))?;
        self.ops
            .remove_nat(&n.bridge, n.subnet)
            .await
            .map_err(|e| NetworkError::Internal(e.to_string()))?;
        self.ops
            .remove_link(&n.bridge)
            .await
            .map_err(|e| NetworkError::Internal(e.to_string()))?;
        live.persisted.networks.remove(&n.id);
        self.save(&live.persisted)
            .map_err(|e| NetworkError::Internal(e.to_string()))?;
        Ok(n)
    }

    /// Releases endpoints whose container is not running any more (a crash between the
    /// network set-up and the task, or a container removed while the daemon was down).
    pub async fn sweep(&self, running: &HashSet<String>) {
        let owners: BTreeSet<String> = self
            .snapshot
            .read()
            .map(|s| s.endpoints.keys().chain(s.bare.keys()).cloned().collect())
            .unwrap_or_default();
        let stale: Vec<String> = owners
            .into_iter()
            .filter(|id| !running.contains(id))
            .collect();
        for id in stale {
            tracing::info!(container = %id, "releasing a stale network endpoint");
            if let Err(e) = self.release_id(&id).await {
                tracing::warn!(container = %id, "releasing a stale endpoint: {e}");
            }
        }
    }

    async fn release_id(&self, id: &str) -> Result<()> {
        let mut live = self.live.lock().await;
        live.proxies.remove(id);
        live.dns.remove(id);
        let counted = live.persisted.if_next.remove(id).is_some();
        if live.persisted.resolvers.remove(id) || counted {
            self.save(&live.persisted)?;
        }
        // Further networks first: their links live in the first endpoint's namespace.
        while let Some(ep) = live.persisted.extra.get(id).and_then(|v| v.last()).cloned() {
            self.drop_extra(&mut live, id, &ep).await?;
        }
        if let Some(b) = live.persisted.bare.get(id).cloned() {
            self.ops.remove_netns(&b.netns).await.map_err(err)?;
            live.persisted.bare.remove(id);
            self.save(&live.persisted)?;
        }
        let Some(ep) = live.persisted.endpoints.get(id).cloned() else {
            return Ok(());
        };
        self.teardown(&ep).await?;
        live.persisted.endpoints.remove(id);
        self.save(&live.persisted)?;
        self.network_event("disconnect", id, &ep);
        Ok(())
    }

    /// Removes the OS side of an endpoint (idempotent).
    async fn teardown(&self, ep: &Endpoint) -> Result<()> {
        if let Some(t) = self.target_of(ep) {
            let rules = super::dnat::rules(&t.bridge, ep.ip, &ep.ports);
            self.ops.remove_dnat(&rules).await.map_err(err)?;
        }
        self.ops.remove_link(&ep.host_if).await.map_err(err)?;
        self.ops.remove_netns(&ep.netns).await.map_err(err)
    }

    /// The network a container's inspect shows under `NetworkSettings.Networks`.
    fn network_of(&self, rec: &Record) -> String {
        match rec.host_config.network_mode.as_deref().unwrap_or("default") {
            "" | "default" => "bridge".into(),
            other => other.into(),
        }
    }

    /// The key of `Networks` an endpoint shows under: the mode's (as the request named
    /// it) for the network the mode names, else the network's name.
    fn key_of(&self, rec: &Record, ep: &Endpoint) -> String {
        let mode = self.network_of(rec);
        let mode_id = if mode == BRIDGE_KEY {
            Some(String::new())
        } else {
            self.find_user(&mode).map(|n| n.id)
        };
        if mode_id.as_deref() == Some(ep.network_id.as_str()) {
            mode
        } else {
            self.network_name(&ep.network_id)
        }
    }

    /// Fills `NetworkSettings` of `docker inspect` (already in dockerd's full shape) with
    /// the container's endpoint: the sandbox, `Ports`, `Networks.<name>`, and for the
    /// default bridge the top-level address fields dockerd keeps for it.
    pub fn patch_inspect(&self, rec: &Record, v: &mut Value) {
        let exposed = rec.config.exposed_ports.clone().unwrap_or_default();
        let Some(ns) = v.get_mut("NetworkSettings") else {
            return;
        };
        let name = self.network_of(rec);
        let ep = self.endpoint(&rec.id);
        let target = ep.as_ref().and_then(|e| self.target_of(e));
        let (Some(ep), Some(t)) = (ep, target) else {
            if rec.state.status.is_running() {
                // Exposed ports show as unpublished while running (dockerd's shape).
                ns["Ports"] = ports::port_map(&exposed, &[]);
            }
            let bare = self
                .snapshot
                .read()
                .ok()
                .and_then(|s| s.bare.get(&rec.id).cloned());
            if let Some(b) = bare {
                // Off every network, the sandbox stays (dockerd shows it), without ports.
                ns["SandboxID"] = json!(b.sandbox_id);
                ns["SandboxKey"] = json!(b.netns.display().to_string());
                ns["Ports"] = json!({});
            }
            let network_id = if name == "bridge" {
                self.net.map(|_| super::network_id("bridge"))
            } else {
                self.find_user(&name).map(|n| n.id)
            };
            if let (Some(id), true) = (network_id, rec.state.started_at.is_some()) {
                // dockerd keeps the network's ID of a container that ran, and clears the
                // endpoint's fields.
                if let Some(b) = ns.get_mut("Networks").and_then(|n| n.get_mut(&name)) {
                    b["NetworkID"] = json!(id);
                }
            }
            return;
        };
        let ip = ep.ip.to_string();
        let gw = t.gateway.to_string();
        let prefix = t.subnet.prefix;
        let name = self.key_of(rec, &ep);
        ns["SandboxID"] = json!(ep.sandbox_id);
        ns["SandboxKey"] = json!(ep.netns.display().to_string());
        ns["Ports"] = ports::port_map(&exposed, &ep.ports);
        // The top-level address fields follow the default bridge's endpoint, whichever
        // network came first.
        let extra = self.extra_endpoints(&rec.id);
        if let Some((e, t)) = std::iter::once(&ep)
            .chain(&extra)
            .find(|e| e.network_id.is_empty())
            .and_then(|e| Some((e, self.target_of(e)?)))
        {
            for (k, val) in [
                ("EndpointID", json!(e.endpoint_id)),
                ("Gateway", json!(t.gateway.to_string())),
                ("IPAddress", json!(e.ip.to_string())),
                ("IPPrefixLen", json!(t.subnet.prefix)),
                ("MacAddress", json!(e.mac)),
            ] {
                ns[k] = val;
            }
        }
        let network_id = if t.network_id.is_empty() {
            super::network_id("bridge")
        } else {
            t.network_id.clone()
        };
        if let Some(b) = ns.get_mut("Networks").and_then(|n| n.get_mut(&name)) {
            for (k, val) in [
                ("NetworkID", json!(network_id)),
                ("EndpointID", json!(ep.endpoint_id)),
                ("Gateway", json!(gw)),
                ("IPAddress", json!(ip)),
                ("IPPrefixLen", json!(prefix)),
                ("MacAddress", json!(ep.mac)),
            ] {
                b[k] = val;
            }
            for (k, val) in endpoint6::inspect_fields(ep.ip6, t.v6.as_ref()) {
                b[k] = val;
            }
            if !t.network_id.is_empty() {
                // dockerd lists the aliases and the short ID (not the name).
                let shown: Vec<&String> = ep
                    .aliases
                    .iter()
                    .filter(|a| **a != rec.name.trim_start_matches('/'))
                    .collect();
                b["Aliases"] = json!(shown);
                // API 1.44's DNSNames: every name the embedded DNS answers for it.
                b["DNSNames"] = json!(ep.aliases);
            }
        }
        // Further networks of a running container.
        for e in extra {
            let Some(t) = self.target_of(&e) else {
                continue;
            };
            let name = self.key_of(rec, &e);
            let Some(nets) = ns.get_mut("Networks").and_then(Value::as_object_mut) else {
                continue;
            };
            let b = nets.entry(name).or_insert_with(|| json!({}));
            let shown: Vec<&String> = e
                .aliases
                .iter()
                .filter(|a| **a != rec.name.trim_start_matches('/'))
                .collect();
            let network_id = if e.network_id.is_empty() {
                super::network_id(BRIDGE_KEY)
            } else {
                e.network_id.clone()
            };
            for (k, val) in [
                ("NetworkID", json!(network_id)),
                ("EndpointID", json!(e.endpoint_id)),
                ("Gateway", json!(t.gateway.to_string())),
                ("IPAddress", json!(e.ip.to_string())),
                ("IPPrefixLen", json!(t.subnet.prefix)),
                ("MacAddress", json!(e.mac)),
                ("Aliases", json!(shown)),
                ("DNSNames", json!(e.aliases)),
            ] {
                b[k] = val;
            }
            for (k, val) in endpoint6::inspect_fields(e.ip6, t.v6.as_ref()) {
                b[k] = val;
            }
        }
    }

    /// `Ports` and the endpoint of `docker ps`.
    pub fn patch_summary(&self, rec: &Record, s: &mut spec::api::models::ContainerSummary) {
        let exposed = rec.config.exposed_ports.clone().unwrap_or_default();
        let ep = self.endpoint(&rec.id);
        let bound = ep.as_ref().map(|e| e.ports.clone()).unwrap_or_default();
        s.ports = Some(ports::summary(&exposed, &bound));
        let Some((ep, t)) = ep.and_then(|e| self.target_of(&e).map(|t| (e, t))) else {
            return;
        };
        let name = self.key_of(rec, &ep);
        if let Some(b) = s
            .network_settings
            .as_mut()
            .and_then(|n| n.networks.as_mut())
            .and_then(|n| n.get_mut(&name))
        {
            b.network_id = Some(if t.network_id.is_empty() {
                super::network_id("bridge")
            } else {
                t.network_id.clone()
            });
            b.endpoint_id = Some(ep.endpoint_id);
            b.gateway = Some(t.gateway.to_string());
            b.ip_address = Some(ep.ip.to_string());
            b.ip_prefix_len = Some(i64::from(t.subnet.prefix));
            b.mac_address = Some(ep.mac);
            if let (Some(ip6), Some(c)) = (ep.ip6, &t.v6) {
                b.global_ipv6_address = Some(ip6.to_string());
                b.global_ipv6_prefix_len = Some(i64::from(c.subnet.prefix));
                b.ipv6_gateway = Some(c.gateway.to_string());
            }
        }
    }

    /// `Containers` of `docker network inspect` (`network_id` empty: the default bridge).
    pub fn containers_json(&self, network_id: &str, names: &HashMap<String, String>) -> Value {
        let all: Vec<(String, Endpoint)> = self
            .snapshot
            .read()
            .map(|s| s.all().map(|(k, e)| (k.clone(), e.clone())).collect())
            .unwrap_or_default();
        let m: BTreeMap<String, Value> = all
            .into_iter()
            .filter(|(_, ep)| ep.network_id == network_id)
            .filter_map(|(id, ep)| {
                let t = self.target_of(&ep)?;
                let prefix = t.subnet.prefix;
                let v = json!({
                    "Name": names.get(&id).cloned().unwrap_or_default(),
                    "EndpointID": ep.endpoint_id,
                    "MacAddress": ep.mac,
                    "IPv4Address": format!("{}/{prefix}", ep.ip),
                    "IPv6Address": endpoint6::network_inspect_address(ep.ip6, t.v6.as_ref()),
                });
                Some((id, v))
            })
            .collect();
        serde_json::to_value(m).unwrap_or_else(|_| json!({}))
    }

    /// The network an endpoint is on.
    fn target_of(&self, ep: &Endpoint) -> Option<Target> {
        if ep.network_id.is_empty() {
            let net = self.net?;
            return Some(Target {
                network_id: String::new(),
                bridge: self.bridge.clone()?,
                subnet: net.subnet,
                gateway: net.gateway,
                ip_range: None,
                internal: false,
                v6: None,
            });
        }
        let n = self
            .snapshot
            .read()
            .ok()?
            .networks
            .get(&ep.network_id)
            .cloned()?;
        Some(user_target(&n))
    }

    /// The network a container's mode names: `None` for modes without an endpoint
    /// (`host`, `none`, `container:…`, the default mode without a bridge).
    fn target_for(&self, rec: &Record) -> Result<Option<Joining>> {
        let mode = rec.host_config.network_mode.as_deref().unwrap_or("");
        if rec.config.network_disabled == Some(true)
            || matches!(mode, "host" | "none")
            || mode.starts_with("container:")
        {
            return Ok(None);
        }
        if on_default_bridge(Some(mode)) {
            let mac = endpoints_config(rec)
                .into_iter()
                .filter(|(k, _)| on_default_bridge(Some(k)))
                .find_map(|(_, ep)| requested_mac(&ep));
            return Ok(self.bridge_joining(mac));
        }
        self.user_joining(rec, mode).map(Some)
    }

    /// Joining the default bridge (no aliases, no `--ip`: dockerd refuses both there);
    /// `None` on a daemon without one.
    fn bridge_joining(&self, mac: Option<String>) -> Option<Joining> {
        let (Some(bridge), Some(net)) = (&self.bridge, self.net) else {
            return None;
        };
        Some(Joining {
            target: Target {
                network_id: String::new(),
                bridge: bridge.clone(),
                subnet: net.subnet,
                gateway: net.gateway,
                ip_range: None,
                internal: false,
                v6: None,
            },
            aliases: Vec::new(),
            ip: None,
            mac,
            ip6: None,
        })
    }

    /// Joining the user network `key` (name or ID) with what the container's
    /// `EndpointsConfig` asks for it: aliases and `--ip`.
    fn user_joining(&self, rec: &Record, key: &str) -> Result<Joining> {
        let n = self
            .find_user(key)
            .ok_or_else(|| ContainerError::NotFound(format!("network {key} not found")))?;
        // Found by name, its ID, or under the name the request used.
        let mut aliases = vec![rec.name.trim_start_matches('/').to_string()];
        let mut wanted = None;
        let mut wanted6 = None;
        let mut mac = None;
        for (k, ep) in endpoints_config(rec) {
            if k == key || k == n.name || k == n.id {
                wanted = requested_ip(&ep).or(wanted);
                wanted6 = endpoint6::requested(&ep)?.or(wanted6);
                mac = requested_mac(&ep).or(mac);
                aliases.extend(ep.aliases.unwrap_or_default());
            }
        }
        aliases.push(rec.id.chars().take(12).collect());
        aliases.dedup();
        if let Some(ip) = wanted {
            check_requested(&n, ip)?;
        }
        Ok(Joining {
            target: user_target(&n),
            aliases,
            ip: wanted,
            mac,
            ip6: wanted6,
        })
    }

    /// The user networks a container is configured for besides the one its mode names
    /// (several `--network`s at create, or `network connect`), by the key it used.
    /// The default bridge is `bridge` there (`network connect bridge` of a container whose
    /// mode names a user network).
    fn further_networks(&self, rec: &Record) -> Vec<String> {
        let mode = rec.host_config.network_mode.as_deref().unwrap_or("");
        let primary = self.find_user(mode).map(|n| n.id);
        let mut out: Vec<String> = endpoints_config(rec)
            .into_keys()
            .filter(|k| {
                if k == BRIDGE_KEY {
                    return !on_default_bridge(Some(mode));
                }
                !matches!(k.as_str(), "" | "default" | "host" | "none")
                    && k != mode
                    && self.find_user(k).map(|n| n.id) != primary
            })
            .collect();
        out.sort();
        out
    }

    /// The networks a start joins, in dockerd's order: the default bridge first (dockerd
    /// always connects it first, so it is `eth0`), then the one the mode names (unless the
    /// container was disconnected from it), then the others by name.
    fn start_networks(&self, rec: &Record) -> Result<Vec<Joining>> {
        let mode = rec.host_config.network_mode.as_deref().unwrap_or("");
        let further = if mode.starts_with("container:") {
            // Networks recorded while stopped are never joined in another's namespace
            // (dockerd's initializeNetworking returns before them).
            Vec::new()
        } else {
            self.further_networks(rec)
        };
        let own = rec.config.network_disabled != Some(true)
            && !matches!(mode, "host" | "none")
            && !mode.starts_with("container:");
        if !own && !further.is_empty() {
            return Err(ContainerError::InvalidParameter(format!(
                "container cannot be connected to network {} in network mode {mode:?}",
                further.join(", "),
            )));
        }
        let mut out = Vec::new();
        if !rec.network_mode_left {
            out.extend(self.target_for(rec)?);
        }
        for key in further {
            out.push(self.joining(rec, &key)?);
        }
        // Stable: the rest keeps its order.
        out.sort_by_key(|j| !j.target.network_id.is_empty());
        Ok(out)
    }

    /// Joining the network `key` names: the default bridge, or a user network.
    fn joining(&self, rec: &Record, key: &str) -> Result<Joining> {
        if key != BRIDGE_KEY {
            return self.user_joining(rec, key);
        }
        let mac = endpoints_config(rec)
            .get(BRIDGE_KEY)
            .and_then(requested_mac);
        self.bridge_joining(mac)
            .ok_or_else(|| ContainerError::NotFound(format!("network {BRIDGE_KEY} not found")))
    }

    /// Joins a running container to one more network, in its namespace, as `ethN`.
    async fn attach_extra(&self, rec: &Record, key: &str) -> Result<()> {
        let j = self.joining(rec, key)?;
        self.join_extra(rec, j).await
    }

    async fn join_extra(&self, rec: &Record, j: Joining) -> Result<()> {
        let Joining {
            target: t,
            aliases,
            ip: wanted,
            mac,
            ip6: wanted6,
        } = j;
        let mut live = self.live.lock().await;
        let first = live.persisted.endpoints.get(&rec.id).cloned();
        let extra = live
            .persisted
            .extra
            .get(&rec.id)
            .cloned()
            .unwrap_or_default();
        // The container's namespace: its first endpoint's, or the one it kept after
        // leaving every network.
        let floor = live.persisted.if_next.get(&rec.id).copied().unwrap_or(0);
        let (netns, sandbox_id) = match (&first, live.persisted.bare.get(&rec.id)) {
            (Some(f), _) => (f.netns.clone(), f.sandbox_id.clone()),
            (None, Some(b)) => (b.netns.clone(), b.sandbox_id.clone()),
            (None, None) => {
                return Err(ContainerError::Conflict(format!(
                    "container {} has no network namespace of its own to join {} in",
                    rec.name.trim_start_matches('/'),
                    self.network_name(&t.network_id)
                )))
            }
        };
        let mut present: Vec<&Endpoint> = extra.iter().collect();
        present.extend(first.as_ref());
        if present.iter().any(|e| e.network_id == t.network_id) {
            let name = self.network_name(&t.network_id);
            return Err(ContainerError::Forbidden(format!(
                "endpoint with name {} already exists in network {name}",
                rec.name.trim_start_matches('/')
            )));
        }
        let ifname = next_ifname(&present, floor);
        let ip = pick_address(&live.persisted, &t, wanted)?;
        let ip6 = pick_address6(&live.persisted, &t, wanted6)?;
        let endpoint_id = random_hex();
        let mut ep = Endpoint {
            netns,
            host_if: format!("veth{}", &endpoint_id[..7]),
            mac: mac.unwrap_or_else(|| ipam::mac_for(ip)),
            ip,
            endpoint_id,
            sandbox_id,
            ports: Vec::new(),
            network_id: t.network_id.clone(),
            aliases,
            dns: first
                .as_ref()
                .map(|f| f.dns.clone())
                .unwrap_or_else(|| rec.host_config.dns.clone().unwrap_or_default()),
            ifname: ifname.clone(),
            ip6,
        };
        let added = self
            .ops
            .add_link(&Link {
                bridge: &t.bridge,
                host_if: &ep.host_if,
                ifname: &ifname,
                netns: &ep.netns,
                mac: &ep.mac,
                ip,
                prefix: t.subnet.prefix,
                gateway: t.gateway,
                // The first network keeps the default route; a namespace left with no
                // network gets it from the one it joins.
                default_route: first.is_none() && !t.internal,
                v6: link_v6(&t, ip6),
            })
            .await;
        if let Err(e) = added {
            let _ = self.ops.remove_link(&ep.host_if).await;
            return Err(err(e));
        }
        // Joining a user network switches the container to the embedded DNS server, as
        // dockerd does (its resolv.conf is the manager's to rewrite).
        if !t.network_id.is_empty() && !live.dns.contains_key(&rec.id) {
            match self.start_dns(&rec.id, &ep.netns, &ep.dns).await {
                Ok(Some(task)) => {
                    live.dns.insert(rec.id.clone(), task);
                    live.persisted.resolvers.insert(rec.id.clone());
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = self.ops.remove_link(&ep.host_if).await;
                    return Err(e);
                }
            }
        }
        if first.is_none() {
            // The namespace's first endpoint again: the container's published ports are
            // programmed on it, as libnetwork does on the endpoint that gives the sandbox
            // its external connectivity.
            if let Err(e) = self.publish_on(&mut live, rec, &mut ep).await {
                let _ = self.ops.remove_link(&ep.host_if).await;
                return Err(e);
            }
        }
        live.persisted
            .if_next
            .insert(rec.id.clone(), if_index(&ep) + 1);
        if first.is_some() {
            live.persisted
                .extra
                .entry(rec.id.clone())
                .or_default()
                .push(ep.clone());
        } else {
            live.persisted.bare.remove(&rec.id);
            live.persisted.endpoints.insert(rec.id.clone(), ep.clone());
        }
        if let Err(e) = self.save(&live.persisted) {
            let _ = self.ops.remove_link(&ep.host_if).await;
            if let Some(v) = live.persisted.extra.get_mut(&rec.id) {
                v.retain(|x| x.endpoint_id != ep.endpoint_id);
            }
            if first.is_none() {
                live.proxies.remove(&rec.id);
                if let Some(t) = self.target_of(&ep) {
                    let _ = self
                        .ops
                        .remove_dnat(&super::dnat::rules(&t.bridge, ep.ip, &ep.ports))
                        .await;
                }
                live.persisted.endpoints.remove(&rec.id);
                live.persisted.bare.insert(
                    rec.id.clone(),
                    Bare {
                        netns: ep.netns.clone(),
                        sandbox_id: ep.sandbox_id.clone(),
                    },
                );
            }
            return Err(e);
        }
        self.route_gateway(&live.persisted, &rec.id).await;
        self.network_event("connect", &rec.id, &ep);
        Ok(())
    }

    /// Takes a running container off one of its networks (by network ID; empty: the
    /// default bridge). Leaving the first network drops its published ports with it (they
    /// are that endpoint's, as dockerd's port mappings); the namespace stays, with the
    /// next network as its first, or with loopback only.
    async fn detach(&self, container_id: &str, network_id: &str) -> Result<bool> {
        if self.detach_extra(container_id, network_id).await? {
            return Ok(true);
        }
        let mut live = self.live.lock().await;
        let Some(ep) = live
            .persisted
            .endpoints
            .get(container_id)
            .filter(|e| e.network_id == network_id)
            .cloned()
        else {
            return Ok(false);
        };
        if let Some(t) = self.target_of(&ep) {
            let rules = super::dnat::rules(&t.bridge, ep.ip, &ep.ports);
            self.ops.remove_dnat(&rules).await.map_err(err)?;
        }
        live.proxies.remove(container_id);
        self.ops.remove_link(&ep.host_if).await.map_err(err)?;
        live.persisted.endpoints.remove(container_id);
        let next = live
            .persisted
            .extra
            .get_mut(container_id)
            .filter(|v| !v.is_empty())
            .map(|v| v.remove(0));
        match next {
            Some(mut n) => {
                // The published ports follow (libnetwork programs them on the endpoint
                // that carries the container's external connectivity).
                self.move_ports(&mut live, container_id, &ep.ports, &mut n)
                    .await;
                live.persisted.endpoints.insert(container_id.to_string(), n);
            }
            None => {
                live.persisted.bare.insert(
                    container_id.to_string(),
                    Bare {
                        netns: ep.netns.clone(),
                        sandbox_id: ep.sandbox_id.clone(),
                    },
                );
            }
        }
        if live
            .persisted
            .extra
            .get(container_id)
            .is_some_and(Vec::is_empty)
        {
            live.persisted.extra.remove(container_id);
        }
        self.save(&live.persisted)?;
        self.route_gateway(&live.persisted, container_id).await;
        self.network_event("disconnect", container_id, &ep);
        Ok(true)
    }

    /// Takes a running container off one of its further networks (by network ID).
    async fn detach_extra(&self, container_id: &str, network_id: &str) -> Result<bool> {
        let mut live = self.live.lock().await;
        let Some(ep) = live
            .persisted
            .extra
            .get(container_id)
            .and_then(|v| v.iter().find(|e| e.network_id == network_id))
            .cloned()
        else {
            return Ok(false);
        };
        self.drop_extra(&mut live, container_id, &ep).await?;
        self.route_gateway(&live.persisted, container_id).await;
        Ok(true)
    }

    /// Removes one further endpoint: its link, its record, and says so.
    async fn drop_extra(&self, live: &mut Live, container_id: &str, ep: &Endpoint) -> Result<()> {
        self.ops.remove_link(&ep.host_if).await.map_err(err)?;
        if let Some(v) = live.persisted.extra.get_mut(container_id) {
            v.retain(|x| x.endpoint_id != ep.endpoint_id);
            if v.is_empty() {
                live.persisted.extra.remove(container_id);
            }
        }
        self.save(&live.persisted)?;
        self.network_event("disconnect", container_id, ep);
        Ok(())
    }

    /// Moves the default route of a container's namespace to the endpoint libnetwork
    /// picks for it: not on an internal network, then the network first by name (its
    /// endpoints' order), so connecting `bridge` to a container of network `web` moves it.
    async fn route_gateway(&self, p: &Persisted, container_id: &str) {
        let Some(first) = p.endpoints.get(container_id) else {
            return;
        };
        let extra = p.extra.get(container_id).cloned().unwrap_or_default();
        let chosen = std::iter::once(first)
            .chain(&extra)
            .filter_map(|e| Some((e, self.target_of(e)?)))
            .filter(|(_, t)| !t.internal)
            .min_by_key(|(e, _)| self.network_name(&e.network_id));
        let via = chosen.map(|(e, t)| {
            let dev = if e.ifname.is_empty() {
                "eth0"
            } else {
                e.ifname.as_str()
            };
            (t.gateway, dev)
        });
        if let Err(e) = self.ops.set_default_route(&first.netns, via).await {
            tracing::warn!(container = %container_id, "moving the default route: {e}");
        }
    }

    /// Publishes the container's ports for `ep` (proxies and DNAT rules).
    async fn publish_on(&self, live: &mut Live, rec: &Record, ep: &mut Endpoint) -> Result<()> {
        let exposed = rec.config.exposed_ports.clone().unwrap_or_default();
        let requests = ports::requests(&rec.host_config, &exposed).map_err(port_err)?;
        if requests.is_empty() {
            return Ok(());
        }
        let (bound, published) = proxy::publish(&requests, ep.ip, ep.ip6).map_err(|e| {
            ContainerError::Internal(format!(
                "driver failed programming external connectivity on endpoint {} ({}): {e}",
                rec.name.trim_start_matches('/'),
                ep.endpoint_id
            ))
        })?;
        let Some(t) = self.target_of(ep) else {
            return Ok(());
        };
        let rules = super::dnat::rules(&t.bridge, ep.ip, &bound);
        if let Err(e) = self.ops.add_dnat(&rules).await {
            let _ = self.ops.remove_dnat(&rules).await;
            return Err(err(e));
        }
        self.proxy_returns(&live.persisted).await;
        live.proxies.insert(rec.id.clone(), published);
        ep.ports = bound;
        Ok(())
    }

    /// Re-publishes `ports` (the host ports the first endpoint had, just released) for
    /// the endpoint `to` that takes its place. A port taken meanwhile is logged, not fatal:
    /// the disconnect itself has happened.
    async fn move_ports(
        &self,
        live: &mut Live,
        container_id: &str,
        ports: &[Bound],
        to: &mut Endpoint,
    ) {
        if ports.is_empty() {
            return;
        }
        let published = match proxy::republish(ports, to.ip, to.ip6) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(container = %container_id, "moving published ports: {e}");
                return;
            }
        };
        live.proxies.insert(container_id.to_string(), published);
        to.ports = ports.to_vec();
        if let Some(t) = self.target_of(to) {
            let rules = super::dnat::rules(&t.bridge, to.ip, &to.ports);
            if let Err(e) = self.ops.add_dnat(&rules).await {
                tracing::warn!(container = %container_id, "moving DNAT rules: {e}");
            }
            self.proxy_returns(&live.persisted).await;
        }
    }

    /// Published ports stay with the userland proxy for traffic from any of the daemon's
    /// bridges (see [`NetOps::ensure_proxy_return`]); a no-op while no port is published.
    async fn proxy_returns(&self, p: &Persisted) {
        let bridges: Vec<String> = self
            .bridge
            .iter()
            .filter(|_| self.net.is_some())
            .cloned()
            .chain(p.networks.values().map(|n| n.bridge.clone()))
            .collect();
        if let Err(e) = self.ops.ensure_proxy_return(&bridges).await {
            tracing::warn!("hairpin through the userland proxy: {e}");
        }
    }

    /// A network's name by ID (`bridge` for the default one).
    fn network_name(&self, network_id: &str) -> String {
        if network_id.is_empty() {
            return "bridge".into();
        }
        self.snapshot
            .read()
            .ok()
            .and_then(|s| s.networks.get(network_id).map(|n| n.name.clone()))
            .unwrap_or_default()
    }

    /// A pinned namespace with loopback only, recorded as the container's bare one.
    async fn attach_bare(&self, rec: &Record) -> Result<NetworkAttachment> {
        let sandbox_id = random_hex();
        let netns = self.netns_dir.join(&sandbox_id[..12]);
        let mut live = self.live.lock().await;
        self.ops.create_netns(&netns).await.map_err(err)?;
        if let Err(e) = self.ops.loopback_up(&netns).await {
            let _ = self.ops.remove_netns(&netns).await;
            return Err(err(e));
        }
        live.persisted.bare.insert(
            rec.id.clone(),
            Bare {
                netns: netns.clone(),
                sandbox_id,
            },
        );
        live.persisted.if_next.remove(&rec.id);
        if let Err(e) = self.save(&live.persisted) {
            live.persisted.bare.remove(&rec.id);
            let _ = self.ops.remove_netns(&netns).await;
            return Err(e);
        }
        Ok(NetworkAttachment {
            netns_path: Some(netns.display().to_string()),
            host_gateway: self.host_gateway(),
            ..Default::default()
        })
    }

    async fn attach_endpoint(&self, rec: &Record, j: Joining) -> Result<NetworkAttachment> {
        let Joining {
            target: t,
            aliases,
            ip: wanted,
            mac,
            ip6: wanted6,
        } = j;
        let exposed = rec.config.exposed_ports.clone().unwrap_or_default();
        let requests = ports::requests(&rec.host_config, &exposed).map_err(port_err)?;
        let mut live = self.live.lock().await;
        // A leftover of a run whose release did not happen (e.g. a crash) goes first.
        live.proxies.remove(&rec.id);
        live.dns.remove(&rec.id);
        live.persisted.resolvers.remove(&rec.id);
        if let Some(old) = live.persisted.endpoints.remove(&rec.id) {
            self.teardown(&old).await?;
        }
        if let Some(m) = allocated_elsewhere(&requests, &live.persisted.endpoints) {
            return Err(ContainerError::Internal(format!(
                "driver failed programming external connectivity on endpoint {} ({}): {m}",
                rec.name.trim_start_matches('/'),
                random_hex()
            )));
        }
        let ip = pick_address(&live.persisted, &t, wanted)?;
        let ip6 = pick_address6(&live.persisted, &t, wanted6)?;
        let endpoint_id = random_hex();
        let sandbox_id = random_hex();
        let mut ep = Endpoint {
            netns: self.netns_dir.join(&sandbox_id[..12]),
            host_if: format!("veth{}", &endpoint_id[..7]),
            mac: mac.unwrap_or_else(|| ipam::mac_for(ip)),
            ip,
            endpoint_id,
            sandbox_id,
            ports: Vec::new(),
            network_id: t.network_id.clone(),
            aliases,
            dns: rec.host_config.dns.clone().unwrap_or_default(),
            ifname: String::new(),
            ip6,
        };
        let set_up = async {
            self.ops.create_netns(&ep.netns).await.map_err(err)?;
            self.ops
                .add_link(&Link {
                    bridge: &t.bridge,
                    host_if: &ep.host_if,
                    ifname: "eth0",
                    netns: &ep.netns,
                    mac: &ep.mac,
                    ip,
                    prefix: t.subnet.prefix,
                    gateway: t.gateway,
                    default_route: !t.internal,
                    v6: link_v6(&t, ip6),
                })
                .await
                .map_err(err)?;
            let dns = if t.network_id.is_empty() {
                None
            } else {
                self.start_dns(&rec.id, &ep.netns, &ep.dns).await?
            };
            let (bound, published) = proxy::publish(&requests, ip, ip6).map_err(|e| {
                ContainerError::Internal(format!(
                    "driver failed programming external connectivity on endpoint {} ({}): {e}",
                    rec.name.trim_start_matches('/'),
                    ep.endpoint_id
                ))
            })?;
            let rules = super::dnat::rules(&t.bridge, ip, &bound);
            if let Err(e) = self.ops.add_dnat(&rules).await {
                let _ = self.ops.remove_dnat(&rules).await;
                return Err(err(e));
            }
            if !rules.is_empty() {
                self.proxy_returns(&live.persisted).await;
            }
            Ok::<_, ContainerError>((bound, published, dns))
        };
        match set_up.await {
            Ok((bound, published, dns)) => {
                ep.ports = bound;
                live.proxies.insert(rec.id.clone(), published);
                if let Some(d) = dns {
                    live.dns.insert(rec.id.clone(), d);
                    live.persisted.resolvers.insert(rec.id.clone());
                }
                let netns = ep.netns.display().to_string();
                let joined = ep.clone();
                live.persisted.endpoints.insert(rec.id.clone(), ep);
                live.persisted.if_next.insert(rec.id.clone(), 1);
                if let Err(e) = self.save(&live.persisted) {
                    live.proxies.remove(&rec.id);
                    live.dns.remove(&rec.id);
                    live.persisted.resolvers.remove(&rec.id);
                    if let Some(ep) = live.persisted.endpoints.remove(&rec.id) {
                        let _ = self.teardown(&ep).await;
                    }
                    return Err(e);
                }
                self.network_event("connect", &rec.id, &joined);
                Ok(NetworkAttachment {
                    netns_path: Some(netns),
                    address: Some(IpAddr::V4(ip)),
                    address6: ip6.map(IpAddr::V6),
                    host_gateway: self.host_gateway(),
                    ..NetworkAttachment::default()
                })
            }
            Err(e) => {
                // Nothing of the attempt stays: link, namespace (the address was never
                // recorded, so it is free again).
                if let Err(te) = self.teardown(&ep).await {
                    tracing::warn!(container = %rec.id, "cleaning up a failed attach: {te}");
                }
                Err(e)
            }
        }
    }
}

/// An endpoint's address on `t`: the `--ip` asked for (libnetwork's error when another
/// endpoint has it), else the next free one.
fn pick_address(p: &Persisted, t: &Target, wanted: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
    let taken: BTreeSet<Ipv4Addr> = p
        .all()
        .filter(|(_, e)| e.network_id == t.network_id)
        .map(|(_, e)| e.ip)
        .collect();
    match wanted {
        Some(ip) if taken.contains(&ip) => Err(ContainerError::Forbidden(format!(
            "Address already in use: {ip}"
        ))),
        Some(ip) => Ok(ip),
        None => ipam::allocate_in(t.subnet, t.ip_range, t.gateway, &taken).map_err(err),
    }
}

/// An endpoint's IPv6 address on `t` (none without IPv6): `--ip6`, else the next free one.
fn pick_address6(p: &Persisted, t: &Target, wanted: Option<Ipv6Addr>) -> Result<Option<Ipv6Addr>> {
    let taken: BTreeSet<Ipv6Addr> = p
        .all()
        .filter(|(_, e)| e.network_id == t.network_id)
        .filter_map(|(_, e)| e.ip6)
        .collect();
    endpoint6::pick(t.v6.as_ref(), &taken, wanted)
}

/// The IPv6 half of a container's link on `t`.
fn link_v6(t: &Target, ip6: Option<Ipv6Addr>) -> Option<LinkV6> {
    let c = t.v6.as_ref()?;
    Some(LinkV6 {
        ip: ip6?,
        prefix: c.subnet.prefix,
        gateway: c.gateway,
    })
}

/// The index of an endpoint's interface (`ethN`).
fn if_index(e: &Endpoint) -> u32 {
    e.ifname
        .strip_prefix("eth")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The next interface in a namespace: after the highest one there, and not below `floor`
/// (the sandbox's count so far).
fn next_ifname(present: &[&Endpoint], floor: u32) -> String {
    let next = present.iter().map(|e| if_index(e) + 1).max().unwrap_or(0);
    format!("eth{}", next.max(floor))
}

/// `NetworkingConfig.EndpointsConfig` of the container's request (and of later
/// `network connect`s).
fn endpoints_config(rec: &Record) -> HashMap<String, spec::api::models::EndpointSettings> {
    rec.request
        .as_ref()
        .and_then(|b| b.networking_config.as_ref())
        .and_then(|c| c.endpoints_config.clone())
        .unwrap_or_default()
}

/// `--ip` (`EndpointsConfig.<net>.IPAMConfig.IPv4Address`), checked by translate.
fn requested_ip(ep: &spec::api::models::EndpointSettings) -> Option<Ipv4Addr> {
    ep.ipam_config
        .as_ref()?
        .ipv4_address
        .as_deref()
        .filter(|s| !s.is_empty())?
        .parse()
        .ok()
}

/// `--mac-address` (`EndpointsConfig.<net>.MacAddress`), checked by translate; written
/// as the kernel shows it (lower case).
fn requested_mac(ep: &spec::api::models::EndpointSettings) -> Option<String> {
    ep.mac_address
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
}

/// A requested address must be a host address of the network's subnet (not its gateway).
fn check_requested(n: &UserNetwork, ip: Ipv4Addr) -> Result<()> {
    if !n.subnet.contains(ip)
        || ip == n.subnet.network
        || ip == n.subnet.broadcast()
        || ip == n.gateway
    {
        return Err(ContainerError::InvalidParameter(format!(
            "no configured subnet or ip-range contain the IP address {ip}"
        )));
    }
    Ok(())
}

fn user_target(n: &UserNetwork) -> Target {
    Target {
        network_id: n.id.clone(),
        bridge: n.bridge.clone(),
        subnet: n.subnet,
        gateway: n.gateway,
        ip_range: n.ip_range,
        internal: n.internal,
        v6: n.v6().cloned(),
    }
}

/// By exact name, exact ID, then unique ID prefix (dockerd's order).
fn find_user_in(nets: &[UserNetwork], key: &str) -> Option<UserNetwork> {
    if key.is_empty() {
        return None;
    }
    if let Some(n) = nets.iter().find(|n| n.name == key || n.id == key) {
        return Some(n.clone());
    }
    let hits: Vec<&UserNetwork> = nets.iter().filter(|n| n.id.starts_with(key)).collect();
    (hits.len() == 1).then(|| hits[0].clone())
}

#[async_trait]
impl NetworkProvider for BridgeNetworks {
    fn bridge_address(&self, container_id: &str) -> Option<std::net::IpAddr> {
        self.endpoint(container_id)
            .into_iter()
            .chain(self.extra_endpoints(container_id))
            .find(|e| e.network_id.is_empty())
            .map(|e| std::net::IpAddr::V4(e.ip))
    }

    fn validate_create(
        &self,
        body: &ContainerCreateBody,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let hc = body.host_config.clone().unwrap_or_default();
        let mode = hc.network_mode.as_deref().unwrap_or("");
        if hc.links.as_ref().is_some_and(|l| !l.is_empty()) && self.net.is_none() {
            return Err(ContainerError::InvalidParameter(
                "--link needs the default bridge, and this daemon runs with --bridge none".into(),
            ));
        }
        let gateway_wanted = hc.extra_hosts.iter().flatten().any(|h| {
            h.split_once(':')
                .is_some_and(|(_, ip)| ip == translate::linux::HOST_GATEWAY)
        });
        if gateway_wanted && self.net.is_none() {
            return Err(ContainerError::InvalidParameter(
                "--add-host …:host-gateway needs the default bridge's gateway, and this daemon runs with --bridge none".into(),
            ));
        }
        let exposed = body.exposed_ports.clone().unwrap_or_default();
        let reqs = ports::requests(&hc, &exposed).map_err(port_err)?;
        if on_default_bridge(Some(mode)) {
            if self.net.is_none() {
                if !reqs.is_empty() {
                    return Err(ContainerError::InvalidParameter(
                        "-p/--publish and -P/--publish-all need the default bridge, and this daemon runs with --bridge none".into(),
                    ));
                }
                if body.network_disabled != Some(true) {
                    warnings.push(translate::linux::BRIDGE_WARNING.into());
                }
            }
            return Ok(());
        }
        // A user network is looked up at start, not here: dockerd creates the container
        // and its start fails with a 404 (a 404 at create would make the CLI pull). An
        // `--ip` outside an existing network's subnet is refused now.
        if let Some(n) = self.find_user(mode) {
            let endpoints = body
                .networking_config
                .as_ref()
                .and_then(|c| c.endpoints_config.clone())
                .unwrap_or_default();
            for (k, ep) in endpoints {
                if k == mode || k == n.name || k == n.id {
                    if let Some(ip) = requested_ip(&ep) {
                        check_requested(&n, ip)?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn attach(&self, rec: &Record) -> Result<NetworkAttachment> {
        // What a run whose release did not happen left goes first.
        {
            let mut live = self.live.lock().await;
            let mut changed = false;
            if let Some(old) = live.persisted.extra.remove(&rec.id) {
                for ep in old {
                    self.ops.remove_link(&ep.host_if).await.map_err(err)?;
                }
                changed = true;
            }
            if let Some(b) = live.persisted.bare.remove(&rec.id) {
                self.ops.remove_netns(&b.netns).await.map_err(err)?;
                changed = true;
            }
            if changed {
                self.save(&live.persisted)?;
            }
        }
        let mut joins = self.start_networks(rec)?.into_iter();
        let Some(first) = joins.next() else {
            let mode = rec.host_config.network_mode.as_deref().unwrap_or("");
            let own = !matches!(mode, "host" | "none") && !mode.starts_with("container:");
            if rec.network_mode_left && own {
                // Disconnected from every network: loopback only (dockerd's start), in a
                // namespace of its own that a `network connect` can join while it runs.
                return self.attach_bare(rec).await;
            }
            return Ok(NetworkAttachment {
                host_gateway: self.host_gateway(),
                ..Default::default()
            });
        };
        let mut embedded_dns = !first.target.network_id.is_empty();
        let mut attached = self.attach_endpoint(rec, first).await?;
        for j in joins {
            embedded_dns |= !j.target.network_id.is_empty();
            if let Err(e) = self.join_extra(rec, j).await {
                if let Err(re) = self.release_id(&rec.id).await {
                    tracing::warn!(container = %rec.id, "releasing after a failed join: {re}");
                }
                return Err(e);
            }
        }
        attached.embedded_dns = embedded_dns;
        Ok(attached)
    }

    async fn connect(&self, rec: &Record, network: &str) -> Result<()> {
        self.attach_extra(rec, network).await
    }

    async fn disconnect(&self, rec: &Record, network_id: &str) -> Result<bool> {
        self.detach(&rec.id, network_id).await
    }

    async fn release(&self, rec: &Record) -> Result<()> {
        self.release_id(&rec.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks::ops::RecordingOps;
    use spec::api::models::{ContainerConfig, HostConfig, PortBinding};

    fn rec(id: &str, hc: HostConfig) -> Record {
        let mut r: Record = serde_json::from_value(json!({
            "id": id, "name": format!("/{id}"), "created": "2026-01-01T00:00:00Z",
            "image_ref": "busybox", "image_id": "sha256:x",
            "config": {}, "host_config": {}, "state": {
                "status": "created", "pid": 0, "exit_code": 0, "error": "",
                "oom_killed": false, "started_at": null, "finished_at": null },
            "backend": "containerd",
            "platform": "linux", "restart_count": 0, "rootfs_key": id, "snapshotter": "overlayfs",
            "path": "sh", "args": [], "has_been_manually_stopped": false, "warnings": []
        }))
        .unwrap_or_else(|e| panic!("record: {e}"));
        r.host_config = hc;
        r.config = ContainerConfig::default();
        r
    }

    async fn bridge(ops: Arc<RecordingOps>, dir: &Path) -> Arc<BridgeNetworks> {
        BridgeNetworks::start(
            BridgeConfig::parse("db0", None).unwrap(),
            ops,
            &dir.join("data"),
            &dir.join("exec"),
        )
        .await
        .unwrap()
    }

    #[test]
    fn config_flags() {
        assert_eq!(BridgeConfig::parse("none", None).unwrap().name, None);
        let c = BridgeConfig::parse("", Some("10.5.0.1/24")).unwrap();
        assert_eq!(c.name.as_deref(), Some("dockbridge0"));
        assert_eq!(c.bip, Some((Ipv4Addr::new(10, 5, 0, 1), 24)));
        assert!(BridgeConfig::parse("", Some("10.5.0.1")).is_err());
        assert!(BridgeConfig::parse("averyveryverylongname", None).is_err());
    }

    #[tokio::test]
    async fn attach_release_and_addresses_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let ops = Arc::new(RecordingOps {
            routed: vec!["172.17.0.0/16".parse().unwrap()],
            ..Default::default()
        });
        let b = bridge(ops.clone(), dir.path()).await;
        assert_eq!(b.net().unwrap().subnet.to_string(), "172.18.0.0/16");
        let a = b.attach(&rec("c1", HostConfig::default())).await.unwrap();
        assert_eq!(a.address, Some("172.18.0.2".parse().unwrap()));
        assert!(a.netns_path.unwrap().contains("/exec/netns/"));
        let a2 = b.attach(&rec("c2", HostConfig::default())).await.unwrap();
        assert_eq!(a2.address, Some("172.18.0.3".parse().unwrap()));
        let calls = ops.calls();
        assert_eq!(calls[0], "bridge db0 172.18.0.1/16");
        assert_eq!(calls[1], "nat db0 172.18.0.0/16");
        assert_eq!(calls[2], "iso db0");
        assert!(
            calls[4].contains("02:42:ac:12:00:02 172.18.0.2/16 gw 172.18.0.1 db0"),
            "{calls:?}"
        );

        // A new daemon on the same state keeps both, and hands out the next address.
        drop(b);
        let b = bridge(ops.clone(), dir.path()).await;
        assert_eq!(b.endpoints().len(), 2);
        b.release(&rec("c1", HostConfig::default())).await.unwrap();
        b.release(&rec("c1", HostConfig::default())).await.unwrap();
        assert!(ops.calls().iter().any(|c| c.starts_with("link- veth")));
        let a3 = b.attach(&rec("c3", HostConfig::default())).await.unwrap();
        assert_eq!(a3.address, Some("172.18.0.2".parse().unwrap()));
        // The sweep releases what no running container owns.
        b.sweep(&HashSet::from(["c3".to_string()])).await;
        assert_eq!(b.endpoints().into_keys().collect::<Vec<_>>(), ["c3"]);
    }

    /// A record whose mode names `mode`, configured for `nets` too.
    fn on(id: &str, mode: &str, nets: &[&str]) -> Record {
        let mut r = rec(
            id,
            HostConfig {
                network_mode: Some(mode.into()),
                ..Default::default()
            },
        );
        let eps = nets
            .iter()
            .map(|n| (n.to_string(), Default::default()))
            .collect();
        r.request = Some(ContainerCreateBody {
            networking_config: Some(spec::api::models::NetworkingConfig {
                endpoints_config: Some(eps),
            }),
            ..Default::default()
        });
        r
    }

    #[tokio::test]
    async fn default_bridge_as_a_further_network_and_leaving_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let ops = Arc::new(RecordingOps::default());
        let b = bridge(ops.clone(), dir.path()).await;
        let req: user::CreateRequest = serde_json::from_value(json!({
            "Name": "web", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24"}]}
        }))
        .unwrap();
        let web = b.create_network(&req).await.unwrap();

        // Started on `web`, then `bridge` joins as eth1 and takes the default route
        // (libnetwork's order: bridge < web).
        let r = on("c1", "web", &["web"]);
        b.attach(&r).await.unwrap();
        let r = on("c1", "web", &["web", BRIDGE_KEY]);
        b.connect(&r, BRIDGE_KEY).await.unwrap();
        let extra = b.extra_endpoints("c1");
        assert_eq!(extra.len(), 1);
        assert_eq!(
            (extra[0].ifname.as_str(), extra[0].network_id.as_str()),
            ("eth1", "")
        );
        assert_eq!(b.bridge_address("c1"), Some("172.17.0.2".parse().unwrap()));
        let calls = ops.calls();
        assert!(
            calls.last().unwrap().ends_with("via 172.17.0.1 eth1"),
            "{calls:?}"
        );
        // A start joins the default bridge first.
        let joins = b.start_networks(&r).unwrap();
        assert_eq!(joins[0].target.network_id, "");
        assert_eq!(joins[1].target.network_id, web.id);

        // Leaving the first network: the bridge's endpoint becomes the first, the
        // namespace stays.
        assert!(b.disconnect(&r, &web.id).await.unwrap());
        let first = b.endpoint("c1").unwrap();
        assert_eq!(first.network_id, "");
        assert!(b.extra_endpoints("c1").is_empty());
        assert!(!ops.calls().iter().any(|c| c.starts_with("netns- ")));
        // Leaving the last: loopback only in the kept namespace; a connect joins it
        // there with the next interface number.
        assert!(b.disconnect(&r, "").await.unwrap());
        assert!(b.endpoint("c1").is_none());
        assert!(!b.disconnect(&r, "").await.unwrap());
        b.connect(&r, "web").await.unwrap();
        // A number is never reused while the namespace lives (libnetwork's count).
        b.connect(&r, BRIDGE_KEY).await.unwrap();
        assert_eq!(b.extra_endpoints("c1")[0].ifname, "eth3");
        assert!(b.disconnect(&r, "").await.unwrap());
        b.connect(&r, BRIDGE_KEY).await.unwrap();
        assert_eq!(b.extra_endpoints("c1")[0].ifname, "eth4");
        let again = b.endpoint("c1").unwrap();
        assert_eq!(
            (again.ifname.as_str(), again.netns.clone()),
            ("eth2", first.netns.clone())
        );

        // The release takes everything, the namespace too.
        b.release(&r).await.unwrap();
        assert!(b.endpoints().is_empty());
        assert!(ops
            .calls()
            .iter()
            .any(|c| c == &format!("netns- {}", first.netns.display())));

        // A container disconnected from every network starts with a namespace of its
        // own (loopback only), which the release removes.
        let mut left = on("c2", "web", &[]);
        left.network_mode_left = true;
        let a = b.attach(&left).await.unwrap();
        let ns = a.netns_path.unwrap();
        assert!(ops.calls().contains(&format!("lo {ns}")));
        assert!(!a.embedded_dns);
        b.release(&left).await.unwrap();
        assert!(ops.calls().contains(&format!("netns- {ns}")));
        let state: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("data/network/bridge.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(state["bare"], json!({}));
    }

    #[tokio::test]
    async fn ipv6_networks_give_addresses_once_and_keep_them() {
        let dir = tempfile::tempdir().unwrap();
        let ops = Arc::new(RecordingOps::default());
        let b = bridge(ops.clone(), dir.path()).await;
        let req: user::CreateRequest = serde_json::from_value(json!({
            "Name": "v6", "EnableIPv6": true,
            "IPAM": {"Config": [{"Subnet": "fd00:db8::/64"}]}
        }))
        .unwrap();
        let n = b.create_network(&req).await.unwrap();
        assert!(
            ops.calls()
                .contains(&format!("bridge6 {} fd00:db8::1/64", n.bridge)),
            "{:?}",
            ops.calls()
        );
        // A second network on an overlapping IPv6 subnet: dockerd's 403.
        let dup: user::CreateRequest = serde_json::from_value(json!({
            "Name": "v6b", "EnableIPv6": true,
            "IPAM": {"Config": [{"Subnet": "fd00:db8::/80"}]}
        }))
        .unwrap();
        assert!(matches!(
            b.create_network(&dup).await,
            Err(NetworkError::Forbidden(_))
        ));
        let on = || HostConfig {
            network_mode: Some("v6".into()),
            ..Default::default()
        };
        let a = b.attach(&rec("c1", on())).await.unwrap();
        assert_eq!(a.address6, Some("fd00:db8::2".parse().unwrap()));
        let link = ops
            .calls()
            .into_iter()
            .rfind(|c| c.starts_with("link+ "))
            .unwrap();
        assert!(link.ends_with("fd00:db8::2/64 gw fd00:db8::1"), "{link}");
        // --ip6 of an address another endpoint has: refused, nothing kept.
        let mut r2 = rec("c2", on());
        r2.request = Some(ip6_request("v6", "fd00:db8::2"));
        let e = b.attach(&r2).await.unwrap_err();
        assert_eq!(e.to_string(), "Address already in use");
        r2.request = Some(ip6_request("v6", "fd00:db8::99"));
        let a2 = b.attach(&r2).await.unwrap();
        assert_eq!(a2.address6, Some("fd00:db8::99".parse().unwrap()));
        // Inspect and network inspect show the IPv6 half.
        let mut v = json!({"NetworkSettings": {"Networks": {"v6": {}}}});
        b.patch_inspect(&r2, &mut v);
        let ep = &v["NetworkSettings"]["Networks"]["v6"];
        assert_eq!(ep["GlobalIPv6Address"], "fd00:db8::99");
        assert_eq!(ep["GlobalIPv6PrefixLen"], 64);
        assert_eq!(ep["IPv6Gateway"], "fd00:db8::1");
        let c = b.containers_json(&n.id, &HashMap::new());
        assert_eq!(c["c2"]["IPv6Address"], "fd00:db8::99/64");
        // A restarted daemon keeps the addresses and the bridge's, and hands out the next.
        drop(b);
        let b = bridge(ops.clone(), dir.path()).await;
        assert_eq!(
            ops.calls()
                .iter()
                .filter(|c| c.starts_with("bridge6 "))
                .count(),
            2
        );
        let a3 = b.attach(&rec("c3", on())).await.unwrap();
        assert_eq!(a3.address6, Some("fd00:db8::3".parse().unwrap()));
        assert_eq!(
            b.endpoint("c2").and_then(|e| e.ip6),
            Some("fd00:db8::99".parse().unwrap())
        );
    }

    /// A create request whose `EndpointsConfig.<net>` asks for `--ip6`.
    fn ip6_request(net: &str, ip6: &str) -> ContainerCreateBody {
        serde_json::from_value(json!({
            "NetworkingConfig": {"EndpointsConfig": {net: {"IPAMConfig": {"IPv6Address": ip6}}}}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn failed_setup_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ops = Arc::new(RecordingOps::default());
        let b = bridge(ops.clone(), dir.path()).await;
        ops.fail.lock().unwrap().push("link+".into());
        assert!(b.attach(&rec("c1", HostConfig::default())).await.is_err());
        let calls = ops.calls();
        let n = calls.len();
        assert!(
            calls[n - 2].starts_with("link- veth") && calls[n - 1].starts_with("netns- "),
            "{calls:?}"
        );
        assert!(b.endpoints().is_empty());
        ops.fail.lock().unwrap().clear();

        // A port that cannot be bound: the start fails with dockerd's message, and the
        // endpoint is gone again.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port().to_string();
        let hc = HostConfig {
            port_bindings: Some(HashMap::from([(
                "80/tcp".to_string(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(port),
                }]),
            )])),
            ..Default::default()
        };
        let e = b.attach(&rec("c2", hc)).await.unwrap_err().to_string();
        assert!(
            e.contains("driver failed programming external connectivity"),
            "{e}"
        );
        assert!(e.contains("address already in use"), "{e}");
        assert!(b.endpoints().is_empty());
    }

    #[tokio::test]
    async fn other_modes_and_no_bridge_need_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ops = Arc::new(RecordingOps::default());
        let b = bridge(ops.clone(), dir.path()).await;
        let host = HostConfig {
            network_mode: Some("host".into()),
            ..Default::default()
        };
        // Nothing to set up; `host-gateway` still means the default bridge's gateway.
        let a = b.attach(&rec("h", host)).await.unwrap();
        assert_eq!((a.netns_path, a.address), (None, None));
        assert_eq!(a.host_gateway, Some("172.17.0.1".parse().unwrap()));
        let none = BridgeNetworks::start(
            BridgeConfig::parse("none", None).unwrap(),
            ops.clone(),
            &dir.path().join("d2"),
            &dir.path().join("e2"),
        )
        .await
        .unwrap();
        assert_eq!(
            none.attach(&rec("x", HostConfig::default())).await.unwrap(),
            NetworkAttachment::default()
        );
        let mut w = Vec::new();
        none.validate_create(&ContainerCreateBody::default(), &mut w)
            .unwrap();
        assert_eq!(w, [translate::linux::BRIDGE_WARNING]);
        let publish = ContainerCreateBody {
            host_config: Some(HostConfig {
                publish_all_ports: Some(true),
                ..Default::default()
            }),
            exposed_ports: Some(vec!["80/tcp".into()]),
            ..Default::default()
        };
        assert!(none.validate_create(&publish, &mut w).is_err());
        let mut w = Vec::new();
        b.validate_create(&publish, &mut w).unwrap();
        assert!(w.is_empty());
    }
}
