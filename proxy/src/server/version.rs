//! API version handling: every route is served both unversioned and under `/v1.NN/`.
//!
//! This runs as a layer around the whole router (a `Router::layer` would run after routing,
//! too late to rewrite the path). The negotiated version travels as a request extension.

use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use spec::api::{ApiVersion, API_VERSION, MIN_API_VERSION};

use super::error::ApiError;

/// Splits `/v1.44/containers/json` into the version and the rest of the path.
pub fn split_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (ver, tail) = rest.split_at(end);
    if ver.is_empty() || !ver.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some((ver, if tail.is_empty() { "/" } else { tail }))
}

pub async fn layer(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let version = match split_version(&path) {
        None => API_VERSION,
        Some((ver, tail)) => {
            let Some(v) = ApiVersion::parse(ver) else {
                return ApiError::bad_request(format!("invalid API version: {ver}"))
                    .into_response();
            };
            if v > API_VERSION {
                return ApiError::bad_request(format!(
                    "client version {v} is too new. Maximum supported API version is {API_VERSION}"
                ))
                .into_response();
            }
            if v < MIN_API_VERSION {
                return ApiError::bad_request(format!(
                    "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
                ))
                .into_response();
            }
            let new_uri = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail.to_string(),
            };
            match new_uri.parse::<Uri>() {
                Ok(uri) => *req.uri_mut() = uri,
                Err(_) => return ApiError::bad_request("invalid request URI").into_response(),
            }
            v
        }
    };
    req.extensions_mut().insert(version);
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    headers.insert("api-version", hv(&API_VERSION.to_string()));
    headers.insert("docker-experimental", hv("false"));
    headers.insert("ostype", hv(std::env::consts::OS));
    headers.insert(
        "server",
        hv(&format!(
            "Docker/{} ({})",
            crate::ENGINE_VERSION,
            std::env::consts::OS
        )),
    );
    resp
}

fn hv(s: &str) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(s)
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_versions() {
        assert_eq!(
            split_version("/v1.44/containers/json"),
            Some(("1.44", "/containers/json"))
        );
        assert_eq!(split_version("/v1.41/_ping"), Some(("1.41", "/_ping")));
        assert_eq!(split_version("/v1.41"), Some(("1.41", "/")));
        assert_eq!(split_version("/version"), None);
        assert_eq!(split_version("/volumes"), None);
        assert_eq!(split_version("/containers/json"), None);
    }
}
