//! The manager's state machine driven through its public operations, on a recording fake
//! backend and fake providers: no containerd, no mounts, no network.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use containerd_client::types::Mount;
use spec::api::models::{ContainerCreateBody, RestartPolicy, RestartPolicyNameEnum};
use spec::image::ImageConfigFile;
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast;

use super::providers::{BindMounts, ImageProvider, RuntimeNetworks, SpecBuilder, SpecRequest};
use super::record::Status;
use super::*;
use crate::backend::{
    self, BackendError, ExecRequest, ProcessIo, RuntimeEvent, Stats, TaskState, TaskStatus,
};
use crate::error_kind::{ErrorKind, Kinded};
use crate::images::{ImageRecord, ImagesError};

/// How the fake's next `start` behaves.
#[derive(Clone, Default)]
enum OnStart {
    #[default]
    Run,
    /// The process exits with this code before `start` returns (a command that ends at once).
    ExitAtOnce(u32),
    Fail(fn() -> BackendError),
}

struct Task {
    status: TaskStatus,
    pid: u32,
    exit_code: Option<u32>,
    /// Dropped when the process exits, which ends its stdout.
    stdout: Option<tokio::io::DuplexStream>,
}

#[derive(Default)]
struct FakeBackend {
    tasks: Mutex<HashMap<String, Task>>,
    next_pid: AtomicU32,
    calls: Mutex<Vec<String>>,
    on_start: Mutex<OnStart>,
    events: Mutex<Option<broadcast::Sender<RuntimeEvent>>>,
}

