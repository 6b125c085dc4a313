//! The crate's error type and HRESULT classification.

use std::fmt;

/// A Windows HRESULT as computecore.dll returns it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HResult(pub i32);

const fn hr(v: u32) -> HResult {
    HResult(v as i32)
}

impl HResult {
    pub const S_OK: HResult = HResult(0);
    pub const E_FAIL: HResult = hr(0x8000_4005);
    pub const E_ABORT: HResult = hr(0x8000_4004);
    pub const E_INVALIDARG: HResult = hr(0x8007_0057);
    /// HRESULT_FROM_WIN32(ERROR_INVALID_HANDLE)
    pub const E_HANDLE: HResult = hr(0x8007_0006);
    /// HCS_E_OPERATION_TIMEOUT: what HcsWaitForOperationResult answers when its timeout
    /// passes (not HRESULT_FROM_WIN32(ERROR_TIMEOUT), 0x800705B4).
    pub const HCS_E_OPERATION_TIMEOUT: HResult = hr(0x8037_0118);
    /// E_NOTIMPL: what real HCS answers to HcsCancelOperation.
    pub const E_NOTIMPL: HResult = hr(0x8000_4001);
    /// HRESULT_FROM_WIN32(ERROR_NOT_FOUND): HCS's "element not found", which it returns for a
    /// process that has already exited (hcsshim's ErrElementNotFound).
    pub const ERROR_NOT_FOUND: HResult = hr(0x8007_0490);
    /// HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND): a *procedure* lookup failed. It does not mean
    /// "already stopped" (moby#42610, hcsshim#1064): HcsShutDownComputeSystem can return it on
    /// an internal failure, and treating it as stopped left containers running.
    pub const ERROR_PROC_NOT_FOUND: HResult = hr(0x8007_007F);
    pub const HCS_E_OPERATION_INVALID_STATE: HResult = hr(0x8037_0105);
    pub const HCS_E_INVALID_JSON: HResult = hr(0x8037_010D);
    pub const HCS_E_SYSTEM_NOT_FOUND: HResult = hr(0x8037_010E);
    pub const HCS_E_SYSTEM_ALREADY_EXISTS: HResult = hr(0x8037_010F);
    pub const HCS_E_SYSTEM_ALREADY_STOPPED: HResult = hr(0x8037_0110);
    /// The same condition in vmcompute's NTSTATUS-style spelling, which some builds return.
    pub const VMCOMPUTE_SYSTEM_ALREADY_STOPPED: HResult = hr(0xC037_0110);
    pub const HCS_E_PROCESS_ALREADY_STOPPED: HResult = hr(0x8037_011F);

    pub fn is_ok(self) -> bool {
        self.0 >= 0
    }

    /// Whether a shutdown/terminate/signal failed only because the target had already
    /// stopped. Exactly the codes that mean that; ERROR_PROC_NOT_FOUND is not one of them.
    pub fn is_already_stopped(self) -> bool {
        self == Self::HCS_E_SYSTEM_ALREADY_STOPPED
            || self == Self::VMCOMPUTE_SYSTEM_ALREADY_STOPPED
            || self == Self::HCS_E_PROCESS_ALREADY_STOPPED
            || self == Self::ERROR_NOT_FOUND
    }

    pub fn is_not_found(self) -> bool {
        self == Self::HCS_E_SYSTEM_NOT_FOUND || self == Self::ERROR_NOT_FOUND
    }

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::S_OK => "S_OK",
            Self::E_FAIL => "E_FAIL",
            Self::E_ABORT => "E_ABORT",
            Self::E_INVALIDARG => "E_INVALIDARG",
            Self::E_HANDLE => "invalid handle",
            Self::HCS_E_OPERATION_TIMEOUT => "operation timed out",
            Self::E_NOTIMPL => "not implemented",
            Self::ERROR_NOT_FOUND => "element not found",
            Self::ERROR_PROC_NOT_FOUND => "procedure not found",
            Self::HCS_E_OPERATION_INVALID_STATE => "operation not valid in the current state",
            Self::HCS_E_INVALID_JSON => "invalid JSON document",
            Self::HCS_E_SYSTEM_NOT_FOUND => "compute system not found",
            Self::HCS_E_SYSTEM_ALREADY_EXISTS => "compute system already exists",
            Self::HCS_E_SYSTEM_ALREADY_STOPPED | Self::VMCOMPUTE_SYSTEM_ALREADY_STOPPED => {
                "compute system already stopped"
            }
            Self::HCS_E_PROCESS_ALREADY_STOPPED => "process already stopped",
            _ => return None,
        })
    }
}

impl fmt::Display for HResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} (0x{:08X})", self.0 as u32),
            None => write!(f, "HRESULT 0x{:08X}", self.0 as u32),
        }
    }
}

impl fmt::Debug for HResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Everything the adapter can fail with; one variant per module below it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    NotAvailable(#[from] crate::ffi::LoadError),
    #[error(transparent)]
    Hcs(#[from] crate::api::HcsError),
    #[error(transparent)]
    Document(#[from] crate::document::DocumentError),
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{context}: {source}")]
    Json {
        context: &'static str,
        source: serde_json::Error,
    },
    /// A blocking HCS call's worker thread died (panicked or the runtime shut down).
    #[error("HCS worker failed: {0}")]
    Worker(String),
}

impl Error {
    /// The HRESULT behind the error, when HCS reported one.
    pub fn hresult(&self) -> Option<HResult> {
        match self {
            Error::Hcs(e) => e.hresult(),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_stopped_is_recognised_only_by_its_codes() {
        for code in [
            HResult::HCS_E_SYSTEM_ALREADY_STOPPED,
            HResult::VMCOMPUTE_SYSTEM_ALREADY_STOPPED,
            HResult::HCS_E_PROCESS_ALREADY_STOPPED,
            HResult::ERROR_NOT_FOUND,
        ] {
            assert!(code.is_already_stopped(), "{code}");
        }
        // moby#42610: "procedure not found" says nothing about the container's state.
        for code in [
            HResult::ERROR_PROC_NOT_FOUND,
            HResult(0x7F),
            HResult::E_FAIL,
            HResult::HCS_E_OPERATION_TIMEOUT,
            HResult::HCS_E_SYSTEM_NOT_FOUND,
            HResult::HCS_E_OPERATION_INVALID_STATE,
        ] {
            assert!(!code.is_already_stopped(), "{code}");
        }
    }

    #[test]
    fn hresults_display_in_hex_with_names() {
        assert_eq!(
            HResult::HCS_E_SYSTEM_ALREADY_STOPPED.to_string(),
            "compute system already stopped (0x80370110)"
        );
        assert_eq!(HResult(-1).to_string(), "HRESULT 0xFFFFFFFF");
    }
}
