//! Container lifecycle: start, stop, kill, restart, rename, rm, wait,
//! pause, restart policies.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use serde_json::json;

use super::{b, contains, eq, i, s};
use crate::ctx::Ctx;
use crate::http;
use crate::runner::{Case, Outcome};

const A: &str = "lifecycle";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "start_204", (1, 24), start_204),
        Case::new(A, "start_already_started_304", (1, 24), start_again_304),
        Case::new(A, "start_missing_404", (1, 24), start_missing),
        Case::new(A, "stop_204_exit_code", (1, 24), stop_204),
        Case::new(A, "stop_stopped_304", (1, 24), stop_stopped_304),
        Case::new(A, "stop_timeout_then_sigkill", (1, 24), stop_timeout_kill),
        Case::new(A, "stop_uses_stop_signal", (1, 24), stop_signal),
        Case::new(A, "stop_missing_404", (1, 24), stop_missing),
        Case::new(A, "kill_default_sigkill", (1, 24), kill_default),
        Case::new(A, "kill_signal_name_and_number", (1, 24), kill_signal),
        Case::new(A, "kill_not_running_409", (1, 24), kill_not_running),
        Case::new(A, "kill_invalid_signal_400", (1, 24), kill_invalid_signal),
        Case::new(A, "restart_running", (1, 24), restart_running),
        Case::new(A, "restart_stopped_starts", (1, 24), restart_stopped),
        Case::new(A, "rename_204", (1, 24), rename),
        Case::new(A, "rename_conflict_409", (1, 24), rename_conflict),
        Case::new(A, "rename_missing_404", (1, 24), rename_missing),
        Case::new(A, "remove_created_204", (1, 24), remove_created),
        Case::new(A, "remove_running_409", (1, 24), remove_running),
        Case::new(A, "remove_force_running", (1, 24), remove_force),
        Case::new(A, "remove_missing_404", (1, 24), remove_missing),
        Case::new(A, "wait_exit_code_schema", (1, 30), wait_exit_code),
        Case::new(
            A,
            "wait_not_running_on_created",
            (1, 30),
            wait_not_running_created,
        ),
        Case::new(A, "wait_next_exit", (1, 30), wait_next_exit),
        Case::new(A, "wait_removed_autoremove", (1, 30), wait_removed),
        Case::new(A, "wait_headers_before_exit", (1, 30), wait_headers_flushed),
        Case::new(A, "wait_missing_404", (1, 24), wait_missing),
        Case::new(A, "pause_unpause", (1, 24), pause_unpause),
        Case::new(A, "pause_not_running_409", (1, 24), pause_not_running),
        Case::new(A, "unpause_not_paused_409", (1, 24), unpause_not_paused),
        Case::new(
            A,
            "restart_policy_on_failure",
            (1, 24),
            restart_policy_on_failure,
        ),
        Case::new(A, "autoremove_after_exit", (1, 25), autoremove),
        Case::new(A, "exit_code_propagates", (1, 24), exit_code),
    ]
}

fn status(ctx: &mut Ctx, id: &str) -> Result<String> {
    Ok(s(&ctx.inspect(id)?, "/State/Status").to_string())
}

fn start_204(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": crate::ctx::KEEPALIVE}))?;
    let r = ctx.post(&format!("/containers/{id}/start"))?;
    ctx.expect(&r, 204)?;
    ensure!(r.body.is_empty(), "204 with a body");
    eq("status", status(ctx, &id)?, "running".into())?;
    Ok(Outcome::Pass)
}

fn start_again_304(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post(&format!("/containers/{id}/start"))?;
    ctx.expect(&r, 304)?;
    Ok(Outcome::Pass)
}

fn start_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post(&format!("/containers/compat-missing-{}/start", ctx.run_id))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "No such container")?;
    Ok(Outcome::Pass)
}

fn stop_204(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post(&format!("/containers/{id}/stop?t=5"))?;
    ctx.expect(&r, 204)?;
    let v = ctx.inspect(&id)?;
    eq("status", s(&v, "/State/Status"), "exited")?;
    // The keepalive traps TERM and exits 0.
    eq("ExitCode", i(&v, "/State/ExitCode"), Some(0))?;
    Ok(Outcome::Pass)
}

