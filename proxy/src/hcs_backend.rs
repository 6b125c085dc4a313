//! The HCS backend: [`Backend`] on top of the in-process HCS adapter (`hcs::adapter`).
//!
//! Differences from containerd that this module absorbs:
//! - HCS has no "created but not started" process: HcsCreateProcess starts it. So `create`
//!   creates and starts the compute system (as moby's local client did) and hands out the
//!   stdio streams at once; the init process is created by `start`, which wires the same
//!   streams to the process's pipe handles. Execs work the same way (`exec` → `start_exec`).
//! - The root filesystem comes from the spec's `windows.layerFolders` ([`Rootfs::InSpec`]).
//! - Exit codes: HCS reports a Windows exit code (a DWORD); the adapter's -1 ("could not be
//!   read") arrives as `u32::MAX`, i.e. the same bits.
//! - The adapter also reports the container's creation; [`RuntimeEvent`] has no variant for
//!   it (the daemon emits Docker's `create` at the API layer for every backend), so it is
//!   logged here, not forwarded.
//! - HCS containers do not survive the daemon (their documents ask HCS to terminate them
//!   when the last handle closes), so `reattach` finds nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use hcs::adapter::{self, Adapter, AdapterConfig, ProcessStdio};
use hcs::document::{self, DocumentOptions, StdioPipes};
use hcs::network::{Guid, Hns};
use hcs::schema::{ComputeSystem, ProcessParameters};
use tokio::io::DuplexStream;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::backend::{
    Backend, BackendError, CreateRequest, ExecRequest, ProcessIo, Result, Rootfs, RuntimeEvent,
    Stats, StdioConfig, TaskState, TaskStatus,
};

/// Buffer of each stdio stream between the daemon and the HCS pipe pumps.
const STDIO_BUFFER: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct HcsBackendConfig {
    /// The HCS library (`--hcs-library`); `None` loads computecore.dll (Windows only).
    pub library: Option<PathBuf>,
    /// The `Owner` HCS records for every compute system.
    pub owner: String,
    /// The utility VM that hosts Hyper-V isolated containers, when there is one.
    pub hosting_system_id: Option<String>,
    /// Bound on each HCS operation.
    pub timeout: Duration,
}

impl Default for HcsBackendConfig {
    fn default() -> Self {
        Self {
            library: None,
            owner: "dockbridge".into(),
            hosting_system_id: None,
            timeout: AdapterConfig::default().timeout,
        }
    }
}

/// A process whose streams were handed out but which HCS has not created yet.
struct Pending {
    params: Option<ProcessParameters>,
    stdio: ProcessStdio,
}

type Key = (String, Option<String>);

pub struct HcsBackend {
    adapter: Adapter,
    options: DocumentOptions,
    /// HNS, when Windows containers can have endpoints: each compute system with endpoints
    /// joins an HNS namespace holding them, removed with the system.
    hns: Option<Arc<Hns>>,
    namespaces: Mutex<HashMap<String, Guid>>,
    /// Where layer IDs come from (`NameToGuid`).
    storage: Option<Arc<hcs::storage::Storage>>,
    pending: Mutex<HashMap<Key, Pending>>,
    events: broadcast::Sender<RuntimeEvent>,
    forwarder: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn map_err(context: &str, e: hcs::Error) -> BackendError {
    match e {
        hcs::Error::NotFound(m) => BackendError::NotFound(m),
        hcs::Error::Conflict(m) => BackendError::Conflict(m),
        hcs::Error::InvalidArgument(m) => BackendError::InvalidArgument(m),
        hcs::Error::Document(d) => BackendError::InvalidArgument(d.to_string()),
        hcs::Error::NotAvailable(l) => BackendError::Unavailable(l.to_string()),
        other => BackendError::runtime(context, other),
    }
}

impl HcsBackend {
    /// Loads the HCS library and starts forwarding runtime events. Needs a tokio runtime.
    pub fn new(config: HcsBackendConfig) -> Result<Self> {
        let adapter = Adapter::load(
            config.library.as_deref(),
            AdapterConfig {
                timeout: config.timeout,
                ..AdapterConfig::default()
            },
        )
        .map_err(|e| map_err("loading HCS", e))?;
        Self::with_adapter(
            adapter,
            DocumentOptions {
                owner: config.owner,
                hosting_system_id: config.hosting_system_id,
                ..DocumentOptions::default()
            },
        )
        .map(|mut b| {
            // Layer IDs come from vmcompute's NameToGuid, as the Windows graph driver's;
            // without it (no storage library) the document's stand-in IDs are used.
            match hcs::storage::Storage::load(config.library.as_deref()) {
                Ok(s) => b.storage = Some(Arc::new(s)),
                Err(e) => tracing::warn!("no NameToGuid for layer IDs: {e}"),
            }
            b
        })
    }

