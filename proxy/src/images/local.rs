//! The image store of an HCS-only daemon (no containerd): what containerd's content store,
//! image records and snapshots hold for [`super::ImageStore`], kept under the data root.
//!
//! - `image-store/state.json`: the image records (name → manifest descriptor, labels), the
//!   labels of blobs (the config's layer sizes), and each container's writable layer with the
//!   image layers under it; written whole (temporary file + rename) after every change.
//! - `image-store/blobs/sha256/<hex>`: manifests, configs and layer blobs, as loaded.
//! - `windowsfilter/<chain ID hex>`: each image layer, imported through HCS
//!   (`HcsImportLayer`, on top of its parent layers), and `windowsfilter/<container ID>`:
//!   a container's writable layer (`HcsInitializeWritableLayer`). These are the folders the
//!   runtime spec's `windows.layerFolders` names.
//!
//! The naming rules (records, placeholders, tags, conflicts) are [`super::ImageStore`]'s own:
//! only the storage differs. Garbage collection follows containerd's: a blob or layer no
//! image record (nor container) reaches any more is deleted with the last image using it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use containerd_client::types::Descriptor;
use serde::{Deserialize, Serialize};

use super::error::{io, ImagesError, Result};
use super::load::{ArchiveImage, Blob, BlobSource};
use super::{chain_ids, ImageRecord, RawRecord, LABEL_LAYER_SIZES};

/// What `docker info` calls the storage driver, as dockerd on Windows.
pub const DRIVER: &str = "windowsfilter";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRecord {
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    labels: HashMap<String, String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    records: BTreeMap<String, StoredRecord>,
    #[serde(default)]
    blob_labels: BTreeMap<String, HashMap<String, String>>,
    /// Container ID → the chain IDs of the image layers under its writable layer.
    #[serde(default)]
    scratch: BTreeMap<String, Vec<String>>,
}

pub struct LocalStore {
    root: PathBuf,
    layers: PathBuf,
    storage: Arc<hcs::storage::Storage>,
    state: Mutex<State>,
    /// Container ID → the volume path of its mounted writable layer (mounted at its first
    /// start in this daemon's life, unmounted when the layer is destroyed).
    mounts: Mutex<HashMap<String, String>>,
}

/// The folder of a layer by chain ID (`sha256:<hex>` → `<hex>`) or container ID.
pub fn layer_folder(layers: &Path, name: &str) -> PathBuf {
    layers.join(name.strip_prefix("sha256:").unwrap_or(name))
}

/// The parent folders of the layer above `chains` (bottom first), topmost first: the order
/// of `windows.layerFolders` and of HCS's `LayerData`.
pub fn parents_topmost_first(layers: &Path, chains: &[String]) -> Vec<PathBuf> {
    chains
        .iter()
        .rev()
        .map(|c| layer_folder(layers, c))
        .collect()
}

/// Blobs and layers (chain IDs) that `kept` images and `scratch` layers still reach.
fn reachable(
    kept: &[ImageRecord],
    scratch: &BTreeMap<String, Vec<String>>,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut blobs = BTreeSet::new();
    let mut chains: BTreeSet<String> = scratch.values().flatten().cloned().collect();
    for img in kept {
        blobs.insert(img.target.digest.clone());
        blobs.insert(img.id.clone());
        blobs.extend(img.layers.iter().map(|l| l.digest.clone()));
        chains.extend(img.chain_ids.iter().cloned());
    }
    (blobs, chains)
}

fn blocking_failed(e: tokio::task::JoinError) -> ImagesError {
    ImagesError::Internal(format!("layer storage task failed: {e}"))
}

impl LocalStore {
    /// Opens (or creates) the store under `data_root`.
    pub fn open(data_root: &Path, storage: Arc<hcs::storage::Storage>) -> Result<Self> {
        let root = data_root.join("image-store");
        let layers = data_root.join(DRIVER);
        for dir in [root.join("blobs/sha256"), layers.clone()] {
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        let path = root.join("state.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ImagesError::Corrupt {
                what: path.display().to_string(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        Ok(Self {
            root,
            layers,
            storage,
            state: Mutex::new(state),
            mounts: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, state: &State) -> Result<()> {
        let path = self.root.join("state.json");
        let tmp = self.root.join("state.json.tmp");
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| ImagesError::Internal(format!("encoding the image store state: {e}")))?;
        std::fs::write(&tmp, bytes).map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io(format!("writing {}", path.display())))
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| ImagesError::InvalidArgument(format!("invalid digest {digest:?}")))?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    // ---- records and blobs (what ImageStore asks containerd for otherwise) ----

    pub(super) fn records(&self) -> Vec<RawRecord> {
        self.lock()
            .records
            .iter()
            .map(|(name, r)| RawRecord {
                name: name.clone(),
                target: descriptor(r),
                labels: r.labels.clone(),
            })
            .collect()
    }

    pub(super) fn record(&self, name: &str) -> Option<Descriptor> {
        self.lock().records.get(name).map(descriptor)
    }

    /// Creates or repoints a record; labels given replace those of the same key.
    pub(super) fn put_record(
        &self,
        name: &str,
        target: &Descriptor,
        labels: HashMap<String, String>,
    ) -> Result<()> {
        let mut st = self.lock();
        let mut merged = st
            .records
            .get(name)
            .map(|r| r.labels.clone())
            .unwrap_or_default();
        merged.extend(labels);
        st.records.insert(
            name.to_string(),
            StoredRecord {
                media_type: target.media_type.clone(),
                digest: target.digest.clone(),
                size: target.size,
                labels: merged,
            },
        );
        self.save(&st)
    }

    pub(super) fn delete_record(&self, name: &str) -> Result<()> {
        let mut st = self.lock();
        if st.records.remove(name).is_some() {
            self.save(&st)?;
        }
        Ok(())
    }

    pub(super) fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ImagesError::NotFound(digest.to_string()),
            _ => io(format!("reading {}", path.display()))(e),
        })
    }

