//! Extracting an uploaded tar into a directory (`PUT /containers/{id}/archive`).
//!
//! Entries that would land outside the target are refused with an error, never skipped
//! silently: `..` in a name or a hard-link target is rejected before anything is written,
//! and the tar crate refuses to write through a symlink leading out of the target (which,
//! run chrooted by [`super::helper`], also cannot reach the host).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::{ArchiveError, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// `noOverwriteDirNonDir`: refuse to replace a directory with a non-directory and the
    /// other way round (the docker CLI always asks for this).
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID`: every extracted entry is owned by this uid:gid (the container's user).
    /// Otherwise the archive's owners are kept, as dockerd does.
    pub chown: Option<(u32, u32)>,
}

/// The relative path an entry name stands for, or an error if it climbs out.
fn entry_path(name: &Path, shown_dest: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                return Err(ArchiveError::Invalid(format!(
                    "{:?} is outside of {shown_dest:?}",
                    name.display().to_string()
                )))
            }
            // Leading `/` and `.` are relative to the target, as in dockerd.
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// Extracts `input` into the existing directory `dest`. `shown_dest` is the path as the
/// client named it, for messages.
pub fn extract<R: Read>(
    input: R,
    dest: &Path,
    shown_dest: &str,
    opts: &ExtractOptions,
) -> Result<()> {
    let bad = |e: std::io::Error| ArchiveError::Invalid(format!("reading the archive: {e}"));
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    // Owners are applied below: Go writers leave numeric fields empty, which Go reads as
    // 0 but the tar crate refuses.
    archive.set_preserve_ownerships(false);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.into_owned();
        let rel = entry_path(&name, shown_dest)?;
        if rel.as_os_str().is_empty() {
            // The target itself (`./`): it exists already.
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_hard_link() {
            if let Some(target) = entry.link_name().map_err(bad)? {
                entry_path(&target, shown_dest)?;
            }
        }
        let target = dest.join(&rel);
        if opts.no_overwrite_dir_non_dir {
            if let Ok(md) = std::fs::symlink_metadata(&target) {
                let shown = Path::new(shown_dest).join(&rel);
                if md.is_dir() && !kind.is_dir() {
                    return Err(ArchiveError::Invalid(format!(
                        "cannot overwrite directory {:?} with non-directory {:?}",
                        shown.display().to_string(),
                        name.display().to_string()
                    )));
                }
                if !md.is_dir() && kind.is_dir() {
                    return Err(ArchiveError::Invalid(format!(
                        "cannot overwrite non-directory {:?} with directory {:?}",
                        shown.display().to_string(),
                        name.display().to_string()
                    )));
                }
            }
        }
        let written = entry
            .unpack_in(dest)
            .map_err(|e| classify(e, &name, shown_dest))?;
        if !written {
            return Err(ArchiveError::Invalid(format!(
                "{:?} is outside of {shown_dest:?}",
                name.display().to_string()
            )));
        }
        let (uid, gid) = opts.chown.unwrap_or_else(|| {
            let h = entry.header().as_old();
            (lenient_id(&h.uid), lenient_id(&h.gid))
        });
        match std::os::unix::fs::lchown(&target, Some(uid), Some(gid)) {
            // Unprivileged (unit tests): keep the extracting user's ownership.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            r => r.map_err(|e| ArchiveError::io(format!("chown {}", rel.display()), e))?,
        }
    }
    Ok(())
}

/// A numeric tar field as Go's reader takes it: octal, NUL/space padded, empty meaning 0,
/// or base-256 when the high bit is set.
fn lenient_id(field: &[u8]) -> u32 {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = (v << 8) | u64::from(*b);
        }
        return u32::try_from(v).unwrap_or(0);
    }
    let s: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| c.is_digit(8))
        .collect();
    u32::from_str_radix(&s, 8).unwrap_or(0)
}

/// The tar crate wraps the OS error; its `Display` shows only the outer layer.
fn chain(e: &std::io::Error) -> String {
    let mut msg = e.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> =
        e.get_ref().and_then(|inner| inner.source());
    while let Some(c) = cur {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cur = c.source();
    }
    msg
}

fn classify(e: std::io::Error, name: &Path, shown_dest: &str) -> ArchiveError {
    let msg = chain(&e);
    if msg.contains("outside of destination") {
        return ArchiveError::Invalid(format!(
            "{:?} is outside of {shown_dest:?}",
            name.display().to_string()
        ));
    }
    // The upload ended inside an entry's data: the client's archive is cut short (found by
    // scripts/fuzz.sh; it was a 500).
    // (the tar crate says "failed to write entire file" when an entry's data ends early).
    if e.kind() == std::io::ErrorKind::UnexpectedEof
        || msg.contains("unexpected EOF")
        || msg.contains("failed to write entire file")
    {
        return ArchiveError::Invalid(format!(
            "reading the archive: {} is cut short: unexpected EOF",
            name.display()
        ));
    }
    if e.kind() == std::io::ErrorKind::ReadOnlyFilesystem || msg.contains("Read-only file system") {
        return ArchiveError::ReadOnly(format!(
            "{shown_dest} is on a read-only file system (the container's rootfs or a volume is marked read-only)"
        ));
    }
    ArchiveError::Io(format!("extracting {}: {msg}", name.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a tar from (name, kind, data/link target) triples, bypassing the tar crate's
    /// own path checks so hostile names can be written.
    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            h.set_mtime(946_684_800);
            h.set_uid(nix::unistd::getuid().as_raw().into());
            h.set_gid(nix::unistd::getgid().as_raw().into());
            {
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            }
            if kind.is_symlink() || kind.is_hard_link() {
                h.set_link_name(data).unwrap();
                h.set_size(0);
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            } else {
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append(&h, data.as_bytes()).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    fn run(tar: &[u8], dest: &Path, opts: &ExtractOptions) -> Result<()> {
        extract(tar, dest, "/dest", opts)
    }

    #[test]
    fn files_dirs_and_links_land_in_place() {
        let d = tempfile::tempdir().unwrap();
        let t = tar_of(&[
            ("./", tar::EntryType::Directory, ""),
            ("sub/", tar::EntryType::Directory, ""),
            ("sub/f", tar::EntryType::Regular, "hello"),
            ("sub/l", tar::EntryType::Symlink, "f"),
            ("/abs", tar::EntryType::Regular, "rooted"),
        ]);
        run(&t, d.path(), &ExtractOptions::default()).unwrap();
        assert_eq!(std::fs::read(d.path().join("sub/f")).unwrap(), b"hello");
        assert_eq!(std::fs::read(d.path().join("sub/l")).unwrap(), b"hello");
        assert_eq!(std::fs::read(d.path().join("abs")).unwrap(), b"rooted");
    }

    #[test]
    fn a_truncated_archive_is_the_clients_error() {
        let d = tempfile::tempdir().unwrap();
        let data = "z".repeat(9000);
        let t = tar_of(&[("f", tar::EntryType::Regular, &data)]);
        for cut in [600, 3000, 8000] {
            let e = run(&t[..cut], d.path(), &ExtractOptions::default()).unwrap_err();
            assert!(matches!(e, ArchiveError::Invalid(_)), "cut at {cut}: {e:?}");
        }
    }

    #[test]
    fn dotdot_names_are_refused_and_nothing_escapes() {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let t = tar_of(&[("../escaped", tar::EntryType::Regular, "x")]);
        let e = run(&t, &dest, &ExtractOptions::default()).unwrap_err();
        assert!(
            matches!(e, ArchiveError::Invalid(ref m) if m.contains("outside of")),
            "{e:?}"
        );
        assert!(!outer.path().join("escaped").exists());
    }

    #[test]
    fn writing_through_a_symlink_out_of_the_target_is_refused() {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let t = tar_of(&[
            (
                "link",
                tar::EntryType::Symlink,
                outer.path().to_str().unwrap(),
            ),
            ("link/escaped", tar::EntryType::Regular, "x"),
        ]);
        let e = run(&t, &dest, &ExtractOptions::default()).unwrap_err();
        assert!(matches!(e, ArchiveError::Invalid(_)), "{e:?}");
        assert!(!outer.path().join("escaped").exists());
    }

    #[test]
    fn hard_links_out_of_the_target_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let t = tar_of(&[("h", tar::EntryType::Link, "../../etc/passwd")]);
        let e = run(&t, d.path(), &ExtractOptions::default()).unwrap_err();
        assert!(matches!(e, ArchiveError::Invalid(_)), "{e:?}");
    }

    #[test]
    fn dir_non_dir_overwrites_follow_the_option() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("adir")).unwrap();
        std::fs::write(d.path().join("afile"), b"").unwrap();
        let strict = ExtractOptions {
            no_overwrite_dir_non_dir: true,
            chown: None,
        };
        let e = run(
            &tar_of(&[("adir", tar::EntryType::Regular, "x")]),
            d.path(),
            &strict,
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot overwrite directory"), "{e}");
        let e = run(
            &tar_of(&[("afile/", tar::EntryType::Directory, "")]),
            d.path(),
            &strict,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("cannot overwrite non-directory"),
            "{e}"
        );
        // Without the option a file replaces a file, as tar would.
        run(
            &tar_of(&[("afile", tar::EntryType::Regular, "new")]),
            d.path(),
            &strict,
        )
        .unwrap();
        assert_eq!(std::fs::read(d.path().join("afile")).unwrap(), b"new");
    }

    #[test]
    fn numeric_fields_read_like_go() {
        assert_eq!(lenient_id(b"\0\0\0\0\0\0\0\0"), 0);
        assert_eq!(lenient_id(b"0001750\0"), 1000);
        assert_eq!(lenient_id(b" 1750 \0\0"), 1000);
        assert_eq!(lenient_id(&[0x80, 0, 0, 0, 0, 0, 0x03, 0xe8]), 1000);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let e = run(&[1u8; 1024], d.path(), &ExtractOptions::default()).unwrap_err();
        assert!(matches!(e, ArchiveError::Invalid(_)), "{e:?}");
    }
}
