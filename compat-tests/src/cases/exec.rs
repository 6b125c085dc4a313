//! Exec: create, start (detached / hijacked / tty / stdin), inspect, errors.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use serde_json::{json, Value};

use super::{b, contains, eq, i, s};
use crate::ctx::Ctx;
use crate::http::{self, demux, stream_text};
use crate::runner::{Case, Outcome};

const A: &str = "exec";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "create_201_schema", (1, 24), create_schema),
        Case::new(A, "create_not_running_409", (1, 24), create_not_running),
        Case::new(A, "create_missing_container_404", (1, 24), create_missing),
        Case::new(A, "create_without_cmd_400", (1, 24), create_no_cmd),
        Case::new(A, "start_detached", (1, 24), start_detached),
        Case::new(A, "start_upgrade_101", (1, 24), start_upgrade),
        Case::new(A, "start_multiplexed_output", (1, 24), start_multiplexed),
        Case::new(
            A,
            "start_without_upgrade_hijacks",
            (1, 24),
            start_no_upgrade,
        ),
        Case::new(A, "start_tty_raw", (1, 24), start_tty),
        Case::new(A, "start_stdin_roundtrip", (1, 24), start_stdin),
        Case::new(A, "exit_code_in_inspect", (1, 24), exit_code),
        Case::new(A, "inspect_schema", (1, 24), inspect_schema),
        Case::new(A, "inspect_fields", (1, 24), inspect_fields),
        Case::new(A, "inspect_running", (1, 24), inspect_running),
        Case::new(A, "inspect_missing_404", (1, 24), inspect_missing),
        Case::new(A, "start_missing_404", (1, 24), start_missing),
        Case::new(A, "env", (1, 25), env),
        Case::new(A, "working_dir", (1, 35), working_dir),
        Case::new(A, "user", (1, 24), user),
        Case::new(A, "missing_binary_exit_126", (1, 24), missing_binary),
        Case::new(A, "start_twice_conflict", (1, 24), start_twice),
        Case::new(A, "resize_tty_exec", (1, 24), resize),
        Case::new(A, "container_lists_exec_ids", (1, 24), exec_ids),
        Case::new(A, "paused_container_409", (1, 24), paused),
    ]
}

fn create_exec(ctx: &mut Ctx, id: &str, cfg: Value) -> Result<String> {
    let r = ctx.post_json(&format!("/containers/{id}/exec"), &cfg)?;
    ctx.expect(&r, 201)?;
    Ok(s(&r.json()?, "/Id").to_string())
}

/// Starts an exec attached over an upgraded connection; returns the raw
/// output (read to EOF).
fn run_attached(ctx: &mut Ctx, exec: &str, tty: bool, stdin: Option<&[u8]>) -> Result<Vec<u8>> {
    let req = ctx
        .req("POST", &format!("/exec/{exec}/start"))
        .json(&json!({"Detach": false, "Tty": tty}))
        .upgrade()
        .timeout(Duration::from_secs(30));
    let (head, mut c) = http::hijack(&ctx.ep, &req)?;
    ctx.record(
        &req,
        &http::Response {
            head: head.clone(),
            body: Vec::new(),
            chunked: false,
        },
    );
    eq("status", head.status, 101)?;
    if let Some(data) = stdin {
        c.write_all(data)?;
        c.close_stdin()?;
    }
    c.read_to_end()
}

fn inspect_exec(ctx: &mut Ctx, exec: &str) -> Result<Value> {
    let r = ctx.get(&format!("/exec/{exec}/json"))?;
    ctx.expect(&r, 200)?;
    r.json()
}

/// Polls until the exec reports not running (a detached exec's end).
fn exec_done(ctx: &mut Ctx, exec: &str) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = inspect_exec(ctx, exec)?;
        if b(&v, "/Running") == Some(false) && v.get("ExitCode").is_some_and(|c| !c.is_null()) {
            return Ok(v);
        }
        ensure!(
            Instant::now() < deadline,
            "exec still running after 15s: {v}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn out(ctx: &mut Ctx, id: &str, cfg: Value) -> Result<(String, Value)> {
    let mut c = json!({"AttachStdout": true, "AttachStderr": true});
    crate::ctx::merge(&mut c, cfg);
    let e = create_exec(ctx, id, c)?;
    let raw = run_attached(ctx, &e, false, None)?;
    let frames = demux(&raw)?;
    let v = exec_done(ctx, &e)?;
    Ok((stream_text(&frames, 1), v))
}

fn create_schema(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post_json(&format!("/containers/{id}/exec"), &json!({"Cmd": ["true"]}))?;
    ctx.expect(&r, 201)?;
    let v = ctx.validate("post", "/containers/{id}/exec", &r)?;
    ensure!(s(&v, "/Id").len() == 64, "Id {:?}", s(&v, "/Id"));
    Ok(Outcome::Pass)
}

fn create_not_running(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let r = ctx.post_json(&format!("/containers/{id}/exec"), &json!({"Cmd": ["true"]}))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, &format!("Container {id} is not running"))?;
    Ok(Outcome::Pass)
}

