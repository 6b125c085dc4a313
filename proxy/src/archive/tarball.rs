//! Writing a tree to a tar stream as dockerd's archiver does: directories, files, symlinks,
//! hard links (one copy, then `Link` entries), fifos and devices; sockets are skipped.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{ArchiveError, Result};

/// Writes `src` under the archive name `name` and, for a directory, everything below it as
/// `name/…`. An empty `name` writes only what is below `src`, with relative names
/// (`docker export`).
pub fn write_tree<W: Write>(out: &mut tar::Builder<W>, src: &Path, name: &str) -> Result<()> {
    let mut links = HashMap::new();
    let md = std::fs::symlink_metadata(src)
        .map_err(|e| ArchiveError::io(format!("lstat {}", src.display()), e))?;
    if !name.is_empty() {
        append(out, src, name, &md, &mut links)?;
    }
    if md.is_dir() {
        walk(out, src, name, &mut links)?;
    }
    Ok(())
}

fn walk<W: Write>(
    out: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &str,
    links: &mut HashMap<(u64, u64), String>,
) -> Result<()> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| ArchiveError::io(format!("reading {}", dir.display()), e))?;
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    // A stable order makes archives of the same tree identical.
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let Ok(md) = std::fs::symlink_metadata(&path) else {
            // Removed while we walked (a running container): not an error, as with dockerd.
            continue;
        };
        let file_name = e.file_name().to_string_lossy().into_owned();
        let name = if prefix.is_empty() {
            file_name
        } else {
            format!("{}/{file_name}", prefix.trim_end_matches('/'))
        };
        append(out, &path, &name, &md, links)?;
        if md.is_dir() {
            walk(out, &path, &name, links)?;
        }
    }
    Ok(())
}

pub(super) fn append<W: Write>(
    out: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
    md: &std::fs::Metadata,
    links: &mut HashMap<(u64, u64), String>,
) -> Result<()> {
    let ft = md.file_type();
    let err = |e: std::io::Error| ArchiveError::io(format!("archiving {}", path.display()), e);
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_socket() {
            return Ok(());
        }
    }
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(md, tar::HeaderMode::Complete);
    if ft.is_symlink() {
        let target = std::fs::read_link(path).map_err(err)?;
        h.set_size(0);
        return append_raw(
            out,
            h,
            name,
            Some(&target.to_string_lossy()),
            std::io::empty(),
        )
        .map_err(err);
    }
    if ft.is_dir() {
        h.set_size(0);
        let dir_name = format!("{}/", name.trim_end_matches('/'));
        return append_raw(out, h, &dir_name, None, std::io::empty()).map_err(err);
    }
    if ft.is_file() && md.nlink() > 1 {
        let key = (md.dev(), md.ino());
        if let Some(first) = links.get(&key) {
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            let first = first.clone();
            return append_raw(out, h, name, Some(&first), std::io::empty()).map_err(err);
        }
        links.insert(key, name.to_string());
    }
    if ft.is_file() {
        let f = std::fs::File::open(path).map_err(err)?;
        let size = md.len();
        return append_raw(out, h, name, None, Exact::new(f, size)).map_err(err);
    }
    // Fifos and devices: the header says it all.
    h.set_size(0);
    append_raw(out, h, name, None, std::io::empty()).map_err(err)
}

/// Appends an entry under exactly `name` (and `link`): the tar crate's own setters
/// normalise `./x` to `x`, but dockerd archives a `dir/.` copy as `./x` and the docker CLI
/// rebases those names by their `.` prefix. Names over 100 bytes get GNU long-name
/// entries, as GNU tar and Go write them.
fn append_raw<W: Write, R: Read>(
    out: &mut tar::Builder<W>,
    mut h: tar::Header,
    name: &str,
    link: Option<&str>,
    data: R,
) -> std::io::Result<()> {
    fn long<W: Write>(
        out: &mut tar::Builder<W>,
        kind: tar::EntryType,
        value: &str,
    ) -> std::io::Result<()> {
        let mut lh = tar::Header::new_gnu();
        let marker = b"././@LongLink";
        lh.as_old_mut().name[..marker.len()].copy_from_slice(marker);
        lh.set_mode(0o644);
        lh.set_entry_type(kind);
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        lh.set_size(bytes.len() as u64);
        lh.set_cksum();
        out.append(&lh, &bytes[..])
    }
    let fill = |slot: &mut [u8], v: &str| {
        let b = v.as_bytes();
        let n = b.len().min(slot.len());
        slot.fill(0);
        slot[..n].copy_from_slice(&b[..n]);
    };
    if name.len() > 100 {
        long(out, tar::EntryType::GNULongName, name)?;
    }
    fill(&mut h.as_old_mut().name, name);
    if let Some(link) = link {
        if link.len() > 100 {
            long(out, tar::EntryType::GNULongLink, link)?;
        }
        fill(&mut h.as_old_mut().linkname, link);
    }
    h.set_cksum();
    out.append(&h, data)
}

