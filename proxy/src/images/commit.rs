//! A new image from an existing one plus one layer tar (`docker commit`), stored exactly as
//! `docker load` stores images: the parent's blobs are shared, the new layer and config
//! are written under a lease, a Docker schema 2 manifest is synthesised and the layers are
//! unpacked into snapshots.

use std::path::Path;

use spec::image::{ImageConfigFile, RootFs};
use tokio::sync::mpsc;

use super::ingest::Lease;
use super::load::{self, ArchiveImage, Blob, BlobSource, Layer, SpooledFile};
use super::{ImageRecord, ImageStore, ImagesError, Result};

impl ImageStore {
    /// Stores `config` as a new image whose layers are `parent`'s (if any) and then the
    /// uncompressed tar at `layer_tar`. `config.rootfs` is set here. Returns the image ID.
    pub async fn create_from_layer(
        &self,
        parent: Option<&ImageRecord>,
        layer_tar: &Path,
        config: ImageConfigFile,
    ) -> Result<String> {
        self.create_image(parent, Some(layer_tar), config).await
    }

    /// Like [`Self::create_from_layer`]; without a layer the image has `parent`'s layers
    /// only (a builder step that changed only the config).
    pub async fn create_image(
        &self,
        parent: Option<&ImageRecord>,
        layer_tar: Option<&Path>,
        mut config: ImageConfigFile,
    ) -> Result<String> {
        let new_layer = match layer_tar {
            Some(p) => Some(self.new_layer(p).await?),
            None => None,
        };
        let mut layers = Vec::new();
        if let Some(p) = parent {
            for i in 0..p.layers.len() {
                layers.push(stored_layer(p, i));
            }
        }
        layers.extend(new_layer);
        self.store_new_image(layers, &mut config).await
    }

    /// Like [`Self::create_image`], the new layer being layer `index` of `from`, which
    /// is stored already (the builder's `--cache-from` restoring a step).
    pub async fn create_image_reusing(
        &self,
        parent: Option<&ImageRecord>,
        from: &ImageRecord,
        index: Option<usize>,
        mut config: ImageConfigFile,
    ) -> Result<String> {
        let mut layers = Vec::new();
        if let Some(p) = parent {
            for i in 0..p.layers.len() {
                layers.push(stored_layer(p, i));
            }
        }
        if let Some(i) = index.filter(|i| *i < from.layers.len()) {
            layers.push(stored_layer(from, i));
        }
        self.store_new_image(layers, &mut config).await
    }

    async fn new_layer(&self, layer_tar: &Path) -> Result<Layer> {
        let path = layer_tar.to_path_buf();
        let (diff_id, unpacked, size) = tokio::task::spawn_blocking(move || {
            let size = std::fs::metadata(&path)
                .map_err(|e| ImagesError::Internal(format!("layer {}: {e}", path.display())))?
                .len();
            let file = SpooledFile {
                path,
                digest: String::new(),
                size,
                gzip: false,
                zstd: false,
            };
            let d = load::inspect_layer(&file, "the new layer")?;
            Ok::<_, ImagesError>((d.diff_id, d.unpacked_size, size))
        })
        .await
        .map_err(|e| ImagesError::Internal(format!("hashing the new layer: {e}")))??;

        Ok(Layer {
            blob: Blob {
                media_type: load::MEDIA_DOCKER_LAYER.to_string(),
                // An uncompressed layer's digest is its diff ID.
                digest: diff_id.clone(),
                size,
                source: BlobSource::File(layer_tar.to_path_buf()),
            },
            diff_id,
            unpacked_size: unpacked,
            tar_size: size,
        })
    }

    async fn store_new_image(
        &self,
        layers: Vec<Layer>,
        config: &mut ImageConfigFile,
    ) -> Result<String> {
        config.rootfs = Some(RootFs {
            kind: "layers".into(),
            diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
        });
        let bytes = serde_json::to_vec(&config).map_err(|source| ImagesError::Corrupt {
            what: "encoding the new image config".into(),
            source,
        })?;
        let config_blob = Blob {
            media_type: load::MEDIA_DOCKER_CONFIG.to_string(),
            digest: load::sha256_digest(&bytes),
            size: bytes.len() as u64,
            source: BlobSource::Bytes(bytes),
        };
        let manifest = load::synthesize_manifest(&config_blob, &layers)?;
        let img = ArchiveImage {
            names: Vec::new(),
            manifest,
            config: config_blob,
            config_file: config.clone(),
            layers,
        };
        let lease = Lease::create(self.cd()?, "commit").await?;
        // Progress lines are `docker load`'s; nobody reads them here.
        let (tx, _rx) = mpsc::channel(16);
        let result = self
            .store_images(Some(&lease), std::slice::from_ref(&img), &tx)
            .await;
        lease.release().await;
        result?;
        Ok(img.id().to_string())
    }
}

/// Layer `i` of an image, as stored already: writing it only adds it to the lease.
fn stored_layer(p: &ImageRecord, i: usize) -> Layer {
    let desc = &p.layers[i];
    Layer {
        blob: Blob {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: u64::try_from(desc.size).unwrap_or(0),
            source: BlobSource::Bytes(Vec::new()),
        },
        diff_id: p.diff_ids.get(i).cloned().unwrap_or_default(),
        unpacked_size: p
            .layer_sizes
            .get(i)
            .and_then(|s| u64::try_from(*s).ok())
            .unwrap_or(0),
        // Stored already, with its label: see `store_one`.
        tar_size: 0,
    }
}
