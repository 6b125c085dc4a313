//! The container manager: every container's record, state machine and stdio, independent of
//! which backend runs it and of HTTP.

pub mod archive;
pub mod commit;
pub mod exec;
pub mod inspect;
pub mod logs;
pub mod names;
pub mod record;
pub mod rootfs;
pub mod size;
pub mod stats;
pub mod store;
pub mod stream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::Utc;
use spec::api::models::{ContainerCreateBody, EventMessageTypeEnum};
use tokio::sync::watch;

use crate::backend::{
    Backend, BackendError, CreateRequest, Rootfs, RuntimeEvent, StdioConfig, TaskStatus,
};
use crate::events::EventBus;
use crate::images::ImageStore;
use record::{Record, State, Status};
use store::Store;
use stream::Hub;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("container already {0}")]
    NotModified(&'static str),
    /// The runtime could not start a process (e.g. the executable is missing).
    #[error("{0}")]
    StartFailed(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
    /// Refused by policy, e.g. writing into a read-only rootfs (403).
    #[error("{0}")]
    Forbidden(String),
    /// Something dockerd would do that this backend cannot (501).
    #[error("{0}")]
    NotImplemented(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Translate(#[from] translate::Error),
    #[error(transparent)]
    Image(#[from] crate::images::ImagesError),
}

impl ContainerError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = ContainerError> = std::result::Result<T, E>;

/// What waiters watch: bumped on every exit and on removal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub running: bool,
    pub exits: u64,
    pub removed: bool,
    pub exit_code: i64,
}

/// `condition` of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

pub struct Container {
    pub id: String,
    rec: Mutex<Record>,
    pub hub: Arc<Hub>,
    pub log: Arc<logs::LogWriter>,
    lifecycle: watch::Sender<Lifecycle>,
    /// Serialises start/stop/remove of this container.
    op: tokio::sync::Mutex<()>,
    pump: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Container {
    pub fn record(&self) -> Record {
        self.rec.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn update<R>(&self, f: impl FnOnce(&mut Record) -> R) -> R {
        f(&mut self.rec.lock().unwrap_or_else(|p| p.into_inner()))
    }
    pub fn lifecycle(&self) -> watch::Receiver<Lifecycle> {
        self.lifecycle.subscribe()
    }
    pub fn name(&self) -> String {
        self.record().name
    }
}

#[derive(Default)]
struct Index {
    by_id: HashMap<String, Arc<Container>>,
    /// `/name` → id
    names: HashMap<String, String>,
}

pub struct Manager {
    index: RwLock<Index>,
    store: Store,
    mount_root: PathBuf,
    images: Arc<ImageStore>,
    backends: HashMap<&'static str, Arc<dyn Backend>>,
    default_backend: &'static str,
    events: Arc<EventBus>,
    host: Arc<crate::host::HostInfo>,
    pub execs: exec::Execs,
    /// The executable run as `archive-helper` for `docker cp`/`export` (this binary).
    helper_exe: PathBuf,
}

impl Manager {
    pub fn new(
        data_root: PathBuf,
        exec_root: PathBuf,
        images: Arc<ImageStore>,
        backends: HashMap<&'static str, Arc<dyn Backend>>,
        default_backend: &'static str,
        events: Arc<EventBus>,
        host: Arc<crate::host::HostInfo>,
    ) -> Result<Arc<Self>> {
        let store = Store::new(data_root.join("containers"))?;
        let m = Arc::new(Self {
            index: RwLock::new(Index::default()),
            store,
            mount_root: exec_root.join("mnt"),
            images,
            backends,
            default_backend,
            events,
            host,
            execs: exec::Execs::default(),
            helper_exe: helper_exe(),
        });
        Ok(m)
    }

    /// The backend named by `--backend`.
    pub fn default_backend(&self) -> &'static str {
        self.default_backend
    }

    pub fn backend_names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.backends.keys().copied().collect();
        v.sort();
        v
    }

    fn backend(&self, name: &str) -> Result<Arc<dyn Backend>> {
        self.backends.get(name).cloned().ok_or_else(|| {
            ContainerError::Internal(format!("backend {name:?} is not available in this daemon"))
        })
    }

    fn new_container(&self, rec: Record) -> Arc<Container> {
        // Options were validated at create; a record from before rotation existed rotates never.
        let rotation = rec
            .host_config
            .log_config
            .as_ref()
            .and_then(|l| translate::linux::log_options(l).ok())
            .unwrap_or(translate::linux::LogOptions {
                max_size: None,
                max_file: 1,
            });
        let log = Arc::new(logs::LogWriter::new(self.store.log_path(&rec.id), rotation));
        let running = rec.state.status.is_live();
        let exit_code = rec.state.exit_code;
        Arc::new(Container {
            id: rec.id.clone(),
            rec: Mutex::new(rec),
            hub: Arc::new(Hub::new()),
            log,
            lifecycle: watch::channel(Lifecycle {
                running,
                exits: 0,
                removed: false,
                exit_code,
            })
            .0,
            op: tokio::sync::Mutex::new(()),
            pump: Mutex::new(None),
        })
    }

    /// Loads the records on disk, re-attaches to tasks that are still running, records the
    /// exits that happened while dockbridge was down, and starts following runtime events.
    pub async fn restore(self: &Arc<Self>) -> Result<()> {
        for rec in self.store.load_all()? {
            let c = self.new_container(rec.clone());
            {
                let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
                idx.names.insert(rec.name.clone(), rec.id.clone());
                idx.by_id.insert(rec.id.clone(), c.clone());
            }
            if rec.state.status.is_live() {
                self.reconcile(&c).await;
            }
        }
        // As dockerd does at boot: containers whose policy says so come back up.
        for c in self.all() {
            let rec = c.record();
            let wants = matches!(
                rec.host_config.restart_policy.as_ref().and_then(|p| p.name),
                Some(spec::api::models::RestartPolicyNameEnum::ALWAYS)
                    | Some(spec::api::models::RestartPolicyNameEnum::UNLESS_STOPPED)
            );
            if wants
                && !rec.has_been_manually_stopped
                && !rec.state.status.is_live()
                && rec.state.started_at.is_some()
            {
                if let Err(e) = self.start(&c.id).await {
                    tracing::warn!(container = %c.id, "starting by restart policy: {e}");
                }
            }
        }
        for (name, backend) in &self.backends {
            let mut rx = backend.subscribe();
            let me = Arc::downgrade(self);
            let name = *name;
            tokio::spawn(async move {
                loop {
                    let ev = match rx.recv().await {
                        Ok(ev) => ev,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(
                                backend = name,
                                "missed {n} runtime events; reconciling"
                            );
                            RuntimeEvent::Reconnected
                        }
                        Err(_) => return,
                    };
                    let Some(me) = me.upgrade() else { return };
                    me.on_runtime_event(name, ev).await;
                }
            });
        }
        Ok(())
    }

    /// Brings a container that we believe live in line with its task: at boot, and whenever
    /// a backend's event stream came back (containerd restarted), since exits, pauses and
    /// resumes may have happened while nobody listened. An exit found here is recorded with
    /// the exit code the runtime kept (containerd 1.6 keeps a stopped task's status across
    /// its own restarts, because the shim survives them), and reported as the `die` event
    /// that was missed.
    async fn reconcile(self: &Arc<Self>, c: &Arc<Container>) {
        let rec = c.record();
        if !rec.state.status.is_live() {
            return;
        }
        let Ok(backend) = self.backend(&rec.backend) else {
            return;
        };
        match backend.state(&c.id).await {
            Ok(Some(t)) if matches!(t.status, TaskStatus::Running | TaskStatus::Paused) => {
                let already_pumping = c.pump.lock().unwrap_or_else(|p| p.into_inner()).is_some();
                if !already_pumping {
                    match backend.reattach(&c.id, stdio_of(&rec)).await {
                        Ok(io) => self.start_pump(c, io, &rec.backend),
                        Err(e) => tracing::warn!(container = %c.id, "re-attaching stdio: {e}"),
                    }
                }
                // Under the operation lock, so a `docker pause` in flight is not mistaken
                // for an outside one; reports the pause or resume that was missed.
                if let Err(e) = self.sync_pause(c).await {
                    tracing::warn!(container = %c.id, "reconciling pause state: {e}");
                }
            }
            // A `start` in progress (it holds the operation lock) has created the task and
            // not started it yet: not an exit. Without one, the task was left behind by an
            // interrupted start and will never run: that is an exit.
            Ok(Some(t)) if t.status == TaskStatus::Created && c.op.try_lock().is_err() => {}
            Ok(Some(t)) => {
                let code = t.exit_code.map(i64::from).unwrap_or(255);
                tracing::info!(
                    container = %c.id,
                    exit_code = code,
                    "container exited while its runtime events were not followed"
                );
                // containerd kept the real exit time: FinishedAt is that, not now.
                self.handle_exit(c, code, t.exited_at.map(Into::into)).await;
            }
            Ok(None) => {
                // The runtime lost the task (its shim died, or its state was wiped): there is
                // no exit status to read, so the exit is recorded as dockerd does for a task
                // it cannot find.
                tracing::warn!(
                    container = %c.id,
                    "the runtime has no task for a running container; recording exit code 255"
                );
                self.handle_exit(c, 255, None).await;
            }
            // The runtime is unreachable: nothing is known yet. The next reconnect retries.
            Err(e) => tracing::warn!(container = %c.id, "reconciling: {e}"),
        }
    }

    async fn on_runtime_event(self: &Arc<Self>, backend: &str, ev: RuntimeEvent) {
        // Only containers that this backend runs: an ID another backend owns (or none of
        // ours) is not ours to report.
        let owned = |id: &str| {
            self.get(id)
                .ok()
                .filter(|c| c.id == id && c.record().backend == backend)
        };
        match ev {
            RuntimeEvent::Exit {
                container_id,
                exec_id: None,
                pid,
                exit_code,
                exited_at,
            } => {
                let Some(c) = owned(&container_id) else {
                    return;
                };
                // An exit of an earlier run, delivered late (the shim retries its events
                // while containerd is down, and a reconcile may already have recorded the
                // exit and a restart policy started the container again), must not end the
                // current run. A run's pid is known once `start` returns; before that an
                // exit can only be this run's.
                let current = c.record().state.pid;
                if pid != 0 && current != 0 && pid != current {
                    tracing::debug!(
                        container = %c.id,
                        pid,
                        current,
                        "ignoring the exit of an earlier run"
                    );
                    return;
                }
                self.handle_exit(&c, i64::from(exit_code), Some(exited_at.into()))
                    .await;
            }
            RuntimeEvent::Exit {
                container_id,
                exec_id: Some(exec_id),
                exit_code,
                ..
            } => {
                if owned(&container_id).is_some() {
                    self.on_exec_exit(&container_id, &exec_id, i64::from(exit_code))
                        .await
                }
            }
            RuntimeEvent::Oom { container_id } => {
                if let Some(c) = owned(&container_id) {
                    c.update(|r| r.state.oom_killed = true);
                    if let Err(e) = self.store.save(&c.record()) {
                        tracing::warn!(container = %c.id, "saving state: {e}");
                    }
                    let now = crate::events::now_nanos();
                    let action = translate::events::runtime_action(
                        &translate::events::RuntimeEvent::Oom,
                        None,
                        now,
                    );
                    self.emit(&c, &action.action(), action.attributes());
                }
            }
            // The runtime's word is only a hint: the state is read back under the operation
            // lock, so our own `docker pause` is not reported a second time.
            RuntimeEvent::Paused { container_id } | RuntimeEvent::Resumed { container_id } => {
                if let Some(c) = owned(&container_id) {
                    if let Err(e) = self.sync_pause(&c).await {
                        tracing::warn!(container = %c.id, "following an outside pause: {e}");
                    }
                }
            }
            RuntimeEvent::Reconnected => {
                tracing::info!(backend, "runtime events resumed; reconciling containers");
                let backend = backend.to_string();
                let live = move |me: &Self| -> Vec<Arc<Container>> {
                    me.all()
                        .into_iter()
                        .filter(|c| {
                            let r = c.record();
                            r.backend == backend && r.state.status.is_live()
                        })
                        .collect()
                };
                for c in live(self) {
                    self.reconcile(&c).await;
                    self.reconcile_execs(&c).await;
                }
                // The stream is announced a moment after the new subscription was sent, not
                // when containerd confirmed it: a second look a little later catches an exit
                // that fell between this reconcile and the subscription taking effect.
                let me = Arc::downgrade(self);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    let Some(me) = me.upgrade() else { return };
                    for c in live(&me) {
                        me.reconcile(&c).await;
                        me.reconcile_execs(&c).await;
                    }
                });
            }
        }
    }

    /// Follows a pause or resume done outside dockbridge (e.g. `ctr task pause`). Runs under
    /// the container's operation lock, so the runtime's echo of our own `docker pause` is
    /// only ever compared with the finished state and never reported twice.
    async fn sync_pause(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let _op = c.op.lock().await;
        let backend = self.backend(&c.record().backend)?;
        if let Some(t) = backend.state(&c.id).await? {
            let status = match t.status {
                TaskStatus::Paused => Status::Paused,
                TaskStatus::Running => Status::Running,
                _ => return Ok(()),
            };
            let before = c.update(|r| {
                let before = r.state.status;
                if before.is_live() {
                    r.state.status = status;
                }
                before
            });
            if before.is_live() && before != status {
                self.store.save(&c.record())?;
            }
            // Only a change between running and paused is a pause or unpause; anything else
            // (a restarting record whose task runs) is a silent correction.
            let ev = match (before, status) {
                (Status::Running, Status::Paused) => translate::events::RuntimeEvent::Paused,
                (Status::Paused, Status::Running) => translate::events::RuntimeEvent::Resumed,
                _ => return Ok(()),
            };
            let action = translate::events::runtime_action(&ev, None, crate::events::now_nanos());
            self.emit(c, &action.action(), action.attributes());
        }
        Ok(())
    }

    /// Records an exit of the init process (once per run: whichever of the runtime event and
    /// a reconcile comes first), reports `die`, then auto-removes or restarts if asked.
    /// Records an exit; `exited_at` is the runtime's time for it (`None`: now).
    async fn handle_exit(
        self: &Arc<Self>,
        c: &Arc<Container>,
        code: i64,
        exited_at: Option<chrono::DateTime<Utc>>,
    ) {
        if !c.record().state.status.is_live() {
            return;
        }
        // Let the output pump deliver everything before waiters are told: `docker run`
        // prints output, then exits with the code.
        let pump = c.pump.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(p) = pump {
            let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
        }
        let rec = c.record();
        if let Ok(backend) = self.backend(&rec.backend) {
            if let Err(e) = backend.delete(&c.id).await {
                tracing::warn!(container = %c.id, "deleting exited task: {e}");
            }
        }
        let started = rec.state.started_at;
        // A zero or pre-start time from the runtime is not an exit time.
        let now = exited_at
            .filter(|t| t.timestamp() > 0 && started.is_none_or(|s| *t >= s))
            .unwrap_or_else(Utc::now);
        let changed = c.update(|r| {
            if !r.state.status.is_live() {
                return false;
            }
            r.state.status = Status::Exited;
            r.state.exit_code = code;
            r.state.pid = 0;
            r.state.finished_at = Some(now);
            true
        });
        if !changed {
            return;
        }
        if let Err(e) = self.store.save(&c.record()) {
            tracing::warn!(container = %c.id, "saving state: {e}");
        }
        let die = translate::events::runtime_action(
            &translate::events::RuntimeEvent::Exit {
                exec_id: None,
                exit_code: code,
            },
            started.and_then(|s| s.timestamp_nanos_opt()),
            now.timestamp_nanos_opt().unwrap_or_default(),
        );
        self.emit(c, &die.action(), die.attributes());
        c.lifecycle.send_modify(|l| {
            l.running = false;
            l.exits += 1;
            l.exit_code = code;
        });
        if rec.host_config.auto_remove.unwrap_or(false) {
            if let Err(e) = self.remove(&c.id, true).await {
                tracing::warn!(container = %c.id, "auto-removing: {e}");
            }
            return;
        }
        self.restart_by_policy(c, code);
    }

    /// Applies the restart policy after an exit, as dockerd's restart manager does: a
    /// delay starting at 100 ms and doubling (reset once a run lasted 10 s), never after
    /// `docker stop`, `on-failure` only for non-zero codes and up to its retry count.
    fn restart_by_policy(self: &Arc<Self>, c: &Arc<Container>, code: i64) {
        let rec = c.record();
        if !should_restart(&rec, code) {
            return;
        }
        let ran_long = match (rec.state.started_at, rec.state.finished_at) {
            (Some(s), Some(f)) => (f - s).num_seconds() >= 10,
            _ => false,
        };
        let delay = if ran_long {
            Duration::from_millis(100)
        } else {
            let n = u32::try_from(rec.restart_count.clamp(0, 10)).unwrap_or(10);
            (Duration::from_millis(100) * 2u32.pow(n)).min(Duration::from_secs(60))
        };
        let me = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let rec = c.record();
            let life = c.lifecycle.borrow().clone();
            if life.removed || life.running || !should_restart(&rec, rec.state.exit_code) {
                return;
            }
            c.update(|r| r.restart_count = r.restart_count.saturating_add(1));
            if let Err(e) = me.start(&c.id).await {
                tracing::warn!(container = %c.id, "restarting by policy: {e}");
            }
        });
    }

    /// Reports a container event with moby's attribute set: `attrs` (the action's own), the
    /// container's labels, `image` (as given at create) and `name`.
    pub fn emit(&self, c: &Container, action: &str, attrs: HashMap<String, String>) {
        let rec = c.record();
        let actor = translate::events::ContainerActor {
            id: c.id.clone(),
            name: rec.name,
            image: rec.image_ref,
            labels: rec.config.labels.unwrap_or_default(),
        };
        self.events.emit(
            EventMessageTypeEnum::CONTAINER,
            action,
            &c.id,
            actor.attributes(attrs).into_iter().collect(),
        );
    }

    /// Finds a container by full ID, name (with or without `/`), or unique ID prefix.
    pub fn get(&self, key: &str) -> Result<Arc<Container>> {
        let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = idx.by_id.get(key) {
            return Ok(c.clone());
        }
        let name = if key.starts_with('/') {
            key.to_string()
        } else {
            format!("/{key}")
        };
        if let Some(id) = idx.names.get(&name) {
            if let Some(c) = idx.by_id.get(id) {
                return Ok(c.clone());
            }
        }
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = idx.by_id.iter().filter(|(id, _)| id.starts_with(key));
            if let Some((_, c)) = found.next() {
                if found.next().is_some() {
                    return Err(ContainerError::InvalidParameter(format!(
                        "multiple IDs found with provided prefix: {key}"
                    )));
                }
                return Ok(c.clone());
            }
        }
        Err(ContainerError::NotFound(format!(
            "No such container: {key}"
        )))
    }

    pub fn all(&self) -> Vec<Arc<Container>> {
        let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
        idx.by_id.values().cloned().collect()
    }

    /// The containers that use an image (by image ID), for `docker rmi`'s conflict rules.
    pub fn image_users(&self, image_id: &str) -> Vec<crate::images::ImageUser> {
        self.all()
            .into_iter()
            .map(|c| c.record())
            .filter(|r| r.image_id == image_id)
            .map(|r| crate::images::ImageUser {
                container_id: r.id,
                running: r.state.status.is_live(),
            })
            .collect()
    }

    pub async fn create(
        self: &Arc<Self>,
        name: Option<&str>,
        body: ContainerCreateBody,
    ) -> Result<(String, Vec<String>)> {
        let image_ref = body.image.clone().unwrap_or_default();
        if image_ref.is_empty() {
            return Err(ContainerError::InvalidParameter(
                "config cannot be empty in order to create a container".into(),
            ));
        }
        let image = self.images.resolve(&image_ref).await.map_err(|e| match e {
            crate::images::ImagesError::NotFound(_) => {
                ContainerError::NotFound(format!("No such image: {image_ref}"))
            }
            other => other.into(),
        })?;
        let id = names::new_id();
        // The image's OS picks the backend that can run it: Windows images run on HCS, Linux
        // images on containerd; `--backend` decides nothing else today (both can be live
        // side by side, each container remembers its own).
        let windows = image.config.is_windows();
        let backend = if windows { "hcs" } else { "containerd" };
        if !self.backends.contains_key(backend) {
            return Err(ContainerError::InvalidParameter(format!(
                "image operating system \"{}\" cannot be used on this daemon: the {backend} backend is not live (see `dockbridge serve --backend`)",
                if windows { "windows" } else { "linux" }
            )));
        }
        let mut warnings = if windows {
            // Validate now (400 at create, as dockerd does), with the context start will use.
            let ctx = self.windows_context(&id, &image);
            translate::windows::windows_spec(&body, &image.config, &ctx)?;
            translate::windows::warnings(&body, &ctx)
        } else {
            translate::linux::check_create(&body)?
        };
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => names::validate(n).map_err(ContainerError::InvalidParameter)?,
            None => loop {
                let n = format!("/{}", names::random_name());
                let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
                if !idx.names.contains_key(&n) {
                    break n;
                }
            },
        };
        warnings.extend(translate::linux::image_warnings(
            &image.config.container_config(),
        ));
        let mut config = translate::linux::merge_config(&body, &image.config.container_config());
        if config.hostname.as_deref().unwrap_or("").is_empty() {
            config.hostname = Some(translate::linux::container_hostname(
                &body,
                &id,
                &self.host.hostname,
            ));
        }
        let mut host_config = body.host_config.clone().unwrap_or_default();
        if host_config.network_mode.as_deref().unwrap_or("").is_empty() {
            host_config.network_mode = Some("default".into());
        }
        let (path, args) = {
            let mut argv = config.entrypoint.clone().unwrap_or_default();
            argv.extend(config.cmd.clone().unwrap_or_default());
            let mut it = argv.into_iter();
            (it.next().unwrap_or_default(), it.collect())
        };
        let rec = Record {
            id: id.clone(),
            name: name.clone(),
            created: Utc::now(),
            image_ref: image_ref.clone(),
            image_id: image.id.clone(),
            config,
            host_config,
            state: State::default(),
            backend: backend.to_string(),
            platform: if image.config.os.is_empty() {
                "linux".into()
            } else {
                image.config.os.clone()
            },
            restart_count: 0,
            rootfs_key: id.clone(),
            snapshotter: self.images.snapshotter().to_string(),
            path,
            args,
            has_been_manually_stopped: false,
            warnings: warnings.clone(),
            init_process: None,
            request: Some(body.clone()),
        };
        // Reserve the name first: two concurrent creates with one name must not both win.
        {
            let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
            if let Some(other) = idx.names.get(&name) {
                return Err(ContainerError::Conflict(format!(
                    "Conflict. The container name \"{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            idx.names.insert(name.clone(), id.clone());
        }
        let undo_name = |me: &Self| {
            let mut idx = me.index.write().unwrap_or_else(|p| p.into_inner());
            idx.names.remove(&name);
        };
        // Windows containers get their layers through the spec (layerFolders).
        if !windows {
            if let Err(e) = self.images.prepare_rootfs(&image.id, &id).await {
                undo_name(self);
                return Err(e.into());
            }
        }
        if let Err(e) = self.store.save(&rec) {
            undo_name(self);
            let _ = self.images.remove_rootfs(&id).await;
            return Err(e);
        }
        let c = self.new_container(rec);
        {
            let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
            idx.by_id.insert(id.clone(), c.clone());
        }
        self.emit(&c, "create", HashMap::new());
        warnings.retain(|w| !w.is_empty());
        Ok((id, warnings))
    }

    fn start_pump(&self, c: &Arc<Container>, io: crate::backend::ProcessIo, backend_name: &str) {
        let backend = self.backend(backend_name).ok();
        let id = c.id.clone();
        let handle = c.hub.pump(io, Some(c.log.clone()), move || {
            if let Some(b) = backend {
                tokio::spawn(async move {
                    if let Err(e) = b.close_stdin(&id, None).await {
                        tracing::debug!(container = %id, "closing stdin: {e}");
                    }
                });
            }
        });
        *c.pump.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
    }

    pub async fn start(self: &Arc<Self>, key: &str) -> Result<()> {
        let result = self.start_once(key).await;
        if let Err(e) = &result {
            // As dockerd does, a `--rm` container whose start failed is removed: `docker
            // run --rm` waits for that removal before it reports the error.
            if !matches!(
                e,
                ContainerError::NotModified(_) | ContainerError::NotFound(_)
            ) {
                if let Ok(c) = self.get(key) {
                    let rec = c.record();
                    if rec.host_config.auto_remove == Some(true) && !rec.state.status.is_live() {
                        if let Err(re) = self.remove(&c.id, true).await {
                            tracing::warn!(container = %c.id, "removing after a failed start: {re}");
                        }
                    }
                }
            }
        }
        result
    }

    async fn start_once(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        match rec.state.status {
            Status::Running | Status::Paused | Status::Restarting => {
                return Err(ContainerError::NotModified("started"))
            }
            Status::Removing | Status::Dead => {
                return Err(ContainerError::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    c.id
                )))
            }
            _ => {}
        }
        let backend = self.backend(&rec.backend)?;
        let windows = rec.platform == "windows";
        let built = if windows {
            self.build_windows_spec(&c, &rec).await
        } else {
            self.build_spec(&c, &rec).await
        };
        let spec = match built {
            Ok(s) => s,
            Err(e) => {
                self.record_start_failure(&c, &e.to_string(), 128);
                return Err(e);
            }
        };
        // Execs start from the init process's spec (env, user, capabilities).
        let init = spec
            .process()
            .as_ref()
            .and_then(|p| serde_json::to_value(p).ok());
        c.update(|r| r.init_process = init);
        let io = match backend
            .create(CreateRequest {
                id: c.id.clone(),
                spec,
                rootfs: if windows {
                    Rootfs::InSpec
                } else {
                    Rootfs::Snapshot {
                        snapshotter: rec.snapshotter.clone(),
                        key: rec.rootfs_key.clone(),
                    }
                },
                stdio: stdio_of(&rec),
                labels: HashMap::new(),
            })
            .await
        {
            Ok(io) => io,
            Err(e) => {
                self.record_start_failure(&c, &e.to_string(), exit_code_for(&e.to_string()));
                return Err(ContainerError::InvalidParameter(e.to_string()));
            }
        };
        // Pump before starting so not a byte of early output is lost.
        self.start_pump(&c, io, &rec.backend);
        c.update(|r| r.state.status = Status::Running);
        c.lifecycle.send_modify(|l| l.running = true);
        match backend.start(&c.id).await {
            Ok(pid) => {
                c.update(|r| {
                    r.state.pid = pid;
                    r.state.started_at = Some(Utc::now());
                    r.state.error.clear();
                    r.state.exit_code = 0;
                    r.state.oom_killed = false;
                    r.has_been_manually_stopped = false;
                });
                self.store.save(&c.record())?;
                self.emit(&c, "start", HashMap::new());
                Ok(())
            }
            Err(e) => {
                // Every handle the create made goes: task, runtime container, FIFOs.
                if let Err(de) = backend.delete(&c.id).await {
                    tracing::warn!(container = %c.id, "cleaning up after failed start: {de}");
                }
                let msg = e.to_string();
                self.record_start_failure(&c, &msg, exit_code_for(&msg));
                c.lifecycle.send_modify(|l| l.running = false);
                Err(ContainerError::InvalidParameter(msg))
            }
        }
    }

    fn record_start_failure(&self, c: &Container, msg: &str, code: i64) {
        c.update(|r| {
            r.state.status = if r.state.started_at.is_some() {
                Status::Exited
            } else {
                Status::Created
            };
            r.state.error = msg.to_string();
            r.state.exit_code = code;
            r.state.pid = 0;
        });
        let _ = self.store.save(&c.record());
    }

    async fn build_spec(&self, c: &Container, rec: &Record) -> Result<oci_spec::runtime::Spec> {
        let image = self.images.resolve(&rec.image_id).await?;
        let dir = self.store.dir(&c.id);
        let body = create_body(rec);
        let hostname = translate::linux::container_hostname(&body, &c.id, &self.host.hostname);
        let network_mode = rec.host_config.network_mode.clone().unwrap_or_default();
        let write = |name: &str, data: String| -> Result<String> {
            let p = dir.join(name);
            std::fs::write(&p, data)
                .map_err(|e| ContainerError::io(format!("writing {}", p.display()), e))?;
            Ok(p.display().to_string())
        };
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let host_hosts = std::fs::read_to_string("/etc/hosts").ok();
        let etc_hostname = write("hostname", format!("{hostname}\n"))?;
        let etc_hosts = write(
            "hosts",
            translate::linux::etc_hosts(
                &hostname,
                rec.host_config.extra_hosts.as_deref().unwrap_or_default(),
                &network_mode,
                host_hosts.as_deref(),
            )?,
        )?;
        let resolv = write(
            "resolv.conf",
            translate::linux::resolv_conf(
                &host_resolv,
                rec.host_config.dns.as_deref().unwrap_or_default(),
                rec.host_config.dns_search.as_deref().unwrap_or_default(),
                rec.host_config.dns_options.as_deref().unwrap_or_default(),
                &network_mode,
            )?,
        )?;
        // `-v` sources are created when missing, as dockerd does; `--mount` sources must exist.
        for b in translate::linux::bind_sources(&body)? {
            let p = std::path::Path::new(&b.path);
            if !p.exists() {
                if b.create_if_missing {
                    std::fs::create_dir_all(p).map_err(|e| {
                        ContainerError::io(format!("creating bind source {}", b.path), e)
                    })?;
                } else {
                    return Err(ContainerError::InvalidParameter(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        b.path
                    )));
                }
            }
        }
        let mounts = self.images.rootfs_mounts(&rec.rootfs_key).await?;
        let target = self.mount_root.join(&c.id);
        let fs = rootfs::MountedRootfs::mount(&mounts, &target)?;
        let mut ctx = translate::linux::LinuxContext::for_audit(&c.id);
        ctx.hostname = hostname;
        ctx.passwd = fs.read_to_string("/etc/passwd");
        ctx.group = fs.read_to_string("/etc/group");
        ctx.etc_hosts = Some(etc_hosts);
        ctx.etc_hostname = Some(etc_hostname);
        ctx.resolv_conf = Some(resolv);
        ctx.host_hard_rlimits = self.host.hard_rlimits.clone();
        ctx.host_capabilities = self.host.capabilities.clone();
        ctx.cgroup_v2 = self.host.cgroup_version == 2;
        ctx.online_cpus = u32::try_from(self.host.ncpu).ok();
        ctx.cgroups_path = format!("/dockbridge/{}", c.id);
        let spec = translate::linux::linux_spec(&body, &image.config, &ctx)?;
        if let Some(p) = spec.process() {
            let cwd = p.cwd().display().to_string();
            if cwd != "/" {
                // dockerd creates a missing working directory owned by root.
                fs.create_dir_all(&cwd, 0, 0)?;
            }
        }
        drop(fs);
        Ok(spec)
    }

    /// Where a Windows container's layers are, in the runtime spec's order: the image's
    /// layers topmost first, then the container's scratch layer. dockerd keeps them under
    /// `windowsfilter`; off Windows (the HCS simulator) the paths are only names.
    fn windows_context(
        &self,
        id: &str,
        image: &crate::images::ImageRecord,
    ) -> translate::windows::WindowsContext {
        let root = self
            .store
            .dir("")
            .parent()
            .map(|p| p.join("windowsfilter"))
            .unwrap_or_default();
        let mut ctx = translate::windows::WindowsContext::for_audit(
            id,
            u32::try_from(self.host.ncpu).unwrap_or(1),
        );
        ctx.layer_folders = image
            .chain_ids
            .iter()
            .rev()
            .map(|c| {
                root.join(c.trim_start_matches("sha256:"))
                    .display()
                    .to_string()
            })
            .chain(std::iter::once(root.join(id).display().to_string()))
            .collect();
        ctx
    }

    async fn build_windows_spec(
        &self,
        c: &Container,
        rec: &Record,
    ) -> Result<oci_spec::runtime::Spec> {
        let image = self.images.resolve(&rec.image_id).await?;
        let mut ctx = self.windows_context(&c.id, &image);
        ctx.first_start = rec.state.started_at.is_none();
        Ok(translate::windows::windows_spec(
            &create_body(rec),
            &image.config,
            &ctx,
        )?)
    }

    /// Sends `signal` to the init process (`docker kill`).
    pub async fn kill(self: &Arc<Self>, key: &str, signal: Option<&str>) -> Result<()> {
        let c = self.get(key)?;
        let rec = c.record();
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => 9,
        };
        if !rec.state.status.is_live() {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let backend = self.backend(&rec.backend)?;
        // As in dockerd, a killed container is not brought back by its restart policy.
        c.update(|r| r.has_been_manually_stopped = true);
        backend.signal(&c.id, None, sig).await?;
        self.emit(
            &c,
            "kill",
            HashMap::from([("signal".into(), sig.to_string())]),
        );
        Ok(())
    }

    /// `docker stop`: the stop signal, then SIGKILL after `timeout` seconds (-1 = forever).
    pub async fn stop(
        self: &Arc<Self>,
        key: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.get(key)?;
        let rec = c.record();
        if !rec.state.status.is_live() {
            return Err(ContainerError::NotModified("stopped"));
        }
        c.update(|r| r.has_been_manually_stopped = true);
        let stop_signal = signal
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| rec.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = parse_signal(&stop_signal)?;
        let timeout = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        self.stop_container(&c, sig, timeout).await?;
        self.emit(&c, "stop", HashMap::new());
        Ok(())
    }

    async fn stop_container(
        self: &Arc<Self>,
        c: &Arc<Container>,
        sig: u32,
        timeout: i64,
    ) -> Result<()> {
        let backend = self.backend(&c.record().backend)?;
        let mut life = c.lifecycle();
        if !life.borrow().running {
            return Ok(());
        }
        if c.record().state.status == Status::Paused {
            let _ = backend.resume(&c.id).await;
        }
        match backend.signal(&c.id, None, sig).await {
            Ok(()) => self.emit(
                c,
                "kill",
                HashMap::from([("signal".into(), sig.to_string())]),
            ),
            Err(BackendError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let wait = life.wait_for(|l| !l.running);
        let exited = if timeout < 0 {
            wait.await.is_ok()
        } else {
            tokio::time::timeout(Duration::from_secs(timeout as u64), wait)
                .await
                .is_ok()
        };
        if !exited {
            match backend.signal(&c.id, None, 9).await {
                Ok(()) => self.emit(c, "kill", HashMap::from([("signal".into(), "9".into())])),
                Err(BackendError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            let mut life = c.lifecycle();
            let _ =
                tokio::time::timeout(Duration::from_secs(30), life.wait_for(|l| !l.running)).await;
        }
        Ok(())
    }

    pub async fn restart(
        self: &Arc<Self>,
        key: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.get(key)?;
        if c.record().state.status.is_live() {
            self.stop(key, signal, timeout).await?;
        }
        self.start(&c.id).await?;
        self.emit(&c, "restart", HashMap::new());
        Ok(())
    }

    pub async fn pause(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        match rec.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(ContainerError::Conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            _ => {
                return Err(ContainerError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
        }
        // Mark first: the runtime's own "paused" event then finds nothing to report.
        c.update(|r| r.state.status = Status::Paused);
        if let Err(e) = self.backend(&rec.backend)?.pause(&c.id).await {
            c.update(|r| r.state.status = Status::Running);
            return Err(e.into());
        }
        self.store.save(&c.record())?;
        self.emit(&c, "pause", HashMap::new());
        Ok(())
    }

    pub async fn unpause(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        if rec.state.status != Status::Paused {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not paused",
                c.id
            )));
        }
        c.update(|r| r.state.status = Status::Running);
        if let Err(e) = self.backend(&rec.backend)?.resume(&c.id).await {
            c.update(|r| r.state.status = Status::Paused);
            return Err(e.into());
        }
        self.store.save(&c.record())?;
        self.emit(&c, "unpause", HashMap::new());
        Ok(())
    }

    pub async fn remove(self: &Arc<Self>, key: &str, force: bool) -> Result<()> {
        let c = self.get(key)?;
        let rec = c.record();
        if rec.state.status.is_live() {
            if !force {
                // dockerd 20.10's wording (the reference engine); the CLI prints it as is.
                let what = if rec.state.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(ContainerError::Conflict(format!(
                    "You cannot remove a {what} container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            self.stop_container(&c, 9, 10).await?;
        }
        let _op = c.op.lock().await;
        if c.lifecycle.borrow().removed {
            return Ok(());
        }
        let backend = self.backend(&rec.backend)?;
        backend.delete(&c.id).await?;
        if rec.platform != "windows" {
            self.images.remove_rootfs(&rec.rootfs_key).await?;
        }
        self.store.remove(&c.id)?;
        {
            let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
            idx.by_id.remove(&c.id);
            let name = c.record().name;
            if idx.names.get(&name) == Some(&c.id) {
                idx.names.remove(&name);
            }
        }
        self.execs.remove_container(&c.id);
        c.lifecycle.send_modify(|l| l.removed = true);
        self.emit(&c, "destroy", HashMap::new());
        Ok(())
    }

    pub fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        let c = self.get(key)?;
        let new_name = names::validate(new_name).map_err(ContainerError::InvalidParameter)?;
        let old = c.record().name;
        if old == new_name {
            return Err(ContainerError::InvalidParameter(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        {
            let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
            if let Some(other) = idx.names.get(&new_name) {
                return Err(ContainerError::Conflict(format!(
                    "Conflict. The container name \"{new_name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            idx.names.remove(&old);
            idx.names.insert(new_name.clone(), c.id.clone());
        }
        c.update(|r| r.name = new_name);
        self.store.save(&c.record())?;
        self.emit(&c, "rename", HashMap::from([("oldName".into(), old)]));
        Ok(())
    }

    /// Resolves when `cond` is met; returns the exit code.
    pub fn wait(
        &self,
        key: &str,
        cond: WaitCondition,
    ) -> Result<impl std::future::Future<Output = i64>> {
        let c = self.get(key)?;
        let mut rx = c.lifecycle();
        let start = rx.borrow().clone();
        Ok(async move {
            let done = |l: &Lifecycle| match cond {
                WaitCondition::NotRunning => !l.running || l.removed,
                WaitCondition::NextExit => l.exits > start.exits || l.removed,
                WaitCondition::Removed => l.removed,
            };
            match rx.wait_for(done).await {
                Ok(l) => l.exit_code,
                // The container object went away without a final update.
                Err(_) => start.exit_code,
            }
        })
    }

    /// `docker update`: only the restart policy can change today; resource changes are
    /// refused (400) rather than accepted and not applied.
    pub fn update_restart_policy(
        &self,
        key: &str,
        policy: spec::api::models::RestartPolicy,
    ) -> Result<()> {
        let c = self.get(key)?;
        translate::linux::check_restart_policy(&policy)?;
        let rec = c.record();
        let none = matches!(
            policy.name,
            None | Some(spec::api::models::RestartPolicyNameEnum::EMPTY)
                | Some(spec::api::models::RestartPolicyNameEnum::NO)
        );
        if rec.host_config.auto_remove.unwrap_or(false) && !none {
            return Err(ContainerError::InvalidParameter(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        c.update(|r| r.host_config.restart_policy = Some(policy));
        self.store.save(&c.record())?;
        self.emit(&c, "update", HashMap::new());
        Ok(())
    }

    pub async fn resize_tty(&self, key: &str, w: u32, h: u32) -> Result<()> {
        let c = self.get(key)?;
        let rec = c.record();
        if !rec.state.status.is_live() {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        self.backend(&rec.backend)?
            .resize(&c.id, None, w, h)
            .await?;
        self.emit(
            &c,
            "resize",
            HashMap::from([
                ("height".to_string(), h.to_string()),
                ("width".to_string(), w.to_string()),
            ]),
        );
        Ok(())
    }
}

fn stdio_of(rec: &Record) -> StdioConfig {
    StdioConfig {
        stdin: rec.config.open_stdin.unwrap_or(false),
        terminal: rec.config.tty.unwrap_or(false),
    }
}

/// The create request, for the spec translation (with the host config as it is now).
/// This very binary, for `archive-helper` children. `/proc/self/exe` still works after
/// the file was replaced or deleted (an upgrade under a running daemon); a fork execs it
/// as itself.
fn helper_exe() -> PathBuf {
    let proc_self = PathBuf::from("/proc/self/exe");
    if proc_self.exists() {
        return proc_self;
    }
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("dockbridge"))
}

fn create_body(rec: &Record) -> ContainerCreateBody {
    if let Some(body) = &rec.request {
        let mut body = body.clone();
        body.host_config = Some(rec.host_config.clone());
        return body;
    }
    // Records written before the request was kept: the effective config.
    let v = serde_json::to_value(&rec.config).unwrap_or_default();
    let mut body: ContainerCreateBody = serde_json::from_value(v).unwrap_or_default();
    body.host_config = Some(rec.host_config.clone());
    body
}

fn should_restart(rec: &Record, code: i64) -> bool {
    use spec::api::models::RestartPolicyNameEnum as P;
    if rec.has_been_manually_stopped {
        return false;
    }
    let Some(p) = rec.host_config.restart_policy.as_ref() else {
        return false;
    };
    match p.name {
        Some(P::ALWAYS) | Some(P::UNLESS_STOPPED) => true,
        Some(P::ON_FAILURE) => {
            let max = p.maximum_retry_count.unwrap_or(0);
            code != 0 && (max == 0 || rec.restart_count < max)
        }
        _ => false,
    }
}

/// The exit code Docker records when a process could not even start.
fn exit_code_for(msg: &str) -> i64 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") || msg.contains("exec format error") {
        126
    } else {
        128
    }
}

/// `SIGTERM`, `TERM`, `15`.
pub fn parse_signal(s: &str) -> Result<u32> {
    if let Ok(n) = s.parse::<u32>() {
        if n == 0 || n > 64 {
            return Err(ContainerError::InvalidParameter(format!(
                "Invalid signal: {s}"
            )));
        }
        return Ok(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, num)| *num)
        .ok_or_else(|| ContainerError::InvalidParameter(format!("Invalid signal: {s}")))
}

/// Linux signal numbers by name (the container's kernel is Linux whatever the daemon's
/// OS; HCS maps the few it knows itself).
const SIGNALS: &[(&str, u32)] = &[
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGILL", 4),
    ("SIGTRAP", 5),
    ("SIGABRT", 6),
    ("SIGIOT", 6),
    ("SIGBUS", 7),
    ("SIGFPE", 8),
    ("SIGKILL", 9),
    ("SIGUSR1", 10),
    ("SIGSEGV", 11),
    ("SIGUSR2", 12),
    ("SIGPIPE", 13),
    ("SIGALRM", 14),
    ("SIGTERM", 15),
    ("SIGSTKFLT", 16),
    ("SIGCHLD", 17),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGTSTP", 20),
    ("SIGTTIN", 21),
    ("SIGTTOU", 22),
    ("SIGURG", 23),
    ("SIGXCPU", 24),
    ("SIGXFSZ", 25),
    ("SIGVTALRM", 26),
    ("SIGPROF", 27),
    ("SIGWINCH", 28),
    ("SIGIO", 29),
    ("SIGPOLL", 29),
    ("SIGPWR", 30),
    ("SIGSYS", 31),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signals_like_docker() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
    }

    #[test]
    fn start_failures_map_to_docker_exit_codes() {
        assert_eq!(
            exit_code_for("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(exit_code_for("permission denied"), 126);
        assert_eq!(exit_code_for("something else"), 128);
    }
}
