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
type LayerFn = unsafe extern "system" fn(info: *const DriverInfo, id: *const u16) -> i32;
type PrepareLayerFn = unsafe extern "system" fn(
    info: *const DriverInfo,
    id: *const u16,
    descriptors: *const LayerDescriptor,
    count: u32,
) -> i32;
type GetLayerMountPathFn = unsafe extern "system" fn(
    info: *const DriverInfo,
    id: *const u16,
    length: *mut usize,
    buffer: *mut u16,
) -> i32;

/// vmcompute's `DriverInfo` (hcsshim's `driverInfo`: Go `int`, then the home directory).
#[repr(C)]
pub struct DriverInfo {
    pub flavour: isize,
    pub home_dir: *const u16,
}

/// `WC_LAYER_DESCRIPTOR`: a parent layer of `PrepareLayer`.
#[repr(C)]
pub struct LayerDescriptor {
    pub layer_id: Guid,
    pub flags: u32,
    pub path: *const u16,
}

/// The windowsfilter driver's flavour (hcsshim's `filterDriver`).
const FILTER_DRIVER: isize = 1;

/// vmcompute.dll: the graph driver's older layer calls, among them the two the layer
/// store still needs (`NameToGuid`, `ProcessBaseImage`).
pub const VMCOMPUTE_LIBRARY: &str = "vmcompute.dll";

