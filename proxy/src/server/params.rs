//! Query-string helpers: Docker clients send booleans as `1`/`0`/`true`/`false`, and
//! `filters` as JSON in two shapes (`{"k":["v"]}` and the legacy `{"k":{"v":true}}`).

use std::collections::HashMap;

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

pub use spec::filters::Filters;

/// The `filters` parameter (one parser for every endpoint: `spec::filters`).
pub fn filters(q: &Query) -> Result<Filters, ApiError> {
    Filters::from_json(q.get("filters").map_or("", String::as_str)).map_err(ApiError::from)
}

/// Rejects filter keys the endpoint does not know, as dockerd does.
pub fn check_filter_keys(f: &Filters, allowed: &[&str]) -> Result<(), ApiError> {
    f.validate(allowed).map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        let q: Query = [("a".to_string(), "1".to_string()), ("b".into(), "x".into())].into();
        assert!(bool_param(&q, "a").unwrap());
        assert!(!bool_param(&q, "z").unwrap());
        assert!(bool_param(&q, "b").unwrap());
        let no: Query = [("a".to_string(), "No".to_string())].into();
        assert!(!bool_param(&no, "a").unwrap());
    }
}
