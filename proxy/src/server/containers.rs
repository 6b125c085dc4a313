//! `/containers/…` routes.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use futures::StreamExt;
use spec::api::models::{ContainerCreateBody, ContainerCreateResponse};
use spec::api::ApiVersion;

use super::error::{ApiError, ApiResult};
use super::params::{self, bool_param, int_param};
use super::{attach, stdcopy, upgrade, AppState};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use crate::containers::logs::{self, LogEvent, ReadOptions};
use crate::containers::stream::{Output, StdinMsg};
use crate::containers::Container;
use crate::containers::WaitCondition;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/attach", post(attach_handler))
        .route("/containers/{id}/attach/ws", get(super::attach_ws::handler))
        .route("/containers/{id}", delete(remove))
}

/// dockerd refuses a body it is told is not JSON.
fn check_json_content_type(headers: &axum::http::HeaderMap) -> ApiResult<()> {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    let mime = ct.split(';').next().unwrap_or_default().trim();
    if mime.is_empty() || mime.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "unsupported Content-Type header ({ct}): must be 'application/json'"
    )))
}

/// An unknown policy name would otherwise surface as a JSON decoding error; dockerd says
/// what is wrong with it.
fn check_restart_policy_name(body: &Bytes) -> ApiResult<()> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(());
    };
    let name = v
        .pointer("/HostConfig/RestartPolicy/Name")
        .or_else(|| v.pointer("/RestartPolicy/Name"))
        .and_then(|n| n.as_str());
    match name {
        None | Some("" | "no" | "always" | "unless-stopped" | "on-failure") => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        ))),
    }
}

/// `Config.MacAddress` (before API 1.44, and what docker-py sends): the models dropped it.
fn legacy_mac_address(body: &Bytes) -> Option<String> {
    let v = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    v.get("MacAddress")?
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_string)
}

/// As dockerd 25+ migrates it: the legacy MAC address belongs to the endpoint of the
/// network the mode names, unless that endpoint has its own.
fn fold_mac_address(body: &mut ContainerCreateBody, mac: String) {
    let mode = body
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "default".into());
    let eps = body
        .networking_config
        .get_or_insert_with(Default::default)
        .endpoints_config
        .get_or_insert_with(Default::default);
    let ep = eps.entry(mode).or_default();
    if ep.mac_address.as_deref().unwrap_or("").is_empty() {
        ep.mac_address = Some(mac);
    }
}

async fn create(
    State(d): State<AppState>,
    Query(q): Query<params::Query>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    check_json_content_type(&headers)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "config cannot be empty in order to create a container",
        ));
    }
    check_restart_policy_name(&body)?;
    let legacy_mac = legacy_mac_address(&body);
    let mut body: ContainerCreateBody = params::json_body(&body)?;
    if let Some(mac) = legacy_mac {
        fold_mac_address(&mut body, mac);
    }
    if let Some(p) = q.get("platform").filter(|p| !p.is_empty()) {
        let os = p.split('/').next().unwrap_or_default();
        if os != "linux" && !(os == "windows" && d.containers.backend_names().contains(&"hcs")) {
            return Err(ApiError::bad_request(format!(
                "platform {p:?} is not supported by this daemon"
            )));
        }
    }
    let (id, warnings) = d
        .containers
        .create(q.get("name").map(String::as_str), body)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ContainerCreateResponse { id, warnings }),
    ))
}

async fn list(
    State(d): State<AppState>,
    Query(q): Query<params::Query>,
) -> ApiResult<impl IntoResponse> {
    let all = bool_param(&q, "all")?;
    let with_size = bool_param(&q, "size")?;
    let limit = int_param(&q, "limit")?
        .filter(|&n| n > 0)
        .and_then(|n| usize::try_from(n).ok());
    let recs = d.containers.list(all, params::filters(&q)?, limit).await?;
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for r in recs {
        let mut summary = crate::containers::inspect::summary(&r, r.image_ref.clone(), now);
        d.networks.patch_summary(&r, &mut summary);
        if let Some(h) = &d.hns {
            h.patch_summary(&r, &mut summary);
        }
        if with_size {
            if let Some((rw, root)) = d.containers.sizes(&r).await {
                summary.size_rw = Some(rw);
                summary.size_root_fs = Some(root);
            }
        }
        out.push(summary);
    }
    Ok(Json(out))
}

