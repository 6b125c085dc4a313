//! computenetwork.dll's HCN functions (the Host Network Service's API), loaded at run time
//! like the compute and storage ones. The safe API is [`crate::network`].
//!
//! ABI (computenetwork.h): `extern "system"`, JSON documents as NUL-terminated UTF-16,
//! object IDs as GUIDs passed by pointer, handles as pointers, HRESULT results. Documents
//! and error records HNS returns are allocated with `CoTaskMemAlloc`; the caller frees them
//! with `CoTaskMemFree`, resolved from the loaded library first (the simulator exports its
//! own, as for `LocalFree`), else from ole32.dll on Windows.
//!
//! Handles are move-only tokens only this module creates and the close functions consume.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};

use super::{read_wstr, sym, wide, LoadError};
use crate::error::HResult;
use crate::network::Guid;

/// Windows ships the HCN functions in their own library.
pub const DEFAULT_NETWORK_LIBRARY: &str = "computenetwork.dll";

type RawHandle = *mut c_void;
type Pcwstr = *const u16;
type Out = *mut *mut u16;

type EnumerateFn = unsafe extern "system" fn(Pcwstr, Out, Out) -> i32;
type CreateFn = unsafe extern "system" fn(*const Guid, Pcwstr, *mut RawHandle, Out) -> i32;
type OpenFn = unsafe extern "system" fn(*const Guid, *mut RawHandle, Out) -> i32;
type QueryFn = unsafe extern "system" fn(RawHandle, Pcwstr, Out, Out) -> i32;
type ModifyFn = unsafe extern "system" fn(RawHandle, Pcwstr, Out) -> i32;
type DeleteFn = unsafe extern "system" fn(*const Guid, Out) -> i32;
type CloseFn = unsafe extern "system" fn(RawHandle) -> i32;
type CreateEndpointFn =
    unsafe extern "system" fn(RawHandle, *const Guid, Pcwstr, *mut RawHandle, Out) -> i32;
type FreeFn = unsafe extern "system" fn(*mut c_void);

struct Fns {
    enumerate_networks: EnumerateFn,
    create_network: CreateFn,
    open_network: OpenFn,
    query_network_properties: QueryFn,
    close_network: CloseFn,
    enumerate_endpoints: EnumerateFn,
    create_endpoint: CreateEndpointFn,
    open_endpoint: OpenFn,
    query_endpoint_properties: QueryFn,
    delete_endpoint: DeleteFn,
    close_endpoint: CloseFn,
    create_namespace: CreateFn,
    modify_namespace: ModifyFn,
    delete_namespace: DeleteFn,
    close_namespace: CloseFn,
    free: FreeFn,
}

/// A failed HCN call: its HRESULT and the error record HNS attached, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub hresult: HResult,
    pub record: Option<String>,
}

pub type CallResult<T> = Result<T, CallError>;

/// A live HCN_NETWORK; consumed by [`NetworkLibrary::close_network`].
#[derive(Debug)]
pub struct NetworkHandle(NonNull<c_void>);
/// A live HCN_ENDPOINT; consumed by [`NetworkLibrary::close_endpoint`].
#[derive(Debug)]
pub struct EndpointHandle(NonNull<c_void>);
/// A live HCN_NAMESPACE; consumed by [`NetworkLibrary::close_namespace`].
#[derive(Debug)]
pub struct NamespaceHandle(NonNull<c_void>);

// SAFETY: HCN handles are not bound to the thread that opened them.
unsafe impl Send for NetworkHandle {}
unsafe impl Send for EndpointHandle {}
unsafe impl Send for NamespaceHandle {}

pub struct NetworkLibrary {
    fns: Fns,
    path: PathBuf,
    // The pointers in `fns` point into these; dropped with the struct, never before.
    _lib: libloading::Library,
    _free_lib: Option<libloading::Library>,
}

