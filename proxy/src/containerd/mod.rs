//! Everything that speaks containerd's gRPC API: the connection, the supervisor that runs a
//! private containerd, and the [`Backend`](crate::backend::Backend) built on its task service.
//!
//! Generated protocol types come from `containerd-client`; this module keeps the logic apart
//! from them.

// Task stdio are FIFOs, which exist on unix only; on Windows the HCS backend runs
// containers (containerd's named-pipe stdio is not implemented).
#[cfg(unix)]
pub mod backend;
pub mod client;
#[cfg(unix)]
pub mod fifo;
pub mod supervisor;

#[cfg(unix)]
pub use backend::ContainerdBackend;
pub use client::Containerd;
