//! `docker pull` into containerd: the registry's manifest and config, the layers streamed
//! into the content store under a lease (digest checked as they arrive, diff ID and
//! unpacked size computed beside the download), unpacked layer by layer as the downloads
//! finish (the same snapshots `docker load` makes), then named. Nothing is named before
//! everything is stored and verified, so a failed pull leaves no image behind; what it
//! wrote is only held by its lease and goes with it.
//!
//! Progress goes out as dockerd words it ([`Message`]); the server turns it into JSON.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use containerd_client::services::v1::GetImageRequest;
use containerd_client::types::Descriptor;
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use spec::image::ImageConfigFile;
use spec::reference::{self, Reference};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use super::error::{grpc, ImagesError, Result};
use super::ingest::{self, BlobWriter, Lease};
use super::load::{self, Blob, BlobSource};
use super::unpack::{self, LayerToApply};
use super::{
    chain_ids, ImageStore, GC_REF_CONFIG, GC_REF_LAYER, GC_REF_SNAPSHOT, LABEL_LAYER_SIZES,
    LABEL_TAR_SIZE, LABEL_UNCOMPRESSED,
};
use crate::containerd::Containerd;
use crate::registry::manifest::{self, Document};
use crate::registry::progress::{short_id, Message};
use crate::registry::{client, AuthConfig, Platform, Registries, RegistryError, Session};

/// dockerd's default `--max-concurrent-downloads`.
const MAX_CONCURRENT_DOWNLOADS: usize = 3;
/// dockerd's `maxDownloadAttempts`: a dropped connection is retried (resuming with a
/// range request) this many times in all.
const DOWNLOAD_ATTEMPTS: u32 = 5;
/// Progress updates per layer at most this often (dockerd's progress readers: 10/s).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// On a layer blob: what its unpacked files occupy (see `load::inspect_layer`), so that
/// an image sharing the layer knows its size without reading it again.
const LABEL_UNPACKED_SIZE: &str = "dockbridge.io/unpacked-size";

pub type Progress = mpsc::Sender<Message>;

/// Layers being downloaded, so that concurrent pulls of the same blob share one download:
/// the second waits for the first and then finds the blob stored.
#[derive(Default)]
pub struct Downloads {
    inflight: StdMutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl Downloads {
    fn lock_for(&self, digest: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, w| w.strong_count() > 0);
        if let Some(l) = m.get(digest).and_then(Weak::upgrade) {
            return l;
        }
        let l = Arc::new(tokio::sync::Mutex::new(()));
        m.insert(digest.to_string(), Arc::downgrade(&l));
        l
    }
}

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// Normalised; a tag, a digest, or neither (every tag: `--all-tags`).
    pub reference: Reference,
    /// `fromImage` as the client sent it (dockerd's platform warning quotes it).
    pub from_image: String,
    /// `--platform`; the host's when `None`.
    pub platform: Option<Platform>,
    pub auth: AuthConfig,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The familiar names pulled (`busybox:latest`, or `busybox` for every tag).
    pub name: String,
    /// Image IDs pulled.
    pub ids: Vec<String>,
}

/// One image's facts after its manifest and config are read.
struct OneResult {
    updated: bool,
    id: String,
    os: String,
    arch: String,
    variant: String,
}

/// What a layer download found out.
#[derive(Debug, Clone, Copy, Default)]
struct LayerFacts {
    unpacked_size: u64,
    /// Present before this pull: reported as `Already exists`.
    existed: bool,
}

