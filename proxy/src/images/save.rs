//! `docker save` (`GET /images/{name}/get`, `GET /images/get?names=…`): a docker-archive
//! tar as dockerd 20.10's `image/tarexport` writes it.
//!
//! ```text
//! <v1 id>/VERSION      "1.0"
//! <v1 id>/json         the legacy v1 image JSON of that layer
//! <v1 id>/layer.tar    the uncompressed layer (its sha256 is the diff ID), or a symlink to
//!                      an earlier copy of the same diff
//! <config hex>.json    the config blob, byte for byte (its digest is the image ID)
//! manifest.json        [{"Config": …, "RepoTags": […] | null, "Layers": […]}]
//! repositories         {"busybox": {"latest": "<top v1 id>"}}, only when something is tagged
//! ```
//!
//! The v1 IDs are moby's `v1.CreateID` (a digest of the v1 JSON with the chain ID and parent
//! v1 ID), so an archive of the same image has the same layout as one dockerd writes. The
//! whole plan (names, paths, sizes) is made before anything is sent, so a missing image is a
//! plain 404; the layers are then streamed from the content store, decompressed on the fly
//! when stored compressed, and checked against their diff IDs as they go.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Write};

use bytes::Bytes;
use containerd_client::types::Descriptor;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use spec::reference::{self, AnyReference, Reference};
use tokio::sync::mpsc;

use super::error::{ImagesError, Result};
use super::gojson::{self, Object};
use super::ingest::{self, Lease};
use super::{chain_ids, resolve_in, ImageRecord, ImageStore, LABEL_TAR_SIZE};

/// What moby writes as `VERSION` in each layer directory.
const LEGACY_VERSION: &[u8] = b"1.0";
/// `time.Unix(0, 0)`: the `created` of every v1 JSON but the top layer's.
const EPOCH: &str = "1970-01-01T00:00:00Z";
/// Bytes handed to the HTTP body at a time.
const SEND_CHUNK: usize = 256 * 1024;

/// A `docker save` under way: the images it holds (for the `save` events) and the tar.
pub struct SaveStream {
    pub ids: Vec<String>,
    /// The archive in chunks; an `Err` means it was abandoned midway (the body must end
    /// in error so that the client sees a broken transfer, not a short archive).
    pub body: mpsc::Receiver<io::Result<Bytes>>,
}

impl ImageStore {
    /// `docker save`: resolves every name and plans the archive first (errors here are
    /// plain API errors), then streams it from a blocking task. A lease keeps the blobs
    /// from being collected if the images are deleted meanwhile.
    pub async fn save(&self, names: &[String]) -> Result<SaveStream> {
        let records = self.list().await?;
        let selected = select(&records, names)?;
        let lease = Lease::create(self.cd()?, "save").await?;
        let planned = async {
            let inputs = self.save_inputs(&lease, &selected).await?;
            let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
            plan(&inputs, now)
        }
        .await;
        let entries = match planned {
            Ok(e) => e,
            Err(e) => {
                lease.release().await;
                return Err(e);
            }
        };
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
        let cd = self.cd()?.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::spawn(async move {
            let writer = ChannelWriter::new(tx.clone());
            let task = tokio::task::spawn_blocking(move || {
                let open = |digest: &str| -> io::Result<Box<dyn Read + Send>> {
                    let r = handle
                        .block_on(ingest::blob_reader(&cd, digest))
                        .map_err(|e| io::Error::other(e.to_string()))?;
                    Ok(Box::new(tokio_util::io::SyncIoBridge::new_with_handle(
                        r,
                        handle.clone(),
                    )))
                };
                write_archive(entries, &open, writer)
            });
            let result = match task.await {
                Ok(r) => r,
                Err(e) => Err(io::Error::other(format!("the save task failed: {e}"))),
            };
            if let Err(e) = result {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    tracing::warn!("docker save: {e}");
                    let _ = tx.send(Err(e)).await;
                }
            }
            lease.release().await;
        });
        Ok(SaveStream {
            ids: selected.iter().map(|s| s.rec.id.clone()).collect(),
            body: rx,
        })
    }

    /// The config bytes and layer facts of each image; every blob joins the lease.
    async fn save_inputs(&self, lease: &Lease, selected: &[Selection]) -> Result<Vec<ImageInput>> {
        let mut out = Vec::new();
        for s in selected {
            let rec = &s.rec;
            lease.add("content", &rec.id).await?;
            let config = ingest::read_blob(self.cd()?, &rec.id).await?;
            if rec.layers.len() != rec.diff_ids.len() {
                return Err(ImagesError::Internal(format!(
                    "image {}: the manifest has {} layers, the config {} diff IDs",
                    rec.id,
                    rec.layers.len(),
                    rec.diff_ids.len()
                )));
            }
            let mut layers = Vec::new();
            for (blob, diff_id) in rec.layers.iter().zip(&rec.diff_ids) {
                lease.add("content", &blob.digest).await?;
                let prefix = ingest::read_prefix(self.cd()?, &blob.digest, 4).await?;
                let compression = Compression::sniff(&prefix).ok_or_else(|| {
                    ImagesError::InvalidArgument(format!(
                        "layer {} of {} is zstd-compressed, which dockbridge cannot save yet",
                        blob.digest, rec.id
                    ))
                })?;
                let tar_size = match compression {
                    Compression::Plain => u64::try_from(blob.size).ok(),
                    Compression::Gzip => ingest::info(self.cd()?, &blob.digest)
                        .await?
                        .and_then(|i| i.labels.get(LABEL_TAR_SIZE).and_then(|v| v.parse().ok())),
                };
                layers.push(LayerInput {
                    blob: blob.clone(),
                    diff_id: diff_id.clone(),
                    compression,
                    tar_size,
                });
            }
            out.push(ImageInput {
                id: rec.id.clone(),
                config,
                tags: s.tags.clone(),
                layers,
            });
        }
        Ok(out)
    }
}

