//! Following the runtime: its events (exits, OOMs, pauses done outside dockbridge), the
//! reconcile after its event stream broke, and the restore of every container at boot.
//! Everything here reaches the state machine through `Manager::transition`, under the
//! container's operation lock.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::lifecycle::{self, Transition};
use super::record::Status;
use super::{stdio_of, Container, Manager, OpGuard, Result};
use crate::backend::{RuntimeEvent, TaskStatus};

impl Manager {
    /// Loads the records on disk, re-attaches to tasks that are still running, records the
    /// exits that happened while dockbridge was down, brings back what the restart policies
    /// say, and starts following runtime events.
    /// Daemon shutdown: each backend lets go of what it holds (see `Backend::shutdown`).
    pub async fn shutdown_backends(&self) {
        for backend in self.backends.values() {
            backend.shutdown().await;
        }
    }

    pub async fn restore(self: &Arc<Self>) -> Result<()> {
        let mut was_restarting = Vec::new();
        for rec in self.store.load_all()? {
            let c = self.new_container(rec.clone());
            self.index.reserve(&rec.name, &rec.id)?;
            self.index.insert(&rec.id, c.clone());
            if rec.state.status.is_live() {
                self.reconcile(&c).await;
                // A run that survived the restart keeps being probed.
                if c.record().state.status.is_live() {
                    if let Some(probe) = super::health::probe_of(&rec.config) {
                        self.monitor_health(&c, probe);
                    }
                }
            }
            if rec.state.status == Status::Restarting {
                was_restarting.push(c);
            }
        }
        // A restart that was pending when the daemon stopped is due now.
        for c in was_restarting {
            let op = c.lock_op().await;
            if let Err(e) = self.start_locked(&c, &op, true).await {
                tracing::warn!(container = %c.id, "restarting by policy: {e}");
            }
        }
        // As dockerd does at boot: containers whose policy says so come back up.
        for c in self.all() {
            let rec = c.record();
            if lifecycle::restarts_at_boot(&rec) && rec.state.status != Status::Restarting {
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
    pub(super) async fn reconcile(self: &Arc<Self>, c: &Arc<Container>) {
        // Under the operation lock: a start in progress finishes first, so its task is
        // never mistaken for one left behind.
        let op = c.lock_op().await;
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
                self.follow_pause(c, &op, t.status).await;
            }
            Ok(Some(t)) => {
                // Stopped, or created by a start that never finished (the daemon died in
                // between): either way the run is over.
                let code = t.exit_code.map(i64::from).unwrap_or(255);
                tracing::info!(
                    container = %c.id,
                    exit_code = code,
                    "container exited while its runtime events were not followed"
                );
                // containerd kept the real exit time: FinishedAt is that, not now.
                self.exit_locked(c, &op, 0, code, t.exited_at.map(Into::into))
                    .await;
            }
            Ok(None) => {
                // The runtime lost the task (its shim died, or its state was wiped): there is
                // no exit status to read, so the exit is recorded as dockerd does for a task
                // it cannot find.
                tracing::warn!(
                    container = %c.id,
                    "the runtime has no task for a running container; recording exit code 255"
                );
                self.exit_locked(c, &op, 0, 255, None).await;
            }
            // The runtime is unreachable: nothing is known yet. The next reconnect retries.
            Err(e) => tracing::warn!(container = %c.id, "reconciling: {e}"),
        }
    }

    pub(super) async fn on_runtime_event(self: &Arc<Self>, backend: &str, ev: RuntimeEvent) {
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
                if let Some(c) = owned(&container_id) {
                    let op = c.lock_op().await;
                    self.exit_locked(&c, &op, pid, i64::from(exit_code), Some(exited_at.into()))
                        .await;
                }
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
                    let op = c.lock_op().await;
                    let _ = self.transition(&c, &op, Transition::Oom).await;
                }
            }
            // The runtime's word is only a hint: the state is read back under the operation
            // lock, so our own `docker pause` is not reported a second time.
            RuntimeEvent::Paused { container_id } | RuntimeEvent::Resumed { container_id } => {
                if let Some(c) = owned(&container_id) {
                    let op = c.lock_op().await;
                    let Ok(b) = self.backend(backend) else { return };
                    match b.state(&c.id).await {
                        Ok(Some(t)) => self.follow_pause(&c, &op, t.status).await,
                        Ok(None) => {}
                        Err(e) => tracing::warn!(container = %c.id, "following a pause: {e}"),
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

    /// Follows a pause or resume done outside dockbridge (e.g. `ctr task pause`): only a
    /// change between running and paused is news.
    async fn follow_pause(
        self: &Arc<Self>,
        c: &Arc<Container>,
        op: &OpGuard<'_>,
        task: TaskStatus,
    ) {
        let t = match (c.record().state.status, task) {
            (Status::Running, TaskStatus::Paused) => Transition::Paused,
            (Status::Paused, TaskStatus::Running) => Transition::Resumed,
            _ => return,
        };
        let _ = self.transition(c, op, t).await;
    }

    /// Records an exit of the init process (once per run: whichever of the runtime event and
    /// a reconcile comes first), after the output is delivered and the task is deleted.
    pub(super) async fn exit_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        op: &OpGuard<'_>,
        pid: u32,
        code: i64,
        at: Option<DateTime<Utc>>,
    ) {
        let rec = c.record();
        let probe = Transition::Exited {
            pid,
            exit_code: code,
            at,
        };
        // Stale reports (another run's pid, already exited) change nothing and cost nothing.
        if lifecycle::apply(&rec, probe.clone(), Utc::now()).is_err() {
            tracing::debug!(container = %c.id, pid, "ignoring a stale exit");
            return;
        }
        // Let the output pump deliver everything before waiters are told: `docker run`
        // prints output, then exits with the code.
        let pump = c.pump.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(p) = pump {
            let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
        }
        if let Ok(backend) = self.backend(&rec.backend) {
            if let Err(e) = backend.delete(&c.id).await {
                tracing::warn!(container = %c.id, "deleting exited task: {e}");
            }
        }
        let _ = self.transition(c, op, probe).await;
    }
}
