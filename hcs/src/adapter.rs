//! The container lifecycle on HCS, leak-free on every failure path.
//!
//! - `create`: HcsCreateComputeSystem → HcsSetComputeSystemCallback → HcsStartComputeSystem
//!   (as moby's local client, the compute system runs from `create` on; the init process is
//!   what `start` adds). A failure at any step terminates and closes the system. Success
//!   emits [`Event::Created`]: moby's local client forgot to.
//! - `start`: HcsCreateProcess for the init process. A failure terminates the system, closes
//!   every handle, records exit code 127 and emits the init's [`Event::Exited`] (Docker's
//!   `die`). This is moby#38719: there, a failed init left nothing to reap the container, so
//!   its HCS handle leaked. Here container reaping ([`Inner::reap_container`]) is separate
//!   from process reaping ([`reap_process`]), and a process's reaper is spawned the moment
//!   its handle exists.
//! - Process exit (the reaper): reads the exit code (-1 when that fails: the exit is still
//!   published), takes the process handle out under its lock and closes it (exactly once),
//!   closes the three stdio handles, then for the init process reaps the container (shutdown,
//!   terminate when shutdown fails for any reason but "already stopped", close) and publishes
//!   the exit.
//! - Every HCS call runs on the blocking pool inside a spawned task, so a caller that gives
//!   up (a dropped HTTP request) cannot abandon handles half-way.

use std::collections::HashMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::{ComputeSystem, Hcs, HcsError, Process};
use crate::callbacks::{self, Notification};
use crate::error::{Error, Result};
use crate::ffi::RawProcessInfo;
use crate::schema::{self, ConsoleSize, ProcessModifyRequest, ProcessParameters, PropertyQuery};

pub type BoxRead = Pin<Box<dyn AsyncRead + Send>>;
pub type BoxWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// Exit code recorded when the init process could not be created (as a shell's "command not
/// found", which is what Docker reports for a container whose command does not exist).
pub const EXIT_CODE_INIT_FAILED: i32 = 127;

/// Exit code published when HCS cannot tell a process's exit code.
pub const EXIT_CODE_UNKNOWN: i32 = -1;

#[derive(Debug, Clone)]
pub struct AdapterConfig {
    /// Bound on every HCS operation; a system operation that times out terminates the
    /// system (HCS has no working cancel), then its operation is closed.
    pub timeout: Duration,
    /// How long a reaper waits for a process's output to drain after it exited.
    pub io_drain_timeout: Duration,
}

impl Default for AdapterConfig {
    fn default() -> Self {
        Self {
            // hcsshim's default for system operations.
            timeout: Duration::from_secs(240),
            io_drain_timeout: Duration::from_secs(5),
        }
    }
}

/// The caller's side of a process's stdio: the adapter copies `stdin` into the process and
/// the process's output into `stdout`/`stderr`, and closes the HCS handles itself.
#[derive(Default)]
pub struct ProcessStdio {
    pub stdin: Option<BoxRead>,
    pub stdout: Option<BoxWrite>,
    pub stderr: Option<BoxWrite>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The compute system exists and runs; the init process is not created yet.
    Created {
        id: String,
    },
    /// A process exited; `exec_id` is `None` for the init process (Docker's `die`).
    Exited {
        id: String,
        exec_id: Option<String>,
        pid: u32,
        exit_code: i32,
        exited_at: SystemTime,
    },
    Paused {
        id: String,
    },
    Resumed {
        id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub status: Status,
    pub pid: u32,
    pub exit_code: Option<i32>,
    pub exited_at: Option<SystemTime>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub cpu_total_ns: u64,
    pub cpu_kernel_ns: u64,
    pub cpu_user_ns: u64,
    /// Private working set, what `docker stats` shows for Windows containers.
    pub memory_usage: u64,
    pub memory_commit: u64,
    pub memory_commit_peak: u64,
    pub processes: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a blocking HCS call on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Worker(e.to_string()))
}

/// Runs a lifecycle step as its own task: it finishes (and cleans up) even when the caller
/// stops waiting.
async fn detached<T: Send + 'static>(
    f: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(f)
        .await
        .map_err(|e| Error::Worker(e.to_string()))?
}