fn create_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let name = format!("compat-missing-{}", ctx.run_id);
    let r = ctx.post_json(
        &format!("/containers/{name}/exec"),
        &json!({"Cmd": ["true"]}),
    )?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, &format!("No such container: {name}"))?;
    Ok(Outcome::Pass)
}

fn create_no_cmd(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post_json(&format!("/containers/{id}/exec"), &json!({}))?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "No exec command specified")?;
    Ok(Outcome::Pass)
}

fn start_detached(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(
        ctx,
        &id,
        json!({"Cmd": ["sh", "-c", "echo hi > /tmp/detached"]}),
    )?;
    let r = ctx.post_json(&format!("/exec/{e}/start"), &json!({"Detach": true}))?;
    ctx.expect(&r, 200)?;
    let v = exec_done(ctx, &e)?;
    eq("ExitCode", i(&v, "/ExitCode"), Some(0))?;
    let (o, _) = out(ctx, &id, json!({"Cmd": ["cat", "/tmp/detached"]}))?;
    eq("file", o, "hi\n".to_string())?;
    Ok(Outcome::Pass)
}

fn start_upgrade(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(
        ctx,
        &id,
        json!({"Cmd": ["echo", "x"], "AttachStdout": true}),
    )?;
    let req = ctx
        .req("POST", &format!("/exec/{e}/start"))
        .json(&json!({"Detach": false, "Tty": false}))
        .upgrade();
    let (head, mut c) = http::hijack(&ctx.ep, &req)?;
    eq(
        "status line",
        head.status_line.as_str(),
        "HTTP/1.1 101 UPGRADED",
    )?;
    eq("Connection", head.header("Connection"), Some("Upgrade"))?;
    eq("Upgrade", head.header("Upgrade"), Some("tcp"))?;
    contains(
        "Content-Type",
        head.content_type(),
        "application/vnd.docker.",
    )?;
    c.read_to_end()?;
    Ok(Outcome::Pass)
}

fn start_multiplexed(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(
        ctx,
        &id,
        json!({
            "Cmd": ["sh", "-c", "echo out; echo err >&2"], "AttachStdout": true, "AttachStderr": true,
        }),
    )?;
    let frames = demux(&run_attached(ctx, &e, false, None)?)?;
    eq("stdout", stream_text(&frames, 1), "out\n".to_string())?;
    eq("stderr", stream_text(&frames, 2), "err\n".to_string())?;
    Ok(Outcome::Pass)
}

fn start_no_upgrade(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(
        ctx,
        &id,
        json!({"Cmd": ["echo", "plain"], "AttachStdout": true}),
    )?;
    let req = ctx
        .req("POST", &format!("/exec/{e}/start"))
        .json(&json!({"Detach": false}));
    let (head, mut c) = http::hijack(&ctx.ep, &req)?;
    eq("status line", head.status_line.as_str(), "HTTP/1.1 200 OK")?;
    contains(
        "Content-Type",
        head.content_type(),
        "application/vnd.docker.",
    )?;
    let frames = demux(&c.read_to_end()?)?;
    eq("stdout", stream_text(&frames, 1), "plain\n".to_string())?;
    Ok(Outcome::Pass)
}

fn start_tty(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(
        ctx,
        &id,
        json!({"Cmd": ["echo", "hi"], "AttachStdout": true, "Tty": true}),
    )?;
    let raw = run_attached(ctx, &e, true, None)?;
    eq(
        "raw",
        String::from_utf8_lossy(&raw).into_owned(),
        "hi\r\n".to_string(),
    )?;
    Ok(Outcome::Pass)
}

fn start_stdin(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(
        ctx,
        &id,
        json!({
            "Cmd": ["cat"], "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
        }),
    )?;
    let frames = demux(&run_attached(ctx, &e, false, Some(b"via exec\n"))?)?;
    eq("stdout", stream_text(&frames, 1), "via exec\n".to_string())?;
    eq("ExitCode", i(&exec_done(ctx, &e)?, "/ExitCode"), Some(0))?;
    Ok(Outcome::Pass)
}

fn exit_code(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let (_, v) = out(ctx, &id, json!({"Cmd": ["sh", "-c", "exit 5"]}))?;
    eq("ExitCode", i(&v, "/ExitCode"), Some(5))?;
    Ok(Outcome::Pass)
}

fn inspect_schema(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(ctx, &id, json!({"Cmd": ["true"]}))?;
    let r = ctx.get(&format!("/exec/{e}/json"))?;
    ctx.expect(&r, 200)?;
    ctx.validate("get", "/exec/{id}/json", &r)?;
    Ok(Outcome::Pass)
}

