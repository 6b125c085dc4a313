//! computestorage's layer calls, simulated on the file system: a layer folder is a plain
//! directory. `HcsImportLayer` copies the unpacked layer (`Files/`, `Hives/`…) into the
//! layer folder, `HcsInitializeWritableLayer` creates the container's scratch folder, and
//! `HcsDestroyLayer` removes a folder. Every call is counted, fault-injectable and recorded
//! (paths and `LayerData`) like the compute calls; the parents named in `LayerData` must
//! exist, as real HCS needs them.

use std::path::Path;

use serde_json::{json, Value};

use crate::model::{sim, Hresult, E_INVALIDARG, S_OK};

/// HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND).
const E_PATH_NOT_FOUND: Hresult = 0x8007_0003_u32 as i32;
/// HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS).
const E_ALREADY_EXISTS: Hresult = 0x8007_00B7_u32 as i32;

fn io_hresult(e: &std::io::Error) -> Hresult {
    match e.kind() {
        std::io::ErrorKind::NotFound => E_PATH_NOT_FOUND,
        std::io::ErrorKind::AlreadyExists => E_ALREADY_EXISTS,
        _ => e
            .raw_os_error()
            .map(|c| (0x8007_0000 | (c as u32 & 0xffff)) as i32)
            .unwrap_or(crate::model::E_FAIL),
    }
}

/// Counts and records the call; `Err` is an injected fault.
fn enter(function: &str, record: Value) -> Result<(), Hresult> {
    let mut s = sim();
    s.record_value(function, record);
    s.enter_storage(function)
}

/// The parent layer folders `LayerData` names; each must exist.
fn check_parents(layer_data: Option<&str>) -> Result<(), Hresult> {
    let Some(data) = layer_data else {
        return Ok(());
    };
    let doc: Value = serde_json::from_str(data).map_err(|_| E_INVALIDARG)?;
    for l in doc
        .get("Layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let path = l.get("Path").and_then(Value::as_str).ok_or(E_INVALIDARG)?;
        if l.get("Id").and_then(Value::as_str).is_none() {
            return Err(E_INVALIDARG);
        }
        if !Path::new(path).is_dir() {
            return Err(E_PATH_NOT_FOUND);
        }
    }
    Ok(())
}

fn doc(layer_data: Option<&str>) -> Value {
    layer_data
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.into())))
        .unwrap_or(Value::Null)
}

pub fn import_layer(
    layer: Option<String>,
    source: Option<String>,
    data: Option<String>,
) -> Hresult {
    let record = json!({ "layer": layer, "source": source, "layerData": doc(data.as_deref()) });
    let run = || -> Result<(), Hresult> {
        enter("HcsImportLayer", record)?;
        let (Some(layer), Some(source)) = (layer, source) else {
            return Err(E_INVALIDARG);
        };
        check_parents(data.as_deref())?;
        let (layer, source) = (Path::new(&layer), Path::new(&source));
        if !source.is_dir() {
            return Err(E_PATH_NOT_FOUND);
        }
        if layer.exists() {
            return Err(E_ALREADY_EXISTS);
        }
        copy_tree(source, layer).map_err(|e| {
            let _ = std::fs::remove_dir_all(layer);
            io_hresult(&e)
        })
    };
    finish(run())
}

pub fn initialize_writable_layer(layer: Option<String>, data: Option<String>) -> Hresult {
    let record = json!({ "layer": layer, "layerData": doc(data.as_deref()) });
    let run = || -> Result<(), Hresult> {
        enter("HcsInitializeWritableLayer", record)?;
        let layer = layer.ok_or(E_INVALIDARG)?;
        check_parents(data.as_deref())?;
        std::fs::create_dir(&layer).map_err(|e| io_hresult(&e))
    };
    finish(run())
}

pub fn destroy_layer(layer: Option<String>) -> Hresult {
    let run = || -> Result<(), Hresult> {
        enter("HcsDestroyLayer", json!({ "layer": layer }))?;
        let layer = layer.ok_or(E_INVALIDARG)?;
        std::fs::remove_dir_all(&layer).map_err(|e| io_hresult(&e))
    };
    finish(run())
}

/// vmcompute's `NameToGuid`, simulated: a deterministic GUID per name (two FNV-1a 64-bit
/// hashes, version/variant bits set), not vmcompute's own algorithm. Recorded with its
/// answer so tests can check which IDs the caller used.
pub fn name_to_guid(name: Option<String>) -> Result<[u8; 16], Hresult> {
    let name = name.ok_or(E_INVALIDARG)?;
    let b = guid_bytes(&name);
    let text = guid_text(&b);
    enter("NameToGuid", json!({ "name": name, "guid": text }))?;
    Ok(b)
}

/// `b` as a GUID's text in the byte order given (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`).
fn guid_text(b: &[u8; 16]) -> String {
    let hex =
        |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    )
}