/// One image to save and the tags to give it in `manifest.json`.
#[derive(Debug, Clone)]
pub struct Selection {
    pub rec: ImageRecord,
    pub tags: Vec<Reference>,
}

/// Which images `names` ask for, and under which tags, as moby's `parseNames` decides:
/// a tag names itself; a repository without a tag means every tag of it (or, with none,
/// an ID prefix); an ID, `sha256:` ID or digest reference gets no tag. An image asked for
/// twice is saved once, with every tag asked for.
pub fn select(records: &[ImageRecord], names: &[String]) -> Result<Vec<Selection>> {
    let mut out: Vec<Selection> = Vec::new();
    let mut add = |rec: &ImageRecord, tag: Option<Reference>| {
        let i = match out.iter().position(|s| s.rec.id == rec.id) {
            Some(i) => i,
            None => {
                out.push(Selection {
                    rec: rec.clone(),
                    tags: Vec::new(),
                });
                out.len() - 1
            }
        };
        if let Some(t) = tag {
            if !out[i].tags.contains(&t) {
                out[i].tags.push(t);
            }
        }
    };
    for name in names {
        let any = reference::parse_any(name)?;
        let AnyReference::Named(r) = &any else {
            add(&resolve_in(records, name, any)?, None);
            continue;
        };
        if r.familiar_name() == "sha256" || r.digest().is_some() {
            // `sha256:<prefix>` is an ID; `repo@sha256:…` is a manifest, not a tag to give.
            add(&resolve_in(records, name, any.clone())?, None);
        } else if r.tag().is_none() {
            let repo = r.name();
            let mut found = false;
            for rec in records {
                for t in &rec.tag_names {
                    if let Ok(tagged) = reference::parse_normalized_named(t) {
                        if tagged.name() == repo {
                            add(rec, Some(tagged));
                            found = true;
                        }
                    }
                }
            }
            if !found {
                add(&resolve_in(records, name, any.clone())?, None);
            }
        } else {
            add(&resolve_in(records, name, any.clone())?, Some(r.clone()));
        }
    }
    Ok(out)
}

/// How a layer blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Gzip,
}

impl Compression {
    /// From a blob's first bytes; `None` for a compression that cannot be read (zstd).
    pub fn sniff(prefix: &[u8]) -> Option<Self> {
        if prefix.starts_with(&[0x1f, 0x8b]) {
            Some(Self::Gzip)
        } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            None
        } else {
            Some(Self::Plain)
        }
    }
}

