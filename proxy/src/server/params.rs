//! Query-string helpers: Docker clients send booleans as `1`/`0`/`true`/`false`, and
//! `filters` as JSON in two shapes (`{"k":["v"]}` and the legacy `{"k":{"v":true}}`).

use std::collections::{BTreeMap, HashMap};

use super::error::ApiError;

pub type Query = HashMap<String, String>;

/// dockerd's `httputils.BoolValue`: "", "0", "no", "false" and "none" (any case) are false,
/// anything else is true.
pub fn bool_param(q: &Query, key: &str) -> Result<bool, ApiError> {
    let v = q
        .get(key)
        .map(|s| s.trim().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(!matches!(v.as_str(), "" | "0" | "no" | "false" | "none"))
}

/// Every value of a repeated query parameter (`names=a&names=b`, `changes=…`).
pub fn all_of(q: &[(String, String)], key: &str) -> Vec<String> {
    q.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

pub fn int_param(q: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
    }
}

/// A JSON request body, parsed the way dockerd reports problems with it (400, not axum's
/// 422); an empty body is the type's default.
pub fn json_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// `h` and `w` of the resize endpoints.
pub fn tty_size(q: &Query) -> Result<(u32, u32), ApiError> {
    let h = int_param(q, "h")?.unwrap_or(0);
    let w = int_param(q, "w")?.unwrap_or(0);
    match (u32::try_from(w), u32::try_from(h)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(ApiError::bad_request("invalid tty size")),
    }
}

/// Parsed `filters`: each key to its set of values.
pub type Filters = BTreeMap<String, Vec<String>>;

pub fn filters(q: &Query) -> Result<Filters, ApiError> {
    let Some(raw) = q.get("filters").filter(|s| !s.is_empty()) else {
        return Ok(Filters::new());
    };
    parse_filters(raw)
}

pub fn parse_filters(raw: &str) -> Result<Filters, ApiError> {
    let v: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("invalid filter: expected a JSON object"))?;
    let mut out = Filters::new();
    for (k, vals) in obj {
        let list = match vals {
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>(),
            serde_json::Value::Object(m) => Some(
                m.iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(k, _)| k.clone())
                    .collect(),
            ),
            _ => None,
        }
        .ok_or_else(|| {
            ApiError::bad_request(format!("invalid filter: values of {k:?} must be strings"))
        })?;
        out.insert(k.clone(), list);
    }
    Ok(out)
}

/// Rejects filter keys the endpoint does not know, as dockerd does.
pub fn check_filter_keys(f: &Filters, allowed: &[&str]) -> Result<(), ApiError> {
    for k in f.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
        }
    }
    Ok(())
}

/// `label=key` or `label=key=value` against a label map.
pub fn labels_match(wanted: &[String], labels: &HashMap<String, String>) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(w),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_filter_shapes() {
        let a = parse_filters(r#"{"status":["running","exited"]}"#).unwrap();
        assert_eq!(a["status"], vec!["running", "exited"]);
        let b = parse_filters(r#"{"label":{"a=b":true,"c":false}}"#).unwrap();
        assert_eq!(b["label"], vec!["a=b"]);
        assert!(parse_filters("[1]").is_err());
        assert!(parse_filters("{").is_err());
        assert!(check_filter_keys(&a, &["label"]).is_err());
    }

    #[test]
    fn booleans_and_labels() {
        let q: Query = [("a".to_string(), "1".to_string()), ("b".into(), "x".into())].into();
        assert!(bool_param(&q, "a").unwrap());
        assert!(!bool_param(&q, "z").unwrap());
        assert!(bool_param(&q, "b").unwrap());
        let no: Query = [("a".to_string(), "No".to_string())].into();
        assert!(!bool_param(&no, "a").unwrap());
        let labels = HashMap::from([("k".to_string(), "v".to_string())]);
        assert!(labels_match(&["k".into()], &labels));
        assert!(labels_match(&["k=v".into()], &labels));
        assert!(!labels_match(&["k=w".into()], &labels));
    }
}
