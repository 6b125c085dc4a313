//! What kind of failure an error is, independent of HTTP: domain errors (containers,
//! images, backends, translation) say what went wrong; `server::error` alone turns a kind
//! into a status code.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input from the client (400).
    InvalidParameter,
    NotFound,
    /// The registry refused the credentials (401).
    Unauthorized,
    /// Not possible in the current state (409).
    Conflict,
    /// Already so; nothing done (304).
    NotModified,
    /// Refused by policy, e.g. writing into a read-only rootfs (403).
    Forbidden,
    /// Something dockerd does that this daemon or backend cannot (501).
    NotImplemented,
    /// A dependency (the runtime) is unreachable right now (503).
    Unavailable,
    /// Anything else (500).
    Internal,
}

/// Implemented by every domain error the API reports.
pub trait Kinded {
    fn kind(&self) -> ErrorKind;
}

impl Kinded for translate::Error {
    fn kind(&self) -> ErrorKind {
        match self {
            translate::Error::Unsupported(_) | translate::Error::InvalidParameter(_) => {
                ErrorKind::InvalidParameter
            }
            translate::Error::Conflict(_) => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        }
    }
}

impl Kinded for crate::images::ImagesError {
    fn kind(&self) -> ErrorKind {
        crate::images::ImagesError::kind(self)
    }
}

/// containerd's gRPC status codes, as dockerd's errdefs reads them.
pub fn grpc_kind(code: tonic::Code) -> ErrorKind {
    match code {
        tonic::Code::NotFound => ErrorKind::NotFound,
        tonic::Code::AlreadyExists | tonic::Code::FailedPrecondition => ErrorKind::Conflict,
        tonic::Code::InvalidArgument => ErrorKind::InvalidParameter,
        tonic::Code::Unimplemented => ErrorKind::NotImplemented,
        tonic::Code::Unavailable => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}
