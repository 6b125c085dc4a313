//! Events: sequence, attributes, since/until, filters, streaming.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, ensure, Result};
use serde_json::{json, Value};

use super::{contains, eq, s};
use crate::ctx::{filters, Ctx, RUN_LABEL};
use crate::http;
use crate::runner::{Case, Outcome};

const A: &str = "events";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(
            A,
            "container_lifecycle_sequence",
            (1, 24),
            lifecycle_sequence,
        ),
        Case::new(A, "schema", (1, 24), schema),
        Case::new(A, "actor_attributes", (1, 24), actor_attributes),
        Case::new(A, "die_exit_code_attribute", (1, 24), die_exit_code),
        Case::new(A, "kill_signal_attribute", (1, 24), kill_signal),
        Case::new(A, "rename_old_name_attribute", (1, 24), rename),
        Case::new(A, "filter_event", (1, 24), filter_event),
        Case::new(A, "filter_type_image", (1, 24), filter_type_image),
        Case::new(A, "filter_label", (1, 24), filter_label),
        Case::new(A, "pause_unpause_events", (1, 24), pause_unpause),
        Case::new(A, "exec_events", (1, 24), exec_events),
        Case::new(A, "until_past_returns_at_once", (1, 24), until_past),
        Case::new(A, "stream_delivers_live", (1, 24), stream_live),
        Case::new(A, "stream_chunked_json", (1, 24), stream_chunked),
        Case::new(A, "malformed_filters_rejected", (1, 24), invalid_filter),
        Case::new(A, "since_after_until_400", (1, 24), since_after_until),
        Case::new(A, "time_fields_consistent", (1, 24), time_fields),
    ]
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `secs.nanos`, the fractional form `since` / `until` accept.
fn ts(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Events between `since` and now matching `f`, read to the end.
fn events(ctx: &mut Ctx, since: Duration, f: Value) -> Result<Vec<Value>> {
    // Event timestamps are taken by the daemon after the API call returns:
    // a short pause keeps the last ones inside `until`.
    std::thread::sleep(Duration::from_millis(100));
    let until = now();
    let q = format!(
        "/events?since={}&until={}&filters={}",
        ts(since),
        ts(until),
        filters(&f)
    );
    let req = ctx.req("GET", &q).timeout(Duration::from_secs(20));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    r.json_lines()
}

fn actions(evs: &[Value]) -> Vec<String> {
    evs.iter().map(|e| s(e, "/Action").to_string()).collect()
}

fn lifecycle_sequence(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let (id, _) = ctx.run_to_exit(&["true"], json!({}))?;
    let r = ctx.delete(&format!("/containers/{id}"))?;
    ctx.expect(&r, 204)?;
    let evs = events(ctx, since, json!({"container": [id]}))?;
    let got = actions(&evs);
    let want = ["create", "start", "die", "destroy"];
    let filtered: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|a| want.contains(a))
        .collect();
    eq("actions", filtered, want.to_vec())?;
    ensure!(
        evs.iter().all(|e| e["Type"] == "container"),
        "non-container events: {evs:?}"
    );
    Ok(Outcome::Pass)
}

fn schema(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let evs = events(ctx, since, json!({"container": [id]}))?;
    ensure!(!evs.is_empty(), "no events");
    for e in &evs {
        ctx.schema.validate_response("get", "/events", 200, e)?;
    }
    Ok(Outcome::Pass)
}

fn find<'a>(evs: &'a [Value], action: &str) -> Result<&'a Value> {
    evs.iter()
        .find(|e| e["Action"] == action)
        .ok_or_else(|| anyhow!("no {action} event in {:?}", actions(evs)))
}

fn actor_attributes(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let name = ctx.name();
    let id = ctx.create_named(
        &name,
        json!({"Cmd": ["true"], "Labels": {"compat.ev": "yes"}}),
    )?;
    let evs = events(ctx, since, json!({"container": [id]}))?;
    let e = find(&evs, "create")?;
    eq("Actor.ID", s(e, "/Actor/ID"), id.as_str())?;
    eq("name", s(e, "/Actor/Attributes/name"), name.as_str())?;
    eq("image", s(e, "/Actor/Attributes/image"), ctx.image.as_str())?;
    eq(
        "label attribute",
        s(e, "/Actor/Attributes/compat.ev"),
        "yes",
    )?;
    eq("scope", s(e, "/scope"), "local")?;
    Ok(Outcome::Pass)
}