struct ProcEntry {
    exec_id: Option<String>,
    pid: u32,
    /// Taken exactly once, by the reaper, under this lock; in-flight calls hold clones, so
    /// the handle closes when the last of them is done.
    process: Mutex<Option<Arc<Process>>>,
    stdin_stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl ProcEntry {
    fn process(&self) -> Option<Arc<Process>> {
        lock(&self.process).clone()
    }
}

struct CState {
    status: Status,
    starting: bool,
    pid: u32,
    exit_code: Option<i32>,
    exited_at: Option<SystemTime>,
}

struct Container {
    id: String,
    init_params: String,
    system: Mutex<Option<Arc<ComputeSystem>>>,
    state: Mutex<CState>,
    init: Mutex<Option<Arc<ProcEntry>>>,
    execs: Mutex<HashMap<String, Arc<ProcEntry>>>,
    /// `true` once the container reap has finished (system closed, state stopped).
    stopped: watch::Sender<bool>,
}

impl Container {
    fn system(&self) -> Option<Arc<ComputeSystem>> {
        lock(&self.system).clone()
    }
}

/// How a container came to be reaped.
enum Reap {
    /// The init process exited: shut down gracefully, terminate if that fails.
    InitExited {
        pid: u32,
        exit_code: i32,
        exited_at: SystemTime,
    },
    /// The init process could not be created: terminate, record 127, emit `die`.
    InitFailed,
    /// The system went away (or is deleted) without an init process: no exit to report.
    NoInit,
}

struct Inner {
    hcs: Hcs,
    config: AdapterConfig,
    /// `None` while the id is being created.
    containers: Mutex<HashMap<String, Option<Arc<Container>>>>,
    events: broadcast::Sender<Event>,
}

/// The HCS lifecycle for many containers; cheap to clone.
#[derive(Clone)]
pub struct Adapter {
    inner: Arc<Inner>,
}

impl Adapter {
    pub fn new(hcs: Hcs, config: AdapterConfig) -> Adapter {
        let (events, _) = broadcast::channel(1024);
        Adapter {
            inner: Arc::new(Inner {
                hcs,
                config,
                containers: Mutex::new(HashMap::new()),
                events,
            }),
        }
    }

