//! The C ABI: computecore.dll's functions with computecore.dll's signatures, plus the test
//! controls. This is the simulator's only unsafe code: it turns raw pointers from the caller
//! into Rust values and back, and calls the caller's event callbacks.
//!
//! ABI, identical on every platform (so the adapter has one binding): `extern "system"`,
//! strings are NUL-terminated UTF-16 (`PCWSTR`), handles are pointers, results are HRESULTs,
//! returned documents are freed by the caller with this library's `LocalFree`.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr;

use crate::model::{
    sim, Callback, Config, EventCallback, HcsEvent, HcsProcessInformation, Hresult, WaitOutcome,
    E_INVALIDARG, E_TIMEOUT, S_OK,
};

type Handle = *mut c_void;

/// Reads a NUL-terminated UTF-16 string; `None` for NULL.
///
/// # Safety
/// `p` is NULL or points at a NUL-terminated UTF-16 string.
pub(crate) unsafe fn wstr(p: *const u16) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let mut len = 0;
    // SAFETY: the caller promises a terminating NUL, so every read up to it is in bounds.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    let units = unsafe { std::slice::from_raw_parts(p, len) };
    Some(String::from_utf16_lossy(units))
}

/// Stores a document for the caller (or nothing when it passed no out-pointer).
///
/// # Safety
/// `out` is NULL or valid for one pointer write.
pub(crate) unsafe fn put_doc(out: *mut *mut u16, doc: Option<String>) {
    if out.is_null() {
        return;
    }
    let p = match doc {
        Some(d) => sim().alloc_document(&d),
        None => ptr::null_mut(),
    };
    // SAFETY: non-NULL out-pointer per the contract.
    unsafe { *out = p };
}

/// # Safety
/// `out` is NULL or valid for one pointer write.
unsafe fn put_handle(out: *mut Handle, value: usize) {
    if !out.is_null() {
        // SAFETY: non-NULL out-pointer per the contract.
        unsafe { *out = value as Handle };
    }
}

fn callback(func: Option<EventCallback>, context: *mut c_void) -> Option<Callback> {
    func.map(|func| Callback {
        func,
        context: context as usize,
    })
}

/// Calls a registered event callback; the event and its data live for the call only.
pub(crate) fn deliver(cb: Callback, event_type: u32, data: &str) {
    let mut w: Vec<u16> = data.encode_utf16().collect();
    w.push(0);
    let event = HcsEvent {
        event_type,
        event_data: w.as_ptr(),
    };
    // SAFETY: the callback and its context were registered by the caller for exactly this
    // use, with the HCS_EVENT_CALLBACK signature; `event` outlives the call.
    unsafe { (cb.func)(&event, cb.context as *mut c_void) };
}

// ----- operations -----

/// # Safety
/// Callable with any arguments (the context and callback are ignored).
#[no_mangle]
pub unsafe extern "system" fn HcsCreateOperation(
    _context: *mut c_void,
    _callback: *mut c_void,
) -> Handle {
    sim().create_operation() as Handle
}

/// # Safety
/// Callable with any handle value.
#[no_mangle]
pub unsafe extern "system" fn HcsCloseOperation(operation: Handle) {
    let mut s = sim();
    s.close_operation(operation as usize);
    s.publish_report();
}

/// # Safety
/// Callable with any handle value.
#[no_mangle]
pub unsafe extern "system" fn HcsCancelOperation(operation: Handle) -> Hresult {
    sim().cancel_operation(operation as usize)
}

fn wait(function: &str, operation: Handle, timeout_ms: u32, want_info: bool) -> WaitOutcome {
    let outcome = sim().wait_operation(function, operation as usize, want_info);
    if let WaitOutcome::Hang = outcome {
        // Never holds the lock while "waiting", so cancel and close stay possible.
        std::thread::sleep(std::time::Duration::from_millis(u64::from(
            timeout_ms.min(10_000),
        )));
    }
    outcome
}

