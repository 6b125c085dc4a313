//! The one platform-specific corner: how a pipe end becomes a HANDLE value and back.
//!
//! On Windows a stdio handle is a real HANDLE. Elsewhere the simulator hands out the raw file
//! descriptor as the HANDLE value, which the adapter's ffi module turns back into a file.

#[cfg(unix)]
pub type OwnedRaw = std::os::fd::OwnedFd;
#[cfg(windows)]
pub type OwnedRaw = std::os::windows::io::OwnedHandle;

/// Gives up ownership: from here on the caller must close it.
#[cfg(unix)]
pub fn into_raw(end: OwnedRaw) -> usize {
    use std::os::fd::IntoRawFd;
    // fds are non-negative, so the cast round-trips through the pointer-sized HANDLE.
    end.into_raw_fd() as usize
}

#[cfg(windows)]
pub fn into_raw(end: OwnedRaw) -> usize {
    use std::os::windows::io::IntoRawHandle;
    end.into_raw_handle() as usize
}

/// Identifies the object behind a handed-out descriptor, to tell later whether the caller
/// still holds it (the number alone could be reused by an unrelated file).
#[cfg(target_os = "linux")]
pub fn describe(raw: usize) -> String {
    std::fs::read_link(format!("/proc/self/fd/{raw}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(not(target_os = "linux"))]
pub fn describe(_raw: usize) -> String {
    String::new()
}

/// Whether the caller still holds a handed-out stdio handle. Only Linux can tell (through
/// /proc); elsewhere stdio handles are not counted.
#[cfg(target_os = "linux")]
pub fn still_open(raw: usize, link: &str) -> bool {
    !link.is_empty() && describe(raw) == link
}

#[cfg(not(target_os = "linux"))]
pub fn still_open(_raw: usize, _link: &str) -> bool {
    false
}
