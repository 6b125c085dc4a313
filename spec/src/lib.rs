//! Wire models and invariants shared by every dockbridge crate.
//!
//! * [`api`]: the Docker Engine API models (re-exported from `bollard-stubs`, which is
//!   generated from moby's swagger and serialises Docker's exact field names).
//! * [`image`]: the image config JSON as Docker writes it, with `ArgsEscaped` and any
//!   field we do not know kept verbatim (the `oci-spec` type silently drops both).
//! * [`cmdline`]: the Windows command-line codec (join / split by the MSVC rules).
//! * [`oci`]: invariants every runtime spec dockbridge emits must satisfy.
//!
//! Nothing here touches sockets or files: everything is tested with plain unit tests.
#![forbid(unsafe_code)]

pub mod api;
pub mod cmdline;
pub mod error;
pub mod filters;
pub mod image;
pub mod oci;
pub mod reference;
pub mod timestamp;

pub use error::Error;
