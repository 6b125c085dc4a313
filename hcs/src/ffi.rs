//! The crate's only unsafe code: computecore.dll's functions, loaded at run time.
//!
//! Loading at run time (libloading) lets the same code build on every platform: where the
//! library is missing, [`Library::load`] reports "HCS not available". The adapter's tests load
//! the HCS simulator (`hcs-sim`) through this very path.
//!
//! ABI (the same on every platform, so the simulator can export it anywhere): `extern
//! "system"` functions, strings as NUL-terminated UTF-16 (`PCWSTR`), handles as pointers,
//! HRESULT (`i32`) results.
//!
//! Freeing returned documents: computecore.dll allocates them with LocalAlloc and the caller
//! frees them with kernel32's `LocalFree`. The free function is resolved *from the loaded
//! library first*: computecore.dll exports no `LocalFree`, so on Windows this falls back to
//! kernel32.dll, while a stand-in library (the simulator) exports its own and so gets its own
//! allocations back. Off Windows a library without `LocalFree` is not usable.
//!
//! Soundness: handles are move-only tokens ([`OperationHandle`], [`SystemHandle`],
//! [`ProcessHandle`]) that only this module creates, from a successful call, and that the
//! close functions consume; a safe caller cannot use a handle after closing it or close it
//! twice. Stdio handles become owned [`File`]s the moment HCS returns them.
#![allow(unsafe_code)]

pub mod network;
pub mod pipe_security;
pub mod storage;

use std::ffi::c_void;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};

use crate::error::HResult;

type RawHandle = *mut c_void;
type Pcwstr = *const u16;

#[repr(C)]
struct HcsEvent {
    event_type: u32,
    event_data: *const u16,
}

#[repr(C)]
struct HcsProcessInformation {
    process_id: u32,
    reserved: u32,
    std_input: RawHandle,
    std_output: RawHandle,
    std_error: RawHandle,
}

type EventCallback = unsafe extern "system" fn(event: *const HcsEvent, context: *mut c_void);
type OperationCallback = unsafe extern "system" fn(operation: RawHandle, context: *mut c_void);
type HandleOptionsFn = unsafe extern "system" fn(RawHandle, RawHandle, Pcwstr) -> i32;
type SetCallbackFn =
    unsafe extern "system" fn(RawHandle, u32, *mut c_void, Option<EventCallback>) -> i32;
type CloseFn = unsafe extern "system" fn(RawHandle);

/// Why the HCS library cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("HCS not available: cannot load {path}: {source}")]
    Open {
        path: PathBuf,
        source: libloading::Error,
    },
    #[error("HCS not available: {path} has no {symbol}: {source}")]
    Symbol {
        path: PathBuf,
        symbol: &'static str,
        source: libloading::Error,
    },
    #[error("HCS not available: {0}")]
    Unsupported(String),
}

/// The default library: Windows finds computecore.dll in System32.
pub const DEFAULT_LIBRARY: &str = "computecore.dll";

struct Fns {
    create_operation:
        unsafe extern "system" fn(*mut c_void, Option<OperationCallback>) -> RawHandle,
    close_operation: CloseFn,
    wait_for_operation_result: unsafe extern "system" fn(RawHandle, u32, *mut *mut u16) -> i32,
    wait_for_operation_result_and_process_info:
        unsafe extern "system" fn(RawHandle, u32, *mut HcsProcessInformation, *mut *mut u16) -> i32,
    create_compute_system:
        unsafe extern "system" fn(Pcwstr, Pcwstr, RawHandle, *const c_void, *mut RawHandle) -> i32,
    start_compute_system: HandleOptionsFn,
    shut_down_compute_system: HandleOptionsFn,
    terminate_compute_system: HandleOptionsFn,
    pause_compute_system: HandleOptionsFn,
    resume_compute_system: HandleOptionsFn,
    get_compute_system_properties: HandleOptionsFn,
    set_compute_system_callback: SetCallbackFn,
    close_compute_system: CloseFn,
    create_process: unsafe extern "system" fn(
        RawHandle,
        Pcwstr,
        RawHandle,
        *const c_void,
        *mut RawHandle,
    ) -> i32,
    get_process_info: unsafe extern "system" fn(RawHandle, RawHandle) -> i32,
    get_process_properties: HandleOptionsFn,
    signal_process: HandleOptionsFn,
    terminate_process: HandleOptionsFn,
    modify_process: HandleOptionsFn,
    set_process_callback: SetCallbackFn,
    close_process: CloseFn,
    local_free: unsafe extern "system" fn(*mut c_void) -> *mut c_void,
}

