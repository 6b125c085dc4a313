//! Reading an uploaded image archive: `docker save`'s docker-archive (`manifest.json`) and the
//! OCI image layout (`index.json`), with plain or gzip layers.
//!
//! An archive's index sits anywhere in the stream (`docker save` writes `manifest.json` near
//! the end), so the tar is first spooled to a private temporary directory, hashing every file
//! on the way; nothing large is held in memory. Parsing then checks every blob against the
//! digest that names it, and every layer's uncompressed digest against the config's
//! `rootfs.diff_ids`, *before* anything is written to containerd: a bad archive changes
//! nothing. Everything here is blocking and runs on the blocking thread pool.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use spec::image::ImageConfigFile;
use spec::reference::{self, Reference};

use super::error::{io, ImagesError, Result};

pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// containerd's applier sniffs the compression of this type, so it also fits odd archives.
pub const MEDIA_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Annotations naming an image in an OCI layout (containerd's, then the OCI one).
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// JSON documents (index, manifests, configs) are read whole; anything bigger is not one.
const MAX_JSON: u64 = 64 * 1024 * 1024;
/// Symlink chains inside an archive (`docker save` of moby 25 links legacy paths to blobs).
const MAX_LINK_HOPS: usize = 16;

/// A regular file of the archive, copied to the spool directory.
#[derive(Debug, Clone)]
pub struct SpooledFile {
    pub path: PathBuf,
    /// `sha256:<hex>` of the bytes as stored in the archive.
    pub digest: String,
    pub size: u64,
    pub gzip: bool,
    pub zstd: bool,
}

/// The spooled archive: files by their cleaned archive path, and links between paths.
pub struct Spool {
    _dir: tempfile::TempDir,
    files: HashMap<String, SpooledFile>,
    links: HashMap<String, String>,
}

/// Where a blob's bytes come from when it is written to the content store.
#[derive(Debug, Clone)]
pub enum BlobSource {
    File(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub source: BlobSource,
}

#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Blob,
    /// `sha256:` of the uncompressed tar, checked against the config's `rootfs.diff_ids`.
    pub diff_id: String,
    /// What the unpacked layer occupies as dockerd counts it (file sizes, symlink lengths).
    pub unpacked_size: u64,
    /// The length of the uncompressed tar (`docker save` writes it as `layer.tar`).
    pub tar_size: u64,
}

/// One image found in an archive, verified.
#[derive(Debug, Clone)]
pub struct ArchiveImage {
    /// Names to give it, normalised with their tag (`docker.io/library/busybox:latest`).
    pub names: Vec<Reference>,
    /// The manifest the image record will point at: the archive's own (OCI), or one
    /// synthesised as Docker schema 2 (docker-archive, which has none).
    pub manifest: Blob,
    pub config: Blob,
    pub config_file: ImageConfigFile,
    pub layers: Vec<Layer>,
}

impl ArchiveImage {
    /// The image ID: the config's digest.
    pub fn id(&self) -> &str {
        &self.config.digest
    }
}

/// Copies the tar stream into `dir`, hashing each file. Paths are cleaned (no escape from
/// the archive root); only regular files, symlinks and hard links matter.
pub fn spool(reader: impl Read, dir: &Path) -> Result<Spool> {
    let tmp = tempfile::Builder::new()
        .prefix("load-")
        .tempdir_in(dir)
        .map_err(io(format!(
            "creating a spool directory in {}",
            dir.display()
        )))?;
    let mut files = HashMap::new();
    let mut links = HashMap::new();
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| ImagesError::InvalidArchive(format!("reading the tar stream: {e}")))?;
    for (n, entry) in entries.enumerate() {
        let mut entry = entry
            .map_err(|e| ImagesError::InvalidArchive(format!("reading the tar stream: {e}")))?;
        let raw_path = entry
            .path()
            .map_err(|e| ImagesError::InvalidArchive(format!("bad entry name: {e}")))?
            .into_owned();
        let Some(name) = clean_path(&raw_path, "") else {
            continue;
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let path = tmp.path().join(format!("f{n}"));
                let file = copy_hashed(&mut entry, &path)
                    .map_err(io(format!("spooling {name} to {}", path.display())))?;
                files.insert(name, file);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| ImagesError::InvalidArchive(format!("bad link in {name}: {e}")))?
                    .ok_or_else(|| {
                        ImagesError::InvalidArchive(format!("link {name} has no target"))
                    })?
                    .into_owned();
                // A symlink is relative to its directory; a hard link names an archive path.
                let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                    name.rsplit_once('/').map_or("", |(d, _)| d).to_string()
                } else {
                    String::new()
                };
                if let Some(t) = clean_path(&target, &base) {
                    links.insert(name, t);
                }
            }
            _ => {}
        }
    }
    Ok(Spool {
        _dir: tmp,
        files,
        links,
    })
}

