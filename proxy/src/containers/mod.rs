//! The container manager: every container's record, state machine and stdio, independent of
//! which backend runs it and of HTTP.
//!
//! Module map:
//! - [`index`]: finding containers by ID, name or prefix; name reservation;
//! - [`lifecycle`]: the pure state machine, the only writer of status (applied here by
//!   [`Manager::transition`], under the container's operation lock);
//! - [`runtime`]: runtime events, reconcile after reconnects, restore at boot;
//! - [`providers`]: the seams to images, networks, mounts and spec building;
//! - `exec`, `archive`, `commit`, `stats`, `size`, `logs`, `stream`: one operation each.

pub mod archive;
pub mod commit;
pub mod connect;
pub mod exec;
pub mod health;
pub mod index;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod names;
pub mod providers;
pub mod record;
pub mod rootfs;
pub mod runtime;
pub mod select;
mod shared_net;
pub mod size;
pub mod stats;
pub mod store;
pub mod stream;
#[cfg(test)]
mod tests_manager;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use spec::api::models::{ContainerCreateBody, EventMessageTypeEnum};
use tokio::sync::watch;

use crate::backend::{Backend, BackendError, CreateRequest, Rootfs, StdioConfig};
use crate::error_kind::{ErrorKind, Kinded};
use crate::events::EventBus;
use lifecycle::{Effect, Notice, Refusal, Transition};
use providers::{
    ImageProvider, MountProvider, NetworkAttachment, NetworkProvider, SpecBuilder, SpecRequest,
};
use record::{Platform, Record, RootfsKind, State, Status};
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
    /// Refused by policy, e.g. writing into a read-only rootfs.
    #[error("{0}")]
    Forbidden(String),
    /// Something dockerd would do that this backend cannot.
    #[error("{0}")]
    NotImplemented(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Translate(#[from] translate::Error),
    #[error(transparent)]
    Image(#[from] crate::images::ImagesError),
    #[error(transparent)]
    Volume(#[from] crate::volumes::VolumeError),
}

impl ContainerError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
    /// The exit code Docker records for a start that failed with this error.
    fn start_exit_code(&self) -> i64 {
        match self {
            Self::Backend(BackendError::ProcessStart { exit_code, .. }) => *exit_code,
            _ => 128,
        }
    }
}

impl Kinded for ContainerError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::InvalidParameter(_) | Self::StartFailed(_) => ErrorKind::InvalidParameter,
            Self::NotModified(_) => ErrorKind::NotModified,
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::NotImplemented(_) => ErrorKind::NotImplemented,
            Self::Io { .. } | Self::Internal(_) => ErrorKind::Internal,
            Self::Backend(b) => b.kind(),
            Self::Translate(t) => t.kind(),
            Self::Image(i) => i.kind(),
            Self::Volume(v) => v.kind(),
        }
    }
}

impl From<Refusal> for ContainerError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotModified(what) => Self::NotModified(what),
            Refusal::Conflict(m) => Self::Conflict(m),
            Refusal::Stale => Self::Conflict("the container changed state meanwhile".into()),
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

/// Proof that the container's operation lock is held.
pub type OpGuard<'a> = tokio::sync::MutexGuard<'a, ()>;

pub struct Container {
    pub id: String,
    rec: Mutex<Record>,
    pub hub: Arc<Hub>,
    pub log: Arc<logs::LogWriter>,
    lifecycle: watch::Sender<Lifecycle>,
    /// Serialises every transition of this container (start, exit, stop, remove …).
    op: tokio::sync::Mutex<()>,
    pump: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Bumped whenever a restart is scheduled or cancelled: a timer that fires for an older
    /// schedule does nothing.
    restart_gen: AtomicU64,
}

impl Container {
    pub fn record(&self) -> Record {
        self.rec.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn set_record(&self, r: Record) {
        *self.rec.lock().unwrap_or_else(|p| p.into_inner()) = r;
    }
    pub fn lifecycle(&self) -> watch::Receiver<Lifecycle> {
        self.lifecycle.subscribe()
    }
    pub fn name(&self) -> String {
        self.record().name
    }
    /// Takes the operation lock: every transition runs under it.
    pub async fn lock_op(&self) -> OpGuard<'_> {
        self.op.lock().await
    }
}

/// Where the manager keeps things.
pub struct Paths {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// The init binary for `--init` (`None`: refused).
    pub init_path: Option<PathBuf>,
    /// The daemon's seccomp profile for unprivileged containers (`None`: unconfined).
    pub seccomp_profile: Option<Arc<translate::linux::seccomp::Profile>>,
}

/// The subsystems the manager works through (see [`providers`]).
pub struct Providers {
    pub images: Arc<dyn ImageProvider>,
    pub specs: Arc<dyn SpecBuilder>,
    pub networks: Arc<dyn NetworkProvider>,
    pub mounts: Arc<dyn MountProvider>,
}

