//! Everything that speaks containerd's gRPC API: the connection, the supervisor that runs a
//! private containerd, and the [`Backend`](crate::backend::Backend) built on its task service.
//!
//! Generated protocol types come from `containerd-client`; this module keeps the logic apart
//! from them.

pub mod address;
pub mod backend;
pub mod cgroup_metrics;
pub mod client;
pub mod connect;
pub mod fifo;
pub mod locality;
#[cfg(windows)]
pub mod npipe_stdio;
pub mod supervisor;

pub use backend::ContainerdBackend;
pub use client::Containerd;