    pub fn with_adapter(adapter: Adapter, options: DocumentOptions) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            BackendError::Unavailable(format!("the HCS backend needs a tokio runtime: {e}"))
        })?;
        let (events, _) = broadcast::channel(1024);
        let forwarder = runtime.spawn(forward(adapter.subscribe(), events.clone()));
        Ok(Self {
            adapter,
            options,
            hns: None,
            namespaces: Mutex::new(HashMap::new()),
            storage: None,
            pending: Mutex::new(HashMap::new()),
            events,
            forwarder,
        })
    }

    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }

    /// The document options of one container: the image layers' IDs by `NameToGuid`.
    async fn document_options(&self, spec: &oci_spec::runtime::Spec) -> Result<DocumentOptions> {
        let mut options = self.options.clone();
        let Some(storage) = self.storage.clone() else {
            return Ok(options);
        };
        let mut folders: Vec<String> = spec
            .windows()
            .as_ref()
            .and_then(|w| w.layer_folders().clone())
            .unwrap_or_default();
        // The last folder is the scratch layer, which has no layer ID in the document.
        folders.pop();
        let ids = tokio::task::spawn_blocking(move || {
            folders
                .into_iter()
                .map(|f| {
                    let id = storage.layer_id(std::path::Path::new(&windows_name(&f)))?;
                    Ok((f, id))
                })
                .collect::<std::result::Result<Vec<_>, hcs::storage::StorageError>>()
        })
        .await
        .map_err(|e| BackendError::runtime("layer IDs", e))?
        .map_err(|e| BackendError::runtime("layer IDs", e))?;
        options.layer_ids.extend(ids);
        Ok(options)
    }

    /// Gives the backend HNS: compute systems then join a namespace with their endpoints.
    pub fn set_hns(&mut self, hns: Arc<Hns>) {
        self.hns = Some(hns);
    }

    /// hcsshim's way for a process-isolated container on schema 2: the spec's endpoints go
    /// into an HNS namespace (named after the container, so a leftover of a crashed run is
    /// replaced) that the document's `Networking.Namespace` names.
    async fn join_namespace(&self, id: &str, doc: &mut ComputeSystem) -> Result<Option<Guid>> {
        let Some(net) = doc
            .container
            .as_mut()
            .and_then(|c| c.networking.as_mut())
            .filter(|n| !n.network_adapters.is_empty())
        else {
            return Ok(None);
        };
        let Some(hns) = self.hns.clone() else {
            return Err(BackendError::InvalidArgument(
                "the container has HNS endpoints but this daemon has no HNS".into(),
            ));
        };
        let ns = namespace_id(id);
        let endpoints = std::mem::take(&mut net.network_adapters);
        net.namespace = ns.to_string();
        tokio::task::spawn_blocking(move || {
            let _ = hns.delete_namespace(&ns);
            hns.create_namespace(&ns, &endpoints)
        })
        .await
        .map_err(|e| BackendError::runtime("creating the HNS namespace", e))?
        .map_err(|e| BackendError::runtime("creating the HNS namespace", e))?;
        lock(&self.namespaces).insert(id.to_string(), ns);
        Ok(Some(ns))
    }

    /// Removes the container's HNS namespace, if it has one; a missing one is fine. One
    /// that a crashed daemon left (not in the map) is found by its name-based ID, so the
    /// restarted daemon's clean-up of the container removes it too.
    async fn leave_namespace(&self, id: &str) {
        let Some(hns) = self.hns.clone() else {
            return;
        };
        let ns = lock(&self.namespaces)
            .remove(id)
            .unwrap_or_else(|| namespace_id(id));
        let r = tokio::task::spawn_blocking(move || hns.delete_namespace(&ns)).await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.is_not_found() => {}
            Ok(Err(e)) => tracing::warn!(container = %id, "deleting the HNS namespace: {e}"),
            Err(e) => tracing::warn!(container = %id, "deleting the HNS namespace: {e}"),
        }
    }

    fn park(&self, key: Key, params: Option<ProcessParameters>, stdio: StdioConfig) -> ProcessIo {
        let (stdio, io) = streams(stdio);
        lock(&self.pending).insert(key, Pending { params, stdio });
        io
    }
}