/// The archive path `p` (relative to `base`) as `a/b/c`, or `None` for the root itself.
/// `..` never climbs above the archive root, and an absolute path starts at the root.
fn clean_path(p: &Path, base: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if !p.is_absolute() {
        parts.extend(
            base.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

pub(super) fn copy_hashed(src: &mut impl Read, dest: &Path) -> io::Result<SpooledFile> {
    let mut out = io::BufWriter::new(File::create(dest)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    let mut magic = Vec::with_capacity(4);
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if magic.len() < 4 {
            let take = (4 - magic.len()).min(n);
            magic.extend_from_slice(&chunk[..take]);
        }
        hasher.update(chunk);
        out.write_all(chunk)?;
        size += n as u64;
    }
    out.flush()?;
    Ok(SpooledFile {
        path: dest.to_path_buf(),
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        size,
        gzip: magic.starts_with(&[0x1f, 0x8b]),
        zstd: magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
    })
}

impl Spool {
    /// The file at an archive path, following links.
    pub fn get(&self, name: &str) -> Result<&SpooledFile> {
        let mut cur = clean_path(Path::new(name), "").unwrap_or_default();
        for _ in 0..MAX_LINK_HOPS {
            if let Some(f) = self.files.get(&cur) {
                return Ok(f);
            }
            match self.links.get(&cur) {
                Some(next) => cur = next.clone(),
                None => break,
            }
        }
        Err(ImagesError::InvalidArchive(format!(
            "{name} not found in the archive"
        )))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_ok()
    }

    /// A JSON document of the archive, read whole.
    pub fn read_json_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let f = self.get(name)?;
        if f.size > MAX_JSON {
            return Err(ImagesError::InvalidArchive(format!(
                "{name} is too large ({} bytes) for a JSON document",
                f.size
            )));
        }
        std::fs::read(&f.path).map_err(io(format!("reading spooled {name}")))
    }
}

/// Parses and verifies the images of a spooled archive: docker-archive when it has a
/// `manifest.json` (moby 25 writes both indexes; moby reads this one), else OCI layout.
pub fn parse(spool: &Spool) -> Result<Vec<ArchiveImage>> {
    if spool.contains("oci-layout") && spool.contains("index.json") {
        // containerd's importer rule: an OCI layout wins over a docker manifest.json that
        // moby 25 writes beside it, whose RepoTags still name images the index leaves
        // unnamed.
        let mut images = parse_oci(spool)?;
        if spool.contains("manifest.json") {
            merge_docker_names(spool, &mut images)?;
        }
        Ok(images)
    } else if spool.contains("manifest.json") {
        parse_docker(spool)
    } else if spool.contains("index.json") {
        parse_oci(spool)
    } else if spool.contains("repositories") {
        Err(ImagesError::InvalidArchive(
            "legacy (pre-1.10) image archives without manifest.json are not supported".into(),
        ))
    } else {
        Err(ImagesError::InvalidArchive(
            "neither manifest.json (docker save) nor index.json (OCI layout) found".into(),
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

fn parse_docker(spool: &Spool) -> Result<Vec<ArchiveImage>> {
    let raw = spool.read_json_bytes("manifest.json")?;
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&raw)
        .map_err(|e| ImagesError::InvalidArchive(format!("manifest.json: {e}")))?;
    let mut images: Vec<ArchiveImage> = Vec::new();
    for entry in entries {
        let config_file = spool.get(&entry.config)?;
        // Both the legacy `<hex>.json` and the moby 25 `blobs/sha256/<hex>` name the digest.
        if let Some(expected) = digest_from_path(&entry.config) {
            check_digest(
                &format!("config {}", entry.config),
                &expected,
                &config_file.digest,
            )?;
        }
        let config_bytes = spool.read_json_bytes(&entry.config)?;
        let config = ImageConfigFile::from_slice(&config_bytes)
            .map_err(|e| ImagesError::InvalidArchive(format!("config {}: {e}", entry.config)))?;
        let diff_ids = config.diff_ids();
        if diff_ids.len() != entry.layers.len() {
            return Err(ImagesError::InvalidArchive(format!(
                "invalid manifest, layers length mismatch: expected {}, got {}",
                diff_ids.len(),
                entry.layers.len()
            )));
        }
        let mut layers = Vec::with_capacity(entry.layers.len());
        for (i, (path, diff_id)) in entry.layers.iter().zip(diff_ids).enumerate() {
            let file = spool.get(path)?;
            let what = format!("layer {} ({path})", i + 1);
            let digests = inspect_layer(file, &what)?;
            check_digest(&what, diff_id, &digests.diff_id)?;
            let media_type = if file.gzip {
                MEDIA_DOCKER_LAYER_GZIP
            } else {
                MEDIA_DOCKER_LAYER
            };
            layers.push(Layer {
                blob: Blob {
                    media_type: media_type.to_string(),
                    digest: file.digest.clone(),
                    size: file.size,
                    source: BlobSource::File(file.path.clone()),
                },
                diff_id: diff_id.clone(),
                unpacked_size: digests.unpacked_size,
                tar_size: digests.tar_size,
            });
        }
        let mut names = Vec::new();
        for tag in entry.repo_tags.unwrap_or_default() {
            let r = reference::parse_normalized_named(&tag)
                .map_err(|e| ImagesError::InvalidArchive(format!("invalid tag {tag:?}: {e}")))?;
            if r.tag().is_none() || r.digest().is_some() {
                return Err(ImagesError::InvalidArchive(format!("invalid tag {tag:?}")));
            }
            names.push(r);
        }
        let config_blob = Blob {
            media_type: MEDIA_DOCKER_CONFIG.to_string(),
            digest: config_file.digest.clone(),
            size: config_file.size,
            source: BlobSource::Bytes(config_bytes),
        };
        let manifest = synthesize_manifest(&config_blob, &layers)?;
        push_merged(
            &mut images,
            ArchiveImage {
                names,
                manifest,
                config: config_blob,
                config_file: config,
                layers,
            },
        );
    }
    if images.is_empty() {
        return Err(ImagesError::InvalidArchive(
            "manifest.json lists no image".into(),
        ));
    }
    Ok(images)
}

/// Adds `manifest.json`'s RepoTags to the OCI images with the same config.
fn merge_docker_names(spool: &Spool, images: &mut [ArchiveImage]) -> Result<()> {
    let raw = spool.read_json_bytes("manifest.json")?;
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&raw)
        .map_err(|e| ImagesError::InvalidArchive(format!("manifest.json: {e}")))?;
    for entry in entries {
        let Ok(config) = spool.get(&entry.config) else {
            continue;
        };
        let Some(img) = images.iter_mut().find(|i| i.config.digest == config.digest) else {
            continue;
        };
        for tag in entry.repo_tags.unwrap_or_default() {
            let r = reference::parse_normalized_named(&tag)
                .map_err(|e| ImagesError::InvalidArchive(format!("invalid tag {tag:?}: {e}")))?
                .with_default_tag();
            if !img.names.contains(&r) {
                img.names.push(r);
            }
        }
    }
    Ok(())
}

/// Merges the names of an image listed twice (same manifest) instead of loading it twice.
fn push_merged(images: &mut Vec<ArchiveImage>, img: ArchiveImage) {
    if let Some(prev) = images
        .iter_mut()
        .find(|p| p.manifest.digest == img.manifest.digest)
    {
        for n in img.names {
            if !prev.names.contains(&n) {
                prev.names.push(n);
            }
        }
    } else {
        images.push(img);
    }
}

/// A Docker schema 2 manifest for a docker-archive image, so that the image record has a
/// proper target and containerd's GC labels have something to hang from. Deterministic:
/// the same archive always yields the same manifest digest.
pub(super) fn synthesize_manifest(config: &Blob, layers: &[Layer]) -> Result<Blob> {
    let desc = |b: &Blob| serde_json::json!({"mediaType": b.media_type, "size": b.size, "digest": b.digest});
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_DOCKER_MANIFEST,
        "config": desc(config),
        "layers": layers.iter().map(|l| desc(&l.blob)).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|source| ImagesError::Corrupt {
        what: "encoding a manifest".into(),
        source,
    })?;
    Ok(Blob {
        media_type: MEDIA_DOCKER_MANIFEST.to_string(),
        digest: sha256_digest(&bytes),
        size: bytes.len() as u64,
        source: BlobSource::Bytes(bytes),
    })
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `abc….json` or `blobs/sha256/abc…` → `sha256:abc…`.
fn digest_from_path(path: &str) -> Option<String> {
    let clean = clean_path(Path::new(path), "")?;
    let last = clean.rsplit('/').next()?;
    let hex = last.strip_suffix(".json").unwrap_or(last);
    reference::is_full_hex_id(hex).then(|| format!("sha256:{hex}"))
}

fn check_digest(what: &str, expected: &str, actual: &str) -> Result<()> {
    if expected != actual {
        return Err(ImagesError::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// What reading a layer through tells: see [`inspect_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LayerDigests {
    pub diff_id: String,
    pub unpacked_size: u64,
    pub tar_size: u64,
}

/// Decompresses a layer as needed and returns its diff ID, its uncompressed length and unpacked size (the sum of
/// regular file sizes and symlink target lengths, which is what dockerd's overlay2 driver
/// reports as a layer's size: `directory.Size` of the diff directory).
pub(super) fn inspect_layer(file: &SpooledFile, what: &str) -> Result<LayerDigests> {
    let f = File::open(&file.path).map_err(io(format!("opening spooled {what}")))?;
    inspect_stream(f, what)
}

/// [`inspect_layer`] of any reader (a registry download as it arrives); the compression
/// (none, gzip, zstd) is sniffed from the first bytes.
pub(super) fn inspect_stream(src: impl Read, what: &str) -> Result<LayerDigests> {
    let inner = decompressed(src, what)?;
    let bad = |e: io::Error| ImagesError::InvalidArchive(format!("{what} is not a valid tar: {e}"));
    let mut hashing = HashingReader {
        inner,
        hasher: Sha256::new(),
        count: 0,
    };
    let mut size = 0u64;
    {
        let mut tar = tar::Archive::new(&mut hashing);
        for entry in tar.entries().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => size += entry.size(),
                tar::EntryType::Symlink => {
                    size += entry.link_name_bytes().map_or(0, |l| l.len() as u64);
                }
                _ => {}
            }
        }
    }
    // The archive reader stops at the end-of-archive marker; the digest covers the padding.
    io::copy(&mut hashing, &mut io::sink()).map_err(bad)?;
    Ok(LayerDigests {
        tar_size: hashing.count,
        diff_id: format!("sha256:{}", hex::encode(hashing.hasher.finalize())),
        unpacked_size: size,
    })
}

/// The layer tar inside `src`, whose compression (none, gzip, zstd) is sniffed from the
/// first bytes.
pub(super) fn decompressed<'a>(src: impl Read + 'a, what: &str) -> Result<Box<dyn Read + 'a>> {
    let mut src = BufReader::with_capacity(256 * 1024, src);
    let magic = io::BufRead::fill_buf(&mut src)
        .map_err(io(format!("reading {what}")))?
        .get(..4)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(src))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            ruzstd::decoding::StreamingDecoder::new(src).map_err(|e| {
                ImagesError::InvalidArchive(format!("{what}: bad zstd stream: {e}"))
            })?,
        )
    } else {
        Box::new(src)
    })
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[derive(Deserialize, Clone)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, Clone)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

