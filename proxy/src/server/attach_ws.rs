//! `GET /containers/{id}/attach/ws`: an attach session over a WebSocket, as dockerd's
//! `wsContainersAttach`: stdin, stdout and stderr always, `logs` and `stream` as asked,
//! output unframed (no stdcopy headers, whatever the TTY), one message per chunk, binary
//! messages from API 1.28 on and text before.
//!
//! The session itself is the one `attach` runs on hijacked connections; this module only
//! carries its bytes over WebSocket messages (through an in-memory duplex).

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use futures::{SinkExt, StreamExt};
use spec::api::ApiVersion;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::containers::{detach_keys, session_parts};
use super::error::{ApiError, ApiResult};
use super::params::{self, bool_param};
use super::{attach, AppState};

/// Bytes in flight between the WebSocket and the session, each way.
const PIPE: usize = 64 * 1024;

pub async fn handler(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
    Extension(version): Extension<ApiVersion>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // An unknown container is a 404 before any handshake, as dockerd answers it.
    let c = d.containers.get(&id)?;
    let rec = c.record();
    let opts = attach::Options {
        stdin: true,
        stdout: true,
        stderr: true,
        // Unframed output: dockerd attaches WebSockets with MuxStreams off.
        tty: true,
        stdin_once: rec.config.stdin_once.unwrap_or(false),
        detach_keys: detach_keys(q.get("detachKeys"))?,
    };
    let ws = ws.map_err(|e| ApiError::bad_request(format!("not a WebSocket handshake: {e}")))?;
    let (backlog, output, stdin) =
        session_parts(&c, bool_param(&q, "stream")?, bool_param(&q, "logs")?, true).await;
    let binary = version >= ApiVersion::new(1, 28);
    d.containers.emit(&c, "attach", HashMap::new());
    Ok(ws.on_upgrade(move |socket| async move {
        let (session_end, pump_end) = tokio::io::duplex(PIPE);
        let session = tokio::spawn(attach::run(session_end, opts, backlog, output, stdin, None));
        pump(socket, pump_end, binary).await;
        // The client went away or the output ended: either way the session is over.
        session.abort();
    }))
}

/// Carries the session's output to the socket as messages and the client's messages to
/// the session's stdin, until the output ends (then the socket is closed) or the client
/// closes (then stdin is half-closed and the remaining output still goes out).
async fn pump(socket: WebSocket, session: DuplexStream, binary: bool) {
    let (mut tx, mut rx) = socket.split();
    let (mut from_session, mut to_session) = tokio::io::split(session);
    let mut client_open = true;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            n = from_session.read(&mut buf) => {
                let n = match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                let msg = if binary {
                    Message::Binary(bytes::Bytes::copy_from_slice(chunk))
                } else {
                    // Text messages must be UTF-8 here; Go's x/net/websocket sent the
                    // bytes as they were.
                    Message::Text(String::from_utf8_lossy(chunk).into_owned().into())
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
            m = rx.next(), if client_open => match m {
                Some(Ok(Message::Binary(b))) => {
                    if to_session.write_all(&b).await.is_err() {
                        client_open = false;
                    }
                }
                Some(Ok(Message::Text(t))) => {
                    if to_session.write_all(t.as_bytes()).await.is_err() {
                        client_open = false;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    client_open = false;
                    let _ = to_session.shutdown().await;
                }
            },
        }
    }
    let _ = tx
        .send(Message::Close(Some(CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
    let _ = tx.close().await;
}
