//! API errors in Docker's shape: `{"message": "…"}` with Docker's status codes. The CLI
//! depends on the codes (e.g. `docker inspect` tries the next object kind only on a 404).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

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

impl From<translate::Error> for ApiError {
    fn from(e: translate::Error) -> Self {
        match e {
            translate::Error::Unsupported(_) | translate::Error::InvalidParameter(_) => {
                Self::bad_request(e.to_string())
            }
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<crate::backend::BackendError> for ApiError {
    fn from(e: crate::backend::BackendError) -> Self {
        use crate::backend::BackendError as B;
        match &e {
            B::NotFound(_) => Self::not_found(e.to_string()),
            B::Conflict(_) => Self::conflict(e.to_string()),
            B::InvalidArgument(_) => Self::bad_request(e.to_string()),
            _ => Self::internal(e.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<crate::images::ImagesError> for ApiError {
    fn from(e: crate::images::ImagesError) -> Self {
        let status =
            StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, e.to_string())
    }
}