fn parse_oci(spool: &Spool) -> Result<Vec<ArchiveImage>> {
    let raw = spool.read_json_bytes("index.json")?;
    let index: Index = serde_json::from_slice(&raw)
        .map_err(|e| ImagesError::InvalidArchive(format!("index.json: {e}")))?;
    let mut images = Vec::new();
    for desc in &index.manifests {
        let names = oci_names(desc)?;
        let manifest_desc = resolve_platform_manifest(spool, desc)?;
        let mut img = oci_image(spool, &manifest_desc)?;
        img.names = names;
        push_merged(&mut images, img);
    }
    if images.is_empty() {
        return Err(ImagesError::InvalidArchive(
            "index.json lists no image".into(),
        ));
    }
    Ok(images)
}

/// The name of an index entry: containerd's annotation (a full reference), else the OCI
/// `ref.name` when it is a full reference. A bare `ref.name` such as `latest` is only a tag
/// within a layout, not an image name, so such images load untagged.
fn oci_names(desc: &Descriptor) -> Result<Vec<Reference>> {
    let full = desc.annotations.get(ANNOTATION_IMAGE_NAME).or_else(|| {
        desc.annotations
            .get(ANNOTATION_REF_NAME)
            .filter(|n| n.contains(['/', ':', '@']))
    });
    let Some(name) = full else {
        return Ok(Vec::new());
    };
    let r = reference::parse_normalized_named(name)
        .map_err(|e| ImagesError::InvalidArchive(format!("invalid image name {name:?}: {e}")))?;
    if r.digest().is_some() && r.tag().is_none() {
        // A digest-only name is a RepoDigest; nothing to tag.
        return Ok(Vec::new());
    }
    Ok(vec![r.with_default_tag()])
}

