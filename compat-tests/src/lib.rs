//! dockbridge-compat: a black-box Docker Engine API conformance suite.
//!
//! Point it at any endpoint (dockerd, dockbridge, podman…): it loads its own
//! busybox test image through the API under test, runs every case and
//! reports what behaves like Docker and what does not.
#![forbid(unsafe_code)]

pub mod cases;
pub mod cli;
pub mod coverage;
pub mod ctx;
pub mod http;
pub mod image;
pub mod report;
pub mod runner;
pub mod schema;
pub mod version;