pub struct StorageLibrary {
    import_layer: ImportLayerFn,
    initialize_writable_layer: InitializeWritableLayerFn,
    destroy_layer: DestroyLayerFn,
    name_to_guid: NameToGuidFn,
    process_base_image: ProcessBaseImageFn,
    activate_layer: LayerFn,
    prepare_layer: PrepareLayerFn,
    get_layer_mount_path: GetLayerMountPathFn,
    unprepare_layer: LayerFn,
    deactivate_layer: LayerFn,
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
        // vmcompute's layer calls: from the library given when it has them (the simulator),
        // else from vmcompute.dll (Windows).
        let vm = match unsafe { sym::<NameToGuidFn>(&lib, path, "NameToGuid") } {
            Ok(_) => None,
            Err(e) => Some(vmcompute(e)?),
        };
        let (vlib, vpath) = match &vm {
            Some(v) => (v, Path::new(VMCOMPUTE_LIBRARY)),
            None => (&lib, path),
        };
        // SAFETY: vmcompute's signatures (hcsshim internal/wclayer's bindings say the same);
        // the pointers live with their library in the struct.
        let (
            name_to_guid,
            process_base_image,
            activate,
            prepare,
            mount_path,
            unprepare,
            deactivate,
        ) = unsafe {
            (
                sym::<NameToGuidFn>(vlib, vpath, "NameToGuid")?,
                sym::<ProcessBaseImageFn>(vlib, vpath, "ProcessBaseImage")?,
                sym::<LayerFn>(vlib, vpath, "ActivateLayer")?,
                sym::<PrepareLayerFn>(vlib, vpath, "PrepareLayer")?,
                sym::<GetLayerMountPathFn>(vlib, vpath, "GetLayerMountPath")?,
                sym::<LayerFn>(vlib, vpath, "UnprepareLayer")?,
                sym::<LayerFn>(vlib, vpath, "DeactivateLayer")?,
            )
        };
        // SAFETY: computestorage.h's signatures; the pointers live with `lib`.
        unsafe {
            Ok(Self {
                import_layer: sym(&lib, path, "HcsImportLayer")?,
                initialize_writable_layer: sym(&lib, path, "HcsInitializeWritableLayer")?,
                destroy_layer: sym(&lib, path, "HcsDestroyLayer")?,
                name_to_guid,
                process_base_image,
                activate_layer: activate,
                prepare_layer: prepare,
                get_layer_mount_path: mount_path,
                unprepare_layer: unprepare,
                deactivate_layer: deactivate,
                path: path.to_path_buf(),
                _lib: lib,
                _vmcompute: vm,
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

    /// Mounts the writable layer `id` under `home` on its `parents` (folder and GUID,
    /// topmost first) as the windowsfilter graph driver does (`ActivateLayer`,
    /// `PrepareLayer`) and returns its volume path (`GetLayerMountPath`). Activated but
    /// not prepared is undone before an error returns.
    pub fn mount_layer(
        &self,
        home: &str,
        id: &str,
        parents: &[(String, Guid)],
    ) -> Result<String, (&'static str, HResult)> {
        let (h, i) = (wide(home), wide(id));
        let info = DriverInfo {
            flavour: FILTER_DRIVER,
            home_dir: h.as_ptr(),
        };
        // SAFETY: `info`, its home directory and `id` outlive the synchronous call.
        let hr = unsafe { (self.activate_layer)(&info, i.as_ptr()) };
        if hr < 0 {
            return Err(("ActivateLayer", HResult(hr)));
        }
        let paths: Vec<Vec<u16>> = parents.iter().map(|(p, _)| wide(p)).collect();
        let descriptors: Vec<LayerDescriptor> = parents
            .iter()
            .zip(&paths)
            .map(|((_, g), p)| LayerDescriptor {
                layer_id: *g,
                flags: 0,
                path: p.as_ptr(),
            })
            .collect();
        let count = u32::try_from(descriptors.len()).unwrap_or(u32::MAX);
        // SAFETY: `count` descriptors whose paths live in `paths` for the call.
        let hr = unsafe { (self.prepare_layer)(&info, i.as_ptr(), descriptors.as_ptr(), count) };
        if hr < 0 {
            // SAFETY: as above.
            let _ = unsafe { (self.deactivate_layer)(&info, i.as_ptr()) };
            return Err(("PrepareLayer", HResult(hr)));
        }
        match self.mount_path(&info, &i) {
            Ok(p) => Ok(p),
            Err(e) => {
                // SAFETY: as above.
                unsafe {
                    let _ = (self.unprepare_layer)(&info, i.as_ptr());
                    let _ = (self.deactivate_layer)(&info, i.as_ptr());
                }
                Err(("GetLayerMountPath", e))
            }
        }
    }

    fn mount_path(&self, info: &DriverInfo, id: &[u16]) -> Result<String, HResult> {
        let mut len = 0usize;
        // SAFETY: a NULL buffer asks for the length only.
        let hr = unsafe {
            (self.get_layer_mount_path)(info, id.as_ptr(), &mut len, std::ptr::null_mut())
        };
        if hr < 0 {
            return Err(HResult(hr));
        }
        let mut buf = vec![0u16; len.max(1)];
        let mut len2 = buf.len();
        // SAFETY: `buf` holds `len2` writable units.
        let hr =
            unsafe { (self.get_layer_mount_path)(info, id.as_ptr(), &mut len2, buf.as_mut_ptr()) };
        if hr < 0 {
            return Err(HResult(hr));
        }
        let end = buf.iter().position(|c| *c == 0).unwrap_or(buf.len());
        Ok(String::from_utf16_lossy(&buf[..end]))
    }

    /// Undoes [`Self::mount_layer`] (`UnprepareLayer`, `DeactivateLayer`); both run.
    pub fn unmount_layer(&self, home: &str, id: &str) -> Result<(), (&'static str, HResult)> {
        let (h, i) = (wide(home), wide(id));
        let info = DriverInfo {
            flavour: FILTER_DRIVER,
            home_dir: h.as_ptr(),
        };
        // SAFETY: `info`, its home directory and `id` outlive the synchronous calls.
        let (u, d) = unsafe {
            (
                (self.unprepare_layer)(&info, i.as_ptr()),
                (self.deactivate_layer)(&info, i.as_ptr()),
            )
        };
        if u < 0 {
            return Err(("UnprepareLayer", HResult(u)));
        }
        if d < 0 {
            return Err(("DeactivateLayer", HResult(d)));
        }
        Ok(())
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