fn die_exit_code(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let (id, _) = ctx.run_to_exit(&["sh", "-c", "exit 3"], json!({}))?;
    let evs = events(ctx, since, json!({"container": [id], "event": ["die"]}))?;
    let e = find(&evs, "die")?;
    eq("exitCode", s(e, "/Actor/Attributes/exitCode"), "3")?;
    Ok(Outcome::Pass)
}

fn kill_signal(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post(&format!("/containers/{id}/kill?signal=SIGKILL"))?;
    ctx.expect(&r, 204)?;
    ctx.wait(&id)?;
    let evs = events(ctx, since, json!({"container": [id], "event": ["kill"]}))?;
    eq(
        "signal",
        s(find(&evs, "kill")?, "/Actor/Attributes/signal"),
        "9",
    )?;
    Ok(Outcome::Pass)
}

fn rename(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let old = ctx.name();
    let id = ctx.create_named(&old, json!({"Cmd": ["true"]}))?;
    let new = ctx.name();
    let r = ctx.post(&format!("/containers/{id}/rename?name={new}"))?;
    ctx.expect(&r, 204)?;
    let evs = events(ctx, since, json!({"container": [id], "event": ["rename"]}))?;
    let e = find(&evs, "rename")?;
    eq(
        "oldName",
        s(e, "/Actor/Attributes/oldName").to_string(),
        format!("/{old}"),
    )?;
    eq("name", s(e, "/Actor/Attributes/name"), new.as_str())?;
    Ok(Outcome::Pass)
}

fn filter_event(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let (id, _) = ctx.run_to_exit(&["true"], json!({}))?;
    let evs = events(ctx, since, json!({"container": [id], "event": ["start"]}))?;
    eq("actions", actions(&evs), vec!["start".to_string()])?;
    Ok(Outcome::Pass)
}

fn filter_type_image(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let repo = format!("compat-evtag-{}", ctx.run_id);
    ctx.track_image(&format!("{repo}:x"));
    let img = ctx.image.clone();
    let r = ctx.post(&format!("/images/{img}/tag?repo={repo}&tag=x"))?;
    ctx.expect(&r, 201)?;
    let r = ctx.delete(&format!("/images/{repo}:x"))?;
    ctx.expect(&r, 200)?;
    let evs = events(
        ctx,
        since,
        json!({"type": ["image"], "image": [ctx.image_id]}),
    )?;
    ensure!(
        evs.iter().all(|e| e["Type"] == "image"),
        "non-image events: {evs:?}"
    );
    let tag = find(&evs, "tag")?;
    eq("tag Actor.ID", s(tag, "/Actor/ID"), ctx.image_id.as_str())?;
    eq(
        "tag name",
        s(tag, "/Actor/Attributes/name").to_string(),
        format!("{repo}:x"),
    )?;
    find(&evs, "untag")?;
    Ok(Outcome::Pass)
}

fn filter_label(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let mark = format!("lbl-{}", ctx.run_id);
    let a = ctx.create(json!({"Cmd": ["true"], "Labels": {"compat.evlabel": mark}}))?;
    let b = ctx.create(json!({"Cmd": ["true"]}))?;
    let evs = events(
        ctx,
        since,
        json!({"label": [format!("compat.evlabel={mark}")]}),
    )?;
    ensure!(
        evs.iter().any(|e| e["Actor"]["ID"] == a.as_str()),
        "labelled container's events missing"
    );
    ensure!(
        !evs.iter().any(|e| e["Actor"]["ID"] == b.as_str()),
        "unlabelled container's events included"
    );
    Ok(Outcome::Pass)
}

fn pause_unpause(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let id = ctx.run_bg(json!({}))?;
    for op in ["pause", "unpause"] {
        let r = ctx.post(&format!("/containers/{id}/{op}"))?;
        ctx.expect(&r, 204)?;
    }
    let evs = events(
        ctx,
        since,
        json!({"container": [id], "event": ["pause", "unpause"]}),
    )?;
    eq(
        "actions",
        actions(&evs),
        vec!["pause".to_string(), "unpause".to_string()],
    )?;
    Ok(Outcome::Pass)
}

