//! `/networks` and `/build/prune`: what exists, truthfully.
//!
//! dockbridge has no network drivers or build cache yet. The networks it
//! really has are dockerd's two built-in ones without a driver behind them, `host` and
//! `none` (`--network host|none`); the default isolated namespace of a container is not a
//! network one could attach to, so it is not listed. Listing, inspecting and pruning work
//! as they do on dockerd (so `docker network ls` and `docker system prune` work);
//! creating anything is refused with a 400 naming what is missing.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::params::{self, check_filter_keys, filters};
use super::AppState;
use crate::networks::{find, network_json, select};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create_network))
        .route("/networks/prune", post(prune_networks))
        .route("/networks/{id}", get(inspect).delete(remove_network))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(connect))
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

async fn list(Query(q): Query<params::Query>) -> ApiResult<Json<Vec<Value>>> {
    let picked = select(&filters(&q)?)?;
    Ok(Json(
        picked
            .into_iter()
            .map(|(n, drv)| network_json(n, drv, None))
            .collect(),
    ))
}

async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let (name, driver) = find(&id)?;
    let containers = serde_json::to_value(attached(&d, name)).unwrap_or_default();
    Ok(Json(network_json(name, driver, Some(containers))))
}

async fn create_network() -> ApiResult<()> {
    Err(ApiError::bad_request(
        "creating networks is not supported by dockbridge yet (no network drivers; \
         containers use --network host, none, or an isolated namespace)",
    ))
}

async fn remove_network(Path(id): Path<String>) -> ApiResult<()> {
    let (name, _) = find(&id)?;
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!("{name} is a pre-defined network and cannot be removed"),
    ))
}

async fn connect(Path(id): Path<String>) -> ApiResult<()> {
    let (name, _) = find(&id)?;
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

async fn prune_build() -> Json<Value> {
    // dockbridge does not build, so there is never a build cache to free.
    Json(json!({ "CachesDeleted": null, "SpaceReclaimed": 0 }))
}
