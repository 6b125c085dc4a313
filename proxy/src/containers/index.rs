//! The name and ID index: how `docker` finds a container by full ID, name (with or without
//! the leading `/`) or unique ID prefix, and how names are reserved so two creates with one
//! name cannot both win.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{ContainerError, Result};

pub struct Index<C> {
    inner: RwLock<Inner<C>>,
}

struct Inner<C> {
    by_id: HashMap<String, Arc<C>>,
    /// `/name` → id
    names: HashMap<String, String>,
}

impl<C> Default for Index<C> {
    fn default() -> Self {
        Self {
            inner: RwLock::new(Inner {
                by_id: HashMap::new(),
                names: HashMap::new(),
            }),
        }
    }
}

/// dockerd's message for a name in use.
pub fn name_conflict(name: &str, other: &str) -> ContainerError {
    ContainerError::Conflict(format!(
        "Conflict. The container name \"{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

impl<C> Index<C> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner<C>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner<C>> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Result<Arc<C>> {
        let idx = self.read();
        if let Some(c) = idx.by_id.get(key) {
            return Ok(c.clone());
        }
        let name = if key.starts_with('/') {
            key.to_string()
        } else {
            format!("/{key}")
        };
        if let Some(c) = idx.names.get(&name).and_then(|id| idx.by_id.get(id)) {
            return Ok(c.clone());
        }
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = idx.by_id.iter().filter(|(id, _)| id.starts_with(key));
            if let Some((_, c)) = found.next() {
                if found.next().is_some() {
                    return Err(ContainerError::InvalidParameter(format!(
                        "multiple IDs found with provided prefix: {key}"
                    )));
                }
                return Ok(c.clone());
            }
        }
        Err(ContainerError::NotFound(format!(
            "No such container: {key}"
        )))
    }

    pub fn all(&self) -> Vec<Arc<C>> {
        self.read().by_id.values().cloned().collect()
    }

    pub fn name_taken(&self, name: &str) -> bool {
        self.read().names.contains_key(name)
    }

    /// Reserves `name` for `id`; fails if another container has it.
    pub fn reserve(&self, name: &str, id: &str) -> Result<()> {
        let mut idx = self.write();
        if let Some(other) = idx.names.get(name) {
            return Err(name_conflict(name, other));
        }
        idx.names.insert(name.to_string(), id.to_string());
        Ok(())
    }

    /// Gives `name` up if `id` holds it.
    pub fn release(&self, name: &str, id: &str) {
        let mut idx = self.write();
        if idx.names.get(name).map(String::as_str) == Some(id) {
            idx.names.remove(name);
        }
    }

    pub fn insert(&self, id: &str, c: Arc<C>) {
        self.write().by_id.insert(id.to_string(), c);
    }

    /// Forgets the container and its name.
    pub fn remove(&self, id: &str, name: &str) {
        let mut idx = self.write();
        idx.by_id.remove(id);
        if idx.names.get(name).map(String::as_str) == Some(id) {
            idx.names.remove(name);
        }
    }

    /// Moves `id` from `old` to `new`, atomically against other reservations.
    pub fn rename(&self, id: &str, old: &str, new: &str) -> Result<()> {
        let mut idx = self.write();
        if let Some(other) = idx.names.get(new) {
            return Err(name_conflict(new, other));
        }
        if idx.names.get(old).map(String::as_str) == Some(id) {
            idx.names.remove(old);
        }
        idx.names.insert(new.to_string(), id.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_id_name_and_unique_prefix() {
        let idx: Index<u8> = Index::default();
        idx.reserve("/web", "abc123").unwrap();
        idx.insert("abc123", Arc::new(1));
        idx.reserve("/db", "abd999").unwrap();
        idx.insert("abd999", Arc::new(2));
        assert_eq!(*idx.get("abc123").unwrap(), 1);
        assert_eq!(*idx.get("web").unwrap(), 1);
        assert_eq!(*idx.get("/db").unwrap(), 2);
        assert_eq!(*idx.get("abd").unwrap(), 2);
        assert!(matches!(
            idx.get("ab"),
            Err(ContainerError::InvalidParameter(m)) if m.contains("multiple IDs")
        ));
        assert!(matches!(idx.get("zzz"), Err(ContainerError::NotFound(_))));
    }

    #[test]
    fn names_are_reserved_once() {
        let idx: Index<u8> = Index::default();
        idx.reserve("/a", "1").unwrap();
        assert!(matches!(
            idx.reserve("/a", "2"),
            Err(ContainerError::Conflict(m)) if m.contains("\"/a\" is already in use by container \"1\"")
        ));
        idx.release("/a", "2");
        assert!(idx.name_taken("/a"));
        idx.release("/a", "1");
        assert!(!idx.name_taken("/a"));
        idx.reserve("/b", "3").unwrap();
        idx.reserve("/c", "4").unwrap();
        assert!(idx.rename("3", "/b", "/c").is_err());
        idx.rename("3", "/b", "/d").unwrap();
        assert!(!idx.name_taken("/b") && idx.name_taken("/d"));
    }
}
