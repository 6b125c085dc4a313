//! Images: load, list, filters, inspect, history, tag, remove, prune,
//! import, export, commit, pull failures.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Result};
use serde_json::{json, Value};

use super::{contains, eq, s};
use crate::ctx::{filters, Ctx};
use crate::image::{self, ImageSpec};
use crate::runner::{Case, Outcome};

const A: &str = "images";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "load_docker_archive", (1, 24), load_docker_archive),
        Case::new(A, "load_quiet", (1, 24), load_quiet),
        Case::new(A, "load_oci_layout", (1, 24), load_oci_layout),
        Case::new(A, "load_untagged_reports_id", (1, 24), load_untagged),
        Case::new(A, "load_garbage_reports_error", (1, 24), load_garbage),
        Case::new(
            A,
            "load_image_id_is_config_digest",
            (1, 24),
            load_id_is_digest,
        ),
        Case::new(A, "list_schema", (1, 24), list_schema),
        Case::new(A, "list_contains_test_image", (1, 24), list_contains),
        Case::new(A, "list_filter_reference", (1, 24), list_filter_reference),
        Case::new(
            A,
            "list_filter_reference_repo_only",
            (1, 24),
            list_filter_reference_repo,
        ),
        Case::new(A, "list_filter_label", (1, 24), list_filter_label),
        Case::new(A, "list_filter_dangling", (1, 24), list_filter_dangling),
        Case::new(
            A,
            "list_filter_invalid_json",
            (1, 24),
            list_filter_invalid_json,
        ),
        Case::new(
            A,
            "list_filter_unknown_key",
            (1, 24),
            list_filter_unknown_key,
        ),
        Case::new(A, "inspect_schema", (1, 24), inspect_schema),
        Case::new(A, "inspect_fields", (1, 24), inspect_fields),
        Case::new(A, "inspect_by_id_forms", (1, 24), inspect_by_id_forms),
        Case::new(A, "inspect_missing_404", (1, 24), inspect_missing),
        Case::new(
            A,
            "inspect_implicit_latest_missing",
            (1, 24),
            inspect_implicit_latest,
        ),
        Case::new(A, "history_schema", (1, 24), history_schema),
        Case::new(A, "tag_and_inspect", (1, 24), tag_and_inspect),
        Case::new(A, "tag_default_latest", (1, 24), tag_default_latest),
        Case::new(A, "tag_missing_image_404", (1, 24), tag_missing),
        Case::new(A, "tag_invalid_repo_400", (1, 24), tag_invalid),
        Case::new(A, "remove_tag_untags_only", (1, 24), remove_tag_untags),
        Case::new(
            A,
            "remove_multi_tag_by_id_conflict",
            (1, 24),
            remove_multi_tag_conflict,
        ),
        Case::new(A, "remove_in_use_conflict", (1, 24), remove_in_use_conflict),
        Case::new(A, "remove_missing_404", (1, 24), remove_missing),
        Case::new(A, "prune_dangling_by_label", (1, 25), prune_dangling),
        Case::new(
            A,
            "pull_unreachable_registry_fails_fast",
            (1, 24),
            pull_unreachable,
        ),
        Case::new(
            A,
            "pull_invalid_reference_400",
            (1, 24),
            pull_invalid_reference,
        ),
        Case::new(A, "import_from_tar", (1, 24), import_from_tar),
        Case::new(A, "export_single_image", (1, 24), export_single),
        Case::new(A, "export_missing_image_404", (1, 24), export_missing),
        Case::new(A, "export_several_images", (1, 24), export_several),
        Case::new(A, "commit_container", (1, 24), commit_container),
    ]
}

/// Loads an archive and returns the JSON messages (fails on transport
/// errors and non-200 only).
fn load(ctx: &mut Ctx, tar: Vec<u8>, quiet: bool) -> Result<Vec<Value>> {
    let path = if quiet {
        "/images/load?quiet=1"
    } else {
        "/images/load?quiet=0"
    };
    let req = ctx
        .req("POST", path)
        .body_with_type(tar, "application/x-tar")
        .timeout(Duration::from_secs(120));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    contains("Content-Type", r.head.content_type(), "application/json")?;
    r.json_lines()
}