    /// Loads the HCS library (`None`: computecore.dll) and builds an adapter on it.
    pub fn load(library: Option<&Path>, config: AdapterConfig) -> Result<Adapter> {
        Ok(Adapter::new(Hcs::load(library)?, config))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn get(&self, id: &str) -> Result<Arc<Container>> {
        match lock(&self.inner.containers).get(id) {
            Some(Some(c)) => Ok(c.clone()),
            Some(None) => Err(Error::Conflict(format!("container {id} is being created"))),
            None => Err(Error::NotFound(id.to_string())),
        }
    }

    /// Creates and starts the compute system; the init process waits for [`Adapter::start`].
    pub async fn create(
        &self,
        id: &str,
        document: &schema::ComputeSystem,
        init: &ProcessParameters,
    ) -> Result<()> {
        if id.is_empty() || id.contains('\0') {
            return Err(Error::InvalidArgument(format!(
                "invalid container id {id:?}"
            )));
        }
        let document = serde_json::to_string(document).map_err(|source| Error::Json {
            context: "encoding the compute-system document",
            source,
        })?;
        let init_params = serde_json::to_string(init).map_err(|source| Error::Json {
            context: "encoding the process parameters",
            source,
        })?;
        {
            let mut map = lock(&self.inner.containers);
            if map.contains_key(id) {
                return Err(Error::Conflict(format!("container {id} already exists")));
            }
            map.insert(id.to_string(), None);
        }
        let inner = self.inner.clone();
        let id = id.to_string();
        detached(async move {
            let hcs = inner.hcs.clone();
            let timeout = inner.config.timeout;
            let sys_id = id.clone();
            let created = blocking(move || -> Result<_, HcsError> {
                // Each `?` below drops `system`, closing it; the explicit terminations make
                // sure nothing keeps running behind a closed handle.
                let mut system = hcs.create_compute_system(&sys_id, &document, timeout)?;
                let events = match system.subscribe() {
                    Ok(rx) => rx,
                    Err(e) => {
                        system.terminate_quietly(timeout);
                        return Err(e);
                    }
                };
                if let Err(e) = system.start(timeout) {
                    system.terminate_quietly(timeout);
                    return Err(e);
                }
                Ok((system, events))
            })
            .await
            .and_then(|r| r.map_err(Error::from));
            let (system, events) = match created {
                Ok(v) => v,
                Err(e) => {
                    lock(&inner.containers).remove(&id);
                    return Err(e);
                }
            };
            let (stopped, _) = watch::channel(false);
            let c = Arc::new(Container {
                id: id.clone(),
                init_params,
                system: Mutex::new(Some(Arc::new(system))),
                state: Mutex::new(CState {
                    status: Status::Created,
                    starting: false,
                    pid: 0,
                    exit_code: None,
                    exited_at: None,
                }),
                init: Mutex::new(None),
                execs: Mutex::new(HashMap::new()),
                stopped,
            });
            lock(&inner.containers).insert(id.clone(), Some(c.clone()));
            tokio::spawn(watch_system(inner.clone(), c, events));
            inner.emit(Event::Created { id });
            Ok(())
        })
        .await
    }

    /// Creates the init process; returns its pid.
    pub async fn start(&self, id: &str, stdio: ProcessStdio) -> Result<u32> {
        let c = self.get(id)?;
        {
            let mut st = lock(&c.state);
            if st.status != Status::Created || st.starting {
                return Err(Error::Conflict(format!(
                    "container {id} cannot be started: it is {:?}",
                    st.status
                )));
            }
            st.starting = true;
        }
        let inner = self.inner.clone();
        detached(async move {
            let Some(system) = c.system() else {
                lock(&c.state).starting = false;
                return Err(Error::Conflict(format!(
                    "container {} has no compute system",
                    c.id
                )));
            };
            let params = c.init_params.clone();
            let timeout = inner.config.timeout;
            let created = blocking(move || system.create_process(&params, timeout))
                .await
                .and_then(|r| r.map_err(Error::from));
            match created {
                Err(e) => {
                    // moby#38719: no init process means no process reaper; reap the
                    // container here, or its handle leaks.
                    inner.reap_container(&c, Reap::InitFailed).await;
                    Err(e)
                }
                Ok((process, info, events)) => {
                    let pid = info.pid;
                    let entry = inner.spawn_reaper(&c, None, process, info, events, stdio);
                    *lock(&c.init) = Some(entry);
                    let mut st = lock(&c.state);
                    st.status = Status::Running;
                    st.pid = pid;
                    st.starting = false;
                    Ok(pid)
                }
            }
        })
        .await
    }

    /// Creates (and so starts) an exec process; returns its pid.
    pub async fn exec(
        &self,
        id: &str,
        exec_id: &str,
        params: &ProcessParameters,
        stdio: ProcessStdio,
    ) -> Result<u32> {
        let c = self.get(id)?;
        if !matches!(lock(&c.state).status, Status::Running) {
            return Err(Error::Conflict(format!("container {id} is not running")));
        }
        if lock(&c.execs).contains_key(exec_id) {
            return Err(Error::Conflict(format!("exec {exec_id} already exists")));
        }
        let params = serde_json::to_string(params).map_err(|source| Error::Json {
            context: "encoding the process parameters",
            source,
        })?;
        let system = c
            .system()
            .ok_or_else(|| Error::Conflict(format!("container {id} is not running")))?;
        let inner = self.inner.clone();
        let exec_id = exec_id.to_string();
        detached(async move {
            let timeout = inner.config.timeout;
            // A failed exec closes its own handles (api); the container is unaffected.
            let (process, info, events) =
                blocking(move || system.create_process(&params, timeout)).await??;
            let pid = info.pid;
            let entry = inner.spawn_reaper(&c, Some(exec_id.clone()), process, info, events, stdio);
            lock(&c.execs).insert(exec_id, entry);
            Ok(pid)
        })
        .await
    }

    fn process_entry(&self, c: &Container, exec_id: Option<&str>) -> Result<Arc<ProcEntry>> {
        match exec_id {
            None => lock(&c.init)
                .clone()
                .ok_or_else(|| Error::Conflict(format!("container {} is not running", c.id))),
            Some(e) => lock(&c.execs)
                .get(e)
                .cloned()
                .ok_or_else(|| Error::NotFound(format!("exec {e} in container {}", c.id))),
        }
    }

    /// Delivers a signal. SIGKILL terminates (for the init process: the whole container, as
    /// moby does); SIGTERM, SIGINT, SIGQUIT and SIGHUP become the console control events
    /// CtrlShutdown, CtrlC, CtrlBreak and CtrlClose. A target that already stopped is not an
    /// error.
    pub async fn signal(&self, id: &str, exec_id: Option<&str>, signal: u32) -> Result<()> {
        const SIGHUP: u32 = 1;
        const SIGINT: u32 = 2;
        const SIGQUIT: u32 = 3;
        const SIGKILL: u32 = 9;
        const SIGTERM: u32 = 15;
        // hcsshim also accepts the raw CTRL_SHUTDOWN_EVENT value.
        const CTRL_SHUTDOWN: u32 = 6;
        let c = self.get(id)?;
        let entry = self.process_entry(&c, exec_id)?;
        let timeout = self.inner.config.timeout;
        let ctrl = match signal {
            SIGKILL => None,
            SIGTERM | CTRL_SHUTDOWN => Some("CtrlShutdown"),
            SIGINT => Some("CtrlC"),
            SIGQUIT => Some("CtrlBreak"),
            SIGHUP => Some("CtrlClose"),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "signal {other} is not supported for Windows containers"
                )))
            }
        };
        let result = if ctrl.is_none() && exec_id.is_none() {
            let system = c
                .system()
                .ok_or_else(|| Error::Conflict(format!("container {id} is not running")))?;
            detached(blocking(move || system.terminate(timeout))).await?
        } else {
            let process = entry
                .process()
                .ok_or_else(|| Error::Conflict("the process has already exited".into()))?;
            let system = c.system();
            detached(blocking(move || {
                let result = match ctrl {
                    Some(ctrl) => process.signal(ctrl, timeout),
                    None => process.terminate(timeout),
                };
                terminate_on_timeout(system.as_deref(), &result, timeout);
                result
            }))
            .await?
        };
        match result {
            Err(e) if e.is_already_stopped() => Ok(()),
            r => Ok(r?),
        }
    }

    pub async fn resize(
        &self,
        id: &str,
        exec_id: Option<&str>,
        width: u32,
        height: u32,
    ) -> Result<()> {
        let c = self.get(id)?;
        let entry = self.process_entry(&c, exec_id)?;
        let process = entry
            .process()
            .ok_or_else(|| Error::Conflict("the process has already exited".into()))?;
        let request = ProcessModifyRequest {
            operation: "ConsoleSize".into(),
            console_size: Some(ConsoleSize {
                height: u16::try_from(height).unwrap_or(u16::MAX),
                width: u16::try_from(width).unwrap_or(u16::MAX),
            }),
        };
        let timeout = self.inner.config.timeout;
        let system = c.system();
        detached(async move {
            Ok(blocking(move || {
                let result = process.modify(&request, timeout);
                terminate_on_timeout(system.as_deref(), &result, timeout);
                result
            })
            .await??)
        })
        .await
    }

    /// Closes the process's stdin handle (the process reads EOF).
    pub async fn close_stdin(&self, id: &str, exec_id: Option<&str>) -> Result<()> {
        let c = self.get(id)?;
        let entry = self.process_entry(&c, exec_id)?;
        if let Some(stop) = lock(&entry.stdin_stop).take() {
            let _ = stop.send(());
        }
        Ok(())
    }

    pub async fn pause(&self, id: &str) -> Result<()> {
        self.pause_resume(id, true).await
    }

    pub async fn resume(&self, id: &str) -> Result<()> {
        self.pause_resume(id, false).await
    }

    async fn pause_resume(&self, id: &str, pause: bool) -> Result<()> {
        let c = self.get(id)?;
        let expected = if pause {
            Status::Running
        } else {
            Status::Paused
        };
        if lock(&c.state).status != expected {
            return Err(Error::Conflict(format!(
                "container {id} is not {}",
                if pause { "running" } else { "paused" }
            )));
        }
        let system = c
            .system()
            .ok_or_else(|| Error::Conflict(format!("container {id} is not running")))?;
        let timeout = self.inner.config.timeout;
        detached(async move {
            Ok(blocking(move || {
                if pause {
                    system.pause(timeout)
                } else {
                    system.resume(timeout)
                }
            })
            .await??)
        })
        .await?;
        let id = id.to_string();
        let mut st = lock(&c.state);
        if st.status == expected {
            st.status = if pause {
                Status::Paused
            } else {
                Status::Running
            };
        }
        drop(st);
        self.inner.emit(if pause {
            Event::Paused { id }
        } else {
            Event::Resumed { id }
        });
        Ok(())
    }

    /// `None` when the adapter has no container `id`.
    pub fn state(&self, id: &str) -> Option<ContainerState> {
        let c = self.get(id).ok()?;
        let st = lock(&c.state);
        Some(ContainerState {
            status: st.status,
            pid: st.pid,
            exit_code: st.exit_code,
            exited_at: st.exited_at,
        })
    }

    pub fn ids(&self) -> Vec<String> {
        lock(&self.inner.containers)
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub async fn stats(&self, id: &str) -> Result<Stats> {
        let c = self.get(id)?;
        let system = c
            .system()
            .ok_or_else(|| Error::Conflict(format!("container {id} is not running")))?;
        let timeout = self.inner.config.timeout;
        let query = PropertyQuery {
            property_types: vec!["Statistics".into()],
        };
        let props =
            detached(
                async move { Ok(blocking(move || system.properties(&query, timeout)).await??) },
            )
            .await?;
        let stats = props.statistics.unwrap_or_default();
        let cpu = stats.processor.unwrap_or_default();
        let mem = stats.memory.unwrap_or_default();
        let processes = u64::from(lock(&c.init).is_some()) + lock(&c.execs).len() as u64;
        Ok(Stats {
            cpu_total_ns: cpu.total_runtime100ns.saturating_mul(100),
            cpu_kernel_ns: cpu.runtime_kernel100ns.saturating_mul(100),
            cpu_user_ns: cpu.runtime_user100ns.saturating_mul(100),
            memory_usage: mem.memory_usage_private_working_set_bytes,
            memory_commit: mem.memory_usage_commit_bytes,
            memory_commit_peak: mem.memory_usage_commit_peak_bytes,
            processes,
        })
    }

    /// Stops whatever still runs, closes every handle and forgets the container; idempotent.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let c = match self.get(id) {
            Ok(c) => c,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if lock(&c.state).starting {
            return Err(Error::Conflict(format!("container {id} is starting")));
        }
        let inner = self.inner.clone();
        detached(async move {
            let timeout = inner.config.timeout;
            if !*c.stopped.borrow() {
                if lock(&c.init).is_some() {
                    // The init process's reaper reaps the container (and reports the exit)
                    // once the terminated system has taken the process down.
                    if let Some(system) = c.system() {
                        blocking(move || system.terminate_quietly(timeout)).await?;
                    }
                } else {
                    inner.reap_container(&c, Reap::NoInit).await;
                }
                let mut stopped = c.stopped.subscribe();
                if tokio::time::timeout(timeout, stopped.wait_for(|s| *s))
                    .await
                    .is_err()
                {
                    // A reaper that never finished: close what is left here, the init's
                    // process handle too (its reaper waits for an exit that will not
                    // come; closing the handle ends that wait).
                    inner.reap_container(&c, Reap::NoInit).await;
                    let init = lock(&c.init).clone();
                    if let Some(entry) = init {
                        drop(lock(&entry.process).take());
                    }
                }
            }
            // Exec reapers finish on their own once their processes are gone; waiting a
            // little lets a caller that deletes and then counts handles see them closed.
            let deadline = tokio::time::Instant::now() + inner.config.io_drain_timeout;
            while !lock(&c.execs).is_empty() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            lock(&inner.containers).remove(&c.id);
            Ok(())
        })
        .await
    }

    /// Deletes every container (daemon shutdown).
    pub async fn shutdown(&self) {
        for id in self.ids() {
            if let Err(e) = self.delete(&id).await {
                tracing::warn!(%id, error = %e, "deleting container at shutdown failed");
            }
        }
    }
}

