//! The `filters` query parameter and what `GET /images/json` and `POST /images/prune` do
//! with it, as dockerd 20.10 does (`api/types/filters`, `daemon/images/images.go`,
//! `daemon/images/image_prune.go`). Pure: the store resolves `before`/`since` images and
//! hands the records over.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use spec::reference::{self, Reference};

use super::error::{ImagesError, Result};
use super::ImageRecord;

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
        let bad = || ImagesError::InvalidArgument(format!("invalid filter: {s}"));
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
            Some(k) => Err(ImagesError::InvalidArgument(format!(
                "Invalid filter '{k}'"
            ))),
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
    pub fn invalid_value(&self, key: &str) -> ImagesError {
        ImagesError::InvalidArgument(format!(
            "Invalid filter '{key}=[{}]'",
            self.get(key).join(" ")
        ))
    }
}

pub const LIST_FILTERS: &[&str] = &["dangling", "label", "before", "since", "reference"];
pub const PRUNE_FILTERS: &[&str] = &["dangling", "label", "label!", "until"];

/// `dangling=true` → `Some(true)`, `dangling=false` → `Some(false)`, absent → `None`.
/// `accept_numbers` for prune, which also takes `1`/`0`.
pub fn dangling(f: &Filters, accept_numbers: bool) -> Result<Option<bool>> {
    if !f.contains("dangling") {
        return Ok(None);
    }
    let is = |v: &str, n: &str| {
        f.exact_match("dangling", v) || (accept_numbers && f.exact_match("dangling", n))
    };
    if is("true", "1") {
        Ok(Some(true))
    } else if is("false", "0") {
        Ok(Some(false))
    } else {
        Err(f.invalid_value("dangling"))
    }
}

/// What `before`/`since` resolved to (the images' creation times, Unix nanoseconds).
#[derive(Debug, Clone, Default)]
pub struct TimeBounds {
    pub before: Option<i128>,
    pub since: Option<i128>,
}

