//! `/networks`, `/volumes` and `/build/prune`: what exists, truthfully.
//!
//! The networks dockbridge has are dockerd's pre-defined ones: `bridge` (the default
//! bridge, unless the daemon runs with `--bridge none`), `host` and `none`. Listing,
//! inspecting and pruning work as they do on dockerd (so `docker network ls` and `docker
//! system prune` work); creating user-defined networks and named volumes is refused with a
//! 400 naming what is missing.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::params::{self, check_filter_keys, filters};
use super::AppState;
use crate::networks::{bridge_json, find_in, network_json, predefined, select_in};

/// This daemon's pre-defined networks.
fn nets(d: &AppState) -> Vec<(&'static str, &'static str)> {
    predefined(d.networks.net().is_some())
}

/// A pre-defined network's JSON; `containers` for inspect (list leaves them empty).
fn json_of(d: &AppState, name: &str, driver: &str, containers: Option<Value>) -> Value {
    match (name, d.networks.net(), d.networks.bridge_name()) {
        ("bridge", Some(net), Some(br)) => bridge_json(
            br,
            &net.subnet,
            net.gateway_configured.then_some(net.gateway),
            containers,
        ),
        _ => network_json(name, driver, containers),
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create_network))
        .route("/networks/prune", post(prune_networks))
        .route("/networks/{id}", get(inspect).delete(remove_network))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(connect))
        .route("/volumes", get(list_volumes))
        .route("/volumes/create", post(create_volume))
        .route("/volumes/prune", post(prune_volumes))
        .route("/volumes/{name}", get(no_volume).delete(no_volume))
        .route("/build/prune", post(prune_build))
}

/// Containers whose network mode is `name`, as inspect lists them (no addresses: neither
/// `host` nor `none` gives a container an endpoint of its own).
fn attached(d: &AppState, name: &str) -> BTreeMap<String, Value> {
    d.containers
        .all()
        .into_iter()
        .filter_map(|c| {
            let r = c.record();
            (r.state.status.is_live() && r.host_config.network_mode.as_deref() == Some(name)).then(
                || {
                    (
                        c.id.clone(),
                        json!({
                            "Name": r.name.trim_start_matches('/'),
                            "EndpointID": "",
                            "MacAddress": "",
                            "IPv4Address": "",
                            "IPv6Address": "",
                        }),
                    )
                },
            )
        })
        .collect()
}

async fn list(
    State(d): State<AppState>,
    Query(q): Query<params::Query>,
) -> ApiResult<Json<Vec<Value>>> {
    let picked = select_in(&filters(&q)?, &nets(&d))?;
    Ok(Json(
        picked
            .into_iter()
            .map(|(n, drv)| json_of(&d, n, drv, None))
            .collect(),
    ))
}

async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let (name, driver) = find_in(&id, &nets(&d))?;
    let containers = if name == "bridge" {
        let names = d
            .containers
            .all()
            .into_iter()
            .map(|c| (c.id.clone(), c.name().trim_start_matches('/').to_string()))
            .collect();
        d.networks.containers_json(&names)
    } else {
        serde_json::to_value(attached(&d, name)).unwrap_or_default()
    };
    Ok(Json(json_of(&d, name, driver, Some(containers))))
}

async fn create_network() -> ApiResult<()> {
    Err(ApiError::bad_request(
        "creating networks is not supported by dockbridge yet (user-defined networks; \
         containers use the default bridge, --network host or none)",
    ))
}

async fn remove_network(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<()> {
    let (name, _) = find_in(&id, &nets(&d))?;
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!("{name} is a pre-defined network and cannot be removed"),
    ))
}

async fn connect(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<()> {
    let (name, _) = find_in(&id, &nets(&d))?;
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!("container cannot be disconnected from or connected to the {name} network: the network mode is fixed at create"),
    ))
}

async fn prune_networks(Query(q): Query<params::Query>) -> ApiResult<Json<Value>> {
    check_filter_keys(&filters(&q)?, &["label", "label!", "until"])?;
    // Only built-in networks exist, and dockerd never prunes those.
    Ok(Json(json!({ "NetworksDeleted": null })))
}

async fn list_volumes(Query(q): Query<params::Query>) -> ApiResult<Json<Value>> {
    check_filter_keys(&filters(&q)?, &["dangling", "driver", "label", "name"])?;
    Ok(Json(json!({ "Volumes": [], "Warnings": null })))
}

async fn create_volume() -> ApiResult<()> {
    Err(ApiError::bad_request(
        "named volumes are not supported by dockbridge yet (bind mounts and tmpfs are)",
    ))
}

async fn no_volume(Path(name): Path<String>) -> ApiResult<()> {
    Err(ApiError::not_found(format!("get {name}: no such volume")))
}

async fn prune_volumes(Query(q): Query<params::Query>) -> ApiResult<Json<Value>> {
    check_filter_keys(&filters(&q)?, &["label", "label!", "all"])?;
    Ok(Json(json!({ "VolumesDeleted": null, "SpaceReclaimed": 0 })))
}

async fn prune_build() -> Json<Value> {
    // dockbridge does not build, so there is never a build cache to free.
    Json(json!({ "CachesDeleted": null, "SpaceReclaimed": 0 }))
}