impl Drop for HcsBackend {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

/// The HNS namespace of a container: named after it, so it can be found again.
fn namespace_id(container_id: &str) -> Guid {
    Guid::from_name(&format!("dockbridge namespace {container_id}"))
}

/// A folder's last component whichever separator the path uses (Windows paths name the
/// layers even when the daemon runs elsewhere against the simulator).
fn windows_name(folder: &str) -> String {
    folder
        .rsplit(['\\', '/'])
        .find(|s| !s.is_empty())
        .unwrap_or(folder)
        .to_string()
}

/// Translates the adapter's events; a lagging receiver becomes `Reconnected` so consumers
/// reconcile through `state`.
async fn forward(mut rx: broadcast::Receiver<adapter::Event>, tx: broadcast::Sender<RuntimeEvent>) {
    loop {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let _ = tx.send(RuntimeEvent::Reconnected);
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let out = match event {
            adapter::Event::Created { id } => {
                tracing::debug!(%id, "hcs: container created");
                continue;
            }
            adapter::Event::Exited {
                id,
                exec_id,
                pid,
                exit_code,
                exited_at,
            } => RuntimeEvent::Exit {
                container_id: id,
                exec_id,
                pid,
                exit_code: exit_code as u32,
                exited_at,
            },
            adapter::Event::Paused { id } => RuntimeEvent::Paused { container_id: id },
            adapter::Event::Resumed { id } => RuntimeEvent::Resumed { container_id: id },
        };
        // No subscriber is not an error.
        let _ = tx.send(out);
    }
}

/// A pair of pipes per stream: the daemon's ends go into [`ProcessIo`], the adapter's ends
/// are kept until the process exists. With a terminal there is no separate stderr.
fn streams(cfg: StdioConfig) -> (ProcessStdio, ProcessIo) {
    let pair = || -> (DuplexStream, DuplexStream) { tokio::io::duplex(STDIO_BUFFER) };
    let (out_daemon, out_adapter) = pair();
    let (err_daemon, err_adapter) = if cfg.terminal {
        (None, None)
    } else {
        let (d, a) = pair();
        (Some(d), Some(a))
    };
    let (in_daemon, in_adapter) = if cfg.stdin {
        let (d, a) = pair();
        (Some(d), Some(a))
    } else {
        (None, None)
    };
    (
        ProcessStdio {
            stdin: in_adapter.map(|s| Box::pin(s) as adapter::BoxRead),
            stdout: Some(Box::pin(out_adapter)),
            stderr: err_adapter.map(|s| Box::pin(s) as adapter::BoxWrite),
        },
        ProcessIo {
            stdin: in_daemon.map(|s| Box::pin(s) as crate::backend::BoxWrite),
            stdout: Some(Box::pin(out_daemon)),
            stderr: err_daemon.map(|s| Box::pin(s) as crate::backend::BoxRead),
        },
    )
}

fn parameters(
    process: &oci_spec::runtime::Process,
    stdio: StdioConfig,
) -> Result<ProcessParameters> {
    let mut params = document::process_parameters(process, StdioPipes { stdin: stdio.stdin })
        .map_err(|e| BackendError::InvalidArgument(e.to_string()))?;
    // The daemon's stdio choice is authoritative: a terminal merges stderr into stdout.
    params.emulate_console = stdio.terminal;
    params.create_std_err_pipe = !stdio.terminal;
    if !stdio.terminal {
        params.console_size.clear();
    }
    Ok(params)
}

#[async_trait]
impl Backend for HcsBackend {
    fn name(&self) -> &'static str {
        "hcs"
    }