/// `GET /images/json` after `before`/`since` were resolved: returns the records to show,
/// with `RepoTags`/`RepoDigests` narrowed to the references that match `reference`.
/// Sorted newest first, as dockerd sorts them.
pub fn apply_list(
    records: Vec<ImageRecord>,
    f: &Filters,
    bounds: &TimeBounds,
) -> Result<Vec<ImageRecord>> {
    f.validate(LIST_FILTERS)?;
    let dangling_only = dangling(f, false)? == Some(true);
    let patterns = f.get("reference");
    let mut out = Vec::new();
    for mut rec in records {
        if bounds.before.is_some_and(|b| rec.created_nanos >= b) {
            continue;
        }
        if bounds.since.is_some_and(|s| rec.created_nanos <= s) {
            continue;
        }
        if f.contains("label") && !f.match_kv_list("label", &rec.labels) {
            continue;
        }
        if !patterns.is_empty() {
            let keep = |name: &str| -> Result<bool> {
                let Ok(r) = name.parse::<Reference>() else {
                    return Ok(false);
                };
                for p in &patterns {
                    if reference::familiar_match(p, &r)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            };
            let mut tags = Vec::new();
            for (t, full) in rec.repo_tags.iter().zip(&rec.tag_names) {
                if keep(full)? {
                    tags.push(t.clone());
                }
            }
            let mut digests = Vec::new();
            for (d, full) in rec.repo_digests.iter().zip(&rec.digest_names) {
                if keep(full)? {
                    digests.push(d.clone());
                }
            }
            rec.repo_tags = tags;
            rec.repo_digests = digests;
        }
        let untagged = rec.repo_tags.is_empty() && rec.repo_digests.is_empty();
        if untagged {
            if f.contains("dangling") && !dangling_only {
                continue;
            }
            if f.contains("reference") {
                continue;
            }
        } else if dangling_only && !rec.repo_tags.is_empty() {
            continue;
        }
        out.push(rec);
    }
    sort_newest_first(&mut out);
    Ok(out)
}

pub fn sort_newest_first(records: &mut [ImageRecord]) {
    records.sort_by(|a, b| b.created_nanos.cmp(&a.created_nanos).then(a.id.cmp(&b.id)));
}

/// The prune filters, parsed.
#[derive(Debug, Clone)]
pub struct PrunePlan {
    pub dangling_only: bool,
    /// Images created after this (Unix nanoseconds) are kept.
    pub until: Option<i128>,
    filters: Filters,
}

impl PrunePlan {
    pub fn new(f: &Filters, now: chrono::DateTime<chrono::Utc>) -> Result<Self> {
        f.validate(PRUNE_FILTERS)?;
        let dangling_only = dangling(f, true)? != Some(false);
        let until = match f.get("until").as_slice() {
            [] => None,
            [one] => Some(parse_timestamp(one, now)?),
            _ => {
                return Err(ImagesError::InvalidArgument(
                    "more than one until filter specified".into(),
                ))
            }
        };
        Ok(Self {
            dangling_only,
            until,
            filters: f.clone(),
        })
    }

    /// Whether an image is a candidate (before the tag and in-use checks).
    pub fn selects(&self, rec: &ImageRecord) -> bool {
        if self.until.is_some_and(|u| rec.created_nanos > u) {
            return false;
        }
        // `matchLabels`: `label` must all match; `label!` excludes when it all matches.
        if !self.filters.match_kv_list("label", &rec.labels) {
            return false;
        }
        if self.filters.contains("label!") && self.filters.match_kv_list("label!", &rec.labels) {
            return false;
        }
        true
    }
}

/// `timetypes.GetTimestamp` as the daemon uses it for `until`: a Go duration before `now`
/// (`24h`, `1h30m`), Unix seconds (`1700000000`, `1700000000.5`), or an RFC 3339 date or
/// time (a missing zone is UTC, the daemon's zone here). Returns Unix nanoseconds.
pub fn parse_timestamp(value: &str, now: chrono::DateTime<chrono::Utc>) -> Result<i128> {
    let bad = || {
        ImagesError::InvalidArgument(format!(
            "failed to parse value as time or duration: {value:?}"
        ))
    };
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            return Ok(nanos(now) - d);
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(nanos(t.with_timezone(&chrono::Utc)));
    }
    if let Some((_, time)) = value.split_once('T') {
        // Go accepts `2006-01-02T15` and `2006-01-02T15:04`; chrono wants the seconds.
        let padded = match time.matches(':').count() {
            0 => format!("{value}:00:00"),
            1 => format!("{value}:00"),
            _ => value.to_string(),
        };
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&padded, "%Y-%m-%dT%H:%M:%S%.f") {
            return Ok(nanos(t.and_utc()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| nanos(t.and_utc()))
            .ok_or_else(bad);
    }
    if value.contains('-') {
        return Err(bad());
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i128 = secs.parse().map_err(|_| bad())?;
    let frac_nanos: i128 = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    Ok(secs * 1_000_000_000 + frac_nanos)
}

pub fn nanos(t: chrono::DateTime<chrono::Utc>) -> i128 {
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

/// Go's `time.ParseDuration`, in nanoseconds (`None` when it is not one).
fn parse_go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += value * scale;
    }
    let n = total as i128;
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, created: i128, tags: &[&str], labels: &[(&str, &str)]) -> ImageRecord {
        let names: Vec<Reference> = tags
            .iter()
            .map(|t| reference::parse_normalized(t).unwrap())
            .collect();
        ImageRecord {
            id: id.to_string(),
            repo_tags: names.iter().map(|n| n.familiar_string()).collect(),
            tag_names: names.iter().map(|n| n.to_string()).collect(),
            created_nanos: created,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn ids(v: &[ImageRecord]) -> Vec<&str> {
        v.iter().map(|r| r.id.as_str()).collect()
    }

    fn sample() -> Vec<ImageRecord> {
        vec![
            rec("a", 1, &["busybox:latest", "busybox:1"], &[("k", "v")]),
            rec("b", 2, &[], &[]),
            rec("c", 3, &["user/app:v1"], &[("k", "w"), ("x", "")]),
        ]
    }

    #[test]
    fn parses_both_filter_forms() {
        let a = Filters::from_json(r#"{"dangling":{"true":true}}"#).unwrap();
        let b = Filters::from_json(r#"{"dangling":["true"]}"#).unwrap();
        assert_eq!(a, b);
        assert!(Filters::from_json("").unwrap().fields.is_empty());
        assert!(Filters::from_json("[1]").is_err());
        assert!(Filters::from_json("{").is_err());
    }

    #[test]
    fn list_filters() {
        let f = |s: &str| Filters::from_json(s).unwrap();
        let none = TimeBounds::default();
        let all = apply_list(sample(), &Filters::default(), &none).unwrap();
        assert_eq!(ids(&all), ["c", "b", "a"]);
        let d = apply_list(sample(), &f(r#"{"dangling":["true"]}"#), &none).unwrap();
        assert_eq!(ids(&d), ["b"]);
        let nd = apply_list(sample(), &f(r#"{"dangling":["false"]}"#), &none).unwrap();
        assert_eq!(ids(&nd), ["c", "a"]);
        let l = apply_list(sample(), &f(r#"{"label":["k"]}"#), &none).unwrap();
        assert_eq!(ids(&l), ["c", "a"]);
        let l = apply_list(sample(), &f(r#"{"label":["k=v"]}"#), &none).unwrap();
        assert_eq!(ids(&l), ["a"]);
        let r = apply_list(sample(), &f(r#"{"reference":["busybox:1"]}"#), &none).unwrap();
        assert_eq!(ids(&r), ["a"]);
        assert_eq!(r[0].repo_tags, ["busybox:1"]);
        let r = apply_list(sample(), &f(r#"{"reference":["busybox"]}"#), &none).unwrap();
        assert_eq!(r[0].repo_tags, ["busybox:latest", "busybox:1"]);
        let r = apply_list(sample(), &f(r#"{"reference":["*/*"]}"#), &none).unwrap();
        assert_eq!(ids(&r), ["c"]);
        let b = TimeBounds {
            before: Some(3),
            since: Some(1),
        };
        assert_eq!(
            ids(&apply_list(sample(), &Filters::default(), &b).unwrap()),
            ["b"]
        );
    }

    #[test]
    fn list_filter_errors() {
        let none = TimeBounds::default();
        let e = apply_list(
            sample(),
            &Filters::from_json(r#"{"foo":["x"]}"#).unwrap(),
            &none,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "Invalid filter 'foo'");
        let e = apply_list(
            sample(),
            &Filters::from_json(r#"{"dangling":["maybe"]}"#).unwrap(),
            &none,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "Invalid filter 'dangling=[maybe]'");
        let e = apply_list(
            sample(),
            &Filters::from_json(r#"{"reference":["["]}"#).unwrap(),
            &none,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "syntax error in pattern");
    }

    #[test]
    fn prune_plan() {
        let now = chrono::DateTime::from_timestamp(1_000, 0).unwrap();
        let p = PrunePlan::new(&Filters::default(), now).unwrap();
        assert!(p.dangling_only);
        let f = Filters::from_json(r#"{"dangling":["0"],"label!":["k=v"]}"#).unwrap();
        let p = PrunePlan::new(&f, now).unwrap();
        assert!(!p.dangling_only);
        let s = sample();
        assert!(!p.selects(&s[0]));
        assert!(p.selects(&s[1]));
        assert!(p.selects(&s[2]));
        let f = Filters::from_json(r#"{"until":["10m"]}"#).unwrap();
        let p = PrunePlan::new(&f, now).unwrap();
        assert_eq!(p.until, Some(400 * 1_000_000_000));
        assert!(
            PrunePlan::new(&Filters::from_json(r#"{"until":["a","b"]}"#).unwrap(), now).is_err()
        );
        assert!(
            PrunePlan::new(&Filters::from_json(r#"{"reference":["a"]}"#).unwrap(), now).is_err()
        );
    }

    #[test]
    fn timestamps() {
        let now = chrono::DateTime::from_timestamp(10_000, 0).unwrap();
        let s = 1_000_000_000i128;
        assert_eq!(parse_timestamp("1h", now).unwrap(), (10_000 - 3600) * s);
        assert_eq!(parse_timestamp("1h30m", now).unwrap(), (10_000 - 5400) * s);
        assert_eq!(
            parse_timestamp("1.5s", now).unwrap(),
            10_000 * s - 1_500_000_000
        );
        assert_eq!(
            parse_timestamp("1700000000", now).unwrap(),
            1_700_000_000 * s
        );
        assert_eq!(
            parse_timestamp("1700000000.5", now).unwrap(),
            1_700_000_000 * s + s / 2
        );
        assert_eq!(parse_timestamp("0", now).unwrap(), 0);
        assert_eq!(
            parse_timestamp("1970-01-02T00:00:00Z", now).unwrap(),
            86_400 * s
        );
        assert_eq!(parse_timestamp("1970-01-02", now).unwrap(), 86_400 * s);
        assert_eq!(parse_timestamp("1970-01-02T01", now).unwrap(), 90_000 * s);
        assert!(parse_timestamp("yesterday", now).is_err());
        assert!(parse_timestamp("2020-13-45", now).is_err());
    }
}
