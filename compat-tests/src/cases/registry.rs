//! Registries: push and pull through the engine against a real registry given with
//! `--registry HOST:PORT` (plain HTTP; loopback registries are insecure for dockerd by
//! default), the JSON progress streams SDKs parse, `RepoDigests`, errors before and
//! inside the stream, `/distribution`, and `POST /auth`. Without `--registry` the cases
//! that need one skip; the registry-down cases run anywhere.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::{contains, eq, s};
use crate::ctx::{urlencode, Ctx};
use crate::runner::{Case, Outcome};

const A: &str = "registry";

/// `{}`, base64: no credentials, as the CLI sends for an anonymous registry.
const NO_AUTH: &str = "e30=";

/// Nothing listens here: the registry-down cases.
const DOWN: &str = "127.0.0.1:1";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "push_stream_and_aux", (1, 24), push_stream),
        Case::new(A, "push_again_layer_exists", (1, 24), push_again),
        Case::new(A, "push_without_auth_header_400", (1, 24), push_no_auth),
        Case::new(A, "push_unknown_image_in_stream", (1, 24), push_unknown),
        Case::new(A, "pull_stream_per_layer", (1, 24), pull_stream),
        Case::new(A, "pull_up_to_date", (1, 24), pull_up_to_date),
        Case::new(A, "pull_by_digest", (1, 24), pull_by_digest),
        Case::new(A, "pull_unknown_tag_404", (1, 24), pull_unknown),
        Case::new(A, "pull_registry_down_500", (1, 24), pull_down),
        Case::new(A, "distribution_descriptor", (1, 30), distribution),
        Case::new(A, "auth_anonymous_registry", (1, 24), auth_ok),
        Case::new(A, "auth_registry_down_500", (1, 24), auth_down),
        Case::new(A, "cli_pull_quiet_and_run", (1, 24), cli_pull_run),
        Case::new(
            A,
            "search_bad_limit_and_filters_400",
            (1, 24),
            search_bad_input,
        ),
        Case::new(A, "search_registry_down_500", (1, 24), search_down),
        Case::new(A, "search_registry_without_v1_api", (1, 24), search_no_v1),
    ]
}

fn registry(ctx: &Ctx) -> Result<String, Outcome> {
    ctx.registry
        .clone()
        .ok_or_else(|| Outcome::Skip("no --registry given".into()))
}

/// `REG/compat-RUN/<name>`: a repository of this run's own.
fn repo(ctx: &mut Ctx, reg: &str, name: &str) -> String {
    format!("{reg}/compat-{}/{name}", ctx.run_id)
}

/// Tags the suite's image as `repo:tag` (tracked for cleanup).
fn tag(ctx: &mut Ctx, source: &str, repo: &str, tag: &str) -> Result<()> {
    let r = ctx.post(&format!(
        "/images/{source}/tag?repo={}&tag={tag}",
        urlencode(repo)
    ))?;
    ctx.expect(&r, 201)?;
    ctx.track_image(&format!("{repo}:{tag}"));
    Ok(())
}

/// `POST /images/{repo}/push?tag=` with no credentials: status and the stream's lines.
fn push(ctx: &mut Ctx, repo: &str, tag: &str) -> Result<(u16, Vec<Value>)> {
    let req = ctx
        .req("POST", &format!("/images/{repo}/push?tag={tag}"))
        .header("X-Registry-Auth", NO_AUTH)
        .timeout(std::time::Duration::from_secs(120));
    let r = ctx.send(req)?;
    let lines = if r.status() == 200 {
        r.json_lines()?
    } else {
        Vec::new()
    };
    Ok((r.status(), lines))
}

/// `POST /images/create?fromImage=&tag=`: status and the stream's lines.
fn pull(ctx: &mut Ctx, from: &str, tag: &str) -> Result<(u16, Vec<Value>, String)> {
    let mut q = format!("/images/create?fromImage={}", urlencode(from));
    if !tag.is_empty() {
        q.push_str(&format!("&tag={}", urlencode(tag)));
    }
    let req = ctx
        .req("POST", &q)
        .header("X-Registry-Auth", NO_AUTH)
        .timeout(std::time::Duration::from_secs(120));
    let r = ctx.send(req)?;
    if r.status() == 200 {
        Ok((200, r.json_lines()?, String::new()))
    } else {
        Ok((r.status(), Vec::new(), r.message().unwrap_or_default()))
    }
}

