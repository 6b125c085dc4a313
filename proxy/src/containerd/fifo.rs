//! The client side of task stdio: FIFOs that the containerd shim opens by path.
//!
//! The order matters. A non-blocking read open of a FIFO succeeds without a writer, but
//! then reads EOF at once, before the shim has even opened its end. So we hold a writer of
//! our own on each output FIFO until the shim has opened it (i.e. until `CreateTask` or
//! `Exec` returned), then drop it: from then on EOF means the process side really closed.
//! Stdin is opened read-write, which never blocks on Linux and needs no reader yet.
//!
//! FIFOs are unix-only. On Windows the same interface serves named pipes
//! (`\\.\pipe\dockbridge-<container>-<process>-<stream>`, see `npipe_stdio.rs`): the paths
//! handed to containerd are pipe names, `open` serves them, and no placeholder is needed
//! (a served pipe waits for its client instead of reading EOF).

use std::path::{Path, PathBuf};

#[cfg(unix)]
use tokio::net::unix::pipe;

use crate::backend::{BackendError, ProcessIo, Result, StdioConfig};

/// Our writer on an output FIFO (see the module docs).
#[cfg(unix)]
type Placeholder = pipe::Sender;
#[cfg(not(unix))]
type Placeholder = std::convert::Infallible;

pub struct Fifos {
    pub dir: PathBuf,
    pub stdin: Option<PathBuf>,
    pub stdout: PathBuf,
    pub stderr: Option<PathBuf>,
}

/// FIFOs opened on our side, with the temporary writers that keep reads from seeing EOF.
pub struct OpenFifos {
    pub io: ProcessIo,
    placeholders: Vec<Placeholder>,
}

impl OpenFifos {
    /// Call once the shim has opened its ends.
    pub fn release_placeholders(mut self) -> ProcessIo {
        self.placeholders.clear();
        self.io
    }

    /// Hands out the process side now and keeps the placeholders for later: the shim opens
    /// an exec's FIFOs only when the exec is started, not when it is created.
    pub fn split(self) -> (ProcessIo, Placeholders) {
        (self.io, Placeholders(self.placeholders))
    }
}

/// Writers that keep output FIFOs from reading EOF until dropped.
pub struct Placeholders(#[allow(dead_code)] Vec<Placeholder>);

impl Fifos {
    /// Creates the FIFOs for process `name` (`init` or an exec ID) under `dir`.
    pub fn create(dir: &Path, name: &str, stdio: StdioConfig) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| BackendError::io(format!("creating {}", dir.display()), e))?;
        let make = |suffix: &str| -> Result<PathBuf> {
            let p = stream_path(dir, name, suffix);
            let _ = std::fs::remove_file(&p);
            mkfifo(&p)?;
            Ok(p)
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            stdin: if stdio.stdin {
                Some(make("stdin")?)
            } else {
                None
            },
            stdout: make("stdout")?,
            stderr: if stdio.terminal {
                None
            } else {
                Some(make("stderr")?)
            },
        })
    }

    /// Paths of FIFOs that already exist (after a daemon restart).
    pub fn existing(dir: &Path, name: &str, stdio: StdioConfig) -> Self {
        Self {
            dir: dir.to_path_buf(),
            stdin: stdio.stdin.then(|| stream_path(dir, name, "stdin")),
            stdout: stream_path(dir, name, "stdout"),
            stderr: (!stdio.terminal).then(|| stream_path(dir, name, "stderr")),
        }
    }

    /// Serves the pipes; the shim connects to them during `CreateTask` (or an exec's
    /// start). Pipes already served by a previous daemon (a restart) cannot be taken over:
    /// their shim connected to that daemon.
    #[cfg(windows)]
    pub fn open(&self) -> Result<OpenFifos> {
        use super::npipe_stdio;
        let serve_err = |p: &Path| {
            let p = p.display().to_string();
            move |e| BackendError::io(format!("serving {p}"), e)
        };
        let stdout =
            npipe_stdio::output(&self.stdout.to_string_lossy()).map_err(serve_err(&self.stdout))?;
        let stderr = match &self.stderr {
            Some(p) => Some(npipe_stdio::output(&p.to_string_lossy()).map_err(serve_err(p))?),
            None => None,
        };
        let stdin = match &self.stdin {
            Some(p) => Some(npipe_stdio::input(&p.to_string_lossy()).map_err(serve_err(p))?),
            None => None,
        };
        Ok(OpenFifos {
            io: ProcessIo {
                stdin,
                stdout: Some(stdout),
                stderr,
            },
            placeholders: Vec::new(),
        })
    }

    #[cfg(not(any(unix, windows)))]
    pub fn open(&self) -> Result<OpenFifos> {
        Err(unsupported())
    }

    #[cfg(unix)]
    pub fn open(&self) -> Result<OpenFifos> {
        let mut placeholders = Vec::new();
        let mut reader = |p: &Path| -> Result<pipe::Receiver> {
            let rx = pipe::OpenOptions::new()
                .open_receiver(p)
                .map_err(|e| BackendError::io(format!("opening {}", p.display()), e))?;
            placeholders.push(
                pipe::OpenOptions::new()
                    .open_sender(p)
                    .map_err(|e| BackendError::io(format!("opening {}", p.display()), e))?,
            );
            Ok(rx)
        };
        let stdout = reader(&self.stdout)?;
        let stderr = self.stderr.as_deref().map(&mut reader).transpose()?;
        let stdin = match &self.stdin {
            Some(p) => Some(
                pipe::OpenOptions::new()
                    .read_write(true)
                    .open_sender(p)
                    .map_err(|e| BackendError::io(format!("opening {}", p.display()), e))?,
            ),
            None => None,
        };
        Ok(OpenFifos {
            io: ProcessIo {
                stdin: stdin.map(|s| Box::pin(s) as crate::backend::BoxWrite),
                stdout: Some(Box::pin(stdout)),
                stderr: stderr.map(|s| Box::pin(s) as crate::backend::BoxRead),
            },
            placeholders,
        })
    }

    pub fn path_str(p: &Option<PathBuf>) -> String {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    /// Removes the FIFOs (a named pipe goes with its last handle: nothing to remove).
    pub fn remove(&self, name: &str) {
        if cfg!(unix) {
            for suffix in ["stdin", "stdout", "stderr"] {
                let _ = std::fs::remove_file(stream_path(&self.dir, name, suffix));
            }
        }
    }
}

