//! `/images/…` routes on the [`ImageStore`](crate::images::ImageStore).
//!
//! Image names contain slashes (`/images/a/b/c:tag/json`), so everything below `/images/`
//! that is not a fixed route goes through one wildcard route and the suffix (`/json`,
//! `/history`, `/tag`) is split off by hand.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use spec::api::models::EventMessageTypeEnum;
use spec::api::ApiVersion;
use tokio_stream::wrappers::ReceiverStream;

use super::error::{ApiError, ApiResult};
use super::params::{self, bool_param};
use super::AppState;
use crate::images::{self, DeleteItem, Filters};

pub fn routes() -> Router<AppState> {
    Router::new()
        // `docker load` streams archives of any size: no body limit on this route.
        .route(
            "/images/load",
            post(load).layer(DefaultBodyLimit::disable()),
        )
        .route("/images/json", get(list))
        // `docker import` streams root filesystems of any size.
        .route(
            "/images/create",
            post(create).layer(DefaultBodyLimit::disable()),
        )
        .route("/images/get", get(save_many))
        .route("/images/prune", post(prune))
        .route(
            "/images/{*rest}",
            get(get_image).post(post_image).delete(delete_image),
        )
}

fn filters(q: &params::Query) -> ApiResult<Filters> {
    params::filters(q)
}

fn event(d: &AppState, action: &str, id: &str, name: &str) {
    let attrs = HashMap::from([("name".to_string(), name.to_string())]);
    d.events
        .emit(EventMessageTypeEnum::IMAGE, action, id, attrs);
}

/// One JSON message of a progress stream, newline-terminated as dockerd writes them.
fn json_line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

/// `{"errorDetail":{"message":…},"error":…}`: how dockerd ends a stream that failed after
/// the 200 went out; the CLI prints the message and exits 1.
fn error_line(message: &str) -> Bytes {
    json_line(&json!({"errorDetail": {"message": message}, "error": message}))
}

fn json_stream(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response {
    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, std::io::Error>));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `POST /images/load`: the archive is read as it arrives; the answer is a 200 stream of
/// `{"stream":"Loaded image: …\n"}` lines, and an error line if the load fails (dockerd
/// sends its status before reading the body, so failures can only be reported in-band).
async fn load(State(d): State<AppState>, req: Request) -> Response {
    let body = req
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(body);
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let (ptx, mut prx) = tokio::sync::mpsc::channel::<String>(16);
        let forward = {
            let out = out_tx.clone();
            tokio::spawn(async move {
                while let Some(line) = prx.recv().await {
                    let _ = out
                        .send(json_line(&json!({"stream": format!("{line}\n")})))
                        .await;
                }
            })
        };
        let result = d.images.load(reader, ptx).await;
        // The progress sender was moved into `load` and is dropped now: drain the rest.
        let _ = forward.await;
        match result {
            Ok(loaded) => {
                for img in loaded {
                    event(&d, "load", &img.id, &img.id);
                }
            }
            Err(e) => {
                tracing::warn!("docker load: {e}");
                let _ = out_tx.send(error_line(&e.to_string())).await;
            }
        }
    });
    json_stream(out_rx)
}

/// `GET /images/json?all=&filters=`.
async fn list(
    State(d): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Query(q): Query<params::Query>,
) -> ApiResult<impl IntoResponse> {
    let all = bool_param(&q, "all")?;
    let f = filters(&q)?;
    let recs = d.images.list_filtered(&f, all).await?;
    let out: Vec<Value> = recs
        .iter()
        .map(|r| images::summary_json(r, version))
        .collect();
    Ok(Json(out))
}

fn first_of<'a>(q: &'a [(String, String)], key: &str) -> &'a str {
    q.iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// `POST /images/create`: `fromImage` pulls, `fromSrc` imports (dockerd's order).
async fn create(
    State(d): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<Response> {
    if first_of(&q, "fromImage").is_empty() {
        return import(d, &q, req.into_body()).await;
    }
    super::registry::pull(d, &q, &headers).await
}

/// `docker import`: `fromSrc=-` is the request body. dockerd writes nothing before the
/// image exists, so every failure is a plain error response; success is a 200 stream whose
/// one line is `{"status":"sha256:…"}`. A URL source would need network access, which
/// dockbridge does not have: refused up front.
async fn import(d: AppState, q: &[(String, String)], body: Body) -> ApiResult<Response> {
    let src = first_of(q, "fromSrc");
    if src != "-" {
        let what = if src.is_empty() { "no source" } else { src };
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "importing from a URL is not supported by dockbridge ({what}): it does not fetch from the network; download the archive and import the file, or pipe it to `docker import -`"
            ),
        ));
    }
    let opts = match images::import::ImportOptions::new(
        src,
        first_of(q, "repo"),
        first_of(q, "tag"),
        first_of(q, "message"),
        &params::all_of(q, "changes"),
        first_of(q, "platform"),
    ) {
        Ok(o) => o,
        Err(e) => {
            // Read the upload to its end first: a client still sending it would see its
            // write fail ("broken pipe") instead of this answer.
            let mut data = body.into_data_stream();
            while let Some(Ok(_)) = data.next().await {}
            return Err(e.into());
        }
    };
    let reader =
        tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let id = d.images.import(reader, opts).await?;
    event(&d, "import", &id, &id);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let _ = tx.try_send(json_line(&json!({ "status": id })));
    Ok(json_stream(rx))
}

