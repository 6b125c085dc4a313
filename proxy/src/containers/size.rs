//! `SizeRw` and `SizeRootFs` (`docker ps --size`, `docker inspect --size`).

use std::path::Path;

use super::{Manager, Record};

/// Bytes of regular files under `dir`, without following links; hard links count once per
/// name, as `du --apparent-size` would count them (dockerd walks the same way).
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}

impl Manager {
    /// `(SizeRw, SizeRootFs)`: the container's writable layer, and that plus its image.
    /// `None` where the backend has no host-visible layer (Windows containers).
    pub async fn sizes(&self, rec: &Record) -> Option<(i64, i64)> {
        self.host_fs_backend(rec).ok()?;
        let mounts = self.images.rootfs_mounts(&rec.rootfs_key).await.ok()?;
        let upper = mounts
            .iter()
            .flat_map(|m| m.options.iter())
            .find_map(|o| o.strip_prefix("upperdir="))?;
        let rw = i64::try_from(dir_size(Path::new(upper))).unwrap_or(i64::MAX);
        let image = self
            .images
            .resolve(&rec.image_id)
            .await
            .map(|i| i.size)
            .unwrap_or(0);
        Some((rw, rw.saturating_add(image)))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn sums_regular_files_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("a/b/f"), vec![0u8; 1000]).unwrap();
        std::fs::write(d.path().join("g"), vec![0u8; 24]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link")).unwrap();
        assert_eq!(dir_size(d.path()), 1024);
    }
}
