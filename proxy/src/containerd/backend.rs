//! The "remote" backend: containers and tasks in containerd, run by the runc v2 shim.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::{
    CloseIoRequest, Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteProcessRequest, DeleteTaskRequest, ExecProcessRequest, GetRequest, KillRequest,
    ListPidsRequest, MetricsRequest, PauseTaskRequest, ResizePtyRequest, ResumeTaskRequest,
    StartRequest, SubscribeRequest, UpdateTaskRequest,
};
use containerd_client::types::v1::Status;
use prost::Message;
use tokio::sync::broadcast;
use tonic::Code;

use super::fifo::Fifos;
use super::Containerd;
use crate::backend::{
    Backend, BackendError, CreateRequest, ExecRequest, ProcessIo, Result, Rootfs, RuntimeEvent,
    Stats, StdioConfig, TaskState, TaskStatus,
};

const RUNTIME: &str = "io.containerd.runc.v2";
/// containerd's shim for Windows containers (hcsshim's containerd-shim-runhcs-v1), the
/// runtime containerd on Windows runs them with.
const RUNTIME_WINDOWS: &str = "io.containerd.runhcs.v1";

/// The shim for a spec: a Windows spec (its `windows` section) runs on runhcs.
fn runtime_for(spec: &oci_spec::runtime::Spec) -> &'static str {
    if spec.windows().is_some() {
        RUNTIME_WINDOWS
    } else {
        RUNTIME
    }
}
const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";

pub struct ContainerdBackend {
    cd: Containerd,
    fifo_root: PathBuf,
    events: broadcast::Sender<RuntimeEvent>,
    /// Placeholders of created execs, dropped once the exec started (or failed to).
    pending_execs:
        std::sync::Mutex<std::collections::HashMap<(String, String), super::fifo::Placeholders>>,
    /// Why containers cannot run, when containerd is on another host.
    other_host: Option<String>,
}

fn status_err(context: &str, s: tonic::Status) -> BackendError {
    match s.code() {
        Code::NotFound => BackendError::NotFound(format!("{context}: {}", s.message())),
        Code::AlreadyExists | Code::FailedPrecondition => {
            BackendError::Conflict(format!("{context}: {}", s.message()))
        }
        Code::InvalidArgument => {
            BackendError::InvalidArgument(format!("{context}: {}", s.message()))
        }
        Code::Unavailable => BackendError::Unavailable(format!(
            "{context}: containerd is not available: {}",
            s.message()
        )),
        _ => BackendError::runtime(context, s.message()),
    }
}

/// A task that could not be created or started: runc's failure to exec the process is a
/// process-start failure (Docker's 127/126), anything else keeps its gRPC kind.
fn start_err(context: &str, s: tonic::Status) -> BackendError {
    let msg = s.message();
    if matches!(
        s.code(),
        Code::Unknown | Code::Internal | Code::FailedPrecondition
    ) && msg.contains("OCI runtime")
    {
        return BackendError::ProcessStart {
            message: format!("{context}: {msg}"),
            exit_code: crate::backend::start_exit_code(msg),
        };
    }
    status_err(context, s)
}

fn ts_to_system(ts: Option<prost_types::Timestamp>) -> Option<SystemTime> {
    let ts = ts?;
    let secs = u64::try_from(ts.seconds).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, ts.nanos.max(0) as u32))
}

impl ContainerdBackend {
    /// `fifo_root` holds one directory of FIFOs per container.
    pub fn new(cd: Containerd, fifo_root: PathBuf) -> Self {
        let (events, _) = broadcast::channel(1024);
        let backend = Self {
            cd,
            fifo_root,
            events,
            pending_execs: Default::default(),
            other_host: None,
        };
        tokio::spawn(pump_events(
            backend.cd.clone(),
            backend.events.clone(),
            backend.fifo_root.clone(),
        ));
        backend
    }

