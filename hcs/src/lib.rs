//! The in-process Windows Host Compute Service (HCS) adapter: dockbridge's second backend.
//!
//! - [`schema`]: serde types of the HCS v2 documents (hcsshim's field names).
//! - [`document`]: OCI Windows spec → compute-system document and process parameters (pure).
//! - [`ffi`]: computecore.dll loaded at run time; the crate's only unsafe code.
//! - [`api`]: RAII handles (`Operation`, `ComputeSystem`, `Process`) closed exactly once.
//! - [`adapter`]: the container lifecycle, leak-free on every failure path.
//! - [`network`]: HNS networking (the `nat` network, endpoints, namespaces) through HCN.
//! - `service` (Windows): the daemon as a Windows service (the SCM's dispatcher and registration).
//! - [`storage`]: layers (import, writable layer, destroy) through computestorage's calls.
//!
//! On platforms without computecore.dll, [`api::Hcs::load`] reports "HCS not available"
//! unless given a library with the same exports, such as the `hcs-sim` simulator.
#![deny(unsafe_code)]

pub mod adapter;
pub mod api;
pub mod callbacks;
pub mod document;
pub mod error;
pub mod ffi;
pub mod network;
pub mod schema;
#[cfg(windows)]
pub mod service;
pub mod storage;

pub use error::{Error, HResult, Result};
