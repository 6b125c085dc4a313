//! Invariants of the OCI runtime specs dockbridge emits, checked before any spec leaves.

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid runtime spec: {0}")]
    Invalid(String),
}