    pub(super) fn labels(&self, digest: &str) -> Option<HashMap<String, String>> {
        self.lock().blob_labels.get(digest).cloned()
    }

    fn write_blob(&self, blob: &Blob) -> Result<()> {
        let path = self.blob_path(&blob.digest)?;
        if path.exists() {
            return Ok(());
        }
        let tmp = path.with_extension("tmp");
        match &blob.source {
            BlobSource::File(src) => std::fs::copy(src, &tmp).map(|_| ()),
            BlobSource::Bytes(b) => std::fs::write(&tmp, b),
        }
        .map_err(io(format!("storing blob {}", blob.digest)))?;
        std::fs::rename(&tmp, &path).map_err(io(format!("storing blob {}", blob.digest)))
    }

    // ---- load ----

    /// Stores one verified archive image: its blobs, its layer sizes, and its layers
    /// imported through HCS (bottom first, each on its parents; layers already there are
    /// shared). Names are given by the caller afterwards.
    pub(super) async fn store(&self, img: &ArchiveImage) -> Result<()> {
        for layer in &img.layers {
            self.write_blob(&layer.blob)?;
        }
        self.write_blob(&img.config)?;
        self.write_blob(&img.manifest)?;
        let diff_ids: Vec<String> = img.layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = chain_ids(&diff_ids);
        for (i, (layer, chain)) in img.layers.iter().zip(&chains).enumerate() {
            let target = layer_folder(&self.layers, chain);
            if target.is_dir() {
                continue;
            }
            let parents = parents_topmost_first(&self.layers, &chains[..i]);
            let blob = layer.blob.clone();
            let staging = self
                .root
                .join(format!("import-{}", &chain[7..19.min(chain.len())]));
            let storage = self.storage.clone();
            tokio::task::spawn_blocking(move || {
                import_one(&storage, &blob, &staging, &target, &parents)
            })
            .await
            .map_err(blocking_failed)??;
        }
        let sizes: Vec<String> = img
            .layers
            .iter()
            .map(|l| l.unpacked_size.to_string())
            .collect();
        let mut st = self.lock();
        st.blob_labels
            .entry(img.config.digest.clone())
            .or_default()
            .insert(LABEL_LAYER_SIZES.to_string(), sizes.join(","));
        self.save(&st)
    }

    // ---- containers' writable layers ----

    pub(super) async fn prepare_scratch(
        &self,
        container_id: &str,
        chains: &[String],
    ) -> Result<()> {
        let target = layer_folder(&self.layers, container_id);
        let parents = parents_topmost_first(&self.layers, chains);
        let storage = self.storage.clone();
        tokio::task::spawn_blocking(move || storage.initialize_writable_layer(&target, &parents))
            .await
            .map_err(blocking_failed)?
            .map_err(|e| ImagesError::Layers(e.to_string()))?;
        let mut st = self.lock();
        st.scratch.insert(container_id.to_string(), chains.to_vec());
        self.save(&st)
    }

    /// The volume path of the container's writable layer (`root.path`, what HCS takes as
    /// the container's storage), mounting it on its image layers the first time, as the
    /// windowsfilter graph driver does (`ActivateLayer`, `PrepareLayer`,
    /// `GetLayerMountPath`).
    pub(super) async fn root_path(&self, container_id: &str) -> Result<Option<String>> {
        if let Some(p) = self.mounts_lock().get(container_id) {
            return Ok(Some(p.clone()));
        }
        let Some(chains) = self.lock().scratch.get(container_id).cloned() else {
            return Ok(None);
        };
        let target = layer_folder(&self.layers, container_id);
        let parents = parents_topmost_first(&self.layers, &chains);
        let storage = self.storage.clone();
        let path = tokio::task::spawn_blocking(move || storage.mount(&target, &parents))
            .await
            .map_err(blocking_failed)?
            .map_err(|e| ImagesError::Layers(e.to_string()))?;
        self.mounts_lock()
            .insert(container_id.to_string(), path.clone());
        Ok(Some(path))
    }

