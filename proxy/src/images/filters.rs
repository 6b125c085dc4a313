//! The `filters` query parameter and what `GET /images/json` and `POST /images/prune` do
//! with it, as dockerd 20.10 does (`api/types/filters`, `daemon/images/images.go`,
//! `daemon/images/image_prune.go`). Pure: the store resolves `before`/`since` images and
//! hands the records over.

pub use spec::filters::Filters;
use spec::reference::{self, Reference};
pub use spec::timestamp::nanos;

use super::error::{ImagesError, Result};
use super::ImageRecord;

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
        Err(f.invalid_value("dangling").into())
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
pub fn apply_list<'a>(
    records: impl IntoIterator<Item = &'a ImageRecord>,
    f: &Filters,
    bounds: &TimeBounds,
) -> Result<Vec<ImageRecord>> {
    f.validate(LIST_FILTERS)?;
    let dangling_only = dangling(f, false)? == Some(true);
    let patterns = f.get("reference");
    let mut out = Vec::new();
    for rec in records {
        if bounds.before.is_some_and(|b| rec.created_nanos >= b) {
            continue;
        }
        if bounds.since.is_some_and(|s| rec.created_nanos <= s) {
            continue;
        }
        if f.contains("label") && !f.match_kv_list("label", &rec.labels) {
            continue;
        }
        // Only the records shown are copied out of the (shared) listing.
        let mut rec = rec.clone();
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

/// [`spec::timestamp::parse`] with the image store's error.
pub fn parse_timestamp(value: &str, now: chrono::DateTime<chrono::Utc>) -> Result<i128> {
    spec::timestamp::parse(value, now).map_err(|e| ImagesError::InvalidArgument(e.0))
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
        assert!(Filters::from_json("").unwrap().is_empty());
        assert!(Filters::from_json("[1]").is_err());
        assert!(Filters::from_json("{").is_err());
    }

    #[test]
    fn list_filters() {
        let f = |s: &str| Filters::from_json(s).unwrap();
        let none = TimeBounds::default();
        let all = apply_list(&sample(), &Filters::default(), &none).unwrap();
        assert_eq!(ids(&all), ["c", "b", "a"]);
        let d = apply_list(&sample(), &f(r#"{"dangling":["true"]}"#), &none).unwrap();
        assert_eq!(ids(&d), ["b"]);
        let nd = apply_list(&sample(), &f(r#"{"dangling":["false"]}"#), &none).unwrap();
        assert_eq!(ids(&nd), ["c", "a"]);
        let l = apply_list(&sample(), &f(r#"{"label":["k"]}"#), &none).unwrap();
        assert_eq!(ids(&l), ["c", "a"]);
        let l = apply_list(&sample(), &f(r#"{"label":["k=v"]}"#), &none).unwrap();
        assert_eq!(ids(&l), ["a"]);
        let r = apply_list(&sample(), &f(r#"{"reference":["busybox:1"]}"#), &none).unwrap();
        assert_eq!(ids(&r), ["a"]);
        assert_eq!(r[0].repo_tags, ["busybox:1"]);
        let r = apply_list(&sample(), &f(r#"{"reference":["busybox"]}"#), &none).unwrap();
        assert_eq!(r[0].repo_tags, ["busybox:latest", "busybox:1"]);
        let r = apply_list(&sample(), &f(r#"{"reference":["*/*"]}"#), &none).unwrap();
        assert_eq!(ids(&r), ["c"]);
        let b = TimeBounds {
            before: Some(3),
            since: Some(1),
        };
        assert_eq!(
            ids(&apply_list(&sample(), &Filters::default(), &b).unwrap()),
            ["b"]
        );
    }

    #[test]
    fn list_filter_errors() {
        let none = TimeBounds::default();
        let e = apply_list(
            &sample(),
            &Filters::from_json(r#"{"foo":["x"]}"#).unwrap(),
            &none,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "Invalid filter 'foo'");
        let e = apply_list(
            &sample(),
            &Filters::from_json(r#"{"dangling":["maybe"]}"#).unwrap(),
            &none,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "Invalid filter 'dangling=[maybe]'");
        let e = apply_list(
            &sample(),
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