impl ImageStore {
    /// `POST /images/create?fromImage=…`: pulls one tag or digest, or every tag. Errors
    /// before any progress was sent are the caller's to answer as plain HTTP errors.
    pub async fn pull(
        &self,
        registries: &Registries,
        req: &PullRequest,
        progress: &Progress,
    ) -> Result<Pulled> {
        // Refused before any registry is contacted.
        self.cd()?;
        let r = &req.reference;
        let session = Arc::new(
            registries
                .session(r.domain(), r.path(), &req.auth, &["pull"])
                .await
                .map_err(|e| pull_error(e, r))?,
        );
        let want = req.platform.clone().unwrap_or_else(Platform::host);
        let mut results = Vec::new();
        let (name, updated) = if r.tag().is_some() || r.digest().is_some() {
            let one = self.pull_one(&session, r, &want, progress).await?;
            let updated = one.updated;
            results.push(one);
            (r.familiar_string(), updated)
        } else {
            let tags = session.tags().await.map_err(|e| pull_error(e, r))?;
            if tags.is_empty() {
                return Err(ImagesError::Remote {
                    kind: crate::error_kind::ErrorKind::NotFound,
                    message: format!("repository {} has no tags", r.familiar_name()),
                });
            }
            let mut updated = false;
            for t in tags {
                let tagged = r.with_tag(&t)?;
                let one = self.pull_one(&session, &tagged, &want, progress).await?;
                updated |= one.updated;
                results.push(one);
            }
            (r.familiar_name(), updated)
        };
        let status = if updated {
            format!("Status: Downloaded newer image for {name}")
        } else {
            format!("Status: Image is up to date for {name}")
        };
        let _ = progress.send(Message::status(status)).await;
        if let (Some(want), Some(one)) = (&req.platform, results.first()) {
            // A single-platform image that does not match is kept, with dockerd's warning.
            if let Some(w) = manifest::platform_mismatch_warning(
                &req.from_image,
                want,
                &one.os,
                &one.arch,
                &one.variant,
            ) {
                let _ = progress.send(Message::status(w)).await;
            }
        }
        Ok(Pulled {
            name,
            ids: results.into_iter().map(|o| o.id).collect(),
        })
    }

    async fn pull_one(
        &self,
        session: &Arc<Session>,
        r: &Reference,
        want: &Platform,
        progress: &Progress,
    ) -> Result<OneResult> {
        let tag_or_digest = r.digest().or(r.tag()).unwrap_or(reference::DEFAULT_TAG);
        let top = session
            .manifest(tag_or_digest)
            .await
            .map_err(|e| pull_error(e, r))?;
        // dockerd's id is the tag, or the whole reference for a pull by digest; the name is
        // the repository's path as the registry knows it (`library/busybox` on Docker Hub).
        let id = match r.digest() {
            Some(d) => format!("{}@{d}", r.name()),
            None => tag_or_digest.to_string(),
        };
        let _ = progress
            .send(Message::status_for(
                id,
                format!("Pulling from {}", session.repo()),
            ))
            .await;
        // From here on the stream is open: errors go out in-band.
        let (raw, m) = match manifest::parse(&top.media_type, &top.bytes).map_err(remote)? {
            Document::Manifest(m) => (top.clone(), m),
            Document::Index(index) => {
                let d = manifest::select(&index, want, None).map_err(remote)?;
                let raw = session
                    .manifest(&d.digest)
                    .await
                    .map_err(|e| pull_error(e, r))?;
                match manifest::parse(&raw.media_type, &raw.bytes).map_err(remote)? {
                    Document::Manifest(m) => (raw, m),
                    Document::Index(_) => {
                        return Err(remote_msg(format!(
                            "manifest {}: an index inside an index is not an image",
                            d.digest
                        )))
                    }
                }
            }
        };
        let config_bytes = session
            .blob_bytes(&m.config.digest, m.config.size)
            .await
            .map_err(|e| pull_error(e, r))?;
        let config = ImageConfigFile::from_slice(&config_bytes)
            .map_err(|e| remote_msg(format!("config {}: {e}", m.config.digest)))?;
        let diff_ids = config.diff_ids().to_vec();
        if diff_ids.len() != m.layers.len() {
            return Err(remote_msg(format!(
                "invalid manifest, layers length mismatch: expected {}, got {}",
                diff_ids.len(),
                m.layers.len()
            )));
        }
        let id = m.config.digest.clone();
        let lease = Lease::create(self.cd()?, "pull").await?;
        let result = self
            .store_pulled(
                session,
                &lease,
                &raw,
                &m,
                &config_bytes,
                &diff_ids,
                progress,
            )
            .await;
        let named = match result {
            Ok(()) => self.name_pulled(r, &top.digest, &raw, &id).await,
            Err(e) => Err(e),
        };
        lease.release().await;
        let updated = named?;
        let _ = progress
            .send(Message::status(format!("Digest: {}", top.digest)))
            .await;
        Ok(OneResult {
            updated,
            id,
            os: config.os.clone(),
            arch: config.architecture.clone(),
            variant: config.variant.clone().unwrap_or_default(),
        })
    }