/// The detach sequence a client asked for, or Docker's default.
pub(super) fn detach_keys(spec: Option<&String>) -> ApiResult<Vec<u8>> {
    match spec.filter(|s| !s.is_empty()) {
        Some(s) => attach::parse_detach_keys(s).map_err(ApiError::bad_request),
        None => Ok(attach::DEFAULT_DETACH_KEYS.to_vec()),
    }
}

/// `files_of`: whose `hostname`, `hosts` and `resolv.conf` the container uses (another
/// container's with `--network container:`).
fn paths(d: &AppState, id: &str, files_of: &str) -> crate::containers::inspect::Paths {
    let root = d.data_root.join("containers");
    let dir = root.join(id);
    let files = root.join(files_of);
    crate::containers::inspect::Paths {
        log: dir.join(format!("{id}-json.log")).display().to_string(),
        hostname: files.join("hostname").display().to_string(),
        hosts: files.join("hosts").display().to_string(),
        resolv_conf: files.join("resolv.conf").display().to_string(),
    }
}

async fn inspect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<impl IntoResponse> {
    let c = d.containers.get(&id)?;
    let rec = c.record();
    let mut out = crate::containers::inspect::inspect(
        &rec,
        &paths(&d, &rec.id, rec.network_donor.as_deref().unwrap_or(&rec.id)),
    );
    out.exec_ids = Some(d.containers.execs.of_container(&rec.id)).filter(|v| !v.is_empty());
    out.app_armor_profile = Some(crate::containers::inspect::apparmor_profile(
        &rec,
        &d.host.lsm,
    ));
    if bool_param(&q, "size")? {
        if let Some((rw, root)) = d.containers.sizes(&rec).await {
            out.size_rw = Some(rw);
            out.size_root_fs = Some(root);
        }
    }
    let mut v = crate::containers::inspect::docker_shape(&out, d.host.cgroup_version == 2);
    d.networks.patch_inspect(&rec, &mut v);
    if let Some(h) = &d.hns {
        h.patch_inspect(&rec, &mut v);
    }
    Ok(Json(v))
}