fn no_error(msgs: &[Value]) -> Result<()> {
    if let Some(e) = msgs
        .iter()
        .find(|m| m.get("error").is_some() || m.get("errorDetail").is_some())
    {
        bail!("load stream reported an error: {e}");
    }
    Ok(())
}

/// Loads an image variant tagged `tags`; returns its ID.
pub fn load_variant(ctx: &mut Ctx, tags: &[&str], spec: &ImageSpec) -> Result<String> {
    for t in tags {
        ctx.track_image(t);
    }
    let id = image::image_id(spec)?;
    ctx.track_image(&id);
    let msgs = load(ctx, image::busybox_archive_with(tags, spec)?, true)?;
    no_error(&msgs)?;
    Ok(id)
}

/// A variant distinct from the test image (and from other runs).
fn variant(ctx: &Ctx, marker: &str) -> ImageSpec {
    ImageSpec {
        labels: vec![(
            "dockbridge.compat.variant".into(),
            format!("{}-{marker}", ctx.run_id),
        )],
        extra_files: vec![(
            "/etc/compat-variant".into(),
            format!("{}-{marker}\n", ctx.run_id),
        )],
    }
}

fn list(ctx: &mut Ctx, query: &str) -> Result<Vec<Value>> {
    let r = ctx.get(&format!("/images/json{query}"))?;
    ctx.expect(&r, 200)?;
    Ok(ctx
        .validate("get", "/images/json", &r)?
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn tags_of(v: &Value) -> Vec<String> {
    v["RepoTags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn load_docker_archive(ctx: &mut Ctx) -> Result<Outcome> {
    let tag = format!("compat-load:{}-a", ctx.run_id);
    ctx.track_image(&tag);
    let msgs = load(ctx, image::busybox_archive(&[&tag])?, false)?;
    no_error(&msgs)?;
    let text: String = msgs.iter().filter_map(|m| m["stream"].as_str()).collect();
    contains("load output", &text, &format!("Loaded image: {tag}"))?;
    let r = ctx.get(&format!("/images/{tag}/json"))?;
    ctx.expect(&r, 200)?;
    Ok(Outcome::Pass)
}

fn load_quiet(ctx: &mut Ctx) -> Result<Outcome> {
    let tag = format!("compat-load:{}-q", ctx.run_id);
    ctx.track_image(&tag);
    let msgs = load(ctx, image::busybox_archive(&[&tag])?, true)?;
    no_error(&msgs)?;
    // Quiet mode drops progress, not the result line.
    ensure!(
        msgs.iter().all(|m| m.get("progressDetail").is_none()),
        "progress in quiet load: {msgs:?}"
    );
    let text: String = msgs.iter().filter_map(|m| m["stream"].as_str()).collect();
    contains("load output", &text, &format!("Loaded image: {tag}"))?;
    Ok(Outcome::Pass)
}

fn load_oci_layout(ctx: &mut Ctx) -> Result<Outcome> {
    let tag = format!("compat-oci:{}", ctx.run_id);
    ctx.track_image(&tag);
    let msgs = load(ctx, image::busybox_oci_archive(&[&tag])?, true)?;
    no_error(&msgs)?;
    let r = ctx.get(&format!("/images/{tag}/json"))?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    eq("Id", s(&v, "/Id"), ctx.image_id.as_str())?;
    eq(
        "RootFS.Layers[0]",
        s(&v, "/RootFS/Layers/0").to_string(),
        image::diff_id(&ImageSpec::default())?,
    )?;
    Ok(Outcome::Pass)
}

fn load_untagged(ctx: &mut Ctx) -> Result<Outcome> {
    let spec = variant(ctx, "untagged");
    let id = image::image_id(&spec)?;
    ctx.track_image(&id);
    let msgs = load(ctx, image::busybox_archive_with(&[], &spec)?, true)?;
    no_error(&msgs)?;
    let text: String = msgs.iter().filter_map(|m| m["stream"].as_str()).collect();
    contains("load output", &text, &format!("Loaded image ID: {id}"))?;
    let v = ctx.get(&format!("/images/{id}/json"))?.json()?;
    ensure!(
        v["RepoTags"].as_array().is_none_or(|a| a.is_empty()),
        "untagged image has RepoTags {}",
        v["RepoTags"]
    );
    Ok(Outcome::Pass)
}

fn load_garbage(ctx: &mut Ctx) -> Result<Outcome> {
    let req = ctx
        .req("POST", "/images/load?quiet=1")
        .body_with_type(b"this is not a tar".to_vec(), "application/x-tar");
    let r = ctx.send(req)?;
    // Docker streams the error inside a 200 response: the status is sent
    // before the tar is read.
    if r.status() == 200 {
        let msgs = r.json_lines()?;
        ensure!(
            msgs.iter()
                .any(|m| m.get("errorDetail").is_some() && m.get("error").is_some()),
            "no error/errorDetail message in {msgs:?}"
        );
    } else {
        ensure!(r.status() >= 400, "status {}", r.status());
    }
    Ok(Outcome::Pass)
}

fn load_id_is_digest(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let v = ctx.get(&format!("/images/{img}/json"))?.json()?;
    eq(
        "Id",
        s(&v, "/Id").to_string(),
        image::image_id(&ImageSpec::default())?,
    )?;
    Ok(Outcome::Pass)
}

fn list_schema(ctx: &mut Ctx) -> Result<Outcome> {
    list(ctx, "")?;
    list(ctx, "?all=1")?;
    Ok(Outcome::Pass)
}

fn list_contains(ctx: &mut Ctx) -> Result<Outcome> {
    let all = list(ctx, "")?;
    let img = all
        .iter()
        .find(|i| i["Id"] == ctx.image_id.as_str())
        .ok_or_else(|| anyhow!("test image {} not listed", ctx.image_id))?;
    ensure!(
        tags_of(img).contains(&ctx.image),
        "RepoTags {:?} lacks {}",
        tags_of(img),
        ctx.image
    );
    ensure!(
        img["Size"].as_i64().unwrap_or(0) > 1_000_000,
        "Size {} too small for busybox",
        img["Size"]
    );
    eq("Created", img["Created"].as_i64(), Some(946_684_800))?;
    Ok(Outcome::Pass)
}

fn list_filter_reference(ctx: &mut Ctx) -> Result<Outcome> {
    let f = filters(&json!({"reference": [ctx.image]}));
    let got = list(ctx, &format!("?filters={f}"))?;
    eq(
        "matches",
        super::ids(&Value::Array(got)),
        vec![ctx.image_id.clone()],
    )?;
    let f = filters(&json!({"reference": [format!("compat-nothing-{}", ctx.run_id)]}));
    let got = list(ctx, &format!("?filters={f}"))?;
    ensure!(got.is_empty(), "non-matching reference returned {got:?}");
    Ok(Outcome::Pass)
}

fn list_filter_reference_repo(ctx: &mut Ctx) -> Result<Outcome> {
    let f = filters(&json!({"reference": ["compat-busybox"]}));
    let got = list(ctx, &format!("?filters={f}"))?;
    ensure!(
        got.iter().any(|i| i["Id"] == ctx.image_id.as_str()),
        "repo-only reference did not match any tag"
    );
    Ok(Outcome::Pass)
}

fn list_filter_label(ctx: &mut Ctx) -> Result<Outcome> {
    let spec = variant(ctx, "label");
    let tag = format!("compat-label:{}", ctx.run_id);
    let id = load_variant(ctx, &[&tag], &spec)?;
    let label = format!("dockbridge.compat.variant={}-label", ctx.run_id);
    let got = list(
        ctx,
        &format!("?filters={}", filters(&json!({"label": [label]}))),
    )?;
    eq(
        "label=k=v",
        super::ids(&Value::Array(got)),
        vec![id.clone()],
    )?;
    let got = list(
        ctx,
        &format!(
            "?filters={}",
            filters(&json!({"label": ["dockbridge.compat.variant"]}))
        ),
    )?;
    ensure!(
        got.iter().any(|i| i["Id"] == id.as_str()),
        "label=key did not match"
    );
    ensure!(
        !got.iter().any(|i| i["Id"] == ctx.image_id.as_str()),
        "label=key matched an unlabelled image"
    );
    Ok(Outcome::Pass)
}

fn list_filter_dangling(ctx: &mut Ctx) -> Result<Outcome> {
    let spec = variant(ctx, "dangling");
    let id = image::image_id(&spec)?;
    ctx.track_image(&id);
    no_error(&load(ctx, image::busybox_archive_with(&[], &spec)?, true)?)?;
    let got = list(
        ctx,
        &format!("?filters={}", filters(&json!({"dangling": ["true"]}))),
    )?;
    ensure!(
        got.iter().any(|i| i["Id"] == id.as_str()),
        "untagged image not in dangling=true"
    );
    ensure!(
        !got.iter().any(|i| i["Id"] == ctx.image_id.as_str()),
        "tagged image in dangling=true"
    );
    let got = list(
        ctx,
        &format!("?filters={}", filters(&json!({"dangling": ["false"]}))),
    )?;
    ensure!(
        got.iter().any(|i| i["Id"] == ctx.image_id.as_str()),
        "tagged image not in dangling=false"
    );
    ensure!(
        !got.iter().any(|i| i["Id"] == id.as_str()),
        "untagged image in dangling=false"
    );
    Ok(Outcome::Pass)
}

fn list_filter_invalid_json(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/images/json?filters=%7Bnot-json")?;
    // 400 since Docker 23; 20.10 answered 500.
    ctx.expect_error_in(&r, &[400, 500])?;
    Ok(Outcome::Pass)
}

fn list_filter_unknown_key(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!(
        "/images/json?filters={}",
        filters(&json!({"compat-bogus": ["x"]}))
    ))?;
    let m = ctx.expect_error(&r, 400)?;
    contains(
        "message",
        &m.to_lowercase(),
        "invalid filter 'compat-bogus'",
    )?;
    Ok(Outcome::Pass)
}

fn inspect_schema(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let r = ctx.get(&format!("/images/{img}/json"))?;
    ctx.expect(&r, 200)?;
    ctx.validate("get", "/images/{name}/json", &r)?;
    Ok(Outcome::Pass)
}

fn inspect_fields(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let v = ctx.get(&format!("/images/{img}/json"))?.json()?;
    eq(
        "Config.Cmd",
        v.pointer("/Config/Cmd").cloned(),
        Some(json!(["sh"])),
    )?;
    let env = v.pointer("/Config/Env").cloned().unwrap_or_default();
    ensure!(
        env.as_array().is_some_and(|a| a
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.starts_with("PATH=")))),
        "Config.Env {env} lacks PATH"
    );
    eq("Architecture", s(&v, "/Architecture"), "amd64")?;
    eq("Os", s(&v, "/Os"), "linux")?;
    eq("RootFS.Type", s(&v, "/RootFS/Type"), "layers")?;
    eq(
        "RootFS.Layers",
        v.pointer("/RootFS/Layers").cloned(),
        Some(json!([image::diff_id(&ImageSpec::default())?])),
    )?;
    ensure!(tags_of(&v).contains(&img), "RepoTags {:?}", tags_of(&v));
    ensure!(
        s(&v, "/Created").starts_with("2000-01-01T00:00:00"),
        "Created {}",
        s(&v, "/Created")
    );
    ensure!(
        v["Size"].as_i64().unwrap_or(0) > 1_000_000,
        "Size {}",
        v["Size"]
    );
    Ok(Outcome::Pass)
}