/// # Safety
/// `result_document` is NULL or valid for one pointer write.
#[no_mangle]
pub unsafe extern "system" fn HcsWaitForOperationResult(
    operation: Handle,
    timeout_ms: u32,
    result_document: *mut *mut u16,
) -> Hresult {
    match wait("HcsWaitForOperationResult", operation, timeout_ms, false) {
        WaitOutcome::Hang => {
            // SAFETY: forwarded contract.
            unsafe { put_doc(result_document, None) };
            E_TIMEOUT
        }
        WaitOutcome::Done { hr, doc, .. } => {
            // SAFETY: forwarded contract.
            unsafe { put_doc(result_document, doc) };
            hr
        }
    }
}

/// # Safety
/// `process_information` is NULL or valid for one write; `result_document` likewise.
#[no_mangle]
pub unsafe extern "system" fn HcsWaitForOperationResultAndProcessInfo(
    operation: Handle,
    timeout_ms: u32,
    process_information: *mut HcsProcessInformation,
    result_document: *mut *mut u16,
) -> Hresult {
    let want_info = !process_information.is_null();
    match wait(
        "HcsWaitForOperationResultAndProcessInfo",
        operation,
        timeout_ms,
        want_info,
    ) {
        WaitOutcome::Hang => {
            // SAFETY: forwarded contract.
            unsafe { put_doc(result_document, None) };
            E_TIMEOUT
        }
        WaitOutcome::Done { hr, doc, info } => {
            if let (Some((pid, [i, o, e])), true) = (info, want_info) {
                // SAFETY: non-NULL per the check above, valid per the contract.
                unsafe {
                    *process_information = HcsProcessInformation {
                        process_id: pid,
                        reserved: 0,
                        std_input: i as Handle,
                        std_output: o as Handle,
                        std_error: e as Handle,
                    }
                };
            }
            // SAFETY: forwarded contract.
            unsafe { put_doc(result_document, doc) };
            hr
        }
    }
}

// ----- compute systems -----

/// # Safety
/// `id` and `configuration` are NULL or NUL-terminated UTF-16; `compute_system` is NULL or
/// valid for one write.
#[no_mangle]
pub unsafe extern "system" fn HcsCreateComputeSystem(
    id: *const u16,
    configuration: *const u16,
    operation: Handle,
    _security_descriptor: *const c_void,
    compute_system: *mut Handle,
) -> Hresult {
    // SAFETY: forwarded contract.
    let (id, configuration) = unsafe { (wstr(id), wstr(configuration)) };
    let mut s = sim();
    let created = s.create_compute_system(id, configuration, operation as usize);
    // The report follows opens too: a daemon that dies without closing leaves it showing
    // what stayed open.
    s.publish_report();
    drop(s);
    match created {
        Ok(h) => {
            // SAFETY: forwarded contract.
            unsafe { put_handle(compute_system, h) };
            S_OK
        }
        Err(hr) => hr,
    }
}

macro_rules! system_call {
    ($name:ident) => {
        /// # Safety
        /// `options` is NULL or a NUL-terminated UTF-16 string.
        #[no_mangle]
        pub unsafe extern "system" fn $name(
            compute_system: Handle,
            operation: Handle,
            options: *const u16,
        ) -> Hresult {
            // SAFETY: forwarded contract.
            let options = unsafe { wstr(options) };
            sim().system_op(
                stringify!($name),
                compute_system as usize,
                operation as usize,
                options,
            )
        }
    };
}

system_call!(HcsStartComputeSystem);
system_call!(HcsShutDownComputeSystem);
system_call!(HcsTerminateComputeSystem);
system_call!(HcsPauseComputeSystem);
system_call!(HcsResumeComputeSystem);
system_call!(HcsGetComputeSystemProperties);

/// # Safety
/// `callback` is NULL or an HCS_EVENT_CALLBACK that stays callable until unregistered or the
/// handle is closed.
#[no_mangle]
pub unsafe extern "system" fn HcsSetComputeSystemCallback(
    compute_system: Handle,
    _callback_options: u32,
    context: *mut c_void,
    callback: Option<EventCallback>,
) -> Hresult {
    sim().set_system_callback(compute_system as usize, self::callback(callback, context))
}