fn stop_stopped_304(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(&["true"], json!({}))?;
    let r = ctx.post(&format!("/containers/{id}/stop"))?;
    ctx.expect(&r, 304)?;
    let id2 = ctx.create(json!({"Cmd": ["true"]}))?;
    let r = ctx.post(&format!("/containers/{id2}/stop"))?;
    ctx.expect(&r, 304)?;
    Ok(Outcome::Pass)
}

fn stop_timeout_kill(ctx: &mut Ctx) -> Result<Outcome> {
    // PID 1 without a TERM handler ignores SIGTERM: only the kill ends it.
    let id = ctx.run_bg(json!({"Cmd": ["sleep", "1000"]}))?;
    let t = Instant::now();
    let r = ctx.post(&format!("/containers/{id}/stop?t=1"))?;
    ctx.expect(&r, 204)?;
    let took = t.elapsed();
    ensure!(
        took >= Duration::from_millis(900),
        "stop returned after {took:?}, before the timeout"
    );
    ensure!(took < Duration::from_secs(15), "stop took {took:?}");
    eq(
        "ExitCode",
        i(&ctx.inspect(&id)?, "/State/ExitCode"),
        Some(137),
    )?;
    Ok(Outcome::Pass)
}

fn stop_signal(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({
        "Cmd": ["sh", "-c", "trap 'exit 42' USR1; sleep 1000 & wait"],
        "StopSignal": "SIGUSR1",
    }))?;
    let r = ctx.post(&format!("/containers/{id}/stop?t=10"))?;
    ctx.expect(&r, 204)?;
    eq(
        "ExitCode",
        i(&ctx.inspect(&id)?, "/State/ExitCode"),
        Some(42),
    )?;
    Ok(Outcome::Pass)
}

fn stop_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post(&format!("/containers/compat-missing-{}/stop", ctx.run_id))?;
    ctx.expect_error(&r, 404)?;
    Ok(Outcome::Pass)
}

fn kill_default(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post(&format!("/containers/{id}/kill"))?;
    ctx.expect(&r, 204)?;
    eq("wait", ctx.wait(&id)?, 137)?;
    eq("status", status(ctx, &id)?, "exited".into())?;
    Ok(Outcome::Pass)
}

fn kill_signal(ctx: &mut Ctx) -> Result<Outcome> {
    let cmd =
        json!({"Cmd": ["sh", "-c", "trap 'exit 7' USR1; trap 'exit 8' USR2; sleep 1000 & wait"]});
    let id = ctx.run_bg(cmd.clone())?;
    let r = ctx.post(&format!("/containers/{id}/kill?signal=SIGUSR1"))?;
    ctx.expect(&r, 204)?;
    eq("exit after SIGUSR1", ctx.wait(&id)?, 7)?;
    let id = ctx.run_bg(cmd.clone())?;
    let r = ctx.post(&format!("/containers/{id}/kill?signal=12"))?;
    ctx.expect(&r, 204)?;
    eq("exit after signal 12", ctx.wait(&id)?, 8)?;
    let id = ctx.run_bg(cmd)?;
    let r = ctx.post(&format!("/containers/{id}/kill?signal=USR2"))?;
    ctx.expect(&r, 204)?;
    eq("exit after USR2", ctx.wait(&id)?, 8)?;
    Ok(Outcome::Pass)
}

fn kill_not_running(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let r = ctx.post(&format!("/containers/{id}/kill"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "is not running")?;
    Ok(Outcome::Pass)
}

fn kill_invalid_signal(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post(&format!("/containers/{id}/kill?signal=SIGCOMPAT"))?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m.to_lowercase(), "signal")?;
    eq("still running", status(ctx, &id)?, "running".into())?;
    Ok(Outcome::Pass)
}

fn restart_running(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let before = ctx.inspect(&id)?;
    let r = ctx.post(&format!("/containers/{id}/restart?t=5"))?;
    ctx.expect(&r, 204)?;
    let after = ctx.inspect(&id)?;
    eq("status", s(&after, "/State/Status"), "running")?;
    ensure!(
        s(&after, "/State/StartedAt") != s(&before, "/State/StartedAt"),
        "StartedAt unchanged"
    );
    ensure!(
        i(&after, "/State/Pid") != i(&before, "/State/Pid"),
        "Pid unchanged"
    );
    // A manual restart is not a policy restart.
    eq("RestartCount", i(&after, "/RestartCount"), Some(0))?;
    Ok(Outcome::Pass)
}

