//! `/volumes`: the `local` driver's named and anonymous volumes (`crate::volumes`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use spec::api::models::EventMessageTypeEnum;
use spec::api::ApiVersion;

use super::error::{ApiError, ApiResult};
use super::params::{self, bool_param};
use super::AppState;
use crate::volumes::VolumeError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

impl From<VolumeError> for ApiError {
    fn from(e: VolumeError) -> Self {
        use crate::error_kind::Kinded;
        Self::from_kind(e.kind(), e.to_string())
    }
}

fn event(d: &AppState, action: &str, name: &str) {
    d.events.emit(
        EventMessageTypeEnum::VOLUME,
        action,
        name,
        HashMap::from([("driver".to_string(), "local".to_string())]),
    );
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    driver: Option<String>,
    #[serde(default)]
    driver_opts: Option<HashMap<String, String>>,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
}

async fn create(State(d): State<AppState>, body: Bytes) -> ApiResult<(StatusCode, Json<Value>)> {
    let b: CreateBody = params::json_body(&body)?;
    if let Some(drv) = b
        .driver
        .as_deref()
        .filter(|x| !x.is_empty() && *x != "local")
    {
        return Err(ApiError::not_found(format!(
            "error looking up volume plugin {drv}: plugin \"{drv}\" not found"
        )));
    }
    let (rec, created) = d.volumes.create(
        b.name.as_deref(),
        b.driver_opts.unwrap_or_default(),
        b.labels.unwrap_or_default(),
        false,
    )?;
    if created {
        event(&d, "create", &rec.name);
    }
    Ok((StatusCode::CREATED, Json(d.volumes.to_json(&rec, None))))
}

async fn list(State(d): State<AppState>, Query(q): Query<params::Query>) -> ApiResult<Json<Value>> {
    let f = params::filters(&q)?;
    let mut out = Vec::new();
    for rec in d.volumes.list() {
        let in_use = !d.containers.volume_users(&rec.name).is_empty();
        if crate::volumes::matches(&f, &rec, in_use)? {
            out.push(d.volumes.to_json(&rec, None));
        }
    }
    Ok(Json(json!({ "Volumes": out, "Warnings": null })))
}

async fn inspect(State(d): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let rec = d.volumes.get(&name)?;
    Ok(Json(d.volumes.to_json(&rec, None)))
}

async fn remove(
    State(d): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<StatusCode> {
    let force = bool_param(&q, "force")?;
    let users = d.containers.volume_users(&name);
    match d.volumes.get(&name) {
        // dockerd: `-f` on a volume that does not exist is not an error.
        Err(VolumeError::NotFound(_)) if force => return Ok(StatusCode::NO_CONTENT),
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "remove {name}: volume is in use - [{}]",
            users.join(", ")
        )));
    }
    d.volumes.remove(&name)?;
    event(&d, "destroy", &name);
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(
    State(d): State<AppState>,
    Query(q): Query<params::Query>,
    Extension(version): Extension<ApiVersion>,
) -> ApiResult<Json<Value>> {
    let f = params::filters(&q)?;
    let api_1_42 = version >= ApiVersion::new(1, 42);
    let mut deleted = Vec::new();
    let mut reclaimed: u64 = 0;
    for rec in d.volumes.list() {
        if !crate::volumes::prunable(&f, &rec, api_1_42)? {
            continue;
        }
        if !d.containers.volume_users(&rec.name).is_empty() {
            continue;
        }
        let size = u64::try_from(d.volumes.size(&rec.name)).unwrap_or(0);
        if d.volumes.remove(&rec.name).is_ok() {
            event(&d, "destroy", &rec.name);
            reclaimed += size;
            deleted.push(rec.name);
        }
    }
    d.events.emit(
        EventMessageTypeEnum::VOLUME,
        "prune",
        "",
        HashMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
    );
    Ok(Json(
        json!({ "VolumesDeleted": deleted, "SpaceReclaimed": reclaimed }),
    ))
}