fn inspect_by_id_forms(ctx: &mut Ctx) -> Result<Outcome> {
    let full = ctx.image_id.clone();
    let hex = full.trim_start_matches("sha256:").to_string();
    for form in [full.clone(), hex.clone(), hex[..12].to_string()] {
        let r = ctx.get(&format!("/images/{form}/json"))?;
        ctx.expect(&r, 200).map_err(|e| anyhow!("{form}: {e}"))?;
        eq("Id", s(&r.json()?, "/Id").to_string(), full.clone())?;
    }
    Ok(Outcome::Pass)
}

fn inspect_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let name = format!("compat-missing:{}", ctx.run_id);
    let r = ctx.get(&format!("/images/{name}/json"))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, &format!("No such image: {name}"))?;
    Ok(Outcome::Pass)
}

fn inspect_implicit_latest(ctx: &mut Ctx) -> Result<Outcome> {
    // Our image is only tagged <run-id>; a bare repo means :latest.
    let r = ctx.get("/images/compat-busybox/json")?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "No such image: compat-busybox")?;
    Ok(Outcome::Pass)
}

fn history_schema(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let r = ctx.get(&format!("/images/{img}/history"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("get", "/images/{name}/history", &r)?;
    let first = v.get(0).ok_or_else(|| anyhow!("empty history"))?;
    eq(
        "CreatedBy",
        s(first, "/CreatedBy"),
        "dockbridge-compat busybox image",
    )?;
    eq("Id", s(first, "/Id"), ctx.image_id.as_str())?;
    Ok(Outcome::Pass)
}

fn tag_and_inspect(ctx: &mut Ctx) -> Result<Outcome> {
    let repo = format!("compat-tag-{}", ctx.run_id);
    ctx.track_image(&format!("{repo}:v1"));
    let id = ctx.image_id.clone();
    let r = ctx.post(&format!("/images/{id}/tag?repo={repo}&tag=v1"))?;
    ctx.expect(&r, 201)?;
    let v = ctx.get(&format!("/images/{repo}:v1/json"))?.json()?;
    eq("Id", s(&v, "/Id"), id.as_str())?;
    ensure!(
        tags_of(&v).contains(&format!("{repo}:v1")),
        "RepoTags {:?}",
        tags_of(&v)
    );
    Ok(Outcome::Pass)
}

fn tag_default_latest(ctx: &mut Ctx) -> Result<Outcome> {
    let repo = format!("compat-tag-{}", ctx.run_id);
    ctx.track_image(&format!("{repo}:latest"));
    let img = ctx.image.clone();
    let r = ctx.post(&format!("/images/{img}/tag?repo={repo}"))?;
    ctx.expect(&r, 201)?;
    let r = ctx.get(&format!("/images/{repo}:latest/json"))?;
    ctx.expect(&r, 200)?;
    let r = ctx.delete(&format!("/images/{repo}"))?;
    ctx.expect(&r, 200)?;
    eq(
        "delete",
        r.json()?,
        json!([{"Untagged": format!("{repo}:latest")}]),
    )?;
    Ok(Outcome::Pass)
}

fn tag_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let name = format!("compat-missing:{}", ctx.run_id);
    let r = ctx.post(&format!("/images/{name}/tag?repo=compat-x&tag=y"))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "No such image")?;
    Ok(Outcome::Pass)
}