fn restart_stopped(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": crate::ctx::KEEPALIVE}))?;
    let r = ctx.post(&format!("/containers/{id}/restart?t=1"))?;
    ctx.expect(&r, 204)?;
    eq("status", status(ctx, &id)?, "running".into())?;
    Ok(Outcome::Pass)
}

fn rename(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let new = ctx.name();
    let r = ctx.post(&format!("/containers/{id}/rename?name={new}"))?;
    ctx.expect(&r, 204)?;
    eq(
        "Name",
        s(&ctx.inspect(&id)?, "/Name").to_string(),
        format!("/{new}"),
    )?;
    eq("by new name", s(&ctx.inspect(&new)?, "/Id").to_string(), id)?;
    Ok(Outcome::Pass)
}

fn rename_conflict(ctx: &mut Ctx) -> Result<Outcome> {
    let taken = ctx.name();
    ctx.create_named(&taken, json!({"Cmd": ["true"]}))?;
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let r = ctx.post(&format!("/containers/{id}/rename?name={taken}"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "is already in use")?;
    Ok(Outcome::Pass)
}

fn rename_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post(&format!(
        "/containers/compat-missing-{}/rename?name=compat-x-{}",
        ctx.run_id, ctx.run_id
    ))?;
    ctx.expect_error(&r, 404)?;
    Ok(Outcome::Pass)
}

fn remove_created(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let r = ctx.delete(&format!("/containers/{id}"))?;
    ctx.expect(&r, 204)?;
    let r = ctx.get(&format!("/containers/{id}/json"))?;
    ctx.expect(&r, 404)?;
    Ok(Outcome::Pass)
}

fn remove_running(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.delete(&format!("/containers/{id}"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "You cannot remove a running container")?;
    Ok(Outcome::Pass)
}

fn remove_force(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.delete(&format!("/containers/{id}?force=1&v=1"))?;
    ctx.expect(&r, 204)?;
    let r = ctx.get(&format!("/containers/{id}/json"))?;
    ctx.expect(&r, 404)?;
    Ok(Outcome::Pass)
}

fn remove_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let name = format!("compat-missing-{}", ctx.run_id);
    let r = ctx.delete(&format!("/containers/{name}"))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, &format!("No such container: {name}"))?;
    Ok(Outcome::Pass)
}

fn wait_exit_code(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["sh", "-c", "exit 5"]}))?;
    ctx.start(&id)?;
    let r = ctx.post(&format!("/containers/{id}/wait"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("post", "/containers/{id}/wait", &r)?;
    eq("StatusCode", i(&v, "/StatusCode"), Some(5))?;
    Ok(Outcome::Pass)
}

fn wait_not_running_created(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let req = ctx
        .req(
            "POST",
            &format!("/containers/{id}/wait?condition=not-running"),
        )
        .timeout(Duration::from_secs(10));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    eq("StatusCode", i(&r.json()?, "/StatusCode"), Some(0))?;
    Ok(Outcome::Pass)
}

fn wait_next_exit(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["sh", "-c", "sleep 0.5; exit 9"]}))?;
    let req = ctx
        .req(
            "POST",
            &format!("/containers/{id}/wait?condition=next-exit"),
        )
        .timeout(Duration::from_secs(30));
    let ep = ctx.ep.clone();
    // Like the CLI: wait is posted before start.
    let waiter = thread::spawn(move || http::send(&ep, &req));
    thread::sleep(Duration::from_millis(300));
    ctx.start(&id)?;
    let r = waiter
        .join()
        .map_err(|_| anyhow!("wait thread panicked"))??;
    ctx.expect(&r, 200)?;
    eq("StatusCode", i(&r.json()?, "/StatusCode"), Some(9))?;
    Ok(Outcome::Pass)
}

