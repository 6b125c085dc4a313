//! The one runtime interface behind which every backend sits.
//!
//! moby split libcontainerd into a "remote" client (containerd over gRPC) and a "local" one
//! (HCS in-process) behind one interface; dockbridge does the same. The HTTP layer and the
//! container manager only ever see [`Backend`]; each container records which backend owns it.
//!
//! Stdio is handed back as plain async byte streams so the container manager can write
//! json-file logs and fan output out to attachers without knowing whether the bytes come from
//! a FIFO the containerd shim writes or an HCS pipe handle.

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;

pub type BoxRead = Pin<Box<dyn AsyncRead + Send>>;
pub type BoxWrite = Pin<Box<dyn AsyncWrite + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unavailable(String),
    /// This backend cannot do what dockerd does here (e.g. host filesystem access to a
    /// Windows container).
    #[error("{0}")]
    NotImplemented(String),
    /// The runtime could not start the process (missing executable, no permission…):
    /// `exit_code` is what Docker records for it (127, 126, or 128).
    #[error("{message}")]
    ProcessStart { message: String, exit_code: i64 },
    #[error("{context}: {message}")]
    Runtime { context: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl BackendError {
    pub fn runtime(context: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Runtime {
            context: context.into(),
            message: message.to_string(),
        }
    }
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl crate::error_kind::Kinded for BackendError {
    fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind as K;
        match self {
            Self::NotFound(_) => K::NotFound,
            Self::Conflict(_) => K::Conflict,
            Self::InvalidArgument(_) => K::InvalidParameter,
            Self::Unavailable(_) => K::Unavailable,
            Self::NotImplemented(_) => K::NotImplemented,
            // dockerd answers a process that cannot start with 400 (`docker run` exits 127
            // or 126 from the message).
            Self::ProcessStart { .. } => K::InvalidParameter,
            Self::Runtime { .. } | Self::Io { .. } => K::Internal,
        }
    }
}

/// The exit code Docker records when the runtime could not start a process, from the
/// runtime's message (moby reads runc's message the same way: it is all the OCI runtime
/// gives).
pub fn start_exit_code(message: &str) -> i64 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") || message.contains("exec format error") {
        126
    } else {
        128
    }
}

pub type Result<T, E = BackendError> = std::result::Result<T, E>;

/// Which stdio streams a process gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StdioConfig {
    pub stdin: bool,
    /// With a terminal, stderr is merged into stdout (there is no separate stream).
    pub terminal: bool,
}

/// The process side of the stdio streams, for the daemon to pump.
#[derive(Default)]
pub struct ProcessIo {
    pub stdin: Option<BoxWrite>,
    pub stdout: Option<BoxRead>,
    pub stderr: Option<BoxRead>,
}

/// Where the root filesystem of a new container comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rootfs {
    /// A containerd snapshot prepared by the image store (key and snapshotter).
    Snapshot { snapshotter: String, key: String },
    /// Described by the spec itself (Windows `layerFolders`).
    InSpec,
}

/// Everything a backend needs to create a container and its (not yet started) init process.
pub struct CreateRequest {
    pub id: String,
    /// The OCI runtime spec, exactly as translated.
    pub spec: oci_spec::runtime::Spec,
    pub rootfs: Rootfs,
    pub stdio: StdioConfig,
    pub labels: std::collections::HashMap<String, String>,
}

/// A process started inside an existing container.
pub struct ExecRequest {
    pub container_id: String,
    pub exec_id: String,
    pub process: oci_spec::runtime::Process,
    pub stdio: StdioConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Created,
    Running,
    Paused,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    pub status: TaskStatus,
    pub pid: u32,
    pub exit_code: Option<u32>,
    pub exited_at: Option<SystemTime>,
}

