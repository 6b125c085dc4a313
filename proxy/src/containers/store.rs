//! Container records on disk: `<data-root>/containers/<id>/container.json`, written
//! atomically (temp file + rename) so a crash never leaves half a record.

use std::path::{Path, PathBuf};

use super::record::Record;
use super::ContainerError;

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: PathBuf) -> Result<Self, ContainerError> {
        std::fs::create_dir_all(&root)
            .map_err(|e| ContainerError::io(format!("creating {}", root.display()), e))?;
        Ok(Self { root })
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(format!("{id}-json.log"))
    }

    pub fn save(&self, rec: &Record) -> Result<(), ContainerError> {
        let dir = self.dir(&rec.id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ContainerError::io(format!("creating {}", dir.display()), e))?;
        let tmp = dir.join("container.json.tmp");
        let data = serde_json::to_vec_pretty(rec)
            .map_err(|e| ContainerError::Internal(format!("serialising container record: {e}")))?;
        std::fs::write(&tmp, data)
            .map_err(|e| ContainerError::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, dir.join("container.json"))
            .map_err(|e| ContainerError::io(format!("renaming {}", tmp.display()), e))
    }

    pub fn load_all(&self) -> Result<Vec<Record>, ContainerError> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| ContainerError::io(format!("reading {}", self.root.display()), e))?;
        for entry in entries.flatten() {
            let path = entry.path().join("container.json");
            match read_record(&path) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(e) => tracing::warn!("skipping {}: {e}", path.display()),
            }
        }
        Ok(out)
    }

    pub fn remove(&self, id: &str) -> Result<(), ContainerError> {
        let dir = self.dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ContainerError::io(format!("removing {}", dir.display()), e)),
        }
    }
}

fn read_record(path: &Path) -> Result<Option<Record>, ContainerError> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ContainerError::io(format!("reading {}", path.display()), e)),
    };
    serde_json::from_slice(&data)
        .map(Some)
        .map_err(|e| ContainerError::Internal(format!("parsing {}: {e}", path.display())))
}