/// A layer to write as `layer.tar`.
#[derive(Debug, Clone)]
pub struct LayerInput {
    pub blob: Descriptor,
    pub diff_id: String,
    pub compression: Compression,
    /// The uncompressed length, when known without reading the layer.
    pub tar_size: Option<u64>,
}

/// An image to save, with what the content store told about it.
#[derive(Debug, Clone)]
pub struct ImageInput {
    pub id: String,
    pub config: Vec<u8>,
    pub tags: Vec<Reference>,
    pub layers: Vec<LayerInput>,
}

#[derive(Debug, Clone)]
pub enum Data {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    Layer(LayerInput),
}

/// One entry of the archive.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    /// Unix seconds.
    pub mtime: u64,
    pub data: Data,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Everything the archive will hold, in the order moby's directory walk writes it (by
/// path). Times as moby sets them with `Chtimes`: the image's creation time on its layer
/// directories and config, the Unix epoch on `manifest.json` and `repositories`; `now` on
/// the directories whose `layer.tar` only links to an earlier copy (moby leaves those).
pub fn plan(images: &[ImageInput], now: u64) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut saved_layers: HashSet<String> = HashSet::new();
    let mut diff_paths: HashMap<String, String> = HashMap::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for img in images {
        let corrupt = |source| ImagesError::Corrupt {
            what: format!("image config {}", img.id),
            source,
        };
        let cfg: Map<String, Value> = serde_json::from_slice(&img.config).map_err(corrupt)?;
        let created = gojson::created_of(&cfg);
        let mtime = chrono::DateTime::parse_from_rfc3339(&created)
            .ok()
            .and_then(|t| u64::try_from(t.timestamp()).ok())
            .unwrap_or(0);
        let os = cfg.get("os").and_then(Value::as_str).unwrap_or_default();
        let diff_ids: Vec<String> = img.layers.iter().map(|l| l.diff_id.clone()).collect();
        if diff_ids.is_empty() {
            // moby cannot save an image without layers either.
            return Err(ImagesError::InvalidArgument(format!(
                "empty export - not implemented: image {} has no layers",
                img.id
            )));
        }
        let chains = chain_ids(&diff_ids);
        let mut parent: Option<String> = None;
        let mut layer_paths = Vec::new();
        for (i, (layer, chain)) in img.layers.iter().zip(&chains).enumerate() {
            let top = i + 1 == img.layers.len();
            let (mut v1, v1_created) = if top {
                (cfg.clone(), created.as_str())
            } else {
                (Map::new(), EPOCH)
            };
            // v1.CreateID: the v1 JSON without its ID, as a map, plus the chain and parent.
            v1.remove("id");
            let mut for_id = gojson::v1_image(&v1, v1_created);
            for_id.string("layer_id", chain);
            if let Some(p) = &parent {
                for_id.string("parent", p);
            }
            let v1_id = sha256_hex(for_id.finish_sorted().as_bytes());
            v1.insert("id".into(), Value::String(v1_id.clone()));
            if let Some(p) = &parent {
                let hex = p.strip_prefix("sha256:").unwrap_or(p);
                v1.insert("parent".into(), Value::String(hex.to_string()));
            }
            v1.insert("os".into(), Value::String(os.to_string()));
            let layer_path = format!("{v1_id}/layer.tar");
            if saved_layers.insert(v1_id.clone()) {
                let json = gojson::v1_image(&v1, v1_created).finish();
                let (data, stamp) = match diff_paths.get(&layer.diff_id) {
                    // The same diff under another v1 ID: moby links to its first copy and
                    // leaves this directory's times alone.
                    Some(earlier) => (Data::Symlink(format!("../{earlier}")), now),
                    None => {
                        diff_paths.insert(layer.diff_id.clone(), layer_path.clone());
                        (Data::Layer(layer.clone()), mtime)
                    }
                };
                entries.push(Entry {
                    path: format!("{v1_id}/"),
                    mtime: stamp,
                    data: Data::Dir,
                });
                entries.push(Entry {
                    path: format!("{v1_id}/VERSION"),
                    mtime: stamp,
                    data: Data::File(LEGACY_VERSION.to_vec()),
                });
                entries.push(Entry {
                    path: format!("{v1_id}/json"),
                    mtime: stamp,
                    data: Data::File(json.into_bytes()),
                });
                entries.push(Entry {
                    path: layer_path.clone(),
                    mtime: stamp,
                    data,
                });
            }
            layer_paths.push(layer_path);
            parent = Some(format!("sha256:{v1_id}"));
        }
        let config_hex = img.id.strip_prefix("sha256:").unwrap_or(&img.id);
        let config_name = format!("{config_hex}.json");
        if !entries.iter().any(|e| e.path == config_name) {
            entries.push(Entry {
                path: config_name.clone(),
                mtime,
                data: Data::File(img.config.clone()),
            });
        }
        let top_v1 = parent
            .as_deref()
            .and_then(|p| p.strip_prefix("sha256:"))
            .unwrap_or_default();
        let mut repo_tags = Vec::new();
        for t in &img.tags {
            if let Some(tag) = t.tag() {
                repositories
                    .entry(t.familiar_name())
                    .or_default()
                    .insert(tag.to_string(), top_v1.to_string());
            }
            repo_tags.push(Value::String(t.familiar_string()));
        }
        let mut item = Object::new();
        item.string("Config", &config_name)
            .value(
                "RepoTags",
                &if repo_tags.is_empty() {
                    Value::Null
                } else {
                    Value::Array(repo_tags)
                },
            )
            .value(
                "Layers",
                &Value::Array(layer_paths.into_iter().map(Value::String).collect()),
            );
        manifest.push(item.finish());
    }
    // json.Encoder terminates each document with a newline; Go's nil slice is `null`.
    let manifest = if manifest.is_empty() {
        "null\n".to_string()
    } else {
        format!("[{}]\n", manifest.join(","))
    };
    entries.push(Entry {
        path: "manifest.json".into(),
        mtime: 0,
        data: Data::File(manifest.into_bytes()),
    });
    if !repositories.is_empty() {
        let repos = serde_json::to_value(&repositories).unwrap_or(Value::Null);
        entries.push(Entry {
            path: "repositories".into(),
            mtime: 0,
            data: Data::File(format!("{}\n", gojson::encode(&repos)).into_bytes()),
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Opens a blob by digest for reading.
pub type Opener<'a> = dyn Fn(&str) -> io::Result<Box<dyn Read + Send>> + 'a;

/// A tar header as Go's `archive/tar` fills it from a file: the mode carries the file type
/// bits too, and the owner is root by name.
fn header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    // Names of at most 32 bytes always fit.
    let _ = h.set_username("root");
    let _ = h.set_groupname("root");
    h
}

/// Writes the planned archive to `out`. Layers are read through `open` (twice for a
/// compressed layer of unknown length: once to measure, once to send); each must produce
/// exactly its diff ID, or the archive is abandoned with an error.
pub fn write_archive(entries: Vec<Entry>, open: &Opener<'_>, out: impl Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    for e in entries {
        match e.data {
            Data::Dir => {
                let mut h = header(tar::EntryType::Directory, 0o40755, e.mtime, 0);
                tar.append_data(&mut h, &e.path, io::empty())?;
            }
            Data::File(bytes) => {
                let len = bytes.len() as u64;
                let mut h = header(tar::EntryType::Regular, 0o100644, e.mtime, len);
                tar.append_data(&mut h, &e.path, bytes.as_slice())?;
            }
            Data::Symlink(target) => {
                let mut h = header(tar::EntryType::Symlink, 0o120777, e.mtime, 0);
                tar.append_link(&mut h, &e.path, &target)?;
            }
            Data::Layer(l) => {
                let size = match l.tar_size {
                    Some(s) => s,
                    None => io::copy(&mut uncompressed(open, &l)?, &mut io::sink())?,
                };
                let mut h = header(tar::EntryType::Regular, 0o100644, e.mtime, size);
                let checked = Checked {
                    inner: uncompressed(open, &l)?,
                    hasher: Sha256::new(),
                    read: 0,
                    size,
                    diff_id: l.diff_id.clone(),
                };
                tar.append_data(&mut h, &e.path, checked)?;
            }
        }
    }
    tar.into_inner()?.flush()
}

fn uncompressed(open: &Opener<'_>, l: &LayerInput) -> io::Result<Box<dyn Read + Send>> {
    let raw = open(&l.blob.digest)?;
    Ok(match l.compression {
        Compression::Plain => raw,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(raw))),
    })
}

