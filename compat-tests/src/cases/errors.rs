//! Error handling: unknown routes and IDs on every container endpoint,
//! malformed requests, error body shape, connection handling.

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;

use super::{contains, eq};
use crate::ctx::Ctx;
use crate::http::Request;
use crate::runner::{Case, Outcome};

const A: &str = "errors";

/// One case per container endpoint: an unknown ID is a 404 with Docker's
/// `No such container: <ref>` JSON error.
macro_rules! missing_container_cases {
    ($($fn_name:ident, $case:literal, $method:literal, $suffix:literal;)*) => {
        $(
            fn $fn_name(ctx: &mut Ctx) -> Result<Outcome> {
                missing_container(ctx, $method, $suffix)
            }
        )*
        fn missing_container_cases() -> Vec<Case> {
            vec![$(Case::new(A, $case, (1, 24), $fn_name),)*]
        }
    };
}

missing_container_cases! {
    nc_json, "no_such_container_inspect", "GET", "/json";
    nc_start, "no_such_container_start", "POST", "/start";
    nc_stop, "no_such_container_stop", "POST", "/stop";
    nc_restart, "no_such_container_restart", "POST", "/restart";
    nc_kill, "no_such_container_kill", "POST", "/kill";
    nc_pause, "no_such_container_pause", "POST", "/pause";
    nc_unpause, "no_such_container_unpause", "POST", "/unpause";
    nc_top, "no_such_container_top", "GET", "/top";
    nc_changes, "no_such_container_changes", "GET", "/changes";
    nc_export, "no_such_container_export", "GET", "/export";
    nc_stats, "no_such_container_stats", "GET", "/stats?stream=false";
    nc_resize, "no_such_container_resize", "POST", "/resize?h=10&w=10";
    nc_delete, "no_such_container_delete", "DELETE", "";
}

fn missing_container(ctx: &mut Ctx, method: &str, suffix: &str) -> Result<Outcome> {
    let name = format!("compat-missing-{}", ctx.run_id);
    let r = ctx.send(ctx.req(method, &format!("/containers/{name}{suffix}")))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, &format!("No such container: {name}"))?;
    Ok(Outcome::Pass)
}

pub fn cases() -> Vec<Case> {
    let mut v = vec![
        Case::new(A, "unknown_route_404", (1, 24), unknown_route),
        Case::new(
            A,
            "unknown_route_unversioned_404",
            (1, 24),
            unknown_route_unversioned,
        ),
        Case::new(A, "wrong_method_404", (1, 24), wrong_method),
        Case::new(A, "error_body_is_json_message", (1, 24), error_body_shape),
        Case::new(A, "ambiguous_prefix_rejected", (1, 24), ambiguous_prefix),
        Case::new(A, "malformed_exec_json", (1, 24), malformed_exec_json),
        Case::new(A, "malformed_update_json", (1, 24), malformed_update_json),
        Case::new(A, "keepalive_two_requests", (1, 24), keepalive),
        Case::new(A, "pipelined_requests", (1, 24), pipelined),
        Case::new(A, "query_bool_forms", (1, 24), query_bools),
        Case::new(A, "no_such_image_history", (1, 24), no_such_image_history),
        Case::new(A, "no_such_exec_resize", (1, 24), no_such_exec_resize),
    ];
    v.extend(missing_container_cases());
    v
}

fn unknown_route(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/compat/no/such/route")?;
    let m = ctx.expect_error(&r, 404)?;
    eq("message", m.as_str(), "page not found")?;
    Ok(Outcome::Pass)
}

/// A path the API has, with a method it has not there (`PATCH /containers/json`, `PUT
/// /volumes/{name}` before cluster volumes): the same 404 as an unknown path.
fn wrong_method(ctx: &mut Ctx) -> Result<Outcome> {
    for (method, path) in [
        ("PATCH", "/containers/json"),
        ("DELETE", "/_ping"),
        ("DELETE", "/version"),
    ] {
        let r = ctx.send(ctx.req(method, path))?;
        let m = ctx
            .expect_error(&r, 404)
            .with_context(|| format!("{method} {path}"))?;
        eq("message", m.as_str(), "page not found")?;
    }
    Ok(Outcome::Pass)
}

fn unknown_route_unversioned(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(Request::new("GET", "/compat-nope"))?;
    let m = ctx.expect_error(&r, 404)?;
    eq("message", m.as_str(), "page not found")?;
    Ok(Outcome::Pass)
}

