//! `COPY` and `ADD`: sources resolved in the context (or in another stage's or image's
//! layers for `--from`), hashed for the cache key, and written as one layer tar directly,
//! without a container. Missing destination directories are created (mode 0755, owned by
//! the `--chown` identity); directories the image has are left as they are.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use translate::build::ignore::{clean, glob_match};
use translate::build::CopyRequest;

use super::view::LayerView;
use super::BuildError;

/// One resolved source.
#[derive(Debug, Clone)]
pub struct Source {
    /// In-view path, symlinks resolved.
    pub path: String,
    /// The name as written (its last component names the copy in a directory).
    pub name: String,
    pub host: PathBuf,
    pub is_dir: bool,
    pub hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uid: u64,
    pub gid: u64,
}

fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Resolves the sources of `req` in `view` and hashes them.
pub fn resolve_sources(
    req: &CopyRequest,
    view: &LayerView,
    from_context: bool,
) -> Result<Vec<Source>, BuildError> {
    let mut out = Vec::new();
    for src in &req.sources {
        if is_url(src) {
            return Err(if req.add {
                BuildError::NotImplemented(format!(
                    "ADD of a URL ({src}) is not supported by dockbridge: no registry or remote host is reachable from the builder; download it into the build context and COPY it"
                ))
            } else {
                BuildError::Invalid("source can't be a URL for COPY".into())
            });
        }
        let rel = clean(&format!("/{src}"));
        if has_wildcards(src) {
            let pattern = rel.trim_start_matches('/').to_string();
            let mut found = Vec::new();
            walk(view, "/", &mut |p, is_dir| {
                let r = p.trim_start_matches('/');
                if glob_match(&pattern, r, false).unwrap_or(false) {
                    found.push(p.to_string());
                    return !is_dir;
                }
                true
            });
            if found.is_empty() {
                return Err(BuildError::Invalid(format!(
                    "{} failed: no source files were specified",
                    req.name()
                )));
            }
            for p in found {
                out.push(source(view, &p)?);
            }
            continue;
        }
        let (resolved, host) = view.resolve(&rel);
        if host.is_none() {
            return Err(BuildError::Invalid(if from_context {
                format!(
                    "{} failed: file not found in build context or excluded by .dockerignore: stat {}: file does not exist",
                    req.name(),
                    rel.trim_start_matches('/')
                )
            } else {
                format!("{} failed: stat {rel}: file does not exist", req.name())
            }));
        }
        let mut s = source(view, &resolved)?;
        s.name = rel;
        out.push(s);
    }
    if out.len() > 1 && !req.dest.ends_with('/') {
        return Err(BuildError::Invalid(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            req.name()
        )));
    }
    Ok(out)
}

/// Walks the view below `dir`; `f(path, is_dir)` returns whether to descend.
fn walk(view: &LayerView, dir: &str, f: &mut dyn FnMut(&str, bool) -> bool) {
    for (name, host) in view.list(dir) {
        let p = if dir == "/" {
            format!("/{name}")
        } else {
            format!("{dir}/{name}")
        };
        let is_dir = std::fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir());
        if f(&p, is_dir) && is_dir {
            walk(view, &p, f);
        }
    }
}

fn source(view: &LayerView, path: &str) -> Result<Source, BuildError> {
    let (resolved, host) = view.resolve(path);
    let host =
        host.ok_or_else(|| BuildError::Invalid(format!("stat {path}: file does not exist")))?;
    let meta = std::fs::metadata(&host).map_err(|e| BuildError::io(format!("stat {path}"), e))?;
    let is_dir = meta.is_dir();
    let hash = if is_dir {
        let mut parts = Vec::new();
        walk(view, &resolved, &mut |p, _| {
            if let Some(h) = view.lookup(p) {
                let rel = p.get(resolved.trim_end_matches('/').len()..).unwrap_or(p);
                parts.push(format!("{rel}:{}", entry_hash(&h)));
            }
            true
        });
        format!(
            "dir:{}",
            hex::encode(Sha256::digest(parts.join(",").as_bytes()))
        )
    } else {
        format!("file:{}", entry_hash(&host))
    };
    Ok(Source {
        name: path.to_string(),
        path: resolved,
        host,
        is_dir,
        hash,
    })
}

