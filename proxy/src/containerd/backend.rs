//! The "remote" backend: containers and tasks in containerd, run by the runc v2 shim.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::{
    CloseIoRequest, Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteProcessRequest, DeleteTaskRequest, ExecProcessRequest, GetRequest, KillRequest,
    PauseTaskRequest, ResizePtyRequest, ResumeTaskRequest, StartRequest, SubscribeRequest,
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
const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";

pub struct ContainerdBackend {
    cd: Containerd,
    fifo_root: PathBuf,
    events: broadcast::Sender<RuntimeEvent>,
    /// Placeholders of created execs, dropped once the exec started (or failed to).
    pending_execs:
        std::sync::Mutex<std::collections::HashMap<(String, String), super::fifo::Placeholders>>,
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
        };
        tokio::spawn(pump_events(
            backend.cd.clone(),
            backend.events.clone(),
            backend.fifo_root.clone(),
        ));
        backend
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
                name: RUNTIME.into(),
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
            return Err(status_err("failed to create task for container", e));
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
            .map_err(|e| status_err("failed to start task", e))?;
        Ok(r.into_inner().pid)
    }

    async fn exec(&self, req: ExecRequest) -> Result<ProcessIo> {
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
        let r = self
            .cd
            .tasks()
            .get(GetRequest {
                container_id: id.into(),
                exec_id: String::new(),
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

    async fn stats(&self, _id: &str) -> Result<Stats> {
        Err(BackendError::runtime(
            "stats",
            "container stats are not implemented by dockbridge yet",
        ))
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
