//! The image store, on containerd's content store, image records and snapshots.
//!
//! containerd 1.6 has no Transfer service, so an image is loaded the way moby's containerd
//! image store and containerd's own importer do it: blobs go into the content store under a
//! lease, an image record (name → manifest descriptor) is created per name, and the layers
//! are unpacked into committed snapshots named by chain ID. What keeps all that alive once
//! the lease is gone is containerd's GC graph: image record → manifest →
//! (`containerd.io/gc.ref.content.config`, `….l.<n>`) config and layers, and config →
//! (`containerd.io/gc.ref.snapshot.<snapshotter>`) top snapshot → its parents.
//!
//! Docker's model is one image (ID = config digest) with any number of names; containerd's
//! is one record per name. An image with no name at all (loaded untagged, or whose last tag
//! moved to another image) keeps a placeholder record `dockbridge-dangling@<manifest>`, as
//! moby's containerd store does with `moby-dangling@…`; that name never parses as a Docker
//! reference (it has no domain), so it cannot clash with a tag.

mod commit;
mod error;
pub mod filters;
mod gojson;
pub mod import;
mod index;
mod ingest;
pub mod load;
pub mod local;
pub mod models;
pub mod pull;
mod push;
pub mod save;
mod unpack;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use containerd_client::services::v1::snapshots::{MountsRequest, PrepareSnapshotRequest};
use containerd_client::services::v1::{
    CreateImageRequest, CreateNamespaceRequest, DeleteImageRequest, GetImageRequest, Image,
    ListImagesRequest, Namespace, UpdateImageRequest,
};
use containerd_client::types::{Descriptor, Mount};
use spec::image::ImageConfigFile;
use spec::reference::{self, AnyReference, Reference};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

use crate::containerd::Containerd;
pub use error::{ImagesError, Result};
pub use filters::{Filters, TimeBounds};
use ingest::Lease;
use load::{ArchiveImage, Blob};
pub use models::{history, history_with_parents, inspect, inspect_json, summary, summary_json};
pub use unpack::chain_ids;

/// Record name prefix of an image that has no Docker name (see the module docs).
const DANGLING_PREFIX: &str = "dockbridge-dangling@";
/// On a config blob: the unpacked size of each layer, comma-separated, bottom first.
const LABEL_LAYER_SIZES: &str = "dockbridge.io/layer-sizes";
/// On a compressed layer blob: the length of its uncompressed tar, so that `docker save`
/// can write the tar header before decompressing the layer.
const LABEL_TAR_SIZE: &str = "dockbridge.io/uncompressed-size";
/// On an image record made by `docker tag`: when (Docker's `Metadata.LastTagTime`).
const LABEL_TAGGED_AT: &str = "dockbridge.io/tagged-at";
const LABEL_UNCOMPRESSED: &str = "containerd.io/uncompressed";
const LABEL_GC_ROOT: &str = "containerd.io/gc.root";
const GC_REF_CONFIG: &str = "containerd.io/gc.ref.content.config";
const GC_REF_LAYER: &str = "containerd.io/gc.ref.content.l.";
const GC_REF_SNAPSHOT: &str = "containerd.io/gc.ref.snapshot.";

/// One image as Docker sees it: a config, with every name that points at it.
#[derive(Debug, Clone, Default)]
pub struct ImageRecord {
    /// `sha256:<config digest>`.
    pub id: String,
    /// Familiar `repo:tag` names (`busybox:latest`), sorted by full name as dockerd does.
    pub repo_tags: Vec<String>,
    /// Familiar `repo@digest` names.
    pub repo_digests: Vec<String>,
    /// The full names behind `repo_tags`, in the same order.
    pub tag_names: Vec<String>,
    /// The full names behind `repo_digests`, in the same order.
    pub digest_names: Vec<String>,
    /// Every containerd image record of this image, placeholders included.
    pub records: Vec<String>,
    /// The manifest the (first) record points at.
    pub target: Descriptor,
    /// Shared with the manifest cache: listings copy records, never configs.
    pub config: Arc<ImageConfigFile>,
    /// `created` of the config, as written there.
    pub created: Option<String>,
    /// The same, in Unix nanoseconds (0 when absent or unparsable).
    pub created_nanos: i128,
    /// What dockerd reports as the image size: the unpacked size of all its layers (sum of
    /// file sizes and symlink lengths, dockerd's overlay2 `directory.Size`).
    pub size: i64,
    /// Per layer, bottom first; aligned with `diff_ids` and `chain_ids`.
    pub layer_sizes: Vec<i64>,
    pub diff_ids: Vec<String>,
    pub chain_ids: Vec<String>,
    /// The layer blobs of the manifest, bottom first.
    pub layers: Vec<Descriptor>,
    /// The config's labels (`Config.Labels`).
    pub labels: HashMap<String, String>,
    /// No tag: `<none>:<none>` in `docker images`, and what `dangling=true` lists.
    pub dangling: bool,
    /// When `docker tag` last named it (RFC 3339), if ever.
    pub last_tag_time: Option<String>,
}

impl ImageRecord {
    pub fn top_chain_id(&self) -> Option<&str> {
        self.chain_ids.last().map(String::as_str)
    }

    /// The 12-character ID the CLI shows.
    pub fn short_id(&self) -> &str {
        truncate_id(&self.id)
    }
}

/// `stringid.TruncateID`: no algorithm, 12 characters.
pub fn truncate_id(id: &str) -> &str {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    hex.get(..12).unwrap_or(hex)
}

/// What one `docker load` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: String,
    /// Familiar names given to it (`busybox:latest`).
    pub names: Vec<String>,
}

/// One line of `docker rmi` / prune output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

/// A container that uses an image, for the delete conflicts.
#[derive(Debug, Clone)]
pub struct ImageUser {
    pub container_id: String,
    pub running: bool,
}

