//! A container's changes from its overlay upper directory: `docker diff` and the layer tar
//! `docker commit` stores.
//!
//! The upper directory holds exactly what the container wrote: new and copied-up entries,
//! whiteouts (0:0 character devices) for deletions, and `trusted.overlay.opaque` on
//! directories that were replaced whole. Reading it needs no mount, and reading it as a
//! host path is safe: nothing below is followed.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::{ArchiveError, Result};
pub use super::{Change, Kind};

/// What dockerd keeps in a container's init layer, below its writable one: mount points
/// and the files it bind-mounts. runc creates them in our upper dir instead, so `docker
/// diff` and commit layers leave them out, as dockerd's do, unless the container changed
/// them into something else than an empty directory or file.
pub const INIT_PATHS: &[&str] = &[
    "/.dockerenv",
    "/dev",
    "/dev/console",
    "/dev/pts",
    "/dev/shm",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
];

fn is_init_entry(rel: &Path, md: &std::fs::Metadata, upper: &Path) -> bool {
    let path = format!("/{}", rel.display());
    if !INIT_PATHS.contains(&path.as_str()) {
        return false;
    }
    if md.is_dir() {
        // /dev is a tmpfs in the container: only the mount point lands here.
        std::fs::read_dir(upper.join(rel)).is_ok_and(|mut d| d.next().is_none())
    } else {
        md.is_file() && md.len() == 0
    }
}

fn is_whiteout(md: &std::fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    matches!(xattr::get(path, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

/// Whether `rel` exists in the image below: the topmost lower layer that has the name
/// decides (a whiteout there hides it).
fn in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    for l in lowers {
        if let Ok(md) = std::fs::symlink_metadata(l.join(rel)) {
            return !is_whiteout(&md);
        }
    }
    false
}

fn sorted_entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| ArchiveError::io(format!("reading {}", dir.display()), e))?;
    let mut v: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    v.sort_by_key(|e| e.file_name());
    Ok(v)
}

/// The changes of `upper` over `lowers` (topmost first), sorted by path as dockerd sorts
/// them. A directory that exists below and holds changes is Modified; everything under an
/// opaque directory is Added.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    walk_changes(upper, Path::new(""), lowers, false, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk_changes(
    upper: &Path,
    rel: &Path,
    lowers: &[PathBuf],
    under_opaque: bool,
    out: &mut Vec<Change>,
) -> Result<()> {
    for e in sorted_entries(&upper.join(rel))? {
        let rel = rel.join(e.file_name());
        let Ok(md) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let path = format!("/{}", rel.display());
        if is_init_entry(&rel, &md, upper) && !in_lowers(lowers, &rel) {
            continue;
        }
        if is_whiteout(&md) {
            out.push(Change {
                path,
                kind: Kind::Deleted as u8,
            });
            continue;
        }
        let below = !under_opaque && in_lowers(lowers, &rel);
        out.push(Change {
            path,
            kind: if below { Kind::Modified } else { Kind::Added } as u8,
        });
        if md.is_dir() {
            let opaque = under_opaque || is_opaque(&e.path());
            walk_changes(upper, &rel, lowers, opaque, out)?;
        }
    }
    Ok(())
}

/// Writes `upper` as an image layer: whiteouts become `.wh.<name>` files and opaque
/// directories get a `.wh..wh..opq` marker, the format `docker load` and containerd apply.
pub fn write_layer<W: Write>(out: &mut tar::Builder<W>, upper: &Path) -> Result<()> {
    let mut links = HashMap::new();
    walk_layer(out, upper, Path::new(""), &mut links)
}

fn walk_layer<W: Write>(
    out: &mut tar::Builder<W>,
    upper: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), String>,
) -> Result<()> {
    for e in sorted_entries(&upper.join(rel))? {
        let rel = rel.join(e.file_name());
        let Ok(md) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if is_init_entry(&rel, &md, upper) {
            continue;
        }
        if is_whiteout(&md) {
            let name = match rel.parent() {
                Some(p) if !p.as_os_str().is_empty() => {
                    format!("{}/.wh.{}", p.display(), e.file_name().to_string_lossy())
                }
                _ => format!(".wh.{}", e.file_name().to_string_lossy()),
            };
            marker(out, &name, &md)?;
            continue;
        }
        let name = rel.display().to_string();
        super::tarball::append(out, &e.path(), &name, &md, links)?;
        if md.is_dir() {
            if is_opaque(&e.path()) {
                marker(out, &format!("{name}/.wh..wh..opq"), &md)?;
            }
            walk_layer(out, upper, &rel, links)?;
        }
    }
    Ok(())
}

fn marker<W: Write>(out: &mut tar::Builder<W>, name: &str, md: &std::fs::Metadata) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(0);
    h.set_mtime(u64::try_from(md.mtime()).unwrap_or(0));
    out.append_data(&mut h, name, std::io::empty())
        .map_err(|e| ArchiveError::io(format!("writing {name}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upper and a lower dir; whiteouts need mknod, so tests that need one run as root
    /// (CI does) and are skipped otherwise.
    fn layers() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let upper = d.path().join("upper");
        let lower = d.path().join("lower");
        for p in [
            "lower/etc",
            "lower/tmp",
            "upper/etc",
            "upper/tmp/new",
            "upper/proc",
            "upper/dev",
        ] {
            std::fs::create_dir_all(d.path().join(p)).unwrap();
        }
        std::fs::write(lower.join("etc/group"), b"g").unwrap();
        std::fs::write(lower.join("etc/passwd"), b"p").unwrap();
        std::fs::write(upper.join("etc/passwd"), b"p2").unwrap();
        std::fs::write(upper.join("tmp/new/file"), b"n").unwrap();
        // Mount points runc made (hidden), and a file written where a mount point would be.
        std::fs::write(upper.join("etc/hostname"), b"").unwrap();
        std::fs::write(upper.join("etc/hosts"), b"written").unwrap();
        (d, upper, lower)
    }

    fn whiteout(p: &Path) -> bool {
        nix::sys::stat::mknod(
            p,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0),
            0,
        )
        .is_ok()
    }

    #[test]
    fn added_modified_and_deleted() {
        let (_d, upper, lower) = layers();
        let has_whiteout = whiteout(&upper.join("etc/group"));
        let got = changes(&upper, &[lower]).unwrap();
        let mut want = vec![
            ("/etc", 0),
            ("/etc/hosts", 1),
            ("/etc/passwd", 0),
            ("/tmp", 0),
            ("/tmp/new", 1),
            ("/tmp/new/file", 1),
        ];
        if has_whiteout {
            want.insert(1, ("/etc/group", 2));
        }
        let got: Vec<_> = got.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn layer_tar_uses_whiteout_files() {
        let (_d, upper, _lower) = layers();
        if !whiteout(&upper.join("etc/group")) {
            return;
        }
        let mut b = tar::Builder::new(Vec::new());
        write_layer(&mut b, &upper).unwrap();
        let data = b.into_inner().unwrap();
        let mut a = tar::Archive::new(&data[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path().unwrap().display().to_string();
                p.trim_end_matches('/').to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "etc",
                "etc/.wh.group",
                "etc/hosts",
                "etc/passwd",
                "tmp",
                "tmp/new",
                "tmp/new/file"
            ]
        );
    }
}
