//! The one error type of the `translate` crate.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request asks for something dockbridge does not implement (yet); the API answers 400.
    #[error("{0}")]
    Unsupported(String),
    /// The request is malformed or contradicts itself; the API answers 400.
    #[error("{0}")]
    InvalidParameter(String),
    /// Not possible with the container's current settings (dockerd's conflict, 409).
    #[error("{0}")]
    Conflict(String),
    /// The runtime spec cannot be built from what was accepted at create (dockerd's 500 at
    /// start, e.g. a seccomp profile that does not decode).
    #[error("{0}")]
    Runtime(String),
    #[error(transparent)]
    Spec(#[from] spec::Error),
}