/// Passes a layer through, failing at its end unless it had the announced length and
/// hashed to its diff ID (the tar header is out already: better a broken archive than a
/// wrong one).
struct Checked {
    inner: Box<dyn Read + Send>,
    hasher: Sha256,
    read: u64,
    size: u64,
    diff_id: String,
}

impl Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if self.read > self.size || (n == 0 && self.read != self.size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "layer {}: {} bytes, expected {}",
                    self.diff_id, self.read, self.size
                ),
            ));
        }
        if n == 0 && !buf.is_empty() {
            let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if actual != self.diff_id {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("layer {}: content hashes to {actual}", self.diff_id),
                ));
            }
        }
        Ok(n)
    }
}

/// A `Write` into the HTTP body channel. Blocking: used from the blocking pool only.
pub struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<io::Result<Bytes>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(SEND_CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(SEND_CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= SEND_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::load::{self, sha256_digest};

    fn layer(content: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "etc/file", content).unwrap();
        b.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn record(id: &str, tags: &[&str]) -> ImageRecord {
        let tag_names: Vec<String> = tags
            .iter()
            .map(|t| reference::parse_normalized_named(t).unwrap().to_string())
            .collect();
        ImageRecord {
            id: id.into(),
            records: tag_names.clone(),
            tag_names,
            ..Default::default()
        }
    }

    const ID_A: &str = "sha256:aaaa000000000000000000000000000000000000000000000000000000000000";
    const ID_B: &str = "sha256:bbbb000000000000000000000000000000000000000000000000000000000000";

    fn tags_of(s: &Selection) -> Vec<String> {
        s.tags.iter().map(Reference::familiar_string).collect()
    }

    #[test]
    fn selection_follows_moby() {
        let recs = [
            record(ID_A, &["busybox:latest", "busybox:1"]),
            record(ID_B, &["other:v2"]),
        ];
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let s = select(&recs, &names(&["busybox:1", "other:v2"])).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(tags_of(&s[0]), ["busybox:1"]);
        assert_eq!(tags_of(&s[1]), ["other:v2"]);
        // A repository alone: all its tags.
        let s = select(&recs, &names(&["busybox"])).unwrap();
        assert_eq!(tags_of(&s[0]), ["busybox:latest", "busybox:1"]);
        // By ID, full or prefix: no tags; asked twice, saved once.
        let s = select(&recs, &names(&["bbbb", ID_B, &ID_B[7..]])).unwrap();
        assert_eq!(s.len(), 1);
        assert!(s[0].tags.is_empty());
        let s = select(&recs, &names(&["sha256:aaaa", "busybox:latest"])).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(tags_of(&s[0]), ["busybox:latest"]);
        let err = select(&recs, &names(&["missing:1"])).unwrap_err();
        assert_eq!(err.to_string(), "No such image: missing:1");
        assert!(select(&recs, &names(&["Bad Name"])).is_err());
    }

    /// A two-layer image, the lower layer gzip-compressed, saved and read back by the
    /// loader: same config digest, same diff IDs.
    #[test]
    fn archive_round_trips_through_the_loader() {
        let base = layer(b"base");
        let top = layer(b"top");
        let base_gz = gzip(&base);
        let (d1, d2) = (sha256_digest(&base), sha256_digest(&top));
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","created":"2024-05-06T07:08:09.5Z","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{d1}","{d2}"]}}}}"#
        );
        let id = sha256_digest(config.as_bytes());
        let blobs: HashMap<String, Vec<u8>> = HashMap::from([
            (sha256_digest(&base_gz), base_gz.clone()),
            (sha256_digest(&top), top.clone()),
        ]);
        let desc = |b: &[u8]| Descriptor {
            digest: sha256_digest(b),
            size: b.len() as i64,
            ..Default::default()
        };
        let img = ImageInput {
            id: id.clone(),
            config: config.clone().into_bytes(),
            tags: vec![reference::parse_normalized_named("x/y:1").unwrap()],
            layers: vec![
                LayerInput {
                    blob: desc(&base_gz),
                    diff_id: d1.clone(),
                    compression: Compression::Gzip,
                    tar_size: None,
                },
                LayerInput {
                    blob: desc(&top),
                    diff_id: d2.clone(),
                    compression: Compression::Plain,
                    tar_size: Some(top.len() as u64),
                },
            ],
        };
        // The same image again by ID: saved once more under no tag, layers shared.
        let untagged = ImageInput {
            tags: vec![],
            ..img.clone()
        };
        let entries = plan(&[img, untagged], 1_700_000_000).unwrap();
        let open = |d: &str| -> io::Result<Box<dyn Read + Send>> {
            let b = blobs.get(d).cloned().ok_or(io::ErrorKind::NotFound)?;
            Ok(Box::new(io::Cursor::new(b)))
        };
        let mut out = Vec::new();
        write_archive(entries, &open, &mut out).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let spool = load::spool(out.as_slice(), dir.path()).unwrap();
        let images = load::parse(&spool).unwrap();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].id(), id);
        let diffs: Vec<&str> = images[0]
            .layers
            .iter()
            .map(|l| l.diff_id.as_str())
            .collect();
        assert_eq!(diffs, [d1.as_str(), d2.as_str()]);
        assert_eq!(images[0].names[0].familiar_string(), "x/y:1");

        let mut a = tar::Archive::new(out.as_slice());
        let mut files = BTreeMap::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().into_owned();
            let mut s = Vec::new();
            e.read_to_end(&mut s).unwrap();
            files.insert(p, (e.header().mtime().unwrap(), s));
        }
        let manifest: Value = serde_json::from_slice(&files["manifest.json"].1).unwrap();
        assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["x/y:1"]));
        assert_eq!(manifest[1]["RepoTags"], Value::Null);
        assert_eq!(manifest[0]["Layers"], manifest[1]["Layers"]);
        let top_dir = manifest[0]["Layers"][1]
            .as_str()
            .unwrap()
            .replace("/layer.tar", "");
        let repos: Value = serde_json::from_slice(&files["repositories"].1).unwrap();
        assert_eq!(repos["x/y"]["1"], top_dir.as_str());
        let v1: Value = serde_json::from_slice(&files[&format!("{top_dir}/json")].1).unwrap();
        assert_eq!(v1["id"], top_dir.as_str());
        assert_eq!(v1["created"], "2024-05-06T07:08:09.5Z");
        assert_eq!(v1["config"]["Cmd"], serde_json::json!(["sh"]));
        let base_dir = manifest[0]["Layers"][0]
            .as_str()
            .unwrap()
            .replace("/layer.tar", "");
        assert_eq!(v1["parent"], base_dir.as_str());
        assert_eq!(files[&format!("{base_dir}/VERSION")].1, b"1.0");
        assert_eq!(files[&format!("{base_dir}/layer.tar")].1, base);
        assert_eq!(files[&format!("{base_dir}/layer.tar")].0, 1_714_979_289);
        assert_eq!(files[&format!("{}.json", &id[7..])].1, config.as_bytes());
    }

    #[test]
    fn a_wrong_layer_breaks_the_archive() {
        let l = layer(b"x");
        let config = format!(
            r#"{{"os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            sha256_digest(b"other")
        );
        let img = ImageInput {
            id: sha256_digest(config.as_bytes()),
            config: config.into_bytes(),
            tags: vec![],
            layers: vec![LayerInput {
                blob: Descriptor {
                    digest: sha256_digest(&l),
                    size: l.len() as i64,
                    ..Default::default()
                },
                diff_id: sha256_digest(b"other"),
                compression: Compression::Plain,
                tar_size: Some(l.len() as u64),
            }],
        };
        let entries = plan(&[img], 0).unwrap();
        let open = |_: &str| -> io::Result<Box<dyn Read + Send>> {
            Ok(Box::new(io::Cursor::new(l.clone())))
        };
        let err = write_archive(entries, &open, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("hashes to"), "{err}");
    }

    #[test]
    fn images_without_layers_are_refused() {
        let img = ImageInput {
            id: sha256_digest(b"{}"),
            config: b"{}".to_vec(),
            tags: vec![],
            layers: vec![],
        };
        assert!(plan(&[img], 0).is_err());
        assert_eq!(
            Compression::sniff(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::sniff(b"etc/"), Some(Compression::Plain));
        assert_eq!(Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]), None);
    }
}