/// sha256 over an entry's type, permissions, link target and content (not its times).
fn entry_hash(p: &Path) -> String {
    let mut h = Sha256::new();
    if let Ok(m) = std::fs::symlink_metadata(p) {
        h.update(format!("{:o}", mode_of(&m)).as_bytes());
        if m.file_type().is_symlink() {
            if let Ok(t) = std::fs::read_link(p) {
                h.update(t.to_string_lossy().as_bytes());
            }
        } else if m.is_file() {
            if let Ok(mut f) = std::fs::File::open(p) {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = f.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
        }
    }
    hex::encode(h.finalize())
}

#[cfg(unix)]
fn mode_of(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::MetadataExt;
    m.mode()
}

#[cfg(not(unix))]
fn mode_of(m: &std::fs::Metadata) -> u32 {
    if m.is_dir() {
        0o40755
    } else {
        0o100644
    }
}

#[cfg(unix)]
fn owner_of(m: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    Identity {
        uid: u64::from(m.uid()),
        gid: u64::from(m.gid()),
    }
}

#[cfg(not(unix))]
fn owner_of(_: &std::fs::Metadata) -> Identity {
    Identity { uid: 0, gid: 0 }
}

fn mtime_of(m: &std::fs::Metadata) -> u64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// The cache-key hash of all sources (moby `getSourceHashFromInfos`).
pub fn sources_hash(sources: &[Source]) -> String {
    match sources {
        [one] => one.hash.clone(),
        many => {
            let joined: Vec<&str> = many.iter().map(|s| s.hash.as_str()).collect();
            format!(
                "multi:{}",
                hex::encode(Sha256::digest(joined.join(",").as_bytes()))
            )
        }
    }
}

/// `--chown=user[:group]` against the destination image's `/etc/passwd` and `/etc/group`
/// (moby `parseChownFlag`: a lone user is also the group).
pub fn parse_chown(spec: &str, dest: &LayerView) -> Result<Identity, BuildError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (u, g) = match parts.as_slice() {
        [u] => (*u, *u),
        [u, g] => (*u, *g),
        _ => {
            return Err(BuildError::Invalid(format!(
                "invalid chown string format: {spec}"
            )))
        }
    };
    let find = |file: &str, name: &str, what: &str| -> Result<u64, BuildError> {
        if let Ok(n) = name.parse::<u64>() {
            return Ok(n);
        }
        let text = dest.read(file).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[0] == name).then(|| f[2].parse::<u64>().ok())
            })
            .next()
            .flatten()
            .ok_or_else(|| {
                BuildError::Invalid(format!(
                    "unable to convert uid/gid chown string to host mapping: can't find {what} id for {what} {name}"
                ))
            })
    };
    Ok(Identity {
        uid: find("/etc/passwd", u, "uid")?,
        gid: find("/etc/group", g, "gid")?,
    })
}

/// Writes the layer for `sources` into `out`.
pub struct LayerWriter<'a, W: Write> {
    tar: tar::Builder<W>,
    dest_view: &'a LayerView,
    made: BTreeSet<String>,
    now: u64,
    identity: Identity,
}

