//! Build arguments (moby `builder/dockerfile/buildargs.go`): `--build-arg` values, `ARG`
//! declarations per stage, `ARG`s before the first `FROM` (meta args) and the predefined
//! proxy arguments, which need no declaration.

use std::collections::{BTreeMap, BTreeSet};

pub const BUILTIN: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    allowed: BTreeMap<String, Option<String>>,
    meta: BTreeMap<String, Option<String>>,
    referenced: BTreeSet<String>,
    options: BTreeMap<String, Option<String>>,
}

impl BuildArgs {
    /// From `--build-arg` (a name without a value takes it from the client's environment,
    /// which the client resolves; `None` stays unset).
    pub fn new(options: BTreeMap<String, Option<String>>) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// What a new stage starts with: the meta args and references, no declarations.
    pub fn for_stage(&self) -> Self {
        Self {
            allowed: BTreeMap::new(),
            ..self.clone()
        }
    }

    pub fn merge_referenced(&mut self, other: &BuildArgs) {
        self.referenced.extend(other.referenced.iter().cloned());
    }

    pub fn add_arg(&mut self, key: &str, value: Option<String>) {
        self.allowed.insert(key.to_string(), value);
        self.referenced.insert(key.to_string());
    }

    pub fn add_meta_arg(&mut self, key: &str, value: Option<String>) {
        self.meta.insert(key.to_string(), value);
    }

    fn get(&self, key: &str, mapping: &BTreeMap<String, Option<String>>) -> Option<String> {
        if let Some(Some(v)) = self.options.get(key) {
            return Some(v.clone());
        }
        match mapping.get(key) {
            Some(Some(v)) => Some(v.clone()),
            _ => self.meta.get(key).cloned().flatten(),
        }
    }

    fn all_from(&self, mapping: &BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
        let keys: BTreeSet<&str> = mapping
            .keys()
            .map(String::as_str)
            .chain(BUILTIN.iter().copied())
            .collect();
        keys.into_iter()
            .filter_map(|k| self.get(k, mapping).map(|v| (k.to_string(), v)))
            .collect()
    }

    pub fn all_allowed(&self) -> BTreeMap<String, String> {
        self.all_from(&self.allowed)
    }

    pub fn all_meta(&self) -> BTreeMap<String, String> {
        self.all_from(&self.meta)
    }

    /// Allowed args as `K=V`, except those `env` already sets.
    pub fn filter_allowed(&self, env: &[String]) -> Vec<String> {
        let set: BTreeSet<&str> = env
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        self.all_allowed()
            .into_iter()
            .filter(|(k, _)| !set.contains(k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    pub fn is_referenced_or_not_builtin(&self, key: &str) -> bool {
        self.allowed.contains_key(key) || !BUILTIN.contains(&key)
    }

    /// `[Warning] One or more build-args [A B] were not consumed`, if any.
    pub fn unused_warning(&self) -> Option<String> {
        let left: Vec<&str> = self
            .options
            .keys()
            .filter(|k| !self.referenced.contains(*k) && !BUILTIN.contains(&k.as_str()))
            .map(String::as_str)
            .collect();
        (!left.is_empty()).then(|| {
            format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                left.join(" ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoping() {
        let opts = BTreeMap::from([
            ("A".to_string(), Some("cli".to_string())),
            ("HTTP_PROXY".to_string(), Some("p".to_string())),
            ("UNUSED".to_string(), Some("u".to_string())),
        ]);
        let mut global = BuildArgs::new(opts);
        global.add_arg("V", Some("1".into()));
        global.add_meta_arg("V", Some("1".into()));
        let mut st = global.for_stage();
        // Not declared in the stage: only the proxy arg is visible.
        assert_eq!(st.filter_allowed(&[]), ["HTTP_PROXY=p"]);
        // Declared without a value: the meta arg's value.
        st.add_arg("V", None);
        st.add_arg("A", Some("dflt".into()));
        assert_eq!(
            st.filter_allowed(&["A=env".into()]),
            ["HTTP_PROXY=p", "V=1"]
        );
        assert_eq!(st.all_allowed()["A"], "cli");
        assert!(!st.is_referenced_or_not_builtin("HTTP_PROXY"));
        assert!(st.is_referenced_or_not_builtin("V"));
        global.merge_referenced(&st);
        assert_eq!(
            global.unused_warning().unwrap(),
            "[Warning] One or more build-args [UNUSED] were not consumed\n"
        );
        assert_eq!(global.all_meta()["V"], "1");
    }
}