pub struct Manager {
    index: index::Index<Container>,
    store: Store,
    mount_root: PathBuf,
    images: Arc<dyn ImageProvider>,
    specs: Arc<dyn SpecBuilder>,
    networks: Arc<dyn NetworkProvider>,
    mounts: Arc<dyn MountProvider>,
    backends: HashMap<&'static str, Arc<dyn Backend>>,
    default_backend: &'static str,
    events: Arc<EventBus>,
    host: Arc<crate::host::HostInfo>,
    pub execs: exec::Execs,
    /// The executable run as `archive-helper` for `docker cp`/`export` (this binary).
    helper_exe: PathBuf,
    /// How long a SIGKILL'd container is waited for before `kill` returns anyway.
    kill_wait: Duration,
}

impl Manager {
    pub fn new(
        paths: Paths,
        providers: Providers,
        backends: HashMap<&'static str, Arc<dyn Backend>>,
        default_backend: &'static str,
        events: Arc<EventBus>,
        host: Arc<crate::host::HostInfo>,
    ) -> Result<Arc<Self>> {
        let store = Store::new(paths.data_root.join("containers"))?;
        Ok(Arc::new(Self {
            index: index::Index::default(),
            store,
            mount_root: paths.exec_root.join("mnt"),
            images: providers.images,
            specs: providers.specs,
            networks: providers.networks,
            mounts: providers.mounts,
            backends,
            default_backend,
            events,
            host,
            execs: exec::Execs::default(),
            helper_exe: helper_exe(),
            kill_wait: Duration::from_secs(10),
        }))
    }