/// The blob a descriptor names, verified (digest and size).
fn oci_blob<'a>(spool: &'a Spool, desc: &Descriptor, what: &str) -> Result<&'a SpooledFile> {
    let (alg, hex) = desc.digest.split_once(':').ok_or_else(|| {
        ImagesError::InvalidArchive(format!("{what}: invalid digest {:?}", desc.digest))
    })?;
    if alg != "sha256" {
        return Err(ImagesError::InvalidArchive(format!(
            "{what}: unsupported digest algorithm {alg}"
        )));
    }
    reference::validate_digest(&desc.digest)
        .map_err(|e| ImagesError::InvalidArchive(format!("{what}: {e}")))?;
    let file = spool.get(&format!("blobs/{alg}/{hex}"))?;
    check_digest(what, &desc.digest, &file.digest)?;
    if i64::try_from(file.size).ok() != Some(desc.size) {
        return Err(ImagesError::InvalidArchive(format!(
            "{what}: size mismatch: expected {}, got {}",
            desc.size, file.size
        )));
    }
    Ok(file)
}

fn is_index(media_type: &str, raw: &serde_json::Value) -> bool {
    media_type == MEDIA_OCI_INDEX
        || media_type == MEDIA_DOCKER_MANIFEST_LIST
        || (media_type.is_empty() && raw.get("manifests").is_some())
}