fn tag_invalid(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let r = ctx.post(&format!("/images/{img}/tag?repo=Compat-Upper&tag=x"))?;
    // 400 since Docker 23; 20.10 answered 500.
    let m = ctx.expect_error_in(&r, &[400, 500])?;
    contains("message", &m, "invalid reference format")?;
    Ok(Outcome::Pass)
}

fn remove_tag_untags(ctx: &mut Ctx) -> Result<Outcome> {
    let tag = format!("compat-rm-{}:v1", ctx.run_id);
    ctx.track_image(&tag);
    let (repo, t) = image::split_tag(&tag);
    let img = ctx.image.clone();
    let r = ctx.post(&format!("/images/{img}/tag?repo={repo}&tag={t}"))?;
    ctx.expect(&r, 201)?;
    let r = ctx.delete(&format!("/images/{tag}"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("delete", "/images/{name}", &r)?;
    eq("response", v, json!([{"Untagged": tag}]))?;
    let r = ctx.get(&format!("/images/{img}/json"))?;
    ctx.expect(&r, 200)
        .map_err(|e| anyhow!("image gone after untagging another tag: {e}"))?;
    Ok(Outcome::Pass)
}

fn remove_multi_tag_conflict(ctx: &mut Ctx) -> Result<Outcome> {
    let spec = variant(ctx, "multitag");
    let (a, b) = (
        format!("compat-multi-{}:a", ctx.run_id),
        format!("compat-multi-{}:b", ctx.run_id),
    );
    let id = load_variant(ctx, &[&a, &b], &spec)?;
    let r = ctx.delete(&format!("/images/{id}"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "must be forced")?;
    contains("message", &m, "referenced in multiple repositories")?;
    let r = ctx.delete(&format!("/images/{id}?force=1"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("delete", "/images/{name}", &r)?;
    let untagged: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["Untagged"].as_str())
        .collect();
    ensure!(
        untagged.contains(&a.as_str()) && untagged.contains(&b.as_str()),
        "Untagged {untagged:?}"
    );
    ensure!(
        v.as_array()
            .into_iter()
            .flatten()
            .any(|e| e["Deleted"] == id.as_str()),
        "no Deleted {id} in {v}"
    );
    let r = ctx.get(&format!("/images/{id}/json"))?;
    ctx.expect(&r, 404)?;
    Ok(Outcome::Pass)
}

fn remove_in_use_conflict(ctx: &mut Ctx) -> Result<Outcome> {
    let spec = variant(ctx, "inuse");
    let tag = format!("compat-inuse:{}", ctx.run_id);
    let id = load_variant(ctx, &[&tag], &spec)?;
    let cid = ctx.create(json!({"Image": tag, "Cmd": ["true"]}))?;
    let r = ctx.delete(&format!("/images/{tag}"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "conflict: unable to")?;
    contains("message", &m, &format!("container {}", &cid[..12]))?;
    let r = ctx.delete(&format!("/images/{id}"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "is being used by stopped container")?;
    Ok(Outcome::Pass)
}

fn remove_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let name = format!("compat-missing:{}", ctx.run_id);
    let r = ctx.delete(&format!("/images/{name}"))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, &format!("No such image: {name}"))?;
    Ok(Outcome::Pass)
}

fn prune_dangling(ctx: &mut Ctx) -> Result<Outcome> {
    let spec = ImageSpec {
        labels: vec![("dockbridge.compat.prune".into(), ctx.run_id.clone())],
        extra_files: vec![("/etc/compat-prune".into(), ctx.run_id.clone())],
    };
    let id = image::image_id(&spec)?;
    ctx.track_image(&id);
    no_error(&load(ctx, image::busybox_archive_with(&[], &spec)?, true)?)?;
    // Scoped by label so the case never prunes anyone else's images.
    let f = filters(&json!({"label": [format!("dockbridge.compat.prune={}", ctx.run_id)]}));
    let r = ctx.post(&format!("/images/prune?filters={f}"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("post", "/images/prune", &r)?;
    let deleted = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    ensure!(
        deleted.iter().any(|d| d["Deleted"] == id.as_str()),
        "ImagesDeleted {deleted:?} lacks {id}"
    );
    ensure!(
        v["SpaceReclaimed"].as_i64().unwrap_or(0) > 0,
        "SpaceReclaimed {}",
        v["SpaceReclaimed"]
    );
    let r = ctx.get(&format!("/images/{id}/json"))?;
    ctx.expect(&r, 404)?;
    let img = ctx.image.clone();
    let r = ctx.get(&format!("/images/{img}/json"))?;
    ctx.expect(&r, 200)?;
    Ok(Outcome::Pass)
}

fn pull_unreachable(ctx: &mut Ctx) -> Result<Outcome> {
    // Port 9 (discard) on loopback: nothing listens, so the pull must fail
    // at once instead of hanging.
    let t = Instant::now();
    let req = ctx
        .req(
            "POST",
            "/images/create?fromImage=127.0.0.1:9/compat/nope&tag=latest",
        )
        .timeout(Duration::from_secs(30));
    let r = ctx.send(req)?;
    ensure!(
        t.elapsed() < Duration::from_secs(20),
        "pull took {:?}",
        t.elapsed()
    );
    if r.status() == 200 {
        let msgs = r.json_lines()?;
        ensure!(
            msgs.iter().any(|m| m.get("error").is_some()),
            "200 without an error message: {msgs:?}"
        );
    } else {
        let m = ctx.expect_error(&r, r.status())?;
        ensure!(r.status() >= 400, "status {}", r.status());
        ensure!(!m.is_empty(), "empty message");
    }
    Ok(Outcome::Pass)
}

fn pull_invalid_reference(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post("/images/create?fromImage=Compat-UPPER&tag=latest")?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "invalid reference format")?;
    Ok(Outcome::Pass)
}

fn import_from_tar(ctx: &mut Ctx) -> Result<Outcome> {
    let repo = format!("compat-import-{}", ctx.run_id);
    ctx.track_image(&format!("{repo}:v1"));
    let layer = image::busybox_layer(&ImageSpec::default())?;
    let req = ctx
        .req(
            "POST",
            &format!("/images/create?fromSrc=-&repo={repo}&tag=v1"),
        )
        .body_with_type(layer, "application/x-tar")
        .timeout(Duration::from_secs(120));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    let msgs = r.json_lines()?;
    no_error(&msgs)?;
    let v = ctx.get(&format!("/images/{repo}:v1/json"))?.json()?;
    eq(
        "RootFS.Layers",
        v.pointer("/RootFS/Layers").cloned(),
        Some(json!([image::diff_id(&ImageSpec::default())?])),
    )?;
    ensure!(
        msgs.iter()
            .any(|m| m["status"].as_str() == Some(s(&v, "/Id"))),
        "no status message with the new ID: {msgs:?}"
    );
    Ok(Outcome::Pass)
}

/// A tar's entries: name and content.
type TarEntries = Vec<(String, Vec<u8>)>;

/// An export's tar entries and its `manifest.json`.
fn export_archive(r: &crate::http::Response) -> Result<(TarEntries, Value)> {
    eq("Content-Type", r.head.content_type(), "application/x-tar")?;
    let entries = image::tar_entries(&r.body)?;
    let manifest = entries
        .iter()
        .find(|(n, _)| n == "manifest.json")
        .ok_or_else(|| anyhow!("no manifest.json in export"))?;
    let m: Value = serde_json::from_slice(&manifest.1)?;
    Ok((entries, m))
}

fn export_single(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let req = ctx
        .req("GET", &format!("/images/{img}/get"))
        .timeout(Duration::from_secs(120));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    let (entries, m) = export_archive(&r)?;
    eq(
        "RepoTags",
        m.pointer("/0/RepoTags").cloned(),
        Some(json!([img])),
    )?;
    let cfg = s(&m, "/0/Config").to_string();
    let c = entries
        .iter()
        .find(|(n, _)| *n == cfg)
        .ok_or_else(|| anyhow!("config {cfg} missing"))?;
    eq(
        "config digest",
        format!("sha256:{}", image::sha256_hex(&c.1)),
        ctx.image_id.clone(),
    )?;
    Ok(Outcome::Pass)
}

/// `GET /images/get?names=a&names=b` (`docker save a b`): one archive, one manifest entry
/// per image; two tags of one image share an entry.
fn export_several(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let other = format!("compat-getall:{}", ctx.run_id);
    let (repo, tag) = other.split_once(':').unwrap_or((&other, "latest"));
    let r = ctx.post(&format!("/images/{img}/tag?repo={repo}&tag={tag}"))?;
    ctx.expect(&r, 201)?;
    ctx.track_image(&other);
    let req = ctx
        .req(
            "GET",
            &format!(
                "/images/get?names={}&names={}",
                crate::ctx::urlencode(&img),
                crate::ctx::urlencode(&other)
            ),
        )
        .timeout(Duration::from_secs(120));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    let (_, m) = export_archive(&r)?;
    eq("entries", m.as_array().map(Vec::len), Some(1))?;
    let mut tags: Vec<String> = m[0]["RepoTags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    let mut want = vec![img, other];
    want.sort();
    eq("RepoTags", tags, want)?;
    Ok(Outcome::Pass)
}

fn export_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!("/images/compat-missing:{}/get", ctx.run_id))?;
    ensure!(r.status() == 404, "status {}, want 404", r.status());
    Ok(Outcome::Pass)
}

fn commit_container(ctx: &mut Ctx) -> Result<Outcome> {
    let (cid, code) = ctx.run_to_exit(&["sh", "-c", "echo committed > /root/marker"], json!({}))?;
    eq("exit", code, 0)?;
    let repo = format!("compat-commit-{}", ctx.run_id);
    ctx.track_image(&format!("{repo}:v1"));
    let r = ctx.send(
        ctx.req(
            "POST",
            &format!("/commit?container={cid}&repo={repo}&tag=v1&comment=compat"),
        )
        .json(&json!({"Labels": {"dockbridge.compat.commit": "1"}})),
    )?;
    ctx.expect(&r, 201)?;
    let id = s(&r.json()?, "/Id").to_string();
    ensure!(id.starts_with("sha256:"), "Id {id:?}");
    let v = ctx.get(&format!("/images/{repo}:v1/json"))?.json()?;
    eq("Id", s(&v, "/Id"), id.as_str())?;
    eq(
        "layers",
        v.pointer("/RootFS/Layers")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(2),
    )?;
    eq("Comment", s(&v, "/Comment"), "compat")?;
    eq(
        "label",
        s(&v, "/Config/Labels/dockbridge.compat.commit"),
        "1",
    )?;
    let (_, code) = ctx.run_to_exit(
        &["grep", "-q", "committed", "/root/marker"],
        json!({"Image": format!("{repo}:v1")}),
    )?;
    eq("marker in committed image", code, 0)?;
    Ok(Outcome::Pass)
}