fn no_error(lines: &[Value]) -> Result<()> {
    if let Some(e) = lines.iter().find(|l| l.get("error").is_some()) {
        bail!("error in stream: {e}");
    }
    Ok(())
}

fn statuses(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| s(l, "/status")).collect()
}

/// Pushes a fresh image (the suite's image plus one committed layer, so that no other
/// repository has it) as `repo:v1`; returns its image ID and the pushed digest.
fn push_fresh(ctx: &mut Ctx, repo: &str) -> Result<(String, String)> {
    let (id, digest, _) = push_fresh_lines(ctx, repo)?;
    Ok((id, digest))
}

/// `push_fresh`, with the push's stream.
fn push_fresh_lines(ctx: &mut Ctx, repo: &str) -> Result<(String, String, Vec<Value>)> {
    let (id, code) = ctx.run_to_exit(&["sh", "-c", &format!("echo {repo} > /fresh")], json!({}))?;
    eq("exit code", code, 0)?;
    let r = ctx.post(&format!(
        "/commit?container={id}&repo={}&tag=v1",
        urlencode(repo)
    ))?;
    ctx.expect(&r, 201)?;
    ctx.track_image(&format!("{repo}:v1"));
    let image_id = s(&r.json()?, "/Id").to_string();
    let (status, lines) = push(ctx, repo, "v1")?;
    eq("push status", status, 200)?;
    no_error(&lines)?;
    let digest = s(lines.last().context("empty push stream")?, "/aux/Digest").to_string();
    ensure!(digest.starts_with("sha256:"), "aux {lines:?}");
    Ok((image_id, digest, lines))
}

fn push_stream(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let repo = repo(ctx, &reg, "push");
    // A fresh layer is pushed; the base layer may be mounted from another repository.
    let (_, _, lines) = push_fresh_lines(ctx, &repo)?;
    eq(
        "first line",
        s(&lines[0], "/status"),
        format!("The push refers to repository [{repo}]").as_str(),
    )?;
    let layer_lines: Vec<&Value> = lines.iter().filter(|l| l.get("id").is_some()).collect();
    ensure!(
        layer_lines.iter().any(|l| s(l, "/status") == "Preparing"),
        "no Preparing line: {lines:?}"
    );
    ensure!(
        layer_lines.iter().any(|l| s(l, "/status") == "Pushed"),
        "no Pushed line: {lines:?}"
    );
    for l in layer_lines.iter().filter(|l| s(l, "/status") == "Pushing") {
        ensure!(
            l["progressDetail"]["total"].as_u64().unwrap_or(0) > 0,
            "Pushing without a total: {l}"
        );
    }
    // The summary line, then the aux object the CLI and SDKs read, agreeing.
    let n = lines.len();
    ensure!(n >= 2, "{lines:?}");
    let aux = &lines[n - 1]["aux"];
    let (digest, size) = (s(aux, "/Digest"), aux["Size"].as_u64().unwrap_or(0));
    eq("aux Tag", s(aux, "/Tag"), "v1")?;
    eq(
        "summary",
        s(&lines[n - 2], "/status"),
        format!("v1: digest: {digest} size: {size}").as_str(),
    )?;
    ensure!(digest.starts_with("sha256:") && size > 0, "aux {aux}");
    // The pushed digest is a RepoDigest from now on.
    let r = ctx.get(&format!("/images/{repo}:v1/json"))?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    let want = format!("{repo}@{digest}");
    ensure!(
        v["RepoDigests"]
            .as_array()
            .is_some_and(|a| a.iter().any(|d| d.as_str() == Some(want.as_str()))),
        "RepoDigests {} lack {want}",
        v["RepoDigests"]
    );
    Ok(Outcome::Pass)
}