/// Who uses an image (by image ID): the container manager answers.
pub type UsersOf<'a> = &'a (dyn Fn(&str) -> Vec<ImageUser> + Sync);

/// What a manifest resolves to; immutable, so cached by manifest digest.
#[derive(Debug)]
struct Meta {
    config_digest: String,
    config: Arc<ImageConfigFile>,
    diff_ids: Vec<String>,
    chain_ids: Vec<String>,
    layers: Vec<Descriptor>,
    layer_sizes: Vec<i64>,
    created_nanos: i128,
}

/// A containerd image record.
#[derive(Debug, Clone)]
struct RawRecord {
    name: String,
    target: Descriptor,
    labels: HashMap<String, String>,
}

pub struct ImageStore {
    /// `None` in an HCS-only daemon, whose images live in [`local`] instead.
    cd: Option<Containerd>,
    local: Option<local::LocalStore>,
    snapshotter: String,
    spool_dir: PathBuf,
    meta: Mutex<HashMap<String, Arc<Meta>>>,
    /// Serialises changes to names, so that "was this its last name?" stays true while
    /// acting on it (moving tags, placeholders, deletes).
    names: tokio::sync::Mutex<()>,
    /// Layer downloads in flight, shared by concurrent pulls.
    downloads: Arc<pull::Downloads>,
    /// The last listing, dropped when a record changes.
    listing: Arc<index::ListCache>,
}

impl ImageStore {
    /// Opens the store on `cd`'s namespace (created if missing). Archives being loaded are
    /// spooled under `spool_dir`.
    pub async fn new(cd: Containerd, snapshotter: &str, spool_dir: PathBuf) -> Result<Self> {
        let created = cd
            .namespaces()
            .create(CreateNamespaceRequest {
                namespace: Some(Namespace {
                    name: cd.namespace().to_string(),
                    labels: HashMap::new(),
                }),
            })
            .await;
        match created {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::AlreadyExists => {}
            Err(s) => {
                return Err(error::grpc(format!(
                    "creating namespace {}",
                    cd.namespace()
                ))(s))
            }
        }
        std::fs::create_dir_all(&spool_dir)
            .map_err(error::io(format!("creating {}", spool_dir.display())))?;
        let listing = Arc::new(index::ListCache::default());
        tokio::spawn(index::follow_events(cd.clone(), Arc::downgrade(&listing)));
        Ok(Self {
            cd: Some(cd),
            local: None,
            snapshotter: snapshotter.to_string(),
            spool_dir,
            meta: Mutex::new(HashMap::new()),
            names: tokio::sync::Mutex::new(()),
            downloads: Arc::default(),
            listing,
        })
    }

