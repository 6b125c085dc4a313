//! What only a long-running daemon under concurrent load shows: many parallel
//! `run --rm` with every exit code right, `wait` racing `rm -f`, per-container event order
//! under concurrent starts, a container started, stopped and started again many times,
//! images imported (or removed and loaded again) and run in cycles, an attach made before
//! the start, and a followed log across a restart.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::{eq, s};
use crate::ctx::{filters, Ctx, RUN_LABEL};
use crate::http::{self, Endpoint, Request};
use crate::runner::{Case, Outcome};

const A: &str = "daemon";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "parallel_run_rm_exit_codes", (1, 30), parallel_run_rm),
        Case::new(A, "wait_racing_rm_force", (1, 30), wait_racing_rm),
        Case::new(A, "event_order_concurrent_starts", (1, 24), event_order),
        Case::new(A, "start_stop_cycles", (1, 24), start_stop_cycles),
        Case::new(A, "import_run_rmi_cycles", (1, 24), import_run_cycles),
        Case::new(A, "rmi_load_run_cycles", (1, 24), rmi_load_run_cycles),
        Case::new(A, "attach_before_start", (1, 24), attach_before_start),
        Case::new(
            A,
            "logs_follow_ends_at_restart",
            (1, 24),
            logs_follow_restart,
        ),
    ]
}

fn versioned(ctx: &Ctx, method: &str, path: &str) -> Request {
    ctx.req(method, path).timeout(Duration::from_secs(120))
}

/// One `docker run --rm` as the CLI does it: create with AutoRemove, `wait
/// ?condition=removed` before start, start, read the exit code from the wait.
fn run_rm(ep: &Endpoint, create: Request, api: &str, code: i64) -> Result<i64> {
    let r = http::send(ep, &create)?;
    ensure!(r.status() == 201, "create: {} {}", r.status(), r.text());
    let id = s(&r.json()?, "/Id").to_string();
    let wait_req = Request::new(
        "POST",
        &format!("/v{api}/containers/{id}/wait?condition=removed"),
    )
    .timeout(Duration::from_secs(120));
    let (head, mut body) = http::open(ep, &wait_req)?;
    ensure!(head.status == 200, "wait: {}", head.status);
    let r = http::send(
        ep,
        &Request::new("POST", &format!("/v{api}/containers/{id}/start"))
            .timeout(Duration::from_secs(120)),
    )?;
    ensure!(r.status() == 204, "start: {} {}", r.status(), r.text());
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut body, &mut raw)?;
    let v: Value = serde_json::from_slice(&raw)
        .with_context(|| format!("wait body {:?}", String::from_utf8_lossy(&raw)))?;
    ensure!(v["Error"].is_null(), "wait error for exit {code}: {v}");
    v["StatusCode"]
        .as_i64()
        .ok_or_else(|| anyhow!("no StatusCode: {v}"))
}

fn parallel_run_rm(ctx: &mut Ctx) -> Result<Outcome> {
    const N: i64 = 50;
    let api = ctx.api.to_string();
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let ep = ctx.ep.clone();
            let body = ctx.container_config(json!({
                "Cmd": ["sh", "-c", format!("exit {i}")],
                "Labels": {"dockbridge.compat.case": "parallel_run_rm"},
                "HostConfig": {"AutoRemove": true}
            }));
            let create = versioned(ctx, "POST", "/containers/create").json(&body);
            let api = api.clone();
            std::thread::spawn(move || run_rm(&ep, create, &api, i))
        })
        .collect();
    let mut wrong = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let got = h.join().map_err(|_| anyhow!("run {i} panicked"))??;
        if got != i as i64 {
            wrong.push(format!("run {i} exited {got}"));
        }
    }
    ensure!(wrong.is_empty(), "{wrong:?}");
    // Every one of them is gone.
    let f = json!({"label": [
        format!("{RUN_LABEL}={}", ctx.run_id),
        "dockbridge.compat.case=parallel_run_rm".to_string(),
    ]});
    let r = ctx.get(&format!("/containers/json?all=1&filters={}", filters(&f)))?;
    ctx.expect(&r, 200)?;
    eq("left behind", r.json()?.as_array().map(Vec::len), Some(0))?;
    Ok(Outcome::Pass)
}

