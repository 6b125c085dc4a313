//! Errors of the image store, each with the HTTP status dockerd gives the same failure.

use spec::reference::ReferenceError;

#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    /// `No such image: busybox:latest` (404). The text is the familiar reference with its
    /// default tag, or the ID as given, as dockerd's `ErrImageDoesNotExist` prints it.
    #[error("No such image: {0}")]
    NotFound(String),
    /// A malformed name (400), with the distribution library's message.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A bad request parameter (400): filters, tags, …; the message is complete.
    #[error("{0}")]
    InvalidArgument(String),
    /// A conflict (409): the message is dockerd's `conflict: unable to …`.
    #[error("{0}")]
    Conflict(String),
    /// The uploaded archive is not a loadable image (400); nothing was changed.
    #[error("invalid image archive: {0}")]
    InvalidArchive(String),
    /// A blob in the archive does not hash to the digest that names it (400).
    #[error("invalid image archive: {what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A call to containerd failed; `op` says which and on what.
    #[error("containerd: {op}: {}", .status.message())]
    Containerd {
        op: String,
        #[source]
        status: tonic::Status,
    },
    /// Stored metadata (a manifest or config read back from containerd) does not parse.
    #[error("{what}: {source}")]
    Corrupt {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A registry failed or refused (pull, push, login), worded as dockerd words it;
    /// `kind` is what dockerd answers with before any progress went out.
    #[error("{message}")]
    Remote {
        kind: crate::error_kind::ErrorKind,
        message: String,
    },
    /// The daemon runs without containerd (HCS only, `--containerd none`): its own store
    /// holds what `docker load` brings, and everything that needs containerd is a 501.
    #[error("not supported without containerd: this daemon runs HCS-only (--containerd none), where images come from docker load (pull, push, build, commit, import, save and Linux containers need containerd)")]
    NeedsContainerd,
    /// Windows layer storage (HCS) failed.
    #[error("{0}")]
    Layers(String),
    /// A background task (tar spooling) panicked or was cancelled.
    #[error("{0}")]
    Internal(String),
}

impl From<spec::filters::FilterError> for ImagesError {
    fn from(e: spec::filters::FilterError) -> Self {
        Self::InvalidArgument(e.0)
    }
}

impl ImagesError {
    /// The HTTP status dockerd answers this error with.
    /// What kind of failure this is (the API maps kinds to status codes).
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind as K;
        match self {
            Self::NotFound(_) => K::NotFound,
            Self::Reference(_)
            | Self::InvalidArgument(_)
            | Self::InvalidArchive(_)
            | Self::DigestMismatch { .. } => K::InvalidParameter,
            Self::Conflict(_) => K::Conflict,
            Self::Containerd { status, .. } => crate::error_kind::grpc_kind(status.code()),
            Self::Remote { kind, .. } => *kind,
            Self::NeedsContainerd => K::NotImplemented,
            Self::Io { .. } | Self::Corrupt { .. } | Self::Internal(_) | Self::Layers(_) => {
                K::Internal
            }
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict(_))
    }
}

pub type Result<T, E = ImagesError> = std::result::Result<T, E>;

/// `map_err(io("reading x"))`: an I/O error that says what it was doing.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImagesError {
    let context = context.into();
    move |source| ImagesError::Io { context, source }
}

/// `map_err(grpc("Images.Get docker.io/library/busybox:latest"))`.
pub(crate) fn grpc(op: impl Into<String>) -> impl FnOnce(tonic::Status) -> ImagesError {
    let op = op.into();
    move |status| ImagesError::Containerd { op, status }
}
