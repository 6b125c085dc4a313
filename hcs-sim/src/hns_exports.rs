//! The C ABI of computenetwork.dll's HCN functions (computenetwork.h's signatures) over
//! the simulator's HNS, plus `CoTaskMemFree` for the documents and error records they
//! return. Unsafe only to turn the caller's pointers into values and back, as in `exports`.
#![allow(unsafe_code)]

use std::ffi::c_void;

use crate::exports::{put_doc, wstr};
use crate::hns::Failure;
use crate::model::{sim, Hresult, E_INVALIDARG, S_OK};

type Handle = *mut c_void;
type Out = *mut *mut u16;

/// `GUID` of guiddef.h.
#[repr(C)]
pub struct Guid {
    data1: u32,
    data2: u16,
    data3: u16,
    data4: [u8; 8],
}

/// # Safety
/// `g` is NULL or points at a GUID.
unsafe fn guid(g: *const Guid) -> Option<String> {
    if g.is_null() {
        return None;
    }
    // SAFETY: per the contract.
    let g = unsafe { &*g };
    let d = &g.data4;
    Some(format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        g.data1, g.data2, g.data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
    ))
}

/// Counts the call (fault injection first), runs it under the lock, hands out the error
/// record on failure and brings the report file up to date.
///
/// # Safety
/// `record` is NULL or valid for one pointer write.
unsafe fn run<T>(
    function: &str,
    record: Out,
    f: impl FnOnce(&mut crate::hns::Hns) -> Result<T, Failure>,
    ok: impl FnOnce(T),
) -> Hresult {
    let mut s = sim();
    let result = match s.enter_hns(function) {
        Err(hr) => Err((
            hr,
            serde_json::json!({"Success": false, "Error": "injected fault", "ErrorCode": hr as u32})
                .to_string(),
        )),
        Ok(()) => f(&mut s.hns),
    };
    s.publish_report();
    drop(s);
    match result {
        Ok(v) => {
            ok(v);
            // SAFETY: per the contract.
            unsafe { put_doc(record, None) };
            S_OK
        }
        Err((hr, doc)) => {
            // SAFETY: per the contract.
            unsafe { put_doc(record, Some(doc)) };
            hr
        }
    }
}

/// # Safety
/// `out` is NULL or valid for one pointer write.
unsafe fn put_handle(out: *mut Handle, h: usize) {
    if !out.is_null() {
        // SAFETY: per the contract.
        unsafe { *out = h as Handle };
    }
}

/// # Safety
/// `query` is NULL or a NUL-terminated UTF-16 string; the out-pointers are NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnEnumerateNetworks(
    query: *const u16,
    out: Out,
    record: Out,
) -> Hresult {
    // SAFETY: forwarded contract.
    let q = unsafe { wstr(query) };
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnEnumerateNetworks",
            record,
            |h| h.enumerate_networks(q.as_deref()),
            |d| put_doc(out, Some(d)),
        )
    }
}

/// # Safety
/// `id` is NULL or a GUID; `settings` NULL or a string; out-pointers NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnCreateNetwork(
    id: *const Guid,
    settings: *const u16,
    network: *mut Handle,
    record: Out,
) -> Hresult {
    // SAFETY: forwarded contract.
    let (id, s) = unsafe { (guid(id), wstr(settings)) };
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnCreateNetwork",
            record,
            |h| h.create_network(&id.unwrap_or_default(), s.as_deref()),
            |v| put_handle(network, v),
        )
    }
}

/// # Safety
/// `id` is NULL or a GUID; out-pointers NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnOpenNetwork(
    id: *const Guid,
    network: *mut Handle,
    record: Out,
) -> Hresult {
    // SAFETY: forwarded contract.
    let Some(id) = (unsafe { guid(id) }) else {
        return E_INVALIDARG;
    };
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnOpenNetwork",
            record,
            |h| h.open_network(&id),
            |v| put_handle(network, v),
        )
    }
}

/// # Safety
/// `query` NULL or a string; out-pointers NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnQueryNetworkProperties(
    network: Handle,
    _query: *const u16,
    out: Out,
    record: Out,
) -> Hresult {
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnQueryNetworkProperties",
            record,
            |h| h.query_network(network as usize),
            |d| put_doc(out, Some(d)),
        )
    }
}

/// # Safety
/// Callable with any value.
#[no_mangle]
pub unsafe extern "system" fn HcnCloseNetwork(network: Handle) -> Hresult {
    close("HcnCloseNetwork", network)
}