fn error_body_shape(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!("/containers/compat-missing-{}/json", ctx.run_id))?;
    ctx.expect(&r, 404)?;
    let v = r.json()?;
    ctx.schema.validate_definition("ErrorResponse", &v)?;
    eq("Content-Type", r.head.content_type(), "application/json")?;
    Ok(Outcome::Pass)
}

fn ambiguous_prefix(ctx: &mut Ctx) -> Result<Outcome> {
    // Two containers whose IDs share a one-character prefix are almost
    // certain among 17; a 1-char prefix shared by several must not resolve.
    let mut ids = Vec::new();
    for _ in 0..17 {
        ids.push(ctx.create(json!({"Cmd": ["true"]}))?);
    }
    let mut counts = std::collections::HashMap::new();
    for id in &ids {
        *counts.entry(id[..1].to_string()).or_insert(0) += 1;
    }
    let Some((prefix, _)) = counts.iter().find(|(_, n)| **n > 1) else {
        return Ok(Outcome::Skip(
            "no shared one-character prefix among 17 IDs".into(),
        ));
    };
    let prefix = prefix.clone();
    let r = ctx.get(&format!("/containers/{prefix}/json"))?;
    ensure!(
        r.status() >= 400,
        "ambiguous prefix {prefix:?} resolved: {}",
        r.status()
    );
    ensure!(
        r.status() != 500 || r.message().is_some(),
        "500 without a message"
    );
    Ok(Outcome::Pass)
}

fn malformed_exec_json(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let req = ctx
        .req("POST", &format!("/containers/{id}/exec"))
        .body_with_type(b"{\"Cmd\": [".to_vec(), "application/json");
    let r = ctx.send(req)?;
    // 400 since Docker 23; 20.10 answered 500.
    ctx.expect_error_in(&r, &[400, 500])?;
    Ok(Outcome::Pass)
}

fn malformed_update_json(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let req = ctx
        .req("POST", &format!("/containers/{id}/update"))
        .body_with_type(b"not json".to_vec(), "application/json");
    let r = ctx.send(req)?;
    ctx.expect_error_in(&r, &[400, 500])?;
    Ok(Outcome::Pass)
}

/// Reads one response with Content-Length framing from a kept-alive
/// connection.
fn read_one<R: BufRead>(r: &mut R) -> Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            bail!("connection closed in headers");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok((status, body))
}

fn keepalive(ctx: &mut Ctx) -> Result<Outcome> {
    // Clients reuse connections: two requests, one after the other.
    let mut s = ctx.ep.connect(Duration::from_secs(10))?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n",
        ctx.url("/_ping")
    );
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s.try_clone()?);
    let (st, body) = read_one(&mut r)?;
    eq("first", (st, body), (200, b"OK".to_vec()))?;
    s.write_all(req.as_bytes())?;
    let (st, body) = read_one(&mut r)?;
    eq("second", (st, body), (200, b"OK".to_vec()))?;
    Ok(Outcome::Pass)
}

fn pipelined(ctx: &mut Ctx) -> Result<Outcome> {
    let mut s = ctx.ep.connect(Duration::from_secs(10))?;
    let one = format!(
        "GET {} HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n",
        ctx.url("/_ping")
    );
    s.write_all(format!("{one}{one}").as_bytes())?;
    let mut r = BufReader::new(s.try_clone()?);
    for n in ["first", "second"] {
        let (st, body) = read_one(&mut r)?;
        eq(n, (st, body), (200, b"OK".to_vec()))?;
    }
    Ok(Outcome::Pass)
}

fn query_bools(ctx: &mut Ctx) -> Result<Outcome> {
    // Docker's BoolValue: "", "0", "no", "false", "none" are false, the rest true.
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    for (q, want) in [
        ("1", true),
        ("true", true),
        ("True", true),
        ("0", false),
        ("false", false),
        ("no", false),
    ] {
        let r = ctx.get(&format!(
            "/containers/json?all={q}&filters={}",
            crate::ctx::filters(&json!({"id": [id]}))
        ))?;
        ctx.expect(&r, 200)?;
        let n = r.json()?.as_array().map(Vec::len).unwrap_or(0);
        eq(&format!("all={q}"), n == 1, want)?;
    }
    Ok(Outcome::Pass)
}

fn no_such_image_history(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!("/images/compat-missing:{}/history", ctx.run_id))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "No such image")?;
    Ok(Outcome::Pass)
}

fn no_such_exec_resize(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post("/exec/compat-missing-exec/resize?h=10&w=10")?;
    ctx.expect_error(&r, 404)?;
    Ok(Outcome::Pass)
}