impl FakeBackend {
    fn new() -> Arc<Self> {
        let b = Self::default();
        *b.events.lock().unwrap() = Some(broadcast::channel(64).0);
        b.next_pid.store(100, Ordering::SeqCst);
        Arc::new(b)
    }
    fn record(&self, call: impl Into<String>) {
        self.calls.lock().unwrap().push(call.into());
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    /// The process of `id` exits with `code`: its output ends, then the runtime reports it.
    fn exit(&self, id: &str, code: u32) {
        let pid = {
            let mut tasks = self.tasks.lock().unwrap();
            let Some(t) = tasks.get_mut(id) else { return };
            if t.status == TaskStatus::Stopped {
                return;
            }
            t.status = TaskStatus::Stopped;
            t.exit_code = Some(code);
            t.stdout = None;
            t.pid
        };
        let tx = self.events.lock().unwrap().clone().unwrap();
        let _ = tx.send(RuntimeEvent::Exit {
            container_id: id.into(),
            exec_id: None,
            pid,
            exit_code: code,
            exited_at: SystemTime::now(),
        });
    }
}

#[async_trait]
impl Backend for FakeBackend {
    fn name(&self) -> &'static str {
        "containerd"
    }
    async fn create(&self, req: CreateRequest) -> backend::Result<ProcessIo> {
        self.record(format!("create {}", req.id));
        let (mut w, r) = tokio::io::duplex(1024);
        w.write_all(b"hello\n").await.unwrap();
        self.tasks.lock().unwrap().insert(
            req.id.clone(),
            Task {
                status: TaskStatus::Created,
                pid: 0,
                exit_code: None,
                stdout: Some(w),
            },
        );
        Ok(ProcessIo {
            stdin: None,
            stdout: Some(Box::pin(r)),
            stderr: None,
        })
    }
    async fn start(&self, id: &str) -> backend::Result<u32> {
        self.record(format!("start {id}"));
        let on_start = std::mem::take(&mut *self.on_start.lock().unwrap());
        if let OnStart::Fail(f) = on_start {
            return Err(f());
        }
        let pid = self.next_pid.fetch_add(1, Ordering::SeqCst);
        {
            let mut tasks = self.tasks.lock().unwrap();
            let t = tasks
                .get_mut(id)
                .ok_or_else(|| BackendError::NotFound(id.into()))?;
            t.status = TaskStatus::Running;
            t.pid = pid;
        }
        if let OnStart::ExitAtOnce(code) = on_start {
            self.exit(id, code);
            // Let the event loop pick the exit up before start returns.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(pid)
    }
    async fn exec(&self, _req: ExecRequest) -> backend::Result<ProcessIo> {
        Err(BackendError::NotImplemented("exec".into()))
    }
    async fn start_exec(&self, _id: &str, _exec_id: &str) -> backend::Result<u32> {
        Err(BackendError::NotImplemented("exec".into()))
    }
    async fn signal(&self, id: &str, _exec_id: Option<&str>, signal: u32) -> backend::Result<()> {
        self.record(format!("signal {id} {signal}"));
        let running = self
            .tasks
            .lock()
            .unwrap()
            .get(id)
            .is_some_and(|t| t.status == TaskStatus::Running);
        if !running {
            return Err(BackendError::NotFound(format!("no running task {id}")));
        }
        if signal == 9 || signal == 15 {
            self.exit(id, 128 + signal);
        }
        Ok(())
    }
    async fn resize(&self, _: &str, _: Option<&str>, _: u32, _: u32) -> backend::Result<()> {
        Ok(())
    }
    async fn close_stdin(&self, _: &str, _: Option<&str>) -> backend::Result<()> {
        Ok(())
    }
    async fn pause(&self, id: &str) -> backend::Result<()> {
        self.record(format!("pause {id}"));
        if let Some(t) = self.tasks.lock().unwrap().get_mut(id) {
            t.status = TaskStatus::Paused;
        }
        Ok(())
    }
    async fn resume(&self, id: &str) -> backend::Result<()> {
        self.record(format!("resume {id}"));
        if let Some(t) = self.tasks.lock().unwrap().get_mut(id) {
            t.status = TaskStatus::Running;
        }
        Ok(())
    }
    async fn state(&self, id: &str) -> backend::Result<Option<TaskState>> {
        Ok(self.tasks.lock().unwrap().get(id).map(|t| TaskState {
            status: t.status,
            pid: t.pid,
            exit_code: t.exit_code,
            exited_at: None,
        }))
    }
    async fn exec_state(&self, _: &str, _: &str) -> backend::Result<Option<TaskState>> {
        Ok(None)
    }
    async fn stats(&self, _: &str) -> backend::Result<Stats> {
        Ok(Stats::default())
    }
    async fn delete(&self, id: &str) -> backend::Result<()> {
        self.record(format!("delete {id}"));
        self.tasks.lock().unwrap().remove(id);
        Ok(())
    }
    async fn reattach(&self, id: &str, _: StdioConfig) -> backend::Result<ProcessIo> {
        Err(BackendError::NotFound(id.into()))
    }
    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.lock().unwrap().as_ref().unwrap().subscribe()
    }
    async fn update_resources(
        &self,
        id: &str,
        r: oci_spec::runtime::LinuxResources,
    ) -> backend::Result<()> {
        let mem = r.memory().as_ref().and_then(|m| m.limit());
        self.record(format!("update {id} memory={mem:?}"));
        Ok(())
    }
    async fn pids(&self, _: &str) -> backend::Result<Vec<u32>> {
        Ok(vec![])
    }
    fn host_filesystem(&self) -> backend::Result<()> {
        Ok(())
    }
}

struct FakeImages;

#[async_trait]
impl ImageProvider for FakeImages {
    async fn resolve(&self, name_or_id: &str) -> Result<ImageRecord, ImagesError> {
        if name_or_id.contains("missing") {
            return Err(ImagesError::NotFound(name_or_id.into()));
        }
        Ok(ImageRecord {
            id: "sha256:fake".into(),
            ..Default::default()
        })
    }
    fn snapshotter(&self) -> &str {
        "fake"
    }
    async fn prepare_rootfs(&self, _: &str, _: &str) -> Result<(), ImagesError> {
        Ok(())
    }
    async fn rootfs_mounts(&self, _: &str) -> Result<Vec<Mount>, ImagesError> {
        Ok(vec![])
    }
    async fn remove_rootfs(&self, _: &str) -> Result<(), ImagesError> {
        Ok(())
    }
    async fn create_from_layer(
        &self,
        _: Option<&ImageRecord>,
        _: &Path,
        _: ImageConfigFile,
    ) -> Result<String, ImagesError> {
        Err(ImagesError::Internal("not in the fake".into()))
    }
    async fn tag(&self, _: &str, _: &str, _: &str) -> Result<String, ImagesError> {
        Err(ImagesError::Internal("not in the fake".into()))
    }
}

