//! Named-pipe security for the daemon's `npipe://` listeners: an SDDL string made into a
//! security descriptor (advapi32), account names looked up as SIDs (`--group`), and the pipe
//! instances created with it through tokio. The Win32 calls are unsafe; everything here is
//! exposed through safe owners ([`SecurityDescriptor`] frees what advapi32 allocated, once).
#![cfg(windows)]

use std::ffi::c_void;
use std::io;
use std::ptr::{self, NonNull};

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

use super::wide;

/// `SDDL_REVISION_1`.
const SDDL_REVISION_1: u32 = 1;
/// `ERROR_INSUFFICIENT_BUFFER`: the size query of LookupAccountNameW.
const ERROR_INSUFFICIENT_BUFFER: i32 = 122;

#[repr(C)]
struct SecurityAttributes {
    length: u32,
    security_descriptor: *mut c_void,
    inherit_handle: i32,
}

#[link(name = "advapi32")]
extern "system" {
    fn ConvertStringSecurityDescriptorToSecurityDescriptorW(
        sddl: *const u16,
        revision: u32,
        descriptor: *mut *mut c_void,
        size: *mut u32,
    ) -> i32;
    fn ConvertSecurityDescriptorToStringSecurityDescriptorW(
        descriptor: *const c_void,
        revision: u32,
        information: u32,
        sddl: *mut *mut u16,
        len: *mut u32,
    ) -> i32;
    fn LookupAccountNameW(
        system: *const u16,
        account: *const u16,
        sid: *mut c_void,
        sid_len: *mut u32,
        domain: *mut u16,
        domain_len: *mut u32,
        use_: *mut i32,
    ) -> i32;
    fn ConvertSidToStringSidW(sid: *const c_void, out: *mut *mut u16) -> i32;
}

#[link(name = "kernel32")]
extern "system" {
    fn LocalFree(mem: *mut c_void) -> *mut c_void;
    fn WaitNamedPipeW(name: *const u16, timeout_ms: u32) -> i32;
}

/// `ERROR_FILE_NOT_FOUND`: WaitNamedPipeW on a name nobody serves.
const ERROR_FILE_NOT_FOUND: i32 = 2;
/// `ERROR_SEM_TIMEOUT`: the pipe exists, every instance is busy.
const ERROR_SEM_TIMEOUT: i32 = 121;

/// Whether some process serves the pipe `name` (`\\.\pipe\NAME`), asked with
/// WaitNamedPipeW, which connects to nothing: the server sees no client.
pub fn pipe_exists(name: &str) -> io::Result<bool> {
    let w = wide(name);
    // SAFETY: `w` is NUL-terminated and outlives the call.
    if unsafe { WaitNamedPipeW(w.as_ptr(), 1) } != 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(ERROR_FILE_NOT_FOUND) => Ok(false),
        Some(ERROR_SEM_TIMEOUT) => Ok(true),
        _ => Err(e),
    }
}

/// A self-relative security descriptor allocated by advapi32 (LocalAlloc), freed on drop.
pub struct SecurityDescriptor(NonNull<c_void>);

// SAFETY: the descriptor is an immutable block of memory owned by this value; Win32 only
// reads it (CreateNamedPipeW copies it into the pipe's object).
unsafe impl Send for SecurityDescriptor {}
unsafe impl Sync for SecurityDescriptor {}