    /// Layers (downloaded and unpacked), config and manifest with their GC labels.
    #[allow(clippy::too_many_arguments)]
    async fn store_pulled(
        &self,
        session: &Arc<Session>,
        lease: &Lease,
        raw: &client::RawManifest,
        m: &manifest::Manifest,
        config_bytes: &Bytes,
        diff_ids: &[String],
        progress: &Progress,
    ) -> Result<()> {
        let cd = self.cd()?;
        // dockerd skips the layers of an image it already has; so do we, when this very
        // manifest is stored too (another manifest of the same config may name other
        // blobs, which must then be there as well).
        let have_image = ingest::info(cd, &raw.digest).await?.is_some()
            && ingest::info(cd, &m.config.digest).await?.is_some()
            && self
                .list()
                .await?
                .iter()
                .any(|rec| rec.id == m.config.digest);
        let chains = chain_ids(diff_ids);
        let mut sizes = Vec::with_capacity(m.layers.len());
        if have_image {
            for (l, d) in m.layers.iter().zip(diff_ids) {
                lease.add("content", &l.digest).await?;
                sizes.push(existing_facts(cd, &l.digest, d).await?.unpacked_size);
            }
            for c in &chains {
                if unpack::snapshot_exists(cd, &self.snapshotter, c).await? {
                    lease
                        .add(&format!("snapshots/{}", self.snapshotter), c)
                        .await?;
                }
            }
        } else {
            sizes = self
                .fetch_and_unpack(session, lease, m, diff_ids, &chains, progress)
                .await?;
        }
        let config_blob = Blob {
            media_type: if m.config.media_type.is_empty() {
                manifest::DOCKER_CONFIG.to_string()
            } else {
                m.config.media_type.clone()
            },
            digest: m.config.digest.clone(),
            size: config_bytes.len() as u64,
            source: BlobSource::Bytes(config_bytes.to_vec()),
        };
        ingest::write_blob(cd, lease, &config_blob).await?;
        let manifest_blob = Blob {
            media_type: raw.media_type.clone(),
            digest: raw.digest.clone(),
            size: raw.bytes.len() as u64,
            source: BlobSource::Bytes(raw.bytes.to_vec()),
        };
        ingest::write_blob(cd, lease, &manifest_blob).await?;
        let mut manifest_labels =
            BTreeMap::from([(GC_REF_CONFIG.to_string(), Some(m.config.digest.clone()))]);
        for (i, l) in m.layers.iter().enumerate() {
            manifest_labels.insert(format!("{GC_REF_LAYER}{i}"), Some(l.digest.clone()));
        }
        ingest::update_labels(cd, &raw.digest, &manifest_labels).await?;
        let sizes: Vec<String> = sizes.iter().map(u64::to_string).collect();
        let mut config_labels =
            BTreeMap::from([(LABEL_LAYER_SIZES.to_string(), Some(sizes.join(",")))]);
        if let Some(top) = chains.last() {
            config_labels.insert(
                format!("{GC_REF_SNAPSHOT}{}", self.snapshotter),
                Some(top.clone()),
            );
        }
        ingest::update_labels(cd, &m.config.digest, &config_labels).await
    }