fn push_again(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let repo = repo(ctx, &reg, "again");
    let image = ctx.image.clone();
    tag(ctx, &image, &repo, "v1")?;
    let (_, first) = push(ctx, &repo, "v1")?;
    no_error(&first)?;
    let (status, lines) = push(ctx, &repo, "v1")?;
    eq("status", status, 200)?;
    no_error(&lines)?;
    let st = statuses(&lines);
    ensure!(st.contains(&"Layer already exists"), "{lines:?}");
    ensure!(!st.contains(&"Pushed"), "{lines:?}");
    eq(
        "same digest",
        s(&lines[lines.len() - 1], "/aux/Digest"),
        s(&first[first.len() - 1], "/aux/Digest"),
    )?;
    Ok(Outcome::Pass)
}

fn push_no_auth(ctx: &mut Ctx) -> Result<Outcome> {
    // Checked before any registry is contacted: no --registry needed.
    let repo = format!("{DOWN}/compat-{}/noauth", ctx.run_id);
    let image = ctx.image.clone();
    tag(ctx, &image, &repo, "v1")?;
    let r = ctx.post(&format!("/images/{repo}/push?tag=v1"))?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "Bad parameters and missing X-Registry-Auth")?;
    Ok(Outcome::Pass)
}

fn push_unknown(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let repo = repo(ctx, &reg, "nothing");
    let (status, lines) = push(ctx, &repo, "v1")?;
    // The stream is open before the image is looked up: the error is in-band.
    eq("status", status, 200)?;
    let last = lines.last().context("empty stream")?;
    let want = format!("An image does not exist locally with the tag: {repo}");
    eq("error", s(last, "/error"), want.as_str())?;
    eq(
        "errorDetail",
        s(last, "/errorDetail/message"),
        want.as_str(),
    )?;
    Ok(Outcome::Pass)
}

fn pull_stream(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let repo = repo(ctx, &reg, "pull");
    let (image_id, digest) = push_fresh(ctx, &repo)?;
    let r = ctx.delete(&format!("/images/{repo}:v1"))?;
    ctx.expect(&r, 200)?;
    let (status, lines, _) = pull(ctx, &repo, "v1")?;
    eq("status", status, 200)?;
    no_error(&lines)?;
    let path = repo.split_once('/').map_or("", |(_, p)| p);
    eq(
        "first",
        lines[0].clone(),
        json!({"status": format!("Pulling from {path}"), "id": "v1"}),
    )?;
    // The base layer is there already; the committed one is downloaded and extracted.
    let by_id = |id: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| s(l, "/id") == id)
            .map(|l| s(l, "/status"))
            .collect()
    };
    let layer_ids: Vec<&str> = lines
        .iter()
        .filter(|l| s(l, "/id").len() == 12)
        .map(|l| s(l, "/id"))
        .collect();
    ensure!(
        layer_ids.iter().any(|id| by_id(id) == ["Already exists"]),
        "no layer shown as Already exists: {lines:?}"
    );
    let fetched = layer_ids
        .iter()
        .find(|id| by_id(id).first() == Some(&"Pulling fs layer"))
        .with_context(|| format!("no layer pulled: {lines:?}"))?;
    let steps = by_id(fetched);
    let pos = |want: &str| steps.iter().position(|s| *s == want);
    match (pos("Download complete"), pos("Pull complete")) {
        (Some(a), Some(b)) if a < b => {}
        _ => bail!("layer steps out of order: {steps:?}"),
    }
    for l in lines.iter().filter(|l| {
        matches!(s(l, "/status"), "Downloading" | "Extracting") && s(l, "/id") == *fetched
    }) {
        ensure!(
            l["progressDetail"]["total"].as_u64().unwrap_or(0) > 0,
            "no total: {l}"
        );
    }
    let st = statuses(&lines);
    let n = st.len();
    eq(
        "digest line",
        st[n - 2],
        format!("Digest: {digest}").as_str(),
    )?;
    eq(
        "status line",
        st[n - 1],
        format!("Status: Downloaded newer image for {repo}:v1").as_str(),
    )?;
    let r = ctx.get(&format!("/images/{repo}:v1/json"))?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    eq("same image", s(&v, "/Id"), image_id.as_str())?;
    eq(
        "RepoDigests",
        v["RepoDigests"].clone(),
        json!([format!("{repo}@{digest}")]),
    )?;
    Ok(Outcome::Pass)
}

