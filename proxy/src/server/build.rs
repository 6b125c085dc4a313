//! `POST /build` (the classic builder), `POST /build/prune` and `POST /build/cancel`.
//!
//! The context is unpacked before anything is answered; an error before the first output
//! line is a plain HTTP error with its status (as dockerd answers when nothing was flushed
//! yet), later ones end the 200 JSON stream with an `errorDetail` line.

use std::collections::{BTreeMap, HashMap};

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::error::{ApiError, ApiResult};
use super::params::{self, bool_param};
use super::AppState;
use crate::build::{Build, BuildError, BuildOptions, Output};
use crate::error_kind::Kinded;
use crate::registry::auth::AuthConfig;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/build",
            post(build).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/build/prune", post(prune))
        .route("/build/cancel", post(cancel))
}

fn json_map<T: serde::de::DeserializeOwned + Default>(
    q: &params::Query,
    key: &str,
) -> ApiResult<T> {
    match q.get(key).map(String::as_str) {
        None | Some("") | Some("null") => Ok(T::default()),
        Some(v) => serde_json::from_str(v)
            .map_err(|e| ApiError::bad_request(format!("invalid {key} value: {e}"))),
    }
}

/// Options dockerd's classic builder takes that this one does not: refused by name.
fn refuse_unsupported(q: &params::Query) -> ApiResult<()> {
    if bool_param(q, "squash")? {
        return Err(ApiError::bad_request(
            "--squash is not supported by dockbridge's builder (it is an experimental dockerd feature)",
        ));
    }
    if q.get("version").is_some_and(|v| v == "2") {
        return Err(ApiError::bad_request(
            "BuildKit is not supported by dockbridge: use the classic builder (DOCKER_BUILDKIT=0)",
        ));
    }
    if q.get("outputs")
        .is_some_and(|v| !v.is_empty() && v != "null" && v != "[]")
    {
        return Err(ApiError::bad_request(
            "--output needs BuildKit, which dockbridge does not have",
        ));
    }
    if q.get("isolation")
        .is_some_and(|v| !v.is_empty() && v != "default")
    {
        return Err(ApiError::bad_request(format!(
            "isolation {:?} is not supported by dockbridge's builder",
            q.get("isolation").cloned().unwrap_or_default()
        )));
    }
    if q.get("remote").is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "remote build contexts (git repositories, URLs) are not supported by dockbridge: nothing remote is reachable from the daemon; send the context from the client",
        ));
    }
    for (k, what) in [
        ("securityopt", "--security-opt"),
        ("cgroupparent", "--cgroup-parent"),
    ] {
        if q.get(k)
            .is_some_and(|v| !v.is_empty() && v != "null" && v != "[]")
        {
            return Err(ApiError::bad_request(format!(
                "{what} is not supported by dockbridge's builder"
            )));
        }
    }
    Ok(())
}

fn options(
    q: &params::Query,
    pairs: &[(String, String)],
    headers: &HeaderMap,
) -> ApiResult<BuildOptions> {
    refuse_unsupported(q)?;
    let tags = params::all_of(pairs, "t");
    for t in &tags {
        spec::reference::parse_normalized_named(t)
            .map_err(|e| ApiError::bad_request(format!("invalid reference format: {t}: {e}")))?;
    }
    let build_args: BTreeMap<String, Option<String>> = json_map(q, "buildargs")?;
    let labels: BTreeMap<String, String> = json_map(q, "labels")?;
    if let Some(p) = q.get("platform") {
        crate::build::check_platform(p).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let mut hc = serde_json::Map::new();
    let network = q.get("networkmode").cloned().unwrap_or_default();
    hc.insert(
        "NetworkMode".into(),
        if network.is_empty() {
            "default".to_string()
        } else {
            network
        }
        .into(),
    );
    for (k, field) in [
        ("memory", "Memory"),
        ("memswap", "MemorySwap"),
        ("cpushares", "CpuShares"),
        ("cpuperiod", "CpuPeriod"),
        ("cpuquota", "CpuQuota"),
        ("shmsize", "ShmSize"),
    ] {
        if let Some(v) = params::int_param(q, k)? {
            if v != 0 {
                hc.insert(field.into(), v.into());
            }
        }
    }
    for (k, field) in [("cpusetcpus", "CpusetCpus"), ("cpusetmems", "CpusetMems")] {
        if let Some(v) = q.get(k).filter(|v| !v.is_empty()) {
            hc.insert(field.into(), v.clone().into());
        }
    }
    let ulimits: Vec<Value> = json_map(q, "ulimits")?;
    if !ulimits.is_empty() {
        hc.insert("Ulimits".into(), ulimits.into());
    }
    let hosts: Vec<String> = params::all_of(pairs, "extrahosts")
        .into_iter()
        .flat_map(|h| h.split(',').map(String::from).collect::<Vec<_>>())
        .filter(|h| !h.is_empty())
        .collect();
    if !hosts.is_empty() {
        hc.insert("ExtraHosts".into(), hosts.into());
    }
    let auth: HashMap<String, AuthConfig> = headers
        .get("X-Registry-Config")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            use base64::Engine;
            [
                base64::engine::general_purpose::URL_SAFE,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
                base64::engine::general_purpose::STANDARD,
            ]
            .iter()
            .find_map(|e| e.decode(v.trim()).ok())
        })
        .and_then(|bytes| serde_json::from_slice::<HashMap<String, Value>>(&bytes).ok())
        .map(|m| {
            m.into_iter()
                .filter_map(|(k, v)| {
                    AuthConfig::from_json(v.to_string().as_bytes())
                        .ok()
                        .map(|a| (k, a))
                })
                .collect()
        })
        .unwrap_or_default();
    let rm = match q.get("rm").map(String::as_str) {
        None | Some("") => true,
        _ => bool_param(q, "rm")?,
    };
    Ok(BuildOptions {
        tags,
        dockerfile: q.get("dockerfile").cloned().unwrap_or_default(),
        quiet: bool_param(q, "q")?,
        no_cache: bool_param(q, "nocache")?,
        pull: bool_param(q, "pull")?,
        rm,
        force_rm: bool_param(q, "forcerm")?,
        build_args,
        labels,
        target: q.get("target").cloned().filter(|t| !t.is_empty()),
        host_config: Value::Object(hc),
        build_id: q.get("buildid").cloned().filter(|t| !t.is_empty()),
        cache_from: json_map(q, "cachefrom")?,
        auth,
    })
}

