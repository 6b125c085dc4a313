//! Windows container storage through computestorage's layer functions: importing an image
//! layer, creating a container's writable (scratch) layer on top of its image's layers, and
//! destroying either. Each call names the parent layers with the `LayerData` document
//! (hcsshim's `computestorage.LayerData`: schema 2.1, layers topmost first, each with the
//! GUID vmcompute's `NameToGuid` gives its folder's name, as hcsshim's `wclayer.LayerID`),
//! which [`layer_data`] builds (pure). A base layer (no parents) is set up with
//! `ProcessBaseImage` once imported, as hcsshim's base-layer writer does.
//!
//! The calls block (HCS does the copy/setup before returning): callers run them on a
//! blocking thread.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::HResult;
use crate::ffi::storage::{StorageLibrary, DEFAULT_STORAGE_LIBRARY};
use crate::ffi::LoadError;
use crate::schema::{Layer, Version};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    NotAvailable(#[from] LoadError),
    #[error("{call} {path}: {hresult}")]
    Call {
        call: &'static str,
        path: String,
        hresult: HResult,
    },
}

/// The `LayerData` document of the storage calls.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LayerData {
    schema_version: Version,
    layers: Vec<Layer>,
}

/// `LayerData` for `parents` (folder and layer GUID), topmost first (the order of
/// `windows.layerFolders`).
pub fn layer_data(parents: &[(PathBuf, String)]) -> String {
    let doc = LayerData {
        schema_version: Version::V2_1,
        layers: parents
            .iter()
            .map(|(p, id)| Layer {
                id: id.clone(),
                path: p.display().to_string(),
                path_type: String::new(),
            })
            .collect(),
    };
    // A struct of strings always serialises.
    serde_json::to_string(&doc).unwrap_or_default()
}

pub struct Storage {
    lib: StorageLibrary,
}

impl Storage {
    /// Loads `library` (the `--hcs-library`, which then also provides the storage
    /// functions), else computestorage.dll on Windows.
    pub fn load(library: Option<&Path>) -> Result<Self, LoadError> {
        let path = match library {
            Some(p) => p,
            None if cfg!(windows) => Path::new(DEFAULT_STORAGE_LIBRARY),
            None => return Err(LoadError::Unsupported(
                "computestorage.dll exists only on Windows; pass an HCS library with --hcs-library"
                    .into(),
            )),
        };
        Ok(Self {
            lib: StorageLibrary::load(path)?,
        })
    }

    pub fn library_path(&self) -> &Path {
        self.lib.path()
    }

    /// A layer folder's ID: vmcompute's `NameToGuid` of its name (hcsshim's
    /// `wclayer.LayerID`).
    pub fn layer_id(&self, folder: &Path) -> Result<String, StorageError> {
        self.lib
            .name_to_guid(&folder_name(folder))
            .map(|g| g.to_string())
            .map_err(|hresult| StorageError::Call {
                call: "NameToGuid",
                path: folder.display().to_string(),
                hresult,
            })
    }

    fn with_ids(&self, parents: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, StorageError> {
        parents
            .iter()
            .map(|p| Ok((p.clone(), self.layer_id(p)?)))
            .collect()
    }

    /// Imports the unpacked layer in `source` (its `Files/`, `Hives/`… as in the layer tar)
    /// as the layer folder `layer`, on top of `parents` (topmost first).
    pub fn import_layer(
        &self,
        layer: &Path,
        source: &Path,
        parents: &[PathBuf],
    ) -> Result<(), StorageError> {
        let path = layer.display().to_string();
        let data = layer_data(&self.with_ids(parents)?);
        check(
            "HcsImportLayer",
            &path,
            self.lib
                .import_layer(&path, &source.display().to_string(), &data),
        )?;
        if parents.is_empty() {
            check(
                "ProcessBaseImage",
                &path,
                self.lib.process_base_image(&path),
            )?;
        }
        Ok(())
    }

    /// Creates the writable layer `layer` of a container whose image layers are `parents`.
    pub fn initialize_writable_layer(
        &self,
        layer: &Path,
        parents: &[PathBuf],
    ) -> Result<(), StorageError> {
        let path = layer.display().to_string();
        let data = layer_data(&self.with_ids(parents)?);
        check(
            "HcsInitializeWritableLayer",
            &path,
            self.lib.initialize_writable_layer(&path, &data),
        )
    }

    /// Mounts a container's writable layer on its image layers (`parents`, topmost first)
    /// and returns the volume path HCS wants as the container's storage (`root.path`,
    /// `\\?\Volume{GUID}\`), as the windowsfilter graph driver does at start.
    pub fn mount(&self, layer: &Path, parents: &[PathBuf]) -> Result<String, StorageError> {
        let (home, id) = home_and_id(layer);
        let ids = parents
            .iter()
            .map(|p| {
                let g = self.lib.name_to_guid(&folder_name(p)).map_err(|hresult| {
                    StorageError::Call {
                        call: "NameToGuid",
                        path: p.display().to_string(),
                        hresult,
                    }
                })?;
                Ok((p.display().to_string(), g))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.lib
            .mount_layer(&home, &id, &ids)
            .map_err(|(call, hresult)| StorageError::Call {
                call,
                path: layer.display().to_string(),
                hresult,
            })
    }

    /// Undoes [`Self::mount`].
    pub fn unmount(&self, layer: &Path) -> Result<(), StorageError> {
        let (home, id) = home_and_id(layer);
        self.lib
            .unmount_layer(&home, &id)
            .map_err(|(call, hresult)| StorageError::Call {
                call,
                path: layer.display().to_string(),
                hresult,
            })
    }

    pub fn destroy_layer(&self, layer: &Path) -> Result<(), StorageError> {
        let path = layer.display().to_string();
        check("HcsDestroyLayer", &path, self.lib.destroy_layer(&path))
    }
}

fn folder_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The graph driver's view of a layer folder: its home (the parent directory) and its id
/// (the folder's name).
fn home_and_id(layer: &Path) -> (String, String) {
    let home = layer
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    (home, folder_name(layer))
}

fn check(call: &'static str, path: &str, hresult: HResult) -> Result<(), StorageError> {
    if hresult.0 < 0 {
        return Err(StorageError::Call {
            call,
            path: path.to_string(),
            hresult,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_data_names_parents_topmost_first_with_folder_guids() {
        let doc: serde_json::Value = serde_json::from_str(&layer_data(&[
            (PathBuf::from(r"C:\wf\top"), "id-top".into()),
            (PathBuf::from(r"C:\wf\base"), "id-base".into()),
        ]))
        .unwrap();
        assert_eq!(
            doc["SchemaVersion"],
            serde_json::json!({"Major": 2, "Minor": 1})
        );
        let layers = doc["Layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0]["Path"], r"C:\wf\top");
        assert_eq!(layers[0]["Id"], "id-top");
        assert_eq!(layers[1]["Id"], "id-base");
        assert_eq!(
            layer_data(&[]),
            r#"{"SchemaVersion":{"Major":2,"Minor":1},"Layers":[]}"#
        );
    }
}