/// # Safety
/// As `HcnEnumerateNetworks`.
#[no_mangle]
pub unsafe extern "system" fn HcnEnumerateEndpoints(
    query: *const u16,
    out: Out,
    record: Out,
) -> Hresult {
    // SAFETY: forwarded contract.
    let q = unsafe { wstr(query) };
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnEnumerateEndpoints",
            record,
            |h| h.enumerate_endpoints(q.as_deref()),
            |d| put_doc(out, Some(d)),
        )
    }
}

/// # Safety
/// `id` NULL or a GUID; `settings` NULL or a string; out-pointers NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnCreateEndpoint(
    network: Handle,
    id: *const Guid,
    settings: *const u16,
    endpoint: *mut Handle,
    record: Out,
) -> Hresult {
    // SAFETY: forwarded contract.
    let (id, s) = unsafe { (guid(id), wstr(settings)) };
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnCreateEndpoint",
            record,
            |h| h.create_endpoint(network as usize, &id.unwrap_or_default(), s.as_deref()),
            |v| put_handle(endpoint, v),
        )
    }
}

/// # Safety
/// `id` NULL or a GUID; out-pointers NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnOpenEndpoint(
    id: *const Guid,
    endpoint: *mut Handle,
    record: Out,
) -> Hresult {
    // SAFETY: forwarded contract.
    let Some(id) = (unsafe { guid(id) }) else {
        return E_INVALIDARG;
    };
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnOpenEndpoint",
            record,
            |h| h.open_endpoint(&id),
            |v| put_handle(endpoint, v),
        )
    }
}

/// # Safety
/// `query` NULL or a string; out-pointers NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnQueryEndpointProperties(
    endpoint: Handle,
    _query: *const u16,
    out: Out,
    record: Out,
) -> Hresult {
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnQueryEndpointProperties",
            record,
            |h| h.query_endpoint(endpoint as usize),
            |d| put_doc(out, Some(d)),
        )
    }
}

/// # Safety
/// `id` NULL or a GUID; `record` NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnDeleteEndpoint(id: *const Guid, record: Out) -> Hresult {
    // SAFETY: forwarded contract.
    let Some(id) = (unsafe { guid(id) }) else {
        return E_INVALIDARG;
    };
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnDeleteEndpoint",
            record,
            |h| h.delete_endpoint(&id),
            |()| (),
        )
    }
}

/// # Safety
/// Callable with any value.
#[no_mangle]
pub unsafe extern "system" fn HcnCloseEndpoint(endpoint: Handle) -> Hresult {
    close("HcnCloseEndpoint", endpoint)
}

/// # Safety
/// `id` NULL or a GUID; `settings` NULL or a string; out-pointers NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnCreateNamespace(
    id: *const Guid,
    settings: *const u16,
    namespace: *mut Handle,
    record: Out,
) -> Hresult {
    // SAFETY: forwarded contract.
    let (id, s) = unsafe { (guid(id), wstr(settings)) };
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnCreateNamespace",
            record,
            |h| h.create_namespace(&id.unwrap_or_default(), s.as_deref()),
            |v| put_handle(namespace, v),
        )
    }
}

/// # Safety
/// `settings` NULL or a string; `record` NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnModifyNamespace(
    namespace: Handle,
    settings: *const u16,
    record: Out,
) -> Hresult {
    // SAFETY: forwarded contract.
    let s = unsafe { wstr(settings) };
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnModifyNamespace",
            record,
            |h| h.modify_namespace(namespace as usize, s.as_deref()),
            |()| (),
        )
    }
}

/// # Safety
/// `id` NULL or a GUID; `record` NULL or writable.
#[no_mangle]
pub unsafe extern "system" fn HcnDeleteNamespace(id: *const Guid, record: Out) -> Hresult {
    // SAFETY: forwarded contract.
    let Some(id) = (unsafe { guid(id) }) else {
        return E_INVALIDARG;
    };
    // SAFETY: forwarded contract.
    unsafe {
        run(
            "HcnDeleteNamespace",
            record,
            |h| h.delete_namespace(&id),
            |()| (),
        )
    }
}

/// # Safety
/// Callable with any value.
#[no_mangle]
pub unsafe extern "system" fn HcnCloseNamespace(namespace: Handle) -> Hresult {
    close("HcnCloseNamespace", namespace)
}

fn close(function: &str, handle: Handle) -> Hresult {
    let mut s = sim();
    let _ = s.enter_hns(function);
    let hr = s.hns.close(handle as usize);
    s.publish_report();
    hr
}

/// Frees a document or error record the HCN exports returned (ole32's `CoTaskMemFree` on
/// Windows; resolved from this library first, as `LocalFree` is).
///
/// # Safety
/// Callable with any pointer value (unknown pointers are left alone).
#[no_mangle]
pub unsafe extern "system" fn CoTaskMemFree(mem: *mut c_void) {
    if !mem.is_null() {
        sim().free_document(mem as usize);
    }
}
