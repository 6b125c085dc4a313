//! computestorage.dll's layer functions, loaded at run time like the compute ones: what
//! Windows container storage needs before HCS can run a container (`HcsImportLayer`,
//! `HcsInitializeWritableLayer`, `HcsDestroyLayer`). They are synchronous and take only
//! strings, so the wrapper here is small; the safe API is [`crate::storage`].
//!
//! The functions are looked up in the library given (`--hcs-library`: the simulator exports
//! them next to the compute ones), else in computestorage.dll on Windows.

use std::path::{Path, PathBuf};

use super::{sym, wide, LoadError};
use crate::error::HResult;

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

pub struct StorageLibrary {
    import_layer: ImportLayerFn,
    initialize_writable_layer: InitializeWritableLayerFn,
    destroy_layer: DestroyLayerFn,
    path: PathBuf,
    // The pointers above point into it; dropped with the struct, never before.
    _lib: libloading::Library,
}

impl StorageLibrary {
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        // SAFETY: loading runs the library's initialisers; computestorage.dll and the
        // simulator have none with preconditions.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: computestorage.h's signatures; the pointers live with `lib`.
        unsafe {
            Ok(Self {
                import_layer: sym(&lib, path, "HcsImportLayer")?,
                initialize_writable_layer: sym(&lib, path, "HcsInitializeWritableLayer")?,
                destroy_layer: sym(&lib, path, "HcsDestroyLayer")?,
                path: path.to_path_buf(),
                _lib: lib,
            })
        }
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