/// What the runtime reports on its own; the translate crate maps these into Docker events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// A process exited. `exec_id` is `None` for the init process.
    Exit {
        container_id: String,
        exec_id: Option<String>,
        pid: u32,
        exit_code: u32,
        exited_at: SystemTime,
    },
    Oom {
        container_id: String,
    },
    Paused {
        container_id: String,
    },
    Resumed {
        container_id: String,
    },
    /// The event stream broke and came back: consumers reconcile against [`Backend::state`].
    Reconnected,
}

/// Resource usage, as much as the runtime reports (zero where it reports nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub read: Option<SystemTime>,
    pub cpu_total_ns: u64,
    pub cpu_kernel_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_per_cpu_ns: Vec<u64>,
    /// CFS throttling: periods, throttled periods, throttled time (ns).
    pub throttling: [u64; 3],
    pub memory_usage: u64,
    pub memory_max_usage: u64,
    pub memory_failcnt: u64,
    pub memory_limit: u64,
    /// `memory.stat` as dockerd names its keys (`cache`, `rss`, `total_rss` …).
    pub memory_stats: std::collections::BTreeMap<String, u64>,
    pub pids: u64,
    pub pids_limit: u64,
    /// Block I/O by dockerd's key (`io_service_bytes_recursive` …).
    pub blkio: std::collections::BTreeMap<&'static str, Vec<BlkioEntry>>,
}

/// One `blkio_stats` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// `containerd` or `hcs`: persisted with each container.
    fn name(&self) -> &'static str;
    /// Creates the runtime container and its init process, not started.
    async fn create(&self, req: CreateRequest) -> Result<ProcessIo>;
    /// Starts the init process; returns its pid.
    async fn start(&self, id: &str) -> Result<u32>;
    /// Creates an exec process, not started.
    async fn exec(&self, req: ExecRequest) -> Result<ProcessIo>;
    async fn start_exec(&self, id: &str, exec_id: &str) -> Result<u32>;
    async fn signal(&self, id: &str, exec_id: Option<&str>, signal: u32) -> Result<()>;
    async fn resize(&self, id: &str, exec_id: Option<&str>, width: u32, height: u32) -> Result<()>;
    /// Closes the process's stdin (half-close from the client).
    async fn close_stdin(&self, id: &str, exec_id: Option<&str>) -> Result<()>;
    async fn pause(&self, id: &str) -> Result<()>;
    async fn resume(&self, id: &str) -> Result<()>;
    /// The init task's state; `None` when the runtime has no task for `id`.
    async fn state(&self, id: &str) -> Result<Option<TaskState>>;
    /// An exec process's state; `None` when the runtime does not know it (any more).
    async fn exec_state(&self, id: &str, exec_id: &str) -> Result<Option<TaskState>>;
    async fn stats(&self, id: &str) -> Result<Stats>;
    /// Removes the task and the runtime container; idempotent.
    async fn delete(&self, id: &str) -> Result<()>;
    /// Re-opens the stdio of a task that survived a daemon restart.
    async fn reattach(&self, id: &str, stdio: StdioConfig) -> Result<ProcessIo>;
    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent>;
    /// Changes a running container's cgroup resources (`docker update`).
    async fn update_resources(
        &self,
        id: &str,
        resources: oci_spec::runtime::LinuxResources,
    ) -> Result<()>;
    /// The processes of a running container, host pids (`docker top`).
    async fn pids(&self, id: &str) -> Result<Vec<u32>>;
    /// Whether the daemon can reach this backend's container filesystems on the host
    /// (snapshots it can mount for cp, diff, export, commit, sizes): `Err` says why not.
    fn host_filesystem(&self) -> Result<()>;
    /// Whether this backend can run containers at all (a containerd on another host
    /// cannot: see `containerd/locality.rs`); `Err` says why not.
    fn can_run(&self) -> Result<()> {
        Ok(())
    }
    /// The daemon is shutting down. containerd's containers outlive it (their shims keep
    /// them, as with dockerd's live-restore): nothing to do. An in-process runtime (HCS)
    /// stops its containers and closes every handle.
    async fn shutdown(&self) {}
}
