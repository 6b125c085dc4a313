//! The simulator DLL's own path on Windows (GetModuleHandleExW on one of its functions, then
//! GetModuleFileNameW): where its settings file sits (`model::settings_beside`).
#![cfg(windows)]
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::os::windows::ffi::OsStringExt;
use std::path::PathBuf;
use std::ptr;

const GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS: u32 = 0x4;
const GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT: u32 = 0x2;

#[link(name = "kernel32")]
extern "system" {
    fn GetModuleHandleExW(flags: u32, name: *const c_void, module: *mut *mut c_void) -> i32;
    fn GetModuleFileNameW(module: *mut c_void, name: *mut u16, size: u32) -> u32;
}

/// The path of the module (DLL) this code was loaded from.
pub fn own_path() -> Option<PathBuf> {
    let mut module: *mut c_void = ptr::null_mut();
    let anchor = own_path as fn() -> Option<PathBuf> as *const c_void;
    // SAFETY: FROM_ADDRESS takes any address inside a loaded module (this function's);
    // UNCHANGED_REFCOUNT leaves nothing to release; `module` is valid for one write.
    let ok = unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            anchor,
            &mut module,
        )
    };
    if ok == 0 {
        return None;
    }
    let mut buf = vec![0u16; 32768];
    // SAFETY: `buf` is valid for `len` writes; the module stays loaded (it is this code's).
    let n = unsafe { GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) } as usize;
    if n == 0 || n >= buf.len() {
        return None;
    }
    Some(PathBuf::from(std::ffi::OsString::from_wide(&buf[..n])))
}
