//! computestorage.dll's layer functions, loaded at run time like the compute ones: what
//! Windows container storage needs before HCS can run a container (`HcsImportLayer`,
//! `HcsInitializeWritableLayer`, `HcsDestroyLayer`), and vmcompute.dll's `NameToGuid`
//! (layer IDs) and `ProcessBaseImage` (base layer set-up). They are synchronous and take only
//! strings, so the wrapper here is small; the safe API is [`crate::storage`].
//!
//! The functions are looked up in the library given (`--hcs-library`: the simulator exports
//! them next to the compute ones), else in computestorage.dll on Windows.

use std::path::{Path, PathBuf};

use super::{sym, wide, LoadError};
use crate::error::HResult;
use crate::network::Guid;

#[cfg(windows)]
fn vmcompute(_missing: LoadError) -> Result<libloading::Library, LoadError> {
    let path = Path::new(VMCOMPUTE_LIBRARY);
    // SAFETY: a system library without initialisers with preconditions.
    unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Open {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(not(windows))]
fn vmcompute(missing: LoadError) -> Result<libloading::Library, LoadError> {
    Err(missing)
}

/// Windows ships the storage functions in their own library.
pub const DEFAULT_STORAGE_LIBRARY: &str = "computestorage.dll";

type ImportLayerFn = unsafe extern "system" fn(
    layer_path: *const u16,
    source_folder: *const u16,
    layer_data: *const u16,
) -> i32;
type InitializeWritableLayerFn = unsafe extern "system" fn(
    writable_layer_path: *const u16,
    layer_data: *const u16,
    options: *const u16,
) -> i32;
type DestroyLayerFn = unsafe extern "system" fn(layer_path: *const u16) -> i32;
type NameToGuidFn = unsafe extern "system" fn(name: *const u16, guid: *mut Guid) -> i32;
type ProcessBaseImageFn = unsafe extern "system" fn(layer_path: *const u16) -> i32;

/// vmcompute.dll: the graph driver's older layer calls, among them the two the layer
/// store still needs (`NameToGuid`, `ProcessBaseImage`).
pub const VMCOMPUTE_LIBRARY: &str = "vmcompute.dll";

pub struct StorageLibrary {
    import_layer: ImportLayerFn,
    initialize_writable_layer: InitializeWritableLayerFn,
    destroy_layer: DestroyLayerFn,
    name_to_guid: NameToGuidFn,
    process_base_image: ProcessBaseImageFn,
    path: PathBuf,
    // The pointers above point into these; dropped with the struct, never before.
    _lib: libloading::Library,
    _vmcompute: Option<libloading::Library>,
}

impl StorageLibrary {
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        // SAFETY: loading runs the library's initialisers; computestorage.dll and the
        // simulator have none with preconditions.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // NameToGuid and ProcessBaseImage: from the library given when it has them (the
        // simulator), else from vmcompute.dll (Windows).
        // SAFETY: vmcompute's signatures (hcsshim internal/wclayer's bindings say the same);
        // the pointers live with their library in the struct.
        let (name_to_guid, process_base_image, vmcompute) = unsafe {
            match (
                sym::<NameToGuidFn>(&lib, path, "NameToGuid"),
                sym::<ProcessBaseImageFn>(&lib, path, "ProcessBaseImage"),
            ) {
                (Ok(n), Ok(p)) => (n, p, None),
                (Err(e), _) | (_, Err(e)) => {
                    let vm = vmcompute(e)?;
                    let vpath = Path::new(VMCOMPUTE_LIBRARY);
                    (
                        sym(&vm, vpath, "NameToGuid")?,
                        sym(&vm, vpath, "ProcessBaseImage")?,
                        Some(vm),
                    )
                }
            }
        };
        // SAFETY: computestorage.h's signatures; the pointers live with `lib`.
        unsafe {
            Ok(Self {
                import_layer: sym(&lib, path, "HcsImportLayer")?,
                initialize_writable_layer: sym(&lib, path, "HcsInitializeWritableLayer")?,
                destroy_layer: sym(&lib, path, "HcsDestroyLayer")?,
                name_to_guid,
                process_base_image,
                path: path.to_path_buf(),
                _lib: lib,
                _vmcompute: vmcompute,
            })
        }
    }

    /// The GUID vmcompute gives a layer folder's name (hcsshim's `NameToGuid`).
    pub fn name_to_guid(&self, name: &str) -> Result<Guid, HResult> {
        let n = wide(name);
        let mut g = Guid::NIL;
        // SAFETY: a NUL-terminated name that outlives the call and one GUID to write.
        let hr = unsafe { (self.name_to_guid)(n.as_ptr(), &mut g) };
        if hr < 0 {
            return Err(HResult(hr));
        }
        Ok(g)
    }

    /// Sets up an imported base (OS) layer for process-isolated containers, as hcsshim's
    /// base-layer writer does after writing one (`ProcessBaseImage`).
    pub fn process_base_image(&self, layer: &str) -> HResult {
        let l = wide(layer);
        // SAFETY: a NUL-terminated string that outlives the synchronous call.
        HResult(unsafe { (self.process_base_image)(l.as_ptr()) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn import_layer(&self, layer: &str, source: &str, layer_data: &str) -> HResult {
        let (l, s, d) = (wide(layer), wide(source), wide(layer_data));
        // SAFETY: three NUL-terminated strings that outlive the synchronous call.
        HResult(unsafe { (self.import_layer)(l.as_ptr(), s.as_ptr(), d.as_ptr()) })
    }

    pub fn initialize_writable_layer(&self, layer: &str, layer_data: &str) -> HResult {
        let (l, d) = (wide(layer), wide(layer_data));
        // SAFETY: NUL-terminated strings that outlive the call; no options (NULL is allowed).
        HResult(unsafe {
            (self.initialize_writable_layer)(l.as_ptr(), d.as_ptr(), std::ptr::null())
        })
    }

    pub fn destroy_layer(&self, layer: &str) -> HResult {
        let l = wide(layer);
        // SAFETY: a NUL-terminated string that outlives the call.
        HResult(unsafe { (self.destroy_layer)(l.as_ptr()) })
    }
}
