//! Runs and supervises a private containerd, as dockerd does when it is not given one.
//!
//! Everything containerd owns lives under dockbridge's roots, so several daemons (and the
//! tests, which each start their own) never share state with a system containerd:
//! `<data-root>/containerd` (root), `<exec-root>/containerd` (state, socket, config).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use super::Containerd;

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("containerd did not become ready within {0:?} (see {1})")]
    NotReady(Duration, String),
    #[error(transparent)]
    Client(#[from] super::client::ClientError),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SupervisorError {
    let context = context.into();
    move |source| SupervisorError::Io { context, source }
}

/// Paths of one private containerd.
#[derive(Debug, Clone)]
pub struct Layout {
    pub binary: PathBuf,
    pub root: PathBuf,
    pub state: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl Layout {
    pub fn new(data_root: &Path, exec_root: &Path) -> Self {
        let state = exec_root.join("containerd");
        Self {
            binary: PathBuf::from("containerd"),
            root: data_root.join("containerd"),
            socket: state.join("containerd.sock"),
            config: state.join("config.toml"),
            log: data_root.join("containerd.log"),
            state,
        }
    }

    /// containerd 1.6's config (version 2). The CRI plugin is disabled: dockbridge is the
    /// only client, and CRI would otherwise want CNI set up. `opt` would default to
    /// /opt/containerd, outside our roots.
    fn config_toml(&self) -> String {
        format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
"#,
            root = self.root.display(),
            state = self.state.display(),
            socket = self.socket.display(),
        )
    }
}

/// A running, supervised containerd. Dropping the handle does not stop it; call
/// [`Supervisor::shutdown`].
pub struct Supervisor {
    layout: Layout,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    /// Writes the config, starts containerd, waits until it answers, and keeps restarting it
    /// if it dies.
    pub async fn start(layout: Layout) -> Result<(Self, Containerd), SupervisorError> {
        for dir in [&layout.root, &layout.state] {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        std::fs::write(&layout.config, layout.config_toml())
            .map_err(io(format!("writing {}", layout.config.display())))?;
        let child = spawn(&layout)?;
        let client = Containerd::connect_lazy(&layout.socket.display().to_string(), "dockbridge")?;
        wait_ready(&client, &layout, Duration::from_secs(30)).await?;
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(supervise(layout.clone(), child, stop_rx));
        Ok((Self { layout, stop, task }, client))
    }

    pub fn socket(&self) -> &Path {
        &self.layout.socket
    }

    /// Stops containerd (SIGTERM, then SIGKILL after 10 s). Running shims and their
    /// containers survive, as with dockerd's live-restore: the next start finds them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn spawn(layout: &Layout) -> Result<Child, SupervisorError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&layout.log)
        .map_err(io(format!("opening {}", layout.log.display())))?;
    let log2 = log.try_clone().map_err(io("duplicating log handle"))?;
    let mut cmd = Command::new(&layout.binary);
    // containerd must not die with us on SIGINT from a terminal: we stop it ourselves.
    #[cfg(unix)]
    cmd.process_group(0);
    cmd.arg("--config")
        .arg(&layout.config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .kill_on_drop(false)
        .spawn()
        .map_err(io(format!("starting {}", layout.binary.display())))
}

async fn wait_ready(
    client: &Containerd,
    layout: &Layout,
    limit: Duration,
) -> Result<(), SupervisorError> {
    let deadline = Instant::now() + limit;
    loop {
        if layout.socket.exists() && client.version().version(()).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(SupervisorError::NotReady(
                limit,
                layout.log.display().to_string(),
            ));
        }
        sleep(Duration::from_millis(50)).await;
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A containerd that stayed up this long was healthy: its next crash restarts it at once.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// The wait before the next restart: doubling while containerd keeps crashing, back to
/// the first step once a run lasted [`HEALTHY_RUN`].
fn next_backoff(current: Duration, ran_for: Duration) -> (Duration, Duration) {
    let wait = if ran_for >= HEALTHY_RUN {
        FIRST_BACKOFF
    } else {
        current
    };
    (wait, (wait * 2).min(MAX_BACKOFF))
}

async fn supervise(layout: Layout, mut child: Child, mut stop: watch::Receiver<bool>) {
    let mut backoff = FIRST_BACKOFF;
    let mut started = Instant::now();
    loop {
        tokio::select! {
            status = child.wait() => {
                let (wait, next) = next_backoff(backoff, started.elapsed());
                backoff = next;
                tracing::warn!(?status, "containerd exited; restarting in {wait:?}");
                sleep(wait).await;
                match spawn(&layout) {
                    Ok(c) => {
                        child = c;
                        started = Instant::now();
                    }
                    Err(e) => tracing::error!("restarting containerd: {e}"),
                }
            }
            _ = stop.changed() => {
                terminate(&mut child).await;
                return;
            }
        }
    }
}

/// SIGTERM first, so containerd shuts down cleanly; a forced kill after 10 s (and at once
/// where there are no signals).
async fn terminate(child: &mut Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

#[cfg(test)]
mod backoff_tests {
    use super::*;

    #[test]
    fn backoff_doubles_while_crashing_and_resets_after_a_healthy_run() {
        let quick = Duration::from_secs(1);
        let (w1, n1) = next_backoff(FIRST_BACKOFF, quick);
        let (w2, n2) = next_backoff(n1, quick);
        assert_eq!((w1, w2), (FIRST_BACKOFF, FIRST_BACKOFF * 2));
        let mut b = n2;
        for _ in 0..10 {
            b = next_backoff(b, quick).1;
        }
        assert_eq!(b, MAX_BACKOFF);
        let (w, n) = next_backoff(b, HEALTHY_RUN);
        assert_eq!((w, n), (FIRST_BACKOFF, FIRST_BACKOFF * 2));
    }
}