impl<'a, W: Write> LayerWriter<'a, W> {
    pub fn new(out: W, dest_view: &'a LayerView, identity: Identity) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        Self {
            tar,
            dest_view,
            made: BTreeSet::new(),
            now,
            identity,
        }
    }

    pub fn finish(self) -> Result<W, BuildError> {
        self.tar
            .into_inner()
            .map_err(|e| BuildError::io("writing the layer", e))
    }

    fn exists_dir(&self, path: &str) -> bool {
        self.made.contains(path) || self.dest_view.is_dir(path)
    }

    /// Creates `dir` and its missing parents (0755, the identity).
    pub fn mkdir_all(&mut self, dir: &str) -> Result<(), BuildError> {
        let comps: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
        let mut cur = String::new();
        for c in comps {
            cur.push('/');
            cur.push_str(c);
            if self.exists_dir(&cur) {
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_uid(self.identity.uid);
            h.set_gid(self.identity.gid);
            h.set_mtime(self.now);
            h.set_size(0);
            self.tar
                .append_data(
                    &mut h,
                    format!("{}/", cur.trim_start_matches('/')),
                    std::io::empty(),
                )
                .map_err(|e| BuildError::io("writing the layer", e))?;
            self.made.insert(cur.clone());
        }
        Ok(())
    }

    /// One entry of the host file `host` at image path `path`.
    fn entry(
        &mut self,
        host: &Path,
        path: &str,
        owner: Option<Identity>,
        chmod: Option<u32>,
    ) -> Result<(), BuildError> {
        let io = |e| BuildError::io(format!("copying {}", host.display()), e);
        let m = std::fs::symlink_metadata(host).map_err(io)?;
        let id = owner.unwrap_or_else(|| owner_of(&m));
        let mut h = tar::Header::new_gnu();
        h.set_uid(id.uid);
        h.set_gid(id.gid);
        h.set_mtime(mtime_of(&m));
        let perm = chmod.unwrap_or(mode_of(&m) & 0o7777);
        h.set_mode(perm);
        let name = path.trim_start_matches('/').to_string();
        let ft = m.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(host).map_err(io)?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            self.tar.append_link(&mut h, &name, &target).map_err(io)?;
        } else if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            self.tar
                .append_data(&mut h, format!("{name}/"), std::io::empty())
                .map_err(io)?;
            self.made.insert(path.to_string());
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(m.len());
            let f = std::fs::File::open(host).map_err(io)?;
            self.tar.append_data(&mut h, &name, f).map_err(io)?;
        }
        // Devices, FIFOs and sockets in a context are skipped, as the docker CLI does.
        Ok(())
    }

    /// Copies one resolved source to `dest` (moby `performCopyForInfo`).
    pub fn copy(
        &mut self,
        src: &Source,
        src_view: &LayerView,
        dest: &str,
        owner: Option<Identity>,
        chmod: Option<u32>,
        decompress: bool,
    ) -> Result<(), BuildError> {
        let (dest_resolved, _) = self.dest_view.resolve(dest);
        if src.is_dir {
            // The directory's contents go into dest.
            let target = dest_resolved;
            if !self.exists_dir(&target) {
                if let Some(parent) = parent_of(&target) {
                    self.mkdir_all(&parent)?;
                }
                self.entry(&src.host, &target, owner.or(Some(self.identity)), chmod)?;
            }
            let mut items = Vec::new();
            walk(src_view, &src.path, &mut |p, _| {
                items.push(p.to_string());
                true
            });
            for p in items {
                let rel = p.get(src.path.trim_end_matches('/').len()..).unwrap_or(&p);
                let Some(host) = src_view.lookup(&p) else {
                    continue;
                };
                self.entry(
                    &host,
                    &format!("{}{rel}", target.trim_end_matches('/')),
                    owner,
                    chmod,
                )?;
            }
            return Ok(());
        }
        if decompress {
            if let Some(kind) = archive_kind(&src.host) {
                self.mkdir_all(&dest_resolved)?;
                return self.extract(&src.host, kind, &dest_resolved);
            }
        }
        let base = src.name.rsplit('/').next().unwrap_or_default();
        let target = if dest.ends_with('/') || self.exists_dir(&dest_resolved) {
            format!("{}/{base}", dest_resolved.trim_end_matches('/'))
        } else {
            dest_resolved
        };
        if let Some(parent) = parent_of(&target) {
            self.mkdir_all(&parent)?;
        }
        // A top-level source that is a symlink is copied as what it points to.
        let host = std::fs::canonicalize(&src.host).unwrap_or_else(|_| src.host.clone());
        self.entry(&host, &target, owner, chmod)
    }

    /// ADD of a local archive: its entries below `dest`, with their own owners and modes.
    fn extract(&mut self, archive: &Path, kind: Archive, dest: &str) -> Result<(), BuildError> {
        let io = |e| BuildError::io(format!("extracting {}", archive.display()), e);
        let f = std::fs::File::open(archive).map_err(io)?;
        let mut child = None;
        let reader: Box<dyn Read> = match kind {
            Archive::Tar => Box::new(f),
            Archive::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
            Archive::Bzip2 | Archive::Xz => {
                let prog = if kind == Archive::Xz { "xz" } else { "bzip2" };
                let mut c = std::process::Command::new(prog)
                    .args(["-d", "-c", "-q"])
                    .stdin(f)
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .map_err(io)?;
                let out = c
                    .stdout
                    .take()
                    .ok_or_else(|| BuildError::Internal(format!("{prog} without stdout")))?;
                child = Some(c);
                Box::new(out)
            }
        };
        let mut ar = tar::Archive::new(reader);
        let prefix = dest.trim_matches('/');
        let join = |p: &str| -> Option<String> {
            let c = clean(&format!("/{p}"));
            let c = c.trim_start_matches('/');
            if c.is_empty() {
                return None;
            }
            Some(if prefix.is_empty() {
                c.to_string()
            } else {
                format!("{prefix}/{c}")
            })
        };
        for e in ar.entries().map_err(io)? {
            let mut e = e.map_err(io)?;
            let path = e.path().map_err(io)?.to_string_lossy().into_owned();
            let Some(name) = join(&path) else {
                continue;
            };
            let mut h = e.header().clone();
            match h.entry_type() {
                tar::EntryType::Link => {
                    let target = e
                        .link_name()
                        .map_err(io)?
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let t = join(&target).unwrap_or_default();
                    self.tar.append_link(&mut h, &name, &t).map_err(io)?;
                }
                tar::EntryType::Symlink => {
                    let target = e.link_name().map_err(io)?.unwrap_or_default().into_owned();
                    self.tar.append_link(&mut h, &name, &target).map_err(io)?;
                }
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
                _ => {
                    self.tar.append_data(&mut h, &name, &mut e).map_err(io)?;
                }
            }
        }
        if let Some(mut c) = child {
            let _ = c.wait();
        }
        Ok(())
    }
}