fn exec_events(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.post_json(&format!("/containers/{id}/exec"), &json!({"Cmd": ["true"]}))?;
    ctx.expect(&r, 201)?;
    let exec = s(&r.json()?, "/Id").to_string();
    let r = ctx.post_json(&format!("/exec/{exec}/start"), &json!({"Detach": true}))?;
    ctx.expect(&r, 200)?;
    std::thread::sleep(Duration::from_millis(300));
    let evs = events(ctx, since, json!({"container": [id]}))?;
    // The action carries the command ("exec_create: true") up to API 1.45.
    ensure!(
        evs.iter()
            .any(|e| s(e, "/Action").starts_with("exec_create")),
        "no exec_create in {:?}",
        actions(&evs)
    );
    ensure!(
        evs.iter()
            .any(|e| s(e, "/Action").starts_with("exec_start")),
        "no exec_start in {:?}",
        actions(&evs)
    );
    Ok(Outcome::Pass)
}

fn until_past(ctx: &mut Ctx) -> Result<Outcome> {
    let t = Instant::now();
    let until = now().saturating_sub(Duration::from_secs(3600));
    let since = until.saturating_sub(Duration::from_secs(60));
    let req = ctx
        .req(
            "GET",
            &format!("/events?since={}&until={}", ts(since), ts(until)),
        )
        .timeout(Duration::from_secs(10));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    ensure!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    Ok(Outcome::Pass)
}

fn stream_live(ctx: &mut Ctx) -> Result<Outcome> {
    let f = json!({"label": [format!("{RUN_LABEL}={}", ctx.run_id)], "event": ["create"]});
    let req = ctx
        .req("GET", &format!("/events?filters={}", filters(&f)))
        .timeout(Duration::from_secs(10));
    // The head must arrive before any event: clients block on it.
    let (head, mut body) = http::open(&ctx.ep, &req)?;
    eq("status", head.status, 200)?;
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let e = body.next_json()?.ok_or_else(|| anyhow!("stream ended"))?;
    eq("Action", s(&e, "/Action"), "create")?;
    eq("Actor.ID", s(&e, "/Actor/ID"), id.as_str())?;
    Ok(Outcome::Pass)
}

fn stream_chunked(ctx: &mut Ctx) -> Result<Outcome> {
    let req = ctx
        .req("GET", &format!("/events?since={}", ts(now())))
        .timeout(Duration::from_secs(5));
    let (head, _body) = http::open(&ctx.ep, &req)?;
    eq("status", head.status, 200)?;
    eq("Content-Type", head.content_type(), "application/json")?;
    eq(
        "Transfer-Encoding",
        head.header("Transfer-Encoding"),
        Some("chunked"),
    )?;
    Ok(Outcome::Pass)
}

fn invalid_filter(ctx: &mut Ctx) -> Result<Outcome> {
    let q = format!("/events?until={}&filters=%7Bnot-json", ts(now()));
    let r = ctx.get(&q)?;
    // 400 since Docker 23; 20.10 answered 500.
    ctx.expect_error_in(&r, &[400, 500])?;
    Ok(Outcome::Pass)
}

fn since_after_until(ctx: &mut Ctx) -> Result<Outcome> {
    let n = now();
    let q = format!(
        "/events?since={}&until={}",
        ts(n),
        ts(n.saturating_sub(Duration::from_secs(100)))
    );
    let r = ctx.get(&q)?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "cannot be after")?;
    Ok(Outcome::Pass)
}

fn time_fields(ctx: &mut Ctx) -> Result<Outcome> {
    let since = now();
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let evs = events(ctx, since, json!({"container": [id]}))?;
    let e = find(&evs, "create")?;
    let secs = e["time"]
        .as_i64()
        .ok_or_else(|| anyhow!("time not an integer: {e}"))?;
    let nanos = e["timeNano"]
        .as_i64()
        .ok_or_else(|| anyhow!("timeNano not an integer: {e}"))?;
    eq("time == timeNano / 1e9", secs, nanos / 1_000_000_000)?;
    let lo = since.as_secs() as i64 - 1;
    ensure!(
        secs >= lo && secs <= now().as_secs() as i64 + 1,
        "time {secs} outside the case's window"
    );
    Ok(Outcome::Pass)
}