fn wait_removed(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(
        json!({"Cmd": ["sh", "-c", "sleep 0.3; exit 4"], "HostConfig": {"AutoRemove": true}}),
    )?;
    let req = ctx
        .req("POST", &format!("/containers/{id}/wait?condition=removed"))
        .timeout(Duration::from_secs(30));
    let ep = ctx.ep.clone();
    let waiter = thread::spawn(move || http::send(&ep, &req));
    thread::sleep(Duration::from_millis(300));
    ctx.start(&id)?;
    let r = waiter
        .join()
        .map_err(|_| anyhow!("wait thread panicked"))??;
    ctx.expect(&r, 200)?;
    eq("StatusCode", i(&r.json()?, "/StatusCode"), Some(4))?;
    let r = ctx.get(&format!("/containers/{id}/json"))?;
    ctx.expect(&r, 404)
        .map_err(|e| anyhow!("container still there after condition=removed: {e}"))?;
    Ok(Outcome::Pass)
}

fn wait_headers_flushed(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let req = ctx
        .req("POST", &format!("/containers/{id}/wait"))
        .timeout(Duration::from_secs(5));
    // Clients block on the response head: it must come before the exit.
    let (head, mut body) = http::open(&ctx.ep, &req)?;
    eq("status", head.status, 200)?;
    ctx.stop(&id)?;
    body.set_read_timeout(Duration::from_secs(20))?;
    let v = body
        .next_json()?
        .ok_or_else(|| anyhow!("no body after exit"))?;
    eq("StatusCode", i(&v, "/StatusCode"), Some(0))?;
    Ok(Outcome::Pass)
}

fn wait_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post(&format!("/containers/compat-missing-{}/wait", ctx.run_id))?;
    ctx.expect_error(&r, 404)?;
    Ok(Outcome::Pass)
}

fn pause_unpause(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post(&format!("/containers/{id}/pause"))?;
    ctx.expect(&r, 204)?;
    let v = ctx.inspect(&id)?;
    eq("Status", s(&v, "/State/Status"), "paused")?;
    eq("Paused", b(&v, "/State/Paused"), Some(true))?;
    eq("Running", b(&v, "/State/Running"), Some(true))?;
    let r = ctx.post(&format!("/containers/{id}/unpause"))?;
    ctx.expect(&r, 204)?;
    let v = ctx.inspect(&id)?;
    eq("Status", s(&v, "/State/Status"), "running")?;
    eq("Paused", b(&v, "/State/Paused"), Some(false))?;
    Ok(Outcome::Pass)
}

fn pause_not_running(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let r = ctx.post(&format!("/containers/{id}/pause"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "is not running")?;
    Ok(Outcome::Pass)
}

fn unpause_not_paused(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post(&format!("/containers/{id}/unpause"))?;
    // 409 since Docker 23; 20.10 answered 500.
    let m = ctx.expect_error_in(&r, &[409, 500])?;
    contains("message", &m, "is not paused")?;
    Ok(Outcome::Pass)
}

fn restart_policy_on_failure(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({
        "Cmd": ["sh", "-c", "exit 1"],
        "HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
    }))?;
    ctx.start(&id)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = ctx.inspect(&id)?;
        if i(&v, "/RestartCount") == Some(2) && s(&v, "/State/Status") == "exited" {
            eq("ExitCode", i(&v, "/State/ExitCode"), Some(1))?;
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "RestartCount {:?} status {} after 20s",
            v.get("RestartCount"),
            s(&v, "/State/Status")
        );
        thread::sleep(Duration::from_millis(200));
    }
    // No third restart.
    thread::sleep(Duration::from_millis(500));
    eq(
        "RestartCount",
        i(&ctx.inspect(&id)?, "/RestartCount"),
        Some(2),
    )?;
    Ok(Outcome::Pass)
}

fn autoremove(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"], "HostConfig": {"AutoRemove": true}}))?;
    ctx.start(&id)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = ctx.get(&format!("/containers/{id}/json"))?;
        if r.status() == 404 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "AutoRemove container still there after 15s"
        );
        thread::sleep(Duration::from_millis(100));
    }
    Ok(Outcome::Pass)
}

fn exit_code(ctx: &mut Ctx) -> Result<Outcome> {
    for code in [0, 1, 42, 255] {
        let cmd = format!("exit {code}");
        let (id, got) = ctx.run_to_exit(&["sh", "-c", &cmd], json!({}))?;
        eq("wait", got, code)?;
        eq(
            "State.ExitCode",
            i(&ctx.inspect(&id)?, "/State/ExitCode"),
            Some(code),
        )?;
    }
    Ok(Outcome::Pass)
}
