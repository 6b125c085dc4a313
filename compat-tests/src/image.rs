//! The suite's test image, built offline from the host's static busybox.
//!
//! Both archive flavours are byte-for-byte deterministic for the same input
//! (fixed mtimes and owners, sorted entries, no gzip timestamp), so the image
//! ID is stable across runs and machines with the same busybox binary.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Where Debian's `busybox-static` installs the binary.
pub const BUSYBOX_PATH: &str = "/bin/busybox";

/// 2000-01-01T00:00:00Z: a fixed, obviously synthetic timestamp.
const EPOCH: u64 = 946_684_800;
const CREATED: &str = "2000-01-01T00:00:00Z";

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Applets linked into /bin; enough for every case and for common scripts.
const APPLETS: &[&str] = &[
    "[",
    "awk",
    "base64",
    "basename",
    "cat",
    "chmod",
    "chown",
    "cp",
    "cut",
    "date",
    "dd",
    "df",
    "dirname",
    "du",
    "echo",
    "env",
    "expr",
    "false",
    "find",
    "grep",
    "head",
    "hostname",
    "id",
    "kill",
    "ln",
    "ls",
    "md5sum",
    "mkdir",
    "mkfifo",
    "mktemp",
    "mv",
    "nproc",
    "od",
    "printf",
    "ps",
    "pwd",
    "readlink",
    "rm",
    "rmdir",
    "sed",
    "seq",
    "sh",
    "sha256sum",
    "sleep",
    "sort",
    "stat",
    "stty",
    "tail",
    "tar",
    "tee",
    "test",
    "timeout",
    "top",
    "touch",
    "tr",
    "true",
    "tty",
    "uname",
    "uniq",
    "wc",
    "whoami",
    "xargs",
    "yes",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

const GROUP: &str = "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n";

/// Knobs for variants of the test image; the public functions use the default.
/// Cases use other variants to get distinct image IDs (dangling images for
/// prune, label filters) without a registry or a build.
#[derive(Debug, Clone, Default)]
pub struct ImageSpec {
    /// Image config labels.
    pub labels: Vec<(String, String)>,
    /// Extra regular files (absolute path, content), e.g. a marker to change
    /// the layer digest.
    pub extra_files: Vec<(String, String)>,
}

/// A built image: its layer, config and digests, ready to be packed.
struct Built {
    layer: Vec<u8>,
    diff_id: String,
    config: Vec<u8>,
    config_hex: String,
}

/// The uncompressed root filesystem layer (a tar), deterministic.
pub fn busybox_layer(spec: &ImageSpec) -> Result<Vec<u8>> {
    let busybox = std::fs::read(BUSYBOX_PATH)
        .with_context(|| format!("reading {BUSYBOX_PATH} (install Debian's busybox-static)"))?;
    let mut entries: Vec<Entry> = vec![
        Entry::dir("bin", 0o755),
        Entry::dir("etc", 0o755),
        Entry::dir("root", 0o700),
        Entry::dir("tmp", 0o1777),
        Entry::dir("usr", 0o755),
        Entry::dir("usr/sbin", 0o755),
        Entry::dir("var", 0o755),
        Entry::file("bin/busybox", 0o755, busybox),
        Entry::file("etc/passwd", 0o644, PASSWD.as_bytes().to_vec()),
        Entry::file("etc/group", 0o644, GROUP.as_bytes().to_vec()),
        // Docker bind-mounts these at run time; the files must exist to be
        // mount targets on engines that do not create them.
        Entry::file("etc/hostname", 0o644, Vec::new()),
        Entry::file("etc/hosts", 0o644, Vec::new()),
        Entry::file("etc/resolv.conf", 0o644, Vec::new()),
    ];
    for applet in APPLETS {
        entries.push(Entry::symlink(&format!("bin/{applet}"), "busybox"));
    }
    for (path, content) in &spec.extra_files {
        let rel = path.trim_start_matches('/');
        entries.push(Entry::file(rel, 0o644, content.as_bytes().to_vec()));
    }
    // Sorted by path so that parents precede children and output is stable.
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries.dedup_by(|a, b| a.path == b.path);

    let mut builder = tar::Builder::new(Vec::new());
    for e in &entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(EPOCH);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(e.mode);
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                builder.append_data(&mut h, format!("{}/", e.path), std::io::empty())?;
            }
            Kind::File(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                builder.append_data(&mut h, &e.path, data.as_slice())?;
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                builder.append_link(&mut h, &e.path, target)?;
            }
        }
    }
    Ok(builder.into_inner()?)
}

enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

struct Entry {
    path: String,
    mode: u32,
    kind: Kind,
}

