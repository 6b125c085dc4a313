//! Filling an empty volume from the image, and the local driver's mounts.
//!
//! Copy-up copies the image's content at the mount point (ownership, modes, times,
//! extended attributes, symlinks) into a staging directory next to `_data`, then swaps it
//! in with one rename: a daemon killed half-way leaves `_data` empty (or missing), never
//! half-filled, and the next start copies again.

use std::path::Path;

/// Copies the tree at `src` into the volume whose data directory is `data`, if `data` is
/// empty. Returns whether anything was copied.
pub fn fill_empty(src: &Path, data: &Path) -> std::io::Result<bool> {
    if !super::is_empty_dir(data) || !src.is_dir() || super::is_empty_dir(src) {
        return Ok(false);
    }
    let staging = data.with_file_name("_copyup");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir(&staging)?;
    copy_tree(src, &staging)?;
    copy_meta(src, &staging)?;
    // `_data` is empty: swap the filled directory in.
    std::fs::remove_dir(data)?;
    std::fs::rename(&staging, data)?;
    Ok(true)
}

/// Leftovers of an interrupted copy-up: a staging directory, or `_data` missing after
/// the swap started.
pub fn recover(data: &Path) -> std::io::Result<()> {
    let staging = data.with_file_name("_copyup");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    if !data.exists() {
        std::fs::create_dir_all(data)?;
    }
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ft = std::fs::symlink_metadata(&from)?.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
        } else {
            // Device nodes, FIFOs and sockets are not copied into volumes.
            continue;
        }
        copy_meta(&from, &to)?;
    }
    Ok(())
}

#[cfg(unix)]
fn copy_meta(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let md = std::fs::symlink_metadata(from)?;
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        to,
        Some(md.uid().into()),
        Some(md.gid().into()),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(std::io::Error::from)?;
    if md.file_type().is_symlink() {
        return Ok(());
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
    if let Ok(names) = xattr::list(from) {
        for name in names {
            if let Ok(Some(v)) = xattr::get(from, &name) {
                let _ = xattr::set(to, &name, &v);
            }
        }
    }
    let times = [
        nix::sys::time::TimeSpec::new(md.atime(), md.atime_nsec()),
        nix::sys::time::TimeSpec::new(md.mtime(), md.mtime_nsec()),
    ];
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        to,
        &times[0],
        &times[1],
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(std::io::Error::from)
}

#[cfg(not(unix))]
fn copy_meta(_from: &Path, _to: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Mounts `device` (of `typ`, with `-o` options) at `target` unless something is mounted
/// there already.
#[cfg(unix)]
pub fn mount_once(typ: &str, device: &str, opts: &str, target: &Path) -> std::io::Result<()> {
    if is_mount_point(target) {
        return Ok(());
    }
    let options: Vec<String> = opts
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    crate::containers::rootfs::mount_at(typ, device, &options, target).map_err(Into::into)
}

#[cfg(not(unix))]
pub fn mount_once(_: &str, _: &str, _: &str, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("volume mounts need a unix host"))
}

#[cfg(unix)]
pub fn unmount(target: &Path) {
    if is_mount_point(target) {
        let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[cfg(not(unix))]
pub fn unmount(_: &Path) {}

#[cfg(unix)]
fn is_mount_point(p: &Path) -> bool {
    let want = p.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            m.lines()
                .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
        })
        .unwrap_or(false)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn fills_an_empty_volume_once_with_attributes() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), b"hello").unwrap();
        std::fs::set_permissions(src.join("sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("link")).unwrap();
        nix::unistd::chown(&src.join("sub"), Some(1234.into()), Some(5678.into())).unwrap();
        let data = d.path().join("vol/_data");
        std::fs::create_dir_all(&data).unwrap();
        assert!(fill_empty(&src, &data).unwrap());
        assert_eq!(std::fs::read(data.join("sub/f")).unwrap(), b"hello");
        assert_eq!(
            std::fs::metadata(data.join("sub/f")).unwrap().mode() & 0o777,
            0o640
        );
        let sub = std::fs::metadata(data.join("sub")).unwrap();
        assert_eq!((sub.uid(), sub.gid()), (1234, 5678));
        assert_eq!(
            std::fs::read_link(data.join("link")).unwrap(),
            Path::new("sub/f")
        );
        assert!(!d.path().join("vol/_copyup").exists());
        // Not empty any more: a second mount copies nothing.
        std::fs::write(src.join("new"), b"x").unwrap();
        assert!(!fill_empty(&src, &data).unwrap());
        assert!(!data.join("new").exists());
    }

    #[test]
    fn recovers_from_an_interrupted_copy() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("vol/_data");
        std::fs::create_dir_all(d.path().join("vol/_copyup/half")).unwrap();
        recover(&data).unwrap();
        assert!(data.is_dir() && super::super::is_empty_dir(&data));
        assert!(!d.path().join("vol/_copyup").exists());
    }
}
