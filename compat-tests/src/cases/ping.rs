//! `/_ping` and API version negotiation.

use anyhow::{ensure, Result};

use super::{contains, eq};
use crate::ctx::Ctx;
use crate::http::Request;
use crate::runner::{Case, Outcome};
use crate::version::ApiVersion;

const A: &str = "ping";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "get_ping_ok", (1, 24), get_ping_ok),
        Case::new(A, "ping_cache_headers", (1, 24), ping_cache_headers),
        Case::new(A, "ping_ostype_header", (1, 24), ping_ostype_header),
        Case::new(
            A,
            "ping_experimental_header",
            (1, 24),
            ping_experimental_header,
        ),
        Case::new(A, "head_ping", (1, 24), head_ping),
        Case::new(A, "versioned_ping", (1, 24), versioned_ping),
        Case::new(
            A,
            "ping_api_version_is_server_max",
            (1, 24),
            ping_api_version_is_server_max,
        ),
        Case::new(A, "version_too_new_rejected", (1, 24), version_too_new),
        Case::new(A, "version_too_old_rejected", (1, 24), version_too_old),
        Case::new(A, "unversioned_path_uses_latest", (1, 24), unversioned_path),
        Case::new(
            A,
            "old_version_prefix_accepted",
            (1, 24),
            old_version_prefix,
        ),
        Case::new(
            A,
            "api_version_header_on_errors",
            (1, 24),
            api_version_on_errors,
        ),
        Case::new(
            A,
            "negotiated_within_server_range",
            (1, 24),
            negotiated_within_range,
        ),
    ]
}

fn get_ping_ok(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(Request::new("GET", "/_ping"))?;
    ctx.expect(&r, 200)?;
    eq("body", r.text().as_str(), "OK")?;
    contains("Content-Type", r.head.content_type(), "text/plain")?;
    let v = r.header("Api-Version").unwrap_or_default();
    ensure!(
        v.parse::<ApiVersion>().is_ok(),
        "Api-Version header {v:?} is not X.Y"
    );
    Ok(Outcome::Pass)
}

fn ping_cache_headers(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(Request::new("GET", "/_ping"))?;
    eq(
        "Cache-Control",
        r.header("Cache-Control"),
        Some("no-cache, no-store, must-revalidate"),
    )?;
    eq("Pragma", r.header("Pragma"), Some("no-cache"))?;
    Ok(Outcome::Pass)
}

fn ping_ostype_header(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(Request::new("GET", "/_ping"))?;
    // The CLI reads it case-insensitively (Go canonicalises to "Ostype").
    eq("OSType", r.header("OSType"), Some("linux"))?;
    Ok(Outcome::Pass)
}

fn ping_experimental_header(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(Request::new("GET", "/_ping"))?;
    let v = r.header("Docker-Experimental").unwrap_or_default();
    ensure!(
        v == "true" || v == "false",
        "Docker-Experimental {v:?}, want true|false"
    );
    Ok(Outcome::Pass)
}

fn head_ping(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(Request::new("HEAD", "/_ping"))?;
    ctx.expect(&r, 200)?;
    ensure!(
        r.header("Api-Version").is_some(),
        "HEAD /_ping without Api-Version"
    );
    ensure!(r.body.is_empty(), "HEAD response has a body");
    Ok(Outcome::Pass)
}

fn versioned_ping(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/_ping")?;
    ctx.expect(&r, 200)?;
    eq("body", r.text().as_str(), "OK")?;
    Ok(Outcome::Pass)
}

fn ping_api_version_is_server_max(ctx: &mut Ctx) -> Result<Outcome> {
    // Asking with an older version prefix must not change the advertised
    // maximum: clients negotiate from it.
    let r = ctx.send(Request::new("GET", "/v1.24/_ping"))?;
    ctx.expect(&r, 200)?;
    let v = r.header("Api-Version").unwrap_or_default().to_string();
    eq("Api-Version", v, ctx.server_api.to_string())?;
    Ok(Outcome::Pass)
}

fn version_too_new(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(Request::new("GET", "/v9.99/version"))?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "client version 9.99 is too new")?;
    contains(
        "message",
        &m,
        &format!("Maximum supported API version is {}", ctx.server_api),
    )?;
    Ok(Outcome::Pass)
}

fn version_too_old(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(Request::new("GET", "/v1.0/version"))?;
    ctx.expect(&r, 400)?;
    // dockerd 20.10 sends this one as text/plain, newer ones as JSON.
    let m = r.message().unwrap_or_else(|| r.text());
    contains("message", &m, "client version 1.0 is too old")?;
    contains("message", &m, "Minimum supported API version is")?;
    Ok(Outcome::Pass)
}

fn unversioned_path(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(Request::new("GET", "/version"))?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    eq(
        "ApiVersion",
        super::s(&v, "/ApiVersion").to_string(),
        ctx.server_api.to_string(),
    )?;
    Ok(Outcome::Pass)
}

fn old_version_prefix(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(Request::new("GET", "/v1.24/version"))?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    ensure!(v.get("Version").is_some(), "no Version in {v}");
    Ok(Outcome::Pass)
}

fn api_version_on_errors(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/containers/compat-does-not-exist/json")?;
    ctx.expect(&r, 404)?;
    ensure!(
        r.header("Api-Version").is_some(),
        "404 without Api-Version header"
    );
    Ok(Outcome::Pass)
}

fn negotiated_within_range(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/version")?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    let min: ApiVersion = super::s(&v, "/MinAPIVersion").parse()?;
    let max: ApiVersion = super::s(&v, "/ApiVersion").parse()?;
    ensure!(
        min <= ctx.api && ctx.api <= max,
        "negotiated {} outside [{min}, {max}]",
        ctx.api
    );
    Ok(Outcome::Pass)
}
