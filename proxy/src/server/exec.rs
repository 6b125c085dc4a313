//! `docker exec`: `/containers/{id}/exec`, `/exec/{id}/start|json|resize`.

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use spec::api::models::{ExecConfig, ExecStartConfig};
use spec::api::ApiVersion;

use super::error::{ApiError, ApiResult};
use super::params;
use super::{attach, stdcopy, upgrade, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

async fn create(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let config: ExecConfig = params::json_body(&body)?;
    let exec_id = d.containers.exec_create(&id, config)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": exec_id })),
    ))
}

async fn inspect(
    State(d): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let exec = d.containers.execs.get(&id)?;
    Ok(Json(exec.inspect()))
}

async fn resize(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<StatusCode> {
    let (w, h) = params::tty_size(&q)?;
    d.containers.exec_resize(&id, w, h).await?;
    Ok(StatusCode::OK)
}

async fn start(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Extension(version): Extension<ApiVersion>,
    mut req: Request,
) -> ApiResult<Response> {
    let exec = d.containers.execs.get(&id)?;
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?;
    let cfg: ExecStartConfig = params::json_body(&body)?;
    if cfg.detach.unwrap_or(false) {
        d.containers.exec_start(&exec).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let tty = exec.tty();
    let opts = attach::Options {
        stdin: exec.config.attach_stdin.unwrap_or(false),
        stdout: exec.config.attach_stdout.unwrap_or(false),
        stderr: exec.config.attach_stderr.unwrap_or(false),
        tty,
        // An exec's stdin ends with the client's: `docker exec -i` half-closes at EOF.
        stdin_once: true,
        detach_keys: super::containers::detach_keys(exec.config.detach_keys.as_ref())?,
    };
    // Subscribe before the process exists, so not a byte of output is lost.
    let output = exec.hub.subscribe();
    let stdin = opts.stdin.then(|| exec.hub.stdin());
    if !upgrade::wants_upgrade(&req) {
        return Err(ApiError::bad_request(
            "exec start needs a connection upgrade (Upgrade: tcp)",
        ));
    }
    // Checked before the hijack, so these are HTTP errors.
    d.containers.exec_claim(&exec)?;
    let (on_upgrade, resp) = upgrade::accept(&mut req, stdcopy::content_type(tty, version));
    let manager = d.containers.clone();
    tokio::spawn(async move {
        // The head is on the wire before the process exists: clients that read it through
        // a buffered reader (Python's http.client, hence docker-py) and then read the raw
        // socket would lose stream bytes that arrived with it.
        let Some(mut conn) = upgrade::take(on_upgrade).await else {
            return;
        };
        // As dockerd does, a process that could not start is reported on the stream, with
        // exit code 126 in inspect.
        if let Err(e) = manager.exec_run(&exec).await {
            use tokio::io::AsyncWriteExt;
            let text = bytes::Bytes::from(format!("{e}\r\n"));
            let kind = crate::containers::logs::StreamKind::Stdout;
            let _ = conn.write_all(&stdcopy::encode(tty, kind, text)).await;
            let _ = conn.shutdown().await;
            return;
        }
        let mut done = exec.done();
        let exited: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
            Box::pin(async move {
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    done.wait_for(Option::is_some),
                )
                .await;
            });
        attach::run(conn, opts, Vec::new(), Some(output), stdin, Some(exited)).await;
    });
    Ok(resp)
}
