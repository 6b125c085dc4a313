//! Attach: upgrade handshake, raw and multiplexed framing, stdin.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;

use super::{contains, eq};
use crate::ctx::Ctx;
use crate::http::{self, demux, stream_text, Head, Hijacked};
use crate::runner::{Case, Outcome};
use crate::version::ApiVersion;

const A: &str = "attach";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "upgrade_101_status_line", (1, 24), upgrade_status_line),
        Case::new(A, "upgrade_headers", (1, 24), upgrade_headers),
        Case::new(
            A,
            "raw_stream_content_type_1_41",
            (1, 24),
            raw_stream_content_type,
        ),
        Case::new(
            A,
            "multiplexed_content_type",
            (1, 42),
            multiplexed_content_type,
        ),
        Case::new(A, "multiplexed_stdout_stderr", (1, 24), multiplexed_frames),
        Case::new(A, "tty_raw_stream", (1, 24), tty_raw),
        Case::new(A, "stdin_roundtrip", (1, 24), stdin_roundtrip),
        Case::new(A, "stderr_only", (1, 24), stderr_only),
        Case::new(
            A,
            "without_upgrade_header_hijacks",
            (1, 24),
            without_upgrade,
        ),
        Case::new(A, "logs_replay_after_exit", (1, 24), logs_replay),
        Case::new(A, "missing_container_404", (1, 24), missing),
        Case::new(A, "closes_when_container_exits", (1, 24), closes_on_exit),
        Case::new(
            A,
            "websocket_stdin_and_raw_output",
            (1, 28),
            ws_stdin_output,
        ),
        Case::new(A, "websocket_logs_replay", (1, 28), ws_logs_replay),
        Case::new(A, "websocket_missing_container_404", (1, 24), ws_missing),
    ]
}

/// Hijacks `/containers/{id}/attach` with the CLI's upgrade headers.
fn attach(ctx: &mut Ctx, id: &str, query: &str, upgrade: bool) -> Result<(Head, Hijacked)> {
    let mut req = ctx
        .req("POST", &format!("/containers/{id}/attach?{query}"))
        .timeout(Duration::from_secs(30));
    if upgrade {
        req = req.upgrade();
    }
    let (head, conn) = http::hijack(&ctx.ep, &req)?;
    let resp = http::Response {
        head: head.clone(),
        body: Vec::new(),
        chunked: false,
    };
    ctx.record(&req, &resp);
    Ok((head, conn))
}

fn upgrade_status_line(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["echo", "hi"], "AttachStdout": true}))?;
    let (head, _c) = attach(ctx, &id, "stream=1&stdout=1", true)?;
    eq(
        "status line",
        head.status_line.as_str(),
        "HTTP/1.1 101 UPGRADED",
    )?;
    Ok(Outcome::Pass)
}

fn upgrade_headers(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["echo", "hi"], "AttachStdout": true}))?;
    let (head, _c) = attach(ctx, &id, "stream=1&stdout=1", true)?;
    eq("Connection", head.header("Connection"), Some("Upgrade"))?;
    eq("Upgrade", head.header("Upgrade"), Some("tcp"))?;
    ensure!(
        !head.has_header("Content-Length"),
        "hijacked response with Content-Length"
    );
    ensure!(
        !head.has_header("Transfer-Encoding"),
        "hijacked response with Transfer-Encoding"
    );
    Ok(Outcome::Pass)
}

fn raw_stream_content_type(ctx: &mut Ctx) -> Result<Outcome> {
    if ctx.api >= ApiVersion(1, 42) {
        return Ok(Outcome::Skip(
            "API >= 1.42 distinguishes multiplexed streams".into(),
        ));
    }
    let id = ctx.create(json!({"Cmd": ["echo", "hi"], "AttachStdout": true}))?;
    let (head, _c) = attach(ctx, &id, "stream=1&stdout=1", true)?;
    eq(
        "Content-Type",
        head.content_type(),
        "application/vnd.docker.raw-stream",
    )?;
    Ok(Outcome::Pass)
}