fn parent_of(p: &str) -> Option<String> {
    let t = p.trim_end_matches('/');
    let i = t.rfind('/')?;
    Some(if i == 0 {
        "/".into()
    } else {
        t[..i].to_string()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Archive {
    Tar,
    Gzip,
    Bzip2,
    Xz,
}

/// What ADD extracts: a tar, or a tar compressed with gzip, bzip2 or xz.
fn archive_kind(p: &Path) -> Option<Archive> {
    let mut head = [0u8; 512];
    let mut f = std::fs::File::open(p).ok()?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let head = &head[..n];
    let kind = if head.starts_with(&[0x1f, 0x8b]) {
        Archive::Gzip
    } else if head.starts_with(b"BZh") {
        Archive::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Archive::Xz
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Some(Archive::Tar);
    } else {
        return None;
    };
    // A compressed file is only an archive if it holds a tar.
    let f = std::fs::File::open(p).ok()?;
    let mut inner = [0u8; 262];
    let ok = match kind {
        Archive::Gzip => flate2::read::MultiGzDecoder::new(f)
            .read_exact(&mut inner)
            .is_ok(),
        _ => {
            let prog = if kind == Archive::Xz { "xz" } else { "bzip2" };
            let out = std::process::Command::new(prog)
                .args(["-d", "-c", "-q"])
                .stdin(f)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .ok()
                .and_then(|mut c| {
                    let mut s = c.stdout.take()?;
                    let r = s.read_exact(&mut inner).is_ok();
                    drop(s);
                    let _ = c.kill();
                    let _ = c.wait();
                    Some(r)
                });
            out.unwrap_or(false)
        }
    };
    (ok && &inner[257..262] == b"ustar").then_some(kind)
}
