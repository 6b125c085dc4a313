//! Registry routes: pulls (`POST /images/create?fromImage=`), pushes
//! (`POST /images/{name}/push`), `POST /auth` (`docker login`), `GET
//! /distribution/{name}/json`, and `GET /images/search` (the v1 search API).
//!
//! A pull or push answers as dockerd does: a failure before any progress is a plain
//! error response with its status code (the CLI prints `Error response from daemon: …`);
//! once progress went out the answer is a 200 stream and a failure is its last line, an
//! `errorDetail` object (the CLI prints it and exits 1).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use spec::api::models::EventMessageTypeEnum;
use spec::reference;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::images::pull::PullRequest;
use crate::images::ImagesError;
use crate::registry::manifest::{self, Document};
use crate::registry::progress::{error_json, Message};
use crate::registry::{endpoint, search, AuthConfig, Platform};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth", post(login))
        .route("/distribution/{*rest}", get(distribution))
        .route("/images/search", get(search))
}

fn first_of<'a>(q: &'a [(String, String)], key: &str) -> &'a str {
    q.iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// `X-Registry-Auth`, decoded (an absent or undecodable header is no credentials).
fn registry_auth(headers: &HeaderMap) -> AuthConfig {
    headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .map(AuthConfig::from_header)
        .unwrap_or_default()
}

/// `POST /images/create?fromImage=&tag=&platform=`: a pull.
pub async fn pull(d: AppState, q: &[(String, String)], headers: &HeaderMap) -> ApiResult<Response> {
    let from_image = first_of(q, "fromImage");
    let tag = first_of(q, "tag");
    let mut r = reference::parse_normalized_named(from_image).map_err(ImagesError::from)?;
    if !tag.is_empty() {
        // A digest in `tag` is how the CLI asks for `name@sha256:…`.
        r = if tag.contains(':') {
            r.trim().with_digest(tag)
        } else {
            r.with_tag(tag)
        }
        .map_err(ImagesError::from)?;
    }
    let platform = match first_of(q, "platform") {
        "" => None,
        p => Some(Platform::parse(p).map_err(|e| ApiError::bad_request(e.to_string()))?),
    };
    let req = PullRequest {
        reference: r,
        from_image: from_image.to_string(),
        platform,
        auth: registry_auth(headers),
    };
    let (tx, rx) = mpsc::channel::<Message>(64);
    let task = {
        let d = d.clone();
        tokio::spawn(async move { d.images.pull(&d.registries, &req, &tx).await })
    };
    let events = d.clone();
    progress_response(rx, task, move |pulled: crate::images::pull::Pulled| {
        let attrs = HashMap::from([("name".to_string(), pulled.name.clone())]);
        events
            .events
            .emit(EventMessageTypeEnum::IMAGE, "pull", &pulled.name, attrs);
    })
    .await
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(
    d: AppState,
    name: &str,
    q: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Response> {
    let tag = first_of(q, "tag").to_string();
    // Without the header, dockerd reads credentials from the body (the old format) and
    // refuses one that is not JSON: the CLI always sends the header, docker-py sends `{}`.
    let auth = if headers.contains_key("X-Registry-Auth") {
        registry_auth(headers)
    } else if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "Bad parameters and missing X-Registry-Auth: EOF",
        ));
    } else {
        AuthConfig::from_json(body).map_err(|e| {
            ApiError::bad_request(format!("Bad parameters and missing X-Registry-Auth: {e}"))
        })?
    };
    let name = name.to_string();
    let (tx, rx) = mpsc::channel::<Message>(64);
    let task = {
        let d = d.clone();
        let name = name.clone();
        tokio::spawn(async move { d.images.push(&d.registries, &name, &tag, &auth, &tx).await })
    };
    let events = d.clone();
    progress_response(rx, task, move |_digests: Vec<String>| {
        let attrs = HashMap::from([("name".to_string(), name.clone())]);
        events
            .events
            .emit(EventMessageTypeEnum::IMAGE, "push", &name, attrs);
    })
    .await
}