    async fn create(&self, req: CreateRequest) -> Result<ProcessIo> {
        if req.rootfs != Rootfs::InSpec {
            return Err(BackendError::InvalidArgument(
                "the HCS backend takes the root filesystem from windows.layerFolders".into(),
            ));
        }
        let options = self.document_options(&req.spec).await?;
        let mut doc = document::compute_system(&req.spec, &options)
            .map_err(|e| BackendError::InvalidArgument(e.to_string()))?;
        let process =
            req.spec.process().as_ref().ok_or_else(|| {
                BackendError::InvalidArgument("the OCI spec has no process".into())
            })?;
        let params = parameters(process, req.stdio)?;
        self.join_namespace(&req.id, &mut doc).await?;
        if let Err(e) = self.adapter.create(&req.id, &doc, &params).await {
            self.leave_namespace(&req.id).await;
            return Err(map_err("creating the compute system", e));
        }
        Ok(self.park((req.id, None), None, req.stdio))
    }

    async fn start(&self, id: &str) -> Result<u32> {
        let stdio = lock(&self.pending)
            .remove(&(id.to_string(), None))
            .map(|p| p.stdio)
            .unwrap_or_default();
        self.adapter.start(id, stdio).await.map_err(|e| {
            match map_err("starting the init process", e) {
                // HCS reports a process that cannot be created in its message only.
                BackendError::Runtime { context, message } => BackendError::ProcessStart {
                    exit_code: crate::backend::start_exit_code(&message.to_lowercase()),
                    message: format!("{context}: {message}"),
                },
                other => other,
            }
        })
    }

    async fn exec(&self, req: ExecRequest) -> Result<ProcessIo> {
        let params = parameters(&req.process, req.stdio)?;
        if self.adapter.state(&req.container_id).is_none() {
            return Err(BackendError::NotFound(format!(
                "no such container: {}",
                req.container_id
            )));
        }
        let key = (req.container_id, Some(req.exec_id));
        if lock(&self.pending).contains_key(&key) {
            return Err(BackendError::Conflict(format!(
                "exec {} already exists",
                key.1.unwrap_or_default()
            )));
        }
        Ok(self.park(key, Some(params), req.stdio))
    }

    async fn start_exec(&self, id: &str, exec_id: &str) -> Result<u32> {
        let pending = lock(&self.pending)
            .remove(&(id.to_string(), Some(exec_id.to_string())))
            .ok_or_else(|| BackendError::NotFound(format!("no such exec: {exec_id}")))?;
        let params = pending
            .params
            .ok_or_else(|| BackendError::NotFound(format!("no such exec: {exec_id}")))?;
        self.adapter
            .exec(id, exec_id, &params, pending.stdio)
            .await
            .map_err(|e| map_err("starting the exec process", e))
    }

    async fn signal(&self, id: &str, exec_id: Option<&str>, signal: u32) -> Result<()> {
        self.adapter
            .signal(id, exec_id, signal)
            .await
            .map_err(|e| map_err("signalling the process", e))
    }

    async fn resize(&self, id: &str, exec_id: Option<&str>, width: u32, height: u32) -> Result<()> {
        self.adapter
            .resize(id, exec_id, width, height)
            .await
            .map_err(|e| map_err("resizing the console", e))
    }