impl Entry {
    fn dir(path: &str, mode: u32) -> Self {
        Entry {
            path: path.to_string(),
            mode,
            kind: Kind::Dir,
        }
    }
    fn file(path: &str, mode: u32, data: Vec<u8>) -> Self {
        Entry {
            path: path.to_string(),
            mode,
            kind: Kind::File(data),
        }
    }
    fn symlink(path: &str, target: &str) -> Self {
        Entry {
            path: path.to_string(),
            mode: 0o777,
            kind: Kind::Symlink(target.to_string()),
        }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn build(spec: &ImageSpec) -> Result<Built> {
    let layer = busybox_layer(spec)?;
    let diff_id = format!("sha256:{}", sha256_hex(&layer));
    let labels: serde_json::Map<String, Value> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut config = json!({
        "Env": [PATH_ENV],
        "Cmd": ["sh"],
        "WorkingDir": "/",
    });
    if !labels.is_empty() {
        config["Labels"] = Value::Object(labels);
    }
    let cfg = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": CREATED, "created_by": "dockbridge-compat busybox image" }],
    });
    // serde_json's Map is a BTreeMap here, so key order (and the digest) is stable.
    let config = serde_json::to_vec(&cfg)?;
    let config_hex = sha256_hex(&config);
    Ok(Built {
        layer,
        diff_id,
        config,
        config_hex,
    })
}

/// The image ID (`sha256:<config digest>`) an engine must report for the
/// image built from `spec`.
pub fn image_id(spec: &ImageSpec) -> Result<String> {
    Ok(format!("sha256:{}", build(spec)?.config_hex))
}

/// The diff ID of the single layer of the image built from `spec`.
pub fn diff_id(spec: &ImageSpec) -> Result<String> {
    Ok(build(spec)?.diff_id)
}

/// A `docker save`-style archive (manifest.json, config, layer dir,
/// repositories) of the busybox test image, tagged with `repo_tags`.
pub fn busybox_archive(repo_tags: &[&str]) -> Result<Vec<u8>> {
    busybox_archive_with(repo_tags, &ImageSpec::default())
}

/// [`busybox_archive`] for an image variant.
pub fn busybox_archive_with(repo_tags: &[&str], spec: &ImageSpec) -> Result<Vec<u8>> {
    let b = build(spec)?;
    // docker save names the layer directory after the v1 layer ID; any
    // unique name works for load, the layer's own digest is stable.
    let layer_dir = sha256_hex(b.diff_id.as_bytes());
    let manifest = json!([{
        "Config": format!("{}.json", b.config_hex),
        "RepoTags": repo_tags,
        "Layers": [format!("{layer_dir}/layer.tar")],
    }]);
    let mut repositories = serde_json::Map::new();
    for tag in repo_tags {
        let (repo, t) = split_tag(tag);
        let entry = repositories
            .entry(repo.to_string())
            .or_insert_with(|| json!({}));
        if let Value::Object(m) = entry {
            m.insert(t.to_string(), Value::String(layer_dir.clone()));
        }
    }
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (format!("{}.json", b.config_hex), b.config),
        (format!("{layer_dir}/VERSION"), b"1.0".to_vec()),
        (format!("{layer_dir}/layer.tar"), b.layer),
        ("manifest.json".into(), serde_json::to_vec(&manifest)?),
    ];
    if !repo_tags.is_empty() {
        files.push((
            "repositories".into(),
            serde_json::to_vec(&Value::Object(repositories))?,
        ));
    }
    pack(files, &[layer_dir])
}

/// An OCI image layout tar (oci-layout, index.json, blobs/sha256/…) with a
/// gzip-compressed layer. Like `docker save` of Docker 25+, it also carries
/// a manifest.json pointing at the blobs, so engines that only know the
/// docker-archive format (dockerd before 25) load it too.
pub fn busybox_oci_archive(repo_tags: &[&str]) -> Result<Vec<u8>> {
    busybox_oci_archive_with(repo_tags, &ImageSpec::default())
}

/// [`busybox_oci_archive`] for an image variant.
pub fn busybox_oci_archive_with(repo_tags: &[&str], spec: &ImageSpec) -> Result<Vec<u8>> {
    let b = build(spec)?;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &b.layer)?;
    let gz_layer = gz.finish()?;
    let layer_hex = sha256_hex(&gz_layer);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", b.config_hex),
            "size": b.config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{layer_hex}"),
            "size": gz_layer.len(),
        }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_hex = sha256_hex(&manifest_bytes);
    let mut descriptors = Vec::new();
    for tag in repo_tags {
        let (_, t) = split_tag(tag);
        descriptors.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_hex}"),
            "size": manifest_bytes.len(),
            "annotations": {
                "io.containerd.image.name": normalize_name(tag),
                "org.opencontainers.image.ref.name": t,
            },
        }));
    }
    if descriptors.is_empty() {
        descriptors.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_hex}"),
            "size": manifest_bytes.len(),
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": descriptors,
    });
    let docker_manifest = json!([{
        "Config": format!("blobs/sha256/{}", b.config_hex),
        "RepoTags": repo_tags,
        "Layers": [format!("blobs/sha256/{layer_hex}")],
    }]);
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("blobs/sha256/{}", b.config_hex), b.config),
        (format!("blobs/sha256/{layer_hex}"), gz_layer),
        (format!("blobs/sha256/{manifest_hex}"), manifest_bytes),
        ("index.json".into(), serde_json::to_vec(&index)?),
        (
            "manifest.json".into(),
            serde_json::to_vec(&docker_manifest)?,
        ),
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
    ];
    pack(files, &["blobs".into(), "blobs/sha256".into()])
}

