//! `POST /build`: the classic builder on dockbridge's own run path. The context is
//! unpacked to disk ([`context`]), the Dockerfile planned and each instruction's config
//! change computed by the pure core (`translate::build`); this module carries the steps
//! out: `RUN` through the container manager (create, start, wait, its changes as a layer,
//! remove), `COPY`/`ADD`/`WORKDIR` as layers written directly ([`copy`], on a [`view`] of
//! the image's layers), config-only steps as images without a layer. Every step is an
//! image whose config names its parent, which is also what the cache looks up.

pub mod context;
pub mod copy;
pub mod view;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::{json, Value};
use spec::image::{ContainerConfig, ImageConfigFile};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use translate::build::{self as core, BuildArgs, CopyRequest, Plan, StageState, Step};
use translate::windows::ContainerOs;

use crate::containers::WaitCondition;
use crate::daemon::Daemon;
use crate::error_kind::{ErrorKind, Kinded};
use crate::images::{truncate_id, ImageRecord};
use view::LayerView;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Context(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    NotFound(String),
    /// A `RUN` that exited non-zero: the stream's error carries the code.
    #[error("{message}")]
    Command { message: String, code: i64 },
    #[error("Build cancelled")]
    Cancelled,
    #[error(transparent)]
    Translate(#[from] translate::Error),
    #[error(transparent)]
    Container(#[from] crate::containers::ContainerError),
    #[error(transparent)]
    Image(#[from] crate::images::ImagesError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
}

impl BuildError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// The code of a failed command (the CLI exits with 1 either way).
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Command { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl Kinded for BuildError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) | Self::Context(_) | Self::Command { .. } => {
                ErrorKind::InvalidParameter
            }
            Self::NotImplemented(_) => ErrorKind::NotImplemented,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Cancelled => ErrorKind::Conflict,
            Self::Translate(e) => e.kind(),
            Self::Container(e) => e.kind(),
            Self::Image(e) => e.kind(),
            Self::Io { .. } | Self::Internal(_) => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;

/// The `POST /build` options this builder acts on.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub tags: Vec<String>,
    pub dockerfile: String,
    pub quiet: bool,
    pub no_cache: bool,
    pub pull: bool,
    pub rm: bool,
    pub force_rm: bool,
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    /// `HostConfig` of the `RUN` containers (network mode, limits, extra hosts …).
    pub host_config: Value,
    pub build_id: Option<String>,
    /// `--cache-from`: images whose history may stand in for steps.
    pub cache_from: Vec<String>,
    /// `X-Registry-Config`: credentials per registry, for `FROM` pulls.
    pub auth: HashMap<String, crate::registry::auth::AuthConfig>,
}

/// Builds in progress, by `buildid`, for `POST /build/cancel`.
#[derive(Default)]
pub struct Builds {
    running: Mutex<HashMap<String, CancellationToken>>,
}

impl Builds {
    pub fn register(&self, id: &str, token: CancellationToken) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), token);
    }

    pub fn finish(&self, id: &str) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Cancels a build; false when none has that ID.
    pub fn cancel(&self, id: &str) -> bool {
        match self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }
}

/// The JSON message stream of a build.
#[derive(Clone)]
pub struct Output {
    tx: mpsc::Sender<Bytes>,
    quiet: bool,
    /// Quiet mode keeps the messages: a failed build still shows them, as dockerd does.
    held: Arc<Mutex<Vec<Value>>>,
}

impl Output {
    pub fn new(tx: mpsc::Sender<Bytes>, quiet: bool) -> Self {
        Self {
            tx,
            quiet,
            held: Arc::default(),
        }
    }

    /// Quiet mode, after a failure: the messages held back.
    pub async fn flush_held(&self) {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()));
        for v in held {
            let _ = self.quiet_send(v).await;
        }
    }

    /// A message for the stream (held back in quiet mode).
    pub async fn send(&self, v: Value) -> Result<()> {
        if self.quiet {
            self.held.lock().unwrap_or_else(|p| p.into_inner()).push(v);
            return Ok(());
        }
        self.send_now(v).await
    }

    async fn send_now(&self, v: Value) -> Result<()> {
        let mut s = go_escape(v.to_string());
        s.push('\n');
        self.tx
            .send(Bytes::from(s))
            .await
            .map_err(|_| BuildError::Cancelled)
    }

    /// `{"stream": text}` (nothing in quiet mode).
    pub async fn stream(&self, text: impl Into<String>) -> Result<()> {
        self.send(json!({ "stream": text.into() })).await
    }

    /// A message even in quiet mode (`-q` still gets the image ID).
    pub async fn quiet_send(&self, v: Value) -> Result<()> {
        self.send_now(v).await
    }

    /// `Step N/M : …` as dockerd writes it: the line, then its newline on its own.
    pub async fn step(&self, n: usize, total: usize, text: &str) -> Result<()> {
        self.stream(format!("Step {n}/{total} : {text}")).await?;
        self.stream("\n").await
    }

    pub fn closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// One build: the daemon, its options, the unpacked context and the output stream.