    /// containerd does not see this host's filesystem (`why`, from the locality probe):
    /// images work, containers are refused with the reason.
    pub fn on_other_host(mut self, why: String) -> Self {
        self.other_host = Some(format!(
            "containerd at {} is not on this host ({why}): containers cannot run on it, since \
             their stdio FIFOs, bind mounts, volumes, network namespace and rootfs are paths \
             on dockbridge's host; images (pull, load, save, tag, remove) work",
            self.cd.address()
        ));
        self
    }

    fn other_host(&self) -> Result<()> {
        match &self.other_host {
            Some(why) => Err(BackendError::NotImplemented(why.clone())),
            None => Ok(()),
        }
    }

    fn fifo_dir(&self, id: &str) -> PathBuf {
        self.fifo_root.join(id)
    }

    /// Undo a half-made create: whatever exists is removed, errors are only logged because
    /// the original error is the one the caller must see.
    async fn cleanup(&self, id: &str, fifos: Option<&Fifos>) {
        let _ = self
            .cd
            .tasks()
            .delete(DeleteTaskRequest {
                container_id: id.into(),
            })
            .await;
        if let Err(e) = self
            .cd
            .containers()
            .delete(DeleteContainerRequest { id: id.into() })
            .await
        {
            if e.code() != Code::NotFound {
                tracing::warn!(
                    container = id,
                    "cleaning up containerd container: {}",
                    e.message()
                );
            }
        }
        if let Some(f) = fifos {
            f.remove("init");
        }
    }
}

