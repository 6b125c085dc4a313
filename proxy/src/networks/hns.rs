//! The HNS driver: Windows containers on the `nat` network through the Host Network
//! Service (`hcs::network`). At start the daemon finds (or creates) `nat` and deletes the
//! endpoints a previous run left (HCS containers do not survive the daemon); each run of a
//! container on nat gets an HNS endpoint with its port mappings, deleted when the run ends,
//! when its start fails and when the container is removed.
//!
//! [`PlatformNetworks`] is the container manager's network provider when both platforms
//! can run: Linux containers go to the bridge driver, Windows ones here. The pure parts
//! (modes, ports, inspect) are [`super::windows`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use hcs::network::{self as hcn, Hns, HostComputeNetwork};
use serde_json::Value;

use super::ports::{self, Proto};
use super::windows::{self, Attached, Mode};
use super::NetworkError;
use crate::containers::providers::{NetworkAttachment, NetworkProvider};
use crate::containers::record::{Platform, Record};
use crate::containers::{ContainerError, Result};

pub struct HnsNetworks {
    hns: Arc<Hns>,
    nat: HostComputeNetwork,
    owner: String,
    endpoints: Mutex<HashMap<String, Attached>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn hns_error(e: hcn::NetworkError) -> ContainerError {
    ContainerError::Internal(format!("HNS: {e}"))
}

impl HnsNetworks {
    /// Finds or creates `nat` and removes this daemon's leftover endpoints (named
    /// `<owner>-<container>`).
    pub async fn start(hns: Arc<Hns>, owner: &str) -> anyhow::Result<Self> {
        let h = hns.clone();
        let prefix = windows::endpoint_name(owner, "");
        let (nat, swept) = tokio::task::spawn_blocking(move || {
            let nat = h.find_or_create_network(&hcn::nat_network(windows::NAT))?;
            let mut swept = 0;
            for e in h.endpoints()? {
                if e.name.starts_with(&prefix) && h.delete_endpoint(&e.id).is_ok() {
                    swept += 1;
                }
            }
            Ok::<_, hcn::NetworkError>((nat, swept))
        })
        .await??;
        if swept > 0 {
            tracing::info!(swept, "removed HNS endpoints left by a previous run");
        }
        tracing::info!(network = %nat.id, subnet = ?nat.subnet(), "HNS nat network");
        Ok(Self {
            hns,
            nat,
            owner: owner.to_string(),
            endpoints: Mutex::new(HashMap::new()),
        })
    }

    pub fn hns(&self) -> &Arc<Hns> {
        &self.hns
    }

    /// `nat`'s subnet and gateway, for `docker network inspect nat`.
    pub fn nat_subnet(&self) -> Option<(String, Option<String>)> {
        self.nat
            .subnet()
            .map(|(s, g)| (s.to_string(), g.map(str::to_string)))
    }

    pub fn endpoint(&self, container_id: &str) -> Option<Attached> {
        lock(&self.endpoints).get(container_id).cloned()
    }

    /// The containers on nat now, for `docker network inspect nat`.
    pub fn attached(&self) -> Vec<(String, Attached)> {
        let mut v: Vec<_> = lock(&self.endpoints)
            .iter()
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Fills inspect's `NetworkSettings` of a Windows container.
    pub fn patch_inspect(&self, rec: &Record, v: &mut Value) {
        if rec.platform != Platform::Windows {
            return;
        }
        let exposed: Vec<String> = rec.config.exposed_ports.clone().unwrap_or_default();
        windows::patch_inspect(
            v,
            &exposed,
            rec.state.status.is_running(),
            rec.state.started_at.is_some(),
            self.endpoint(&rec.id).as_ref(),
        );
    }

    /// The `Ports` of `docker ps` for a Windows container.
    pub fn patch_summary(&self, rec: &Record, s: &mut spec::api::models::ContainerSummary) {
        if rec.platform != Platform::Windows {
            return;
        }
        let exposed: Vec<String> = rec.config.exposed_ports.clone().unwrap_or_default();
        let ep = self.endpoint(&rec.id);
        let bound = ep.as_ref().map(|e| e.ports.clone()).unwrap_or_default();
        s.ports = Some(ports::summary(&exposed, &bound));
        if let (Some(ep), Some(b)) = (
            ep,
            s.network_settings
                .as_mut()
                .and_then(|n| n.networks.as_mut())
                .and_then(|n| n.get_mut(windows::NAT)),
        ) {
            b.network_id = Some(super::network_id(windows::NAT));
            b.endpoint_id = Some(ep.endpoint_id());
            b.gateway = Some(ep.gateway.clone());
            b.ip_address = Some(ep.ip.clone());
            b.ip_prefix_len = Some(i64::from(ep.prefix));
            b.mac_address = Some(ep.mac.clone());
        }
    }

    /// Deletes every endpoint this daemon holds (its compute systems are gone).
    pub async fn shutdown(&self) {
        let all: Vec<Attached> = lock(&self.endpoints).drain().map(|(_, a)| a).collect();
        let hns = self.hns.clone();
        let r = tokio::task::spawn_blocking(move || {
            for a in all {
                if let Err(e) = hns.delete_endpoint(&a.hns_id) {
                    if !e.is_not_found() {
                        tracing::warn!(endpoint = %a.hns_id, "deleting an HNS endpoint: {e}");
                    }
                }
            }
        })
        .await;
        if let Err(e) = r {
            tracing::warn!("deleting HNS endpoints: {e}");
        }
    }

    fn taken(&self, except: &str) -> BTreeSet<(Proto, u16)> {
        lock(&self.endpoints)
            .iter()
            .filter(|(k, _)| k.as_str() != except)
            .flat_map(|(_, a)| a.ports.iter().map(|b| (b.container.proto, b.host_port)))
            .collect()
    }
}

fn exposed_of(rec: &Record) -> Vec<String> {
    rec.config.exposed_ports.clone().unwrap_or_default()
}

#[async_trait]
impl NetworkProvider for HnsNetworks {
    async fn attach(&self, rec: &Record) -> Result<NetworkAttachment> {
        if windows::mode(&rec.host_config).map_err(net_error)? == Mode::None {
            return Ok(NetworkAttachment::default());
        }
        // A run's endpoint goes with the run; one left by a run that did not release it
        // (a crash between start and exit) goes now.
        self.release(rec).await?;
        let reqs = ports::requests(&rec.host_config, &exposed_of(rec))
            .map_err(|e| ContainerError::InvalidParameter(e.to_string()))?;
        let (maps, bound) = windows::plan_ports(&reqs, &self.taken(&rec.id)).map_err(net_error)?;
        let doc = hcn::endpoint(
            &self.nat.id,
            &windows::endpoint_name(&self.owner, &rec.id),
            &maps,
            rec.host_config.dns.as_deref().unwrap_or_default(),
            rec.host_config.dns_search.as_deref().unwrap_or_default(),
        );
        let hns = self.hns.clone();
        let ep = tokio::task::spawn_blocking(move || hns.create_endpoint(&doc))
            .await
            .map_err(|e| ContainerError::Internal(format!("HNS: {e}")))?
            .map_err(hns_error)?;
        let attached = Attached::from_endpoint(&ep, bound);
        let address = attached.ip.parse().ok();
        lock(&self.endpoints).insert(rec.id.clone(), attached);
        Ok(NetworkAttachment {
            address,
            windows_endpoints: vec![ep.id],
            ..NetworkAttachment::default()
        })
    }

