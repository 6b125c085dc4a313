//! Healthchecks: `State.Health` as probes run (status, failing streak, the log entries and
//! their fields), the `health` filter of the container list, the `health_status` events,
//! and `HEALTHCHECK` in `docker commit --change`.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use serde_json::{json, Value};

use super::{eq, i, s};
use crate::ctx::{filters, urlencode, Ctx};
use crate::runner::{Case, Outcome};

const A: &str = "health";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "healthy_after_a_passing_probe", (1, 24), healthy),
        Case::new(A, "unhealthy_after_retries", (1, 24), unhealthy),
        Case::new(A, "probe_timeout_is_a_failure", (1, 24), timeout),
        Case::new(A, "starting_before_the_first_probe", (1, 24), starting),
        Case::new(A, "list_filter_health", (1, 24), list_filter),
        Case::new(A, "health_status_events", (1, 24), events),
        Case::new(A, "no_health_without_a_check", (1, 24), none),
        Case::new(A, "commit_change_healthcheck", (1, 24), commit_change),
    ]
}

/// 200 ms between probes: quick, and well above the 1 ms minimum.
const FAST: i64 = 200_000_000;

fn run_with_check(ctx: &mut Ctx, test: Value, extra: Value) -> Result<String> {
    let mut hc = json!({ "Test": test, "Interval": FAST, "Retries": 1 });
    crate::ctx::merge(&mut hc, extra);
    ctx.run_bg(json!({ "Healthcheck": hc }))
}

