//! A read-only view of an image's filesystem straight from its unpacked layers (the
//! overlay lower directories of a snapshot, top first): what COPY needs to know about the
//! destination (does a directory exist, what do `/etc/passwd` and `/etc/group` say) and
//! where `COPY --from` reads. Whiteouts (0/0 character devices) and opaque directories
//! (`trusted.overlay.opaque`) are honoured as overlayfs does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct LayerView {
    /// Top layer first.
    pub lowers: Vec<PathBuf>,
}

fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

#[cfg(unix)]
fn is_whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}

#[cfg(not(unix))]
fn is_whiteout(_: &std::fs::Metadata) -> bool {
    false
}

fn is_opaque(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        matches!(xattr::get(dir, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        false
    }
}

impl LayerView {
    pub fn new(lowers: Vec<PathBuf>) -> Self {
        Self { lowers }
    }

    /// The host path of `path` (no symlinks resolved), if it exists in the merged view.
    pub fn lookup(&self, path: &str) -> Option<PathBuf> {
        let comps = components(path);
        if comps.is_empty() {
            return self.lowers.first().cloned();
        }
        'layers: for layer in &self.lowers {
            // An ancestor that is a whiteout, a non-directory or opaque hides lower layers.
            let mut cur = layer.clone();
            for (i, c) in comps.iter().enumerate() {
                cur.push(c);
                match std::fs::symlink_metadata(&cur) {
                    Ok(m) if is_whiteout(&m) => return None,
                    Ok(m) if i + 1 == comps.len() => {
                        let _ = m;
                        return Some(cur);
                    }
                    Ok(m) if m.is_dir() => {
                        if is_opaque(&cur) {
                            // Below here only this layer counts.
                            let rest: PathBuf = comps[i + 1..].iter().collect();
                            let p = cur.join(rest);
                            return std::fs::symlink_metadata(&p)
                                .ok()
                                .filter(|m| !is_whiteout(m))
                                .map(|_| p);
                        }
                    }
                    Ok(_) => return None,
                    Err(_) => continue 'layers,
                }
            }
        }
        None
    }

    /// Resolves symlinks along `path` inside the view (as a chroot would). Returns the
    /// resolved in-image path and the host path of its final component, if it exists.
    pub fn resolve(&self, path: &str) -> (String, Option<PathBuf>) {
        let mut todo: Vec<String> = components(path)
            .iter()
            .rev()
            .map(|s| s.to_string())
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            done.push(c);
            let cur = format!("/{}", done.join("/"));
            let Some(host) = self.lookup(&cur) else {
                // Missing: the rest is taken literally.
                done.extend(todo.into_iter().rev());
                return (format!("/{}", done.join("/")), None);
            };
            if let Ok(target) = std::fs::read_link(&host) {
                hops += 1;
                if hops > 40 {
                    return (cur, None);
                }
                done.pop();
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    done.clear();
                }
                for part in components(&t).into_iter().rev() {
                    todo.push(part.to_string());
                }
            }
        }
        let p = format!("/{}", done.join("/"));
        let host = self.lookup(&p);
        (p, host)
    }

    /// Whether `path` (symlinks resolved) is a directory in the view.
    pub fn is_dir(&self, path: &str) -> bool {
        let (_, host) = self.resolve(path);
        host.is_some_and(|h| h.is_dir())
    }

    /// The merged entries of directory `path` (not resolved), name → host path.
    pub fn list(&self, path: &str) -> BTreeMap<String, PathBuf> {
        let comps = components(path);
        let rel: PathBuf = comps.iter().collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut out = BTreeMap::new();
        for layer in &self.lowers {
            let dir = layer.join(&rel);
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => break,
                Err(_) => continue,
            }
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !seen.insert(name.clone()) {
                        continue;
                    }
                    match e.metadata() {
                        Ok(m) if is_whiteout(&m) => {}
                        Ok(_) => {
                            out.insert(name, e.path());
                        }
                        Err(_) => {}
                    }
                }
            }
            if is_opaque(&dir) {
                break;
            }
        }
        out
    }

    /// A small file of the image (`/etc/passwd`), if present.
    pub fn read(&self, path: &str) -> Option<String> {
        let (_, host) = self.resolve(path);
        std::fs::read_to_string(host?).ok()
    }
}