#[async_trait]
impl Backend for ContainerdBackend {
    fn name(&self) -> &'static str {
        "containerd"
    }

    async fn create(&self, req: CreateRequest) -> Result<ProcessIo> {
        self.other_host()?;
        let Rootfs::Snapshot { snapshotter, key } = &req.rootfs else {
            return Err(BackendError::InvalidArgument(
                "the containerd backend needs a snapshot rootfs".into(),
            ));
        };
        let spec_json = serde_json::to_vec(&req.spec)
            .map_err(|e| BackendError::runtime("serialising the runtime spec", e))?;
        let container = Container {
            id: req.id.clone(),
            labels: req.labels.clone(),
            runtime: Some(Runtime {
                name: runtime_for(&req.spec).into(),
                options: None,
            }),
            spec: Some(prost_types::Any {
                type_url: SPEC_TYPE_URL.into(),
                value: spec_json,
            }),
            snapshotter: snapshotter.clone(),
            snapshot_key: key.clone(),
            ..Default::default()
        };
        // A container record may survive from a crashed daemon: replace it.
        self.cleanup(&req.id, None).await;
        self.cd
            .containers()
            .create(CreateContainerRequest {
                container: Some(container),
            })
            .await
            .map_err(|e| status_err("creating containerd container", e))?;

        let mounts = match self
            .cd
            .snapshots()
            .mounts(containerd_client::services::v1::snapshots::MountsRequest {
                snapshotter: snapshotter.clone(),
                key: key.clone(),
            })
            .await
        {
            Ok(r) => r.into_inner().mounts,
            Err(e) => {
                self.cleanup(&req.id, None).await;
                return Err(status_err("reading rootfs mounts", e));
            }
        };
        let fifos = match Fifos::create(&self.fifo_dir(&req.id), "init", req.stdio) {
            Ok(f) => f,
            Err(e) => {
                self.cleanup(&req.id, None).await;
                return Err(e);
            }
        };
        let opened = match fifos.open() {
            Ok(o) => o,
            Err(e) => {
                self.cleanup(&req.id, Some(&fifos)).await;
                return Err(e);
            }
        };
        let created = self
            .cd
            .tasks()
            .create(CreateTaskRequest {
                container_id: req.id.clone(),
                rootfs: mounts,
                stdin: Fifos::path_str(&fifos.stdin),
                stdout: fifos.stdout.display().to_string(),
                stderr: Fifos::path_str(&fifos.stderr),
                terminal: req.stdio.terminal,
                ..Default::default()
            })
            .await;
        if let Err(e) = created {
            drop(opened);
            self.cleanup(&req.id, Some(&fifos)).await;
            return Err(start_err("failed to create task for container", e));
        }
        Ok(opened.release_placeholders())
    }

    async fn start(&self, id: &str) -> Result<u32> {
        let r = self
            .cd
            .tasks()
            .start(StartRequest {
                container_id: id.into(),
                exec_id: String::new(),
            })
            .await
            .map_err(|e| start_err("failed to start task", e))?;
        Ok(r.into_inner().pid)
    }

    async fn exec(&self, req: ExecRequest) -> Result<ProcessIo> {
        self.other_host()?;
        let process = serde_json::to_vec(&req.process)
            .map_err(|e| BackendError::runtime("serialising the exec process", e))?;
        let fifos = Fifos::create(&self.fifo_dir(&req.container_id), &req.exec_id, req.stdio)?;
        let opened = fifos.open()?;
        let r = self
            .cd
            .tasks()
            .exec(ExecProcessRequest {
                container_id: req.container_id.clone(),
                exec_id: req.exec_id.clone(),
                stdin: Fifos::path_str(&fifos.stdin),
                stdout: fifos.stdout.display().to_string(),
                stderr: Fifos::path_str(&fifos.stderr),
                terminal: req.stdio.terminal,
                spec: Some(prost_types::Any {
                    type_url: PROCESS_TYPE_URL.into(),
                    value: process,
                }),
            })
            .await;
        if let Err(e) = r {
            drop(opened);
            fifos.remove(&req.exec_id);
            return Err(status_err("creating exec process", e));
        }
        let (io, placeholders) = opened.split();
        self.pending_execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((req.container_id, req.exec_id), placeholders);
        Ok(io)
    }

    async fn start_exec(&self, id: &str, exec_id: &str) -> Result<u32> {
        let r = self
            .cd
            .tasks()
            .start(StartRequest {
                container_id: id.into(),
                exec_id: exec_id.into(),
            })
            .await;
        // Started or failed: either way the shim is done opening the FIFOs.
        self.pending_execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(id.to_string(), exec_id.to_string()));
        match r {
            Ok(r) => Ok(r.into_inner().pid),
            Err(e) => {
                // The exec never ran: remove its process record so nothing leaks.
                let _ = self
                    .cd
                    .tasks()
                    .delete_process(DeleteProcessRequest {
                        container_id: id.into(),
                        exec_id: exec_id.into(),
                    })
                    .await;
                Fifos::existing(&self.fifo_dir(id), exec_id, StdioConfig::default())
                    .remove(exec_id);
                Err(status_err("starting exec process", e))
            }
        }
    }

    async fn signal(&self, id: &str, exec_id: Option<&str>, signal: u32) -> Result<()> {
        self.cd
            .tasks()
            .kill(KillRequest {
                container_id: id.into(),
                exec_id: exec_id.unwrap_or_default().into(),
                signal,
                all: false,
            })
            .await
            .map_err(|e| status_err("signalling process", e))?;
        Ok(())
    }

    async fn resize(&self, id: &str, exec_id: Option<&str>, width: u32, height: u32) -> Result<()> {
        self.cd
            .tasks()
            .resize_pty(ResizePtyRequest {
                container_id: id.into(),
                exec_id: exec_id.unwrap_or_default().into(),
                width,
                height,
            })
            .await
            .map_err(|e| status_err("resizing tty", e))?;
        Ok(())
    }

    async fn close_stdin(&self, id: &str, exec_id: Option<&str>) -> Result<()> {
        self.cd
            .tasks()
            .close_io(CloseIoRequest {
                container_id: id.into(),
                exec_id: exec_id.unwrap_or_default().into(),
                stdin: true,
            })
            .await
            .map_err(|e| status_err("closing stdin", e))?;
        Ok(())
    }

    async fn pause(&self, id: &str) -> Result<()> {
        self.cd
            .tasks()
            .pause(PauseTaskRequest {
                container_id: id.into(),
            })
            .await
            .map_err(|e| status_err("pausing task", e))?;
        Ok(())
    }

    async fn resume(&self, id: &str) -> Result<()> {
        self.cd
            .tasks()
            .resume(ResumeTaskRequest {
                container_id: id.into(),
            })
            .await
            .map_err(|e| status_err("resuming task", e))?;
        Ok(())
    }

    async fn state(&self, id: &str) -> Result<Option<TaskState>> {
        self.process_state(id, "").await
    }

    async fn exec_state(&self, id: &str, exec_id: &str) -> Result<Option<TaskState>> {
        self.process_state(id, exec_id).await
    }

    async fn stats(&self, id: &str) -> Result<Stats> {
        let resp = self
            .cd
            .tasks()
            .metrics(MetricsRequest {
                filters: vec![format!("id=={id}")],
            })
            .await
            .map_err(|e| status_err("reading task metrics", e))?
            .into_inner();
        let metric = resp
            .metrics
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| BackendError::NotFound(format!("no task metrics for {id}")))?;
        let data = metric
            .data
            .ok_or_else(|| BackendError::runtime("task metrics", "containerd sent no data"))?;
        use super::cgroup_metrics::{Metrics, MetricsV2, TYPE_URL_V1, TYPE_URL_V2};
        let bad = |e: prost::DecodeError| BackendError::runtime("decoding task metrics", e);
        // The type URL may come with or without a leading `/` or a host part.
        let type_url = data.type_url.rsplit('/').next().unwrap_or_default();
        match type_url {
            TYPE_URL_V1 => Ok(stats_from_v1(
                Metrics::decode(data.value.as_slice()).map_err(bad)?,
            )),
            TYPE_URL_V2 => Ok(stats_from_v2(
                MetricsV2::decode(data.value.as_slice()).map_err(bad)?,
            )),
            other => Err(BackendError::runtime(
                "task metrics",
                format!("unknown metrics type {other:?}"),
            )),
        }
    }

    async fn delete(&self, id: &str) -> Result<()> {
        match self
            .cd
            .tasks()
            .delete(DeleteTaskRequest {
                container_id: id.into(),
            })
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Code::NotFound => {}
            Err(e) => return Err(status_err("deleting task", e)),
        }
        match self
            .cd
            .containers()
            .delete(DeleteContainerRequest { id: id.into() })
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Code::NotFound => {}
            Err(e) => return Err(status_err("deleting containerd container", e)),
        }
        let _ = std::fs::remove_dir_all(self.fifo_dir(id));
        Ok(())
    }

    async fn reattach(&self, id: &str, stdio: StdioConfig) -> Result<ProcessIo> {
        let fifos = Fifos::existing(&self.fifo_dir(id), "init", stdio);
        // The shim still holds its ends, so the placeholders can go at once.
        Ok(fifos.open()?.release_placeholders())
    }

    async fn update_resources(
        &self,
        id: &str,
        resources: oci_spec::runtime::LinuxResources,
    ) -> Result<()> {
        // containerd hands the resources to the shim as the runtime spec's JSON type.
        let value = serde_json::to_vec(&resources)
            .map_err(|e| BackendError::runtime("serialising resources", e))?;
        self.cd
            .tasks()
            .update(UpdateTaskRequest {
                container_id: id.into(),
                resources: Some(prost_types::Any {
                    type_url: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"
                        .into(),
                    value,
                }),
                annotations: Default::default(),
            })
            .await
            .map_err(|e| status_err("updating the task's resources", e))?;
        Ok(())
    }

    async fn pids(&self, id: &str) -> Result<Vec<u32>> {
        let r = self
            .cd
            .tasks()
            .list_pids(ListPidsRequest {
                container_id: id.into(),
            })
            .await
            .map_err(|e| status_err("listing the container's processes", e))?;
        Ok(r.into_inner().processes.iter().map(|p| p.pid).collect())
    }

    fn host_filesystem(&self) -> Result<()> {
        self.other_host()
    }

    fn can_run(&self) -> Result<()> {
        self.other_host()
    }

    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }
}