    /// Downloads the layers (up to three at once) and unpacks each, in order, as soon as
    /// it and those below it are there. Returns the unpacked size of each layer.
    async fn fetch_and_unpack(
        &self,
        session: &Arc<Session>,
        lease: &Lease,
        m: &manifest::Manifest,
        diff_ids: &[String],
        chains: &[String],
        progress: &Progress,
    ) -> Result<Vec<u64>> {
        let cd = self.cd()?;
        let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_DOWNLOADS));
        let mut tasks = Tasks(Vec::new());
        for (l, diff_id) in m.layers.iter().zip(diff_ids) {
            let id = short_id(&l.digest);
            let existing = ingest::info(cd, &l.digest).await?.is_some();
            let msg = if existing {
                "Already exists"
            } else {
                "Pulling fs layer"
            };
            let _ = progress.send(Message::step(&id, msg)).await;
            let job = LayerJob {
                cd: cd.clone(),
                lease: lease.clone(),
                session: session.clone(),
                downloads: self.downloads.clone(),
                slots: slots.clone(),
                progress: progress.clone(),
                desc: l.clone(),
                diff_id: diff_id.clone(),
                id,
            };
            tasks.0.push(Some(tokio::spawn(job.run())));
        }
        let mut sizes = Vec::with_capacity(m.layers.len());
        let mut parent = String::new();
        for (i, ((l, diff_id), chain)) in m.layers.iter().zip(diff_ids).zip(chains).enumerate() {
            let handle = tasks.0.get_mut(i).and_then(Option::take);
            let facts = match handle {
                Some(h) => h
                    .await
                    .map_err(|e| ImagesError::Internal(format!("layer download: {e}")))??,
                None => LayerFacts::default(),
            };
            let id = short_id(&l.digest);
            let size = u64::try_from(l.size).unwrap_or(0);
            let layer = LayerToApply {
                blob: Descriptor {
                    media_type: l.media_type.clone(),
                    digest: l.digest.clone(),
                    size: l.size,
                    annotations: HashMap::new(),
                },
                diff_id: diff_id.clone(),
            };
            if !facts.existed {
                let _ = progress
                    .send(Message::counts(&id, "Extracting", 0, size))
                    .await;
            }
            unpack::unpack_layer(cd, &self.snapshotter, lease, &layer, &parent, chain).await?;
            if !facts.existed {
                let _ = progress
                    .send(Message::counts(&id, "Extracting", size, size))
                    .await;
                let _ = progress.send(Message::step(&id, "Pull complete")).await;
            }
            sizes.push(facts.unpacked_size);
            parent = chain.clone();
        }
        Ok(sizes)
    }

    /// Names the pulled image: the tag (if pulled by tag) and `repo@digest` (the digest
    /// the tag resolved to, an index's when it was one), as dockerd records RepoDigests.
    /// Returns whether anything changed ("Downloaded newer image").
    async fn name_pulled(
        &self,
        r: &Reference,
        top_digest: &str,
        raw: &client::RawManifest,
        id: &str,
    ) -> Result<bool> {
        let target = Descriptor {
            media_type: raw.media_type.clone(),
            digest: raw.digest.clone(),
            size: i64::try_from(raw.bytes.len()).unwrap_or(i64::MAX),
            annotations: HashMap::new(),
        };
        let _names = self.names.lock().await;
        let mut updated = false;
        if r.tag().is_some() && r.digest().is_none() {
            let before = self.record_image_id(&r.to_string()).await?;
            self.set_name(r, &target, None).await?;
            updated = before.as_deref() != Some(id);
        }
        let by_digest = reference::parse_normalized_named(&format!("{}@{top_digest}", r.name()))?;
        let before = self.record_image_id(&by_digest.to_string()).await?;
        self.set_name(&by_digest, &target, None).await?;
        if r.digest().is_some() {
            updated = before.as_deref() != Some(id);
        }
        self.drop_placeholders(id).await?;
        Ok(updated)
    }

    /// The image ID a record names now, if the record exists.
    async fn record_image_id(&self, name: &str) -> Result<Option<String>> {
        let target = match self
            .cd()?
            .images()
            .get(GetImageRequest {
                name: name.to_string(),
            })
            .await
        {
            Ok(r) => r.into_inner().image.and_then(|i| i.target),
            Err(s) if s.code() == tonic::Code::NotFound => None,
            Err(s) => return Err(grpc(format!("Images.Get {name}"))(s)),
        };
        Ok(match target {
            Some(t) => self.meta(&t).await.ok().map(|m| m.config_digest.clone()),
            None => None,
        })
    }
}

