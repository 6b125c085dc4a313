//! `docker cp`, `docker export` and `docker diff`: `/containers/{id}/archive` (GET, HEAD,
//! PUT), `/containers/{id}/export` and `/containers/{id}/changes`. The work happens in
//! [`crate::containers::archive`]; this is the HTTP shape.

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::TryStreamExt;

use super::error::{ApiError, ApiResult};
use super::params::{self, bool_param};
use super::AppState;
use crate::containers::archive::PutOptions;

/// `X-Docker-Container-Path-Stat` (header names are case-insensitive; http wants lowercase).
const STAT_HEADER_LC: &str = "x-docker-container-path-stat";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/containers/{id}/archive",
            get(get_archive).head(head_archive).put(put_archive),
        )
        .route("/containers/{id}/export", get(export))
        .route("/containers/{id}/changes", get(changes))
}

/// dockerd answers a missing `path` with this 400.
fn path_param(q: &params::Query) -> ApiResult<String> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.clone()),
        _ => Err(ApiError::bad_request("bad parameter: path cannot be empty")),
    }
}

fn stat_header(st: &crate::archive::stat::PathStat) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(&st.header_value())
        .map_err(|e| ApiError::internal(format!("encoding the path stat: {e}")))
}

async fn head_archive(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let st = d.containers.archive_stat(&id, &path).await?;
    Ok((
        StatusCode::OK,
        [(
            header::HeaderName::from_static(STAT_HEADER_LC),
            stat_header(&st)?,
        )],
        Body::empty(),
    )
        .into_response())
}

async fn get_archive(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let (st, tar) = d.containers.archive_get(&id, &path).await?;
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-tar"),
            ),
            (
                header::HeaderName::from_static(STAT_HEADER_LC),
                stat_header(&st)?,
            ),
        ],
        Body::from_stream(tar),
    )
        .into_response())
}

async fn put_archive(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
    req: Request,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let opts = PutOptions {
        no_overwrite_dir_non_dir: bool_param(&q, "noOverwriteDirNonDir")?,
        copy_uid_gid: bool_param(&q, "copyUIDGID")?,
    };
    // Streamed into the helper as it arrives: uploads can be larger than memory.
    let body = req
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    d.containers.archive_put(&id, &path, opts, body).await?;
    Ok(StatusCode::OK.into_response())
}

async fn export(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let tar = d.containers.export(&id).await?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        Body::from_stream(tar),
    )
        .into_response())
}

async fn changes(
    State(d): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<crate::archive::Change>>> {
    Ok(Json(d.containers.changes(&id).await?))
}