/// Exactly `size` bytes of `inner`: a file that grows while it is archived is cut, one that
/// shrinks is padded with zeros, so the tar stream stays well-formed (the header already
/// promised `size`).
struct Exact<R> {
    inner: std::io::Take<R>,
    remaining: u64,
}

impl<R: Read> Exact<R> {
    fn new(inner: R, size: u64) -> Self {
        Self {
            inner: inner.take(size),
            remaining: size,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let n = match self.inner.read(buf)? {
            0 => {
                let n = buf
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                buf[..n].fill(0);
                n
            }
            n => n,
        };
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(data: &[u8]) -> Vec<(String, tar::EntryType, Vec<u8>, String)> {
        let mut a = tar::Archive::new(data);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().display().to_string();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default();
                let mut body = Vec::new();
                e.read_to_end(&mut body).unwrap();
                (name, e.header().entry_type(), body, link)
            })
            .collect()
    }

    fn archive(src: &Path, name: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        write_tree(&mut b, src, name).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn directories_are_rebased_under_their_name() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/sub")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), b"root\n").unwrap();
        std::os::unix::fs::symlink("/bin/busybox", d.path().join("etc/sh")).unwrap();
        std::fs::hard_link(d.path().join("etc/passwd"), d.path().join("etc/sub/hard")).unwrap();
        let got = entries(&archive(&d.path().join("etc"), "etc"));
        let names: Vec<_> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            ["etc/", "etc/passwd", "etc/sh", "etc/sub/", "etc/sub/hard"]
        );
        assert_eq!(got[0].1, tar::EntryType::Directory);
        assert_eq!(got[1].2, b"root\n");
        assert_eq!(
            (got[2].1, got[2].3.as_str()),
            (tar::EntryType::Symlink, "/bin/busybox")
        );
        assert_eq!(
            (got[4].1, got[4].3.as_str()),
            (tar::EntryType::Link, "etc/passwd")
        );
    }

    #[test]
    fn export_names_are_relative_and_a_file_gets_its_own_name() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("bin")).unwrap();
        std::fs::write(d.path().join("bin/busybox"), b"elf").unwrap();
        let got = entries(&archive(d.path(), ""));
        let names: Vec<_> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["bin/", "bin/busybox"]);
        let got = entries(&archive(&d.path().join("bin/busybox"), "copy"));
        assert_eq!(got[0].0, "copy");
        assert_eq!(got[0].2, b"elf");
    }

    #[test]
    fn dot_names_are_kept_as_dockerd_writes_them() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), b"1").unwrap();
        std::os::unix::fs::symlink("x".repeat(120), d.path().join("l")).unwrap();
        let got = entries(&archive(d.path(), "."));
        let names: Vec<_> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["./", "./f", "./l"]);
        assert_eq!(got[2].3, "x".repeat(120));
    }

    #[test]
    fn long_names_survive() {
        let d = tempfile::tempdir().unwrap();
        let long = "x".repeat(150);
        std::fs::write(d.path().join(&long), b"1").unwrap();
        let got = entries(&archive(d.path(), "root"));
        assert_eq!(got[1].0, format!("root/{long}"));
    }

    #[test]
    fn exact_pads_and_cuts() {
        let mut s = String::new();
        Exact::new(&b"abc"[..], 5).read_to_string(&mut s).unwrap();
        assert_eq!(s.as_bytes(), b"abc\0\0");
        let mut s = String::new();
        Exact::new(&b"abcdef"[..], 2)
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "ab");
    }
}