/// Spawned downloads, aborted if the pull ends early (an error, or the pull dropped).
struct Tasks(Vec<Option<JoinHandle<Result<LayerFacts>>>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for h in self.0.iter().flatten() {
            h.abort();
        }
    }
}

/// Everything one layer download needs, owned (it runs as its own task).
struct LayerJob {
    cd: Containerd,
    lease: Lease,
    session: Arc<Session>,
    downloads: Arc<Downloads>,
    slots: Arc<Semaphore>,
    progress: Progress,
    desc: manifest::Descriptor,
    diff_id: String,
    id: String,
}

/// Why one download attempt stopped.
enum Failure {
    /// Worth another attempt (a dropped connection, a 5xx).
    Retry(RegistryError),
    Fatal(ImagesError),
}

impl LayerJob {
    async fn run(self) -> Result<LayerFacts> {
        let digest = self.desc.digest.clone();
        if ingest::info(&self.cd, &digest).await?.is_some() {
            self.lease.add("content", &digest).await?;
            let mut f = existing_facts(&self.cd, &digest, &self.diff_id).await?;
            f.existed = true;
            return Ok(f);
        }
        let _slot = match self.slots.clone().try_acquire_owned() {
            Ok(s) => s,
            Err(_) => {
                let _ = self.progress.send(Message::step(&self.id, "Waiting")).await;
                self.slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| ImagesError::Internal(format!("download slots: {e}")))?
            }
        };
        let shared = self.downloads.lock_for(&digest);
        let _one = shared.lock().await;
        // Another pull may have stored it while this one waited.
        if ingest::info(&self.cd, &digest).await?.is_some() {
            self.lease.add("content", &digest).await?;
            let f = existing_facts(&self.cd, &digest, &self.diff_id).await?;
            let _ = self
                .progress
                .send(Message::step(&self.id, "Download complete"))
                .await;
            return Ok(f);
        }
        self.download(&digest).await
    }

    async fn download(&self, digest: &str) -> Result<LayerFacts> {
        let size = u64::try_from(self.desc.size).unwrap_or(0);
        let mut writer = BlobWriter::open(&self.cd, &self.lease, digest, self.desc.size).await?;
        // The diff ID and unpacked size come from a second reader of the same bytes, on
        // the blocking pool, so that the download never waits for decompression.
        let (itx, irx) = mpsc::channel::<Bytes>(16);
        let what = format!("layer {digest}");
        let inspector = tokio::task::spawn_blocking(move || {
            load::inspect_stream(ChannelReader::new(irx), &what)
        });
        let mut hasher = Sha256::new();
        let mut offset = 0u64;
        let mut attempt = 0;
        let mut last_update: Option<Instant> = None;
        loop {
            let r = self
                .attempt(
                    digest,
                    size,
                    &mut offset,
                    &mut hasher,
                    &mut writer,
                    &itx,
                    &mut last_update,
                )
                .await;
            match r {
                Ok(()) => break,
                Err(Failure::Retry(e)) if attempt + 1 < DOWNLOAD_ATTEMPTS => {
                    attempt += 1;
                    tracing::info!(%digest, offset, attempt, "layer download interrupted, retrying: {e}");
                    for left in (1..=attempt).rev() {
                        let _ = self
                            .progress
                            .send(Message::step(
                                &self.id,
                                format!(
                                    "Retrying in {left} second{}",
                                    if left == 1 { "" } else { "s" }
                                ),
                            ))
                            .await;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                Err(Failure::Retry(e)) => {
                    writer.abort().await;
                    return Err(remote(e));
                }
                Err(Failure::Fatal(e)) => {
                    writer.abort().await;
                    return Err(e);
                }
            }
        }
        let _ = self
            .progress
            .send(Message::step(&self.id, "Verifying Checksum"))
            .await;
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != digest {
            writer.abort().await;
            return Err(remote_msg(format!(
                "filesystem layer verification failed for digest {digest}"
            )));
        }
        writer.commit().await?;
        drop(itx);
        let facts = inspector
            .await
            .map_err(|e| ImagesError::Internal(format!("inspecting layer {digest}: {e}")))?
            .map_err(|e| remote_msg(e.to_string()))?;
        if facts.diff_id != self.diff_id {
            return Err(remote_msg(format!(
                "layer {digest}: diff ID mismatch: the config says {}, the layer is {}",
                self.diff_id, facts.diff_id
            )));
        }
        let mut labels = BTreeMap::from([
            (LABEL_UNCOMPRESSED.to_string(), Some(facts.diff_id.clone())),
            (
                LABEL_UNPACKED_SIZE.to_string(),
                Some(facts.unpacked_size.to_string()),
            ),
        ]);
        if digest != facts.diff_id {
            labels.insert(LABEL_TAR_SIZE.to_string(), Some(facts.tar_size.to_string()));
        }
        ingest::update_labels(&self.cd, digest, &labels).await?;
        let _ = self
            .progress
            .send(Message::step(&self.id, "Download complete"))
            .await;
        Ok(LayerFacts {
            unpacked_size: facts.unpacked_size,
            existed: false,
        })
    }

    /// One GET of the blob from `offset` on. A registry that ignores the range answers
    /// 200 with the whole blob: the part already stored is skipped.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        digest: &str,
        size: u64,
        offset: &mut u64,
        hasher: &mut Sha256,
        writer: &mut BlobWriter,
        inspect: &mpsc::Sender<Bytes>,
        last_update: &mut Option<Instant>,
    ) -> std::result::Result<(), Failure> {
        let classify = |e: RegistryError| {
            if e.is_retryable() {
                Failure::Retry(e)
            } else {
                Failure::Fatal(remote(e))
            }
        };
        let resp = self
            .session
            .blob_response(digest, *offset)
            .await
            .map_err(classify)?;
        let url = resp.url().to_string();
        let mut skip = if resp.status() == reqwest::StatusCode::PARTIAL_CONTENT {
            0
        } else {
            *offset
        };
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let mut chunk =
                chunk.map_err(|e| Failure::Retry(client::transport("Get", &url, &e)))?;
            if skip > 0 {
                let n = usize::try_from(skip).unwrap_or(usize::MAX).min(chunk.len());
                chunk = chunk.slice(n..);
                skip -= n as u64;
                if chunk.is_empty() {
                    continue;
                }
            }
            let len = chunk.len() as u64;
            if size > 0 && *offset + len > size {
                return Err(Failure::Fatal(remote_msg(format!(
                    "layer {digest}: the registry sent more than its {size} bytes"
                ))));
            }
            hasher.update(&chunk);
            writer.write(&chunk).await.map_err(Failure::Fatal)?;
            // A failed inspector reports at the end; the download itself goes on.
            let _ = inspect.send(chunk).await;
            *offset += len;
            let now = Instant::now();
            if last_update.is_none_or(|t| now.duration_since(t) >= PROGRESS_EVERY)
                || *offset == size
            {
                *last_update = Some(now);
                let _ = self
                    .progress
                    .send(Message::counts(&self.id, "Downloading", *offset, size))
                    .await;
            }
        }
        if size > 0 && *offset < size {
            return Err(Failure::Retry(RegistryError::Transport {
                method: "Get",
                url,
                detail: "unexpected EOF".into(),
            }));
        }
        Ok(())
    }
}