/// Follows nested indexes down to the manifest for this host's platform.
fn resolve_platform_manifest(spool: &Spool, desc: &Descriptor) -> Result<Descriptor> {
    let mut cur = desc.clone();
    for _ in 0..4 {
        let file = oci_blob(spool, &cur, &format!("manifest {}", cur.digest))?;
        let bytes = spool.read_json_bytes_at(file, &cur.digest)?;
        let raw: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ImagesError::InvalidArchive(format!("manifest {}: {e}", cur.digest)))?;
        let media_type = if cur.media_type.is_empty() {
            raw.get("mediaType")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_string()
        } else {
            cur.media_type.clone()
        };
        if !is_index(&media_type, &raw) {
            cur.media_type = media_type;
            return Ok(cur);
        }
        let index: Index = serde_json::from_value(raw)
            .map_err(|e| ImagesError::InvalidArchive(format!("index {}: {e}", cur.digest)))?;
        let (os, arch) = host_platform();
        let next = index
            .manifests
            .iter()
            .filter(|d| {
                d.annotations
                    .get("vnd.docker.reference.type")
                    .map(String::as_str)
                    != Some("attestation-manifest")
            })
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_none_or(|p| p.os == os && p.architecture == arch)
            })
            .ok_or_else(|| {
                ImagesError::InvalidArchive(format!(
                    "no matching manifest for {os}/{arch} in the manifest list entries"
                ))
            })?;
        cur = next.clone();
    }
    Err(ImagesError::InvalidArchive(format!(
        "manifest {}: indexes nested too deeply",
        desc.digest
    )))
}

impl Spool {
    fn read_json_bytes_at(&self, file: &SpooledFile, what: &str) -> Result<Vec<u8>> {
        if file.size > MAX_JSON {
            return Err(ImagesError::InvalidArchive(format!(
                "{what} is too large ({} bytes) for a JSON document",
                file.size
            )));
        }
        std::fs::read(&file.path).map_err(io(format!("reading spooled {what}")))
    }
}

/// This host's platform in OCI terms (`linux/amd64`).
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}