pub struct Build {
    d: Arc<Daemon>,
    opts: BuildOptions,
    ctx: PathBuf,
    out: Output,
    cancel: CancellationToken,
    /// Stage results so far, by index.
    stages: Vec<Option<ImageRecord>>,
    /// The plan's stage names, by index.
    stage_names: Vec<Option<String>>,
    /// Images this build made: none of them has a cached child to find.
    made: Mutex<std::collections::HashSet<String>>,
    /// The image list, read once for the cache probes.
    listing: tokio::sync::OnceCell<Vec<ImageRecord>>,
    /// `--cache-from` images that exist.
    cache_from: Mutex<Vec<ImageRecord>>,
}

/// Keys of the snapshots the builder prepares for its layer views.
fn view_key() -> String {
    format!("dockbridge-build-view-{:016x}", rand::random::<u64>())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn short(id: &str) -> &str {
    truncate_id(id)
}

impl Build {
    pub fn new(
        d: Arc<Daemon>,
        opts: BuildOptions,
        ctx: PathBuf,
        out: Output,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            d,
            opts,
            ctx,
            out,
            cancel,
            stages: Vec::new(),
            stage_names: Vec::new(),
            made: Mutex::default(),
            listing: tokio::sync::OnceCell::new(),
            cache_from: Mutex::default(),
        }
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.is_cancelled() || self.out.closed() {
            return Err(BuildError::Cancelled);
        }
        Ok(())
    }

    /// Runs the Dockerfile; returns the final image ID.
    pub async fn run(&mut self, dockerfile: &str) -> Result<String> {
        let df = core::parser::parse(dockerfile)?;
        let plan = core::plan(df, self.opts.target.as_deref(), &self.opts.labels)?;
        for w in &plan.warnings {
            self.out.stream(format!("{w}\n")).await?;
        }
        self.stage_names = plan.stages.iter().map(|s| s.name.clone()).collect();
        let mut sources = Vec::new();
        for name in &self.opts.cache_from {
            match self.d.images.resolve(name).await {
                Ok(r) => sources.push(r),
                Err(e) => tracing::warn!("--cache-from {name}: {e}; skipped"),
            }
        }
        *self.cache_from.lock().unwrap_or_else(|p| p.into_inner()) = sources;
        let total = plan.total_steps();
        let mut step = 1;
        let mut global = BuildArgs::new(self.opts.build_args.clone());
        for meta in &plan.meta_args {
            self.out.step(step, total, &meta.original).await?;
            step += 1;
            let env: Vec<String> = global
                .all_allowed()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            for w in core::lex::split_words(&meta.rest, plan.escape) {
                let (k, v) = match w.split_once('=') {
                    Some((k, v)) => (
                        k.to_string(),
                        Some(core::lex::process_word(v, &env, plan.escape)?),
                    ),
                    None => (w.clone(), None),
                };
                global.add_arg(&k, v.clone());
                global.add_meta_arg(&k, v);
            }
        }
        let mut last: Option<ImageRecord> = None;
        let mut last_id = String::new();
        for (i, stage) in plan.stages.iter().enumerate() {
            self.check_cancel()?;
            self.out.step(step, total, &stage.original).await?;
            step += 1;
            let base = self.base_image(&plan, i, &global).await?;
            let os = match &base {
                Some(b) if b.config.os.eq_ignore_ascii_case("windows") => ContainerOs::Windows,
                _ => ContainerOs::Linux,
            };
            let base_config = base.as_ref().map(|b| b.config.container_config());
            let mut state =
                StageState::begin(base_config.as_ref(), os, global.for_stage(), plan.escape);
            let mut current = base.clone();
            let triggers = state.take_triggers();
            if !triggers.is_empty() {
                let s = if triggers.len() > 1 { "s" } else { "" };
                self.out
                    .stream(format!("# Executing {} build trigger{s}\n", triggers.len()))
                    .await?;
                for t in &triggers {
                    let df = core::parser::parse(t)?;
                    for node in &df.nodes {
                        current = self.step(&mut state, node, current).await?;
                    }
                }
            }
            let id = current.as_ref().map(|c| c.id.clone()).unwrap_or_default();
            self.out.stream(format!(" ---> {}\n", short(&id))).await?;
            for node in &stage.commands {
                self.check_cancel()?;
                self.out.step(step, total, &node.original).await?;
                step += 1;
                current = self.step(&mut state, node, current).await?;
                let id = current.as_ref().map(|c| c.id.clone()).unwrap_or_default();
                self.out.stream(format!(" ---> {}\n", short(&id))).await?;
            }
            // A stage that changed nothing is its base image (an empty `FROM scratch` has
            // no image at all).
            last_id = current.as_ref().map(|c| c.id.clone()).unwrap_or_default();
            if !last_id.is_empty() {
                self.out.send(json!({"aux": {"ID": last_id}})).await?;
            }
            global.merge_referenced(&state.args);
            self.stages.push(current.clone());
            last = current;
        }
        if let Some(w) = global.unused_warning() {
            self.out.stream(w).await?;
        }
        if last.is_none() || last_id.is_empty() {
            return Err(BuildError::Invalid(
                "No image was generated. Is your Dockerfile empty?".into(),
            ));
        }
        Ok(last_id)
    }

    /// The image a stage starts from: `scratch` (none), an earlier stage, or an image
    /// (pulled when missing, or always with `--pull`).
    async fn base_image(
        &mut self,
        plan: &Plan,
        index: usize,
        global: &BuildArgs,
    ) -> Result<Option<ImageRecord>> {
        let stage = &plan.stages[index];
        let meta: Vec<String> = global
            .all_meta()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let name = core::lex::process_word(&stage.base, &meta, plan.escape)?;
        if name.is_empty() {
            return Err(BuildError::Invalid(format!(
                "base name ({}) should not be blank",
                stage.base
            )));
        }
        if let Some(p) = &stage.platform {
            let p = core::lex::process_word(p, &meta, plan.escape)?;
            check_platform(&p)?;
        }
        if name.eq_ignore_ascii_case("scratch") {
            return Ok(None);
        }
        if let Some(i) = plan.stage_index(&name, index) {
            return self
                .stages
                .get(i)
                .cloned()
                .ok_or_else(|| BuildError::Internal(format!("stage {i} has no result")));
        }
        if !self.opts.pull {
            match self.d.images.resolve(&name).await {
                Ok(r) => return Ok(Some(r)),
                Err(crate::images::ImagesError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.pull(&name).await?;
        Ok(Some(self.d.images.resolve(&name).await?))
    }

    async fn pull(&self, name: &str) -> Result<()> {
        let reference = spec::reference::parse_normalized_named(name)
            .map_err(|e| BuildError::Invalid(e.to_string()))?
            .with_default_tag();
        let auth = self
            .opts
            .auth
            .get(reference.domain())
            .cloned()
            .or_else(|| {
                (reference.domain() == "docker.io")
                    .then(|| self.opts.auth.get("https://index.docker.io/v1/").cloned())
                    .flatten()
            })
            .unwrap_or_default();
        let req = crate::images::pull::PullRequest {
            reference,
            from_image: name.to_string(),
            platform: None,
            auth,
        };
        let (tx, mut rx) = mpsc::channel(64);
        let out = self.out.clone();
        let forward = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let m: crate::registry::progress::Message = m;
                if let Ok(v) = serde_json::from_str::<Value>(&m.to_json()) {
                    let _ = out.send(v).await;
                }
            }
        });
        let r = self.d.images.pull(&self.d.registries, &req, &tx).await;
        drop(tx);
        let _ = forward.await;
        r.map(|_| ()).map_err(Into::into)
    }

    /// Carries out one instruction on top of `current`; returns the new image.
    async fn step(
        &mut self,
        state: &mut StageState,
        node: &core::Node,
        current: Option<ImageRecord>,
    ) -> Result<Option<ImageRecord>> {
        let step = state.dispatch(node)?;
        match step {
            Step::Commit { container_config } => {
                self.direct_step(current, state, &container_config, None)
                    .await
            }
            Step::Workdir {
                container_config,
                path,
            } => {
                self.direct_step(current, state, &container_config, Some(path))
                    .await
            }
            Step::Run { probe, run } => {
                if let Some(hit) = self.probe(current.as_ref(), &probe, state).await? {
                    return Ok(Some(hit));
                }
                let Some(parent) = current else {
                    return Err(BuildError::Invalid(
                        "RUN needs a base image: FROM scratch has no shell".into(),
                    ));
                };
                if state.os == ContainerOs::Windows
                    && !self.d.containers.backend_names().contains(&"hcs")
                {
                    return Err(BuildError::NotImplemented(
                        "RUN on a Windows base image needs the HCS backend (dockbridge serve --backend hcs); only steps that run nothing (COPY, ENV, …) can be built here".into(),
                    ));
                }
                self.run_step(&parent, state, &probe, &run).await.map(Some)
            }
            Step::Copy(req) => self.copy_step(state, &req, current).await.map(Some),
        }
    }

    /// The cached child of `parent` made by the same step, unless `--no-cache`.
    /// A step with no container of its own: a config-only step, or `WORKDIR` with the
    /// directory (`workdir`) as its layer. dockerd creates (and removes) a container for
    /// these; the stream says so, the image is the same without one.
    async fn direct_step(
        &mut self,
        current: Option<ImageRecord>,
        state: &StageState,
        container_config: &ContainerConfig,
        workdir: Option<String>,
    ) -> Result<Option<ImageRecord>> {
        if let Some(hit) = self
            .probe(current.as_ref(), container_config, state)
            .await?
        {
            return Ok(Some(hit));
        }
        let cid = crate::containers::names::new_id();
        self.out
            .stream(format!(" ---> Running in {}\n", short(&cid)))
            .await?;
        let layer = match workdir {
            Some(path) => Some(self.workdir_layer(current.as_ref(), state, path).await?),
            None => None,
        };
        let img = self
            .commit(
                current.as_ref(),
                state,
                container_config,
                &cid,
                layer.as_ref().map(|t| t.path()),
            )
            .await?;
        if self.opts.rm || self.opts.force_rm {
            self.out
                .stream(format!("Removing intermediate container {}\n", short(&cid)))
                .await?;
        }
        Ok(Some(img))
    }

    /// `WORKDIR`'s layer: the directory, as moby's ContainerCreateWorkdir makes it (a
    /// Windows image's files live below `Files/` in its layers).
    async fn workdir_layer(
        &self,
        current: Option<&ImageRecord>,
        state: &StageState,
        path: String,
    ) -> Result<tempfile::NamedTempFile> {
        let path = match state.os {
            ContainerOs::Windows => windows_layer_path(&path)?,
            _ => path,
        };
        let (view, key) = self.view(current).await?;
        let tmp = self.layer_file()?;
        let file = tmp
            .reopen()
            .map_err(|e| BuildError::io("opening the layer file", e))?;
        let made = tokio::task::spawn_blocking(move || {
            let mut w = copy::LayerWriter::new(
                std::io::BufWriter::new(file),
                &view,
                copy::Identity { uid: 0, gid: 0 },
            );
            w.mkdir_all(&path)?;
            let mut f = w.finish()?;
            std::io::Write::flush(&mut f).map_err(|e| BuildError::io("writing the layer", e))
        })
        .await;
        self.drop_view(key).await;
        made.map_err(|e| BuildError::Internal(e.to_string()))??;
        Ok(tmp)
    }

    async fn probe(
        &self,
        parent: Option<&ImageRecord>,
        key: &ContainerConfig,
        state: &StageState,
    ) -> Result<Option<ImageRecord>> {
        if self.opts.no_cache {
            return Ok(None);
        }
        let hit = self.probe_local(parent, key).await?;
        let sources = self
            .cache_from
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let hit = match (hit, sources.is_empty()) {
            (hit, true) => hit,
            // With `--cache-from`, a local hit counts only below one of the sources.
            (Some(h), false) => {
                let listing = self.listing().await?;
                if sources.iter().any(|s| is_ancestor(listing, &s.id, &h.id)) {
                    Some(h)
                } else {
                    self.probe_sources(parent, key, state, &sources).await?
                }
            }
            (None, false) => self.probe_sources(parent, key, state, &sources).await?,
        };
        if hit.is_some() {
            self.out.stream(" ---> Using cache\n").await?;
        }
        Ok(hit)
    }

    async fn listing(&self) -> Result<&Vec<ImageRecord>> {
        Ok(self
            .listing
            .get_or_try_init(|| self.d.images.list())
            .await?)
    }

    /// moby's image cache from `--cache-from` sources: a source whose history and layers
    /// continue the parent's with this very step is the cached result (itself when it is
    /// its last step, else an image restored from its history and layer).
    async fn probe_sources(
        &self,
        parent: Option<&ImageRecord>,
        key: &ContainerConfig,
        state: &StageState,
        sources: &[ImageRecord],
    ) -> Result<Option<ImageRecord>> {
        let created_by = Step::created_by(key);
        let empty = Vec::new();
        let parent_history = parent
            .and_then(|p| p.config.history.as_ref())
            .unwrap_or(&empty);
        let n = parent_history.len();
        for target in sources {
            let history = target.config.history.as_ref().unwrap_or(&empty);
            if !valid_parent(target, parent) {
                continue;
            }
            let Some(h) = history.get(n) else {
                continue;
            };
            if h.get("created_by").and_then(Value::as_str).unwrap_or("") != created_by {
                continue;
            }
            if history.len() - 1 == n {
                return Ok(Some(target.clone()));
            }
            let is_empty = |e: &Value| e.get("empty_layer").and_then(Value::as_bool) == Some(true);
            let index =
                (!is_empty(h)).then(|| history[..n].iter().filter(|e| !is_empty(e)).count());
            let mut cfg = ImageConfigFile {
                architecture: target.config.architecture.clone(),
                os: target.config.os.clone(),
                os_version: target.config.os_version.clone(),
                author: target.config.author.clone(),
                created: h.get("created").and_then(Value::as_str).map(String::from),
                config: Some(state.config.clone()),
                ..Default::default()
            };
            let mut hist = parent_history.clone();
            hist.push(h.clone());
            cfg.history = Some(hist);
            cfg.extra.insert(
                "container_config".into(),
                serde_json::to_value(key).unwrap_or(Value::Null),
            );
            cfg.extra
                .insert("docker_version".into(), crate::ENGINE_VERSION.into());
            if let Some(p) = parent {
                cfg.extra.insert("parent".into(), p.id.clone().into());
            }
            let id = self
                .d
                .images
                .create_image_reusing(parent, target, index, cfg)
                .await?;
            // Stay on this source from now on, as moby does.
            *self.cache_from.lock().unwrap_or_else(|p| p.into_inner()) = vec![target.clone()];
            return Ok(Some(self.d.images.resolve(&id).await?));
        }
        Ok(None)
    }

    /// The local cache: a child of `parent` made by the same step.
    async fn probe_local(
        &self,
        parent: Option<&ImageRecord>,
        key: &ContainerConfig,
    ) -> Result<Option<ImageRecord>> {
        let want = serde_json::to_value(key).unwrap_or(Value::Null);
        let parent_id = parent.map(|p| p.id.as_str()).unwrap_or("");
        if self
            .made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(parent_id)
        {
            return Ok(None);
        }
        let images = self
            .listing
            .get_or_try_init(|| self.d.images.list())
            .await?;
        let hit = images.iter().find(|img| {
            let p = img
                .config
                .extra
                .get("parent")
                .and_then(Value::as_str)
                .unwrap_or("");
            p == parent_id
                && img.config.extra.get("container_config") == Some(&want)
                && (parent.is_some() || img.config.history.as_ref().is_some_and(|h| h.len() == 1))
        });
        Ok(hit.cloned())
    }

    /// Stores a step's image: `parent`'s layers plus `layer` (none or an empty one makes
    /// an `empty_layer` history entry), with the stage's config (moby `NewChildImage`).
    async fn commit(
        &self,
        parent: Option<&ImageRecord>,
        state: &StageState,
        container_config: &ContainerConfig,
        container_id: &str,
        layer: Option<&Path>,
    ) -> Result<ImageRecord> {
        let layer = match layer {
            Some(p) if !is_empty_tar(p) => Some(p),
            _ => None,
        };
        let mut cfg = ImageConfigFile::default();
        match parent {
            Some(p) => {
                cfg.architecture = p.config.architecture.clone();
                cfg.os = p.config.os.clone();
                cfg.os_version = p.config.os_version.clone();
                cfg.variant = p.config.variant.clone();
                cfg.history = p.config.history.clone();
                for k in ["os.features"] {
                    if let Some(v) = p.config.extra.get(k) {
                        cfg.extra.insert(k.into(), v.clone());
                    }
                }
                cfg.extra.insert("parent".into(), p.id.clone().into());
            }
            None => {
                cfg.architecture = host_arch();
                cfg.os = "linux".into();
            }
        }
        let created = now();
        cfg.created = Some(created.clone());
        cfg.author = state.maintainer.clone();
        cfg.config = Some(state.config.clone());
        cfg.extra
            .insert("container".into(), container_id.to_string().into());
        cfg.extra.insert(
            "container_config".into(),
            serde_json::to_value(container_config).unwrap_or(Value::Null),
        );
        cfg.extra
            .insert("docker_version".into(), crate::ENGINE_VERSION.into());
        let mut h = json!({
            "created": created,
            "created_by": Step::created_by(container_config),
        });
        if let Some(a) = &state.maintainer {
            h["author"] = a.clone().into();
        }
        if layer.is_none() {
            h["empty_layer"] = true.into();
        }
        cfg.history.get_or_insert_with(Vec::new).push(h);
        let id = self.d.images.create_image(parent, layer, cfg).await?;
        self.made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone());
        Ok(self.d.images.resolve(&id).await?)
    }

    fn layer_file(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.d.data_root.join("tmp");
        std::fs::create_dir_all(&dir)
            .map_err(|e| BuildError::io(format!("creating {}", dir.display()), e))?;
        tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| BuildError::io("creating a layer file", e))
    }

    /// A view of an image's layers (a snapshot prepared for the purpose; drop it after).
    async fn view(&self, image: Option<&ImageRecord>) -> Result<(LayerView, Option<String>)> {
        let Some(img) = image else {
            return Ok((LayerView::default(), None));
        };
        if img.layers.is_empty() {
            return Ok((LayerView::default(), None));
        }
        let key = view_key();
        let mounts = self.d.images.prepare_rootfs(&img.id, &key).await?;
        let lowers = match mounts.as_slice() {
            [m] if m.r#type != "bind" => m
                .options
                .iter()
                .find_map(|o| o.strip_prefix("lowerdir="))
                .map(|l| l.split(':').map(PathBuf::from).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Ok((LayerView::new(lowers), Some(key)))
    }

    async fn drop_view(&self, key: Option<String>) {
        if let Some(k) = key {
            if let Err(e) = self.d.images.remove_rootfs(&k).await {
                tracing::warn!("removing build view {k}: {e}");
            }
        }
    }

    async fn copy_step(
        &mut self,
        state: &StageState,
        req: &CopyRequest,
        current: Option<ImageRecord>,
    ) -> Result<ImageRecord> {
        // Where the sources are: the context, or another stage's or image's layers.
        let (src_view, src_key, from_context) = match &req.from {
            None => (LayerView::new(vec![self.ctx.clone()]), None, true),
            Some(from) => {
                let img = match self.stage_by_name(from) {
                    Some(r) => r,
                    None => Some(self.d.images.resolve(from).await.map_err(|e| {
                        BuildError::Invalid(format!("invalid from flag value {from}: {e}"))
                    })?),
                };
                let (v, k) = self.view(img.as_ref()).await?;
                (v, k, false)
            }
        };
        let result = self
            .copy_with_views(state, req, current.as_ref(), src_view, from_context)
            .await;
        self.drop_view(src_key).await;
        result
    }

    fn stage_by_name(&self, from: &str) -> Option<Option<ImageRecord>> {
        // Stage names are only known through the plan; `stages` is aligned with it.
        let lower = from.to_ascii_lowercase();
        self.stage_names
            .iter()
            .position(|n| n.as_deref() == Some(lower.as_str()))
            .or_else(|| from.parse::<usize>().ok())
            .and_then(|i| self.stages.get(i).cloned())
    }

    async fn copy_with_views(
        &self,
        state: &StageState,
        req: &CopyRequest,
        current: Option<&ImageRecord>,
        src_view: LayerView,
        from_context: bool,
    ) -> Result<ImageRecord> {
        let req2 = req.clone();
        let sv = src_view.clone();
        let sources =
            tokio::task::spawn_blocking(move || copy::resolve_sources(&req2, &sv, from_context))
                .await
                .map_err(|e| BuildError::Internal(e.to_string()))??;
        let hash = copy::sources_hash(&sources);
        let key = state.copy_config(req, &hash);
        if let Some(hit) = self.probe(current, &key, state).await? {
            return Ok(hit);
        }
        // The destination's view only when the layer is written (not on a cache hit).
        let (dest_view, dest_key) = self.view(current).await?;
        let result = self
            .write_copy(
                state,
                req,
                current,
                &key,
                sources,
                src_view,
                dest_view,
                from_context,
            )
            .await;
        self.drop_view(dest_key).await;
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_copy(
        &self,
        state: &StageState,
        req: &CopyRequest,
        current: Option<&ImageRecord>,
        key: &ContainerConfig,
        sources: Vec<copy::Source>,
        src_view: LayerView,
        dest_view: LayerView,
        from_context: bool,
    ) -> Result<ImageRecord> {
        let owner = match &req.chown {
            Some(c) => Some(copy::parse_chown(c, &dest_view)?),
            None if from_context => Some(copy::Identity { uid: 0, gid: 0 }),
            None => None,
        };
        let tmp = self.layer_file()?;
        let file = tmp
            .reopen()
            .map_err(|e| BuildError::io("opening the layer file", e))?;
        let mut req2 = req.clone();
        if state.os == ContainerOs::Windows {
            req2.dest = windows_layer_path(&req2.dest)?;
        }
        tokio::task::spawn_blocking(move || {
            let identity = owner.unwrap_or(copy::Identity { uid: 0, gid: 0 });
            let mut w = copy::LayerWriter::new(std::io::BufWriter::new(file), &dest_view, identity);
            for s in &sources {
                w.copy(s, &src_view, &req2.dest, owner, req2.chmod, req2.add)?;
            }
            let mut f = w.finish()?;
            std::io::Write::flush(&mut f).map_err(|e| BuildError::io("writing the layer", e))
        })
        .await
        .map_err(|e| BuildError::Internal(e.to_string()))??;
        self.commit(current, state, key, "", Some(tmp.path())).await
    }

    async fn run_step(
        &self,
        parent: &ImageRecord,
        state: &StageState,
        probe: &ContainerConfig,
        run: &ContainerConfig,
    ) -> Result<ImageRecord> {
        let mut body = serde_json::to_value(run).unwrap_or(Value::Null);
        body["Image"] = parent.id.clone().into();
        body["AttachStdout"] = true.into();
        body["AttachStderr"] = true.into();
        let mut hc = self.opts.host_config.clone();
        if !hc.is_object() {
            hc = json!({});
        }
        hc["LogConfig"] = json!({"Type": "none"});
        body["HostConfig"] = hc;
        let body: spec::api::models::ContainerCreateBody = serde_json::from_value(body)
            .map_err(|e| BuildError::Internal(format!("the RUN container's config: {e}")))?;
        let (id, warnings) = self.d.containers.create(None, body).await?;
        for w in warnings {
            self.out.stream(format!(" ---> [Warning] {w}\n")).await?;
        }
        self.out
            .stream(format!(" ---> Running in {}\n", short(&id)))
            .await?;
        let result = self.run_container(&id, run).await;
        let remove = match &result {
            Ok(_) => self.opts.rm || self.opts.force_rm,
            Err(BuildError::Cancelled) => true,
            Err(_) => self.opts.force_rm,
        };
        let result = match result {
            Ok(()) => {
                let rec = self.d.containers.get(&id)?.record();
                match self.d.containers.changes_layer(&rec).await {
                    Ok(layer) => {
                        self.commit(Some(parent), state, probe, &id, Some(layer.path()))
                            .await
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e),
        };
        if remove {
            match self.d.containers.remove(&id, true, true).await {
                Ok(()) => {
                    if !matches!(result, Err(BuildError::Cancelled)) {
                        let _ = self
                            .out
                            .stream(format!("Removing intermediate container {}\n", short(&id)))
                            .await;
                    }
                }
                Err(e) => {
                    let _ = self
                        .out
                        .stream(format!(
                            "Error removing intermediate container {}: {e}\n",
                            short(&id)
                        ))
                        .await;
                }
            }
        }
        result
    }

    /// Starts the container, streams its output, waits for it; a client that goes away
    /// or `/build/cancel` kills it.
    async fn run_container(&self, id: &str, run: &ContainerConfig) -> Result<()> {
        let c = self.d.containers.get(id)?;
        let mut rx = c.hub.subscribe();
        let wait = self.d.containers.wait(id, WaitCondition::NextExit)?;
        self.d.containers.start(id).await?;
        tokio::pin!(wait);
        let mut code = None;
        let mut eof = false;
        loop {
            if code.is_some() && eof {
                break;
            }
            tokio::select! {
                m = rx.recv(), if !eof => match m {
                    Ok(crate::containers::stream::Output::Data(_, bytes)) => {
                        if self.out.stream(String::from_utf8_lossy(&bytes).into_owned()).await.is_err() {
                            self.cancel.cancel();
                        }
                    }
                    Ok(crate::containers::stream::Output::Eof) => eof = true,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => eof = true,
                },
                c = &mut wait, if code.is_none() => {
                    code = Some(c);
                    // Output still in flight arrives shortly; don't wait forever for it.
                    if !eof {
                        let deadline = tokio::time::sleep(std::time::Duration::from_secs(2));
                        tokio::pin!(deadline);
                        loop {
                            tokio::select! {
                                m = rx.recv() => match m {
                                    Ok(crate::containers::stream::Output::Data(_, bytes)) => {
                                        let _ = self.out.stream(String::from_utf8_lossy(&bytes).into_owned()).await;
                                    }
                                    Ok(crate::containers::stream::Output::Eof) | Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                                    Err(_) => {}
                                },
                                _ = &mut deadline => break,
                            }
                        }
                        eof = true;
                    }
                },
                _ = self.cancel.cancelled() => {
                    let _ = self.d.containers.kill(id, Some("KILL")).await;
                    return Err(BuildError::Cancelled);
                },
                _ = self.out.tx.closed() => {
                    let _ = self.d.containers.kill(id, Some("KILL")).await;
                    return Err(BuildError::Cancelled);
                },
            }
        }
        let code = code.unwrap_or(0);
        if code != 0 {
            return Err(BuildError::Command {
                message: format!(
                    "The command '{}' returned a non-zero code: {code}",
                    run.cmd.clone().unwrap_or_default().join(" ")
                ),
                code,
            });
        }
        Ok(())
    }
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 in strings (they occur
/// nowhere else in JSON text).
pub fn go_escape(s: String) -> String {
    if !s.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return s;
    }
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Where a Windows image's path lives in its layer tar: below `Files/`, drive `C:` only
/// (moby's `normalizeDest` on Windows), with forward slashes.
pub fn windows_layer_path(dest: &str) -> Result<String> {
    let d = dest.replace('\\', "/");
    let rest = match d.as_bytes() {
        [drive, b':', ..] => {
            if !drive.eq_ignore_ascii_case(&b'c') {
                return Err(BuildError::Invalid(
                    "Windows does not support destinations not on the system drive (C:)".into(),
                ));
            }
            &d[2..]
        }
        _ => d.as_str(),
    };
    let trailing = rest.ends_with('/');
    let mut p = format!("/Files/{}", rest.trim_matches('/'));
    if trailing && !p.ends_with('/') {
        p.push('/');
    }
    Ok(p)
}

/// The host's architecture as Go names it (`amd64`).
fn host_arch() -> String {
    crate::registry::manifest::Platform::host()
        .architecture
        .clone()
}

/// moby `isValidParent`: `img`'s history and layers continue `parent`'s.
fn valid_parent(img: &ImageRecord, parent: Option<&ImageRecord>) -> bool {
    let empty = Vec::new();
    let ih = img.config.history.as_ref().unwrap_or(&empty);
    if ih.is_empty() {
        return false;
    }
    let Some(p) = parent else {
        return true;
    };
    let ph = p.config.history.as_ref().unwrap_or(&empty);
    if ph.is_empty() && p.diff_ids.is_empty() {
        return true;
    }
    ph.len() < ih.len()
        && p.diff_ids.len() <= img.diff_ids.len()
        && ph.iter().zip(ih).all(|(a, b)| a == b)
        && p.diff_ids.iter().zip(&img.diff_ids).all(|(a, b)| a == b)
}

/// Whether `ancestor` is a (strict) ancestor of `id` through the configs' `parent`.
fn is_ancestor(all: &[ImageRecord], id: &str, ancestor: &str) -> bool {
    let mut cur = id.to_string();
    for _ in 0..10_000 {
        let Some(p) = all
            .iter()
            .find(|r| r.id == cur)
            .and_then(|r| r.config.extra.get("parent"))
            .and_then(Value::as_str)
        else {
            return false;
        };
        if p == ancestor {
            return true;
        }
        cur = p.to_string();
    }
    false
}

/// A layer tar with no entries (what a step that changed nothing leaves).
fn is_empty_tar(p: &Path) -> bool {
    match std::fs::read(p) {
        Ok(b) => b.len() <= 10240 && b.iter().all(|x| *x == 0),
        Err(_) => false,
    }
}

/// `FROM --platform` / `?platform=`: only the host's platform can be built here.
pub fn check_platform(p: &str) -> Result<()> {
    if p.is_empty() {
        return Ok(());
    }
    let host_arch = host_arch();
    let host_arch = host_arch.as_str();
    let mut parts = p.split('/');
    let os = parts.next().unwrap_or_default().to_ascii_lowercase();
    let arch = parts.next().unwrap_or(host_arch).to_ascii_lowercase();
    if os == "linux" && (arch == host_arch || (arch == "x86_64" && host_arch == "amd64")) {
        return Ok(());
    }
    Err(BuildError::Invalid(format!(
        "platform {p} is not supported by dockbridge's builder: it builds for linux/{host_arch} only"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_destinations() {
        assert_eq!(windows_layer_path("C:\\app\\").unwrap(), "/Files/app/");
        assert_eq!(
            windows_layer_path("c:/app/x.txt").unwrap(),
            "/Files/app/x.txt"
        );
        assert_eq!(windows_layer_path("\\app").unwrap(), "/Files/app");
        assert!(windows_layer_path("D:\\app").is_err());
        assert!(check_platform("linux").is_ok());
        assert!(check_platform("windows/amd64").is_err());
    }

    #[test]
    fn go_escapes() {
        assert_eq!(
            go_escape("{\"a\":\"<b>&\"}".into()),
            "{\"a\":\"\\u003cb\\u003e\\u0026\"}"
        );
    }
}