impl Inner {
    fn emit(&self, event: Event) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// Wires a new process's stdio and starts its reaper, before anything else can fail.
    fn spawn_reaper(
        self: &Arc<Self>,
        c: &Arc<Container>,
        exec_id: Option<String>,
        process: Process,
        info: RawProcessInfo,
        events: mpsc::UnboundedReceiver<Notification>,
        stdio: ProcessStdio,
    ) -> Arc<ProcEntry> {
        let (pumps, stdin_stop) = Pumps::spawn(info, stdio);
        let entry = Arc::new(ProcEntry {
            exec_id,
            pid: process.pid(),
            process: Mutex::new(Some(Arc::new(process))),
            stdin_stop: Mutex::new(stdin_stop),
        });
        tokio::spawn(reap_process(
            self.clone(),
            c.clone(),
            entry.clone(),
            events,
            pumps,
        ));
        entry
    }

    /// Container reaping, separate from process reaping: stops and closes the compute
    /// system (whoever takes it out of its slot first does, so exactly once), records the
    /// final state and, when there was an init process, publishes its exit.
    async fn reap_container(&self, c: &Arc<Container>, how: Reap) {
        let timeout = self.config.timeout;
        let graceful = matches!(how, Reap::InitExited { .. });
        let system = lock(&c.system).take();
        if let Some(system) = system {
            let stopped = blocking(move || {
                if graceful {
                    shut_down_or_terminate(&system, timeout);
                } else {
                    system.terminate_quietly(timeout);
                }
                // Closes the handle (or leaves it to the last in-flight call's clone).
                drop(system);
            })
            .await;
            if let Err(e) = stopped {
                tracing::warn!(id = %c.id, error = %e, "reaping compute system failed");
            }
        }
        let (exit, pid, exited_at) = match how {
            Reap::InitExited {
                pid,
                exit_code,
                exited_at,
            } => (Some(exit_code), pid, exited_at),
            Reap::InitFailed => (Some(EXIT_CODE_INIT_FAILED), 0, SystemTime::now()),
            Reap::NoInit => (None, 0, SystemTime::now()),
        };
        {
            let mut st = lock(&c.state);
            st.status = Status::Stopped;
            st.starting = false;
            if exit.is_some() {
                st.exit_code = exit;
                st.exited_at = Some(exited_at);
            }
        }
        if exit.is_some() {
            lock(&c.init).take();
        }
        c.stopped.send_replace(true);
        if let Some(exit_code) = exit {
            self.emit(Event::Exited {
                id: c.id.clone(),
                exec_id: None,
                pid,
                exit_code,
                exited_at,
            });
        }
    }
}

