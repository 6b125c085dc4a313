//! The client side of task stdio: FIFOs that the containerd shim opens by path.
//!
//! The order matters. A non-blocking read open of a FIFO succeeds without a writer, but
//! then reads EOF at once, before the shim has even opened its end. So we hold a writer of
//! our own on each output FIFO until the shim has opened it (i.e. until `CreateTask` or
//! `Exec` returned), then drop it: from then on EOF means the process side really closed.
//! Stdin is opened read-write, which never blocks on Linux and needs no reader yet.
//!
//! FIFOs are unix-only. containerd on Windows takes named pipes instead; until that is
//! written, the Windows variant keeps the same API and fails with a clear error.

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
            let p = dir.join(format!("{name}-{suffix}"));
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
            stdin: stdio.stdin.then(|| dir.join(format!("{name}-stdin"))),
            stdout: dir.join(format!("{name}-stdout")),
            stderr: (!stdio.terminal).then(|| dir.join(format!("{name}-stderr"))),
        }
    }

    #[cfg(not(unix))]
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

    pub fn remove(&self, name: &str) {
        for suffix in ["stdin", "stdout", "stderr"] {
            let _ = std::fs::remove_file(self.dir.join(format!("{name}-{suffix}")));
        }
    }
}

#[cfg(unix)]
fn mkfifo(p: &Path) -> Result<()> {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| BackendError::io(format!("mkfifo {}", p.display()), e.into()))
}

#[cfg(not(unix))]
fn mkfifo(_: &Path) -> Result<()> {
    Err(unsupported())
}

#[cfg(not(unix))]
fn unsupported() -> BackendError {
    BackendError::Unavailable("containerd stdio on Windows is not supported yet".into())
}