    async fn close_stdin(&self, id: &str, exec_id: Option<&str>) -> Result<()> {
        let key = (id.to_string(), exec_id.map(String::from));
        if let Some(p) = lock(&self.pending).get_mut(&key) {
            // Not created yet: the process will start with its stdin already at EOF.
            p.stdio.stdin = None;
            return Ok(());
        }
        self.adapter
            .close_stdin(id, exec_id)
            .await
            .map_err(|e| map_err("closing stdin", e))
    }

    async fn pause(&self, id: &str) -> Result<()> {
        self.adapter
            .pause(id)
            .await
            .map_err(|e| map_err("pausing", e))
    }

    async fn resume(&self, id: &str) -> Result<()> {
        self.adapter
            .resume(id)
            .await
            .map_err(|e| map_err("resuming", e))
    }

    async fn state(&self, id: &str) -> Result<Option<TaskState>> {
        Ok(self.adapter.state(id).map(|s| TaskState {
            status: match s.status {
                adapter::Status::Created => TaskStatus::Created,
                adapter::Status::Running => TaskStatus::Running,
                adapter::Status::Paused => TaskStatus::Paused,
                adapter::Status::Stopped => TaskStatus::Stopped,
            },
            pid: s.pid,
            exit_code: s.exit_code.map(|c| c as u32),
            exited_at: s.exited_at,
        }))
    }

    async fn exec_state(&self, _id: &str, _exec_id: &str) -> Result<Option<TaskState>> {
        // In process, the adapter's exit callbacks cannot be missed: there is no stream to
        // break, so nothing ever needs to reconcile an exec here.
        Err(BackendError::runtime(
            "exec state",
            "the HCS adapter reports exec exits through its callbacks only",
        ))
    }

    async fn stats(&self, id: &str) -> Result<Stats> {
        let s = self
            .adapter
            .stats(id)
            .await
            .map_err(|e| map_err("reading statistics", e))?;
        Ok(Stats {
            read: Some(SystemTime::now()),
            cpu_total_ns: s.cpu_total_ns,
            cpu_kernel_ns: s.cpu_kernel_ns,
            cpu_user_ns: s.cpu_user_ns,
            memory_usage: s.memory_usage,
            pids: s.processes,
            ..Stats::default()
        })
    }

    async fn delete(&self, id: &str) -> Result<()> {
        lock(&self.pending).retain(|(c, _), _| c != id);
        self.adapter
            .delete(id)
            .await
            .map_err(|e| map_err("deleting the container", e))?;
        // The namespace goes with the compute system that joined it.
        self.leave_namespace(id).await;
        Ok(())
    }

    async fn reattach(&self, id: &str, _stdio: StdioConfig) -> Result<ProcessIo> {
        Err(BackendError::NotFound(format!(
            "HCS container {id} did not survive the daemon restart"
        )))
    }

    async fn update_resources(
        &self,
        _id: &str,
        _resources: oci_spec::runtime::LinuxResources,
    ) -> Result<()> {
        Err(BackendError::NotImplemented(
            "docker update of resources of Windows containers is not supported by dockbridge"
                .into(),
        ))
    }

    async fn pids(&self, _id: &str) -> Result<Vec<u32>> {
        Err(BackendError::NotImplemented(
            "docker top of Windows containers is not supported by dockbridge yet".into(),
        ))
    }

    fn host_filesystem(&self) -> Result<()> {
        Err(BackendError::NotImplemented(
            "filesystem operations on Windows containers are not supported by dockbridge".into(),
        ))
    }