/// `repo:tag` → (`repo`, `tag`), where a colon in a registry host:port is
/// not a tag separator.
pub fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rfind(':') {
        Some(i) if !reference[i + 1..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "latest"),
    }
}

/// The fully qualified name containerd stores (`docker.io/library/x:tag`).
fn normalize_name(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or_default();
    let has_domain = reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_domain {
        reference.to_string()
    } else if reference.contains('/') {
        format!("docker.io/{reference}")
    } else {
        format!("docker.io/library/{reference}")
    }
}

/// Packs files (and the given directories) into a deterministic tar.
fn pack(mut files: Vec<(String, Vec<u8>)>, dirs: &[String]) -> Result<Vec<u8>> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut dirs = dirs.to_vec();
    dirs.sort();
    let mut builder = tar::Builder::new(Vec::new());
    for d in &dirs {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(EPOCH);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        builder.append_data(&mut h, format!("{d}/"), std::io::empty())?;
    }
    for (name, data) in &files {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(EPOCH);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        builder.append_data(&mut h, name, data.as_slice())?;
    }
    Ok(builder.into_inner()?)
}

/// Lists the entry names of a (possibly gzip-compressed) tar.
pub fn tar_entries(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let reader: Box<dyn std::io::Read + '_> = if data.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(data))
    } else {
        Box::new(data)
    };
    let mut ar = tar::Archive::new(reader);
    let mut out = Vec::new();
    for e in ar.entries()? {
        let mut e = e?;
        let name = e.path()?.to_string_lossy().into_owned();
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut buf)?;
        out.push((name, buf));
    }
    Ok(out)
}

/// True when the host has the busybox binary the image is built from.
pub fn busybox_available() -> bool {
    Path::new(BUSYBOX_PATH).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_is_deterministic_and_well_formed() {
        if !busybox_available() {
            return;
        }
        let a = busybox_archive(&["compat-busybox:t"]).expect("archive");
        let b = busybox_archive(&["compat-busybox:t"]).expect("archive");
        assert_eq!(a, b);
        let entries = tar_entries(&a).expect("entries");
        let manifest = entries
            .iter()
            .find(|(n, _)| n == "manifest.json")
            .expect("manifest");
        let m: Value = serde_json::from_slice(&manifest.1).expect("json");
        let cfg_name = m[0]["Config"].as_str().expect("config");
        let cfg = entries
            .iter()
            .find(|(n, _)| n == cfg_name)
            .expect("config file");
        assert_eq!(format!("{}.json", sha256_hex(&cfg.1)), cfg_name);
        let c: Value = serde_json::from_slice(&cfg.1).expect("config json");
        let layer_name = m[0]["Layers"][0].as_str().expect("layer");
        let layer = entries
            .iter()
            .find(|(n, _)| n == layer_name)
            .expect("layer file");
        assert_eq!(
            c["rootfs"]["diff_ids"][0],
            format!("sha256:{}", sha256_hex(&layer.1))
        );
        let files = tar_entries(&layer.1).expect("layer entries");
        assert!(files.iter().any(|(n, _)| n == "bin/sh"));
        assert!(files
            .iter()
            .any(|(n, d)| n == "etc/passwd" && d.starts_with(b"root:")));
    }

    #[test]
    fn oci_archive_is_deterministic() {
        if !busybox_available() {
            return;
        }
        let a = busybox_oci_archive(&["compat-busybox:t"]).expect("archive");
        assert_eq!(
            a,
            busybox_oci_archive(&["compat-busybox:t"]).expect("archive")
        );
        let entries = tar_entries(&a).expect("entries");
        for name in ["oci-layout", "index.json", "manifest.json"] {
            assert!(entries.iter().any(|(n, _)| n == name), "{name}");
        }
        for (n, d) in &entries {
            if let Some(hex) = n.strip_prefix("blobs/sha256/") {
                if !hex.is_empty() {
                    assert_eq!(sha256_hex(d), hex);
                }
            }
        }
    }

    #[test]
    fn split_tag_handles_ports() {
        assert_eq!(split_tag("a:b"), ("a", "b"));
        assert_eq!(
            split_tag("localhost:5000/a"),
            ("localhost:5000/a", "latest")
        );
        assert_eq!(split_tag("localhost:5000/a:x"), ("localhost:5000/a", "x"));
        assert_eq!(normalize_name("busybox:1"), "docker.io/library/busybox:1");
    }
}