/// After the init process exited: shut down gracefully; anything but "already stopped"
/// (HCS's own codes only, never ERROR_PROC_NOT_FOUND: moby#42610) falls back to terminate.
fn shut_down_or_terminate(system: &ComputeSystem, timeout: Duration) {
    match system.shutdown(timeout) {
        Ok(()) => {}
        Err(e) if e.is_already_stopped() => {}
        Err(e) => {
            tracing::debug!(id = %system.id(), error = %e, "shutdown failed; terminating");
            system.terminate_quietly(timeout);
        }
    }
}

/// A process operation that timed out cannot be cancelled (real HCS answers E_NOTIMPL to
/// HcsCancelOperation) and leaves the process in an unknown state: the container's compute
/// system is terminated. Its processes' exits then arrive through their notifications as
/// for any exit, and the reapers close every handle and report the container's `die`.
fn terminate_on_timeout<T>(
    system: Option<&ComputeSystem>,
    result: &std::result::Result<T, HcsError>,
    timeout: Duration,
) {
    if let (Some(system), Err(e)) = (system, result) {
        if e.is_timeout() {
            tracing::warn!(id = %system.id(), error = %e, "HCS process operation timed out: terminating the compute system");
            system.terminate_quietly(timeout);
        }
    }
}

/// Watches the compute system's own events: a system that stops before it ever had an init
/// process has nobody else to reap it.
async fn watch_system(
    inner: Arc<Inner>,
    c: Arc<Container>,
    mut events: mpsc::UnboundedReceiver<Notification>,
) {
    while let Some(n) = events.recv().await {
        if n.event_type == callbacks::EVENT_SYSTEM_EXITED
            || n.event_type == callbacks::EVENT_SERVICE_DISCONNECT
        {
            tracing::debug!(id = %c.id, data = ?n.data, "compute system exited");
            let orphan = {
                let st = lock(&c.state);
                st.status == Status::Created && !st.starting
            };
            if orphan {
                inner.reap_container(&c, Reap::NoInit).await;
            }
            return;
        }
    }
}

