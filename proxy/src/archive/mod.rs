//! Container filesystem archives: `docker cp` (stat, tar out, tar in), `docker export`,
//! `docker diff` and the layer tar of `docker commit`.
//!
//! Everything here works on a directory tree given as a path, so it is unit-tested on temp
//! dirs. The daemon never walks a container's tree from its own root: [`helper`] runs these
//! functions in a child process chrooted into the container (its live root, or its snapshot
//! mounted in a private mount namespace), so an absolute symlink inside the container can
//! never lead to the host's files — the same reason dockerd uses `chrootarchive`.

#[cfg(unix)]
pub mod changes;
#[cfg(unix)]
pub mod extract;
pub mod helper;
pub mod stat;
#[cfg(unix)]
pub mod tarball;

use serde::{Deserialize, Serialize};

/// What went wrong, in the classes the API maps to status codes. Crosses the helper's
/// process boundary as JSON, hence serde.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum ArchiveError {
    /// The path does not exist in the container (404).
    #[error("{0}")]
    NotFound(String),
    /// An extraction point that is not a directory (400).
    #[error("{0}")]
    NotADirectory(String),
    /// The target is on a read-only filesystem (403).
    #[error("{0}")]
    ReadOnly(String),
    /// A bad archive or request: an entry escaping the target, a dir/non-dir overwrite (400).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(String),
}

impl ArchiveError {
    /// An I/O error with its context, classified by kind.
    pub fn io(context: impl std::fmt::Display, e: std::io::Error) -> Self {
        let msg = format!("{context}: {e}");
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound(msg),
            std::io::ErrorKind::ReadOnlyFilesystem => Self::ReadOnly(msg),
            std::io::ErrorKind::NotADirectory => Self::NotADirectory(msg),
            _ => Self::Io(msg),
        }
    }
}

/// `docker diff` kinds, as numbered by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

/// One entry of `GET /containers/{id}/changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Kind")]
    pub kind: u8,
}

pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;
