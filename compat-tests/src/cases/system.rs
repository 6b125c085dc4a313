//! `/version`, `/info`, `/system/df`.

use anyhow::{ensure, Result};
use serde_json::json;

use super::{contains, eq, i, s};
use crate::ctx::Ctx;
use crate::runner::{Case, Outcome};

const A: &str = "system";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "version_schema", (1, 24), version_schema),
        Case::new(A, "version_fields", (1, 24), version_fields),
        Case::new(A, "version_components_engine", (1, 35), version_components),
        Case::new(A, "version_content_type", (1, 24), version_content_type),
        Case::new(A, "info_schema", (1, 24), info_schema),
        Case::new(A, "info_fields", (1, 24), info_fields),
        Case::new(A, "info_swarm_inactive", (1, 24), info_swarm),
        Case::new(
            A,
            "info_server_version_matches",
            (1, 24),
            info_server_version,
        ),
        Case::new(A, "info_counts_containers", (1, 24), info_counts),
        Case::new(A, "system_df_schema", (1, 25), system_df),
        Case::new(A, "system_df_lists_test_image", (1, 25), system_df_image),
    ]
}

fn version_schema(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/version")?;
    ctx.expect(&r, 200)?;
    ctx.validate("get", "/version", &r)?;
    Ok(Outcome::Pass)
}

fn version_fields(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/version")?;
    let v = r.json()?;
    eq("Os", s(&v, "/Os"), "linux")?;
    eq("Arch", s(&v, "/Arch"), "amd64")?;
    for f in [
        "Version",
        "ApiVersion",
        "MinAPIVersion",
        "GitCommit",
        "GoVersion",
        "KernelVersion",
    ] {
        ensure!(
            v.get(f).is_some_and(|x| x.is_string()),
            "{f} missing or not a string in {v}"
        );
    }
    ensure!(!s(&v, "/Version").is_empty(), "empty Version");
    Ok(Outcome::Pass)
}

fn version_components(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/version")?;
    let v = r.json()?;
    let comps = v["Components"].as_array().cloned().unwrap_or_default();
    let engine = comps.iter().find(|c| c["Name"] == "Engine");
    ensure!(engine.is_some(), "no Engine component in {v}");
    if let Some(e) = engine {
        eq("Engine.Version", s(e, "/Version"), s(&v, "/Version"))?;
    }
    Ok(Outcome::Pass)
}

fn version_content_type(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/version")?;
    eq("Content-Type", r.head.content_type(), "application/json")?;
    Ok(Outcome::Pass)
}

fn info_schema(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/info")?;
    ctx.expect(&r, 200)?;
    ctx.validate("get", "/info", &r)?;
    Ok(Outcome::Pass)
}

fn info_fields(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/info")?;
    let v = r.json()?;
    eq("OSType", s(&v, "/OSType"), "linux")?;
    eq("Architecture", s(&v, "/Architecture"), "x86_64")?;
    ensure!(i(&v, "/NCPU").unwrap_or(0) > 0, "NCPU not positive");
    ensure!(i(&v, "/MemTotal").unwrap_or(0) > 0, "MemTotal not positive");
    ensure!(!s(&v, "/ID").is_empty(), "empty ID");
    ensure!(!s(&v, "/Name").is_empty(), "empty Name");
    ensure!(
        i(&v, "/Images").unwrap_or(0) >= 1,
        "Images < 1 with the test image loaded"
    );
    Ok(Outcome::Pass)
}

/// An engine outside swarm mode says so (`docker info` prints `Swarm: inactive`).
fn info_swarm(ctx: &mut Ctx) -> Result<Outcome> {
    let v = ctx.get("/info")?.json()?;
    eq(
        "Swarm.LocalNodeState",
        s(&v, "/Swarm/LocalNodeState"),
        "inactive",
    )?;
    eq("Swarm.NodeID", s(&v, "/Swarm/NodeID"), "")?;
    Ok(Outcome::Pass)
}

fn info_server_version(ctx: &mut Ctx) -> Result<Outcome> {
    let info = ctx.get("/info")?.json()?;
    let ver = ctx.get("/version")?.json()?;
    eq(
        "ServerVersion",
        s(&info, "/ServerVersion"),
        s(&ver, "/Version"),
    )?;
    Ok(Outcome::Pass)
}

fn info_counts(ctx: &mut Ctx) -> Result<Outcome> {
    let before = ctx.get("/info")?.json()?;
    ctx.create(json!({"Cmd": ["true"]}))?;
    let after = ctx.get("/info")?.json()?;
    let (b, a) = (
        i(&before, "/Containers").unwrap_or(-1),
        i(&after, "/Containers").unwrap_or(-1),
    );
    ensure!(a == b + 1, "Containers {b} -> {a} after one create");
    let sum = i(&after, "/ContainersRunning").unwrap_or(0)
        + i(&after, "/ContainersPaused").unwrap_or(0)
        + i(&after, "/ContainersStopped").unwrap_or(0);
    eq("Running+Paused+Stopped", sum, a)?;
    Ok(Outcome::Pass)
}

fn system_df(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/system/df")?;
    ctx.expect(&r, 200)?;
    ctx.validate("get", "/system/df", &r)?;
    Ok(Outcome::Pass)
}

fn system_df_image(ctx: &mut Ctx) -> Result<Outcome> {
    let v = ctx.get("/system/df")?.json()?;
    let found = v["Images"]
        .as_array()
        .is_some_and(|a| a.iter().any(|im| im["Id"] == ctx.image_id.as_str()));
    ensure!(
        found,
        "test image {} not in /system/df Images",
        ctx.image_id
    );
    contains("LayersSize", &v["LayersSize"].to_string(), "")?;
    Ok(Outcome::Pass)
}