fn pull_up_to_date(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let repo = repo(ctx, &reg, "uptodate");
    let (_, digest) = push_fresh(ctx, &repo)?;
    let (status, lines, _) = pull(ctx, &repo, "v1")?;
    eq("status", status, 200)?;
    eq(
        "lines",
        Value::Array(lines),
        json!([
            {"status": format!("Pulling from {}", repo.split_once('/').map_or("", |(_, p)| p)), "id": "v1"},
            {"status": format!("Digest: {digest}")},
            {"status": format!("Status: Image is up to date for {repo}:v1")},
        ]),
    )?;
    Ok(Outcome::Pass)
}

fn pull_by_digest(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let repo = repo(ctx, &reg, "bydigest");
    let (image_id, digest) = push_fresh(ctx, &repo)?;
    let r = ctx.delete(&format!("/images/{repo}:v1"))?;
    ctx.expect(&r, 200)?;
    // The CLI sends the digest in `tag`.
    let (status, lines, _) = pull(ctx, &repo, &digest)?;
    eq("status", status, 200)?;
    no_error(&lines)?;
    let by_digest = format!("{repo}@{digest}");
    ctx.track_image(&by_digest);
    eq("first id", s(&lines[0], "/id"), by_digest.as_str())?;
    eq(
        "last",
        s(lines.last().context("empty")?, "/status"),
        format!("Status: Downloaded newer image for {by_digest}").as_str(),
    )?;
    let r = ctx.get(&format!("/images/{by_digest}/json"))?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    eq("Id", s(&v, "/Id"), image_id.as_str())?;
    // Pulled by digest only: no tag.
    eq("RepoTags", v["RepoTags"].clone(), json!([]))?;
    Ok(Outcome::Pass)
}

fn pull_unknown(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let repo = repo(ctx, &reg, "unknown");
    // Before anything is streamed: a plain 404 the CLI prints.
    let (status, _, m) = pull(ctx, &repo, "nope")?;
    eq("status", status, 404)?;
    eq(
        "message",
        m.as_str(),
        format!("manifest for {repo}:nope not found: manifest unknown: manifest unknown").as_str(),
    )?;
    Ok(Outcome::Pass)
}

fn pull_down(ctx: &mut Ctx) -> Result<Outcome> {
    let t = std::time::Instant::now();
    let (status, _, m) = pull(ctx, &format!("{DOWN}/x"), "y")?;
    eq("status", status, 500)?;
    eq(
        "message",
        m.as_str(),
        format!("Get \"http://{DOWN}/v2/\": dial tcp {DOWN}: connect: connection refused").as_str(),
    )?;
    ensure!(t.elapsed().as_secs() < 15, "took {:?}", t.elapsed());
    Ok(Outcome::Pass)
}

fn distribution(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let repo = repo(ctx, &reg, "dist");
    let (_, digest) = push_fresh(ctx, &repo)?;
    let r = ctx
        .req("GET", &format!("/distribution/{repo}:v1/json"))
        .header("X-Registry-Auth", NO_AUTH);
    let r = ctx.send(r)?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    eq("digest", s(&v, "/Descriptor/digest"), digest.as_str())?;
    ensure!(
        s(&v, "/Descriptor/mediaType").starts_with("application/vnd."),
        "{v}"
    );
    ensure!(v["Descriptor"]["size"].as_u64().unwrap_or(0) > 0, "{v}");
    let platforms = v["Platforms"].as_array().context("Platforms")?;
    eq("platforms", platforms.len(), 1)?;
    eq("os", s(&platforms[0], "/os"), "linux")?;
    ensure!(!s(&platforms[0], "/architecture").is_empty(), "{v}");
    Ok(Outcome::Pass)
}

fn auth_ok(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    // A registry without auth accepts any credentials.
    let r = ctx.post_json(
        "/auth",
        &json!({"username": "compat", "password": "pw", "serveraddress": reg}),
    )?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("post", "/auth", &r)?;
    eq("Status", s(&v, "/Status"), "Login Succeeded")?;
    Ok(Outcome::Pass)
}

fn auth_down(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post_json(
        "/auth",
        &json!({"username": "compat", "password": "pw", "serveraddress": DOWN}),
    )?;
    let m = ctx.expect_error(&r, 500)?;
    eq(
        "message",
        m.as_str(),
        format!("Get \"http://{DOWN}/v2/\": dial tcp {DOWN}: connect: connection refused").as_str(),
    )?;
    Ok(Outcome::Pass)
}

