//! `POST /commit` (`docker commit`): an image from a container's changes.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use spec::api::models::EventMessageTypeEnum;

use super::error::{ApiError, ApiResult};
use super::params::{self, bool_param};
use super::AppState;
use crate::containers::commit::CommitOptions;

pub fn routes() -> Router<AppState> {
    Router::new().route("/commit", post(commit))
}

async fn commit(
    State(d): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let q: params::Query = pairs.iter().cloned().collect();
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let container = get("container");
    if container.is_empty() {
        return Err(ApiError::bad_request("No such container: "));
    }
    let pause = match q.get("pause") {
        // dockerd pauses unless told not to.
        None => true,
        Some(_) => bool_param(&q, "pause")?,
    };
    let opts = CommitOptions {
        repo: get("repo"),
        tag: get("tag"),
        comment: get("comment"),
        author: get("author"),
        pause,
        config: params::json_body(&body)?,
        changes: params::all_of(&pairs, "changes"),
    };
    let done = d.containers.commit(&container, opts).await?;
    if let Some(name) = &done.name {
        let attrs = HashMap::from([("name".to_string(), name.clone())]);
        d.events
            .emit(EventMessageTypeEnum::IMAGE, "tag", &done.id, attrs);
    }
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": done.id })),
    ))
}
