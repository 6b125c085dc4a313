//! Real processes for the simulator on Windows (`"exec": true` in the configuration): the
//! process's `CommandLine` goes to CreateProcessW verbatim, as HCS hands it to the
//! container's process, so the child's CRT parses exactly what the adapter sent. Its stdio
//! are the simulator's pipe ends. The only unsafe code besides `exports`.
#![cfg(windows)]
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::sync::Mutex;

type Handle = *mut c_void;

#[repr(C)]
struct StartupInfoW {
    cb: u32,
    reserved: *mut u16,
    desktop: *mut u16,
    title: *mut u16,
    x: u32,
    y: u32,
    x_size: u32,
    y_size: u32,
    x_count_chars: u32,
    y_count_chars: u32,
    fill_attribute: u32,
    flags: u32,
    show_window: u16,
    reserved2_len: u16,
    reserved2: *mut u8,
    std_input: Handle,
    std_output: Handle,
    std_error: Handle,
}

#[repr(C)]
struct ProcessInformation {
    process: Handle,
    thread: Handle,
    process_id: u32,
    thread_id: u32,
}

const STARTF_USESTDHANDLES: u32 = 0x100;
const DUPLICATE_SAME_ACCESS: u32 = 2;
const WAIT_OBJECT_0: u32 = 0;

#[link(name = "kernel32")]
extern "system" {
    fn CreateProcessW(
        application: *const u16,
        command_line: *mut u16,
        process_attributes: *const c_void,
        thread_attributes: *const c_void,
        inherit_handles: i32,
        flags: u32,
        environment: *const c_void,
        current_directory: *const u16,
        startup: *const StartupInfoW,
        info: *mut ProcessInformation,
    ) -> i32;
    fn DuplicateHandle(
        source_process: Handle,
        source: Handle,
        target_process: Handle,
        target: *mut Handle,
        access: u32,
        inherit: i32,
        options: u32,
    ) -> i32;
    fn GetCurrentProcess() -> Handle;
    fn WaitForSingleObject(h: Handle, ms: u32) -> u32;
    fn GetExitCodeProcess(h: Handle, code: *mut u32) -> i32;
    fn TerminateProcess(h: Handle, code: u32) -> i32;
}

/// Inheritable handles exist only between their duplication and CreateProcess: one spawn at
/// a time, so no other child inherits another's pipe ends (and keeps them open).
static SPAWN: Mutex<()> = Mutex::new(());

pub struct Child {
    process: OwnedHandle,
}

/// An inheritable duplicate of `h` (closed by the caller after CreateProcess).
fn inheritable(h: Option<&OwnedHandle>) -> io::Result<Option<OwnedHandle>> {
    let Some(h) = h else { return Ok(None) };
    let mut dup: Handle = ptr::null_mut();
    // SAFETY: `h` is a valid handle of this process; `dup` receives a new handle we own.
    let ok = unsafe {
        DuplicateHandle(
            GetCurrentProcess(),
            h.as_raw_handle(),
            GetCurrentProcess(),
            &mut dup,
            0,
            1,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: DuplicateHandle succeeded: `dup` is a handle nobody else owns.
    Ok(Some(unsafe { OwnedHandle::from_raw_handle(dup) }))
}

/// Starts `command_line` with the given stdio (the child's ends; `None`: no handle).
pub fn spawn(
    command_line: &str,
    stdin: Option<OwnedHandle>,
    stdout: Option<OwnedHandle>,
    stderr: Option<OwnedHandle>,
) -> io::Result<Child> {
    let _one = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
    let (i, o, e) = (
        inheritable(stdin.as_ref())?,
        inheritable(stdout.as_ref())?,
        inheritable(stderr.as_ref())?,
    );
    let raw = |h: &Option<OwnedHandle>| h.as_ref().map_or(ptr::null_mut(), |h| h.as_raw_handle());
    let startup = StartupInfoW {
        cb: std::mem::size_of::<StartupInfoW>() as u32,
        reserved: ptr::null_mut(),
        desktop: ptr::null_mut(),
        title: ptr::null_mut(),
        x: 0,
        y: 0,
        x_size: 0,
        y_size: 0,
        x_count_chars: 0,
        y_count_chars: 0,
        fill_attribute: 0,
        flags: STARTF_USESTDHANDLES,
        show_window: 0,
        reserved2_len: 0,
        reserved2: ptr::null_mut(),
        std_input: raw(&i),
        std_output: raw(&o),
        std_error: raw(&e),
    };
    // CreateProcessW may write into the command line buffer.
    let mut cmd: Vec<u16> = command_line.encode_utf16().chain(Some(0)).collect();
    let mut info = ProcessInformation {
        process: ptr::null_mut(),
        thread: ptr::null_mut(),
        process_id: 0,
        thread_id: 0,
    };
    // SAFETY: every pointer is valid for the call; the handles in `startup` are live and
    // inheritable; on success `info` holds two new handles that we take ownership of.
    let ok = unsafe {
        CreateProcessW(
            ptr::null(),
            cmd.as_mut_ptr(),
            ptr::null(),
            ptr::null(),
            1,
            0,
            ptr::null(),
            ptr::null(),
            &startup,
            &mut info,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: CreateProcessW returned these handles to us.
    let (process, _thread) = unsafe {
        (
            OwnedHandle::from_raw_handle(info.process),
            OwnedHandle::from_raw_handle(info.thread),
        )
    };
    Ok(Child { process })
}

impl Child {
    /// Waits up to `ms`; the exit code once the process has exited.
    pub fn wait_timeout(&self, ms: u32) -> Option<u32> {
        // SAFETY: a live process handle we own.
        if unsafe { WaitForSingleObject(self.process.as_raw_handle(), ms) } != WAIT_OBJECT_0 {
            return None;
        }
        let mut code = 0u32;
        // SAFETY: as above; `code` is a valid out-pointer.
        let ok = unsafe { GetExitCodeProcess(self.process.as_raw_handle(), &mut code) };
        Some(if ok == 0 { u32::MAX } else { code })
    }

    pub fn terminate(&self, code: u32) {
        // SAFETY: a live process handle we own.
        unsafe { TerminateProcess(self.process.as_raw_handle(), code) };
    }
}