/// Facts of a layer blob already in the content store: its diff ID must be the one the
/// config names, and its unpacked size comes from our label, or from reading it once.
async fn existing_facts(cd: &Containerd, digest: &str, diff_id: &str) -> Result<LayerFacts> {
    let info = ingest::info(cd, digest).await?;
    let labels = info.map(|i| i.labels).unwrap_or_default();
    if let Some(u) = labels.get(LABEL_UNCOMPRESSED) {
        if u != diff_id {
            return Err(remote_msg(format!(
                "layer {digest}: stored with diff ID {u}, but the config says {diff_id}"
            )));
        }
    }
    if let Some(s) = labels.get(LABEL_UNPACKED_SIZE).and_then(|s| s.parse().ok()) {
        return Ok(LayerFacts {
            unpacked_size: s,
            existed: true,
        });
    }
    let reader = ingest::blob_reader(cd, digest).await?;
    let bridge = tokio_util::io::SyncIoBridge::new(reader);
    let what = format!("layer {digest}");
    let facts = tokio::task::spawn_blocking(move || load::inspect_stream(bridge, &what))
        .await
        .map_err(|e| ImagesError::Internal(format!("inspecting layer {digest}: {e}")))??;
    let labels = BTreeMap::from([(
        LABEL_UNPACKED_SIZE.to_string(),
        Some(facts.unpacked_size.to_string()),
    )]);
    ingest::update_labels(cd, digest, &labels).await?;
    Ok(LayerFacts {
        unpacked_size: facts.unpacked_size,
        existed: true,
    })
}

