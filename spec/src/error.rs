//! The one error type of the `spec` crate; each module contributes its variants via `#[from]`.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cmdline(#[from] crate::cmdline::CmdlineError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
}
