//! `/networks`: what exists, truthfully.
//!
//! The networks dockbridge has are dockerd's pre-defined ones (`bridge`, unless the daemon
//! runs with `--bridge none`, `host` and `none`) and user-defined bridge networks (create,
//! list, inspect, remove, prune as dockerd), and `connect`/`disconnect` of containers to
//! and from user networks and the default bridge (`containers/connect.rs`).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::params::{self, check_filter_keys, filters};
use super::AppState;
use crate::networks::{bridge_json, find_in, network_json, predefined, select_in, user};
use spec::api::models::EventMessageTypeEnum;

/// This daemon's pre-defined networks.
fn nets(d: &AppState) -> Vec<(&'static str, &'static str)> {
    let mut v = predefined(d.networks.net().is_some());
    // dockerd on Windows: `nat` (HNS) is pre-defined.
    if d.hns.is_some() {
        v.insert(0, (crate::networks::windows::NAT, "nat"));
    }
    v
}

/// A pre-defined network's JSON; `containers` for inspect (list leaves them empty).
fn json_of(d: &AppState, name: &str, driver: &str, containers: Option<Value>) -> Value {
    match (name, d.networks.net(), d.networks.bridge_name()) {
        (crate::networks::windows::NAT, _, _) => {
            let mut v = network_json(name, driver, containers);
            if let Some((subnet, gw)) = d.hns.as_ref().and_then(|h| h.nat_subnet()) {
                v["IPAM"]["Config"] = match gw {
                    Some(g) => json!([{"Subnet": subnet, "Gateway": g}]),
                    None => json!([{"Subnet": subnet}]),
                };
            }
            v
        }
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
        .route("/networks/{id}/disconnect", post(disconnect))
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

/// `Containers` of `docker network inspect nat`: the running Windows containers' endpoints.
fn nat_containers(d: &AppState) -> Value {
    let names = container_names(d);
    let m: BTreeMap<String, Value> = d
        .hns
        .iter()
        .flat_map(|h| h.attached())
        .map(|(id, a)| {
            let name = names.get(&id).cloned().unwrap_or_default();
            (
                id,
                json!({
                    "Name": name,
                    "EndpointID": a.endpoint_id(),
                    "MacAddress": a.mac,
                    "IPv4Address": format!("{}/{}", a.ip, a.prefix),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    serde_json::to_value(m).unwrap_or_default()
}

async fn list(
    State(d): State<AppState>,
    Query(q): Query<params::Query>,
) -> ApiResult<Json<Vec<Value>>> {
    let f = filters(&q)?;
    let picked = select_in(&f, &nets(&d))?;
    let mut out: Vec<Value> = picked
        .into_iter()
        .map(|(n, drv)| json_of(&d, n, drv, None))
        .collect();
    for n in d.networks.user_networks() {
        if user::matches(&f, &n, d.networks.in_use(&n.id)) {
            out.push(user::to_json(&n, json!({})));
        }
    }
    Ok(Json(out))
}

fn container_names(d: &AppState) -> HashMap<String, String> {
    d.containers
        .all()
        .into_iter()
        .map(|c| (c.id.clone(), c.name().trim_start_matches('/').to_string()))
        .collect()
}

async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let (name, driver) = match find_in(&id, &nets(&d)) {
        Ok(found) => found,
        Err(e) => {
            let n = d.networks.find_user(&id).ok_or(e)?;
            let containers = d.networks.containers_json(&n.id, &container_names(&d));
            return Ok(Json(user::to_json(&n, containers)));
        }
    };
    let containers = if name == "bridge" {
        d.networks.containers_json("", &container_names(&d))
    } else if name == crate::networks::windows::NAT {
        nat_containers(&d)
    } else {
        serde_json::to_value(attached(&d, name)).unwrap_or_default()
    };
    Ok(Json(json_of(&d, name, driver, Some(containers))))
}

fn network_event(d: &AppState, action: &str, n: &user::UserNetwork) {
    d.events.emit(
        EventMessageTypeEnum::NETWORK,
        action,
        &n.id,
        HashMap::from([
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), "bridge".to_string()),
        ]),
    );
}

async fn create_network(
    State(d): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: user::CreateRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let n = d.networks.create_network(&req).await?;
    network_event(&d, "create", &n);
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": n.id, "Warning": ""})),
    ))
}

async fn remove_network(
    State(d): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if find_in(&id, &nets(&d)).is_err() {
        let n = d.networks.remove_network(&id).await?;
        network_event(&d, "destroy", &n);
        return Ok(StatusCode::NO_CONTENT);
    }
    let (name, _) = find_in(&id, &nets(&d))?;
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!("{name} is a pre-defined network and cannot be removed"),
    ))
}

/// `POST /networks/{id}/connect` and `/disconnect` bodies.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<spec::api::models::EndpointSettings>,
    force: bool,
}

fn connect_body(body: &[u8]) -> ApiResult<ConnectBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ConnectBody::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The network `id` names (a user network or the default bridge), or dockerd's answer for
/// the other pre-defined ones.
fn network_ref(d: &AppState, id: &str) -> ApiResult<crate::containers::connect::NetworkRef> {
    if let Some(n) = d.networks.find_user(id) {
        return Ok(crate::containers::connect::NetworkRef {
            name: n.name,
            id: n.id,
        });
    }
    let (name, _) = find_in(id, &nets(d))?;
    Err(match name {
        "bridge" => {
            return Ok(crate::containers::connect::NetworkRef {
                name: name.to_string(),
                id: crate::networks::network_id(name),
            })
        }
        "host" => ApiError::new(
            StatusCode::FORBIDDEN,
            "container cannot be disconnected from host network or connected to host network",
        ),
        _ => ApiError::new(
            StatusCode::FORBIDDEN,
            "container cannot be connected to multiple networks with one of the networks in private (none) mode",
        ),
    })
}

async fn connect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<()> {
    let b = connect_body(&body)?;
    let net = network_ref(&d, &id)?;
    d.containers
        .connect_network(&b.container, &net, b.endpoint_config.unwrap_or_default())
        .await?;
    Ok(())
}

async fn disconnect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<()> {
    let b = connect_body(&body)?;
    let net = network_ref(&d, &id)?;
    d.containers
        .disconnect_network(&b.container, &net, b.force)
        .await?;
    Ok(())
}

async fn prune_networks(
    State(d): State<AppState>,
    Query(q): Query<params::Query>,
) -> ApiResult<Json<Value>> {
    let f = filters(&q)?;
    check_filter_keys(&f, &["label", "label!", "until"])?;
    let until = match f.first("until") {
        Some(u) => spec::timestamp::parse(&u, chrono::Utc::now())
            .ok()
            .and_then(spec::timestamp::to_datetime)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("invalid filter 'until={u}'")))?,
        None => None,
    };
    // dockerd never prunes its pre-defined networks, nor one a container is on.
    let mut deleted = Vec::new();
    for n in d.networks.user_networks() {
        if d.networks.in_use(&n.id) || !user::prune_matches(&f, &n, until) {
            continue;
        }
        if let Ok(n) = d.networks.remove_network(&n.id).await {
            network_event(&d, "destroy", &n);
            deleted.push(n.name);
        }
    }
    let deleted = if deleted.is_empty() {
        Value::Null
    } else {
        json!(deleted)
    };
    Ok(Json(json!({ "NetworksDeleted": deleted })))
}