fn wait_racing_rm(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let api = ctx.api.to_string();
    let ep = ctx.ep.clone();
    let waiter = {
        let id = id.clone();
        std::thread::spawn(move || -> Result<Value> {
            let r = http::send(
                &ep,
                &Request::new("POST", &format!("/v{api}/containers/{id}/wait"))
                    .timeout(Duration::from_secs(60)),
            )?;
            ensure!(r.status() == 200, "wait: {} {}", r.status(), r.text());
            r.json()
        })
    };
    // Let the wait be registered before the removal races it.
    std::thread::sleep(Duration::from_millis(300));
    let r = ctx.delete(&format!("/containers/{id}?force=1"))?;
    ctx.expect(&r, 204)?;
    let v = waiter.join().map_err(|_| anyhow!("waiter panicked"))??;
    eq("StatusCode", v["StatusCode"].as_i64(), Some(137))?;
    let r = ctx.get(&format!("/containers/{id}/json"))?;
    ctx.expect_error(&r, 404)?;
    Ok(Outcome::Pass)
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn event_order(ctx: &mut Ctx) -> Result<Outcome> {
    const N: usize = 8;
    let since = now();
    let mut ids = Vec::new();
    for _ in 0..N {
        ids.push(ctx.create(json!({"Cmd": ["true"]}))?);
    }
    let api = ctx.api.to_string();
    let starts: Vec<_> = ids
        .iter()
        .map(|id| {
            let ep = ctx.ep.clone();
            let req = Request::new("POST", &format!("/v{api}/containers/{id}/start"))
                .timeout(Duration::from_secs(60));
            std::thread::spawn(move || http::send(&ep, &req).map(|r| r.status()))
        })
        .collect();
    for h in starts {
        let status = h.join().map_err(|_| anyhow!("start panicked"))??;
        ensure!(status == 204, "start: {status}");
    }
    for id in &ids {
        ctx.wait(id)?;
    }
    std::thread::sleep(Duration::from_millis(200));
    let until = now();
    let f = json!({"type": ["container"], "label": [format!("{RUN_LABEL}={}", ctx.run_id)]});
    let q = format!(
        "/events?since={}.{:09}&until={}.{:09}&filters={}",
        since.as_secs(),
        since.subsec_nanos(),
        until.as_secs(),
        until.subsec_nanos(),
        filters(&f)
    );
    let r = ctx.send(versioned(ctx, "GET", &q))?;
    ctx.expect(&r, 200)?;
    let evs = r.json_lines()?;
    // Per container: create, start, die, in that order, once each; times never go back.
    let mut last = 0i64;
    for e in &evs {
        let t = e["timeNano"].as_i64().unwrap_or(0);
        ensure!(t >= last, "events out of time order: {evs:?}");
        last = t;
    }
    for id in &ids {
        let seq: Vec<&str> = evs
            .iter()
            .filter(|e| s(e, "/id") == id)
            .map(|e| s(e, "/Action"))
            .filter(|a| matches!(*a, "create" | "start" | "die"))
            .collect();
        if seq != ["create", "start", "die"] {
            bail!("container {id}: {seq:?}");
        }
    }
    Ok(Outcome::Pass)
}

fn start_stop_cycles(ctx: &mut Ctx) -> Result<Outcome> {
    // The same container through 20 runs: each start runs, each exit is recorded, and
    // RestartCount stays 0 (restarts by hand are not the policy's).
    let id = ctx.create(json!({"Cmd": ["sh", "-c", "echo run"]}))?;
    for i in 0..20 {
        ctx.start(&id).with_context(|| format!("start {i}"))?;
        eq("exit", ctx.wait(&id)?, 0)?;
    }
    let v = ctx.inspect(&id)?;
    eq("RestartCount", v["RestartCount"].as_i64(), Some(0))?;
    eq("Status", s(&v, "/State/Status"), "exited")?;
    let r = ctx.get(&format!("/containers/{id}/logs?stdout=1"))?;
    let out = http::stream_text(&http::demux(&r.body)?, 1);
    eq(
        "runs logged",
        out.lines().filter(|l| *l == "run").count(),
        20,
    )?;
    Ok(Outcome::Pass)
}

fn import_run_cycles(ctx: &mut Ctx) -> Result<Outcome> {
    // Import, run, remove the container and the image, again and again: the path where a
    // start once failed with "failed to start task: not found" (a stale runtime handle).
    const N: usize = 30;
    let layer = crate::image::busybox_layer(&crate::image::ImageSpec::default())?;
    for i in 0..N {
        let repo = format!("compat-cycle-{}", ctx.run_id);
        let req = ctx
            .req(
                "POST",
                &format!("/images/create?fromSrc=-&repo={repo}&tag=v{i}"),
            )
            .body_with_type(layer.clone(), "application/x-tar")
            .timeout(Duration::from_secs(120));
        let r = ctx.send(req)?;
        ctx.expect(&r, 200)?;
        if let Some(e) = r.json_lines()?.iter().find(|m| m.get("error").is_some()) {
            bail!("cycle {i}: import: {e}");
        }
        run_then_remove_all(ctx, &format!("{repo}:v{i}"), i)?;
    }
    Ok(Outcome::Pass)
}

/// The same image removed and loaded again, then run, again and again: the content and
/// snapshots of a removed image are garbage the runtime collects while the next load
/// finds (or does not find) them — `docker save`, `rmi`, `load`, `run` as users script
/// it, where a start once failed with "failed to start task: not found".
fn rmi_load_run_cycles(ctx: &mut Ctx) -> Result<Outcome> {
    const N: usize = 40;
    let image = format!("compat-cycle-load-{}:v1", ctx.run_id);
    let archive = crate::image::busybox_archive(&[image.as_str()])?;
    for i in 0..N {
        let req = ctx
            .req("POST", "/images/load?quiet=1")
            .body_with_type(archive.clone(), "application/x-tar")
            .timeout(Duration::from_secs(120));
        let r = ctx.send(req)?;
        ctx.expect(&r, 200)?;
        if let Some(e) = r.json_lines()?.iter().find(|m| m.get("error").is_some()) {
            bail!("cycle {i}: load: {e}");
        }
        run_then_remove_all(ctx, &image, i)?;
    }
    Ok(Outcome::Pass)
}

/// One cycle's end: `true` runs from `image` and exits 0, then the container and the
/// image are removed.
fn run_then_remove_all(ctx: &mut Ctx, image: &str, cycle: usize) -> Result<()> {
    let (id, code) = ctx
        .run_to_exit(&["true"], json!({"Image": image}))
        .with_context(|| format!("cycle {cycle}"))?;
    eq("exit", code, 0)?;
    let r = ctx.delete(&format!("/containers/{id}"))?;
    ctx.expect(&r, 204)?;
    let r = ctx.delete(&format!("/images/{image}"))?;
    ctx.expect(&r, 200)?;
    Ok(())
}

/// A client attached before the start (as `docker run` attaches) gets everything the
/// process prints from its first byte, on both streams, and the stream ends at the exit.
fn attach_before_start(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({
        "Cmd": ["sh", "-c", "echo first-out; echo first-err >&2; exit 3"],
        "AttachStdout": true,
        "AttachStderr": true,
    }))?;
    let req = ctx
        .req(
            "POST",
            &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
        )
        .upgrade()
        .timeout(Duration::from_secs(30));
    let (head, mut conn) = http::hijack(&ctx.ep, &req)?;
    eq("attach status", head.status, 101)?;
    ctx.start(&id)?;
    let frames = http::demux(&conn.read_to_end()?)?;
    eq(
        "stdout",
        http::stream_text(&frames, 1),
        "first-out\n".to_string(),
    )?;
    eq(
        "stderr",
        http::stream_text(&frames, 2),
        "first-err\n".to_string(),
    )?;
    eq("exit", ctx.wait(&id)?, 3)?;
    Ok(Outcome::Pass)
}

