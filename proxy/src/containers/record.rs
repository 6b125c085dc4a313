//! The persisted record of one container: what `docker inspect` shows and what a restart of
//! dockbridge needs to pick the container up again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use spec::api::models::{ContainerConfig, HostConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
    /// Running or paused: a live task exists.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
    /// Docker's `State.Running`: true while paused and while waiting to be restarted by
    /// its policy (moby treats a restarting container as running for rm/stop/kill).
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// The OS a container runs: picks its backend, its spec translation and how its
/// filesystem is reached. Stored as Docker's `Platform` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    #[default]
    Linux,
    Windows,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Linux => "linux",
            Platform::Windows => "windows",
        }
    }
    /// From an image config's `os` (empty means Linux, as in Docker).
    pub fn from_os(os: &str) -> Self {
        if os.eq_ignore_ascii_case("windows") {
            Platform::Windows
        } else {
            Platform::Linux
        }
    }
}

/// Where a container's root filesystem comes from, by the backend that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsKind {
    /// A containerd snapshot (Linux containers; Windows containers on containerd, whose
    /// `windows` snapshotter's mounts name the layer folders for the runhcs shim).
    Snapshot,
    /// Layer folders in the spec over a scratch layer dockbridge made (the HCS backend).
    LayerFolders,
}

impl RootfsKind {
    pub fn of_backend(backend: &str) -> Self {
        if backend == "hcs" {
            RootfsKind::LayerFolders
        } else {
            RootfsKind::Snapshot
        }
    }
}

/// The backend that runs an image's containers here: Windows images on HCS when it is
/// live, else on containerd when containerd runs Windows containers (dockbridge on Windows:
/// containerd's runhcs shim); Linux images on containerd.
pub fn backend_for(platform: Platform, hcs_live: bool, windows_host: bool) -> &'static str {
    match platform {
        Platform::Windows if hcs_live || !windows_host => "hcs",
        Platform::Windows | Platform::Linux => "containerd",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: u32,
    pub exit_code: i64,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `State.Health`: present once a run with a healthcheck started.
    #[serde(default)]
    pub health: Option<super::health::Health>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: None,
            finished_at: None,
            health: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// With the leading slash, as Docker stores it.
    pub name: String,
    pub created: DateTime<Utc>,
    /// The image reference as the client gave it (`Config.Image`).
    pub image_ref: String,
    /// `sha256:…` of the image config.
    pub image_id: String,
    /// The effective config (request merged with the image config).
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub state: State,
    /// Which backend owns the container (`containerd`, `hcs`).
    pub backend: String,
    pub platform: Platform,
    pub restart_count: i64,
    /// Snapshot key of the rootfs (the container id for the containerd backend).
    pub rootfs_key: String,
    pub snapshotter: String,
    /// Path and args of the init process as `docker inspect` shows them.
    pub path: String,
    pub args: Vec<String>,
    /// Set once a user asked to stop it, so an exit is not treated as a crash.
    #[serde(default)]
    pub has_been_manually_stopped: bool,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The init process of the last start, as sent to the runtime: execs inherit from it.
    #[serde(default)]
    pub init_process: Option<serde_json::Value>,
    /// The create request as the client sent it (minus what `rename` etc. change): specs
    /// are translated from it, not from the merged config, because whether a command came
    /// from the image or from the user decides how a Windows command line is built.
    #[serde(default)]
    pub request: Option<spec::api::models::ContainerCreateBody>,
    /// The volumes mounted, created (or found) at create.
    #[serde(default)]
    pub volumes: Vec<crate::volumes::VolumeMount>,
    /// Host-path binds taken over from `--volumes-from` containers (`src:dst:ro|rw`).
    #[serde(default)]
    pub inherited_binds: Vec<String>,
    /// `--network container:NAME`: the ID of the container whose `hosts`, `hostname` and
    /// `resolv.conf` the last start took (the joined one's, or the one it joined).
    #[serde(default)]
    pub network_donor: Option<String>,
    /// `network disconnect` took the container off the network its `NetworkMode` names:
    /// the mode stays as it was (dockerd keeps it), later starts do not join it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub network_mode_left: bool,
}

/// The container a `--network container:NAME` start joins, as that start found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkDonor {
    /// Whose `hosts`, `hostname` and `resolv.conf` files the joining container uses.
    pub id: String,
    pub pid: u32,
    /// Its `Config.Hostname`/`Domainname`: dockerd gives them to the joining container.
    pub hostname: String,
    pub domainname: Option<String>,
}

#[cfg(test)]
mod backend_choice_tests {
    use super::*;

    #[test]
    fn windows_images_run_on_hcs_when_live_else_on_containerd_on_windows() {
        assert_eq!(backend_for(Platform::Linux, true, false), "containerd");
        assert_eq!(backend_for(Platform::Linux, true, true), "containerd");
        assert_eq!(backend_for(Platform::Windows, true, true), "hcs");
        assert_eq!(backend_for(Platform::Windows, true, false), "hcs");
        // containerd runs Windows containers only on Windows (runhcs).
        assert_eq!(backend_for(Platform::Windows, false, true), "containerd");
        assert_eq!(backend_for(Platform::Windows, false, false), "hcs");
        assert_eq!(RootfsKind::of_backend("hcs"), RootfsKind::LayerFolders);
        assert_eq!(RootfsKind::of_backend("containerd"), RootfsKind::Snapshot);
    }
}
