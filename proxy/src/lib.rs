//! dockbridge: a daemon that speaks the Docker Engine API and runs containers on containerd
//! (remote, over gRPC) or on the Windows Host Compute Service (local, in-process).
#![forbid(unsafe_code)]

pub mod backend;
pub mod containerd;
pub mod images;