/// # Safety
/// Callable with any handle value.
#[no_mangle]
pub unsafe extern "system" fn HcsCloseComputeSystem(compute_system: Handle) {
    let mut s = sim();
    s.close_compute_system(compute_system as usize);
    s.publish_report();
}

// ----- processes -----

/// # Safety
/// `process_parameters` is NULL or NUL-terminated UTF-16; `process` is NULL or valid for one
/// write.
#[no_mangle]
pub unsafe extern "system" fn HcsCreateProcess(
    compute_system: Handle,
    process_parameters: *const u16,
    operation: Handle,
    _security_descriptor: *const c_void,
    process: *mut Handle,
) -> Hresult {
    // SAFETY: forwarded contract.
    let params = unsafe { wstr(process_parameters) };
    let mut s = sim();
    let created = s.create_process(compute_system as usize, params, operation as usize);
    s.publish_report();
    drop(s);
    match created {
        Ok(h) => {
            // SAFETY: forwarded contract.
            unsafe { put_handle(process, h) };
            S_OK
        }
        Err(hr) => hr,
    }
}

macro_rules! process_call {
    ($name:ident) => {
        /// # Safety
        /// `options` is NULL or a NUL-terminated UTF-16 string.
        #[no_mangle]
        pub unsafe extern "system" fn $name(
            process: Handle,
            operation: Handle,
            options: *const u16,
        ) -> Hresult {
            // SAFETY: forwarded contract.
            let options = unsafe { wstr(options) };
            sim().process_op(
                stringify!($name),
                process as usize,
                operation as usize,
                options,
            )
        }
    };
}

process_call!(HcsSignalProcess);
process_call!(HcsTerminateProcess);
process_call!(HcsGetProcessProperties);
process_call!(HcsModifyProcess);

/// # Safety
/// Callable with any handle values.
#[no_mangle]
pub unsafe extern "system" fn HcsGetProcessInfo(process: Handle, operation: Handle) -> Hresult {
    sim().process_op(
        "HcsGetProcessInfo",
        process as usize,
        operation as usize,
        None,
    )
}

/// # Safety
/// As [`HcsSetComputeSystemCallback`].
#[no_mangle]
pub unsafe extern "system" fn HcsSetProcessCallback(
    process: Handle,
    _callback_options: u32,
    context: *mut c_void,
    callback: Option<EventCallback>,
) -> Hresult {
    sim().set_process_callback(process as usize, self::callback(callback, context))
}

/// # Safety
/// Callable with any handle value.
#[no_mangle]
pub unsafe extern "system" fn HcsCloseProcess(process: Handle) {
    let mut s = sim();
    s.close_process(process as usize);
    s.publish_report();
}

/// Frees a document this library returned; like kernel32's, returns NULL on success and the
/// pointer itself on failure. The adapter resolves `LocalFree` from the HCS library first, so
/// documents always go back to the allocator that made them.
///
/// # Safety
/// Callable with any pointer value (unknown pointers are reported, never touched).
#[no_mangle]
pub unsafe extern "system" fn LocalFree(mem: *mut c_void) -> *mut c_void {
    if mem.is_null() || sim().free_document(mem as usize) {
        ptr::null_mut()
    } else {
        mem
    }
}

// ----- storage (computestorage.dll's layer calls) -----

/// # Safety
/// Each pointer is NULL or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "system" fn HcsImportLayer(
    layer_path: *const u16,
    source_folder_path: *const u16,
    layer_data: *const u16,
) -> Hresult {
    // SAFETY: forwarded contract.
    let (l, s, d) = unsafe { (wstr(layer_path), wstr(source_folder_path), wstr(layer_data)) };
    crate::storage::import_layer(l, s, d)
}

