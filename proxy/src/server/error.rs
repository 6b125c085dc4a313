//! API errors in Docker's shape: `{"message": "…"}` with Docker's status codes. The CLI
//! depends on the codes (e.g. `docker inspect` tries the next object kind only on a 404).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error_kind::{ErrorKind, Kinded};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    pub fn not_modified() -> Self {
        Self::new(StatusCode::NOT_MODIFIED, "")
    }
    pub fn no_such_container(id: &str) -> Self {
        Self::not_found(format!("No such container: {id}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::NOT_MODIFIED {
            return self.status.into_response();
        }
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "{}", self.message);
        } else {
            tracing::debug!(status = %self.status, "{}", self.message);
        }
        let body = serde_json::json!({ "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

impl ApiError {
    /// The one mapping from a domain error's kind to Docker's status code.
    pub fn from_kind(kind: ErrorKind, message: String) -> Self {
        let status = match kind {
            ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::NotModified => return Self::not_modified(),
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, message)
    }
}

macro_rules! from_kinded {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                Self::from_kind(e.kind(), e.to_string())
            }
        }
    )*};
}

from_kinded!(
    translate::Error,
    crate::backend::BackendError,
    crate::images::ImagesError,
    crate::containers::ContainerError,
    crate::networks::NetworkError
);

impl From<spec::filters::FilterError> for ApiError {
    fn from(e: spec::filters::FilterError) -> Self {
        Self::bad_request(e.0)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