/// Waits for the first progress message: none (the operation ended first) means a plain
/// answer, else a 200 JSON stream that ends with an error line if the operation fails.
async fn progress_response<T: Send + 'static>(
    mut rx: mpsc::Receiver<Message>,
    task: tokio::task::JoinHandle<Result<T, ImagesError>>,
    on_success: impl FnOnce(T) + Send + 'static,
) -> ApiResult<Response> {
    let Some(first) = rx.recv().await else {
        return match task.await {
            Ok(Ok(v)) => {
                on_success(v);
                Ok(json_stream(mpsc::channel(1).1))
            }
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(ApiError::internal(format!(
                "registry operation failed: {e}"
            ))),
        };
    };
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let line = |s: String| Bytes::from(s + "\n");
        let _ = out_tx.send(line(first.to_json())).await;
        while let Some(m) = rx.recv().await {
            // A client that went away stops nothing: the pull completes for the next.
            let _ = out_tx.send(line(m.to_json())).await;
        }
        match task.await {
            Ok(Ok(v)) => on_success(v),
            Ok(Err(e)) => {
                tracing::warn!("registry operation failed: {e}");
                let _ = out_tx.send(line(error_json(&e.to_string()))).await;
            }
            Err(e) => {
                let _ = out_tx
                    .send(line(error_json(&format!("registry operation failed: {e}"))))
                    .await;
            }
        }
    });
    Ok(json_stream(out_rx))
}

fn json_stream(rx: mpsc::Receiver<Bytes>) -> Response {
    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, std::io::Error>));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `POST /auth`: checks the credentials against the registry; nothing is stored.
async fn login(State(d): State<AppState>, body: Bytes) -> ApiResult<Json<Value>> {
    let creds = AuthConfig::from_json(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let domain = endpoint::login_domain(&creds.serveraddress);
    match d.registries.login(&domain, &creds).await {
        Ok(token) => Ok(Json(json!({
            "IdentityToken": token.unwrap_or_default(),
            "Status": "Login Succeeded",
        }))),
        Err(e) if e.is_unauthorized() => {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
        }
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

/// `GET /distribution/{name}/json`: what the registry has for a name, without pulling:
/// the descriptor the tag (or digest) resolves to and the platforms it offers.
async fn distribution(
    State(d): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let name = rest
        .strip_suffix("/json")
        .ok_or_else(|| ApiError::not_found(format!("page not found: /distribution/{rest}")))?;
    let r = reference::parse_normalized_named(name)
        .map_err(ImagesError::from)?
        .with_default_tag();
    let auth = registry_auth(&headers);
    let not_found =
        |e: crate::registry::RegistryError| ApiError::from(crate::images::pull::pull_error(e, &r));
    let session = d
        .registries
        .session(r.domain(), r.path(), &auth, &["pull"])
        .await
        .map_err(|e| {
            if e.is_unauthorized() {
                ApiError::new(StatusCode::UNAUTHORIZED, e.to_string())
            } else {
                not_found(e)
            }
        })?;
    let tag_or_digest = r.digest().or(r.tag()).unwrap_or(reference::DEFAULT_TAG);
    let top = session.manifest(tag_or_digest).await.map_err(not_found)?;
    let platforms: Vec<Value> = match manifest::parse(&top.media_type, &top.bytes)
        .map_err(|e| ApiError::internal(e.to_string()))?
    {
        Document::Index(i) => i
            .manifests
            .iter()
            .filter_map(|m| m.platform.as_ref())
            .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
            .collect(),
        Document::Manifest(m) => {
            let config = session
                .blob_bytes(&m.config.digest, m.config.size)
                .await
                .map_err(not_found)?;
            let p: manifest::Platform = serde_json::from_slice(&config).unwrap_or_default();
            vec![serde_json::to_value(p).unwrap_or(Value::Null)]
        }
    };
    Ok(Json(json!({
        "Descriptor": {
            "mediaType": top.media_type,
            "digest": top.digest,
            "size": top.bytes.len(),
        },
        "Platforms": platforms,
    })))
}

/// `GET /images/search?term=&limit=&filters=`: the registry's v1 search API (Docker
/// Hub's index for plain names), filtered as dockerd filters it.
async fn search(
    State(d): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<search::SearchResult>>> {
    let limit = q
        .iter()
        .find(|(k, _)| k == "limit")
        .map(|(_, v)| v.as_str());
    let fail = |e: search::SearchError| {
        if e.is_client_error() {
            ApiError::bad_request(e.to_string())
        } else {
            ApiError::internal(e.to_string())
        }
    };
    let plan = search::plan(first_of(&q, "term"), limit, first_of(&q, "filters")).map_err(fail)?;
    // dockerd searches without credentials when X-Registry-Auth does not decode.
    let creds = registry_auth(&headers);
    let results = d.registries.search(&plan, &creds).await.map_err(fail)?;
    Ok(Json(results))
}