impl NetworkLibrary {
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        // SAFETY: loading runs the library's initialisers; computenetwork.dll and the
        // simulator have none with preconditions.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: CoTaskMemFree's signature; the pointer lives with its library.
        let (free, free_lib) = match unsafe { sym::<FreeFn>(&lib, path, "CoTaskMemFree") } {
            Ok(f) => (f, None),
            Err(e) => ole32_free(e)?,
        };
        // SAFETY: computenetwork.h's signatures (hcsshim's hcn zsyscall bindings say the
        // same); the pointers live with `lib` in the struct.
        let fns = unsafe {
            Fns {
                enumerate_networks: sym(&lib, path, "HcnEnumerateNetworks")?,
                create_network: sym(&lib, path, "HcnCreateNetwork")?,
                open_network: sym(&lib, path, "HcnOpenNetwork")?,
                query_network_properties: sym(&lib, path, "HcnQueryNetworkProperties")?,
                close_network: sym(&lib, path, "HcnCloseNetwork")?,
                enumerate_endpoints: sym(&lib, path, "HcnEnumerateEndpoints")?,
                create_endpoint: sym(&lib, path, "HcnCreateEndpoint")?,
                open_endpoint: sym(&lib, path, "HcnOpenEndpoint")?,
                query_endpoint_properties: sym(&lib, path, "HcnQueryEndpointProperties")?,
                delete_endpoint: sym(&lib, path, "HcnDeleteEndpoint")?,
                close_endpoint: sym(&lib, path, "HcnCloseEndpoint")?,
                create_namespace: sym(&lib, path, "HcnCreateNamespace")?,
                modify_namespace: sym(&lib, path, "HcnModifyNamespace")?,
                delete_namespace: sym(&lib, path, "HcnDeleteNamespace")?,
                close_namespace: sym(&lib, path, "HcnCloseNamespace")?,
                free,
            }
        };
        Ok(Self {
            fns,
            path: path.to_path_buf(),
            _lib: lib,
            _free_lib: free_lib,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies a string HNS returned and frees it exactly once.
    fn take(&self, p: *mut u16) -> Option<String> {
        if p.is_null() {
            return None;
        }
        // SAFETY: HNS returned `p` as a NUL-terminated UTF-16 string that is ours to free.
        let s = unsafe { read_wstr(p) };
        // SAFETY: allocated by this library's allocator; freed only here.
        unsafe { (self.fns.free)(p.cast()) };
        s
    }

    /// The call's result, with the error record (freed either way).
    fn check(&self, hr: i32, record: *mut u16) -> CallResult<()> {
        let record = self.take(record);
        if hr < 0 {
            return Err(CallError {
                hresult: HResult(hr),
                record,
            });
        }
        Ok(())
    }

    fn enumerate(&self, f: EnumerateFn, query: &str) -> CallResult<String> {
        let q = wide(query);
        let (mut out, mut rec) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: a NUL-terminated query that outlives the call; two out-pointers.
        let hr = unsafe { f(q.as_ptr(), &mut out, &mut rec) };
        let out = self.take(out);
        self.check(hr, rec)?;
        Ok(out.unwrap_or_default())
    }

    fn query(&self, f: QueryFn, h: RawHandle, query: &str) -> CallResult<String> {
        let q = wide(query);
        let (mut out, mut rec) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: a live handle (the callers hold its token), a query that outlives the call.
        let hr = unsafe { f(h, q.as_ptr(), &mut out, &mut rec) };
        let out = self.take(out);
        self.check(hr, rec)?;
        Ok(out.unwrap_or_default())
    }

    fn handle(h: RawHandle, hr: i32) -> CallResult<NonNull<c_void>> {
        NonNull::new(h).ok_or(CallError {
            hresult: HResult(if hr < 0 { hr } else { E_POINTER }),
            record: None,
        })
    }

    // ----- networks -----

    /// The IDs of the networks matching `query` (a JSON array of GUID strings).
    pub fn enumerate_networks(&self, query: &str) -> CallResult<String> {
        self.enumerate(self.fns.enumerate_networks, query)
    }

    pub fn create_network(&self, id: &Guid, settings: &str) -> CallResult<NetworkHandle> {
        let s = wide(settings);
        let (mut h, mut rec) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: a GUID and a settings string that outlive the call; two out-pointers.
        let hr = unsafe { (self.fns.create_network)(id, s.as_ptr(), &mut h, &mut rec) };
        self.check(hr, rec)?;
        Self::handle(h, hr).map(NetworkHandle)
    }

    pub fn open_network(&self, id: &Guid) -> CallResult<NetworkHandle> {
        let (mut h, mut rec) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: a GUID that outlives the call; two out-pointers.
        let hr = unsafe { (self.fns.open_network)(id, &mut h, &mut rec) };
        self.check(hr, rec)?;
        Self::handle(h, hr).map(NetworkHandle)
    }

    pub fn query_network(&self, n: &NetworkHandle, query: &str) -> CallResult<String> {
        self.query(self.fns.query_network_properties, n.0.as_ptr(), query)
    }

    pub fn close_network(&self, n: NetworkHandle) {
        // SAFETY: a live handle, consumed.
        let _ = unsafe { (self.fns.close_network)(n.0.as_ptr()) };
    }

    // ----- endpoints -----

    pub fn enumerate_endpoints(&self, query: &str) -> CallResult<String> {
        self.enumerate(self.fns.enumerate_endpoints, query)
    }

    pub fn create_endpoint(
        &self,
        network: &NetworkHandle,
        id: &Guid,
        settings: &str,
    ) -> CallResult<EndpointHandle> {
        let s = wide(settings);
        let (mut h, mut rec) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: a live network handle, a GUID and settings that outlive the call.
        let hr = unsafe {
            (self.fns.create_endpoint)(network.0.as_ptr(), id, s.as_ptr(), &mut h, &mut rec)
        };
        self.check(hr, rec)?;
        Self::handle(h, hr).map(EndpointHandle)
    }

    pub fn open_endpoint_by_id(&self, id: &Guid) -> CallResult<EndpointHandle> {
        let (mut h, mut rec) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: a GUID that outlives the call; two out-pointers.
        let hr = unsafe { (self.fns.open_endpoint)(id, &mut h, &mut rec) };
        self.check(hr, rec)?;
        Self::handle(h, hr).map(EndpointHandle)
    }

    pub fn query_endpoint(&self, e: &EndpointHandle, query: &str) -> CallResult<String> {
        self.query(self.fns.query_endpoint_properties, e.0.as_ptr(), query)
    }

    pub fn delete_endpoint(&self, id: &Guid) -> CallResult<()> {
        let mut rec = ptr::null_mut();
        // SAFETY: a GUID that outlives the call; one out-pointer.
        let hr = unsafe { (self.fns.delete_endpoint)(id, &mut rec) };
        self.check(hr, rec)
    }

    pub fn close_endpoint(&self, e: EndpointHandle) {
        // SAFETY: a live handle, consumed.
        let _ = unsafe { (self.fns.close_endpoint)(e.0.as_ptr()) };
    }

    // ----- namespaces -----

    pub fn create_namespace(&self, id: &Guid, settings: &str) -> CallResult<NamespaceHandle> {
        let s = wide(settings);
        let (mut h, mut rec) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: a GUID and settings that outlive the call; two out-pointers.
        let hr = unsafe { (self.fns.create_namespace)(id, s.as_ptr(), &mut h, &mut rec) };
        self.check(hr, rec)?;
        Self::handle(h, hr).map(NamespaceHandle)
    }

    pub fn modify_namespace(&self, n: &NamespaceHandle, settings: &str) -> CallResult<()> {
        let s = wide(settings);
        let mut rec = ptr::null_mut();
        // SAFETY: a live handle and settings that outlive the call.
        let hr = unsafe { (self.fns.modify_namespace)(n.0.as_ptr(), s.as_ptr(), &mut rec) };
        self.check(hr, rec)
    }

    pub fn delete_namespace(&self, id: &Guid) -> CallResult<()> {
        let mut rec = ptr::null_mut();
        // SAFETY: a GUID that outlives the call; one out-pointer.
        let hr = unsafe { (self.fns.delete_namespace)(id, &mut rec) };
        self.check(hr, rec)
    }

    pub fn close_namespace(&self, n: NamespaceHandle) {
        // SAFETY: a live handle, consumed.
        let _ = unsafe { (self.fns.close_namespace)(n.0.as_ptr()) };
    }
}

/// E_POINTER: a call that succeeded without handing out its handle.
const E_POINTER: i32 = 0x8000_4003_u32 as i32;

#[cfg(windows)]
fn ole32_free(_missing: LoadError) -> Result<(FreeFn, Option<libloading::Library>), LoadError> {
    let path = Path::new("ole32.dll");
    // SAFETY: ole32.dll is a system library without initialisers with preconditions.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: CoTaskMemFree's signature; the pointer lives with `lib`.
    let f = unsafe { sym(&lib, path, "CoTaskMemFree")? };
    Ok((f, Some(lib)))
}

#[cfg(not(windows))]
fn ole32_free(missing: LoadError) -> Result<(FreeFn, Option<libloading::Library>), LoadError> {
    Err(missing)
}