fn multiplexed_content_type(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["echo", "hi"], "AttachStdout": true}))?;
    let (head, _c) = attach(ctx, &id, "stream=1&stdout=1", true)?;
    eq(
        "Content-Type (no tty)",
        head.content_type(),
        "application/vnd.docker.multiplexed-stream",
    )?;
    let id = ctx.create(json!({"Cmd": ["echo", "hi"], "AttachStdout": true, "Tty": true}))?;
    let (head, _c) = attach(ctx, &id, "stream=1&stdout=1", true)?;
    eq(
        "Content-Type (tty)",
        head.content_type(),
        "application/vnd.docker.raw-stream",
    )?;
    Ok(Outcome::Pass)
}

fn multiplexed_frames(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({
        "Cmd": ["sh", "-c", "echo out; sleep 0.1; echo err >&2; sleep 0.1; echo out2"],
        "AttachStdout": true, "AttachStderr": true,
    }))?;
    let (head, mut c) = attach(ctx, &id, "stream=1&stdout=1&stderr=1", true)?;
    eq("status", head.status, 101)?;
    ctx.start(&id)?;
    let raw = c.read_to_end()?;
    let frames = demux(&raw)?;
    eq("stdout", stream_text(&frames, 1), "out\nout2\n".to_string())?;
    eq("stderr", stream_text(&frames, 2), "err\n".to_string())?;
    Ok(Outcome::Pass)
}

fn tty_raw(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["echo", "hi"], "Tty": true, "AttachStdout": true}))?;
    let (_, mut c) = attach(ctx, &id, "stream=1&stdout=1&stderr=1", true)?;
    ctx.start(&id)?;
    let raw = c.read_to_end()?;
    // A tty stream is not framed; the pty turns \n into \r\n.
    eq(
        "raw",
        String::from_utf8_lossy(&raw).into_owned(),
        "hi\r\n".to_string(),
    )?;
    Ok(Outcome::Pass)
}

fn stdin_roundtrip(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({
        "Cmd": ["cat"], "OpenStdin": true, "StdinOnce": true,
        "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
    }))?;
    let (head, mut c) = attach(ctx, &id, "stream=1&stdin=1&stdout=1&stderr=1", true)?;
    eq("status", head.status, 101)?;
    ctx.start(&id)?;
    c.write_all(b"ping\nsecond line\n")?;
    c.close_stdin()?;
    let raw = c.read_to_end()?;
    let frames = demux(&raw)?;
    eq(
        "echoed",
        stream_text(&frames, 1),
        "ping\nsecond line\n".to_string(),
    )?;
    eq("exit", ctx.wait(&id)?, 0)?;
    Ok(Outcome::Pass)
}

fn stderr_only(ctx: &mut Ctx) -> Result<Outcome> {
    let id =
        ctx.create(json!({"Cmd": ["sh", "-c", "echo out; echo err >&2"], "AttachStderr": true}))?;
    let (_, mut c) = attach(ctx, &id, "stream=1&stderr=1", true)?;
    ctx.start(&id)?;
    let frames = demux(&c.read_to_end()?)?;
    ensure!(
        frames.iter().all(|f| f.stream == 2),
        "non-stderr frames: {frames:?}"
    );
    eq("stderr", stream_text(&frames, 2), "err\n".to_string())?;
    Ok(Outcome::Pass)
}

fn without_upgrade(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["echo", "plain"], "AttachStdout": true}))?;
    let (head, mut c) = attach(ctx, &id, "stream=1&stdout=1", false)?;
    // Old clients attach without Upgrade: the connection is still hijacked.
    eq("status line", head.status_line.as_str(), "HTTP/1.1 200 OK")?;
    contains(
        "Content-Type",
        head.content_type(),
        "application/vnd.docker",
    )?;
    ctx.start(&id)?;
    let frames = demux(&c.read_to_end()?)?;
    eq("stdout", stream_text(&frames, 1), "plain\n".to_string())?;
    Ok(Outcome::Pass)
}

fn logs_replay(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(&["sh", "-c", "echo before; echo e >&2"], json!({}))?;
    let (head, mut c) = attach(ctx, &id, "logs=1&stream=0&stdout=1&stderr=1", true)?;
    eq("status", head.status, 101)?;
    let frames = demux(&c.read_to_end()?)?;
    eq("stdout", stream_text(&frames, 1), "before\n".to_string())?;
    eq("stderr", stream_text(&frames, 2), "e\n".to_string())?;
    Ok(Outcome::Pass)
}