/// A FIFO in the container's directory on Unix; on Windows a pipe name with the
/// container's ID (the directory's name) in it, as containerd's `cio` names them.
fn stream_path(dir: &Path, name: &str, suffix: &str) -> PathBuf {
    if cfg!(windows) {
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        PathBuf::from(format!(r"\\.\pipe\dockbridge-{id}-{name}-{suffix}"))
    } else {
        dir.join(format!("{name}-{suffix}"))
    }
}

#[cfg(unix)]
fn mkfifo(p: &Path) -> Result<()> {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| BackendError::io(format!("mkfifo {}", p.display()), e.into()))
}

/// Pipes are created when served (`open`).
#[cfg(windows)]
fn mkfifo(_: &Path) -> Result<()> {
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn mkfifo(_: &Path) -> Result<()> {
    Err(unsupported())
}

#[cfg(not(any(unix, windows)))]
fn unsupported() -> BackendError {
    BackendError::Unavailable("containerd stdio on Windows is not supported yet".into())
}

#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::windows::named_pipe::ClientOptions;

    /// The backend's path: pipe names for containerd, served by `open`, each stream
    /// reaching the process side (the shim's role played by pipe clients).
    #[tokio::test]
    async fn task_stdio_are_named_pipes_the_shim_connects_to() {
        let dir = std::env::temp_dir()
            .join("dockbridge-fifo-test")
            .join(format!("c{}", std::process::id()));
        let fifos = Fifos::create(
            &dir,
            "init",
            StdioConfig {
                stdin: true,
                terminal: false,
            },
        )
        .unwrap();
        let id = format!("c{}", std::process::id());
        assert_eq!(
            fifos.stdout.to_string_lossy(),
            format!(r"\\.\pipe\dockbridge-{id}-init-stdout")
        );
        let mut io = fifos.open().unwrap().release_placeholders();
        let mut out = ClientOptions::new().open(&fifos.stdout).unwrap();
        let mut err = ClientOptions::new()
            .open(fifos.stderr.as_ref().unwrap())
            .unwrap();
        let mut inp = ClientOptions::new()
            .open(fifos.stdin.as_ref().unwrap())
            .unwrap();
        out.write_all(b"out").await.unwrap();
        err.write_all(b"err").await.unwrap();
        drop((out, err));
        let mut stdin = io.stdin.take().unwrap();
        stdin.write_all(b"in").await.unwrap();
        drop(stdin);
        let (mut o, mut e, mut i) = (String::new(), String::new(), String::new());
        io.stdout
            .take()
            .unwrap()
            .read_to_string(&mut o)
            .await
            .unwrap();
        io.stderr
            .take()
            .unwrap()
            .read_to_string(&mut e)
            .await
            .unwrap();
        inp.read_to_string(&mut i).await.unwrap();
        assert_eq!((o.as_str(), e.as_str(), i.as_str()), ("out", "err", "in"));
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}
