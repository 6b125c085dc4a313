//! Everything that speaks containerd's gRPC API: the connection, the supervisor that runs a
//! private containerd, and the [`Backend`](crate::backend::Backend) built on its task service.
//!
//! Generated protocol types come from `containerd-client`; this module keeps the logic apart
//! from them.

pub mod client;
pub mod supervisor;

pub use client::Containerd;
