//! Pure mapping from Docker API requests to OCI runtime specs, and from runtime events to
//! Docker events. No sockets, no files: the proxy reads whatever a translation needs (the
//! image's `/etc/passwd`, the host's limits) and passes it in.
#![forbid(unsafe_code)]

pub mod build;
pub mod changes;
pub mod commit;
pub mod dockerfile;
pub mod error;
pub mod events;
pub mod healthcheck;
pub mod linux;
pub mod windows;

pub use error::Error;