    /// Compute systems belong to this process (`ShouldTerminateOnLastHandleClosed`):
    /// stop them and close every handle rather than leave that to process exit.
    async fn shutdown(&self) {
        self.adapter.shutdown().await;
        let ids: Vec<String> = lock(&self.namespaces).keys().cloned().collect();
        for id in ids {
            self.leave_namespace(&id).await;
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    //! The backend end to end on the HCS simulator, loaded like computecore.dll.

    use std::path::{Path, PathBuf};

    use super::*;
    use tokio::io::AsyncReadExt;

    /// The simulator cdylib: next to this test binary when the workspace (or dockbridge-hcs's
    /// tests) built it, else built on demand into a target directory of its own (so it never
    /// waits for the lock of the build that runs this test).
    fn sim_library() -> PathBuf {
        if let Some(p) = std::env::var_os("HCS_SIM_LIBRARY") {
            return p.into();
        }
        let name = format!(
            "{}hcs_sim{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let exe = std::env::current_exe().expect("test executable");
        let deps = exe.parent().expect("deps dir").to_path_buf();
        let profile_dir = deps
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| deps.clone());
        for dir in [&deps, &profile_dir] {
            if dir.join(&name).exists() {
                return dir.join(&name);
            }
        }
        let own_target = profile_dir.join("hcs-sim-for-tests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "dockbridge-hcs-sim", "--target-dir"])
            .arg(&own_target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo");
        assert!(status.success(), "building the HCS simulator failed");
        own_target.join("debug").join(name)
    }

    /// The simulator is one per process: its tests take turns.
    static SIM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    fn windows_spec() -> oci_spec::runtime::Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.1.0",
            "process": {
                "user": {"uid": 0, "gid": 0, "username": "ContainerUser"},
                "commandLine": "cmd /c \"echo hello\"",
                "cwd": "C:\\"
            },
            "hostname": "hcs-backend",
            "windows": {"layerFolders": ["C:\\layers\\base", "C:\\layers\\scratch"]}
        }))
        .expect("spec")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_a_windows_container_through_the_backend_trait() {
        let _turn = SIM.lock().await;
        let lib = sim_library();
        let sim = hcs::ffi::SimControl::load(&lib).expect("simulator controls");
        sim.reset();
        assert!(sim.configure(
            r#"{"processes":[{"command_line_contains":"echo","stdout":"hello\r\n","exit_code":2}]}"#
        ));
        let backend = HcsBackend::new(HcsBackendConfig {
            library: Some(lib),
            timeout: Duration::from_secs(5),
            ..HcsBackendConfig::default()
        })
        .expect("backend");
        assert_eq!(backend.name(), "hcs");
        let mut events = backend.subscribe();

        let wrong_rootfs = CreateRequest {
            id: "x".into(),
            spec: windows_spec(),
            rootfs: Rootfs::Snapshot {
                snapshotter: "overlayfs".into(),
                key: "x".into(),
            },
            stdio: StdioConfig::default(),
            labels: HashMap::new(),
        };
        assert!(matches!(
            backend.create(wrong_rootfs).await,
            Err(BackendError::InvalidArgument(_))
        ));

        let io = backend
            .create(CreateRequest {
                id: "win1".into(),
                spec: windows_spec(),
                rootfs: Rootfs::InSpec,
                stdio: StdioConfig::default(),
                labels: HashMap::new(),
            })
            .await
            .expect("create");
        let state = backend.state("win1").await.unwrap().unwrap();
        assert_eq!(state.status, TaskStatus::Created);

        let pid = backend.start("win1").await.expect("start");
        let mut out = String::new();
        let mut stdout = io.stdout.expect("stdout");
        tokio::time::timeout(Duration::from_secs(5), stdout.read_to_string(&mut out))
            .await
            .expect("stdout ends")
            .expect("read");
        assert_eq!(out, "hello\r\n");

        let exit = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("exit event")
            .expect("event");
        match exit {
            RuntimeEvent::Exit {
                container_id,
                exec_id,
                pid: p,
                exit_code,
                ..
            } => {
                assert_eq!(
                    (container_id.as_str(), exec_id, p, exit_code),
                    ("win1", None, pid, 2)
                );
            }
            other => panic!("unexpected event {other:?}"),
        }
        let state = backend.state("win1").await.unwrap().unwrap();
        assert_eq!(
            (state.status, state.exit_code),
            (TaskStatus::Stopped, Some(2))
        );
        assert!(backend
            .reattach("win1", StdioConfig::default())
            .await
            .is_err());
        backend.delete("win1").await.expect("delete");
        assert!(backend.state("win1").await.unwrap().is_none());
        backend.delete("win1").await.expect("delete is idempotent");
        assert_eq!(sim.open_handles(), 0, "{}", sim.report());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_stops_running_containers_and_closes_every_handle() {
        let _turn = SIM.lock().await;
        let lib = sim_library();
        let sim = hcs::ffi::SimControl::load(&lib).expect("simulator controls");
        sim.reset();
        assert!(sim.configure(
            r#"{"processes":[{"command_line_contains":"echo","stdout":"x\r\n","run":"until_signalled","signal_exit_code":0}]}"#
        ));
        let backend = HcsBackend::new(HcsBackendConfig {
            library: Some(lib),
            timeout: Duration::from_secs(5),
            ..HcsBackendConfig::default()
        })
        .expect("backend");
        let _io = backend
            .create(CreateRequest {
                id: "win-shutdown".into(),
                spec: windows_spec(),
                rootfs: Rootfs::InSpec,
                stdio: StdioConfig::default(),
                labels: HashMap::new(),
            })
            .await
            .expect("create");
        backend.start("win-shutdown").await.expect("start");
        assert!(sim.open_handles() > 0, "{}", sim.report());
        // Through the trait, as the daemon's graceful shutdown calls it.
        let b: &dyn Backend = &backend;
        b.shutdown().await;
        assert!(backend.state("win-shutdown").await.unwrap().is_none());
        assert_eq!(sim.open_handles(), 0, "{}", sim.report());
    }

    /// A process operation that times out (here the SIGTERM's HcsSignalProcess) terminates
    /// the compute system: the kill fails with HCS's timeout, the container then dies with
    /// one exit event (the manager's `die`), and no handle is left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_signal_terminates_the_container_with_its_exit() {
        let _turn = SIM.lock().await;
        let lib = sim_library();
        let sim = hcs::ffi::SimControl::load(&lib).expect("simulator controls");
        sim.reset();
        assert!(sim.configure(
            r#"{"processes":[{"command_line_contains":"echo","stdout":"x\r\n","run":"until_signalled","signal_exit_code":0}],
                "faults":[{"function":"HcsSignalProcess","mode":"hang"}]}"#
        ));
        let backend = HcsBackend::new(HcsBackendConfig {
            library: Some(lib),
            timeout: Duration::from_millis(300),
            ..HcsBackendConfig::default()
        })
        .expect("backend");
        let mut events = backend.subscribe();
        let _io = backend
            .create(CreateRequest {
                id: "win-timeout".into(),
                spec: windows_spec(),
                rootfs: Rootfs::InSpec,
                stdio: StdioConfig::default(),
                labels: HashMap::new(),
            })
            .await
            .expect("create");
        let pid = backend.start("win-timeout").await.expect("start");
        let err = backend.signal("win-timeout", None, 15).await.unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        let exit = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("exit event")
            .expect("event");
        assert!(
            matches!(&exit, RuntimeEvent::Exit { container_id, exec_id: None, pid: p, .. }
                if container_id == "win-timeout" && *p == pid),
            "{exit:?}"
        );
        let state = backend.state("win-timeout").await.unwrap().unwrap();
        assert_eq!(state.status, TaskStatus::Stopped);
        backend.delete("win-timeout").await.expect("delete");
        // One exit only: no second `die`.
        assert!(events.try_recv().is_err());
        assert_eq!(sim.open_handles(), 0, "{}", sim.report());
        assert!(sim.report().contains("\"HcsTerminateComputeSystem\""));
    }