fn missing(ctx: &mut Ctx) -> Result<Outcome> {
    let name = format!("compat-missing-{}", ctx.run_id);
    let req = ctx
        .req(
            "POST",
            &format!("/containers/{name}/attach?stream=1&stdout=1"),
        )
        .upgrade();
    let r = ctx.send(req)?;
    ctx.expect(&r, 404)?;
    // dockerd 20.10 answers on the hijacked connection in plain text; newer
    // daemons send a JSON error. Clients only show the text.
    let m = r.message().unwrap_or_else(|| r.text());
    contains("message", &m, &format!("No such container: {name}"))?;
    Ok(Outcome::Pass)
}

fn closes_on_exit(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({"AttachStdout": true}))?;
    let (_, mut c) = attach(ctx, &id, "stream=1&stdout=1", true)?;
    ctx.stop(&id)?;
    c.set_read_timeout(Duration::from_secs(15))?;
    let rest = c.read_to_end()?;
    ensure!(demux(&rest).is_ok(), "trailing bytes are not frames");
    Ok(Outcome::Pass)
}

/// Opens `/containers/{id}/attach/ws?{query}` (recorded in the trace like any request).
fn ws_attach(ctx: &mut Ctx, id: &str, query: &str) -> Result<http::WsOpen> {
    let req = ctx
        .req("GET", &format!("/containers/{id}/attach/ws?{query}"))
        .timeout(Duration::from_secs(30));
    let open = http::websocket(&ctx.ep, &req)?;
    match &open {
        http::WsOpen::Open(_, r) | http::WsOpen::Refused(r) => ctx.record(&req, r),
    }
    Ok(open)
}

/// Reads messages until the engine closes the socket: the bytes, and whether every data
/// message was binary.
fn ws_read_all(ws: &mut tungstenite::WebSocket<http::Stream>) -> Result<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut all_binary = true;
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Binary(b)) => out.extend_from_slice(&b),
            Ok(tungstenite::Message::Text(t)) => {
                all_binary = false;
                out.extend_from_slice(t.as_bytes());
            }
            Ok(tungstenite::Message::Close(_)) => continue,
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => break,
            // The engine may drop the connection without a close handshake.
            Err(tungstenite::Error::Io(_) | tungstenite::Error::Protocol(_)) => break,
            Err(e) => bail!("reading the WebSocket: {e}"),
        }
    }
    Ok((out, all_binary))
}

/// stdin, stdout and stderr all ride one socket, unframed (no stdcopy headers even
/// without a TTY), in binary messages from API 1.28 on; the socket closes when the
/// process exits.
fn ws_stdin_output(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({
        "Cmd": ["sh", "-c", "read l; echo out:$l; echo err:$l >&2"],
        "OpenStdin": true,
    }))?;
    ctx.start(&id)?;
    let http::WsOpen::Open(mut ws, head) = ws_attach(ctx, &id, "stream=1")? else {
        bail!("the WebSocket handshake was refused");
    };
    eq("status", head.status(), 101)?;
    ws.send(tungstenite::Message::Binary(b"hi\n".to_vec().into()))
        .context("sending stdin")?;
    let (out, binary) = ws_read_all(&mut ws)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    ensure!(binary, "text messages at API {}", ctx.api);
    contains("output", &text, "out:hi\n")?;
    contains("output", &text, "err:hi\n")?;
    eq("unframed", out.len(), "out:hi\nerr:hi\n".len())?;
    Ok(Outcome::Pass)
}

/// `logs=1&stream=0` on an exited container: what it printed, then the socket closes.
fn ws_logs_replay(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(&["sh", "-c", "echo before; echo e >&2"], json!({}))?;
    let http::WsOpen::Open(mut ws, _) = ws_attach(ctx, &id, "logs=1&stream=0")? else {
        bail!("the WebSocket handshake was refused");
    };
    let (out, _) = ws_read_all(&mut ws)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    contains("replay", &text, "before\n")?;
    contains("replay", &text, "e\n")?;
    eq("unframed", out.len(), "before\ne\n".len())?;
    Ok(Outcome::Pass)
}

fn ws_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let name = format!("compat-missing-{}", ctx.run_id);
    let http::WsOpen::Refused(r) = ws_attach(ctx, &name, "stream=1")? else {
        bail!("a WebSocket opened on a missing container");
    };
    ctx.expect(&r, 404)?;
    let m = r.message().unwrap_or_else(|| r.text());
    contains("message", &m, &format!("No such container: {name}"))?;
    Ok(Outcome::Pass)
}
