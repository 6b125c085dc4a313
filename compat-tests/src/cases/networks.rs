//! Networks, volumes and the build cache as listed by the API (an engine started with
//! `--bridge=none`, like the reference, has only the pre-defined `host` and `none`).

use anyhow::{ensure, Result};
use serde_json::Value;

use super::{contains, eq, s};
use crate::ctx::Ctx;
use crate::runner::{Case, Outcome};

const A: &str = "networks";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "list_predefined", (1, 24), list_predefined),
        Case::new(A, "inspect_by_name_and_id", (1, 24), inspect_by_name_and_id),
        Case::new(A, "inspect_missing_404", (1, 24), inspect_missing),
        Case::new(A, "remove_predefined_403", (1, 24), remove_predefined),
        Case::new(A, "filter_by_driver", (1, 24), filter_by_driver),
        Case::new(A, "volumes_list_shape", (1, 24), volumes_list),
        Case::new(A, "volume_inspect_missing_404", (1, 24), volume_missing),
        Case::new(A, "build_prune_ok", (1, 31), build_prune),
    ]
}

fn list(ctx: &mut Ctx, query: &str) -> Result<Vec<Value>> {
    let r = ctx.get(&format!("/networks{query}"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("get", "/networks", &r)?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

fn by_name<'a>(nets: &'a [Value], name: &str) -> Option<&'a Value> {
    nets.iter().find(|n| n["Name"] == name)
}

fn list_predefined(ctx: &mut Ctx) -> Result<Outcome> {
    let nets = list(ctx, "")?;
    for (name, driver) in [("host", "host"), ("none", "null")] {
        let n =
            by_name(&nets, name).ok_or_else(|| anyhow::anyhow!("no {name} network in {nets:?}"))?;
        eq("Driver", s(n, "/Driver"), driver)?;
        eq("Scope", s(n, "/Scope"), "local")?;
        ensure!(s(n, "/Id").len() == 64, "Id {:?}", n["Id"]);
    }
    Ok(Outcome::Pass)
}

fn inspect_by_name_and_id(ctx: &mut Ctx) -> Result<Outcome> {
    let nets = list(ctx, "")?;
    let id = by_name(&nets, "none")
        .map(|n| s(n, "/Id").to_string())
        .unwrap_or_default();
    for key in [
        "none".to_string(),
        id.clone(),
        id[..12.min(id.len())].to_string(),
    ] {
        let r = ctx.get(&format!("/networks/{key}"))?;
        ctx.expect(&r, 200)?;
        let v = ctx.validate("get", "/networks/{id}", &r)?;
        eq("Name", s(&v, "/Name"), "none")?;
        eq("Id", s(&v, "/Id"), id.as_str())?;
        ensure!(
            v["Containers"].is_object(),
            "Containers {:?}",
            v["Containers"]
        );
    }
    Ok(Outcome::Pass)
}

fn inspect_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!("/networks/compat-missing-{}", ctx.run_id))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "not found")?;
    Ok(Outcome::Pass)
}

fn remove_predefined(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(ctx.req("DELETE", "/networks/host"))?;
    let m = ctx.expect_error(&r, 403)?;
    contains("message", &m, "pre-defined network")?;
    Ok(Outcome::Pass)
}

fn filter_by_driver(ctx: &mut Ctx) -> Result<Outcome> {
    let nets = list(ctx, "?filters=%7B%22driver%22%3A%5B%22null%22%5D%7D")?;
    let names: Vec<&str> = nets.iter().filter_map(|n| n["Name"].as_str()).collect();
    eq("names", names, vec!["none"])?;
    let r = ctx.get("/networks?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D")?;
    ctx.expect_error(&r, 400)?;
    Ok(Outcome::Pass)
}

fn volumes_list(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/volumes")?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("get", "/volumes", &r)?;
    ensure!(v["Volumes"].is_array() || v["Volumes"].is_null(), "{v}");
    ensure!(v.get("Warnings").is_some(), "no Warnings in {v}");
    Ok(Outcome::Pass)
}

fn volume_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!("/volumes/compat-missing-{}", ctx.run_id))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "no such volume")?;
    Ok(Outcome::Pass)
}

fn build_prune(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post("/build/prune")?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    ensure!(v.get("SpaceReclaimed").is_some(), "{v}");
    Ok(Outcome::Pass)
}