    async fn release(&self, rec: &Record) -> Result<()> {
        let Some(a) = lock(&self.endpoints).remove(&rec.id) else {
            return Ok(());
        };
        let hns = self.hns.clone();
        let r = tokio::task::spawn_blocking(move || hns.delete_endpoint(&a.hns_id))
            .await
            .map_err(|e| ContainerError::Internal(format!("HNS: {e}")))?;
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(hns_error(e)),
        }
    }
}

pub fn net_error(e: NetworkError) -> ContainerError {
    match e {
        NetworkError::NotFound(m) => ContainerError::NotFound(m),
        NetworkError::Conflict(m) => ContainerError::Conflict(m),
        NetworkError::InvalidParameter(m) | NetworkError::Forbidden(m) => {
            ContainerError::InvalidParameter(m)
        }
        NetworkError::Internal(m) => ContainerError::Internal(m),
    }
}

/// The manager's provider on a daemon that can run Windows containers: Linux records go to
/// `linux` (the bridge driver), Windows records to HNS (`None`: `--network none` only).
pub struct PlatformNetworks {
    pub linux: Arc<dyn NetworkProvider>,
    pub windows: Option<Arc<HnsNetworks>>,
}

impl PlatformNetworks {
    fn windows(&self) -> Result<&Arc<HnsNetworks>> {
        self.windows.as_ref().ok_or_else(|| {
            ContainerError::InvalidParameter(
                "networking of Windows containers needs the Host Network Service: use --network none"
                    .into(),
            )
        })
    }
}

#[async_trait]
impl NetworkProvider for PlatformNetworks {
    fn validate_create(
        &self,
        body: &spec::api::models::ContainerCreateBody,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        self.linux.validate_create(body, warnings)
    }

    fn windows_networking(&self) -> bool {
        self.windows.is_some()
    }

    async fn attach(&self, rec: &Record) -> Result<NetworkAttachment> {
        match rec.platform {
            Platform::Linux => self.linux.attach(rec).await,
            Platform::Windows => {
                if windows::mode(&rec.host_config).map_err(net_error)? == Mode::None {
                    return Ok(NetworkAttachment::default());
                }
                self.windows()?.attach(rec).await
            }
        }
    }

    async fn release(&self, rec: &Record) -> Result<()> {
        match (rec.platform, &self.windows) {
            (Platform::Linux, _) => self.linux.release(rec).await,
            (Platform::Windows, Some(w)) => w.release(rec).await,
            (Platform::Windows, None) => Ok(()),
        }
    }

    async fn remove(&self, rec: &Record) -> Result<()> {
        match (rec.platform, &self.windows) {
            (Platform::Linux, _) => self.linux.remove(rec).await,
            (Platform::Windows, Some(w)) => w.remove(rec).await,
            (Platform::Windows, None) => Ok(()),
        }
    }

    async fn connect(&self, rec: &Record, network: &str) -> Result<()> {
        match rec.platform {
            Platform::Linux => self.linux.connect(rec, network).await,
            Platform::Windows => Err(ContainerError::InvalidParameter(format!(
                "connecting a Windows container to network {network} is not supported by dockbridge"
            ))),
        }
    }

    async fn disconnect(&self, rec: &Record, network_id: &str) -> Result<bool> {
        match rec.platform {
            Platform::Linux => self.linux.disconnect(rec, network_id).await,
            Platform::Windows => Ok(false),
        }
    }

    fn bridge_address(&self, container_id: &str) -> Option<std::net::IpAddr> {
        self.linux.bridge_address(container_id)
    }
}
