//! `/networks`, `/volumes` and `/build/prune`: what exists, truthfully.
//!
//! dockbridge has no network drivers, named volumes or build cache yet. The networks it
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
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};
use super::params::{self, check_filter_keys, filters};
use super::AppState;

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

/// A built-in network: name and driver.
const BUILTIN: [(&str, &str); 2] = [("host", "host"), ("none", "null")];

/// A stable ID per daemon-independent name (dockerd's are random per host).
fn network_id(name: &str) -> String {
    hex::encode(Sha256::digest(format!("dockbridge network {name}")))
}

fn network_json(name: &str, driver: &str, containers: Option<Value>) -> Value {
    let mut v = json!({
        "Name": name,
        "Id": network_id(name),
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": {},
        "Options": {},
        "Labels": {},
    });
    if let Some(c) = containers {
        v["Containers"] = c;
    }
    v
}

/// Which built-in networks pass `f` (dockerd's network filters).
fn select(f: &params::Filters) -> ApiResult<Vec<(&'static str, &'static str)>> {
    check_filter_keys(
        f,
        &["dangling", "driver", "id", "label", "name", "scope", "type"],
    )?;
    let any = |k: &str, pred: &dyn Fn(&str) -> bool| f.any_or_absent(k, pred);
    for v in f.get("dangling") {
        if !matches!(v.as_str(), "true" | "false" | "1" | "0") {
            return Err(ApiError::bad_request(format!(
                "invalid filter 'dangling={v}'"
            )));
        }
    }
    for v in f.get("type") {
        if v != "builtin" && v != "custom" {
            return Err(ApiError::bad_request(format!(
                "invalid filter: 'type'='{v}'"
            )));
        }
    }
    Ok(BUILTIN
        .into_iter()
        .filter(|(name, driver)| {
            let id = network_id(name);
            any("name", &|v| name.contains(v))
                && any("id", &|v| id.starts_with(v))
                && any("driver", &|v| v == *driver)
                && any("scope", &|v| v == "local")
                && any("type", &|v| v == "builtin")
                // Built-in networks have no labels.
                && !f.contains("label")
                // dockerd never counts its pre-defined networks as dangling, and lists them
                // all for dangling=false, used or not.
                && any("dangling", &|v| matches!(v, "false" | "0"))
        })
        .collect())
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

fn find(key: &str) -> ApiResult<(&'static str, &'static str)> {
    BUILTIN
        .into_iter()
        .find(|(n, _)| *n == key || network_id(n) == key)
        .or_else(|| {
            let hits: Vec<_> = BUILTIN
                .into_iter()
                .filter(|(n, _)| !key.is_empty() && network_id(n).starts_with(key))
                .collect();
            (hits.len() == 1).then(|| hits[0])
        })
        .ok_or_else(|| ApiError::not_found(format!("network {key} not found")))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn f(raw: &str) -> params::Filters {
        params::Filters::from_json(raw).unwrap()
    }

    fn names(v: Vec<(&'static str, &'static str)>) -> Vec<&'static str> {
        v.into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn filters_pick_builtin_networks() {
        let pick = |raw: &str| names(select(&f(raw)).unwrap());
        assert_eq!(pick("{}"), ["host", "none"]);
        assert_eq!(pick(r#"{"driver":["null"]}"#), ["none"]);
        assert_eq!(pick(r#"{"name":["os"]}"#), ["host"]);
        let id = network_id("none");
        assert_eq!(pick(&format!(r#"{{"id":["{}"]}}"#, &id[..6])), ["none"]);
        assert!(pick(r#"{"type":["custom"]}"#).is_empty());
        assert!(pick(r#"{"label":["a"]}"#).is_empty());
        // Pre-defined networks are never dangling, and dangling=false lists them all.
        assert!(pick(r#"{"dangling":["true"]}"#).is_empty());
        assert_eq!(pick(r#"{"dangling":["false"]}"#), ["host", "none"]);
        assert!(select(&f(r#"{"bogus":["x"]}"#)).is_err());
        assert!(select(&f(r#"{"dangling":["maybe"]}"#)).is_err());
    }

    #[test]
    fn lookup_by_name_id_and_prefix() {
        assert_eq!(find("host").unwrap().1, "host");
        assert_eq!(find(&network_id("none")).unwrap().0, "none");
        assert_eq!(find(&network_id("none")[..8]).unwrap().0, "none");
        assert_eq!(find("bridge").unwrap_err().status, StatusCode::NOT_FOUND);
    }
}
