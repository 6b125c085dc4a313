//! Talking to OCI/Docker registries: pull, push and login as dockerd 20.10 does them.
//!
//! containerd 1.6 has no Transfer service, so the client side of distribution is ours.
//! The pure core decides and formats without any I/O, and is unit-tested with golden
//! values taken from dockerd and distribution:
//! - [`manifest`]: manifests, indexes, media types, platform matching and selection;
//! - [`auth`]: `X-Registry-Auth`, `WWW-Authenticate` challenges, token requests;
//! - [`endpoint`]: `docker.io` → `registry-1.docker.io`, mirrors, insecure registries,
//!   `certs.d`;
//! - [`progress`]: Docker's JSON progress messages and bars;
//! - [`error`]: errors worded as the Go client words them.
//!
//! [`client`] is the HTTP edge (reqwest + rustls). What is stored where (content, leases,
//! snapshots, names) is the image store's business (`images::pull`, `images::push`).

pub mod auth;
pub mod client;
pub mod endpoint;
pub mod error;
pub mod manifest;
pub mod progress;
pub mod search;

pub use auth::AuthConfig;
pub use client::{Registries, Session};
pub use endpoint::RegistryConfig;
pub use error::RegistryError;
pub use manifest::Platform;