    fn report(sim: &hcs::ffi::SimControl) -> serde_json::Value {
        serde_json::from_str(&sim.report()).expect("report")
    }

    /// A restarted daemon removes the endpoints its previous run left (HCS containers do
    /// not survive it), and no one else's; a compute system with endpoints joins an HNS
    /// namespace holding them, which goes with the system, and with a failed create.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hns_namespaces_follow_the_compute_system_and_leftover_endpoints_are_swept() {
        let _turn = SIM.lock().await;
        let lib = sim_library();
        let sim = hcs::ffi::SimControl::load(&lib).expect("simulator controls");
        sim.reset();
        assert!(sim.configure(
            r#"{"processes":[{"command_line_contains":"echo","stdout":"x\r\n","exit_code":0}],
                "faults":[{"function":"HcsCreateComputeSystem","occurrence":2,"hresult":2147500037}]}"#
        ));
        let hns = Arc::new(Hns::load(Some(&lib)).expect("HCN functions"));
        let nat = hns
            .find_or_create_network(&hcs::network::nat_network("nat"))
            .unwrap();
        for name in ["dockbridge-old", "someone-else"] {
            hns.create_endpoint(&hcs::network::endpoint(&nat.id, name, &[], &[], &[]))
                .unwrap();
        }
        let nets = crate::networks::hns::HnsNetworks::start(hns.clone(), "dockbridge")
            .await
            .expect("HNS start");
        let left: Vec<String> = hns
            .endpoints()
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(left, ["someone-else"]);
        assert_eq!(nets.nat_subnet().unwrap().0, "172.20.0.0/20");

        let mut backend = HcsBackend::new(HcsBackendConfig {
            library: Some(lib.clone()),
            timeout: Duration::from_secs(5),
            ..HcsBackendConfig::default()
        })
        .expect("backend");
        backend.set_hns(hns.clone());
        let ep = hns
            .create_endpoint(&hcs::network::endpoint(
                &nat.id,
                "dockbridge-c",
                &[],
                &[],
                &[],
            ))
            .unwrap();
        let mut spec = serde_json::to_value(windows_spec()).unwrap();
        spec["windows"]["network"] = serde_json::json!({"endpointList": [ep.id]});
        let spec: oci_spec::runtime::Spec = serde_json::from_value(spec).unwrap();
        let req = |id: &str| CreateRequest {
            id: id.into(),
            spec: spec.clone(),
            rootfs: Rootfs::InSpec,
            stdio: StdioConfig::default(),
            labels: HashMap::new(),
        };
        let _io = backend.create(req("with-net")).await.expect("create");
        let r = report(&sim);
        let doc = r["received"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|d| d["function"] == "HcsCreateComputeSystem")
            .unwrap()["document"]
            .clone();
        let ns = doc["Container"]["Networking"]["Namespace"]
            .as_str()
            .unwrap();
        assert!(
            doc["Container"]["Networking"]
                .get("NetworkAdapters")
                .is_none(),
            "{doc}"
        );
        let joined = hns.endpoints_named("dockbridge-c").unwrap();
        assert_eq!(
            joined[0].namespace, ns,
            "the endpoint is in the system's namespace"
        );
        assert_eq!(r["hns"]["namespaces"], 1, "{r}");
        backend.delete("with-net").await.expect("delete");
        assert_eq!(report(&sim)["hns"]["namespaces"], 0);

        // The second create fails (injected): its namespace does not stay.
        assert!(backend.create(req("failing")).await.is_err());
        let r = report(&sim);
        assert_eq!(r["hns"]["namespaces"], 0, "{r}");
        hns.delete_endpoint(&ep.id).unwrap();
        // A namespace a crashed daemon left goes with its container's clean-up.
        hns.create_namespace(&namespace_id("ghost"), &[]).unwrap();
        backend.delete("ghost").await.expect("delete");
        assert_eq!(report(&sim)["hns"]["namespaces"], 0);
        assert_eq!(sim.open_handles(), 0, "{r}");
    }
}