    /// The store of an HCS-only daemon: records, blobs and layers under the data root
    /// (see [`local`]), layers imported through HCS's storage calls.
    pub fn local(store: local::LocalStore, spool_dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&spool_dir)
            .map_err(error::io(format!("creating {}", spool_dir.display())))?;
        Ok(Self {
            cd: None,
            local: Some(store),
            snapshotter: local::DRIVER.to_string(),
            spool_dir,
            meta: Mutex::new(HashMap::new()),
            names: tokio::sync::Mutex::new(()),
            downloads: Arc::default(),
            // Only this daemon writes the local store: record writes alone invalidate.
            listing: Arc::default(),
        })
    }

    /// containerd, for what only it provides (pull, push, save, import, commit, build, Linux
    /// root filesystems); a clear 501 in an HCS-only daemon.
    fn cd(&self) -> Result<&Containerd> {
        self.cd.as_ref().ok_or(ImagesError::NeedsContainerd)
    }

    pub fn snapshotter(&self) -> &str {
        &self.snapshotter
    }

    /// A Windows container's writable layer over its image's layers (HCS-only daemon); with
    /// containerd the layers are named in the spec only.
    pub async fn prepare_windows_scratch(&self, image_id: &str, container_id: &str) -> Result<()> {
        let Some(local) = &self.local else {
            return Ok(());
        };
        let rec = self.resolve(image_id).await?;
        local.prepare_scratch(container_id, &rec.chain_ids).await
    }

    /// The mounted volume of a Windows container's writable layer (`root.path`), where this
    /// store keeps the layers (HCS-only); `None` elsewhere.
    pub async fn windows_root_path(&self, container_id: &str) -> Result<Option<String>> {
        match &self.local {
            Some(local) => local.root_path(container_id).await,
            None => Ok(None),
        }
    }

    /// Destroys what [`Self::prepare_windows_scratch`] created; a missing layer is fine.
    pub async fn remove_windows_scratch(&self, container_id: &str) -> Result<()> {
        match &self.local {
            Some(local) => local.remove_scratch(container_id).await,
            None => Ok(()),
        }
    }

    // ---- load ----------------------------------------------------------------------------

    /// `docker load`: reads a docker-archive or OCI-layout tar, stores and unpacks every
    /// image in it, names them, and reports each step on `progress` as the human lines
    /// dockerd prints (`Loaded image: busybox:latest`, `Loaded image ID: sha256:…`).
    /// Nothing is named before everything is verified and stored.
    pub async fn load<R>(&self, tar: R, progress: mpsc::Sender<String>) -> Result<Vec<LoadedImage>>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let bridge = tokio_util::io::SyncIoBridge::new(tar);
        let dir = self.spool_dir.clone();
        let (spool, images) = tokio::task::spawn_blocking(move || {
            let spool = load::spool(bridge, &dir)?;
            let images = load::parse(&spool)?;
            Ok::<_, ImagesError>((spool, images))
        })
        .await
        .map_err(|e| ImagesError::Internal(format!("reading the archive: {e}")))??;
        let result = if self.local.is_some() {
            self.store_images(None, &images, &progress).await
        } else {
            let lease = Lease::create(self.cd()?, "load").await?;
            let result = self.store_images(Some(&lease), &images, &progress).await;
            lease.release().await;
            result
        };
        // The spool (temporary files) goes only now: the blobs were read from it.
        drop(spool);
        result
    }

    async fn store_images(
        &self,
        lease: Option<&Lease>,
        images: &[ArchiveImage],
        progress: &mpsc::Sender<String>,
    ) -> Result<Vec<LoadedImage>> {
        // Store and unpack everything first, so that a failure names nothing.
        for img in images {
            match (&self.local, lease) {
                (Some(local), _) => local.store(img).await?,
                (None, Some(lease)) => self.store_one(lease, img).await?,
                (None, None) => return Err(ImagesError::NeedsContainerd),
            }
        }
        let _names = self.names.lock().await;
        let mut loaded = Vec::new();
        for img in images {
            let target = descriptor(&img.manifest);
            let mut names = Vec::new();
            for name in &img.names {
                if let Some(old) = self.set_name(name, &target, None).await? {
                    let _ = progress
                        .send(format!(
                            "The image {} already exists, renaming the old one with ID {old} to empty string",
                            name.familiar_string()
                        ))
                        .await;
                }
                let _ = progress
                    .send(format!("Loaded image: {}", name.familiar_string()))
                    .await;
                names.push(name.familiar_string());
            }
            if names.is_empty() {
                if self.records_of(img.id()).await?.is_empty() {
                    self.create_placeholder(&target).await?;
                }
                let _ = progress
                    .send(format!("Loaded image ID: {}", img.id()))
                    .await;
            } else {
                self.drop_placeholders(img.id()).await?;
            }
            loaded.push(LoadedImage {
                id: img.id().to_string(),
                names,
            });
        }
        Ok(loaded)
    }

    /// Blobs with their labels, then the snapshots, then the config's snapshot label.
    async fn store_one(&self, lease: &Lease, img: &ArchiveImage) -> Result<()> {
        let cd = self.cd()?;
        for layer in &img.layers {
            ingest::write_blob(cd, lease, &layer.blob).await?;
            let mut labels =
                BTreeMap::from([(LABEL_UNCOMPRESSED.to_string(), Some(layer.diff_id.clone()))]);
            // 0: a layer already stored (a commit's parent layers) keeps the label it has.
            if layer.blob.digest != layer.diff_id && layer.tar_size > 0 {
                labels.insert(LABEL_TAR_SIZE.to_string(), Some(layer.tar_size.to_string()));
            }
            ingest::update_labels(cd, &layer.blob.digest, &labels).await?;
        }
        ingest::write_blob(cd, lease, &img.config).await?;
        let sizes: Vec<String> = img
            .layers
            .iter()
            .map(|l| l.unpacked_size.to_string())
            .collect();
        let mut config_labels =
            BTreeMap::from([(LABEL_LAYER_SIZES.to_string(), Some(sizes.join(",")))]);
        ingest::write_blob(cd, lease, &img.manifest).await?;
        let mut manifest_labels =
            BTreeMap::from([(GC_REF_CONFIG.to_string(), Some(img.config.digest.clone()))]);
        for (i, layer) in img.layers.iter().enumerate() {
            manifest_labels.insert(
                format!("{GC_REF_LAYER}{i}"),
                Some(layer.blob.digest.clone()),
            );
        }
        ingest::update_labels(cd, &img.manifest.digest, &manifest_labels).await?;
        let to_apply: Vec<unpack::LayerToApply> = img
            .layers
            .iter()
            .map(|l| unpack::LayerToApply {
                blob: descriptor(&l.blob),
                diff_id: l.diff_id.clone(),
            })
            .collect();
        if let Some(top) = unpack::unpack(cd, &self.snapshotter, lease, &to_apply).await? {
            config_labels.insert(format!("{GC_REF_SNAPSHOT}{}", self.snapshotter), Some(top));
        }
        ingest::update_labels(cd, &img.config.digest, &config_labels).await
    }

    // ---- records -------------------------------------------------------------------------

    async fn raw_records(&self) -> Result<Vec<RawRecord>> {
        if let Some(local) = &self.local {
            return Ok(local.records());
        }
        let images = self
            .cd()?
            .images()
            .list(ListImagesRequest { filters: vec![] })
            .await
            .map_err(error::grpc("Images.List"))?
            .into_inner()
            .images;
        Ok(images
            .into_iter()
            .filter_map(|i| {
                Some(RawRecord {
                    target: i.target?,
                    name: i.name,
                    labels: i.labels,
                })
            })
            .collect())
    }

    /// What a manifest resolves to (cached: content is immutable).
    async fn meta(&self, target: &Descriptor) -> Result<Arc<Meta>> {
        if let Some(m) = self.lock_meta().get(&target.digest) {
            return Ok(m.clone());
        }
        let m = Arc::new(self.read_meta(target).await?);
        self.lock_meta().insert(target.digest.clone(), m.clone());
        Ok(m)
    }

    fn lock_meta(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Meta>>> {
        self.meta.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn read_meta(&self, target: &Descriptor) -> Result<Meta> {
        let manifest = self.read_manifest(target).await?;
        let config_bytes = self.read_blob(&manifest.config.digest).await?;
        let config: ImageConfigFile =
            serde_json::from_slice(&config_bytes).map_err(|source| ImagesError::Corrupt {
                what: format!("image config {}", manifest.config.digest),
                source,
            })?;
        let diff_ids = config.diff_ids().to_vec();
        let labels = match &self.local {
            Some(local) => local.labels(&manifest.config.digest),
            None => ingest::info(self.cd()?, &manifest.config.digest)
                .await?
                .map(|i| i.labels),
        };
        let from_label: Option<Vec<i64>> = labels
            .as_ref()
            .and_then(|l| l.get(LABEL_LAYER_SIZES))
            .and_then(|v| {
                if v.is_empty() {
                    return Some(Vec::new());
                }
                v.split(',').map(|n| n.parse().ok()).collect()
            });
        // Without our label (an image stored by another client), the blob sizes are the
        // closest thing at hand.
        let layer_sizes = from_label
            .filter(|s| s.len() == manifest.layers.len())
            .unwrap_or_else(|| manifest.layers.iter().map(|l| l.size).collect());
        let created_nanos = config
            .created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| filters::nanos(t.with_timezone(&chrono::Utc)))
            .unwrap_or(0);
        Ok(Meta {
            config_digest: manifest.config.digest.clone(),
            chain_ids: chain_ids(&diff_ids),
            diff_ids,
            layers: manifest
                .layers
                .iter()
                .map(ManifestDescriptor::to_descriptor)
                .collect(),
            layer_sizes,
            created_nanos,
            config: Arc::new(config),
        })
    }

    /// The manifest of a record target; an index is followed to this host's platform.
    async fn read_manifest(&self, target: &Descriptor) -> Result<ManifestDoc> {
        let mut digest = target.digest.clone();
        for _ in 0..4 {
            let bytes = self.read_blob(&digest).await?;
            let doc: ManifestOrIndex =
                serde_json::from_slice(&bytes).map_err(|source| ImagesError::Corrupt {
                    what: format!("manifest {digest}"),
                    source,
                })?;
            if let Some(config) = doc.config {
                return Ok(ManifestDoc {
                    config,
                    layers: doc.layers,
                });
            }
            let (os, arch) = load::host_platform();
            let next = doc
                .manifests
                .iter()
                .find(|m| {
                    m.platform
                        .as_ref()
                        .is_none_or(|p| p.os == os && p.architecture == arch)
                })
                .ok_or_else(|| ImagesError::NotFound(format!("{digest} for {os}/{arch}")))?;
            digest = next.digest.clone();
        }
        Err(ImagesError::Internal(format!(
            "manifest {}: indexes nested too deeply",
            target.digest
        )))
    }

    async fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        match &self.local {
            Some(local) => local.read_blob(digest),
            None => ingest::read_blob(self.cd()?, digest).await,
        }
    }

    /// Every image, one record per config, newest first (`docker images -a`, unfiltered).
    pub async fn list(&self) -> Result<Vec<ImageRecord>> {
        Ok(self.listing().await?.as_ref().clone())
    }

    /// [`list`](Self::list), shared: served from the image index while no record changed.
    pub async fn listing(&self) -> Result<Arc<Vec<ImageRecord>>> {
        let generation = match self.listing.get() {
            index::Lookup::Hit(l) => return Ok(l),
            index::Lookup::Miss(g) => g,
        };
        let built = Arc::new(self.build_listing().await?);
        self.listing.store(generation, built.clone());
        Ok(built)
    }

    async fn build_listing(&self) -> Result<Vec<ImageRecord>> {
        let raw = self.raw_records().await?;
        let mut by_config: BTreeMap<String, ImageRecord> = BTreeMap::new();
        for r in raw {
            let meta = match self.meta(&r.target).await {
                Ok(m) => m,
                Err(e) => {
                    // A record whose content is gone (deleted by another client) is not an
                    // image anyone can use; listing the others matters more.
                    tracing::warn!(image = %r.name, "skipping unreadable image record: {e}");
                    continue;
                }
            };
            let rec = by_config
                .entry(meta.config_digest.clone())
                .or_insert_with(|| record_from_meta(&meta, &r.target));
            rec.records.push(r.name.clone());
            if let Some(t) = r.labels.get(LABEL_TAGGED_AT) {
                if rec.last_tag_time.as_ref().is_none_or(|cur| cur < t) {
                    rec.last_tag_time = Some(t.clone());
                }
            }
            if r.name.starts_with(DANGLING_PREFIX) {
                continue;
            }
            let Ok(parsed) = reference::parse_normalized_named(&r.name) else {
                continue;
            };
            if parsed.digest().is_some() {
                rec.digest_names.push(parsed.to_string());
            } else if parsed.tag().is_some() {
                rec.tag_names.push(parsed.to_string());
            }
        }
        let mut out: Vec<ImageRecord> = by_config
            .into_values()
            .map(|mut rec| {
                rec.tag_names.sort();
                rec.digest_names.sort();
                rec.repo_tags = familiar(&rec.tag_names);
                rec.repo_digests = familiar(&rec.digest_names);
                rec.dangling = rec.repo_tags.is_empty();
                rec
            })
            .collect();
        filters::sort_newest_first(&mut out);
        Ok(out)
    }

    /// `GET /images/json`: `filters` as dockerd applies them (`before`/`since` name images).
    /// Without `all`, untagged images that are the parent of another (a build's
    /// intermediate steps) are hidden, as dockerd hides them.
    pub async fn list_filtered(&self, f: &Filters, all: bool) -> Result<Vec<ImageRecord>> {
        f.validate(filters::LIST_FILTERS)?;
        let mut bounds = TimeBounds::default();
        for v in f.get("before") {
            bounds.before = Some(self.resolve(&v).await?.created_nanos);
        }
        for v in f.get("since") {
            bounds.since = Some(self.resolve(&v).await?.created_nanos);
        }
        let images = self.listing().await?;
        let parents: std::collections::HashSet<&str> = if all {
            Default::default()
        } else {
            images
                .iter()
                .filter_map(|i| i.config.extra.get("parent").and_then(|p| p.as_str()))
                .collect()
        };
        let shown = images.iter().filter(|i| {
            !(i.dangling && i.repo_digests.is_empty() && parents.contains(i.id.as_str()))
        });
        filters::apply_list(shown, f, &bounds)
    }

    /// An image by name (`busybox` = `docker.io/library/busybox:latest`), full ID, `sha256:`
    /// ID, or unambiguous ID prefix, in dockerd's order: names first, then ID prefixes.
    pub async fn resolve(&self, name_or_id: &str) -> Result<ImageRecord> {
        let any = reference::parse_any(name_or_id)?;
        resolve_in(&self.listing().await?, name_or_id, any)
    }

    async fn records_of(&self, image_id: &str) -> Result<Vec<RawRecord>> {
        let mut out = Vec::new();
        for r in self.raw_records().await? {
            if let Ok(m) = self.meta(&r.target).await {
                if m.config_digest == image_id {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    async fn create_placeholder(&self, target: &Descriptor) -> Result<()> {
        let name = format!("{DANGLING_PREFIX}{}", target.digest);
        self.put_record(&name, target, HashMap::new()).await
    }

    /// Removes an image's placeholders once it has a real name.
    async fn drop_placeholders(&self, image_id: &str) -> Result<()> {
        for r in self.records_of(image_id).await? {
            if r.name.starts_with(DANGLING_PREFIX) {
                self.delete_record(&r.name, false).await?;
            }
        }
        Ok(())
    }

    /// Creates or repoints a record.
    async fn put_record(
        &self,
        name: &str,
        target: &Descriptor,
        labels: HashMap<String, String>,
    ) -> Result<()> {
        let result = self.write_record(name, target, labels).await;
        // Even a failed update may have changed the record: the next listing looks again.
        self.listing.invalidate();
        result
    }

    async fn write_record(
        &self,
        name: &str,
        target: &Descriptor,
        labels: HashMap<String, String>,
    ) -> Result<()> {
        if let Some(local) = &self.local {
            return local.put_record(name, target, labels);
        }
        let image = Image {
            name: name.to_string(),
            labels: labels.clone(),
            target: Some(target.clone()),
            created_at: None,
            updated_at: None,
        };
        let created = self
            .cd()?
            .images()
            .create(CreateImageRequest {
                image: Some(image.clone()),
                source_date_epoch: None,
            })
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                let mut paths = vec!["target".to_string()];
                paths.extend(labels.keys().map(|k| format!("labels.{k}")));
                self.cd()?
                    .images()
                    .update(UpdateImageRequest {
                        image: Some(image),
                        update_mask: Some(prost_types::FieldMask { paths }),
                        source_date_epoch: None,
                    })
                    .await
                    .map_err(error::grpc(format!("Images.Update {name}")))?;
                Ok(())
            }
            Err(s) => Err(error::grpc(format!("Images.Create {name}"))(s)),
        }
    }

    async fn delete_record(&self, name: &str, sync: bool) -> Result<()> {
        let result = self.remove_record(name, sync).await;
        self.listing.invalidate();
        result
    }

    async fn remove_record(&self, name: &str, sync: bool) -> Result<()> {
        if let Some(local) = &self.local {
            return local.delete_record(name);
        }
        match self
            .cd()?
            .images()
            .delete(DeleteImageRequest {
                name: name.to_string(),
                sync,
                target: None,
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(error::grpc(format!("Images.Delete {name}"))(s)),
        }
    }

    /// Points `name` at `target`. When the name moves away from another image that has no
    /// other name, that image keeps a placeholder (Docker leaves it as `<none>`). Returns
    /// the other image's ID when the name moved between images. Callers hold `names`.
    async fn set_name(
        &self,
        name: &Reference,
        target: &Descriptor,
        labels: Option<HashMap<String, String>>,
    ) -> Result<Option<String>> {
        let full = name.to_string();
        let existing = match &self.local {
            Some(local) => local.record(&full),
            None => match self
                .cd()?
                .images()
                .get(GetImageRequest { name: full.clone() })
                .await
            {
                Ok(r) => r.into_inner().image.and_then(|i| i.target),
                Err(s) if s.code() == tonic::Code::NotFound => None,
                Err(s) => return Err(error::grpc(format!("Images.Get {full}"))(s)),
            },
        };
        let mut moved_from = None;
        if let Some(old) = existing {
            if old.digest == target.digest && labels.is_none() {
                return Ok(None);
            }
            let new_id = self.meta(target).await?.config_digest.clone();
            if let Ok(old_meta) = self.meta(&old).await {
                if old_meta.config_digest != new_id {
                    let others = self
                        .records_of(&old_meta.config_digest)
                        .await?
                        .into_iter()
                        .filter(|r| r.name != full)
                        .count();
                    if others == 0 {
                        self.create_placeholder(&old).await?;
                    }
                    moved_from = Some(old_meta.config_digest.clone());
                }
            }
        }
        self.put_record(&full, target, labels.unwrap_or_default())
            .await?;
        Ok(moved_from)
    }

    // ---- tag / remove / prune ------------------------------------------------------------

    /// `docker tag SOURCE REPO[:TAG]` (`POST /images/{name}/tag?repo=&tag=`). Moves the tag
    /// if it named another image. Returns the familiar new name.
    pub async fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<String> {
        let _names = self.names.lock().await;
        let rec = self.resolve(source).await?;
        let mut new = reference::parse_normalized_named(repo)?;
        if !tag.is_empty() {
            new = new.with_tag(tag)?;
        }
        if new.digest().is_some() {
            return Err(ImagesError::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let new = new.with_default_tag();
        if new.familiar_name() == "sha256" {
            return Err(ImagesError::InvalidArgument(
                "refusing to create an ambiguous tag using digest algorithm as name".into(),
            ));
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let labels = HashMap::from([(LABEL_TAGGED_AT.to_string(), now)]);
        self.set_name(&new, &rec.target, Some(labels)).await?;
        self.drop_placeholders(&rec.id).await?;
        Ok(new.familiar_string())
    }

    /// `docker rmi` (`DELETE /images/{name}?force=`), with dockerd's rules: a name with
    /// other names left only untags; an ID with several names, or an image a container
    /// uses, is a 409 unless forced; a running container's image is never deleted (forcing
    /// an untag leaves it dangling). Deleting drops every record and lets containerd's GC
    /// (run synchronously) free content and snapshots; freed layers are reported by
    /// chain ID, as dockerd reports the layers it released.
    pub async fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        users: UsersOf<'_>,
    ) -> Result<Vec<DeleteItem>> {
        let _names = self.names.lock().await;
        self.remove_locked(name_or_id, force, users).await
    }

    async fn remove_locked(
        &self,
        input: &str,
        force: bool,
        users: UsersOf<'_>,
    ) -> Result<Vec<DeleteItem>> {
        let rec = self.resolve(input).await?;
        let mut refs: Vec<Reference> = rec
            .tag_names
            .iter()
            .chain(&rec.digest_names)
            .filter_map(|n| n.parse().ok())
            .collect();
        let using = users(&rec.id);
        let mut items = Vec::new();
        let mut removed_repo_ref = false;
        if !is_image_id_prefix(&rec.id, input) {
            if !force && is_single_reference(&refs) {
                if let Some(u) = using.first() {
                    return Err(ImagesError::Conflict(format!(
                        "conflict: unable to remove repository reference \"{input}\" (must force) - container {} is using its referenced image {}",
                        truncate_id(&u.container_id),
                        rec.short_id()
                    )));
                }
            }
            let parsed = reference::parse_normalized_named(input)?.with_default_tag();
            let parsed = if refs.contains(&parsed) {
                parsed
            } else {
                // Found as `repo@<manifest digest>`: untag the repository's tag on it.
                refs.iter()
                    .find(|r| r.name() == parsed.name() && r.tag().is_some())
                    .cloned()
                    .ok_or_else(|| ImagesError::NotFound(parsed.familiar_string()))?
            };
            self.untag(&rec, &mut refs, &parsed).await?;
            items.push(DeleteItem::Untagged(parsed.familiar_string()));
            if parsed.digest().is_none() {
                let same_repo_tag_left = refs
                    .iter()
                    .any(|r| r.digest().is_none() && r.name() == parsed.name());
                if !same_repo_tag_left {
                    let canonical: Vec<Reference> = refs
                        .iter()
                        .filter(|r| r.digest().is_some() && r.name() == parsed.name())
                        .cloned()
                        .collect();
                    for c in canonical {
                        self.untag(&rec, &mut refs, &c).await?;
                        items.push(DeleteItem::Untagged(c.familiar_string()));
                    }
                }
            }
            if !refs.is_empty() {
                return Ok(items);
            }
            removed_repo_ref = true;
        } else if is_single_reference(&refs) {
            let mask = if force {
                CONFLICT_HARD
            } else {
                CONFLICT_HARD | (CONFLICT_SOFT & !CONFLICT_ACTIVE_REFERENCE)
            };
            if let Some(c) = check_conflict(&refs, &using, mask) {
                return Err(c.error(&rec));
            }
            for r in refs.clone() {
                self.untag(&rec, &mut refs, &r).await?;
                items.push(DeleteItem::Untagged(r.familiar_string()));
            }
        }
        let mask = if force {
            CONFLICT_HARD
        } else {
            CONFLICT_HARD | CONFLICT_SOFT
        };
        if let Some(c) = check_conflict(&refs, &using, mask) {
            // Having just removed its last name, keep the image (now dangling) when a
            // container uses it, instead of failing the untag that already happened.
            if removed_repo_ref && c.used {
                return Ok(items);
            }
            return Err(c.error(&rec));
        }
        for r in refs.clone() {
            self.untag(&rec, &mut refs, &r).await?;
            items.push(DeleteItem::Untagged(r.familiar_string()));
        }
        items.extend(self.delete_image(&rec).await?);
        Ok(items)
    }

    /// Removes one name; if it was the last, the image first gets a placeholder so that it
    /// survives (the caller may still decide to keep it).
    async fn untag(
        &self,
        rec: &ImageRecord,
        refs: &mut Vec<Reference>,
        r: &Reference,
    ) -> Result<()> {
        refs.retain(|x| x != r);
        if refs.is_empty() {
            self.create_placeholder(&rec.target).await?;
        }
        self.delete_record(&r.to_string(), false).await
    }

    /// Deletes every record of the image, the last one with a synchronous GC, and reports
    /// the image and the layers (chain IDs, top first) that are gone.
    async fn delete_image(&self, rec: &ImageRecord) -> Result<Vec<DeleteItem>> {
        let records = self.records_of(&rec.id).await?;
        let n = records.len();
        for (i, r) in records.iter().enumerate() {
            self.delete_record(&r.name, i + 1 == n).await?;
        }
        let mut items = vec![DeleteItem::Deleted(rec.id.clone())];
        if let Some(local) = &self.local {
            // What no other image (nor container) uses goes now, as containerd's GC above.
            let kept = self.list().await?;
            let gone = local.collect_garbage(&kept, &rec.chain_ids).await?;
            items.extend(gone.into_iter().map(DeleteItem::Deleted));
            return Ok(items);
        }
        for chain in rec.chain_ids.iter().rev() {
            if !unpack::snapshot_exists(self.cd()?, &self.snapshotter, chain).await? {
                items.push(DeleteItem::Deleted(chain.clone()));
            }
        }
        Ok(items)
    }

    /// `docker image prune` (`POST /images/prune`): dangling images, or with
    /// `dangling=false` every image no container uses; `until`, `label`, `label!` filters.
    /// Conflicts (images in use) are skipped silently, as dockerd does. Returns what was
    /// deleted and the bytes freed (the unpacked sizes of the layers deleted).
    pub async fn prune(&self, f: &Filters, users: UsersOf<'_>) -> Result<(Vec<DeleteItem>, u64)> {
        let plan = filters::PrunePlan::new(f, chrono::Utc::now())?;
        let _names = self.names.lock().await;
        let records = self.list().await?;
        let mut layer_size: HashMap<String, i64> = HashMap::new();
        for r in &records {
            for (c, s) in r.chain_ids.iter().zip(&r.layer_sizes) {
                layer_size.insert(c.clone(), *s);
            }
        }
        let mut deleted = Vec::new();
        for rec in records.iter().filter(|r| plan.selects(r)) {
            let refs: Vec<&String> = rec.tag_names.iter().chain(&rec.digest_names).collect();
            let targets: Vec<String> = if refs.is_empty() {
                vec![rec.id.clone()]
            } else if !plan.dangling_only || rec.tag_names.is_empty() {
                refs.into_iter().cloned().collect()
            } else {
                continue;
            };
            for t in targets {
                match self.remove_locked(&t, false, users).await {
                    Ok(items) => deleted.extend(items),
                    Err(e) if e.is_conflict() => {}
                    Err(e) => tracing::warn!(image = %t, "prune: {e}"),
                }
            }
        }
        let reclaimed = deleted
            .iter()
            .filter_map(|d| match d {
                DeleteItem::Deleted(id) => layer_size.get(id),
                DeleteItem::Untagged(_) => None,
            })
            .map(|s| u64::try_from(*s).unwrap_or(0))
            .sum();
        Ok((deleted, reclaimed))
    }

    // ---- container root filesystems ------------------------------------------------------

    /// An active snapshot on the image's top layer for a container's rootfs, labelled as a
    /// GC root so that it (and through it the image's layers) outlives the image.
    pub async fn prepare_rootfs(&self, image: &str, key: &str) -> Result<Vec<Mount>> {
        let rec = self.resolve(image).await?;
        self.ensure_unpacked(&rec).await?;
        let labels = HashMap::from([(
            LABEL_GC_ROOT.to_string(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )]);
        let resp = self
            .cd()?
            .snapshots()
            .prepare(PrepareSnapshotRequest {
                snapshotter: self.snapshotter.clone(),
                key: key.to_string(),
                parent: rec.top_chain_id().unwrap_or_default().to_string(),
                labels,
            })
            .await
            .map_err(error::grpc(format!("Snapshots.Prepare rootfs {key}")))?;
        Ok(resp.into_inner().mounts)
    }

    /// Unpacks an image whose snapshots are missing (stored by another client, or
    /// collected); a no-op in the usual case.
    async fn ensure_unpacked(&self, rec: &ImageRecord) -> Result<()> {
        let Some(top) = rec.top_chain_id() else {
            return Ok(());
        };
        let cd = self.cd()?;
        if unpack::snapshot_exists(cd, &self.snapshotter, top).await? {
            return Ok(());
        }
        let lease = Lease::create(cd, "unpack").await?;
        let layers: Vec<unpack::LayerToApply> = rec
            .layers
            .iter()
            .zip(&rec.diff_ids)
            .map(|(d, id)| unpack::LayerToApply {
                blob: d.clone(),
                diff_id: id.clone(),
            })
            .collect();
        let result = async {
            unpack::unpack(cd, &self.snapshotter, &lease, &layers).await?;
            let labels = BTreeMap::from([(
                format!("{GC_REF_SNAPSHOT}{}", self.snapshotter),
                Some(top.to_string()),
            )]);
            ingest::update_labels(cd, &rec.id, &labels).await
        }
        .await;
        lease.release().await;
        result
    }

    /// The mounts of an existing rootfs snapshot.
    pub async fn rootfs_mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let resp = self
            .cd()?
            .snapshots()
            .mounts(MountsRequest {
                snapshotter: self.snapshotter.clone(),
                key: key.to_string(),
            })
            .await
            .map_err(error::grpc(format!("Snapshots.Mounts rootfs {key}")))?;
        Ok(resp.into_inner().mounts)
    }

    /// Removes a rootfs snapshot; a missing one is fine.
    pub async fn remove_rootfs(&self, key: &str) -> Result<()> {
        unpack::remove_snapshot(self.cd()?, &self.snapshotter, key).await
    }
}

/// [`ImageStore::resolve`] within a listing (`any` is `name_or_id` parsed).
fn resolve_in(records: &[ImageRecord], name_or_id: &str, any: AnyReference) -> Result<ImageRecord> {
    match any {
        AnyReference::Digest(d) => records
            .iter()
            .find(|r| r.id == d)
            .cloned()
            .ok_or(ImagesError::NotFound(d)),
        AnyReference::Named(r) => {
            let full = r.clone().with_default_tag();
            let full_s = full.to_string();
            if let Some(rec) = records.iter().find(|rec| rec.records.contains(&full_s)) {
                return Ok(rec.clone());
            }
            // `busybox@sha256:<manifest>`: a tag of that repository on that manifest.
            if let (Some(d), None) = (r.digest(), r.tag()) {
                let repo = r.name();
                let hit = records.iter().find(|rec| {
                    rec.target.digest == d
                        && rec
                            .tag_names
                            .iter()
                            .any(|n| n.parse::<Reference>().is_ok_and(|n| n.name() == repo))
                });
                if let Some(rec) = hit {
                    return Ok(rec.clone());
                }
            }
            let prefix = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
            if !prefix.is_empty()
                && prefix
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                let mut hits = records.iter().filter(|rec| {
                    rec.id
                        .strip_prefix("sha256:")
                        .is_some_and(|h| h.starts_with(prefix))
                });
                // An ambiguous prefix is "No such image", as with dockerd 20.10.
                if let (Some(one), None) = (hits.next(), hits.next()) {
                    return Ok(one.clone());
                }
            }
            Err(ImagesError::NotFound(full.familiar_string()))
        }
    }
}

fn record_from_meta(meta: &Meta, target: &Descriptor) -> ImageRecord {
    let labels = meta
        .config
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .map(|l| l.into_iter().collect())
        .unwrap_or_default();
    ImageRecord {
        id: meta.config_digest.clone(),
        target: target.clone(),
        config: meta.config.clone(),
        created: meta.config.created.clone(),
        created_nanos: meta.created_nanos,
        size: meta.layer_sizes.iter().sum(),
        layer_sizes: meta.layer_sizes.clone(),
        diff_ids: meta.diff_ids.clone(),
        chain_ids: meta.chain_ids.clone(),
        layers: meta.layers.clone(),
        labels,
        ..Default::default()
    }
}

fn familiar(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            n.parse::<Reference>()
                .map_or_else(|_| n.clone(), |r| r.familiar_string())
        })
        .collect()
}

fn descriptor(b: &Blob) -> Descriptor {
    Descriptor {
        media_type: b.media_type.clone(),
        digest: b.digest.clone(),
        size: i64::try_from(b.size).unwrap_or(i64::MAX),
        annotations: HashMap::new(),
    }
}

#[derive(serde::Deserialize)]
struct ManifestDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    platform: Option<PlatformDoc>,
}