/// Polls inspect until `State.Health.Status` is `want` (10 s at most); returns the inspect.
fn wait_health(ctx: &mut Ctx, id: &str, want: &str) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = ctx.inspect(id)?;
        if s(&v, "/State/Health/Status") == want {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!(
                "health never became {want}: {}",
                v.pointer("/State/Health").cloned().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn healthy(ctx: &mut Ctx) -> Result<Outcome> {
    let id = run_with_check(ctx, json!(["CMD-SHELL", "echo probe-ok"]), json!({}))?;
    let v = wait_health(ctx, &id, "healthy")?;
    eq(
        "FailingStreak",
        i(&v, "/State/Health/FailingStreak"),
        Some(0),
    )?;
    let log = v
        .pointer("/State/Health/Log")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    ensure!(!log.is_empty(), "no probe in the log");
    let last = &log[log.len() - 1];
    eq("ExitCode", i(last, "/ExitCode"), Some(0))?;
    eq("Output", s(last, "/Output"), "probe-ok\n")?;
    for k in ["/Start", "/End"] {
        ensure!(
            chrono::DateTime::parse_from_rfc3339(s(last, k)).is_ok(),
            "{k} is not an RFC 3339 time: {last}"
        );
    }
    // The list's status text says so, as `docker ps` shows it.
    let r = ctx.get(&format!(
        "/containers/json?filters={}",
        filters(&json!({ "id": [id] }))
    ))?;
    ctx.expect(&r, 200)?;
    let list = r.json()?;
    let status = s(&list[0], "/Status");
    ensure!(status.ends_with("(healthy)"), "list status {status:?}");
    Ok(Outcome::Pass)
}

fn unhealthy(ctx: &mut Ctx) -> Result<Outcome> {
    let id = run_with_check(ctx, json!(["CMD", "false"]), json!({ "Retries": 2 }))?;
    let v = wait_health(ctx, &id, "unhealthy")?;
    let streak = i(&v, "/State/Health/FailingStreak").unwrap_or(0);
    ensure!(streak >= 2, "FailingStreak {streak} below Retries");
    let log = v
        .pointer("/State/Health/Log")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    ensure!(log.len() <= 5, "more than five log entries: {}", log.len());
    eq(
        "ExitCode",
        log.last().and_then(|l| i(l, "/ExitCode")),
        Some(1),
    )?;
    // Still running: health does not stop a container.
    eq("status", s(&v, "/State/Status"), "running")?;
    Ok(Outcome::Pass)
}

fn timeout(ctx: &mut Ctx) -> Result<Outcome> {
    let id = run_with_check(
        ctx,
        json!(["CMD", "sleep", "10"]),
        json!({ "Timeout": 300_000_000i64 }),
    )?;
    let v = wait_health(ctx, &id, "unhealthy")?;
    let out = v
        .pointer("/State/Health/Log/0/Output")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    eq(
        "probe output",
        out.as_str(),
        "Health check exceeded timeout (300ms)",
    )?;
    eq("ExitCode", i(&v, "/State/Health/Log/0/ExitCode"), Some(-1))?;
    Ok(Outcome::Pass)
}

fn starting(ctx: &mut Ctx) -> Result<Outcome> {
    // A 10 minute interval: no probe runs during the case.
    let id = ctx.run_bg(json!({
        "Healthcheck": { "Test": ["CMD", "true"], "Interval": 600_000_000_000i64 }
    }))?;
    let v = ctx.inspect(&id)?;
    eq("status", s(&v, "/State/Health/Status"), "starting")?;
    eq("streak", i(&v, "/State/Health/FailingStreak"), Some(0))?;
    let r = ctx.get(&format!(
        "/containers/json?filters={}",
        filters(&json!({ "id": [id] }))
    ))?;
    let list = r.json()?;
    let status = s(&list[0], "/Status");
    ensure!(
        status.ends_with("(health: starting)"),
        "list status {status:?}"
    );
    Ok(Outcome::Pass)
}

fn list_filter(ctx: &mut Ctx) -> Result<Outcome> {
    let good = run_with_check(ctx, json!(["CMD", "true"]), json!({}))?;
    let plain = ctx.run_bg(json!({}))?;
    wait_health(ctx, &good, "healthy")?;
    let ids = |ctx: &mut Ctx, f: Value| -> Result<Vec<String>> {
        let r = ctx.get(&format!("/containers/json?filters={}", filters(&f)))?;
        ctx.expect(&r, 200)?;
        Ok(r.json()?
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| s(c, "/Id").to_string())
            .collect())
    };
    let healthy = ids(ctx, json!({ "health": ["healthy"] }))?;
    ensure!(healthy.contains(&good), "healthy filter misses it");
    ensure!(
        !healthy.contains(&plain),
        "healthy filter lists one without a check"
    );
    let none = ids(ctx, json!({ "health": ["none"] }))?;
    ensure!(
        none.contains(&plain) && !none.contains(&good),
        "none filter"
    );
    let r = ctx.get(&format!(
        "/containers/json?filters={}",
        filters(&json!({ "health": ["sick"] }))
    ))?;
    ctx.expect_error(&r, 400)?;
    Ok(Outcome::Pass)
}

fn events(ctx: &mut Ctx) -> Result<Outcome> {
    let since = chrono::Utc::now().timestamp() - 1;
    let id = run_with_check(ctx, json!(["CMD", "true"]), json!({}))?;
    wait_health(ctx, &id, "healthy")?;
    let until = chrono::Utc::now().timestamp() + 1;
    let r = ctx.get(&format!(
        "/events?since={since}&until={until}&filters={}",
        filters(&json!({ "container": [id] }))
    ))?;
    ctx.expect(&r, 200)?;
    let body = String::from_utf8_lossy(&r.body).to_string();
    let actions: Vec<String> = body
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| s(&e, "/Action").to_string())
        .collect();
    ensure!(
        actions.iter().any(|a| a == "health_status: healthy"),
        "no health_status event in {actions:?}"
    );
    Ok(Outcome::Pass)
}

fn none(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let v = ctx.inspect(&id)?;
    ensure!(
        v.pointer("/State/Health").is_none_or(Value::is_null),
        "Health present without a check: {}",
        v["State"]
    );
    // `NONE` disables it too.
    let id = ctx.run_bg(json!({ "Healthcheck": { "Test": ["NONE"] } }))?;
    let v = ctx.inspect(&id)?;
    ensure!(
        v.pointer("/State/Health").is_none_or(Value::is_null),
        "Health present with NONE"
    );
    Ok(Outcome::Pass)
}

fn commit_change(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({ "Cmd": ["true"] }))?;
    let repo = format!("compat-health-{}", ctx.name());
    ctx.track_image(&format!("{repo}:latest"));
    let change = urlencode("HEALTHCHECK --interval=5s --retries=2 CMD wget -q -O- localhost");
    let r = ctx.post(&format!(
        "/commit?container={id}&repo={repo}&changes={change}"
    ))?;
    ctx.expect(&r, 201)?;
    let r = ctx.get(&format!("/images/{repo}/json"))?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    eq(
        "Healthcheck",
        v.pointer("/Config/Healthcheck")
            .cloned()
            .unwrap_or_default(),
        json!({
            "Test": ["CMD-SHELL", "wget -q -O- localhost"],
            "Interval": 5_000_000_000i64,
            "Retries": 2
        }),
    )?;
    Ok(Outcome::Pass)
}