/// computecore.dll (or a stand-in with the same exports), loaded.
pub struct Library {
    fns: Fns,
    path: PathBuf,
    // The function pointers above point into these: they are dropped (unloaded) last, with
    // the struct, and never while a `Library` is reachable.
    _lib: libloading::Library,
    _free_lib: Option<libloading::Library>,
}

/// Copies a function pointer out of `lib`.
///
/// # Safety
/// `T` must be the symbol's true signature, and the pointer must not outlive `lib`.
unsafe fn sym<T: Copy>(
    lib: &libloading::Library,
    path: &Path,
    name: &'static str,
) -> Result<T, LoadError> {
    // SAFETY: forwarded contract.
    unsafe { lib.get::<T>(name) }
        .map(|s| *s)
        .map_err(|source| LoadError::Symbol {
            path: path.to_path_buf(),
            symbol: name,
            source,
        })
}

impl Library {
    pub fn load(path: &Path) -> Result<Library, LoadError> {
        // SAFETY: loading runs the library's initialisers; computecore.dll and the simulator
        // have no initialisers with preconditions.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY (all `sym` calls): the types are computecore.dll's documented signatures
        // (see hcsshim internal/computecore), and the pointers live in `Library` with `lib`.
        let (local_free, free_lib) = match unsafe { sym(&lib, path, "LocalFree") } {
            Ok(f) => (f, None),
            Err(e) => Self::kernel32_local_free(e)?,
        };
        let fns = unsafe {
            Fns {
                create_operation: sym(&lib, path, "HcsCreateOperation")?,
                close_operation: sym(&lib, path, "HcsCloseOperation")?,
                wait_for_operation_result: sym(&lib, path, "HcsWaitForOperationResult")?,
                wait_for_operation_result_and_process_info: sym(
                    &lib,
                    path,
                    "HcsWaitForOperationResultAndProcessInfo",
                )?,
                create_compute_system: sym(&lib, path, "HcsCreateComputeSystem")?,
                start_compute_system: sym(&lib, path, "HcsStartComputeSystem")?,
                shut_down_compute_system: sym(&lib, path, "HcsShutDownComputeSystem")?,
                terminate_compute_system: sym(&lib, path, "HcsTerminateComputeSystem")?,
                pause_compute_system: sym(&lib, path, "HcsPauseComputeSystem")?,
                resume_compute_system: sym(&lib, path, "HcsResumeComputeSystem")?,
                get_compute_system_properties: sym(&lib, path, "HcsGetComputeSystemProperties")?,
                set_compute_system_callback: sym(&lib, path, "HcsSetComputeSystemCallback")?,
                close_compute_system: sym(&lib, path, "HcsCloseComputeSystem")?,
                create_process: sym(&lib, path, "HcsCreateProcess")?,
                get_process_info: sym(&lib, path, "HcsGetProcessInfo")?,
                get_process_properties: sym(&lib, path, "HcsGetProcessProperties")?,
                signal_process: sym(&lib, path, "HcsSignalProcess")?,
                terminate_process: sym(&lib, path, "HcsTerminateProcess")?,
                modify_process: sym(&lib, path, "HcsModifyProcess")?,
                set_process_callback: sym(&lib, path, "HcsSetProcessCallback")?,
                close_process: sym(&lib, path, "HcsCloseProcess")?,
                local_free,
            }
        };
        Ok(Library {
            fns,
            path: path.to_path_buf(),
            _lib: lib,
            _free_lib: free_lib,
        })
    }

    #[cfg(windows)]
    #[allow(clippy::type_complexity)]
    fn kernel32_local_free(
        _missing: LoadError,
    ) -> Result<
        (
            unsafe extern "system" fn(*mut c_void) -> *mut c_void,
            Option<libloading::Library>,
        ),
        LoadError,
    > {
        let path = Path::new("kernel32.dll");
        // SAFETY: kernel32.dll is always loaded in a Windows process.
        let k32 = unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: LocalFree's signature; the pointer lives with `k32` in `Library`.
        let f = unsafe { sym(&k32, path, "LocalFree")? };
        Ok((f, Some(k32)))
    }