fn error_line(e: &BuildError) -> Bytes {
    // Field order as Go writes `jsonmessage.JSONMessage`.
    let msg = Value::from(e.to_string()).to_string();
    let detail = match e.code() {
        Some(code) => format!("{{\"code\":{code},\"message\":{msg}}}"),
        None => format!("{{\"message\":{msg}}}"),
    };
    let s = crate::build::go_escape(format!("{{\"errorDetail\":{detail},\"error\":{msg}}}\n"));
    Bytes::from(s)
}

/// The Dockerfile: `dockerfile` names it inside the context (default `Dockerfile`, or
/// `dockerfile` in lower case as dockerd also accepts).
fn read_dockerfile(dir: &std::path::Path, name: &str) -> Result<String, BuildError> {
    let name = if name.is_empty() { "Dockerfile" } else { name };
    let rel = translate::build::ignore::clean(&format!("/{name}"));
    let path = dir.join(rel.trim_start_matches('/'));
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(_) if name == "Dockerfile" => std::fs::read(dir.join("dockerfile")).map_err(|_| {
            BuildError::Invalid(format!("Cannot locate specified Dockerfile: {name}"))
        })?,
        Err(_) => {
            return Err(BuildError::Invalid(format!(
                "Cannot locate specified Dockerfile: {name}"
            )))
        }
    };
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// Applies `.dockerignore` to the unpacked context (clients usually did already) and
/// removes `.dockerignore` itself and the Dockerfile when it excludes them.
fn apply_dockerignore(dir: &std::path::Path) -> Result<(), BuildError> {
    let Ok(text) = std::fs::read_to_string(dir.join(".dockerignore")) else {
        return Ok(());
    };
    let m = translate::build::ignore::Matcher::parse(&text)?;
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        m: &translate::build::ignore::Matcher,
    ) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let is_dir = e.file_type()?.is_dir();
            if m.matches(&rel) {
                if is_dir && m.has_exclusions() {
                    // Something below may be re-included.
                    walk(root, &p, m)?;
                } else if is_dir {
                    std::fs::remove_dir_all(&p)?;
                } else {
                    std::fs::remove_file(&p)?;
                }
            } else if is_dir {
                walk(root, &p, m)?;
            }
        }
        Ok(())
    }
    walk(dir, dir, &m).map_err(|e| BuildError::io("applying .dockerignore", e))
}

