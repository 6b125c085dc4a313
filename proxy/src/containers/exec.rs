//! `docker exec`: extra processes in a running container, each with its own stdio hub and
//! exit code, tracked until the container is removed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use spec::api::models::{ExecConfig, ExecInspectResponse, ProcessConfig};
use tokio::sync::watch;

use super::record::Status;
use super::stream::Hub;
use super::{names, Container, ContainerError, Manager, Result};
use crate::backend::{ExecRequest, StdioConfig};

pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub hub: Arc<Hub>,
    state: Mutex<ExecState>,
    /// `Some(exit code)` once the process exited.
    done: watch::Sender<Option<i64>>,
}

#[derive(Debug, Clone, Default)]
struct ExecState {
    running: bool,
    started: bool,
    pid: u32,
    exit_code: Option<i64>,
}

impl Exec {
    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }
    pub fn is_running(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).running
    }
    pub fn done(&self) -> watch::Receiver<Option<i64>> {
        self.done.subscribe()
    }

    pub fn inspect(&self) -> ExecInspectResponse {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let cmd = self.config.cmd.clone().unwrap_or_default();
        ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(self.config.detach_keys.clone().unwrap_or_default()),
            id: Some(self.id.clone()),
            running: Some(st.running),
            exit_code: st.exit_code,
            process_config: Some(ProcessConfig {
                privileged: Some(self.config.privileged.unwrap_or(false)),
                user: Some(self.config.user.clone().unwrap_or_default()),
                tty: Some(self.tty()),
                entrypoint: cmd.first().cloned(),
                arguments: Some(cmd.iter().skip(1).cloned().collect()),
            }),
            open_stdin: Some(self.config.attach_stdin.unwrap_or(false)),
            open_stderr: Some(self.config.attach_stderr.unwrap_or(false)),
            open_stdout: Some(self.config.attach_stdout.unwrap_or(false)),
            container_id: Some(self.container_id.clone()),
            pid: Some(i64::from(st.pid)),
        }
    }
}

/// All execs of the daemon, by ID.
#[derive(Default)]
pub struct Execs {
    by_id: Mutex<HashMap<String, Arc<Exec>>>,
}

impl Execs {
    pub fn get(&self, id: &str) -> Result<Arc<Exec>> {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| ContainerError::NotFound(format!("No such exec instance: {id}")))
    }
    fn insert(&self, e: Arc<Exec>) {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(e.id.clone(), e);
    }
    pub fn remove(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
    pub fn remove_container(&self, container_id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| e.container_id != container_id);
    }
    pub fn of_container(&self, container_id: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|e| e.container_id == container_id)
            .map(|e| e.id.clone())
            .collect();
        v.sort();
        v
    }
}

/// dockerd's `exec_create: <entrypoint> <args>` (see `translate::events::exec_action`).
fn action(prefix: &str, cfg: &ExecConfig) -> String {
    translate::events::exec_action(prefix, cfg.cmd.as_deref().unwrap_or_default())
}

