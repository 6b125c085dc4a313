//! Temporarily mounting a container's rootfs on the host, to read what the spec depends on
//! (`/etc/passwd`, `/etc/group`) and to create the working directory, as dockerd does.

use std::path::{Path, PathBuf};

use containerd_client::types::Mount;

use super::ContainerError;

/// A rootfs mounted at `target`; unmounted when dropped.
pub struct MountedRootfs {
    target: PathBuf,
}

impl MountedRootfs {
    #[cfg(not(unix))]
    pub fn mount(_: &[Mount], _: &Path) -> Result<Self, ContainerError> {
        // Windows containers get their layers through the spec and are never mounted here.
        Err(ContainerError::Internal(
            "mounting a Linux rootfs needs a unix host".into(),
        ))
    }

    #[cfg(unix)]
    pub fn mount(mounts: &[Mount], target: &Path) -> Result<Self, ContainerError> {
        std::fs::create_dir_all(target)
            .map_err(|e| ContainerError::io(format!("creating {}", target.display()), e))?;
        let [m] = mounts else {
            return Err(ContainerError::Internal(format!(
                "expected one rootfs mount, got {}",
                mounts.len()
            )));
        };
        mount_at(&m.r#type, &m.source, &m.options, target).map_err(|e| {
            ContainerError::io(format!("mounting rootfs at {}", target.display()), e.into())
        })?;
        Ok(Self {
            target: target.to_path_buf(),
        })
    }

    /// Where `path` of the container is on the host while mounted (symlinks resolved inside
    /// the rootfs), `None` if it does not exist.
    pub fn resolve(&self, path: &str) -> Option<PathBuf> {
        resolve_in_root(&self.target, path)
            .ok()
            .filter(|p| p.exists())
    }

    /// Reads a file inside the rootfs, `None` if it does not exist.
    pub fn read_to_string(&self, path: &str) -> Option<String> {
        let p = resolve_in_root(&self.target, path).ok()?;
        std::fs::read_to_string(p).ok()
    }

    /// `mkdir -p` inside the rootfs, owned by uid:gid for the new directories.
    pub fn create_dir_all(&self, path: &str, uid: u32, gid: u32) -> Result<(), ContainerError> {
        let p = resolve_in_root(&self.target, path)?;
        let mut missing = Vec::new();
        let mut cur = p.as_path();
        while !cur.exists() && cur != self.target {
            missing.push(cur.to_path_buf());
            match cur.parent() {
                Some(parent) => cur = parent,
                None => break,
            }
        }
        std::fs::create_dir_all(&p)
            .map_err(|e| ContainerError::io(format!("creating working directory {path}"), e))?;
        #[cfg(unix)]
        for dir in missing {
            let _ = nix::unistd::chown(&dir, Some(uid.into()), Some(gid.into()));
        }
        #[cfg(not(unix))]
        let _ = (missing, uid, gid);
        Ok(())
    }
}

impl Drop for MountedRootfs {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Err(e) = nix::mount::umount2(&self.target, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!("unmounting {}: {e}", self.target.display());
        }
        let _ = std::fs::remove_dir(&self.target);
    }
}

/// Resolves `path` inside `root` the way the container will see it (see
/// [`crate::archive::stat::resolve_in_root`]).
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf, ContainerError> {
    crate::archive::stat::resolve_in_root(root, path)
        .map_err(|e| ContainerError::InvalidParameter(e.to_string()))
}

/// Mounts one containerd-style mount (`overlay` with its options, or a `bind`) at `target`.
#[cfg(unix)]
pub fn mount_at(kind: &str, source: &str, options: &[String], target: &Path) -> nix::Result<()> {
    use nix::mount::{mount, MsFlags};
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in options {
        match opt.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "bind" => flags |= MsFlags::MS_BIND,
            "rw" => {}
            other => data.push(other),
        }
    }
    let data = data.join(",");
    let fstype = (kind != "bind").then_some(kind);
    mount(
        Some(source),
        target,
        fstype,
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn symlinks_never_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.join("real/up")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/abs/sub").unwrap(),
            root.join("real/sub")
        );
        assert_eq!(
            resolve_in_root(root, "/real/up/etc").unwrap(),
            root.join("etc")
        );
        assert_eq!(
            resolve_in_root(root, "/../../etc/passwd").unwrap(),
            root.join("etc/passwd")
        );
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(resolve_in_root(root, "/loop").is_err());
    }
}

impl super::Manager {
    /// Undoes a create's root filesystem on a failure path (errors are only logged: the
    /// create's own error is what the client gets).
    pub(super) async fn discard_rootfs(&self, kind: super::record::RootfsKind, id: &str) {
        let result = match kind {
            super::record::RootfsKind::Snapshot => self.images.remove_rootfs(id).await,
            super::record::RootfsKind::LayerFolders => self.images.remove_windows_scratch(id).await,
        };
        if let Err(e) = result {
            tracing::warn!(container = %id, "removing the root filesystem of a failed create: {e}");
        }
    }
}