/// `logs?follow=1` follows one run: a restart ends the stream once the first run stopped
/// (with what it printed on its way out), and the log keeps both runs.
fn logs_follow_restart(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({
        "Cmd": ["sh", "-c", "echo run; trap 'echo term; exit 0' TERM; sleep 60 & wait"],
    }))?;
    // The first line is out before the follow starts.
    std::thread::sleep(Duration::from_millis(500));
    let follow = {
        let ep = ctx.ep.clone();
        let req = versioned(
            ctx,
            "GET",
            &format!("/containers/{id}/logs?follow=1&stdout=1"),
        )
        .timeout(Duration::from_secs(30));
        std::thread::spawn(move || http::send(&ep, &req))
    };
    std::thread::sleep(Duration::from_millis(500));
    let r = ctx.send(
        ctx.req("POST", &format!("/containers/{id}/restart?t=5"))
            .timeout(Duration::from_secs(30)),
    )?;
    ctx.expect(&r, 204)?;
    let r = follow.join().map_err(|_| anyhow!("follower panicked"))??;
    ctx.expect(&r, 200)?;
    let frames = http::demux(&r.body)?;
    eq(
        "followed",
        http::stream_text(&frames, 1),
        "run\nterm\n".to_string(),
    )?;
    // The second run's first line reaches the log.
    let mut both = String::new();
    for _ in 0..50 {
        let r = ctx.get(&format!("/containers/{id}/logs?stdout=1"))?;
        ctx.expect(&r, 200)?;
        both = http::stream_text(&http::demux(&r.body)?, 1);
        if both == "run\nterm\nrun\n" {
            return Ok(Outcome::Pass);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the log after the restart: {both:?}")
}