impl SecurityDescriptor {
    /// Parses `sddl` (e.g. `D:P(A;;GA;;;BA)(A;;GA;;;SY)`).
    pub fn from_sddl(sddl: &str) -> io::Result<Self> {
        let s = wide(sddl);
        let mut out: *mut c_void = ptr::null_mut();
        // SAFETY: `s` is NUL-terminated and outlives the call; `out` receives a LocalAlloc'd
        // block that this value owns from here on.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                s.as_ptr(),
                SDDL_REVISION_1,
                &mut out,
                ptr::null_mut(),
            )
        };
        if ok == 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("security descriptor {sddl:?}: {e}"),
            ));
        }
        NonNull::new(out)
            .map(Self)
            .ok_or_else(|| io::Error::other("advapi32 returned no security descriptor"))
    }

    /// The DACL part back as SDDL (what the pipe will enforce), for logs and tests.
    pub fn dacl_sddl(&self) -> io::Result<String> {
        /// `DACL_SECURITY_INFORMATION`.
        const DACL: u32 = 4;
        let mut out: *mut u16 = ptr::null_mut();
        // SAFETY: `self.0` is a valid descriptor; `out` receives a LocalAlloc'd string that
        // is copied and freed below.
        let ok = unsafe {
            ConvertSecurityDescriptorToStringSecurityDescriptorW(
                self.0.as_ptr(),
                SDDL_REVISION_1,
                DACL,
                &mut out,
                ptr::null_mut(),
            )
        };
        if ok == 0 || out.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(take_local_wstr(out))
    }

    /// Creates one instance of the pipe `name` (`\\.\pipe\NAME`) with `options`, guarded by
    /// this descriptor.
    pub fn create_pipe(&self, options: &ServerOptions, name: &str) -> io::Result<NamedPipeServer> {
        let mut attrs = SecurityAttributes {
            length: std::mem::size_of::<SecurityAttributes>() as u32,
            security_descriptor: self.0.as_ptr(),
            inherit_handle: 0,
        };
        // SAFETY: `attrs` is a SECURITY_ATTRIBUTES that lives across the call and points at a
        // valid descriptor; CreateNamedPipeW copies what it needs.
        unsafe {
            options.create_with_security_attributes_raw(
                name,
                (&mut attrs as *mut SecurityAttributes).cast(),
            )
        }
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by advapi32 with LocalAlloc, owned by this value, freed once.
        unsafe { LocalFree(self.0.as_ptr()) };
    }
}

/// The string SID of an account or group name (`LookupAccountNameW`), as go-winio's
/// `LookupSidByName`.
pub fn lookup_sid(account: &str) -> io::Result<String> {
    let name = wide(account);
    let mut sid_len = 0u32;
    let mut domain_len = 0u32;
    let mut use_ = 0i32;
    // SAFETY: a size query: null buffers with zero lengths, as documented.
    let ok = unsafe {
        LookupAccountNameW(
            ptr::null(),
            name.as_ptr(),
            ptr::null_mut(),
            &mut sid_len,
            ptr::null_mut(),
            &mut domain_len,
            &mut use_,
        )
    };
    let e = io::Error::last_os_error();
    if ok == 0 && e.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER) {
        return Err(io::Error::new(
            e.kind(),
            format!("looking up {account:?}: {e}"),
        ));
    }
    let mut sid = vec![0u8; sid_len.max(1) as usize];
    let mut domain = vec![0u16; domain_len.max(1) as usize];
    // SAFETY: the buffers have the sizes the first call asked for.
    let ok = unsafe {
        LookupAccountNameW(
            ptr::null(),
            name.as_ptr(),
            sid.as_mut_ptr().cast(),
            &mut sid_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut use_,
        )
    };
    if ok == 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("looking up {account:?}: {e}"),
        ));
    }
    let mut out: *mut u16 = ptr::null_mut();
    // SAFETY: `sid` holds the SID just written; `out` receives a LocalAlloc'd string.
    let ok = unsafe { ConvertSidToStringSidW(sid.as_ptr().cast(), &mut out) };
    if ok == 0 || out.is_null() {
        return Err(io::Error::last_os_error());
    }
    Ok(take_local_wstr(out))
}

/// Copies a LocalAlloc'd NUL-terminated UTF-16 string and frees it.
fn take_local_wstr(p: *mut u16) -> String {
    // SAFETY: `p` is a non-null NUL-terminated string allocated by advapi32.
    let s = unsafe { super::read_wstr(p) }.unwrap_or_default();
    // SAFETY: owned here, freed once.
    unsafe { LocalFree(p.cast()) };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_descriptor_round_trips() {
        let sd = SecurityDescriptor::from_sddl("D:P(A;;GA;;;BA)(A;;GA;;;SY)").unwrap();
        assert_eq!(sd.dacl_sddl().unwrap(), "D:P(A;;GA;;;BA)(A;;GA;;;SY)");
        assert!(SecurityDescriptor::from_sddl("D:P(bogus").is_err());
    }

    #[test]
    fn group_names_become_sids() {
        // BUILTIN\Administrators is the same well-known SID on every Windows.
        assert_eq!(lookup_sid("Administrators").unwrap(), "S-1-5-32-544");
        let err = lookup_sid("no-such-group-dockbridge").unwrap_err();
        assert!(
            err.to_string().contains("no-such-group-dockbridge"),
            "{err}"
        );
    }
}
