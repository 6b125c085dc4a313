//! Volumes of the `local` driver: create/inspect shapes, idempotent create, name rules,
//! the in-use conflict, list filters, named and anonymous mounts as inspect lists them,
//! copy-up of the image's content, `rm -v`, and prune.

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use super::{b, contains, eq, s};
use crate::ctx::{filters, Ctx};
use crate::runner::{Case, Outcome};

const A: &str = "volumes";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "create_inspect_shape", (1, 24), create_inspect),
        Case::new(A, "create_existing_returns_it", (1, 24), create_again),
        Case::new(A, "create_invalid_name_400", (1, 24), invalid_name),
        Case::new(A, "create_invalid_option_400", (1, 24), invalid_option),
        Case::new(A, "remove_in_use_409", (1, 24), remove_in_use),
        Case::new(A, "list_filters", (1, 24), list_filters),
        Case::new(A, "mounts_in_inspect", (1, 24), mounts_in_inspect),
        Case::new(A, "data_outlives_container", (1, 24), data_outlives),
        Case::new(A, "copy_up_from_image", (1, 24), copy_up),
        Case::new(A, "rm_v_removes_anonymous", (1, 24), rm_v),
        Case::new(A, "prune_shape", (1, 24), prune),
    ]
}

fn create(ctx: &mut Ctx, body: Value) -> Result<Value> {
    let r = ctx.post_json("/volumes/create", &body)?;
    ctx.expect(&r, 201)?;
    let v = r.json()?;
    ctx.track_volume(s(&v, "/Name"));
    Ok(v)
}

fn vol_name(ctx: &mut Ctx) -> String {
    ctx.name()
}

fn create_inspect(ctx: &mut Ctx) -> Result<Outcome> {
    let name = vol_name(ctx);
    let v = create(ctx, json!({ "Name": name, "Labels": { "app": "db" } }))?;
    eq("Name", s(&v, "/Name"), name.as_str())?;
    eq("Driver", s(&v, "/Driver"), "local")?;
    eq("Scope", s(&v, "/Scope"), "local")?;
    ensure!(
        s(&v, "/Mountpoint").ends_with(&format!("/volumes/{name}/_data")),
        "{v}"
    );
    eq("Labels", v["Labels"].clone(), json!({ "app": "db" }))?;
    ensure!(v["Options"].is_null(), "Options {}", v["Options"]);
    let created = s(&v, "/CreatedAt");
    ensure!(
        created.ends_with('Z') && created.contains('T'),
        "CreatedAt {created}"
    );
    let r = ctx.get(&format!("/volumes/{name}"))?;
    ctx.expect(&r, 200)?;
    let got = ctx.validate("get", "/volumes/{name}", &r)?;
    eq("inspect", got, v)?;
    Ok(Outcome::Pass)
}

fn create_again(ctx: &mut Ctx) -> Result<Outcome> {
    let name = vol_name(ctx);
    let first = create(ctx, json!({ "Name": name, "Labels": { "a": "1" } }))?;
    let second = create(ctx, json!({ "Name": name }))?;
    eq("same volume", second, first)?;
    Ok(Outcome::Pass)
}

fn invalid_name(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post_json("/volumes/create", &json!({ "Name": "bad/name" }))?;
    let m = ctx.expect_error(&r, 400)?;
    contains(
        "message",
        &m,
        "includes invalid characters for a local volume name",
    )?;
    Ok(Outcome::Pass)
}

fn invalid_option(ctx: &mut Ctx) -> Result<Outcome> {
    let name = vol_name(ctx);
    let r = ctx.post_json(
        "/volumes/create",
        &json!({ "Name": name, "DriverOpts": { "bogus": "1" } }),
    )?;
    ctx.track_volume(&name);
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "invalid option")?;
    Ok(Outcome::Pass)
}