    /// The real providers for a daemon on the image store and the volume store.
    pub fn runtime_providers(
        images: Arc<crate::images::ImageStore>,
        volumes: Arc<crate::volumes::VolumeStore>,
        events: Arc<EventBus>,
        paths: &Paths,
        host: Arc<crate::host::HostInfo>,
        networks: Arc<dyn NetworkProvider>,
    ) -> Providers {
        let images: Arc<dyn ImageProvider> = images;
        Providers {
            specs: Arc::new(providers::RuntimeSpecs {
                images: images.clone(),
                host,
                containers_dir: paths.data_root.join("containers"),
                mount_root: paths.exec_root.join("mnt"),
                windows_layers: paths.data_root.join("windowsfilter"),
                init_path: paths.init_path.clone(),
                seccomp_profile: paths.seccomp_profile.clone(),
            }),
            mounts: Arc::new(providers::LocalMounts {
                volumes,
                images: images.clone(),
                mount_root: paths.exec_root.join("mnt"),
                events,
            }),
            images,
            networks,
        }
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

    /// The backend of a container whose files the daemon reads on the host (cp, diff,
    /// export, commit): refused with the backend's reason otherwise.
    fn host_fs_backend(&self, rec: &Record) -> Result<Arc<dyn Backend>> {
        let b = self.backend(&rec.backend)?;
        b.host_filesystem()?;
        Ok(b)
    }

    fn new_container(&self, rec: Record) -> Arc<Container> {
        // Options were validated at create; what only the logger's start checks (json-file
        // `compress`) fails the start instead. A record from before rotation rotates never.
        let rotation = rec
            .host_config
            .log_config
            .as_ref()
            .and_then(|l| translate::linux::log_init(l).ok())
            .unwrap_or(translate::linux::LogOptions {
                stored: true,
                max_size: None,
                max_file: 1,
                compress: false,
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
            restart_gen: AtomicU64::new(0),
        })
    }

    /// Applies one transition of the state machine and carries out its effects. The only
    /// place a container's status changes; `_op` proves the operation lock is held.
    ///
    /// Boxed: its effects can start a removal, which runs transitions of its own, and a
    /// named `Send` future is what lets the compiler see through that cycle.
    pub(crate) fn transition<'a>(
        self: &'a Arc<Self>,
        c: &'a Arc<Container>,
        _op: &'a OpGuard<'_>,
        t: Transition,
    ) -> futures::future::BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(self.transition_inner(c, t))
    }

    async fn transition_inner(
        self: &Arc<Self>,
        c: &Arc<Container>,
        t: Transition,
    ) -> Result<(), Refusal> {
        let applied = lifecycle::apply(&c.record(), t, Utc::now())?;
        let before = c.record();
        c.set_record(applied.record.clone());
        if before.state.status == Status::Restarting
            && applied.record.state.status != Status::Restarting
        {
            // Whatever ended the wait (a stop, a failed restart) cancels the timer.
            c.restart_gen.fetch_add(1, Ordering::SeqCst);
        }
        let rec = applied.record;
        for effect in applied.effects {
            match effect {
                Effect::Persist => {
                    if let Err(e) = self.store.save(&rec) {
                        tracing::warn!(container = %c.id, "saving state: {e}");
                    }
                }
                Effect::Forget => {
                    if let Err(e) = self.store.remove(&c.id) {
                        tracing::warn!(container = %c.id, "removing the record: {e}");
                    }
                    self.index.remove(&c.id, &rec.name);
                    self.execs.remove_container(&c.id);
                }
                Effect::Event { action, attrs } => self.emit(c, &action, attrs),
                Effect::Notify(n) => c.lifecycle.send_modify(|l| match n {
                    Notice::Running => l.running = true,
                    Notice::Exited(code) => {
                        l.running = false;
                        l.exits += 1;
                        l.exit_code = code;
                    }
                    Notice::Removed => {
                        l.running = false;
                        l.removed = true;
                    }
                }),
                Effect::ReleaseRun => {
                    if let Err(e) = self.networks.release(&rec).await {
                        tracing::warn!(container = %c.id, "releasing the network: {e}");
                    }
                    if let Err(e) = self.mounts.release(&rec).await {
                        tracing::warn!(container = %c.id, "releasing mounts: {e}");
                    }
                }
                Effect::ScheduleRestart(delay) => self.schedule_restart(c, delay),
                Effect::MonitorHealth(probe) => self.monitor_health(c, probe),
                Effect::AutoRemove => {
                    // The remove needs the operation lock this transition holds.
                    let me = self.clone();
                    let id = c.id.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.remove(&id, true, true).await {
                            tracing::warn!(container = %id, "auto-removing: {e}");
                        }
                    });
                }
            }
        }
        Ok(())
    }

    fn schedule_restart(self: &Arc<Self>, c: &Arc<Container>, delay: Duration) {
        let generation = c.restart_gen.fetch_add(1, Ordering::SeqCst) + 1;
        let me = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let op = c.op.lock().await;
            if c.restart_gen.load(Ordering::SeqCst) != generation
                || c.record().state.status != Status::Restarting
            {
                return;
            }
            if let Err(e) = me.start_locked(&c, &op, true).await {
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
        self.index.get(key)
    }

    pub fn all(&self) -> Vec<Arc<Container>> {
        self.index.all()
    }

    /// The containers that use each image (by image ID), for `docker rmi`'s and image
    /// prune's conflict rules: one snapshot, because those checks run under the image
    /// store's name lock and must not call back into the manager.
    pub fn image_users(&self) -> HashMap<String, Vec<crate::images::ImageUser>> {
        let mut out: HashMap<String, Vec<crate::images::ImageUser>> = HashMap::new();
        for r in self.all().into_iter().map(|c| c.record()) {
            out.entry(r.image_id.clone())
                .or_default()
                .push(crate::images::ImageUser {
                    container_id: r.id,
                    running: r.state.status.is_running(),
                });
        }
        out
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
        // The image's OS picks the backend that can run it (both can be live side by side;
        // each container keeps its own).
        let platform = Platform::from_os(&image.config.os);
        let backend =
            record::backend_for(platform, self.backends.contains_key("hcs"), cfg!(windows));
        let rootfs_kind = record::RootfsKind::of_backend(backend);
        if !self.backends.contains_key(backend) {
            return Err(ContainerError::InvalidParameter(format!(
                "image operating system \"{}\" cannot be used on this daemon: the {backend} backend is not live (see `dockbridge serve --backend`)",
                platform.as_str()
            )));
        }
        // Volumes are planned first: translation validates the request without them.
        let image_volumes: Vec<String> = match platform {
            Platform::Linux => image
                .config
                .container_config()
                .volumes
                .map(|v| v.into_keys().collect())
                .unwrap_or_default(),
            Platform::Windows => Vec::new(),
        };
        let (checked, mut volume_refs) = self.mounts.plan(&body, &image_volumes)?;
        let (inherited, inherited_binds) = self.volumes_from(&body)?;
        // A destination another container's volume provides needs no volume of its own.
        volume_refs.retain(|r| {
            r.name.is_some() || !inherited.iter().any(|v| v.destination == r.destination)
        });
        // Windows containers are on HNS's nat network or on none: anything else, and nat
        // on a daemon without HNS, is a 4xx now rather than a container without a network.
        if platform == Platform::Windows {
            let exposed: Vec<String> = body.exposed_ports.clone().unwrap_or_default();
            crate::networks::windows::check_create(
                &body.host_config.clone().unwrap_or_default(),
                &exposed,
                self.networks.windows_networking(),
            )
            .map_err(crate::networks::hns::net_error)?;
        }
        if platform == Platform::Windows && !volume_refs.is_empty() {
            return Err(ContainerError::InvalidParameter(
                "volumes on Windows containers are not supported by dockbridge".into(),
            ));
        }
        let mut warnings = match platform {
            Platform::Windows => {
                // Validate now (400 at create, as dockerd does), with the context start uses.
                let ctx = self.specs.windows_context(&id, &image);
                translate::windows::windows_spec(&body, &image.config, &ctx)?;
                translate::windows::warnings(&body, &ctx)
            }
            Platform::Linux => {
                let mut w = translate::linux::check_create(&checked)?;
                translate::linux::lsm::check_create(&checked, &self.host.lsm)?;
                self.networks.validate_create(&checked, &mut w)?;
                w
            }
        };
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => names::validate(n).map_err(ContainerError::InvalidParameter)?,
            None => loop {
                let n = format!("/{}", names::random_name());
                if !self.index.name_taken(&n) {
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
        if let Some(m) = host_config
            .network_mode
            .as_deref()
            .and_then(|m| self.adapt_network_mode(m))
        {
            host_config.network_mode = Some(m);
        }
        if let Some(links) = host_config.links.as_ref().filter(|l| !l.is_empty()) {
            host_config.links = Some(self.resolve_links(&name, links)?);
        }
        // As dockerd records it: a memory limit without a swap limit allows as much swap.
        if let (Some(m), None | Some(0)) = (
            host_config.memory.filter(|m| *m > 0),
            host_config.memory_swap,
        ) {
            host_config.memory_swap = Some(m.saturating_mul(2));
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
            platform,
            restart_count: 0,
            rootfs_key: id.clone(),
            snapshotter: self.images.snapshotter().to_string(),
            path,
            args,
            has_been_manually_stopped: false,
            warnings: warnings.clone(),
            init_process: None,
            request: Some(body.clone()),
            volumes: Vec::new(),
            inherited_binds: Vec::new(),
            network_donor: None,
            network_mode_left: false,
        };
        let mut rec = rec;
        // Reserve the name first: two concurrent creates with one name must not both win.
        self.index.reserve(&name, &id)?;
        // Windows containers get their layers through the spec (layerFolders), over a
        // writable layer HCS creates when dockbridge keeps the layers itself.
        let prepared = match rootfs_kind {
            RootfsKind::Snapshot => self.images.prepare_rootfs(&image.id, &id).await.map(|_| ()),
            RootfsKind::LayerFolders => self.images.prepare_windows_scratch(&image.id, &id).await,
        };
        if let Err(e) = prepared {
            self.index.release(&name, &id);
            return Err(e.into());
        }
        rec.inherited_binds = inherited_binds;
        rec.volumes = match self.mounts.create_volumes(&id, &volume_refs).await {
            Ok(mut v) => {
                v.extend(inherited);
                v
            }
            Err(e) => {
                self.index.release(&name, &id);
                self.discard_rootfs(rootfs_kind, &id).await;
                return Err(e);
            }
        };
        if let Err(e) = self.store.save(&rec) {
            self.index.release(&name, &id);
            self.discard_rootfs(rootfs_kind, &id).await;
            self.mounts.discard(&rec.volumes).await;
            return Err(e);
        }
        let c = self.new_container(rec);
        self.index.insert(&id, c.clone());
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
        let c = self.get(key)?;
        let result = {
            let op = c.op.lock().await;
            self.start_locked(&c, &op, false).await
        };
        if let Err(e) = &result {
            // As dockerd does, a `--rm` container whose start failed is removed: `docker
            // run --rm` waits for that removal before it reports the error.
            let rec = c.record();
            if !matches!(e, ContainerError::NotModified(_))
                && rec.host_config.auto_remove == Some(true)
                && !rec.state.status.is_running()
            {
                if let Err(re) = self.remove(&c.id, true, true).await {
                    tracing::warn!(container = %c.id, "removing after a failed start: {re}");
                }
            }
        }
        result
    }

    /// Creates and starts the task. `by_policy`: the restart policy's start of a
    /// restarting container (a user's start of one is refused as already started).
    async fn start_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        op: &OpGuard<'_>,
        by_policy: bool,
    ) -> Result<()> {
        let rec = c.record();
        if by_policy {
            if rec.state.status != Status::Restarting {
                return Ok(());
            }
        } else {
            lifecycle::check_start(&rec)?;
        }
        let backend = self.backend(&rec.backend)?;
        backend.can_run()?;
        // dockerd creates the logger as the container starts: its option errors fail the
        // start (500, recorded in State.Error), not the create.
        if let Some(Err(m)) = rec
            .host_config
            .log_config
            .as_ref()
            .map(translate::linux::log_init)
        {
            let e = ContainerError::Internal(m);
            self.fail_start(c, op, &e).await;
            return Err(e);
        }
        let prepared = self.prepare_run(&rec).await;
        let (spec, network, network_donor) = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.fail_start(c, op, &e).await;
                return Err(e);
            }
        };
        // Execs start from the init process's spec (env, user, capabilities).
        let init = spec
            .process()
            .as_ref()
            .and_then(|p| serde_json::to_value(p).ok());
        let created = backend
            .create(CreateRequest {
                id: c.id.clone(),
                spec,
                rootfs: match RootfsKind::of_backend(&rec.backend) {
                    RootfsKind::LayerFolders => Rootfs::InSpec,
                    RootfsKind::Snapshot => Rootfs::Snapshot {
                        snapshotter: rec.snapshotter.clone(),
                        key: rec.rootfs_key.clone(),
                    },
                },
                stdio: stdio_of(&rec),
                labels: HashMap::new(),
            })
            .await;
        let io = match created {
            Ok(io) => io,
            Err(e) => {
                let e = ContainerError::from(e);
                self.release_network(&rec, &network).await;
                self.fail_start(c, op, &e).await;
                return Err(e);
            }
        };
        // Pump before starting so not a byte of early output is lost.
        self.start_pump(c, io, &rec.backend);
        match backend.start(&c.id).await {
            Ok(pid) => {
                // An exit that arrives meanwhile waits for the lock and is applied after.
                self.transition(
                    c,
                    op,
                    Transition::Started {
                        pid,
                        init_process: init,
                        network_donor,
                    },
                )
                .await?;
                Ok(())
            }
            Err(e) => {
                // Every handle the create made goes: task, runtime container, FIFOs.
                if let Err(de) = backend.delete(&c.id).await {
                    tracing::warn!(container = %c.id, "cleaning up after failed start: {de}");
                }
                let e = ContainerError::from(e);
                self.release_network(&rec, &network).await;
                self.fail_start(c, op, &e).await;
                Err(e)
            }
        }
    }

    /// What a run needs before the task exists: mount sources, the network, the spec (the
    /// image resolved once). A failure leaves nothing set up.
    async fn prepare_run(
        &self,
        rec: &Record,
    ) -> Result<(
        oci_spec::runtime::Spec,
        NetworkAttachment,
        Option<record::NetworkDonor>,
    )> {
        let image = self.images.resolve(&rec.image_id).await?;
        let joins = providers::Joins {
            pid: self.joined(rec.host_config.pid_mode.as_deref(), "PID")?,
            ipc: self.ipc_donor(rec.host_config.ipc_mode.as_deref())?,
            links: self.linked_children(rec)?,
            net: self.network_donor(rec)?,
        };
        let donor = joins.net.clone();
        let body = self.mounts.runtime_body(rec, &create_body(rec));
        self.mounts.prepare(rec, &body).await?;
        let network = self.networks.attach(rec).await?;
        let built = self
            .specs
            .build(SpecRequest {
                rec,
                image: &image,
                body: &body,
                network: &network,
                joins,
            })
            .await;
        match built {
            Ok(spec) => Ok((spec, network, donor)),
            Err(e) => {
                self.release_network(rec, &network).await;
                Err(e)
            }
        }
    }

    /// The init pid of the container a `container:NAME` namespace mode names, with
    /// dockerd's refusals (not running; an IPC donor that is not shareable).
    fn joined(&self, mode: Option<&str>, what: &str) -> Result<Option<u32>> {
        let Some(name) = mode.and_then(|m| m.strip_prefix("container:")) else {
            return Ok(None);
        };
        let other = self.get(name)?.record();
        if other.state.status != Status::Running {
            return Err(ContainerError::Conflict(format!(
                "cannot join {what} of a non running container: {name}"
            )));
        }
        if what == "IPC"
            && !matches!(
                other.host_config.ipc_mode.as_deref(),
                Some("shareable" | "host")
            )
        {
            return Err(ContainerError::InvalidParameter(
                "non-shareable IPC (hint: use IpcMode:shareable for the donor container)".into(),
            ));
        }
        Ok(Some(other.state.pid))
    }

    /// `--link` children as this start sees them: each must be running on the default
    /// bridge (dockerd's errors otherwise).
    fn linked_children(&self, rec: &Record) -> Result<Vec<translate::linux::links::LinkedChild>> {
        let mut out = Vec::new();
        for link in rec.host_config.links.iter().flatten() {
            let (name, alias) = translate::linux::links::parse_link(link)?;
            let link_name = format!("{}/{alias}", rec.name);
            let child = self
                .get(&name)
                .map_err(|_| {
                    ContainerError::InvalidParameter(format!(
                        "could not get container for {name}: No such container: {name}"
                    ))
                })?
                .record();
            if child.state.status != Status::Running {
                return Err(ContainerError::Internal(format!(
                    "Cannot link to a non running container: {} AS {link_name}",
                    child.name
                )));
            }
            let ip = self.networks.bridge_address(&child.id).ok_or_else(|| {
                ContainerError::Internal(format!(
                    "container {} not attached to default bridge network",
                    child.id
                ))
            })?;
            out.push(translate::linux::links::LinkedChild {
                link_name,
                name: child.name.trim_start_matches('/').to_string(),
                hostname: child.config.hostname.clone().unwrap_or_default(),
                ip: ip.to_string(),
                env: child.config.env.clone().unwrap_or_default(),
                exposed: child
                    .config
                    .exposed_ports
                    .as_ref()
                    .cloned()
                    .unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// At create: each `--link` names an existing container not on the host's network;
    /// recorded as inspect shows them, `/child:/parent/alias`.
    fn resolve_links(&self, parent: &str, links: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for link in links {
            let (name, alias) = translate::linux::links::parse_link(link)?;
            let child = self
                .get(&name)
                .map_err(|_| {
                    ContainerError::InvalidParameter(format!(
                        "could not get container for {name}: No such container: {name}"
                    ))
                })?
                .record();
            if child.host_config.network_mode.as_deref() == Some("host") {
                return Err(ContainerError::InvalidParameter(
                    "conflicting options: host type networking can't be used with links. This would result in undefined behavior".into(),
                ));
            }
            out.push(format!("{}:{parent}/{alias}", child.name));
        }
        Ok(out)
    }

    /// The IPC donor of a `container:NAME` mode: its pid and ID.
    fn ipc_donor(&self, mode: Option<&str>) -> Result<Option<(u32, String)>> {
        let Some(pid) = self.joined(mode, "IPC")? else {
            return Ok(None);
        };
        let name = mode
            .and_then(|m| m.strip_prefix("container:"))
            .unwrap_or_default();
        Ok(Some((pid, self.get(name)?.id.clone())))
    }

    async fn release_network(&self, rec: &Record, _network: &NetworkAttachment) {
        if let Err(e) = self.networks.release(rec).await {
            tracing::warn!(container = %rec.id, "releasing the network: {e}");
        }
    }

    async fn fail_start(
        self: &Arc<Self>,
        c: &Arc<Container>,
        op: &OpGuard<'_>,
        e: &ContainerError,
    ) {
        let t = Transition::StartFailed {
            error: e.to_string(),
            exit_code: e.start_exit_code(),
        };
        if let Err(r) = self.transition(c, op, t).await {
            tracing::debug!(container = %c.id, "recording a failed start: {r:?}");
        }
    }

    /// Sends `signal` to the init process (`docker kill`). With SIGKILL (the default) it
    /// returns once the container exited, as dockerd does (bounded by `kill_wait`).
    pub async fn kill(self: &Arc<Self>, key: &str, signal: Option<&str>) -> Result<()> {
        let c = self.get(key)?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => 9,
        };
        let mut life = c.lifecycle();
        {
            let op = c.op.lock().await;
            let rec = c.record();
            lifecycle::check_signal(&rec)?;
            // As in dockerd, a killed container is not brought back by its restart policy;
            // a restarting one has no process and simply stays exited.
            self.transition(&c, &op, Transition::StopRequested).await?;
            if rec.state.status == Status::Restarting {
                return Ok(());
            }
            let backend = self.backend(&rec.backend)?;
            match backend.signal(&c.id, None, sig).await {
                Ok(()) | Err(BackendError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            // A frozen process cannot act on the signal: thaw it, as dockerd does.
            if rec.state.status == Status::Paused && self.is_stop_signal(&rec, sig) {
                self.resume_locked(&c, &op, &backend).await;
            }
            self.emit(
                &c,
                "kill",
                HashMap::from([("signal".into(), sig.to_string())]),
            );
        }
        if sig == 9 {
            let exited = tokio::time::timeout(self.kill_wait, life.wait_for(|l| !l.running)).await;
            if exited.is_err() {
                tracing::warn!(container = %c.id, "still running {:?} after SIGKILL", self.kill_wait);
            }
        }
        Ok(())
    }

    fn is_stop_signal(&self, rec: &Record, sig: u32) -> bool {
        let stop = rec
            .config
            .stop_signal
            .as_deref()
            .and_then(|s| parse_signal(s).ok())
            .unwrap_or(15);
        sig == 9 || sig == stop
    }

    async fn resume_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        op: &OpGuard<'_>,
        backend: &Arc<dyn Backend>,
    ) {
        match backend.resume(&c.id).await {
            Ok(()) => {
                let _ = self.transition(c, op, Transition::Resumed).await;
            }
            Err(e) => tracing::warn!(container = %c.id, "unpausing to deliver a signal: {e}"),
        }
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
        let stop_signal = signal
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| rec.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = parse_signal(&stop_signal)?;
        {
            let op = c.op.lock().await;
            let rec = c.record();
            if !rec.state.status.is_running() {
                return Err(ContainerError::NotModified("stopped"));
            }
            self.transition(&c, &op, Transition::StopRequested).await?;
        }
        let timeout = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        self.stop_container(&c, sig, timeout).await?;
        self.emit(&c, "stop", HashMap::new());
        Ok(())
    }

    /// Signals the init process and waits for its exit, with SIGKILL after `timeout`
    /// seconds. The operation lock is held only while signalling: the exit that ends the
    /// wait is a transition of its own.
    async fn stop_container(
        self: &Arc<Self>,
        c: &Arc<Container>,
        sig: u32,
        timeout: i64,
    ) -> Result<()> {
        let backend = self.backend(&c.record().backend)?;
        let mut life = c.lifecycle();
        {
            let op = c.op.lock().await;
            let rec = c.record();
            if !rec.state.status.is_live() {
                return Ok(());
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
            if rec.state.status == Status::Paused {
                self.resume_locked(c, &op, &backend).await;
            }
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
        if c.record().state.status.is_running() {
            self.stop(key, signal, timeout).await?;
        }
        self.start(&c.id).await?;
        self.emit(&c, "restart", HashMap::new());
        Ok(())
    }

    pub async fn pause(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.get(key)?;
        let op = c.op.lock().await;
        let rec = c.record();
        // Checked before the runtime is asked, with the state machine's own answer.
        lifecycle::apply(&rec, Transition::Paused, Utc::now())?;
        self.backend(&rec.backend)?.pause(&c.id).await?;
        self.transition(&c, &op, Transition::Paused).await?;
        Ok(())
    }

    pub async fn unpause(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.get(key)?;
        let op = c.op.lock().await;
        let rec = c.record();
        lifecycle::apply(&rec, Transition::Resumed, Utc::now())?;
        self.backend(&rec.backend)?.resume(&c.id).await?;
        self.transition(&c, &op, Transition::Resumed).await?;
        Ok(())
    }

    /// `docker rm`; `force` kills a running container first, `volumes` (`-v`) also removes
    /// its anonymous volumes.
    pub async fn remove(self: &Arc<Self>, key: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(key)?;
        if force && c.record().state.status.is_running() {
            {
                let op = c.op.lock().await;
                let _ = self.transition(&c, &op, Transition::StopRequested).await;
            }
            self.stop_container(&c, 9, 10).await?;
        }
        let op = c.op.lock().await;
        if c.lifecycle.borrow().removed {
            return Ok(());
        }
        self.transition(&c, &op, Transition::RemovalStarted { force })
            .await?;
        let rec = c.record();
        match self.remove_resources(&rec, volumes).await {
            Ok(()) => {
                self.transition(&c, &op, Transition::Removed).await?;
                Ok(())
            }
            Err(e) => {
                let _ = self
                    .transition(
                        &c,
                        &op,
                        Transition::RemovalFailed {
                            error: e.to_string(),
                        },
                    )
                    .await;
                Err(e)
            }
        }
    }

    async fn remove_resources(&self, rec: &Record, volumes: bool) -> Result<()> {
        let backend = self.backend(&rec.backend)?;
        backend.delete(&rec.id).await?;
        match RootfsKind::of_backend(&rec.backend) {
            RootfsKind::Snapshot => self.images.remove_rootfs(&rec.rootfs_key).await?,
            RootfsKind::LayerFolders => self.images.remove_windows_scratch(&rec.id).await?,
        }
        self.networks.remove(rec).await?;
        let used_elsewhere: Vec<String> = self
            .all()
            .into_iter()
            .filter(|c| c.id != rec.id)
            .flat_map(|c| c.record().volumes.into_iter().map(|v| v.name))
            .collect();
        self.mounts.remove(rec, volumes, &used_elsewhere).await?;
        providers::unmount_shared_shm(&self.store.dir(""), &rec.id);
        Ok(())
    }

    pub async fn rename(self: &Arc<Self>, key: &str, new_name: &str) -> Result<()> {
        let c = self.get(key)?;
        let new_name = names::validate(new_name).map_err(ContainerError::InvalidParameter)?;
        let op = c.op.lock().await;
        let old = c.record().name;
        if old == new_name {
            return Err(ContainerError::InvalidParameter(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        self.index.rename(&c.id, &old, &new_name)?;
        self.transition(&c, &op, Transition::Renamed { name: new_name })
            .await?;
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

    /// `docker update`: resources (applied to a running task through the backend first,
    /// so a refused change records nothing) and the restart policy, by dockerd's rules.
    pub async fn update(
        self: &Arc<Self>,
        key: &str,
        u: spec::api::models::ContainerUpdateBody,
    ) -> Result<Vec<String>> {
        let c = self.get(key)?;
        let op = c.op.lock().await;
        let rec = c.record();
        let prefixed = |e: translate::Error| -> ContainerError {
            let m = format!("Cannot update container {}: {e}", c.id);
            match e {
                translate::Error::Conflict(_) => ContainerError::Conflict(m),
                _ => ContainerError::InvalidParameter(m),
            }
        };
        let mut hc =
            translate::linux::update::apply_update(&rec.host_config, &u).map_err(prefixed)?;
        if let Some(policy) = u.restart_policy.clone().filter(|p| p.name.is_some()) {
            translate::linux::check_restart_policy(&policy)?;
            let none = matches!(
                policy.name,
                None | Some(spec::api::models::RestartPolicyNameEnum::EMPTY)
                    | Some(spec::api::models::RestartPolicyNameEnum::NO)
            );
            if rec.host_config.auto_remove.unwrap_or(false) && !none {
                return Err(ContainerError::Conflict(format!(
                    "Cannot update container {}: Restart policy cannot be updated because AutoRemove is enabled for the container",
                    c.id
                )));
            }
            hc.restart_policy = Some(policy);
        }
        let resources_changed = {
            let mut a = serde_json::to_value(&rec.host_config).unwrap_or_default();
            let mut b = serde_json::to_value(&hc).unwrap_or_default();
            for v in [&mut a, &mut b] {
                if let Some(o) = v.as_object_mut() {
                    o.remove("RestartPolicy");
                }
            }
            a != b
        };
        if resources_changed && rec.state.status.is_live() {
            let mut ctx = translate::linux::LinuxContext::for_audit(&c.id);
            ctx.cgroup_v2 = self.host.cgroup_version == 2;
            ctx.online_cpus = u32::try_from(self.host.ncpu).ok();
            let resources = translate::linux::update::resources(&hc, &ctx).map_err(prefixed)?;
            self.backend(&rec.backend)?
                .update_resources(&c.id, resources)
                .await?;
        }
        self.transition(
            &c,
            &op,
            Transition::HostConfigUpdated {
                host_config: Box::new(hc),
            },
        )
        .await?;
        Ok(Vec::new())
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

    /// `GET /containers/json`: the records to list, filtered as dockerd does.
    pub async fn list(
        &self,
        all: bool,
        filters: spec::filters::Filters,
        limit: Option<usize>,
    ) -> Result<Vec<Record>> {
        select::validate_list(&filters)?;
        let created = |key: Option<String>| -> Result<Option<chrono::DateTime<Utc>>> {
            key.map(|k| self.get(&k).map(|c| c.record().created))
                .transpose()
        };
        let mut ancestors = Vec::new();
        for a in filters.get("ancestor") {
            // An image that does not resolve matches no container.
            if let Ok(img) = self.images.resolve(&a).await {
                ancestors.push(img.id);
            }
        }
        let q = select::ListQuery {
            all,
            before: created(filters.first("before"))?,
            since: created(filters.first("since"))?,
            filters,
            ancestors,
            limit,
        };
        let recs = self.all().into_iter().map(|c| c.record()).collect();
        Ok(select::list(recs, &q))
    }

    /// `docker container prune`: removes the stopped containers the filters select;
    /// returns their IDs and the space their writable layers took.
    pub async fn prune(
        self: &Arc<Self>,
        filters: &spec::filters::Filters,
    ) -> Result<(Vec<String>, u64)> {
        let recs = self.all().into_iter().map(|c| c.record()).collect();
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for r in select::prune(recs, filters, Utc::now())? {
            let size = self.sizes(&r).await.map(|(rw, _)| rw).unwrap_or(0);
            if self.remove(&r.id, false, false).await.is_ok() {
                reclaimed += u64::try_from(size).unwrap_or(0);
                deleted.push(r.id);
            }
        }
        Ok((deleted, reclaimed))
    }

    /// `--volumes-from`: the volumes and host binds of the named containers.
    fn volumes_from(
        &self,
        body: &ContainerCreateBody,
    ) -> Result<(Vec<crate::volumes::VolumeMount>, Vec<String>)> {
        let mut vols = Vec::new();
        let mut binds = Vec::new();
        let entries = body
            .host_config
            .as_ref()
            .and_then(|h| h.volumes_from.clone())
            .unwrap_or_default();
        for entry in entries {
            let (name, rw) = crate::volumes::model::parse_volumes_from(&entry)?;
            // dockerd answers a missing one with 400 (a 404 would make the CLI pull).
            let other = match self.get(name) {
                Ok(c) => c.record(),
                Err(ContainerError::NotFound(m)) => {
                    return Err(ContainerError::InvalidParameter(m))
                }
                Err(e) => return Err(e),
            };
            let mut other_binds = other.host_config.binds.clone().unwrap_or_default();
            other_binds.extend(other.inherited_binds.iter().cloned());
            let (v, b) = crate::volumes::model::inherit(&other.volumes, &other_binds, rw);
            vols.extend(v);
            binds.extend(b);
        }
        Ok((vols, binds))
    }

    /// The containers that mount volume `name` (`volume rm` refuses while there are any).
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .all()
            .into_iter()
            .map(|c| c.record())
            .filter(|r| r.volumes.iter().any(|v| v.name == name))
            .map(|r| r.id)
            .collect();
        ids.sort();
        ids
    }

    /// The request of `rec` as the runtime sees it (volumes as binds).
    pub(crate) fn runtime_body(&self, rec: &Record) -> ContainerCreateBody {
        self.mounts.runtime_body(rec, &create_body(rec))
    }

    /// Host pids of a running container's processes (`docker top`).
    pub async fn pids(&self, key: &str) -> Result<(Record, Vec<u32>)> {
        let c = self.get(key)?;
        let rec = c.record();
        if !rec.state.status.is_live() {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        let pids = self.backend(&rec.backend)?.pids(&c.id).await?;
        Ok((rec, pids))
    }
}

fn stdio_of(rec: &Record) -> StdioConfig {
    StdioConfig {
        stdin: rec.config.open_stdin.unwrap_or(false),
        terminal: rec.config.tty.unwrap_or(false),
    }
}

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

/// The create request, for the spec translation (with the host config as it is now).
pub(crate) fn create_body(rec: &Record) -> ContainerCreateBody {
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
}