/// The process reaper: exists from the moment the process handle does.
async fn reap_process(
    inner: Arc<Inner>,
    c: Arc<Container>,
    entry: Arc<ProcEntry>,
    mut events: mpsc::UnboundedReceiver<Notification>,
    pumps: Pumps,
) {
    // The channel also ends when the handle is closed behind our back: treat it as exit.
    while let Some(n) = events.recv().await {
        if n.event_type == callbacks::EVENT_PROCESS_EXITED
            || n.event_type == callbacks::EVENT_SERVICE_DISCONNECT
        {
            break;
        }
    }
    let timeout = inner.config.timeout;
    let exit_code = match entry.process() {
        None => EXIT_CODE_UNKNOWN,
        Some(p) => match blocking({
            let system = c.system();
            move || {
                let result = p.status(timeout);
                terminate_on_timeout(system.as_deref(), &result, timeout);
                result
            }
        })
        .await
        {
            Ok(Ok(s)) if s.last_wait_result == 0 => s.exit_code as i32,
            Ok(Ok(s)) => {
                tracing::warn!(
                    pid = entry.pid,
                    wait_result = s.last_wait_result,
                    "process wait failed"
                );
                EXIT_CODE_UNKNOWN
            }
            Ok(Err(e)) => {
                tracing::warn!(pid = entry.pid, error = %e, "reading the exit code failed");
                EXIT_CODE_UNKNOWN
            }
            Err(e) => {
                tracing::warn!(pid = entry.pid, error = %e, "reading the exit code failed");
                EXIT_CODE_UNKNOWN
            }
        },
    };
    // Exactly once, under the lock: nobody can reach the handle after this.
    let process = lock(&entry.process).take();
    drop(process);
    drop(events);
    let stdin_stop = lock(&entry.stdin_stop).take();
    pumps
        .finish(stdin_stop, inner.config.io_drain_timeout)
        .await;
    let exited_at = SystemTime::now();
    match &entry.exec_id {
        None => {
            inner
                .reap_container(
                    &c,
                    Reap::InitExited {
                        pid: entry.pid,
                        exit_code,
                        exited_at,
                    },
                )
                .await
        }
        Some(exec_id) => {
            lock(&c.execs).remove(exec_id);
            inner.emit(Event::Exited {
                id: c.id.clone(),
                exec_id: Some(exec_id.clone()),
                pid: entry.pid,
                exit_code,
                exited_at,
            });
        }
    }
}

