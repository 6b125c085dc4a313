//! The daemon's shared state: what every handler reaches through `State<AppState>`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::containerd::Containerd;
use crate::containers::Manager;
use crate::events::EventBus;
use crate::host::HostInfo;
use crate::images::ImageStore;
use crate::registry::Registries;

pub struct Daemon {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// `None` in an HCS-only daemon (`--containerd none`).
    pub containerd: Option<Containerd>,
    pub images: Arc<ImageStore>,
    pub containers: Arc<Manager>,
    pub events: Arc<EventBus>,
    pub host: Arc<HostInfo>,
    pub volumes: Arc<crate::volumes::VolumeStore>,
    /// The default bridge network (endpoints, published ports).
    pub networks: Arc<crate::networks::bridge::BridgeNetworks>,
    /// Windows containers' `nat` network (HNS), when the HCS backend has it.
    pub hns: Option<Arc<crate::networks::hns::HnsNetworks>>,
    /// Registry access (pull, push, login).
    pub registries: Arc<Registries>,
    /// How `docker info` names the seccomp profile: `default`, a path, or `unconfined`.
    pub seccomp: String,
    /// Builds in progress (`POST /build/cancel`).
    pub builds: Arc<crate::build::Builds>,
    /// The largest build context accepted, unpacked (`--max-build-context`).
    pub build_context_limit: u64,
    /// A stable ID for `/info`, kept under the data root.
    pub id: String,
    /// Request body, concurrency and header-read limits of the API listeners.
    pub limits: crate::server::limits::Limits,
}
