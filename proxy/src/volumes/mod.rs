//! Named and anonymous volumes of the `local` driver: `<data-root>/volumes/<name>/_data`
//! with the metadata beside it (`volume.json`), surviving daemon restarts. The request
//! model is in [`model`] (pure); this is the store, the API shape and the copy-up.

pub mod copyup;
pub mod model;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use model::{VolumeError, VolumeMount, VolumeRef};

type Result<T, E = VolumeError> = std::result::Result<T, E>;

/// Label modern dockerd puts on anonymous volumes (prune on API ≥ 1.42 keys on it).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    /// The local driver's options (`type`, `device`, `o`).
    #[serde(default)]
    pub options: HashMap<String, String>,
    #[serde(default)]
    pub anonymous: bool,
}

pub struct VolumeStore {
    root: PathBuf,
    /// Serialises create/remove so a name is made once.
    lock: Mutex<()>,
}

impl VolumeStore {
    pub fn new(root: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&root)
            .map_err(|e| VolumeError::io(format!("creating {}", root.display()), e))?;
        Ok(Self {
            root,
            lock: Mutex::new(()),
        })
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `Mountpoint`: what containers mount.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir(name).join("_data")
    }

    /// Creates `name` (a fresh anonymous name when `None`); an existing volume of that name
    /// is returned as it is, as dockerd does. The flag says whether it was created now.
    pub fn create(
        &self,
        name: Option<&str>,
        options: HashMap<String, String>,
        mut labels: HashMap<String, String>,
        anonymous: bool,
    ) -> Result<(VolumeRecord, bool)> {
        model::validate_options(&options)?;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                model::validate_name(n)?;
                n.to_string()
            }
            None => model::anonymous_name(),
        };
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(existing) = self.read(&name) {
            return Ok((existing, false));
        }
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
        }
        let rec = VolumeRecord {
            name: name.clone(),
            created_at: Utc::now(),
            labels,
            options,
            anonymous,
        };
        let data = self.data_path(&name);
        std::fs::create_dir_all(&data)
            .map_err(|e| VolumeError::io(format!("creating {}", data.display()), e))?;
        // Written last: a volume without metadata is not listed and is made again.
        let meta = serde_json::to_vec_pretty(&rec)
            .map_err(|e| VolumeError::io("serialising volume metadata", e))?;
        let tmp = self.dir(&name).join("volume.json.tmp");
        std::fs::write(&tmp, meta)
            .and_then(|_| std::fs::rename(&tmp, self.dir(&name).join("volume.json")))
            .map_err(|e| VolumeError::io(format!("writing metadata of {name}"), e))?;
        Ok((rec, true))
    }

    fn read(&self, name: &str) -> Result<VolumeRecord> {
        let p = self.dir(name).join("volume.json");
        let data = std::fs::read(&p)
            .map_err(|_| VolumeError::NotFound(format!("get {name}: no such volume")))?;
        serde_json::from_slice(&data)
            .map_err(|e| VolumeError::io(format!("reading {}", p.display()), e))
    }

    pub fn get(&self, name: &str) -> Result<VolumeRecord> {
        if model::validate_name(name).is_err() && name.len() != 64 {
            return Err(VolumeError::NotFound(format!("get {name}: no such volume")));
        }
        self.read(name)
    }

    pub fn list(&self) -> Vec<VolumeRecord> {
        let mut out: Vec<VolumeRecord> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| self.read(&e.file_name().to_string_lossy()).ok())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Removes the volume and its data (the caller checked it is unused).
    pub fn remove(&self, name: &str) -> Result<()> {
        let rec = self.get(name)?;
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let data = self.data_path(name);
        if rec.options.contains_key("type") {
            copyup::unmount(&data);
        }
        std::fs::remove_dir_all(self.dir(name))
            .map_err(|e| VolumeError::io(format!("removing volume {name}"), e))
    }

    /// Mounts what the local driver's options describe (`-o type=tmpfs …`) over the data
    /// directory, once; plain volumes need nothing.
    pub fn ensure_mounted(&self, rec: &VolumeRecord) -> Result<()> {
        let Some(typ) = rec.options.get("type") else {
            return Ok(());
        };
        let data = self.data_path(&rec.name);
        let device = rec.options.get("device").map(String::as_str).unwrap_or(typ);
        let opts = rec.options.get("o").map(String::as_str).unwrap_or("");
        copyup::mount_once(typ, device, opts, &data)
            .map_err(|e| VolumeError::io(format!("mounting volume {}", rec.name), e))
    }

    /// Bytes used by the volume (`UsageData.Size` in `system df -v`).
    pub fn size(&self, name: &str) -> i64 {
        crate::containers::size::dir_size(&self.data_path(name))
            .try_into()
            .unwrap_or(i64::MAX)
    }

    /// The API's `Volume` object.
    pub fn to_json(&self, rec: &VolumeRecord, usage: Option<(i64, i64)>) -> Value {
        let mut v = json!({
            "CreatedAt": rec.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "Driver": "local",
            "Labels": rec.labels,
            "Mountpoint": self.data_path(&rec.name).display().to_string(),
            "Name": rec.name,
            "Options": if rec.options.is_empty() { Value::Null } else { json!(rec.options) },
            "Scope": "local",
        });
        if let Some((size, refs)) = usage {
            v["UsageData"] = json!({ "Size": size, "RefCount": refs });
        }
        v
    }
}