struct FakeSpecs;

#[async_trait]
impl SpecBuilder for FakeSpecs {
    async fn build(&self, _req: SpecRequest<'_>) -> Result<oci_spec::runtime::Spec> {
        Ok(oci_spec::runtime::Spec::default())
    }
    fn windows_context(&self, id: &str, _: &ImageRecord) -> translate::windows::WindowsContext {
        translate::windows::WindowsContext::for_audit(id, 1)
    }
}

struct Rig {
    m: Arc<Manager>,
    backend: Arc<FakeBackend>,
    events: Arc<EventBus>,
    dir: tempfile::TempDir,
}

impl Rig {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let backend = FakeBackend::new();
        Self::with(dir, backend).await
    }

    async fn with(dir: tempfile::TempDir, backend: Arc<FakeBackend>) -> Self {
        let events = Arc::new(EventBus::new());
        let mut backends: HashMap<&'static str, Arc<dyn Backend>> = HashMap::new();
        backends.insert("containerd", backend.clone());
        let m = Manager::new(
            Paths {
                data_root: dir.path().join("data"),
                exec_root: dir.path().join("exec"),
                init_path: None,
                seccomp_profile: None,
            },
            Providers {
                images: Arc::new(FakeImages),
                specs: Arc::new(FakeSpecs),
                networks: Arc::new(RuntimeNetworks),
                mounts: Arc::new(BindMounts),
            },
            backends,
            "containerd",
            events.clone(),
            Arc::new(crate::host::HostInfo::default()),
        )
        .unwrap();
        m.restore().await.unwrap();
        Self {
            m,
            backend,
            events,
            dir,
        }
    }

    async fn create(&self, policy: Option<RestartPolicyNameEnum>) -> String {
        let body: ContainerCreateBody = serde_json::from_value(serde_json::json!({
            "Image": "busybox",
            "Cmd": ["true"],
            "HostConfig": { "NetworkMode": "none" }
        }))
        .unwrap();
        let mut body = body;
        if let Some(p) = policy {
            body.host_config
                .get_or_insert_with(Default::default)
                .restart_policy = Some(RestartPolicy {
                name: Some(p),
                maximum_retry_count: None,
            });
        }
        self.m.create(None, body).await.unwrap().0
    }

    fn status(&self, id: &str) -> Status {
        self.m.get(id).unwrap().record().state.status
    }

    /// The container event actions reported so far for `id`, in order.
    fn actions(&self, id: &str) -> Vec<String> {
        let (past, _) = self.events.subscribe();
        past.iter()
            .filter(|m| m.actor.id == id)
            .map(|m| m.action.clone())
            .collect()
    }

    async fn until(&self, what: &str, mut f: impl FnMut() -> bool) {
        for _ in 0..200 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

#[tokio::test]
async fn start_runs_after_the_runtime_started_it() {
    let r = Rig::new().await;
    let id = r.create(None).await;
    assert_eq!(r.status(&id), Status::Created);
    r.m.start(&id).await.unwrap();
    let rec = r.m.get(&id).unwrap().record();
    assert_eq!(rec.state.status, Status::Running);
    assert_eq!(rec.state.pid, 100);
    assert!(rec.state.started_at.is_some());
    assert_eq!(r.actions(&id), ["create", "start"]);
    // A second start is "already started" (304).
    let e = r.m.start(&id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotModified);
}

#[tokio::test]
async fn exit_during_start_is_applied_after_it() {
    let r = Rig::new().await;
    let id = r.create(None).await;
    *r.backend.on_start.lock().unwrap() = OnStart::ExitAtOnce(3);
    r.m.start(&id).await.unwrap();
    r.until("the exit", || r.status(&id) == Status::Exited)
        .await;
    let rec = r.m.get(&id).unwrap().record();
    assert_eq!(rec.state.exit_code, 3);
    assert_eq!(r.actions(&id), ["create", "start", "die"]);
    // The output pumped before the exit was recorded went to the log.
    let log = std::fs::read_to_string(r.m.get(&id).unwrap().log.path()).unwrap();
    assert!(log.contains("hello"), "{log}");
}

#[tokio::test]
async fn kill_returns_once_the_container_exited() {
    let r = Rig::new().await;
    let id = r.create(None).await;
    r.m.start(&id).await.unwrap();
    r.m.kill(&id, None).await.unwrap();
    // No waiting here: the SDK reloads right after kill and expects the exit.
    let rec = r.m.get(&id).unwrap().record();
    assert_eq!(rec.state.status, Status::Exited);
    assert_eq!(rec.state.exit_code, 137);
    assert_eq!(r.actions(&id), ["create", "start", "kill", "die"]);
    r.m.remove(&id, false, false).await.unwrap();
    assert!(r.m.get(&id).is_err());
    // Killing what does not run is a conflict.
    let id2 = r.create(None).await;
    let e = r.m.kill(&id2, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn kill_racing_an_exit_still_ends_exited() {
    let r = Rig::new().await;
    let id = r.create(None).await;
    r.m.start(&id).await.unwrap();
    // The process exits on its own just before the kill reaches the runtime.
    r.backend.exit(&id, 0);
    let res = r.m.kill(&id, None).await;
    // Either the kill found it still running (and the task was gone: fine), or the exit
    // was applied first (409): both leave one exit recorded with the process's own code.
    if let Err(e) = res {
        assert_eq!(e.kind(), ErrorKind::Conflict);
    }
    r.until("the exit", || r.status(&id) == Status::Exited)
        .await;
    assert_eq!(r.m.get(&id).unwrap().record().state.exit_code, 0);
    let dies = r.actions(&id).iter().filter(|a| *a == "die").count();
    assert_eq!(dies, 1);
}

#[tokio::test(start_paused = true)]
async fn rm_during_restart_backoff_is_a_conflict() {
    let r = Rig::new().await;
    let id = r.create(Some(RestartPolicyNameEnum::ALWAYS)).await;
    r.m.start(&id).await.unwrap();
    r.backend.exit(&id, 1);
    r.until("restarting", || r.status(&id) == Status::Restarting)
        .await;
    let rec = r.m.get(&id).unwrap().record();
    assert_eq!(rec.restart_count, 1);
    let e = r.m.remove(&id, false, false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        e.to_string()
            .starts_with(&format!("You cannot remove a restarting container {id}.")),
        "{e}"
    );
    assert_eq!(r.status(&id), Status::Restarting, "unchanged");
    // The back-off elapses: the policy starts it again.
    r.until("the restart", || r.status(&id) == Status::Running)
        .await;
    assert_eq!(r.actions(&id), ["create", "start", "die", "start"]);
}

#[tokio::test(start_paused = true)]
async fn stop_cancels_a_pending_restart() {
    let r = Rig::new().await;
    let id = r.create(Some(RestartPolicyNameEnum::ALWAYS)).await;
    r.m.start(&id).await.unwrap();
    r.backend.exit(&id, 1);
    r.until("restarting", || r.status(&id) == Status::Restarting)
        .await;
    r.m.stop(&id, None, None).await.unwrap();
    assert_eq!(r.status(&id), Status::Exited);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(r.status(&id), Status::Exited, "no restart after a stop");
    let starts = r
        .backend
        .calls()
        .iter()
        .filter(|c| c.starts_with("start"))
        .count();
    assert_eq!(starts, 1);
    // Now removable without force.
    r.m.remove(&id, false, false).await.unwrap();
}

#[tokio::test]
async fn a_process_that_cannot_start_leaves_created_with_its_exit_code() {
    let r = Rig::new().await;
    let id = r.create(None).await;
    *r.backend.on_start.lock().unwrap() = OnStart::Fail(|| BackendError::ProcessStart {
        message: "exec: \"nope\": executable file not found in $PATH".into(),
        exit_code: 127,
    });
    let e = r.m.start(&id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    let rec = r.m.get(&id).unwrap().record();
    assert_eq!(rec.state.status, Status::Created);
    assert_eq!(rec.state.exit_code, 127);
    assert!(rec.state.error.contains("executable file not found"));
    // The task the create made is gone.
    assert!(r.backend.calls().contains(&format!("delete {id}")));
    assert_eq!(r.actions(&id), ["create"]);
}

#[tokio::test]
async fn runtime_unavailable_at_start_is_not_a_client_error() {
    let r = Rig::new().await;
    let id = r.create(None).await;
    *r.backend.on_start.lock().unwrap() =
        OnStart::Fail(|| BackendError::Unavailable("containerd is not available".into()));
    let e = r.m.start(&id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(r.status(&id), Status::Created);
}

#[tokio::test]
async fn pause_resume_and_their_conflicts() {
    let r = Rig::new().await;
    let id = r.create(None).await;
    assert_eq!(
        r.m.pause(&id).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    r.m.start(&id).await.unwrap();
    r.m.pause(&id).await.unwrap();
    assert_eq!(r.status(&id), Status::Paused);
    assert_eq!(
        r.m.pause(&id).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    // A paused container cannot be removed without force.
    let e = r.m.remove(&id, false, false).await.unwrap_err();
    assert!(
        e.to_string().contains("cannot remove a paused container"),
        "{e}"
    );
    r.m.unpause(&id).await.unwrap();
    assert_eq!(r.status(&id), Status::Running);
    assert_eq!(r.actions(&id), ["create", "start", "pause", "unpause"]);
}

#[tokio::test]
async fn force_remove_kills_and_removes() {
    let r = Rig::new().await;
    let id = r.create(None).await;
    r.m.start(&id).await.unwrap();
    r.m.remove(&id, true, false).await.unwrap();
    assert!(r.m.get(&id).is_err());
    assert_eq!(
        r.actions(&id),
        ["create", "start", "kill", "die", "destroy"]
    );
    assert!(!r.dir.path().join("data/containers").join(&id).exists());
}

#[tokio::test]
async fn auto_remove_after_exit() {
    let r = Rig::new().await;
    let body: ContainerCreateBody = serde_json::from_value(serde_json::json!({
        "Image": "busybox", "HostConfig": { "AutoRemove": true, "NetworkMode": "none" }
    }))
    .unwrap();
    let (id, _) = r.m.create(None, body).await.unwrap();
    let removed = r.m.wait(&id, WaitCondition::Removed).unwrap();
    r.m.start(&id).await.unwrap();
    r.backend.exit(&id, 0);
    tokio::time::timeout(Duration::from_secs(5), removed)
        .await
        .unwrap();
    assert!(r.m.get(&id).is_err());
}

#[tokio::test]
async fn daemon_restart_records_exits_missed_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new();
    let (id, still) = {
        let r = Rig::with(dir, backend.clone()).await;
        let id = r.create(None).await;
        let still = r.create(None).await;
        r.m.start(&id).await.unwrap();
        r.m.start(&still).await.unwrap();
        // The daemon goes away; the process exits meanwhile, without anyone listening.
        let dir = r.dir;
        drop(r.m);
        {
            let mut tasks = backend.tasks.lock().unwrap();
            let t = tasks.get_mut(&id).unwrap();
            t.status = TaskStatus::Stopped;
            t.exit_code = Some(3);
            t.stdout = None;
        }
        let r2 = Rig::with(dir, backend.clone()).await;
        assert_eq!(r2.status(&id), Status::Exited);
        assert_eq!(r2.m.get(&id).unwrap().record().state.exit_code, 3);
        assert!(r2.actions(&id).contains(&"die".to_string()));
        (id, still)
    };
    let _ = (id, still);
}

#[tokio::test]
async fn rename_and_name_conflicts() {
    let r = Rig::new().await;
    let a = r.create(None).await;
    let b = r.create(None).await;
    let b_name = r.m.get(&b).unwrap().name();
    let e = r.m.rename(&a, &b_name).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    r.m.rename(&a, "fresh").await.unwrap();
    assert_eq!(r.m.get("fresh").unwrap().id, a);
    assert_eq!(r.actions(&a), ["create", "rename"]);
}

#[tokio::test]
async fn missing_image_is_not_found() {
    let r = Rig::new().await;
    let body: ContainerCreateBody =
        serde_json::from_value(serde_json::json!({ "Image": "missing:1" })).unwrap();
    let e = r.m.create(None, body).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "No such image: missing:1");
}

#[tokio::test]
async fn update_applies_to_the_running_task_then_records() {
    let r = Rig::new().await;
    let id = r.create(None).await;
    let u = |v: serde_json::Value| -> spec::api::models::ContainerUpdateBody {
        serde_json::from_value(v).unwrap()
    };
    // Not running: only recorded.
    r.m.update(
        &id,
        u(serde_json::json!({"Memory": 64 << 20, "MemorySwap": 128 << 20})),
    )
    .await
    .unwrap();
    assert!(!r.backend.calls().iter().any(|c| c.starts_with("update")));
    r.m.start(&id).await.unwrap();
    r.m.update(&id, u(serde_json::json!({"Memory": 96 << 20})))
        .await
        .unwrap();
    assert!(r
        .backend
        .calls()
        .contains(&format!("update {id} memory=Some({})", 96i64 << 20)));
    let hc = r.m.get(&id).unwrap().record().host_config;
    assert_eq!(
        (hc.memory, hc.memory_swap),
        (Some(96 << 20), Some(128 << 20))
    );
    // dockerd's conflict, and nothing changes.
    let e =
        r.m.update(&id, u(serde_json::json!({"Memory": 256 << 20})))
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e
        .to_string()
        .starts_with(&format!("Cannot update container {id}: Memory limit")));
    assert_eq!(
        r.m.get(&id).unwrap().record().host_config.memory,
        Some(96 << 20)
    );
    assert_eq!(r.actions(&id), ["create", "update", "start", "update"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_with_a_late_exit_event_is_no_die_and_no_restart() {
    // HCS reports a process that could not start as an exit (127) as well as failing the
    // start call: the exit must not become a `die`, nor a restart by policy.
    let r = Rig::new().await;
    let id = r.create(Some(RestartPolicyNameEnum::ALWAYS)).await;
    *r.backend.on_start.lock().unwrap() = OnStart::Fail(|| BackendError::ProcessStart {
        message: "The system cannot find the file specified.".into(),
        exit_code: 127,
    });
    assert!(r.m.start(&id).await.is_err());
    let tx = r.backend.events.lock().unwrap().clone().unwrap();
    let _ = tx.send(RuntimeEvent::Exit {
        container_id: id.clone(),
        exec_id: None,
        pid: 0,
        exit_code: 127,
        exited_at: SystemTime::now(),
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rec = r.m.get(&id).unwrap().record();
    assert_eq!(rec.state.status, Status::Created);
    assert_eq!(rec.state.exit_code, 127);
    assert_eq!(r.actions(&id), ["create"]);
    let starts = r
        .backend
        .calls()
        .iter()
        .filter(|c| c.starts_with("start"))
        .count();
    assert_eq!(starts, 1, "restarted by policy after a failed start");
}