    fn mounts_lock(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.mounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) async fn remove_scratch(&self, container_id: &str) -> Result<()> {
        let target = layer_folder(&self.layers, container_id);
        if self.mounts_lock().remove(container_id).is_some() {
            let storage = self.storage.clone();
            let t = target.clone();
            tokio::task::spawn_blocking(move || storage.unmount(&t))
                .await
                .map_err(blocking_failed)?
                .map_err(|e| ImagesError::Layers(e.to_string()))?;
        }
        if target.exists() {
            let storage = self.storage.clone();
            tokio::task::spawn_blocking(move || storage.destroy_layer(&target))
                .await
                .map_err(blocking_failed)?
                .map_err(|e| ImagesError::Layers(e.to_string()))?;
        }
        let mut st = self.lock();
        if st.scratch.remove(container_id).is_some() {
            self.save(&st)?;
        }
        Ok(())
    }

    // ---- garbage collection ----

    /// Deletes the blobs and layers that neither `kept` images nor containers reach any
    /// more; returns the chain IDs of `deleted_chains` (the removed image's, bottom first)
    /// whose layers went, top first, as dockerd reports them.
    pub(super) async fn collect_garbage(
        &self,
        kept: &[ImageRecord],
        deleted_chains: &[String],
    ) -> Result<Vec<String>> {
        let (blobs, chains) = {
            let st = self.lock();
            reachable(kept, &st.scratch)
        };
        let dir = self.root.join("blobs/sha256");
        let entries = std::fs::read_dir(&dir).map_err(io(format!("reading {}", dir.display())))?;
        for e in entries.flatten() {
            let digest = format!("sha256:{}", e.file_name().to_string_lossy());
            if !blobs.contains(&digest) {
                let _ = std::fs::remove_file(e.path());
                self.lock().blob_labels.remove(&digest);
            }
        }
        let mut gone = Vec::new();
        // Top first: HCS destroys a layer only once nothing is stacked on it.
        for chain in deleted_chains.iter().rev().filter(|c| !chains.contains(*c)) {
            let target = layer_folder(&self.layers, chain);
            let storage = self.storage.clone();
            tokio::task::spawn_blocking(move || storage.destroy_layer(&target))
                .await
                .map_err(blocking_failed)?
                .map_err(|e| ImagesError::Layers(e.to_string()))?;
            gone.push(chain.clone());
        }
        let st = self.lock();
        self.save(&st)?;
        Ok(gone)
    }
}

/// Unpacks one layer blob into `staging` and imports it as `target` on `parents`; the
/// staging folder goes either way, and a failed import leaves no layer folder behind.
fn import_one(
    storage: &hcs::storage::Storage,
    blob: &Blob,
    staging: &Path,
    target: &Path,
    parents: &[PathBuf],
) -> Result<()> {
    let _ = std::fs::remove_dir_all(staging);
    let result = (|| {
        std::fs::create_dir_all(staging).map_err(io(format!("creating {}", staging.display())))?;
        let what = format!("layer {}", blob.digest);
        let src: Box<dyn Read> = match &blob.source {
            BlobSource::File(p) => {
                Box::new(std::fs::File::open(p).map_err(io(format!("opening {what}")))?)
            }
            BlobSource::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
        };
        let tar = super::load::decompressed(src, &what)?;
        tar::Archive::new(tar)
            .unpack(staging)
            .map_err(|e| ImagesError::InvalidArchive(format!("{what}: {e}")))?;
        storage
            .import_layer(target, staging, parents)
            .map_err(|e| ImagesError::Layers(e.to_string()))
    })();
    let _ = std::fs::remove_dir_all(staging);
    if result.is_err() && target.exists() {
        let _ = storage.destroy_layer(target);
    }
    result
}

fn descriptor(r: &StoredRecord) -> Descriptor {
    Descriptor {
        media_type: r.media_type.clone(),
        digest: r.digest.clone(),
        size: r.size,
        annotations: HashMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_folders_are_chain_ids_topmost_first() {
        let root = Path::new("/d/windowsfilter");
        let chains = vec!["sha256:aaa".to_string(), "sha256:bbb".to_string()];
        assert_eq!(
            parents_topmost_first(root, &chains),
            [root.join("bbb"), root.join("aaa")]
        );
        assert_eq!(layer_folder(root, "c0ffee"), root.join("c0ffee"));
        assert!(parents_topmost_first(root, &[]).is_empty());
    }

    #[test]
    fn garbage_is_what_no_image_or_container_reaches() {
        let img = ImageRecord {
            id: "sha256:cfg".into(),
            target: Descriptor {
                digest: "sha256:man".into(),
                ..Default::default()
            },
            layers: vec![Descriptor {
                digest: "sha256:blob1".into(),
                ..Default::default()
            }],
            chain_ids: vec!["sha256:c1".into()],
            ..Default::default()
        };
        let scratch = BTreeMap::from([("ctr".to_string(), vec!["sha256:c9".to_string()])]);
        let (blobs, chains) = reachable(&[img], &scratch);
        assert_eq!(
            blobs.into_iter().collect::<Vec<_>>(),
            ["sha256:blob1", "sha256:cfg", "sha256:man"]
        );
        assert_eq!(
            chains.into_iter().collect::<Vec<_>>(),
            ["sha256:c1", "sha256:c9"]
        );
    }
}
