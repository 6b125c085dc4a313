//! What SDKs rely on that the CLI forgives (issue 18: docker-py's everyday calls): the
//! effective defaults in inspect of a minimal create, a hijack head that arrives before any
//! stream byte, kill returning once the container exited, rm of a restarting container,
//! commit of an exited one with the SDK's default pause, resource updates, prune sizes,
//! diff without the daemon's own files, following the logs of an exited container.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use serde_json::json;

use super::{contains, eq, i, s};
use crate::ctx::{filters, json_type as typ, Ctx, RUN_LABEL};
use crate::http;
use crate::runner::{Case, Outcome};

const A: &str = "sdk";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(
            A,
            "inspect_minimal_create_defaults",
            (1, 24),
            inspect_defaults,
        ),
        Case::new(A, "exec_head_before_payload", (1, 24), head_before_payload),
        Case::new(A, "kill_returns_after_exit", (1, 24), kill_then_inspect),
        Case::new(A, "rm_restarting_409", (1, 24), rm_restarting),
        Case::new(A, "commit_exited_with_pause", (1, 24), commit_exited),
        Case::new(A, "update_memory_reflected", (1, 24), update_memory),
        Case::new(A, "prune_reports_space", (1, 25), prune_space),
        Case::new(A, "diff_only_changes", (1, 24), diff_only_changes),
        Case::new(A, "logs_follow_exited_ends", (1, 24), follow_exited),
        Case::new(A, "invalid_log_driver_400", (1, 24), invalid_log_driver),
    ]
}

fn inspect_defaults(ctx: &mut Ctx) -> Result<Outcome> {
    // The smallest body an SDK sends: no HostConfig at all.
    let name = ctx.name();
    let body = json!({ "Image": ctx.image, "Cmd": ["true"], "Labels": { RUN_LABEL: ctx.run_id } });
    let r = ctx.post_json(&format!("/containers/create?name={name}"), &body)?;
    ctx.track_container(&name);
    ctx.expect(&r, 201)?;
    let v = ctx.inspect(&name)?;
    eq(
        "LogConfig.Type",
        s(&v, "/HostConfig/LogConfig/Type"),
        "json-file",
    )?;
    eq(
        "LogConfig.Config",
        typ(&v["HostConfig"]["LogConfig"]["Config"]),
        "object",
    )?;
    eq(
        "RestartPolicy.Name type",
        typ(&v["HostConfig"]["RestartPolicy"]["Name"]),
        "string",
    )?;
    ensure!(i(&v, "/HostConfig/ShmSize").unwrap_or(0) > 0, "ShmSize");
    for (ptr, want) in [
        ("/HostConfig/Binds", "null"),
        ("/HostConfig/PortBindings", "null"),
        ("/HostConfig/Devices", "null"),
        ("/HostConfig/CapAdd", "null"),
        ("/HostConfig/Privileged", "bool"),
        ("/HostConfig/Memory", "number"),
        ("/HostConfig/NetworkMode", "string"),
        ("/HostConfig/ConsoleSize", "array"),
        ("/HostConfig/IpcMode", "string"),
        ("/NetworkSettings/MacAddress", "string"),
        ("/NetworkSettings/Networks", "object"),
        ("/NetworkSettings/Ports", "object"),
        ("/Config/Tty", "bool"),
        ("/Config/OpenStdin", "bool"),
        ("/Config/AttachStdout", "bool"),
        ("/Config/User", "string"),
        ("/Config/Domainname", "string"),
        ("/Config/Entrypoint", "null"),
        ("/Config/Labels", "object"),
        ("/State/Pid", "number"),
        ("/State/Error", "string"),
        ("/Mounts", "array"),
        ("/RestartCount", "number"),
        ("/Platform", "string"),
    ] {
        let got = v
            .pointer(ptr)
            .ok_or_else(|| anyhow!("{ptr} missing in inspect"))?;
        eq(ptr, typ(got), want)?;
    }
    Ok(Outcome::Pass)
}

fn head_before_payload(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    for _ in 0..5 {
        let r = ctx.post_json(
            &format!("/containers/{id}/exec"),
            &json!({ "Cmd": ["echo", "payload"], "AttachStdout": true, "AttachStderr": true }),
        )?;
        ctx.expect(&r, 201)?;
        let exec = s(&r.json()?, "/Id").to_string();
        let req = ctx
            .req("POST", &format!("/exec/{exec}/start"))
            .json(&json!({ "Detach": false, "Tty": false }))
            .upgrade()
            .timeout(Duration::from_secs(30));
        let (head, mut c) = http::hijack(&ctx.ep, &req)?;
        eq("status", head.status, 101)?;
        // What the reader holds right after the head is what Python's http.client keeps
        // in its buffer and docker-py never sees: it must be nothing.
        let early = c.reader.buffer().len();
        eq("stream bytes delivered with the head", early, 0)?;
        let out = c.read_to_end()?;
        eq(
            "frame",
            out,
            [&[1u8, 0, 0, 0, 0, 0, 0, 8][..], b"payload\n"].concat(),
        )?;
    }
    Ok(Outcome::Pass)
}