/// # Safety
/// Each pointer is NULL or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "system" fn HcsInitializeWritableLayer(
    writable_layer_path: *const u16,
    layer_data: *const u16,
    _options: *const u16,
) -> Hresult {
    // SAFETY: forwarded contract.
    let (l, d) = unsafe { (wstr(writable_layer_path), wstr(layer_data)) };
    crate::storage::initialize_writable_layer(l, d)
}

/// # Safety
/// `layer_path` is NULL or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "system" fn HcsDestroyLayer(layer_path: *const u16) -> Hresult {
    // SAFETY: forwarded contract.
    crate::storage::destroy_layer(unsafe { wstr(layer_path) })
}

/// vmcompute's `NameToGuid`: the GUID (in `GUID` layout) of a layer folder's name.
///
/// # Safety
/// `name` is NULL or a NUL-terminated UTF-16 string; `guid` is NULL or valid for 16 bytes.
#[no_mangle]
pub unsafe extern "system" fn NameToGuid(name: *const u16, guid: *mut [u8; 16]) -> Hresult {
    if guid.is_null() {
        return E_INVALIDARG;
    }
    // SAFETY: forwarded contract.
    let result = crate::storage::name_to_guid(unsafe { wstr(name) });
    sim().publish_report();
    match result {
        Ok(b) => {
            // GUID's layout: Data1-3 little-endian integers, Data4 bytes as they are.
            let mut g = [0u8; 16];
            g[..4].copy_from_slice(&u32::from_be_bytes([b[0], b[1], b[2], b[3]]).to_ne_bytes());
            g[4..6].copy_from_slice(&u16::from_be_bytes([b[4], b[5]]).to_ne_bytes());
            g[6..8].copy_from_slice(&u16::from_be_bytes([b[6], b[7]]).to_ne_bytes());
            g[8..].copy_from_slice(&b[8..]);
            // SAFETY: non-NULL and valid for 16 bytes per the contract.
            unsafe { *guid = g };
            S_OK
        }
        Err(hr) => hr,
    }
}

/// vmcompute's `ProcessBaseImage`.
///
/// # Safety
/// `layer_path` is NULL or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "system" fn ProcessBaseImage(layer_path: *const u16) -> Hresult {
    // SAFETY: forwarded contract.
    crate::storage::process_base_image(unsafe { wstr(layer_path) })
}

/// vmcompute's `DriverInfo`.
#[repr(C)]
pub struct DriverInfo {
    flavour: isize,
    home_dir: *const u16,
}

/// # Safety
/// `info` is NULL or a `DriverInfo` whose home directory is NULL or a string.
unsafe fn driver_home(info: *const DriverInfo) -> (isize, Option<String>) {
    if info.is_null() {
        return (0, None);
    }
    // SAFETY: per the contract.
    let i = unsafe { &*info };
    // SAFETY: per the contract.
    (i.flavour, unsafe { wstr(i.home_dir) })
}

/// `WC_LAYER_DESCRIPTOR`.
#[repr(C)]
pub struct LayerDescriptor {
    layer_id: [u8; 16],
    flags: u32,
    path: *const u16,
}

/// # Safety
/// `info` as in `driver_home`; `id` NULL or a string.
#[no_mangle]
pub unsafe extern "system" fn ActivateLayer(info: *const DriverInfo, id: *const u16) -> Hresult {
    // SAFETY: forwarded contract.
    let ((flavour, home), id) = unsafe { (driver_home(info), wstr(id)) };
    crate::storage::activate_layer(flavour, home, id)
}

/// # Safety
/// As `ActivateLayer`; `descriptors` points at `count` descriptors with string paths.
#[no_mangle]
pub unsafe extern "system" fn PrepareLayer(
    info: *const DriverInfo,
    id: *const u16,
    descriptors: *const LayerDescriptor,
    count: u32,
) -> Hresult {
    // SAFETY: forwarded contract.
    let ((_, home), id) = unsafe { (driver_home(info), wstr(id)) };
    let mut parents = Vec::new();
    if !descriptors.is_null() {
        for i in 0..count as usize {
            // SAFETY: `count` descriptors per the contract.
            let d = unsafe { &*descriptors.add(i) };
            // SAFETY: per the contract.
            parents.push(unsafe { wstr(d.path) }.unwrap_or_default());
        }
    }
    crate::storage::prepare_layer(home, id, parents)
}