impl Manager {
    /// `POST /containers/{id}/exec`.
    pub fn exec_create(&self, key: &str, config: ExecConfig) -> Result<String> {
        let c = self.get(key)?;
        let rec = c.record();
        match rec.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(ContainerError::Conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                )))
            }
            Status::Restarting => return Err(super::lifecycle::restarting_conflict(&c.id).into()),
            _ => {
                return Err(ContainerError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
        }
        if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(ContainerError::InvalidParameter(
                "No exec command specified".into(),
            ));
        }
        if rec.platform == super::record::Platform::Windows {
            translate::windows::exec::check(&config)?;
        }
        let id = names::new_id();
        let exec = Arc::new(Exec {
            id: id.clone(),
            container_id: c.id.clone(),
            config: config.clone(),
            hub: Arc::new(Hub::new()),
            state: Mutex::new(ExecState::default()),
            done: watch::channel(None).0,
        });
        self.execs.insert(exec);
        self.emit(
            &c,
            &action("exec_create", &config),
            HashMap::from([("execID".to_string(), id.clone())]),
        );
        Ok(id)
    }

    /// Creates and starts the exec's process. The caller subscribed to `exec.hub` first (so
    /// no output is lost) unless detached.
    pub async fn exec_start(&self, exec: &Arc<Exec>) -> Result<()> {
        self.exec_claim(exec)?;
        self.exec_run(exec).await
    }

    /// The checks of an exec start that are answered as HTTP errors (before a hijacked
    /// stream exists); marks the exec started.
    pub fn exec_claim(&self, exec: &Arc<Exec>) -> Result<()> {
        {
            let mut st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.started {
                let what = if st.exit_code.is_some() {
                    "has already run"
                } else {
                    "is already running"
                };
                return Err(ContainerError::Conflict(format!(
                    "Error: Exec command {} {what}",
                    exec.id
                )));
            }
            st.started = true;
        }
        let c: Arc<Container> = self.get(&exec.container_id)?;
        let rec = c.record();
        if rec.state.status != Status::Running {
            exec.state.lock().unwrap_or_else(|p| p.into_inner()).started = false;
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        Ok(())
    }

    /// Creates and starts a claimed exec's process.
    pub async fn exec_run(&self, exec: &Arc<Exec>) -> Result<()> {
        let c: Arc<Container> = self.get(&exec.container_id)?;
        let rec = c.record();
        let init: oci_spec::runtime::Process = rec
            .init_process
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| {
                ContainerError::Internal(format!("container {} has no recorded process spec", c.id))
            })?;
        let process = match rec.platform {
            // The exec's own command by the Windows rules, never the init's command line.
            super::record::Platform::Windows => {
                translate::windows::exec::exec_process(&init, &exec.config)?
            }
            super::record::Platform::Linux => {
                // Users and groups resolve against the container's files as they are now.
                let root = format!("/proc/{}/root", rec.state.pid);
                let passwd = std::fs::read_to_string(format!("{root}/etc/passwd")).ok();
                let group = std::fs::read_to_string(format!("{root}/etc/group")).ok();
                let group_add = rec.host_config.group_add.clone().unwrap_or_default();
                translate::linux::exec_process_with(
                    &init,
                    &exec.config,
                    &translate::linux::ExecOptions {
                        passwd: passwd.as_deref(),
                        group: group.as_deref(),
                        group_add: &group_add,
                        host_capabilities: self.host.capabilities.as_deref(),
                    },
                )?
            }
        };
        let backend = self.backend(&rec.backend)?;
        let stdio = StdioConfig {
            stdin: exec.config.attach_stdin.unwrap_or(false),
            terminal: exec.tty(),
        };
        let io = backend
            .exec(ExecRequest {
                container_id: c.id.clone(),
                exec_id: exec.id.clone(),
                process,
                stdio,
            })
            .await?;
        let (cid, eid, b2) = (c.id.clone(), exec.id.clone(), backend.clone());
        exec.hub.pump(io, None, move || {
            tokio::spawn(async move {
                let _ = b2.close_stdin(&cid, Some(&eid)).await;
            });
        });
        let pid = match backend.start_exec(&c.id, &exec.id).await {
            Ok(pid) => pid,
            Err(e) => {
                self.finish_exec(exec, 126);
                return Err(ContainerError::StartFailed(e.to_string()));
            }
        };
        {
            let mut st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            st.pid = pid;
            // A short process may already have exited (its event beat this reply).
            st.running = st.exit_code.is_none();
        }
        self.emit(
            &c,
            &action("exec_start", &exec.config),
            HashMap::from([("execID".to_string(), exec.id.clone())]),
        );
        Ok(())
    }

    fn finish_exec(&self, exec: &Exec, code: i64) {
        {
            let mut st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            st.running = false;
            st.exit_code = Some(code);
        }
        exec.done.send_replace(Some(code));
    }

    /// A runtime exit of an exec process.
    pub(super) async fn on_exec_exit(&self, container_id: &str, exec_id: &str, code: i64) {
        let Ok(exec) = self.execs.get(exec_id) else {
            return;
        };
        if exec.container_id != container_id {
            return;
        }
        self.finish_exec(&exec, code);
        if let Ok(c) = self.get(container_id) {
            self.emit(
                &c,
                "exec_die",
                HashMap::from([
                    ("execID".to_string(), exec_id.to_string()),
                    ("exitCode".to_string(), code.to_string()),
                ]),
            );
        }
    }

    /// After the runtime's event stream broke: an exec that exited meanwhile is finished
    /// with the exit code the runtime kept (and `exec_die` emitted), as the init process is.
    pub(super) async fn reconcile_execs(&self, c: &super::Container) {
        let rec = c.record();
        let Ok(backend) = self.backend(&rec.backend) else {
            return;
        };
        for exec_id in self.execs.of_container(&c.id) {
            let Ok(exec) = self.execs.get(&exec_id) else {
                continue;
            };
            if !exec.is_running() {
                continue;
            }
            match backend.exec_state(&c.id, &exec_id).await {
                Ok(Some(t)) if t.status == crate::backend::TaskStatus::Stopped => {
                    let code = t.exit_code.map(i64::from).unwrap_or(255);
                    tracing::info!(container = %c.id, exec = %exec_id, code, "exec exited while runtime events were not followed");
                    self.on_exec_exit(&c.id, &exec_id, code).await;
                }
                Ok(Some(_)) => {}
                // The runtime forgot it (its shim went away): no code to read.
                Ok(None) => self.on_exec_exit(&c.id, &exec_id, 255).await,
                Err(e) => {
                    tracing::debug!(container = %c.id, exec = %exec_id, "reconciling exec: {e}")
                }
            }
        }
    }

    pub async fn exec_resize(&self, exec_id: &str, w: u32, h: u32) -> Result<()> {
        let exec = self.execs.get(exec_id)?;
        let rec = self.get(&exec.container_id)?.record();
        if !exec.is_running() {
            return Err(ContainerError::Conflict(format!(
                "Exec {exec_id} is not running"
            )));
        }
        self.backend(&rec.backend)?
            .resize(&exec.container_id, Some(exec_id), w, h)
            .await?;
        Ok(())
    }
}