/// A blocking reader over the chunks a download hands over.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            cur: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// dockerd's `translatePullError`: unknown manifests, repositories and denied access
/// are "not found" (404) with its wording; everything else is a 500 with the error as is.
pub fn pull_error(e: RegistryError, r: &Reference) -> ImagesError {
    let message = match e.code() {
        Some("MANIFEST_UNKNOWN") => Some(format!(
            "manifest for {} not found: {e}",
            r.familiar_string()
        )),
        Some("NAME_UNKNOWN") => Some(format!("repository {} not found: {e}", r.familiar_name())),
        Some("DENIED") => Some(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login': {e}",
            r.familiar_name()
        )),
        _ => None,
    };
    match message {
        Some(message) => ImagesError::Remote {
            kind: crate::error_kind::ErrorKind::NotFound,
            message,
        },
        None => remote(e),
    }
}

fn remote(e: impl std::fmt::Display) -> ImagesError {
    remote_msg(e.to_string())
}

fn remote_msg(message: String) -> ImagesError {
    ImagesError::Remote {
        kind: crate::error_kind::ErrorKind::Internal,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_errors_read_as_dockerd() {
        let r = reference::parse_normalized_named("127.0.0.1:5055/busybox:nope").unwrap();
        let e = crate::registry::error::from_response(
            "Get",
            "u",
            404,
            "Not Found",
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        );
        let e = pull_error(e, &r);
        assert_eq!(e.kind(), crate::error_kind::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "manifest for 127.0.0.1:5055/busybox:nope not found: manifest unknown: manifest unknown"
        );
        let e = crate::registry::error::from_response(
            "Get",
            "u",
            401,
            "Unauthorized",
            br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
        );
        assert_eq!(
            pull_error(e, &r).to_string(),
            "pull access denied for 127.0.0.1:5055/busybox, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
        );
    }

    #[test]
    fn channel_reader_reads_across_chunks() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Bytes::from_static(b"abc")).unwrap();
        tx.try_send(Bytes::from_static(b"")).unwrap();
        tx.try_send(Bytes::from_static(b"defg")).unwrap();
        drop(tx);
        let mut out = String::new();
        ChannelReader::new(rx).read_to_string(&mut out).unwrap();
        assert_eq!(out, "abcdefg");
    }
}