fn kill_then_inspect(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post(&format!("/containers/{id}/kill"))?;
    ctx.expect(&r, 204)?;
    // No waiting: the SDK reloads at once and removes.
    let v = ctx.inspect(&id)?;
    eq("status right after kill", s(&v, "/State/Status"), "exited")?;
    eq("exit code", i(&v, "/State/ExitCode"), Some(137))?;
    let r = ctx.delete(&format!("/containers/{id}"))?;
    ctx.expect(&r, 204)?;
    Ok(Outcome::Pass)
}

fn rm_restarting(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({
        "Cmd": ["sh", "-c", "exit 1"],
        "HostConfig": { "RestartPolicy": { "Name": "always" } }
    }))?;
    ctx.start(&id)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = ctx.inspect(&id)?;
        if s(&v, "/State/Status") == "restarting" {
            eq("Restarting", v["State"]["Restarting"].clone(), json!(true))?;
            eq(
                "Running while restarting",
                v["State"]["Running"].clone(),
                json!(true),
            )?;
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "never restarting: {}",
            v["State"]
        );
        thread::sleep(Duration::from_millis(20));
    }
    let r = ctx.delete(&format!("/containers/{id}"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "cannot remove a restarting container")?;
    // Still there; removal with force works.
    ctx.inspect(&id)?;
    let r = ctx.delete(&format!("/containers/{id}?force=1"))?;
    ctx.expect(&r, 204)?;
    Ok(Outcome::Pass)
}

fn commit_exited(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, code) = ctx.run_to_exit(&["sh", "-c", "echo made > /made"], json!({}))?;
    eq("exit", code, 0)?;
    let repo = format!("compat-sdk-commit-{}", ctx.name());
    ctx.track_image(&format!("{repo}:latest"));
    // docker-py sends pause=true by default.
    let r = ctx.post(&format!("/commit?container={id}&repo={repo}&pause=1"))?;
    ctx.expect(&r, 201)?;
    ensure!(s(&r.json()?, "/Id").starts_with("sha256:"), "no image id");
    Ok(Outcome::Pass)
}

fn update_memory(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post_json(
        &format!("/containers/{id}/update"),
        &json!({ "Memory": 64 << 20, "MemorySwap": 128 << 20, "CpuShares": 512 }),
    )?;
    ctx.expect(&r, 200)?;
    let v = ctx.inspect(&id)?;
    eq("Memory", i(&v, "/HostConfig/Memory"), Some(64 << 20))?;
    eq(
        "MemorySwap",
        i(&v, "/HostConfig/MemorySwap"),
        Some(128 << 20),
    )?;
    eq("CpuShares", i(&v, "/HostConfig/CpuShares"), Some(512))?;
    // Memory above the recorded swap without a new swap: dockerd's conflict.
    let r = ctx.post_json(
        &format!("/containers/{id}/update"),
        &json!({ "Memory": 256 << 20 }),
    )?;
    let m = ctx.expect_error(&r, 409)?;
    contains(
        "message",
        &m,
        "Memory limit should be smaller than already set memoryswap limit",
    )?;
    Ok(Outcome::Pass)
}

fn prune_space(ctx: &mut Ctx) -> Result<Outcome> {
    let label = format!("compat-sdk-prune-{}", ctx.run_id);
    let (id, _) = ctx.run_to_exit(
        &["dd", "if=/dev/zero", "of=/big", "bs=1024", "count=100"],
        json!({ "Labels": { label.clone(): "" } }),
    )?;
    let f = filters(&json!({ "label": [label] }));
    let r = ctx.post(&format!("/containers/prune?filters={f}"))?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    eq("deleted", v["ContainersDeleted"].clone(), json!([id]))?;
    let space = i(&v, "/SpaceReclaimed").unwrap_or(0);
    ensure!(space >= 100 * 1024, "SpaceReclaimed {space}");
    Ok(Outcome::Pass)
}

fn diff_only_changes(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(&["touch", "/test"], json!({}))?;
    let r = ctx.get(&format!("/containers/{id}/changes"))?;
    ctx.expect(&r, 200)?;
    eq(
        "changes",
        r.json()?,
        json!([{ "Path": "/test", "Kind": 1 }]),
    )?;
    Ok(Outcome::Pass)
}

fn follow_exited(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(&["sh", "-c", "echo a; echo b"], json!({}))?;
    let started = Instant::now();
    let req = ctx
        .req("GET", &format!("/containers/{id}/logs?stdout=1&follow=1"))
        .timeout(Duration::from_secs(10));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    ensure!(
        started.elapsed() < Duration::from_secs(8),
        "follow did not end"
    );
    let text = String::from_utf8_lossy(&r.body).to_string();
    ensure!(text.contains("a\n") && text.contains("b\n"), "{text:?}");
    Ok(Outcome::Pass)
}

fn invalid_log_driver(ctx: &mut Ctx) -> Result<Outcome> {
    let name = ctx.name();
    let body = ctx.container_config(json!({
        "Cmd": ["true"], "HostConfig": { "LogConfig": { "Type": "asdf" } }
    }));
    let r = ctx.post_json(&format!("/containers/create?name={name}"), &body)?;
    ctx.track_container(&name);
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "asdf")?;
    Ok(Outcome::Pass)
}