async fn build(
    State(d): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<Response> {
    let q: params::Query = pairs.iter().cloned().collect();
    let body = req.into_body().into_data_stream();
    let opts = match options(&q, &pairs, &headers) {
        Ok(o) => o,
        Err(e) => {
            // Read the context anyway: a client writing it would see a broken pipe.
            drain(body).await;
            return Err(e);
        }
    };
    let spool = d.data_root.join("tmp");
    std::fs::create_dir_all(&spool)
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", spool.display())))?;
    let ctx = tempfile::Builder::new()
        .prefix("build-context-")
        .tempdir_in(&spool)
        .map_err(|e| ApiError::internal(format!("creating the context directory: {e}")))?;
    let bare = match crate::build::context::receive(body, ctx.path(), d.build_context_limit).await {
        Ok(b) => b,
        Err(e) => return Err(ApiError::from_kind(e.kind(), e.to_string())),
    };
    let dockerfile = match bare {
        Some(text) => text,
        None => read_dockerfile(ctx.path(), &opts.dockerfile)
            .map_err(|e| ApiError::from_kind(e.kind(), e.to_string()))?,
    };
    apply_dockerignore(ctx.path()).map_err(|e| ApiError::from_kind(e.kind(), e.to_string()))?;

    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let cancel = CancellationToken::new();
    if let Some(id) = &opts.build_id {
        d.builds.register(id, cancel.clone());
    }
    let out = Output::new(tx.clone(), opts.quiet);
    let task = {
        let d = d.clone();
        let opts = opts.clone();
        let out = out.clone();
        tokio::spawn(async move {
            let mut b = Build::new(
                d.clone(),
                opts.clone(),
                ctx.path().to_path_buf(),
                out.clone(),
                cancel,
            );
            let r = b.run(&dockerfile).await;
            drop(ctx);
            if r.is_err() && opts.quiet {
                out.flush_held().await;
            }
            if let Some(id) = &opts.build_id {
                d.builds.finish(id);
            }
            let id = r?;
            if opts.quiet {
                out.quiet_send(json!({"stream": format!("{id}\n")})).await?;
            }
            out.stream(format!(
                "Successfully built {}\n",
                crate::images::truncate_id(&id)
            ))
            .await?;
            for t in &opts.tags {
                let name = d.images.tag(&id, t, "").await.map_err(BuildError::from)?;
                let attrs = HashMap::from([("name".to_string(), name.clone())]);
                d.events.emit(
                    spec::api::models::EventMessageTypeEnum::IMAGE,
                    "tag",
                    &id,
                    attrs,
                );
                out.stream(format!("Successfully tagged {name}\n")).await?;
            }
            Ok::<String, BuildError>(id)
        })
    };
    drop(tx);
    drop(out);
    // Nothing streamed yet and the build already failed: a plain HTTP error.
    let first = rx.recv().await;
    let Some(first) = first else {
        return match task.await {
            Ok(Ok(_)) => Ok(json_stream(mpsc::channel(1).1, None)),
            Ok(Err(e)) => Err(ApiError::from_kind(e.kind(), e.to_string())),
            Err(e) => Err(ApiError::internal(format!("build task: {e}"))),
        };
    };
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        if out_tx.send(first).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => {
                        if out_tx.send(m).await.is_err() {
                            // The client went away: the builder sees its output closed.
                            return;
                        }
                    }
                    None => break,
                },
                _ = out_tx.closed() => return,
            }
        }
        match task.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                if !matches!(e, BuildError::Cancelled) {
                    tracing::info!("build failed: {e}");
                }
                let _ = out_tx.send(error_line(&e)).await;
            }
            Err(e) => {
                let _ = out_tx
                    .send(error_line(&BuildError::Internal(format!(
                        "build task: {e}"
                    ))))
                    .await;
            }
        }
    });
    Ok(json_stream(out_rx, None))
}

async fn drain(body: axum::body::BodyDataStream) {
    let mut body = body;
    while let Some(chunk) = body.next().await {
        if chunk.is_err() {
            break;
        }
    }
}

fn json_stream(rx: mpsc::Receiver<Bytes>, _: Option<()>) -> Response {
    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, std::io::Error>));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `POST /build/prune`: the classic builder's cache is its intermediate images (untagged
/// images with a parent that no container uses); they go, and what they held is reported.
async fn prune(
    State(d): State<AppState>,
    Query(q): Query<params::Query>,
) -> ApiResult<Json<Value>> {
    let _ = bool_param(&q, "all")?;
    let users = d.containers.image_users();
    let images = d.images.list().await?;
    let mut deleted = Vec::new();
    let mut reclaimed: i64 = 0;
    // Children first, so that every parent is dangling by the time it is reached.
    let mut candidates: Vec<_> = images
        .into_iter()
        .filter(|i| i.dangling && i.config.extra.contains_key("parent"))
        .filter(|i| !users.contains_key(&i.id))
        .collect();
    candidates.sort_by(|a, b| {
        b.chain_ids
            .len()
            .cmp(&a.chain_ids.len())
            .then(b.created_nanos.cmp(&a.created_nanos))
    });
    let none = |_: &str| Vec::new();
    for img in candidates {
        match d.images.remove(&img.id, false, &none).await {
            Ok(items) => {
                if items
                    .iter()
                    .any(|i| matches!(i, crate::images::DeleteItem::Deleted(_)))
                {
                    let empty = img
                        .config
                        .history
                        .as_ref()
                        .and_then(|h| h.last())
                        .and_then(|h| h.get("empty_layer"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if !empty {
                        reclaimed += img.layer_sizes.last().copied().unwrap_or(0);
                    }
                    deleted.push(img.id.clone());
                }
            }
            Err(e) => tracing::debug!(image = %img.id, "build cache prune: {e}"),
        }
    }
    let caches = if deleted.is_empty() {
        Value::Null
    } else {
        json!(deleted)
    };
    Ok(Json(
        json!({ "CachesDeleted": caches, "SpaceReclaimed": reclaimed }),
    ))
}

/// `POST /build/cancel?id=`: stops a running build (its step container is killed and
/// removed, nothing is tagged).
async fn cancel(
    State(d): State<AppState>,
    Query(q): Query<params::Query>,
) -> ApiResult<StatusCode> {
    let id = q.get("id").cloned().unwrap_or_default();
    if id.is_empty() {
        return Err(ApiError::bad_request("build ID not provided"));
    }
    if d.builds.cancel(&id) {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found(format!("no such build: {id}")))
    }
}
