//! Registry errors, worded as dockerd's Go client words them (the CLI prints them as they
//! come, and scripts match on them): `manifest unknown: manifest unknown`,
//! `Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused`.

use serde::Deserialize;

use super::auth::AuthError;
use super::manifest::ManifestError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with distribution error codes (the first one is shown).
    #[error("{}", .errors.first().map(ApiErrorEntry::to_string).unwrap_or_else(|| format!("unexpected HTTP status {}", .status)))]
    Api {
        status: u16,
        errors: Vec<ApiErrorEntry>,
    },
    /// An HTTP status without a distribution error body.
    #[error("{method} \"{url}\": unexpected HTTP status: {status}")]
    Status {
        method: &'static str,
        url: String,
        status: String,
    },
    /// The request never got an answer: connection refused, DNS, TLS, timeout, reset.
    #[error("{method} \"{url}\": {detail}")]
    Transport {
        method: &'static str,
        url: String,
        detail: String,
    },
    /// A registry that wants basic auth, asked without credentials (Go's wording).
    #[error("{method} \"{url}\": no basic auth credentials")]
    NoCredentials { method: &'static str, url: String },
    /// `docker login` refused (dockerd's wording).
    #[error("login attempt to {url} failed with status: {status}")]
    LoginFailed {
        url: String,
        status: String,
        code: u16,
    },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("{0} is too large")]
    TooLarge(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Other(String),
}

impl RegistryError {
    /// The distribution error code, if the registry sent one (`MANIFEST_UNKNOWN`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { errors, .. } => errors.first().map(|e| e.code.as_str()),
            _ => None,
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            Self::NoCredentials { .. } | Self::LoginFailed { code: 401, .. }
        ) || self.code() == Some("UNAUTHORIZED")
            || self.http_status() == Some(401)
    }

    /// Transport failures are worth another try (a dropped connection mid-blob); answers
    /// from the registry are not, except 5xx and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Api { status, .. } => *status >= 500 || *status == 429,
            Self::Status { status, .. } => status.starts_with('5') || status.starts_with("429"),
            _ => false,
        }
    }
}

/// One entry of `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl std::fmt::Display for ApiErrorEntry {
    /// `errcode.Error.Error()`: the code lower-cased with spaces, then the message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = if self.code.is_empty() {
            "unknown".to_string()
        } else {
            self.code.to_ascii_lowercase().replace('_', " ")
        };
        if self.message.is_empty() {
            write!(f, "{code}")
        } else {
            write!(f, "{code}: {}", self.message)
        }
    }
}

#[derive(Deserialize)]
struct ApiErrors {
    #[serde(default)]
    errors: Vec<ApiErrorEntry>,
}

/// The error of a non-success answer: distribution's error body when there is one; a 401
/// without one still reads as `unauthorized`, as the Go client words it.
pub fn from_response(
    method: &'static str,
    url: &str,
    status: u16,
    reason: &str,
    body: &[u8],
) -> RegistryError {
    let errors = serde_json::from_slice::<ApiErrors>(body)
        .map(|e| e.errors)
        .unwrap_or_default();
    if !errors.is_empty() {
        return RegistryError::Api { status, errors };
    }
    if status == 401 {
        return RegistryError::Api {
            status,
            errors: vec![ApiErrorEntry {
                code: "UNAUTHORIZED".into(),
                message: "authentication required".into(),
            }],
        };
    }
    RegistryError::Status {
        method,
        url: url.to_string(),
        status: format!("{status} {reason}").trim_end().to_string(),
    }
}

/// Go's `net` error wording for what failed underneath a request: `dial tcp ADDR:
/// connect: connection refused`, `dial tcp: lookup HOST: no such host`, …
pub fn transport_detail(
    host_port: &str,
    io_kind: Option<std::io::ErrorKind>,
    chain: &str,
    is_connect: bool,
    is_timeout: bool,
) -> String {
    use std::io::ErrorKind as K;
    if is_timeout {
        return if is_connect {
            format!("dial tcp {host_port}: i/o timeout")
        } else {
            "net/http: request canceled (Client.Timeout exceeded while awaiting headers)".into()
        };
    }
    match io_kind {
        Some(K::ConnectionRefused) => format!("dial tcp {host_port}: connect: connection refused"),
        Some(K::ConnectionReset) => "read: connection reset by peer".into(),
        Some(K::UnexpectedEof) | Some(K::BrokenPipe) => "unexpected EOF".into(),
        _ if chain.contains("dns error") || chain.contains("failed to lookup") => {
            let host = super::endpoint::host_name(host_port);
            format!("dial tcp: lookup {host}: no such host")
        }
        _ if is_connect => format!("dial tcp {host_port}: {chain}"),
        _ => chain.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_as_go_prints_them() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#;
        let e = from_response("Get", "u", 404, "Not Found", body);
        assert_eq!(e.to_string(), "manifest unknown: manifest unknown");
        assert_eq!(e.code(), Some("MANIFEST_UNKNOWN"));
        let e = from_response("Get", "u", 401, "Unauthorized", b"");
        assert_eq!(e.to_string(), "unauthorized: authentication required");
        assert!(e.is_unauthorized());
        let e = from_response(
            "Put",
            "http://r/v2/x",
            500,
            "Internal Server Error",
            b"oops",
        );
        assert_eq!(
            e.to_string(),
            "Put \"http://r/v2/x\": unexpected HTTP status: 500 Internal Server Error"
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn transport_wording() {
        assert_eq!(
            transport_detail(
                "127.0.0.1:1",
                Some(std::io::ErrorKind::ConnectionRefused),
                "",
                true,
                false
            ),
            "dial tcp 127.0.0.1:1: connect: connection refused"
        );
        assert_eq!(
            transport_detail(
                "nohost.invalid:443",
                None,
                "dns error: failed to lookup address information",
                true,
                false
            ),
            "dial tcp: lookup nohost.invalid: no such host"
        );
        let e = RegistryError::Transport {
            method: "Get",
            url: "http://127.0.0.1:1/v2/".into(),
            detail: "dial tcp 127.0.0.1:1: connect: connection refused".into(),
        };
        assert_eq!(
            e.to_string(),
            "Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused"
        );
    }
}