    #[cfg(not(windows))]
    #[allow(clippy::type_complexity)]
    fn kernel32_local_free(
        missing: LoadError,
    ) -> Result<
        (
            unsafe extern "system" fn(*mut c_void) -> *mut c_void,
            Option<libloading::Library>,
        ),
        LoadError,
    > {
        Err(missing)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes a document HCS returned: copies it and frees the original exactly once.
    fn take_document(&self, p: *mut u16) -> Option<String> {
        if p.is_null() {
            return None;
        }
        // SAFETY: HCS returned `p` as a NUL-terminated UTF-16 string that is ours to free.
        let s = unsafe { read_wstr(p) };
        // SAFETY: `p` came from this library's allocator and is freed only here.
        unsafe { (self.fns.local_free)(p.cast()) };
        s
    }

    // ----- operations -----

    pub fn create_operation(&self) -> Option<OperationHandle> {
        // SAFETY: no context, no callback: the operation is waited on synchronously.
        let h = unsafe { (self.fns.create_operation)(ptr::null_mut(), None) };
        NonNull::new(h).map(OperationHandle)
    }

    pub fn close_operation(&self, op: OperationHandle) {
        // SAFETY: `op` is a live operation handle; consuming it prevents reuse.
        unsafe { (self.fns.close_operation)(op.0.as_ptr()) }
    }

    pub fn wait_operation(
        &self,
        op: &OperationHandle,
        timeout_ms: u32,
    ) -> (HResult, Option<String>) {
        let mut doc: *mut u16 = ptr::null_mut();
        // SAFETY: `op` is live; `doc` is a valid out-pointer.
        let hr =
            unsafe { (self.fns.wait_for_operation_result)(op.0.as_ptr(), timeout_ms, &mut doc) };
        (HResult(hr), self.take_document(doc))
    }

    /// Waits for a process-creating operation; the stdio handles become owned files even when
    /// the result is a failure, so none can leak.
    pub fn wait_operation_process_info(
        &self,
        op: &OperationHandle,
        timeout_ms: u32,
    ) -> (HResult, Option<String>, RawProcessInfo) {
        let mut info = HcsProcessInformation {
            process_id: 0,
            reserved: 0,
            std_input: ptr::null_mut(),
            std_output: ptr::null_mut(),
            std_error: ptr::null_mut(),
        };
        let mut doc: *mut u16 = ptr::null_mut();
        // SAFETY: `op` is live; `info` and `doc` are valid out-pointers.
        let hr = unsafe {
            (self.fns.wait_for_operation_result_and_process_info)(
                op.0.as_ptr(),
                timeout_ms,
                &mut info,
                &mut doc,
            )
        };
        let raw = RawProcessInfo {
            pid: info.process_id,
            // SAFETY: HCS hands the caller ownership of the stdio handles it returns.
            stdin: unsafe { own_stdio(info.std_input) },
            stdout: unsafe { own_stdio(info.std_output) },
            stderr: unsafe { own_stdio(info.std_error) },
        };
        (HResult(hr), self.take_document(doc), raw)
    }

    // ----- compute systems -----

    pub fn create_compute_system(
        &self,
        id: &str,
        configuration: &str,
        op: &OperationHandle,
    ) -> (HResult, Option<SystemHandle>) {
        let id = wide(id);
        let configuration = wide(configuration);
        let mut out: RawHandle = ptr::null_mut();
        // SAFETY: NUL-terminated strings that outlive the call; `op` is live; no security
        // descriptor; `out` is a valid out-pointer.
        let hr = unsafe {
            (self.fns.create_compute_system)(
                id.as_ptr(),
                configuration.as_ptr(),
                op.0.as_ptr(),
                ptr::null(),
                &mut out,
            )
        };
        (HResult(hr), NonNull::new(out).map(SystemHandle))
    }

    pub fn system_call(
        &self,
        call: SystemCall,
        system: &SystemHandle,
        op: &OperationHandle,
        options: Option<&str>,
    ) -> HResult {
        let f = match call {
            SystemCall::Start => self.fns.start_compute_system,
            SystemCall::ShutDown => self.fns.shut_down_compute_system,
            SystemCall::Terminate => self.fns.terminate_compute_system,
            SystemCall::Pause => self.fns.pause_compute_system,
            SystemCall::Resume => self.fns.resume_compute_system,
            SystemCall::GetProperties => self.fns.get_compute_system_properties,
        };
        let options = options.map(wide);
        let options_ptr = options.as_ref().map_or(ptr::null(), |o| o.as_ptr());
        // SAFETY: live handles; options NULL or NUL-terminated and outliving the call.
        HResult(unsafe { f(system.0.as_ptr(), op.0.as_ptr(), options_ptr) })
    }

    /// Routes the system's events to `crate::callbacks` under `context`.
    pub fn set_system_callback(&self, system: &SystemHandle, context: usize) -> HResult {
        // SAFETY: live handle; the trampoline is valid for the program's lifetime and treats
        // the context as a plain number.
        HResult(unsafe {
            (self.fns.set_compute_system_callback)(
                system.0.as_ptr(),
                0,
                context as *mut c_void,
                Some(event_trampoline),
            )
        })
    }

    pub fn close_compute_system(&self, system: SystemHandle) {
        // SAFETY: live handle, consumed.
        unsafe { (self.fns.close_compute_system)(system.0.as_ptr()) }
    }

    // ----- processes -----

    pub fn create_process(
        &self,
        system: &SystemHandle,
        parameters: &str,
        op: &OperationHandle,
    ) -> (HResult, Option<ProcessHandle>) {
        let parameters = wide(parameters);
        let mut out: RawHandle = ptr::null_mut();
        // SAFETY: live handles; NUL-terminated parameters; valid out-pointer.
        let hr = unsafe {
            (self.fns.create_process)(
                system.0.as_ptr(),
                parameters.as_ptr(),
                op.0.as_ptr(),
                ptr::null(),
                &mut out,
            )
        };
        (HResult(hr), NonNull::new(out).map(ProcessHandle))
    }

    pub fn process_call(
        &self,
        call: ProcessCall,
        process: &ProcessHandle,
        op: &OperationHandle,
        options: Option<&str>,
    ) -> HResult {
        let f = match call {
            ProcessCall::Signal => self.fns.signal_process,
            ProcessCall::Terminate => self.fns.terminate_process,
            ProcessCall::GetProperties => self.fns.get_process_properties,
            ProcessCall::Modify => self.fns.modify_process,
        };
        let options = options.map(wide);
        let options_ptr = options.as_ref().map_or(ptr::null(), |o| o.as_ptr());
        // SAFETY: live handles; options NULL or NUL-terminated and outliving the call.
        HResult(unsafe { f(process.0.as_ptr(), op.0.as_ptr(), options_ptr) })
    }

    pub fn get_process_info(&self, process: &ProcessHandle, op: &OperationHandle) -> HResult {
        // SAFETY: live handles.
        HResult(unsafe { (self.fns.get_process_info)(process.0.as_ptr(), op.0.as_ptr()) })
    }

    /// Routes the process's events to `crate::callbacks` under `context`.
    pub fn set_process_callback(&self, process: &ProcessHandle, context: usize) -> HResult {
        // SAFETY: as `set_system_callback`.
        HResult(unsafe {
            (self.fns.set_process_callback)(
                process.0.as_ptr(),
                0,
                context as *mut c_void,
                Some(event_trampoline),
            )
        })
    }

    pub fn close_process(&self, process: ProcessHandle) {
        // SAFETY: live handle, consumed.
        unsafe { (self.fns.close_process)(process.0.as_ptr()) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemCall {
    Start,
    ShutDown,
    Terminate,
    Pause,
    Resume,
    GetProperties,
}

impl SystemCall {
    pub fn name(self) -> &'static str {
        match self {
            SystemCall::Start => "HcsStartComputeSystem",
            SystemCall::ShutDown => "HcsShutDownComputeSystem",
            SystemCall::Terminate => "HcsTerminateComputeSystem",
            SystemCall::Pause => "HcsPauseComputeSystem",
            SystemCall::Resume => "HcsResumeComputeSystem",
            SystemCall::GetProperties => "HcsGetComputeSystemProperties",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessCall {
    Signal,
    Terminate,
    GetProperties,
    Modify,
}

impl ProcessCall {
    pub fn name(self) -> &'static str {
        match self {
            ProcessCall::Signal => "HcsSignalProcess",
            ProcessCall::Terminate => "HcsTerminateProcess",
            ProcessCall::GetProperties => "HcsGetProcessProperties",
            ProcessCall::Modify => "HcsModifyProcess",
        }
    }
}

/// A live HCS_OPERATION. Move-only; consumed by [`Library::close_operation`].
#[derive(Debug)]
pub struct OperationHandle(NonNull<c_void>);
/// A live HCS_SYSTEM. Move-only; consumed by [`Library::close_compute_system`].
#[derive(Debug)]
pub struct SystemHandle(NonNull<c_void>);
/// A live HCS_PROCESS. Move-only; consumed by [`Library::close_process`].
#[derive(Debug)]
pub struct ProcessHandle(NonNull<c_void>);

// SAFETY: HCS handles are not tied to the thread that opened them; computecore.dll
// serialises concurrent calls on one handle itself.
unsafe impl Send for OperationHandle {}
unsafe impl Sync for OperationHandle {}
unsafe impl Send for SystemHandle {}
unsafe impl Sync for SystemHandle {}
unsafe impl Send for ProcessHandle {}
unsafe impl Sync for ProcessHandle {}

/// A new process's id and its stdio, already owned.
#[derive(Debug, Default)]
pub struct RawProcessInfo {
    pub pid: u32,
    pub stdin: Option<File>,
    pub stdout: Option<File>,
    pub stderr: Option<File>,
}

/// Takes ownership of a stdio handle HCS returned. This is the adapter's one
/// platform-specific conversion: a HANDLE on Windows; elsewhere (the simulator) the HANDLE
/// value is a file descriptor.
///
/// # Safety
/// `h` is NULL or a handle the caller owns and nothing else will close.
#[cfg(unix)]
unsafe fn own_stdio(h: RawHandle) -> Option<File> {
    use std::os::fd::FromRawFd;
    let fd = i32::try_from(h as usize).ok().filter(|fd| *fd > 0)?;
    // SAFETY: forwarded contract.
    Some(unsafe { File::from_raw_fd(fd) })
}

/// # Safety
/// As the Unix version.
#[cfg(windows)]
unsafe fn own_stdio(h: RawHandle) -> Option<File> {
    use std::os::windows::io::FromRawHandle;
    // INVALID_HANDLE_VALUE is -1.
    if h.is_null() || h as isize == -1 {
        return None;
    }
    // SAFETY: forwarded contract.
    Some(unsafe { File::from_raw_handle(h) })
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// # Safety
/// `p` is NULL or a NUL-terminated UTF-16 string.
unsafe fn read_wstr(p: *const u16) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let mut len = 0;
    // SAFETY: reads up to and including the terminating NUL only.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    Some(String::from_utf16_lossy(unsafe {
        std::slice::from_raw_parts(p, len)
    }))
}

/// The one callback registered with HCS: copies the event out and hands it to
/// `crate::callbacks`, which owns the routing. The context is a registration number, never a
/// pointer, so a late event for a closed handle finds nothing instead of freed memory.
unsafe extern "system" fn event_trampoline(event: *const HcsEvent, context: *mut c_void) {
    if event.is_null() {
        return;
    }
    // SAFETY: HCS passes a valid HCS_EVENT for the duration of the call.
    let (event_type, data) = unsafe { ((*event).event_type, read_wstr((*event).event_data)) };
    crate::callbacks::dispatch(context as usize, event_type, data);
}

/// The simulator's test controls, loaded from the same library file. Only the tests use
/// this, but its unsafe code belongs here with the rest.
pub struct SimControl {
    configure: unsafe extern "system" fn(*const u8, usize) -> i32,
    reset: unsafe extern "system" fn(),
    open_handles: unsafe extern "system" fn() -> u32,
    report: unsafe extern "system" fn(*mut u8, usize) -> usize,
    _lib: libloading::Library,
}

impl SimControl {
    pub fn load(path: &Path) -> Result<SimControl, LoadError> {
        // SAFETY: as in `Library::load`.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: the simulator's exported signatures (hcs-sim src/exports.rs).
        unsafe {
            Ok(SimControl {
                configure: sym(&lib, path, "HcsSimConfigure")?,
                reset: sym(&lib, path, "HcsSimReset")?,
                open_handles: sym(&lib, path, "HcsSimOpenHandles")?,
                report: sym(&lib, path, "HcsSimReport")?,
                _lib: lib,
            })
        }
    }

    /// Installs a script and fault plan; `false` when the simulator rejects the JSON.
    pub fn configure(&self, json: &str) -> bool {
        // SAFETY: pointer and length of a live byte slice.
        unsafe { (self.configure)(json.as_ptr(), json.len()) == 0 }
    }

    pub fn reset(&self) {
        // SAFETY: no arguments.
        unsafe { (self.reset)() }
    }

    pub fn open_handles(&self) -> u32 {
        // SAFETY: no arguments.
        unsafe { (self.open_handles)() }
    }

    pub fn report(&self) -> String {
        loop {
            // SAFETY: NULL buffer asks for the length only.
            let len = unsafe { (self.report)(ptr::null_mut(), 0) };
            let mut buf = vec![0u8; len];
            // SAFETY: `buf` holds `len` writable bytes.
            let got = unsafe { (self.report)(buf.as_mut_ptr(), buf.len()) };
            // The report can grow between the two calls; ask again if it did.
            if got <= len {
                buf.truncate(got);
                return String::from_utf8_lossy(&buf).into_owned();
            }
        }
    }
}