/// `GET /images/get?names=…`: `docker save` of one or more images.
async fn save_many(
    State(d): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    save(&d, &params::all_of(&q, "names")).await
}

/// The archive as a tar stream. Names are resolved before the 200 goes out (a missing
/// image is a plain 404); a failure while streaming cuts the body off, so the client sees
/// a broken transfer rather than a truncated archive it might accept.
async fn save(d: &AppState, names: &[String]) -> ApiResult<Response> {
    let archive = d.images.save(names).await?;
    for id in &archive.ids {
        event(d, "save", id, id);
    }
    let body = Body::from_stream(ReceiverStream::new(archive.body));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-tar")],
        body,
    )
        .into_response())
}

/// `POST /images/prune?filters=`.
async fn prune(
    State(d): State<AppState>,
    Query(q): Query<params::Query>,
) -> ApiResult<impl IntoResponse> {
    let f = filters(&q)?;
    let all_users = d.containers.image_users();
    let users = |id: &str| all_users.get(id).cloned().unwrap_or_default();
    let (items, reclaimed) = d.images.prune(&f, &users).await?;
    for item in &items {
        if let DeleteItem::Deleted(id) = item {
            if id.starts_with("sha256:") {
                event(&d, "delete", id, id);
            }
        }
    }
    let attrs = HashMap::from([("reclaimed".to_string(), reclaimed.to_string())]);
    d.events
        .emit(EventMessageTypeEnum::IMAGE, "prune", "", attrs);
    let deleted = if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items.iter().map(delete_item_json).collect())
    };
    Ok(Json(
        json!({"ImagesDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}

fn delete_item_json(i: &DeleteItem) -> Value {
    match i {
        DeleteItem::Untagged(n) => json!({"Untagged": n}),
        DeleteItem::Deleted(id) => json!({"Deleted": id}),
    }
}

/// `GET /images/{name}/json`, `GET /images/{name}/history`, `GET /images/{name}/get`.
async fn get_image(
    State(d): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/json") {
        let rec = d.images.resolve(name).await?;
        return Ok(Json(images::inspect_json(&rec, version)).into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let rec = d.images.resolve(name).await?;
        let all = if rec.config.extra.contains_key("parent") {
            d.images.list().await?
        } else {
            Vec::new()
        };
        return Ok(Json(images::history_with_parents(&rec, &all)).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save(&d, &[name.to_string()]).await;
    }
    Err(ApiError::not_found(format!(
        "page not found: /images/{rest}"
    )))
}

/// `POST /images/{name}/tag?repo=&tag=`: 201 and no body.
async fn post_image(
    State(d): State<AppState>,
    Path(rest): Path<String>,
    Query(all): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let q: params::Query = all.iter().cloned().collect();
    let Some(name) = rest.strip_suffix("/tag") else {
        if let Some(name) = rest.strip_suffix("/push") {
            return super::registry::push(d, name, &all, &headers, &body).await;
        }
        return Err(ApiError::not_found(format!(
            "page not found: /images/{rest}"
        )));
    };
    let repo = q.get("repo").map_or("", String::as_str);
    let tag = q.get("tag").map_or("", String::as_str);
    let new_name = d.images.tag(name, repo, tag).await?;
    if let Ok(rec) = d.images.resolve(&new_name).await {
        event(&d, "tag", &rec.id, &new_name);
    }
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /images/{name}?force=&noprune=`: a deleted image's untagged parents (a build's
/// intermediate images) go with it unless `noprune`, as dockerd prunes them.
async fn delete_image(
    State(d): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<impl IntoResponse> {
    let force = bool_param(&q, "force")?;
    let noprune = bool_param(&q, "noprune")?;
    let all_users = d.containers.image_users();
    let users = |id: &str| all_users.get(id).cloned().unwrap_or_default();
    let rec = d.images.resolve(&name).await.ok();
    let id = rec.as_ref().map(|r| r.id.clone()).unwrap_or_default();
    let mut items = d.images.remove(&name, force, &users).await?;
    for item in &items {
        match item {
            DeleteItem::Untagged(_) => event(&d, "untag", &id, &id),
            DeleteItem::Deleted(del) if del == &id => event(&d, "delete", &id, &id),
            DeleteItem::Deleted(_) => {}
        }
    }
    let deleted = items
        .iter()
        .any(|i| matches!(i, DeleteItem::Deleted(del) if del == &id));
    let mut parent = rec
        .as_ref()
        .and_then(|r| r.config.extra.get("parent"))
        .and_then(Value::as_str)
        .map(String::from);
    while let (false, true, Some(pid)) = (noprune, deleted, parent.take()) {
        let all = d.images.list().await?;
        let Some(p) = all.iter().find(|i| i.id == pid) else {
            break;
        };
        let has_children = all
            .iter()
            .any(|i| i.config.extra.get("parent").and_then(Value::as_str) == Some(pid.as_str()));
        if !p.dangling || !p.repo_digests.is_empty() || has_children || !users(&pid).is_empty() {
            break;
        }
        match d.images.remove(&pid, false, &users).await {
            Ok(more) => {
                event(&d, "delete", &pid, &pid);
                items.extend(more);
            }
            Err(_) => break,
        }
        parent = p
            .config
            .extra
            .get("parent")
            .and_then(Value::as_str)
            .map(String::from);
    }
    Ok(Json(items.iter().map(delete_item_json).collect::<Vec<_>>()))
}