fn inspect_fields(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(
        ctx,
        &id,
        json!({"Cmd": ["echo", "a", "b"], "AttachStdout": true}),
    )?;
    let v = inspect_exec(ctx, &e)?;
    eq("ID", s(&v, "/ID"), e.as_str())?;
    eq("ContainerID", s(&v, "/ContainerID"), id.as_str())?;
    eq("Running", b(&v, "/Running"), Some(false))?;
    eq("entrypoint", s(&v, "/ProcessConfig/entrypoint"), "echo")?;
    eq(
        "arguments",
        v.pointer("/ProcessConfig/arguments").cloned(),
        Some(json!(["a", "b"])),
    )?;
    eq("tty", b(&v, "/ProcessConfig/tty"), Some(false))?;
    eq("OpenStdout", b(&v, "/OpenStdout"), Some(true))?;
    eq("OpenStdin", b(&v, "/OpenStdin"), Some(false))?;
    Ok(Outcome::Pass)
}

fn inspect_running(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(ctx, &id, json!({"Cmd": ["sleep", "5"]}))?;
    let r = ctx.post_json(&format!("/exec/{e}/start"), &json!({"Detach": true}))?;
    ctx.expect(&r, 200)?;
    let v = inspect_exec(ctx, &e)?;
    eq("Running", b(&v, "/Running"), Some(true))?;
    ensure!(i(&v, "/Pid").unwrap_or(0) > 0, "Pid {:?}", v.get("Pid"));
    Ok(Outcome::Pass)
}

fn inspect_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/exec/compat-missing-exec/json")?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "No such exec instance: compat-missing-exec")?;
    Ok(Outcome::Pass)
}

fn start_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post_json("/exec/compat-missing-exec/start", &json!({"Detach": true}))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "No such exec instance")?;
    Ok(Outcome::Pass)
}

fn env(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({"Env": ["FROM_CONTAINER=1"]}))?;
    let (o, _) = out(ctx, &id, json!({"Cmd": ["env"], "Env": ["FROM_EXEC=2"]}))?;
    let lines: Vec<&str> = o.lines().collect();
    for want in ["FROM_CONTAINER=1", "FROM_EXEC=2"] {
        ensure!(lines.contains(&want), "exec env lacks {want}: {lines:?}");
    }
    Ok(Outcome::Pass)
}

fn working_dir(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({"WorkingDir": "/root"}))?;
    let (o, _) = out(ctx, &id, json!({"Cmd": ["pwd"]}))?;
    eq("default (container's)", o.trim(), "/root")?;
    let (o, _) = out(ctx, &id, json!({"Cmd": ["pwd"], "WorkingDir": "/tmp"}))?;
    eq("WorkingDir", o.trim(), "/tmp")?;
    Ok(Outcome::Pass)
}

fn user(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let (o, _) = out(ctx, &id, json!({"Cmd": ["id", "-u"], "User": "daemon"}))?;
    eq("uid", o.trim(), "1")?;
    let (o, _) = out(ctx, &id, json!({"Cmd": ["id", "-u"]}))?;
    eq("default uid", o.trim(), "0")?;
    Ok(Outcome::Pass)
}

fn missing_binary(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(
        ctx,
        &id,
        json!({"Cmd": ["/compat-nope"], "AttachStdout": true, "AttachStderr": true}),
    )?;
    let raw = run_attached(ctx, &e, false, None)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    contains("output", &text, "/compat-nope")?;
    eq("ExitCode", i(&exec_done(ctx, &e)?, "/ExitCode"), Some(126))?;
    Ok(Outcome::Pass)
}

fn start_twice(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(ctx, &id, json!({"Cmd": ["sleep", "5"]}))?;
    let r = ctx.post_json(&format!("/exec/{e}/start"), &json!({"Detach": true}))?;
    ctx.expect(&r, 200)?;
    let r = ctx.post_json(&format!("/exec/{e}/start"), &json!({"Detach": true}))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "already running")?;
    Ok(Outcome::Pass)
}

fn resize(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(ctx, &id, json!({"Cmd": ["sleep", "5"], "Tty": true}))?;
    let r = ctx.post_json(
        &format!("/exec/{e}/start"),
        &json!({"Detach": true, "Tty": true}),
    )?;
    ctx.expect(&r, 200)?;
    let r = ctx.post(&format!("/exec/{e}/resize?h=40&w=100"))?;
    ensure!(
        r.status() == 200 || r.status() == 201,
        "resize status {}: {}",
        r.status(),
        r.text()
    );
    Ok(Outcome::Pass)
}

fn exec_ids(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let e = create_exec(ctx, &id, json!({"Cmd": ["true"]}))?;
    let v = ctx.inspect(&id)?;
    let ids = v.get("ExecIDs").cloned().unwrap_or_default();
    ensure!(
        ids.as_array().is_some_and(|a| a.contains(&json!(e))),
        "ExecIDs {ids} lacks {e}"
    );
    Ok(Outcome::Pass)
}

fn paused(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post(&format!("/containers/{id}/pause"))?;
    ctx.expect(&r, 204)?;
    let r = ctx.post_json(&format!("/containers/{id}/exec"), &json!({"Cmd": ["true"]}))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "paused")?;
    let r = ctx.post(&format!("/containers/{id}/unpause"))?;
    ctx.expect(&r, 204).map_err(|e| anyhow!("unpause: {e}"))?;
    Ok(Outcome::Pass)
}