fn oci_image(spool: &Spool, desc: &Descriptor) -> Result<ArchiveImage> {
    let what = format!("manifest {}", desc.digest);
    let file = oci_blob(spool, desc, &what)?;
    let bytes = spool.read_json_bytes_at(file, &what)?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| ImagesError::InvalidArchive(format!("{what}: {e}")))?;
    let media_type = if desc.media_type.is_empty() {
        manifest
            .media_type
            .clone()
            .unwrap_or_else(|| MEDIA_OCI_MANIFEST.to_string())
    } else {
        desc.media_type.clone()
    };
    let config_what = format!("config {}", manifest.config.digest);
    let config_file = oci_blob(spool, &manifest.config, &config_what)?;
    let config_bytes = spool.read_json_bytes_at(config_file, &config_what)?;
    let config = ImageConfigFile::from_slice(&config_bytes)
        .map_err(|e| ImagesError::InvalidArchive(format!("{config_what}: {e}")))?;
    let diff_ids = config.diff_ids();
    if diff_ids.len() != manifest.layers.len() {
        return Err(ImagesError::InvalidArchive(format!(
            "invalid manifest, layers length mismatch: expected {}, got {}",
            diff_ids.len(),
            manifest.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for (i, (ld, diff_id)) in manifest.layers.iter().zip(diff_ids).enumerate() {
        let what = format!("layer {} ({})", i + 1, ld.digest);
        let file = oci_blob(spool, ld, &what)?;
        let digests = inspect_layer(file, &what)?;
        check_digest(&what, diff_id, &digests.diff_id)?;
        layers.push(Layer {
            blob: Blob {
                media_type: if ld.media_type.is_empty() {
                    MEDIA_DOCKER_LAYER.to_string()
                } else {
                    ld.media_type.clone()
                },
                digest: ld.digest.clone(),
                size: file.size,
                source: BlobSource::File(file.path.clone()),
            },
            diff_id: diff_id.clone(),
            unpacked_size: digests.unpacked_size,
            tar_size: digests.tar_size,
        });
    }
    Ok(ArchiveImage {
        names: Vec::new(),
        manifest: Blob {
            media_type,
            digest: desc.digest.clone(),
            size: file.size,
            source: BlobSource::File(file.path.clone()),
        },
        config: Blob {
            media_type: if manifest.config.media_type.is_empty() {
                MEDIA_DOCKER_CONFIG.to_string()
            } else {
                manifest.config.media_type.clone()
            },
            digest: manifest.config.digest.clone(),
            size: config_file.size,
            source: BlobSource::Bytes(config_bytes),
        },
        config_file: config,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o755);
        b.append_data(&mut h, "bin/tool", &b"hello"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "bin/alias", "tool").unwrap();
        b.into_inner().unwrap()
    }

    fn docker_archive(layer: &[u8], diff_id: &str, tags: &str) -> Vec<u8> {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        );
        let config_hex = &sha256_digest(config.as_bytes())[7..];
        let manifest = format!(
            r#"[{{"Config":"{config_hex}.json","RepoTags":{tags},"Layers":["l1/layer.tar"]}}]"#
        );
        tar_of(&[
            ("l1/layer.tar", layer),
            (&format!("{config_hex}.json"), config.as_bytes()),
            ("manifest.json", manifest.as_bytes()),
        ])
    }

    fn load(archive: &[u8]) -> Result<Vec<ArchiveImage>> {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(archive, dir.path())?;
        parse(&spool)
    }

    #[test]
    fn docker_archive_plain_layer() {
        let l = layer();
        let diff_id = sha256_digest(&l);
        let images = load(&docker_archive(
            &l,
            &diff_id,
            r#"["busybox:latest","x/y:1"]"#,
        ))
        .unwrap();
        assert_eq!(images.len(), 1);
        let img = &images[0];
        assert_eq!(img.names[0].to_string(), "docker.io/library/busybox:latest");
        assert_eq!(img.names[1].to_string(), "docker.io/x/y:1");
        assert_eq!(img.layers[0].diff_id, diff_id);
        assert_eq!(img.layers[0].blob.media_type, MEDIA_DOCKER_LAYER);
        // 5 bytes of file + 4 bytes of symlink target
        assert_eq!(img.layers[0].unpacked_size, 9);
        assert_eq!(img.manifest.media_type, MEDIA_DOCKER_MANIFEST);
        let BlobSource::Bytes(m) = &img.manifest.source else {
            panic!("synthesised manifest is in memory")
        };
        let m: serde_json::Value = serde_json::from_slice(m).unwrap();
        assert_eq!(m["config"]["digest"], img.config.digest);
        assert_eq!(m["layers"][0]["digest"], sha256_digest(&l));
    }

    #[test]
    fn docker_archive_gzip_layer() {
        let l = layer();
        let diff_id = sha256_digest(&l);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&l).unwrap();
        let gz = gz.finish().unwrap();
        let images = load(&docker_archive(&gz, &diff_id, "null")).unwrap();
        assert!(images[0].names.is_empty());
        assert_eq!(images[0].layers[0].blob.media_type, MEDIA_DOCKER_LAYER_GZIP);
        assert_eq!(images[0].layers[0].blob.digest, sha256_digest(&gz));
    }

    #[test]
    fn rejects_layer_digest_mismatch() {
        let l = layer();
        let wrong = sha256_digest(b"something else");
        let err = load(&docker_archive(&l, &wrong, "[]")).unwrap_err();
        assert!(matches!(err, ImagesError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains("layer 1 (l1/layer.tar)"), "{err}");
    }

    #[test]
    fn rejects_config_digest_mismatch() {
        let l = layer();
        let manifest = r#"[{"Config":"0000000000000000000000000000000000000000000000000000000000000000.json","RepoTags":[],"Layers":[]}]"#;
        let archive = tar_of(&[
            (
                "0000000000000000000000000000000000000000000000000000000000000000.json",
                b"{}",
            ),
            ("manifest.json", manifest.as_bytes()),
            ("l", &l),
        ]);
        let err = load(&archive).unwrap_err();
        assert!(matches!(err, ImagesError::DigestMismatch { .. }), "{err}");
    }

    #[test]
    fn rejects_archives_without_index() {
        let err = load(&tar_of(&[("foo", b"bar")])).unwrap_err();
        assert!(err.to_string().contains("neither manifest.json"), "{err}");
        let err = load(b"this is not a tar archive at all, just some text....").unwrap_err();
        assert!(matches!(err, ImagesError::InvalidArchive(_)), "{err}");
    }

    #[test]
    fn paths_are_confined() {
        assert_eq!(clean_path(Path::new("./a/b"), ""), Some("a/b".into()));
        assert_eq!(
            clean_path(Path::new("../../etc/passwd"), ""),
            Some("etc/passwd".into())
        );
        assert_eq!(
            clean_path(Path::new("../x"), "blobs/sha256"),
            Some("blobs/x".into())
        );
        assert_eq!(clean_path(Path::new("/abs"), "dir"), Some("abs".into()));
        assert_eq!(clean_path(Path::new("."), ""), None);
        assert_eq!(
            digest_from_path(
                "blobs/sha256/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            Some("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into())
        );
        assert_eq!(digest_from_path("config.json"), None);
    }

    #[test]
    fn oci_layout_with_gzip_layer_and_names() {
        let l = layer();
        let diff_id = sha256_digest(&l);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&l).unwrap();
        let gz = gz.finish().unwrap();
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        );
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MEDIA_OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
            sha256_digest(config.as_bytes()),
            config.len(),
            sha256_digest(&gz),
            gz.len()
        );
        let md = sha256_digest(manifest.as_bytes());
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{MEDIA_OCI_MANIFEST}","digest":"{md}","size":{},"annotations":{{"io.containerd.image.name":"docker.io/library/busybox:oci","org.opencontainers.image.ref.name":"oci"}}}},{{"mediaType":"{MEDIA_OCI_MANIFEST}","digest":"{md}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"example.com/app:2"}}}}]}}"#,
            manifest.len(),
            manifest.len()
        );
        let blob = |d: &str| format!("blobs/sha256/{}", &d[7..]);
        let archive = tar_of(&[
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
            ("index.json", index.as_bytes()),
            (&blob(&md), manifest.as_bytes()),
            (&blob(&sha256_digest(config.as_bytes())), config.as_bytes()),
            (&blob(&sha256_digest(&gz)), &gz),
        ]);
        let images = load(&archive).unwrap();
        assert_eq!(images.len(), 1);
        let names: Vec<String> = images[0].names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            names,
            ["docker.io/library/busybox:oci", "example.com/app:2"]
        );
        assert_eq!(images[0].manifest.digest, md);
        assert_eq!(images[0].layers[0].diff_id, diff_id);
    }
}