/// Follows containerd's task events forever. `Subscribe` does not return its stream until
/// the first event arrives, so this runs in its own task; when the stream breaks (containerd
/// restarted) it reconnects and announces [`RuntimeEvent::Reconnected`] so the daemon
/// reconciles the exits it may have missed.
async fn pump_events(cd: Containerd, tx: broadcast::Sender<RuntimeEvent>, fifo_root: PathBuf) {
    let mut first = true;
    loop {
        let req = SubscribeRequest {
            filters: vec![format!("namespace=={},topic~=\"^/tasks/\"", cd.namespace())],
        };
        // After a break, containerd may have nothing to say for a long time while the exits
        // it had no subscriber for wait to be reconciled: once the request has been pending
        // a moment (containerd is up and holds the subscription), announce the reconnect
        // without waiting for the first event.
        let mut events = cd.events();
        let subscribing = events.subscribe(req);
        tokio::pin!(subscribing);
        let mut announced = first;
        let subscribed = loop {
            tokio::select! {
                r = &mut subscribing => break r,
                _ = tokio::time::sleep(Duration::from_secs(1)), if !announced => {
                    announced = true;
                    let _ = tx.send(RuntimeEvent::Reconnected);
                }
            }
        };
        match subscribed {
            Ok(stream) => {
                if !announced {
                    let _ = tx.send(RuntimeEvent::Reconnected);
                }
                first = false;
                let mut stream = stream.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(env)) => {
                            if let Some(ev) = decode(&env.topic, env.event) {
                                if let RuntimeEvent::Exit {
                                    container_id,
                                    exec_id: Some(exec_id),
                                    ..
                                } = &ev
                                {
                                    reap_exec(&cd, &fifo_root, container_id, exec_id);
                                }
                                let _ = tx.send(ev);
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!("containerd event stream broke: {}", e.message());
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::debug!("subscribing to containerd events: {}", e.message());
                first = false;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// An exited exec's process record and FIFOs are removed at once: nothing else would.
fn reap_exec(cd: &Containerd, fifo_root: &std::path::Path, container_id: &str, exec_id: &str) {
    let (cd, dir) = (cd.clone(), fifo_root.join(container_id));
    let (cid, eid) = (container_id.to_string(), exec_id.to_string());
    tokio::spawn(async move {
        if let Err(e) = cd
            .tasks()
            .delete_process(DeleteProcessRequest {
                container_id: cid.clone(),
                exec_id: eid.clone(),
            })
            .await
        {
            tracing::debug!(container = %cid, exec = %eid, "deleting exec process: {}", e.message());
        }
        Fifos::existing(&dir, &eid, StdioConfig::default()).remove(&eid);
    });
}

/// Decodes by topic: the envelope's type URL (`containerd.events.TaskExit`, no `/`) is
/// rejected by prost-types' `Any::to_msg`.
fn decode(topic: &str, any: Option<prost_types::Any>) -> Option<RuntimeEvent> {
    use containerd_client::events::{TaskExit, TaskOom, TaskPaused, TaskResumed};
    let value = any?.value;
    match topic {
        "/tasks/exit" => {
            let e = TaskExit::decode(value.as_slice()).ok()?;
            Some(RuntimeEvent::Exit {
                exec_id: (e.id != e.container_id && !e.id.is_empty()).then_some(e.id),
                container_id: e.container_id,
                pid: e.pid,
                exit_code: e.exit_status,
                exited_at: ts_to_system(e.exited_at).unwrap_or_else(SystemTime::now),
            })
        }
        "/tasks/oom" => {
            let e = TaskOom::decode(value.as_slice()).ok()?;
            Some(RuntimeEvent::Oom {
                container_id: e.container_id,
            })
        }
        "/tasks/paused" => {
            let e = TaskPaused::decode(value.as_slice()).ok()?;
            Some(RuntimeEvent::Paused {
                container_id: e.container_id,
            })
        }
        "/tasks/resumed" => {
            let e = TaskResumed::decode(value.as_slice()).ok()?;
            Some(RuntimeEvent::Resumed {
                container_id: e.container_id,
            })
        }
        _ => None,
    }
}

impl ContainerdBackend {
    /// Tasks.Get for the init process (`exec_id` empty) or an exec.
    async fn process_state(&self, id: &str, exec_id: &str) -> Result<Option<TaskState>> {
        let r = self
            .cd
            .tasks()
            .get(GetRequest {
                container_id: id.into(),
                exec_id: exec_id.into(),
            })
            .await;

        let p = match r {
            Ok(r) => match r.into_inner().process {
                Some(p) => p,
                None => return Ok(None),
            },
            Err(e) if e.code() == Code::NotFound => return Ok(None),
            Err(e) => return Err(status_err("reading task state", e)),
        };
        let status = match Status::try_from(p.status).unwrap_or(Status::Unknown) {
            Status::Created => TaskStatus::Created,
            Status::Running => TaskStatus::Running,
            Status::Paused | Status::Pausing => TaskStatus::Paused,
            Status::Stopped | Status::Unknown => TaskStatus::Stopped,
        };
        Ok(Some(TaskState {
            status,
            pid: p.pid,
            exit_code: (status == TaskStatus::Stopped).then_some(p.exit_status),
            exited_at: ts_to_system(p.exited_at),
        }))
    }
}

/// dockerd's `statsV1`: cgroup v1 metrics in the `docker stats` vocabulary.
fn stats_from_v1(m: super::cgroup_metrics::Metrics) -> Stats {
    use super::cgroup_metrics::BlkIoEntry;
    let mut s = Stats {
        read: Some(SystemTime::now()),
        ..Stats::default()
    };
    if let Some(cpu) = m.cpu {
        if let Some(u) = cpu.usage {
            s.cpu_total_ns = u.total;
            s.cpu_kernel_ns = u.kernel;
            s.cpu_user_ns = u.user;
            s.cpu_per_cpu_ns = u.per_cpu;
        }
        if let Some(t) = cpu.throttling {
            s.throttling = [t.periods, t.throttled_periods, t.throttled_time];
        }
    }
    if let Some(mem) = m.memory {
        if let Some(u) = &mem.usage {
            s.memory_usage = u.usage;
            s.memory_max_usage = u.max;
            s.memory_failcnt = u.failcnt;
            s.memory_limit = u.limit;
        }
        let pairs = [
            ("active_anon", mem.active_anon),
            ("active_file", mem.active_file),
            ("cache", mem.cache),
            ("dirty", mem.dirty),
            ("hierarchical_memory_limit", mem.hierarchical_memory_limit),
            ("hierarchical_memsw_limit", mem.hierarchical_swap_limit),
            ("inactive_anon", mem.inactive_anon),
            ("inactive_file", mem.inactive_file),
            ("mapped_file", mem.mapped_file),
            ("pgfault", mem.pg_fault),
            ("pgmajfault", mem.pg_maj_fault),
            ("pgpgin", mem.pg_pg_in),
            ("pgpgout", mem.pg_pg_out),
            ("rss", mem.rss),
            ("rss_huge", mem.rss_huge),
            ("total_active_anon", mem.total_active_anon),
            ("total_active_file", mem.total_active_file),
            ("total_cache", mem.total_cache),
            ("total_dirty", mem.total_dirty),
            ("total_inactive_anon", mem.total_inactive_anon),
            ("total_inactive_file", mem.total_inactive_file),
            ("total_mapped_file", mem.total_mapped_file),
            ("total_pgfault", mem.total_pg_fault),
            ("total_pgmajfault", mem.total_pg_maj_fault),
            ("total_pgpgin", mem.total_pg_pg_in),
            ("total_pgpgout", mem.total_pg_pg_out),
            ("total_rss", mem.total_rss),
            ("total_rss_huge", mem.total_rss_huge),
            ("total_unevictable", mem.total_unevictable),
            ("total_writeback", mem.total_writeback),
            ("unevictable", mem.unevictable),
            ("writeback", mem.writeback),
        ];
        s.memory_stats = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    }
    if let Some(p) = m.pids {
        s.pids = p.current;
        s.pids_limit = p.limit;
    }
    if let Some(b) = m.blkio {
        let conv = |v: Vec<BlkIoEntry>| {
            v.into_iter()
                .map(|e| crate::backend::BlkioEntry {
                    major: e.major,
                    minor: e.minor,
                    op: e.op,
                    value: e.value,
                })
                .collect::<Vec<_>>()
        };
        s.blkio = [
            (
                "io_service_bytes_recursive",
                conv(b.io_service_bytes_recursive),
            ),
            ("io_serviced_recursive", conv(b.io_serviced_recursive)),
            ("io_queue_recursive", conv(b.io_queued_recursive)),
            (
                "io_service_time_recursive",
                conv(b.io_service_time_recursive),
            ),
            ("io_wait_time_recursive", conv(b.io_wait_time_recursive)),
            ("io_merged_recursive", conv(b.io_merged_recursive)),
            ("io_time_recursive", conv(b.io_time_recursive)),
            ("sectors_recursive", conv(b.sectors_recursive)),
        ]
        .into_iter()
        .collect();
    }
    s
}

/// dockerd's `statsV2`: cgroup v2 metrics in the `docker stats` vocabulary. v2 has no
/// per-CPU usage, max usage or failcnt, and its `memory.stat` keys are the kernel's v2 ones.
fn stats_from_v2(m: super::cgroup_metrics::MetricsV2) -> Stats {
    let mut s = Stats {
        read: Some(SystemTime::now()),
        ..Stats::default()
    };
    if let Some(cpu) = m.cpu {
        s.cpu_total_ns = cpu.usage_usec.saturating_mul(1000);
        s.cpu_kernel_ns = cpu.system_usec.saturating_mul(1000);
        s.cpu_user_ns = cpu.user_usec.saturating_mul(1000);
        s.throttling = [
            cpu.nr_periods,
            cpu.nr_throttled,
            cpu.throttled_usec.saturating_mul(1000),
        ];
    }
    if let Some(mem) = m.memory {
        s.memory_usage = mem.usage;
        s.memory_limit = mem.usage_limit;
        s.memory_stats = mem
            .counters()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        if let Some(ev) = m.memory_events {
            s.memory_stats.insert("oom_kill".into(), ev.oom_kill);
        }
    }
    if let Some(p) = m.pids {
        s.pids = p.current;
        s.pids_limit = p.limit;
    }
    if let Some(io) = m.io {
        let entries = io
            .usage
            .into_iter()
            .flat_map(|e| {
                [("read", e.rbytes), ("write", e.wbytes)].map(|(op, value)| {
                    crate::backend::BlkioEntry {
                        major: e.major,
                        minor: e.minor,
                        op: op.to_string(),
                        value,
                    }
                })
            })
            .collect();
        s.blkio.insert("io_service_bytes_recursive", entries);
    }
    s
}

#[cfg(test)]
mod stats_tests {
    use super::*;
    use crate::containerd::cgroup_metrics as cm;

    #[test]
    fn v1_metrics_map_to_dockerd_names() {
        let m = cm::Metrics {
            pids: Some(cm::PidsStat {
                current: 3,
                limit: 0,
            }),
            cpu: Some(cm::CpuStat {
                usage: Some(cm::CpuUsage {
                    total: 100,
                    kernel: 30,
                    user: 50,
                    per_cpu: vec![60, 40],
                }),
                throttling: None,
            }),
            memory: Some(cm::MemoryStat {
                cache: 7,
                total_rss: 9,
                usage: Some(cm::MemoryEntry {
                    limit: 64 << 20,
                    usage: 1000,
                    max: 2000,
                    failcnt: 1,
                }),
                ..Default::default()
            }),
            blkio: Some(cm::BlkIoStat {
                io_service_bytes_recursive: vec![cm::BlkIoEntry {
                    op: "Read".into(),
                    device: String::new(),
                    major: 8,
                    minor: 0,
                    value: 4096,
                }],
                ..Default::default()
            }),
        };
        // Through the wire format, as containerd sends it.
        let decoded = cm::Metrics::decode(m.encode_to_vec().as_slice()).unwrap();
        let s = stats_from_v1(decoded);
        assert_eq!(
            (s.cpu_total_ns, s.cpu_kernel_ns, s.cpu_user_ns),
            (100, 30, 50)
        );
        assert_eq!(s.cpu_per_cpu_ns, [60, 40]);
        assert_eq!(
            (s.memory_usage, s.memory_max_usage, s.memory_failcnt),
            (1000, 2000, 1)
        );
        assert_eq!(s.memory_limit, 64 << 20);
        assert_eq!(
            (s.memory_stats["cache"], s.memory_stats["total_rss"]),
            (7, 9)
        );
        assert_eq!(s.pids, 3);
        assert_eq!(s.blkio["io_service_bytes_recursive"][0].value, 4096);
    }

    #[test]
    fn v2_metrics_map_like_dockerd_stats_v2() {
        let m = cm::MetricsV2 {
            pids: Some(cm::PidsStat {
                current: 2,
                limit: 100,
            }),
            cpu: Some(cm::CpuStatV2 {
                usage_usec: 5,
                user_usec: 3,
                system_usec: 2,
                nr_periods: 1,
                nr_throttled: 0,
                throttled_usec: 7,
            }),
            memory: Some(cm::MemoryStatV2 {
                anon: 11,
                inactive_file: 12,
                usage: 4096,
                usage_limit: 1 << 20,
                ..Default::default()
            }),
            io: Some(cm::IoStatV2 {
                usage: vec![cm::IoEntryV2 {
                    major: 8,
                    minor: 0,
                    rbytes: 10,
                    wbytes: 20,
                }],
            }),
            memory_events: Some(cm::MemoryEventsV2 { oom_kill: 1 }),
        };
        let s = stats_from_v2(cm::MetricsV2::decode(m.encode_to_vec().as_slice()).unwrap());
        assert_eq!(
            (s.cpu_total_ns, s.cpu_kernel_ns, s.cpu_user_ns),
            (5000, 2000, 3000)
        );
        assert_eq!(s.throttling, [1, 0, 7000]);
        assert!(s.cpu_per_cpu_ns.is_empty());
        assert_eq!((s.memory_usage, s.memory_limit), (4096, 1 << 20));
        assert_eq!(s.memory_stats["anon"], 11);
        assert_eq!(s.memory_stats["inactive_file"], 12);
        assert_eq!(s.memory_stats["oom_kill"], 1);
        assert_eq!((s.pids, s.pids_limit), (2, 100));
        let io = &s.blkio["io_service_bytes_recursive"];
        assert_eq!(
            io.iter()
                .map(|e| (e.op.as_str(), e.value))
                .collect::<Vec<_>>(),
            [("read", 10), ("write", 20)]
        );
    }
}

#[cfg(test)]
mod runtime_tests {
    use super::*;

    #[test]
    fn windows_specs_run_on_runhcs_and_linux_specs_on_runc() {
        let windows: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.1.0",
            "process": {"commandLine": "cmd /c \"echo hi\"", "cwd": "C:\\", "user": {"uid": 0, "gid": 0}},
            "windows": {}
        }))
        .unwrap();
        assert_eq!(runtime_for(&windows), "io.containerd.runhcs.v1");
        let linux: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.1.0",
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {}
        }))
        .unwrap();
        assert_eq!(runtime_for(&linux), "io.containerd.runc.v2");
    }
}