async fn start(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    d.containers.start(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stop(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<StatusCode> {
    let t = int_param(&q, "t")?;
    d.containers
        .stop(&id, q.get("signal").map(String::as_str), t)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn kill(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<StatusCode> {
    d.containers
        .kill(&id, q.get("signal").map(String::as_str))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restart(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<StatusCode> {
    let t = int_param(&q, "t")?;
    d.containers
        .restart(&id, q.get("signal").map(String::as_str), t)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pause(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    d.containers.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpause(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    d.containers.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rename(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<StatusCode> {
    let name = q.get("name").map(String::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "Neither old nor new names may be empty",
        ));
    }
    d.containers.rename(&id, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    d.containers.get(&id)?;
    check_restart_policy_name(&body)?;
    let v: serde_json::Value = params::json_body(&body)?;
    let obj = v.as_object().cloned().unwrap_or_default();
    let unsupported: Vec<&str> = obj
        .iter()
        .filter(|(k, val)| {
            !translate::linux::update::UPDATABLE.contains(&k.as_str()) && !is_zero(val)
        })
        .map(|(k, _)| k.as_str())
        .collect();
    if !unsupported.is_empty() {
        return Err(ApiError::bad_request(format!(
            "docker update of {} is not supported by dockbridge yet",
            unsupported.join(", ")
        )));
    }
    let u: spec::api::models::ContainerUpdateBody = serde_json::from_value(v)
        .map_err(|e| ApiError::bad_request(format!("invalid update: {e}")))?;
    let warnings = d.containers.update(&id, u).await?;
    Ok(Json(serde_json::json!({ "Warnings": warnings })))
}

fn is_zero(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Bool(b) => !b,
        serde_json::Value::Number(n) => n.as_f64() == Some(0.0),
        serde_json::Value::String(s) => s.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.values().all(is_zero),
    }
}

async fn resize(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<StatusCode> {
    let (w, h) = params::tty_size(&q)?;
    d.containers.resize_tty(&id, w, h).await?;
    Ok(StatusCode::OK)
}

async fn remove(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<StatusCode> {
    let force = bool_param(&q, "force")?;
    if bool_param(&q, "link")? {
        return Err(ApiError::bad_request(
            "removing a link (docker rm -l) is not supported by dockbridge",
        ));
    }
    let volumes = bool_param(&q, "v")?;
    d.containers.remove(&id, force, volumes).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(
    State(d): State<AppState>,
    Query(q): Query<params::Query>,
) -> ApiResult<impl IntoResponse> {
    let (deleted, reclaimed) = d.containers.prune(&params::filters(&q)?).await?;
    d.events.emit(
        spec::api::models::EventMessageTypeEnum::CONTAINER,
        "prune",
        "",
        HashMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
    );
    // A Go nil slice: null when nothing was deleted.
    let deleted = (!deleted.is_empty()).then_some(deleted);
    Ok(Json(
        serde_json::json!({ "ContainersDeleted": deleted, "SpaceReclaimed": reclaimed }),
    ))
}

async fn wait(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<Response> {
    let cond = match q.get("condition").map(String::as_str).unwrap_or("") {
        "" | "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid condition: {other:?}"
            )))
        }
    };
    let fut = d.containers.wait(&id, cond)?;
    // The headers go out at once: the CLI waits for them before it starts the container.
    // The body (one JSON object) follows when the condition is met.
    let stream = futures::stream::once(async move {
        let code = fut.await;
        Ok::<_, std::convert::Infallible>(Bytes::from(format!(
            "{{\"Error\":null,\"StatusCode\":{code}}}\n"
        )))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn logs(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
    Extension(version): Extension<ApiVersion>,
) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let rec = c.record();
    if !c.log.readable() {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "configured logging driver does not support reading",
        ));
    }
    let opts =
        ReadOptions {
            since: match q.get("since").filter(|s| !s.is_empty() && *s != "0") {
                Some(s) => Some(logs::parse_timestamp(s).ok_or_else(|| {
                    ApiError::bad_request(format!("invalid value for since: {s}"))
                })?),
                None => None,
            },
            until: match q.get("until").filter(|s| !s.is_empty() && *s != "0") {
                Some(s) => Some(logs::parse_timestamp(s).ok_or_else(|| {
                    ApiError::bad_request(format!("invalid value for until: {s}"))
                })?),
                None => None,
            },
            tail: match q.get("tail").map(String::as_str) {
                None | Some("") | Some("all") => None,
                Some(n) => Some(
                    n.parse::<i64>()
                        .map_err(|_| ApiError::bad_request(format!("invalid value for tail: {n}")))?
                        .max(0) as usize,
                ),
            },
            stdout: bool_param(&q, "stdout")?,
            stderr: bool_param(&q, "stderr")?,
        };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let follow = bool_param(&q, "follow")?;
    let timestamps = bool_param(&q, "timestamps")?;
    let tty = rec.config.tty.unwrap_or(false);
    let (len, rx) = c.log.follow();
    let log = c.log.clone();
    let data = tokio::task::spawn_blocking(move || log.read_all(len))
        .await
        .map_err(|e| ApiError::internal(format!("reading logs: {e}")))?
        .map_err(|e| ApiError::internal(format!("reading logs: {e}")))?;
    let encode = move |e: &logs::Entry| -> Bytes {
        let mut payload = Vec::new();
        if timestamps {
            payload.extend_from_slice(
                e.time
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                    .as_bytes(),
            );
            payload.push(b' ');
        }
        payload.extend_from_slice(&e.line);
        stdcopy::encode(tty, e.stream, Bytes::from(payload))
    };
    let first: Vec<Result<Bytes, std::convert::Infallible>> = logs::select(&data, &opts)
        .iter()
        .map(|e| Ok(encode(e)))
        .collect();
    let head = futures::stream::iter(first);
    // Followed only while output flows: a container that exited has nothing to wait for.
    let body = if let (true, Some(rx)) = (follow, rx) {
        let live = tokio_stream::wrappers::BroadcastStream::new(rx)
            .take_while(|ev| futures::future::ready(!matches!(ev, Ok(LogEvent::End))))
            .filter_map(move |ev| {
                let out = match ev {
                    Ok(LogEvent::Entry(e)) if opts.wants(&e) => Some(Ok(encode(&e))),
                    _ => None,
                };
                futures::future::ready(out)
            });
        Body::from_stream(head.chain(live))
    } else {
        Body::from_stream(head)
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, stdcopy::content_type(tty, version))
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// How long a hijacked stream's first bytes wait after the response head (see
/// `attach_handler`).
const HEAD_SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// What an attach session reads and writes: the logged output so far (when `with_logs`),
/// the live output (when `stream`, and only while the container has not exited), and the
/// process's stdin (when `want_stdin`). Subscribed before the answer goes out, so nothing
/// the process prints after this is lost.
pub(super) async fn session_parts(
    c: &Arc<Container>,
    stream: bool,
    with_logs: bool,
    want_stdin: bool,
) -> (
    Vec<(logs::StreamKind, Bytes)>,
    Option<broadcast::Receiver<Output>>,
    Option<mpsc::Sender<StdinMsg>>,
) {
    let output = stream.then(|| c.hub.subscribe());
    let backlog = if with_logs {
        let log = c.log.clone();
        let data = tokio::task::spawn_blocking(move || log.read_all(u64::MAX))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let all = ReadOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        logs::select(&data, &all)
            .into_iter()
            .map(|e| (e.stream, e.line))
            .collect()
    } else {
        Vec::new()
    };
    // Exited containers have no more output: the session ends after the backlog.
    let output = if c.record().state.status == crate::containers::record::Status::Exited {
        None
    } else {
        output
    };
    (backlog, output, want_stdin.then(|| c.hub.stdin()))
}

async fn attach_handler(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
    Extension(version): Extension<ApiVersion>,
    mut req: Request,
) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let rec = c.record();
    let tty = rec.config.tty.unwrap_or(false);
    let opts = attach::Options {
        stdin: bool_param(&q, "stdin")?,
        stdout: bool_param(&q, "stdout")?,
        stderr: bool_param(&q, "stderr")?,
        tty,
        stdin_once: rec.config.stdin_once.unwrap_or(false),
        detach_keys: detach_keys(q.get("detachKeys"))?,
    };
    let (backlog, output, stdin) = session_parts(
        &c,
        bool_param(&q, "stream")?,
        bool_param(&q, "logs")?,
        opts.stdin,
    )
    .await;
    let content_type = stdcopy::content_type(tty, version);
    if !upgrade::wants_upgrade(&req) {
        return Err(ApiError::bad_request(
            "attach needs a connection upgrade (Upgrade: tcp)",
        ));
    }
    let (on_upgrade, resp) = upgrade::accept(&mut req, content_type);
    d.containers.emit(&c, "attach", HashMap::new());
    tokio::spawn(async move {
        if let Some(conn) = upgrade::take(on_upgrade).await {
            // Python's http.client (docker-py, testcontainers) reads the 101 head through
            // a buffered reader and then reads the raw socket: bytes that reach it in the
            // same read as the head are lost. The head is flushed by now; a logged
            // backlog waits a moment so the client has read the head first (dockerd
            // writes it at once and loses it to such clients most of the time).
            if !backlog.is_empty() {
                tokio::time::sleep(HEAD_SETTLE).await;
            }
            attach::run(conn, opts, backlog, output, stdin, None).await;
        }
    });
    Ok(resp)
}