fn cli_pull_run(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let repo = repo(ctx, &reg, "cli");
    push_fresh(ctx, &repo)?;
    let r = ctx.delete(&format!("/images/{repo}:v1"))?;
    ctx.expect(&r, 200)?;
    let out = ctx.docker(&["pull", "-q", &format!("{repo}:v1")])?;
    ensure!(out.code == 0, "{}", out.describe());
    eq("pull -q", out.stdout.trim(), format!("{repo}:v1").as_str())?;
    ctx.track_image(&format!("{repo}:v1"));
    // `docker run` of a missing tag: the CLI pulls after the 404, then runs it.
    let r = ctx.delete(&format!("/images/{repo}:v1"))?;
    ctx.expect(&r, 200)?;
    let label = format!("{}={}", crate::ctx::RUN_LABEL, ctx.run_id);
    let out = ctx.docker(&[
        "run",
        "--rm",
        "--label",
        &label,
        &format!("{repo}:v1"),
        "cat",
        "/fresh",
    ])?;
    ensure!(out.code == 0, "{}", out.describe());
    eq("output", out.stdout.trim(), repo.as_str())?;
    contains("stderr", &out.stderr, "Unable to find image")?;
    contains("stderr", &out.stderr, "Downloaded newer image")?;
    Ok(Outcome::Pass)
}

/// `GET /images/search`: the limit's range and the filters are checked before anything
/// goes out, so these answer the same offline (Docker Hub's index is not pinged).
fn search_bad_input(ctx: &mut Ctx) -> Result<Outcome> {
    let filters = |f: &str| format!("&filters={}", urlencode(f));
    for (query, message) in [
        (
            "limit=0".to_string(),
            "Limit 0 is outside the range of [1, 100]",
        ),
        (
            "limit=101".to_string(),
            "Limit 101 is outside the range of [1, 100]",
        ),
        (filters(r#"{"bogus":["x"]}"#), "Invalid filter 'bogus'"),
        (
            filters(r#"{"is-official":["yes"]}"#),
            "Invalid filter 'is-official=[yes]'",
        ),
        (
            filters(r#"{"stars":["many"]}"#),
            "Invalid filter 'stars=many'",
        ),
    ] {
        let r = ctx.get(&format!("/images/search?term=busybox&{query}"))?;
        let m = ctx.expect_error(&r, 400).with_context(|| query.clone())?;
        eq(&query, m.as_str(), message)?;
    }
    Ok(Outcome::Pass)
}

/// A registry that is not there: the v1 ping fails over HTTPS, then over HTTP (loopback
/// registries are insecure), and both attempts are in the message.
fn search_down(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!("/images/search?term={DOWN}/busybox"))?;
    let m = ctx.expect_error(&r, 500)?;
    eq(
        "message",
        m.as_str(),
        format!(
            "invalid registry endpoint \"http://{DOWN}/v1/\". HTTPS attempt: Get \"https://{DOWN}/v1/_ping\": dial tcp {DOWN}: connect: connection refused. HTTP attempt: Get \"http://{DOWN}/v1/_ping\": dial tcp {DOWN}: connect: connection refused"
        )
        .as_str(),
    )?;
    Ok(Outcome::Pass)
}

/// A registry (distribution) has no v1 search API: the ping is answered (any answer
/// will do), the search is a 404, and the engine says so; the limit is checked between
/// the two.
fn search_no_v1(ctx: &mut Ctx) -> Result<Outcome> {
    let reg = match registry(ctx) {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let r = ctx.get(&format!("/images/search?term={reg}/busybox&limit=0"))?;
    let m = ctx.expect_error(&r, 400)?;
    eq(
        "limit",
        m.as_str(),
        "Limit 0 is outside the range of [1, 100]",
    )?;
    let r = ctx.get(&format!("/images/search?term={reg}/busybox"))?;
    let m = ctx.expect_error(&r, 500)?;
    eq("message", m.as_str(), "Unexpected status code 404")?;
    Ok(Outcome::Pass)
}