fn remove_in_use(ctx: &mut Ctx) -> Result<Outcome> {
    let name = vol_name(ctx);
    create(ctx, json!({ "Name": name }))?;
    let id = ctx.create(json!({
        "Cmd": ["true"],
        "HostConfig": { "Binds": [format!("{name}:/data")] }
    }))?;
    let r = ctx.delete(&format!("/volumes/{name}"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "volume is in use")?;
    contains("message", &m, &id)?;
    let r = ctx.get(&format!("/volumes/{name}"))?;
    ctx.expect(&r, 200)?;
    Ok(Outcome::Pass)
}

fn list_filters(ctx: &mut Ctx) -> Result<Outcome> {
    let name = vol_name(ctx);
    let label = format!("compat-{}", ctx.run_id);
    create(
        ctx,
        json!({ "Name": name, "Labels": { label.clone(): "x" } }),
    )?;
    let list = |ctx: &mut Ctx, f: Value| -> Result<Vec<String>> {
        let r = ctx.get(&format!("/volumes?filters={}", filters(&f)))?;
        ctx.expect(&r, 200)?;
        let v = r.json()?;
        Ok(v["Volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|x| s(x, "/Name").to_string())
            .collect())
    };
    eq(
        "by label",
        list(ctx, json!({ "label": [format!("{label}=x")] }))?,
        vec![name.clone()],
    )?;
    ensure!(
        list(ctx, json!({ "name": [name.clone()] }))?.contains(&name),
        "by name"
    );
    ensure!(
        list(
            ctx,
            json!({ "dangling": ["true"], "label": [label.clone()] })
        )?
        .contains(&name),
        "unused volume not dangling"
    );
    let r = ctx.get(&format!(
        "/volumes?filters={}",
        filters(&json!({ "bogus": ["x"] }))
    ))?;
    ctx.expect_error(&r, 400)?;
    Ok(Outcome::Pass)
}

fn mounts_in_inspect(ctx: &mut Ctx) -> Result<Outcome> {
    let name = vol_name(ctx);
    let id = ctx.create(json!({
        "Cmd": ["true"],
        "Volumes": { "/anon": {} },
        "HostConfig": { "Binds": [format!("{name}:/data")] }
    }))?;
    ctx.track_volume(&name);
    let v = ctx.inspect(&id)?;
    let mounts = v["Mounts"].as_array().cloned().unwrap_or_default();
    let named = mounts
        .iter()
        .find(|m| s(m, "/Destination") == "/data")
        .cloned()
        .unwrap_or_default();
    eq("Type", s(&named, "/Type"), "volume")?;
    eq("Name", s(&named, "/Name"), name.as_str())?;
    eq("Driver", s(&named, "/Driver"), "local")?;
    eq("Mode", s(&named, "/Mode"), "z")?;
    eq("RW", b(&named, "/RW"), Some(true))?;
    eq("Propagation", s(&named, "/Propagation"), "")?;
    ensure!(
        s(&named, "/Source").ends_with(&format!("/volumes/{name}/_data")),
        "{named}"
    );
    let anon = mounts
        .iter()
        .find(|m| s(m, "/Destination") == "/anon")
        .cloned()
        .unwrap_or_default();
    eq("anonymous Type", s(&anon, "/Type"), "volume")?;
    eq("anonymous name length", s(&anon, "/Name").len(), 64)?;
    eq("anonymous Mode", s(&anon, "/Mode"), "")?;
    // Binds keep what the client sent.
    eq(
        "Binds",
        v["HostConfig"]["Binds"].clone(),
        json!([format!("{name}:/data")]),
    )?;
    Ok(Outcome::Pass)
}

fn data_outlives(ctx: &mut Ctx) -> Result<Outcome> {
    let name = vol_name(ctx);
    ctx.track_volume(&name);
    let binds = json!({ "HostConfig": { "Binds": [format!("{name}:/data")] } });
    let (_, code) = ctx.run_to_exit(&["sh", "-c", "echo kept > /data/f"], binds.clone())?;
    eq("writer exit", code, 0)?;
    let (_, code) = ctx.run_to_exit(&["grep", "-q", "kept", "/data/f"], binds)?;
    eq("reader exit (data seen)", code, 0)?;
    Ok(Outcome::Pass)
}

fn copy_up(ctx: &mut Ctx) -> Result<Outcome> {
    let name = vol_name(ctx);
    ctx.track_volume(&name);
    let (_, code) = ctx.run_to_exit(
        &["test", "-s", "/etc/passwd"],
        json!({ "HostConfig": { "Binds": [format!("{name}:/etc")] } }),
    )?;
    eq("image content copied into the empty volume", code, 0)?;
    // nocopy leaves a new volume empty.
    let bare = vol_name(ctx);
    ctx.track_volume(&bare);
    let (_, code) = ctx.run_to_exit(
        &["test", "-e", "/etc/passwd"],
        json!({ "HostConfig": { "Binds": [format!("{bare}:/etc:nocopy")] } }),
    )?;
    eq("nocopy volume stays empty", code, 1)?;
    Ok(Outcome::Pass)
}

fn rm_v(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({ "Cmd": ["true"], "Volumes": { "/anon": {} } }))?;
    let v = ctx.inspect(&id)?;
    let anon = s(&v, "/Mounts/0/Name").to_string();
    ensure!(anon.len() == 64, "no anonymous volume: {}", v["Mounts"]);
    let r = ctx.get(&format!("/volumes/{anon}"))?;
    ctx.expect(&r, 200)?;
    let r = ctx.delete(&format!("/containers/{id}?v=1"))?;
    ctx.expect(&r, 204)?;
    let r = ctx.get(&format!("/volumes/{anon}"))?;
    ctx.expect_error(&r, 404)?;
    Ok(Outcome::Pass)
}

fn prune(ctx: &mut Ctx) -> Result<Outcome> {
    // Only this run's label: other volumes on the endpoint are left alone.
    let label = format!("compat-prune-{}", ctx.run_id);
    let name = vol_name(ctx);
    create(
        ctx,
        json!({ "Name": name, "Labels": { label.clone(): "" } }),
    )?;
    let f = if ctx.api >= crate::version::ApiVersion(1, 42) {
        json!({ "label": [label], "all": ["true"] })
    } else {
        json!({ "label": [label] })
    };
    let r = ctx.post(&format!("/volumes/prune?filters={}", filters(&f)))?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    eq("VolumesDeleted", v["VolumesDeleted"].clone(), json!([name]))?;
    ensure!(v["SpaceReclaimed"].is_number(), "{v}");
    Ok(Outcome::Pass)
}