/// `GET /volumes` filters: name (substring), label, dangling, driver.
pub fn matches(
    f: &spec::filters::Filters,
    rec: &VolumeRecord,
    in_use: bool,
) -> Result<bool, VolumeError> {
    f.validate(&["name", "label", "dangling", "driver"])
        .map_err(|e| VolumeError::InvalidParameter(e.0))?;
    for d in f.get("dangling") {
        let want = match d.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(VolumeError::InvalidParameter(format!(
                    "invalid filter 'dangling={other}'"
                )))
            }
        };
        if want == in_use {
            return Ok(false);
        }
    }
    Ok(f.any_or_absent("name", |n| rec.name.contains(n))
        && f.any_or_absent("driver", |d| d == "local")
        && f.match_kv_list("label", &rec.labels))
}

/// Which unused volumes `volume prune` takes: anonymous ones only from API 1.42 on unless
/// `all=true`, every unused one before; `label`/`label!` filters.
pub fn prunable(
    f: &spec::filters::Filters,
    rec: &VolumeRecord,
    api_1_42: bool,
) -> Result<bool, VolumeError> {
    f.validate(&["label", "label!", "all"])
        .map_err(|e| VolumeError::InvalidParameter(e.0))?;
    let all = f
        .get("all")
        .iter()
        .any(|v| matches!(v.as_str(), "true" | "1"));
    if api_1_42 && !all && !rec.anonymous && !rec.labels.contains_key(ANONYMOUS_LABEL) {
        return Ok(false);
    }
    let negated = f.get("label!").iter().any(|l| match l.split_once('=') {
        Some((k, v)) => rec.labels.get(k).is_some_and(|have| have == v),
        None => rec.labels.contains_key(l.as_str()),
    });
    Ok(f.match_kv_list("label", &rec.labels) && !negated)
}

/// Whether a data directory holds nothing yet (copy-up only fills empty volumes).
pub fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).map_or(true, |mut d| d.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_get_list_remove() {
        let d = tempfile::tempdir().unwrap();
        let s = VolumeStore::new(d.path().join("volumes")).unwrap();
        let labels = HashMap::from([("a".to_string(), "b".to_string())]);
        let (v, created) = s
            .create(Some("data"), HashMap::new(), labels, false)
            .unwrap();
        assert!(created);
        assert!(s.data_path("data").is_dir());
        let (again, created) = s
            .create(Some("data"), HashMap::new(), HashMap::new(), false)
            .unwrap();
        assert!(!created);
        assert_eq!(again, v);
        let (anon, _) = s
            .create(None, HashMap::new(), HashMap::new(), true)
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        assert!(anon.labels.contains_key(ANONYMOUS_LABEL));
        assert_eq!(s.list().len(), 2);
        let j = s.to_json(&v, None);
        assert_eq!(j["Driver"], "local");
        assert_eq!(j["Options"], Value::Null);
        assert_eq!(j["Labels"]["a"], "b");
        assert!(j["CreatedAt"].as_str().unwrap().ends_with('Z'));
        s.remove("data").unwrap();
        assert!(matches!(s.get("data"), Err(VolumeError::NotFound(_))));
        assert!(s
            .create(Some("bad/name"), HashMap::new(), HashMap::new(), false)
            .is_err());
    }

    #[test]
    fn filters_and_prune_rules() {
        let rec = |name: &str, anonymous: bool| VolumeRecord {
            name: name.into(),
            created_at: Utc::now(),
            labels: if anonymous {
                HashMap::from([(ANONYMOUS_LABEL.to_string(), String::new())])
            } else {
                HashMap::from([("app".to_string(), "db".to_string())])
            },
            options: HashMap::new(),
            anonymous,
        };
        let f = |s: &str| spec::filters::Filters::from_json(s).unwrap();
        assert!(matches(&f(r#"{"name":["da"]}"#), &rec("data", false), false).unwrap());
        assert!(!matches(&f(r#"{"dangling":["true"]}"#), &rec("data", false), true).unwrap());
        assert!(matches(&f(r#"{"label":["app=db"]}"#), &rec("data", false), true).unwrap());
        assert!(matches(&f(r#"{"bogus":["x"]}"#), &rec("data", false), true).is_err());
        // 1.42+: named volumes only with all=true.
        assert!(!prunable(&f("{}"), &rec("data", false), true).unwrap());
        assert!(prunable(&f("{}"), &rec("data", false), false).unwrap());
        assert!(prunable(&f(r#"{"all":["true"]}"#), &rec("data", false), true).unwrap());
        assert!(prunable(&f("{}"), &rec("x", true), true).unwrap());
        assert!(!prunable(&f(r#"{"label!":["app"]}"#), &rec("data", false), false).unwrap());
    }
}