impl ManifestDescriptor {
    fn to_descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            annotations: HashMap::new(),
        }
    }
}

#[derive(serde::Deserialize)]
struct PlatformDoc {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(serde::Deserialize)]
struct ManifestOrIndex {
    #[serde(default)]
    config: Option<ManifestDescriptor>,
    #[serde(default)]
    layers: Vec<ManifestDescriptor>,
    #[serde(default)]
    manifests: Vec<ManifestDescriptor>,
}

struct ManifestDoc {
    config: ManifestDescriptor,
    layers: Vec<ManifestDescriptor>,
}

// dockerd's conflict classes (daemon/images/image_delete.go).
const CONFLICT_RUNNING_CONTAINER: u8 = 1 << 1;
const CONFLICT_ACTIVE_REFERENCE: u8 = 1 << 2;
const CONFLICT_STOPPED_CONTAINER: u8 = 1 << 3;
const CONFLICT_HARD: u8 = CONFLICT_RUNNING_CONTAINER;
const CONFLICT_SOFT: u8 = CONFLICT_ACTIVE_REFERENCE | CONFLICT_STOPPED_CONTAINER;

struct Conflict {
    hard: bool,
    used: bool,
    message: String,
}

impl Conflict {
    fn error(&self, rec: &ImageRecord) -> ImagesError {
        let how = if self.hard {
            "cannot be forced"
        } else {
            "must be forced"
        };
        ImagesError::Conflict(format!(
            "conflict: unable to delete {} ({how}) - {}",
            rec.short_id(),
            self.message
        ))
    }
}