fn guid_bytes(name: &str) -> [u8; 16] {
    let fnv = |seed: u64| {
        name.encode_utf16().fold(seed, |h, u| {
            let h = (h ^ u64::from(u & 0xff)).wrapping_mul(0x0100_0000_01b3);
            (h ^ u64::from(u >> 8)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_be_bytes());
    b[8..].copy_from_slice(&fnv(0x6c62_272e_07bb_0142).to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

/// vmcompute's `ProcessBaseImage` (a base layer's set-up), simulated: the layer folder
/// must exist; it is recorded and counted.
pub fn process_base_image(layer: Option<String>) -> Hresult {
    let run = || -> Result<(), Hresult> {
        enter("ProcessBaseImage", json!({ "layer": layer }))?;
        let layer = layer.ok_or(E_INVALIDARG)?;
        if !Path::new(&layer).is_dir() {
            return Err(E_PATH_NOT_FOUND);
        }
        Ok(())
    };
    finish(run())
}

fn key(home: &str, id: &str) -> String {
    format!("{home}\\{id}")
}

/// vmcompute's `ActivateLayer`: the layer folder `home\id` must exist (flavour 1, the
/// filter driver).
pub fn activate_layer(flavour: isize, home: Option<String>, id: Option<String>) -> Hresult {
    let run = || -> Result<(), Hresult> {
        enter("ActivateLayer", json!({ "home": home, "id": id }))?;
        let (Some(home), Some(id)) = (home, id) else {
            return Err(E_INVALIDARG);
        };
        if flavour != 1 {
            return Err(E_INVALIDARG);
        }
        if !Path::new(&home).join(&id).is_dir() {
            return Err(E_PATH_NOT_FOUND);
        }
        sim().mounts.entry(key(&home, &id)).or_insert(None);
        Ok(())
    };
    finish(run())
}

/// vmcompute's `PrepareLayer`: an activated layer on parents that exist; its volume path is
/// `\\?\Volume{GUID}\` with a GUID from the layer's name.
pub fn prepare_layer(home: Option<String>, id: Option<String>, parents: Vec<String>) -> Hresult {
    let run = || -> Result<(), Hresult> {
        enter(
            "PrepareLayer",
            json!({ "home": home, "id": id, "parents": parents }),
        )?;
        let (Some(home), Some(id)) = (home, id) else {
            return Err(E_INVALIDARG);
        };
        if parents.iter().any(|p| !Path::new(p).is_dir()) {
            return Err(E_PATH_NOT_FOUND);
        }
        let k = key(&home, &id);
        let volume = format!(r"\\?\Volume{{{}}}\", guid_text(&guid_bytes(&k)));
        let mut s = sim();
        let slot = s.mounts.get_mut(&k).ok_or(crate::model::E_NOT_FOUND)?;
        *slot = Some(volume);
        Ok(())
    };
    finish(run())
}

/// vmcompute's `GetLayerMountPath` of a prepared layer.
pub fn layer_mount_path(home: Option<String>, id: Option<String>) -> Result<String, Hresult> {
    let (Some(home), Some(id)) = (home, id) else {
        return Err(E_INVALIDARG);
    };
    let mut s = sim();
    s.enter_storage("GetLayerMountPath")?;
    s.mounts
        .get(&key(&home, &id))
        .cloned()
        .flatten()
        .ok_or(crate::model::E_NOT_FOUND)
}

/// vmcompute's `UnprepareLayer` / `DeactivateLayer`.
pub fn unmount_layer(function: &str, home: Option<String>, id: Option<String>) -> Hresult {
    let run = || -> Result<(), Hresult> {
        enter(function, json!({ "home": home, "id": id }))?;
        let (Some(home), Some(id)) = (home, id) else {
            return Err(E_INVALIDARG);
        };
        let k = key(&home, &id);
        let mut s = sim();
        if function == "UnprepareLayer" {
            let slot = s.mounts.get_mut(&k).ok_or(crate::model::E_NOT_FOUND)?;
            *slot = None;
        } else if s.mounts.remove(&k).is_none() {
            return Err(crate::model::E_NOT_FOUND);
        }
        Ok(())
    };
    finish(run())
}

/// The call's HRESULT, with the report file brought up to date (see `REPORT_ENV`).
fn finish(result: Result<(), Hresult>) -> Hresult {
    sim().publish_report();
    result.err().unwrap_or(S_OK)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
        // Links are left out: a Windows layer's files are plain files and directories.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_copies_and_destroy_removes_with_parents_checked() {
        let tmp = std::env::temp_dir().join(format!("hcs-sim-storage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let src = tmp.join("src/Files");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("a.txt"), "hi").unwrap();
        let s = |p: &Path| Some(p.display().to_string());
        let base = tmp.join("base");
        assert_eq!(import_layer(s(&base), s(&tmp.join("src")), None), S_OK);
        assert_eq!(
            std::fs::read_to_string(base.join("Files/a.txt")).unwrap(),
            "hi"
        );
        // Importing over an existing layer is refused.
        assert_eq!(
            import_layer(s(&base), s(&tmp.join("src")), None),
            E_ALREADY_EXISTS
        );
        let data = |p: &Path| {
            Some(json!({"Layers": [{"Id": "x", "Path": p.display().to_string()}]}).to_string())
        };
        let scratch = tmp.join("scratch");
        assert_eq!(
            initialize_writable_layer(s(&scratch), data(&tmp.join("missing"))),
            E_PATH_NOT_FOUND
        );
        assert_eq!(initialize_writable_layer(s(&scratch), data(&base)), S_OK);
        assert!(scratch.is_dir());
        assert_eq!(destroy_layer(s(&scratch)), S_OK);
        assert_eq!(destroy_layer(s(&scratch)), E_PATH_NOT_FOUND);
        assert_eq!(destroy_layer(s(&base)), S_OK);
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