/// The tasks copying between a process's stdio handles and the caller's streams. They own
/// the handles: a handle is closed when its task ends, and [`Pumps::finish`] ends them all.
struct Pumps {
    stdin: Option<JoinHandle<()>>,
    outputs: Vec<JoinHandle<()>>,
}

impl Pumps {
    fn spawn(info: RawProcessInfo, stdio: ProcessStdio) -> (Pumps, Option<oneshot::Sender<()>>) {
        let mut stdin_stop = None;
        let stdin = match (info.stdin, stdio.stdin) {
            (Some(handle), src) => {
                let (tx, rx) = oneshot::channel();
                stdin_stop = Some(tx);
                Some(tokio::spawn(pump_stdin(handle, src, rx)))
            }
            (None, _) => None,
        };
        let outputs = [(info.stdout, stdio.stdout), (info.stderr, stdio.stderr)]
            .into_iter()
            .filter_map(|(handle, sink)| match (handle, sink) {
                (Some(h), sink) => Some(tokio::spawn(pump_output(h, sink))),
                // No pipe: the caller's reader sees EOF at once.
                (None, Some(mut sink)) => Some(tokio::spawn(async move {
                    let _ = sink.shutdown().await;
                })),
                (None, None) => None,
            })
            .collect();
        (Pumps { stdin, outputs }, stdin_stop)
    }

    /// Closes stdin, lets the output drain (bounded), then ends every pump.
    async fn finish(self, stdin_stop: Option<oneshot::Sender<()>>, drain: Duration) {
        if let Some(stop) = stdin_stop {
            let _ = stop.send(());
        }
        for task in self.outputs.into_iter().chain(self.stdin) {
            let abort = task.abort_handle();
            if tokio::time::timeout(drain, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

async fn pump_stdin(handle: std::fs::File, src: Option<BoxRead>, stop: oneshot::Receiver<()>) {
    let mut file = tokio::fs::File::from_std(handle);
    if let Some(mut src) = src {
        tokio::select! {
            _ = tokio::io::copy(&mut src, &mut file) => {}
            _ = stop => {}
        }
    }
    let _ = file.flush().await;
    // Dropping `file` closes the handle: the process reads EOF.
}

async fn pump_output(handle: std::fs::File, sink: Option<BoxWrite>) {
    let mut file = tokio::fs::File::from_std(handle);
    if let Some(mut sink) = sink {
        if tokio::io::copy(&mut file, &mut sink).await.is_ok() {
            let _ = sink.shutdown().await;
            return;
        }
    }
    // Nobody reads (any more): keep draining so the process never blocks on a full pipe.
    let _ = tokio::io::copy(&mut file, &mut tokio::io::sink()).await;
}
