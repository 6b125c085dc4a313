//! The `filters` query parameter (`filters.Args`), shared by every list and prune endpoint:
//! each key maps to a set of values, given as `{"key":{"value":true}}` or the legacy
//! `{"key":["value"]}`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

/// dockerd's 400 messages for filters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

type Result<T> = std::result::Result<T, FilterError>;

/// `filters.Args`: each key maps to a set of values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    fields: BTreeMap<String, BTreeSet<String>>,
}

impl Filters {
    /// `filters.FromJSON`: `{"key":{"value":true}}`, or the legacy `{"key":["value"]}`.
    pub fn from_json(s: &str) -> Result<Self> {
        let mut f = Self::default();
        if s.trim().is_empty() {
            return Ok(f);
        }
        let bad = || FilterError(format!("invalid filter: {s}"));
        let v: Value = serde_json::from_str(s).map_err(|_| bad())?;
        let Value::Object(map) = v else {
            return Err(bad());
        };
        for (key, vals) in map {
            let set = f.fields.entry(key).or_default();
            match vals {
                Value::Object(m) => {
                    for (val, on) in m {
                        if on.as_bool().ok_or_else(bad)? {
                            set.insert(val);
                        }
                    }
                }
                Value::Array(a) => {
                    for val in a {
                        set.insert(val.as_str().ok_or_else(bad)?.to_string());
                    }
                }
                _ => return Err(bad()),
            }
        }
        Ok(f)
    }

    pub fn add(&mut self, key: &str, value: &str) {
        self.fields
            .entry(key.to_string())
            .or_default()
            .insert(value.to_string());
    }

    /// `Validate`: every key must be one of `accepted`.
    pub fn validate(&self, accepted: &[&str]) -> Result<()> {
        match self.fields.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(k) => Err(FilterError(format!("Invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    pub fn get(&self, key: &str) -> Vec<String> {
        self.fields
            .get(key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// `ExactMatch`: true when the key is absent or has no values (Docker's quirk).
    pub fn exact_match(&self, key: &str, value: &str) -> bool {
        match self.fields.get(key) {
            None => true,
            Some(s) if s.is_empty() => true,
            Some(s) => s.contains(value),
        }
    }

    /// `MatchKVList`: every `k` / `k=v` of the key must be among `labels`.
    pub fn match_kv_list(&self, key: &str, labels: &HashMap<String, String>) -> bool {
        let Some(values) = self.fields.get(key).filter(|v| !v.is_empty()) else {
            return true;
        };
        if labels.is_empty() {
            return false;
        }
        values.iter().all(|v| match v.split_once('=') {
            Some((k, want)) => labels.get(k).is_some_and(|have| have == want),
            None => labels.contains_key(v.as_str()),
        })
    }

    /// The `Invalid filter 'key=[v1 v2]'` error dockerd gives for a bad value.
    pub fn invalid_value(&self, key: &str) -> FilterError {
        FilterError(format!(
            "Invalid filter '{key}=[{}]'",
            self.get(key).join(" ")
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// The first value of a key (`before`, `since`, `until` take one).
    pub fn first(&self, key: &str) -> Option<String> {
        self.fields.get(key).and_then(|s| s.iter().next().cloned())
    }

    /// Whether any value of the key satisfies `f` (true when the key is absent).
    pub fn any_or_absent(&self, key: &str, f: impl Fn(&str) -> bool) -> bool {
        match self.fields.get(key) {
            None => true,
            Some(s) => s.iter().any(|v| f(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_shapes_and_matches_labels() {
        let a = Filters::from_json(r#"{"status":["running","exited"]}"#).unwrap();
        assert_eq!(a.get("status"), vec!["exited", "running"]);
        let b = Filters::from_json(r#"{"label":{"a=b":true,"c":false}}"#).unwrap();
        assert_eq!(b.get("label"), vec!["a=b"]);
        assert!(Filters::from_json("[1]").is_err());
        assert!(Filters::from_json("{").is_err());
        assert_eq!(
            a.validate(&["label"]),
            Err(FilterError("Invalid filter 'status'".into()))
        );
        let labels = HashMap::from([("a".to_string(), "b".to_string())]);
        assert!(b.match_kv_list("label", &labels));
        assert!(!b.match_kv_list("label", &HashMap::new()));
        assert!(a.any_or_absent("status", |s| s == "running"));
        assert!(a.any_or_absent("name", |_| false));
        assert_eq!(a.first("status").as_deref(), Some("exited"));
    }
}