/// # Safety
/// As `ActivateLayer`; `length` writable; `buffer` NULL or `*length` writable units.
#[no_mangle]
pub unsafe extern "system" fn GetLayerMountPath(
    info: *const DriverInfo,
    id: *const u16,
    length: *mut usize,
    buffer: *mut u16,
) -> Hresult {
    if length.is_null() {
        return E_INVALIDARG;
    }
    // SAFETY: forwarded contract.
    let ((_, home), id) = unsafe { (driver_home(info), wstr(id)) };
    let path = match crate::storage::layer_mount_path(home, id) {
        Ok(p) => p,
        Err(hr) => return hr,
    };
    let w: Vec<u16> = path.encode_utf16().chain(std::iter::once(0)).collect();
    // SAFETY: `length` is writable per the contract.
    unsafe {
        if !buffer.is_null() {
            if *length < w.len() {
                return E_INVALIDARG;
            }
            ptr::copy_nonoverlapping(w.as_ptr(), buffer, w.len());
        }
        *length = w.len();
    }
    S_OK
}

/// # Safety
/// As `ActivateLayer`.
#[no_mangle]
pub unsafe extern "system" fn UnprepareLayer(info: *const DriverInfo, id: *const u16) -> Hresult {
    // SAFETY: forwarded contract.
    let ((_, home), id) = unsafe { (driver_home(info), wstr(id)) };
    crate::storage::unmount_layer("UnprepareLayer", home, id)
}

/// # Safety
/// As `ActivateLayer`.
#[no_mangle]
pub unsafe extern "system" fn DeactivateLayer(info: *const DriverInfo, id: *const u16) -> Hresult {
    // SAFETY: forwarded contract.
    let ((_, home), id) = unsafe { (driver_home(info), wstr(id)) };
    crate::storage::unmount_layer("DeactivateLayer", home, id)
}

// ----- test controls -----

/// Replaces the script and fault plan (JSON, UTF-8) and restarts the call counters.
///
/// # Safety
/// `json` points at `len` readable bytes.
#[no_mangle]
pub unsafe extern "system" fn HcsSimConfigure(json: *const u8, len: usize) -> Hresult {
    if json.is_null() {
        return E_INVALIDARG;
    }
    // SAFETY: per the contract.
    let bytes = unsafe { std::slice::from_raw_parts(json, len) };
    match serde_json::from_slice::<Config>(bytes) {
        Ok(config) => {
            sim().configure(config);
            S_OK
        }
        Err(_) => E_INVALIDARG,
    }
}

/// Forgets every object (killing simulated processes) and the configuration.
///
/// # Safety
/// Always safe to call.
#[no_mangle]
pub unsafe extern "system" fn HcsSimReset() {
    sim().reset();
}

/// Operation, compute-system, process and (on Linux) stdio handles the caller still holds.
///
/// # Safety
/// Always safe to call.
#[no_mangle]
pub unsafe extern "system" fn HcsSimOpenHandles() -> u32 {
    sim().open_handles()
}

/// Writes the JSON report (counts, calls, documents received) into `buf` when it fits and
/// returns its length either way, so callers ask twice.
///
/// # Safety
/// `buf` is NULL or valid for `cap` bytes of writes.
#[no_mangle]
pub unsafe extern "system" fn HcsSimReport(buf: *mut u8, cap: usize) -> usize {
    let report = sim().report();
    if !buf.is_null() && report.len() <= cap {
        // SAFETY: `buf` holds `cap >= report.len()` bytes per the contract.
        unsafe { ptr::copy_nonoverlapping(report.as_ptr(), buf, report.len()) };
    }
    report.len()
}