fn check_conflict(refs: &[Reference], users: &[ImageUser], mask: u8) -> Option<Conflict> {
    if mask & CONFLICT_RUNNING_CONTAINER != 0 {
        if let Some(u) = users.iter().find(|u| u.running) {
            return Some(Conflict {
                hard: true,
                used: true,
                message: format!(
                    "image is being used by running container {}",
                    truncate_id(&u.container_id)
                ),
            });
        }
    }
    if mask & CONFLICT_ACTIVE_REFERENCE != 0 && !refs.is_empty() {
        return Some(Conflict {
            hard: false,
            used: false,
            message: "image is referenced in multiple repositories".into(),
        });
    }
    if mask & CONFLICT_STOPPED_CONTAINER != 0 {
        if let Some(u) = users.iter().find(|u| !u.running) {
            return Some(Conflict {
                hard: false,
                used: true,
                message: format!(
                    "image is being used by stopped container {}",
                    truncate_id(&u.container_id)
                ),
            });
        }
    }
    None
}

/// `isImageIDPrefix`: the input is (a prefix of) the ID, with or without `sha256:`.
fn is_image_id_prefix(id: &str, input: &str) -> bool {
    id.starts_with(input)
        || id
            .split_once(':')
            .is_some_and(|(_, hex)| hex.starts_with(input))
}

