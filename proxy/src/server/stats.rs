//! `GET /containers/{id}/stats` (`docker stats`): a JSON object per second while the
//! client reads (`stream=1`, the default), or one object (`stream=0`, two readings a
//! second apart so `precpu_stats` is filled; `one-shot=1` skips the wait).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use spec::api::ApiVersion;

use super::error::{ApiError, ApiResult};
use super::params::{self, bool_param};
use super::AppState;
use crate::containers::stats::{stats_json, Sample};

/// dockerd's collector interval.
const INTERVAL: Duration = Duration::from_secs(1);

pub fn routes() -> Router<AppState> {
    Router::new().route("/containers/{id}/stats", get(stats))
}

fn line(v: &serde_json::Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

async fn stats(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
    Extension(version): Extension<ApiVersion>,
) -> ApiResult<Response> {
    let stream = match q.get("stream") {
        None => true,
        Some(_) => bool_param(&q, "stream")?,
    };
    let one_shot = version >= ApiVersion::new(1, 41) && bool_param(&q, "one-shot")?;
    if stream && one_shot {
        return Err(ApiError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let who = d.containers.stats_subject(&id)?;
    let json_response = |body: Body| {
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| ApiError::internal(e.to_string()))
    };
    if !stream {
        let first = d.containers.stats_sample(&id).await?;
        let (cur, prev) = match first {
            Some(s) if !one_shot => {
                tokio::time::sleep(INTERVAL).await;
                (d.containers.stats_sample(&id).await?, Some(s))
            }
            other => (other, None),
        };
        return json_response(Body::from(line(&stats_json(
            &who,
            cur.as_ref(),
            prev.as_ref(),
        ))));
    }
    // Frames until the client goes away (hyper drops the stream) or the container does.
    let frames = futures::stream::unfold(
        (d.clone(), id, None::<Sample>, true),
        move |(d, id, prev, first)| {
            let who = who.clone();
            async move {
                if !first {
                    tokio::time::sleep(INTERVAL).await;
                }
                let cur = match d.containers.stats_sample(&id).await {
                    Ok(s) => s,
                    Err(crate::containers::ContainerError::NotFound(_)) => return None,
                    Err(e) => {
                        tracing::warn!(container = %id, "stats: {e}");
                        None
                    }
                };
                let frame = line(&stats_json(&who, cur.as_ref(), prev.as_ref()));
                Some((Ok::<_, std::io::Error>(frame), (d, id, cur, false)))
            }
        },
    );
    json_response(Body::from_stream(frames)).map(IntoResponse::into_response)
}