/// `isSingleReference`: one tag, plus any digests of that same repository.
fn is_single_reference(refs: &[Reference]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut single: Option<&Reference> = None;
    let mut canonical = std::collections::BTreeSet::new();
    for r in refs {
        if r.digest().is_some() {
            canonical.insert(r.name());
        } else if single.is_none() {
            single = Some(r);
        } else {
            return false;
        }
    }
    let single = single.unwrap_or(&refs[0]);
    canonical.len() == 1 && canonical.contains(&single.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        reference::parse_normalized_named(s).unwrap()
    }

    #[test]
    fn single_reference_rules() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(!is_single_reference(&[]));
        assert!(is_single_reference(&[r("busybox:latest")]));
        assert!(!is_single_reference(&[r("busybox:latest"), r("busybox:1")]));
        assert!(is_single_reference(&[
            r("busybox:latest"),
            r(&format!("busybox@{d}"))
        ]));
        assert!(!is_single_reference(&[
            r("busybox:latest"),
            r(&format!("other@{d}"))
        ]));
    }

    #[test]
    fn id_prefixes() {
        let id = "sha256:abcdef0123456789";
        assert!(is_image_id_prefix(id, "abc"));
        assert!(is_image_id_prefix(id, "sha256:abc"));
        assert!(!is_image_id_prefix(id, "busybox"));
        assert_eq!(truncate_id(id), "abcdef012345");
        assert_eq!(truncate_id("abc"), "abc");
    }

    #[test]
    fn conflicts() {
        let users = [ImageUser {
            container_id: "0123456789abcdef".into(),
            running: false,
        }];
        let rec = ImageRecord {
            id: "sha256:fedcba9876543210".into(),
            ..Default::default()
        };
        let c = check_conflict(&[], &users, CONFLICT_HARD | CONFLICT_SOFT).unwrap();
        assert_eq!(
            c.error(&rec).to_string(),
            "conflict: unable to delete fedcba987654 (must be forced) - image is being used by stopped container 0123456789ab"
        );
        assert!(check_conflict(&[], &users, CONFLICT_HARD).is_none());
        let running = [ImageUser {
            container_id: "0123456789abcdef".into(),
            running: true,
        }];
        let c = check_conflict(&[], &running, CONFLICT_HARD).unwrap();
        assert!(c
            .error(&rec)
            .to_string()
            .contains("(cannot be forced) - image is being used by running container"));
    }
}
