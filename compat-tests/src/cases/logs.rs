//! Container logs: framing, stream selection, tail, since/until,
//! timestamps, follow.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, ensure, Result};
use serde_json::json;

use super::{contains, eq};
use crate::ctx::Ctx;
use crate::http::{self, demux, stream_text};
use crate::runner::{Case, Outcome};

const A: &str = "logs";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "multiplexed_stdout_stderr", (1, 24), multiplexed),
        Case::new(A, "content_type_1_42", (1, 42), content_type),
        Case::new(A, "chunked_transfer", (1, 24), chunked),
        Case::new(A, "stdout_only", (1, 24), stdout_only),
        Case::new(A, "stderr_only", (1, 24), stderr_only),
        Case::new(A, "no_stream_selected_400", (1, 24), no_stream),
        Case::new(A, "tty_raw", (1, 24), tty_raw),
        Case::new(A, "timestamps", (1, 24), timestamps),
        Case::new(A, "tail", (1, 24), tail),
        Case::new(A, "since_future_empty", (1, 24), since_future),
        Case::new(A, "until_past_empty", (1, 35), until_past),
        Case::new(A, "follow_exited_returns", (1, 24), follow_exited),
        Case::new(A, "follow_streams_live", (1, 24), follow_live),
        Case::new(A, "order_preserved", (1, 24), order),
        Case::new(A, "large_output", (1, 24), large_output),
        Case::new(A, "partial_line_kept", (1, 24), partial_line),
        Case::new(A, "missing_container_404", (1, 24), missing),
        Case::new(A, "created_container_empty", (1, 24), created_empty),
        Case::new(A, "json_file_compress_rotates", (1, 24), compress_rotates),
        Case::new(
            A,
            "json_file_compress_needs_rotation_500",
            (1, 24),
            compress_invalid,
        ),
    ]
}

fn logs(ctx: &mut Ctx, id: &str, query: &str) -> Result<http::Response> {
    let req = ctx
        .req("GET", &format!("/containers/{id}/logs?{query}"))
        .timeout(Duration::from_secs(30));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    Ok(r)
}

fn exited(ctx: &mut Ctx, script: &str) -> Result<String> {
    Ok(ctx.run_to_exit(&["sh", "-c", script], json!({}))?.0)
}

fn multiplexed(ctx: &mut Ctx) -> Result<Outcome> {
    // stdout and stderr are two pipes read concurrently, by dockerd too: only a pause
    // between the writes makes their order in the log defined (dockerd 20.10 itself
    // logged `err` first now and then without it).
    let id = exited(ctx, "echo out; sleep 0.2; echo err >&2")?;
    let r = logs(ctx, &id, "stdout=1&stderr=1")?;
    // Exact bytes: [stream,0,0,0,len BE u32] + payload.
    let want = [
        &[1u8, 0, 0, 0, 0, 0, 0, 4][..],
        b"out\n",
        &[2, 0, 0, 0, 0, 0, 0, 4],
        b"err\n",
    ]
    .concat();
    eq("bytes", r.body.clone(), want)?;
    Ok(Outcome::Pass)
}

fn content_type(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "echo out")?;
    let r = logs(ctx, &id, "stdout=1")?;
    eq(
        "Content-Type",
        r.head.content_type(),
        "application/vnd.docker.multiplexed-stream",
    )?;
    let (id, _) = ctx.run_to_exit(&["echo", "x"], json!({"Tty": true}))?;
    let r = logs(ctx, &id, "stdout=1")?;
    eq(
        "Content-Type (tty)",
        r.head.content_type(),
        "application/vnd.docker.raw-stream",
    )?;
    Ok(Outcome::Pass)
}

fn chunked(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "echo out")?;
    let r = logs(ctx, &id, "stdout=1")?;
    // A stream has no length up front.
    ensure!(
        r.chunked,
        "logs not sent with Transfer-Encoding: chunked ({:?})",
        r.head.headers
    );
    Ok(Outcome::Pass)
}

fn stdout_only(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "echo out; echo err >&2")?;
    let frames = demux(&logs(ctx, &id, "stdout=1")?.body)?;
    eq("stdout", stream_text(&frames, 1), "out\n".to_string())?;
    ensure!(
        frames.iter().all(|f| f.stream == 1),
        "stderr frames with stdout=1 only"
    );
    Ok(Outcome::Pass)
}

fn stderr_only(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "echo out; echo err >&2")?;
    let frames = demux(&logs(ctx, &id, "stderr=1")?.body)?;
    eq("stderr", stream_text(&frames, 2), "err\n".to_string())?;
    ensure!(
        frames.iter().all(|f| f.stream == 2),
        "stdout frames with stderr=1 only"
    );
    Ok(Outcome::Pass)
}

fn no_stream(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "echo out")?;
    let r = ctx.get(&format!("/containers/{id}/logs"))?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "you must choose at least one stream")?;
    Ok(Outcome::Pass)
}

fn tty_raw(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(&["echo", "hi"], json!({"Tty": true}))?;
    let r = logs(ctx, &id, "stdout=1&stderr=1")?;
    eq("raw", r.text(), "hi\r\n".to_string())?;
    Ok(Outcome::Pass)
}

fn timestamps(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "echo one; echo two")?;
    let frames = demux(&logs(ctx, &id, "stdout=1&timestamps=1")?.body)?;
    let text = stream_text(&frames, 1);
    let lines: Vec<&str> = text.lines().collect();
    eq("lines", lines.len(), 2)?;
    for (l, want) in lines.iter().zip(["one", "two"]) {
        let (ts, rest) = l
            .split_once(' ')
            .ok_or_else(|| anyhow!("no timestamp in {l:?}"))?;
        // RFC 3339 with nanoseconds, UTC (time.RFC3339Nano).
        ensure!(
            ts.len() >= 20 && ts.ends_with('Z') && ts.as_bytes().get(10) == Some(&b'T'),
            "timestamp {ts:?}"
        );
        eq("line", rest, want)?;
    }
    Ok(Outcome::Pass)
}

fn tail(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "echo 1; echo 2; echo 3")?;
    let f = demux(&logs(ctx, &id, "stdout=1&tail=2")?.body)?;
    eq("tail=2", stream_text(&f, 1), "2\n3\n".to_string())?;
    let f = demux(&logs(ctx, &id, "stdout=1&tail=0")?.body)?;
    eq("tail=0", stream_text(&f, 1), String::new())?;
    let f = demux(&logs(ctx, &id, "stdout=1&tail=all")?.body)?;
    eq("tail=all", stream_text(&f, 1), "1\n2\n3\n".to_string())?;
    let f = demux(&logs(ctx, &id, "stdout=1&tail=10")?.body)?;
    eq("tail=10", stream_text(&f, 1), "1\n2\n3\n".to_string())?;
    Ok(Outcome::Pass)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn since_future(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "echo 1")?;
    let r = logs(ctx, &id, &format!("stdout=1&since={}", now_secs() + 3600))?;
    ensure!(r.body.is_empty(), "logs since the future: {:?}", r.text());
    let r = logs(ctx, &id, "stdout=1&since=1")?;
    ensure!(!r.body.is_empty(), "since=1 returned nothing");
    Ok(Outcome::Pass)
}

fn until_past(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "echo 1")?;
    let r = logs(ctx, &id, "stdout=1&until=1000")?;
    ensure!(r.body.is_empty(), "logs until 1970: {:?}", r.text());
    let r = logs(ctx, &id, &format!("stdout=1&until={}", now_secs() + 3600))?;
    ensure!(!r.body.is_empty(), "until=future returned nothing");
    Ok(Outcome::Pass)
}

fn follow_exited(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "echo done")?;
    let t = Instant::now();
    let f = demux(&logs(ctx, &id, "stdout=1&follow=1")?.body)?;
    eq("stdout", stream_text(&f, 1), "done\n".to_string())?;
    ensure!(
        t.elapsed() < Duration::from_secs(10),
        "follow on an exited container took {:?}",
        t.elapsed()
    );
    Ok(Outcome::Pass)
}

fn follow_live(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(
        json!({"Cmd": ["sh", "-c", "trap 'exit 0' TERM; echo first; sleep 1000 & wait"]}),
    )?;
    let req = ctx
        .req("GET", &format!("/containers/{id}/logs?stdout=1&follow=1"))
        .timeout(Duration::from_secs(15));
    // Headers must arrive before the container exits.
    let (head, mut body) = http::open(&ctx.ep, &req)?;
    eq("status", head.status, 200)?;
    let mut hdr = [0u8; 8];
    std::io::Read::read_exact(&mut body, &mut hdr)?;
    eq("frame stream", hdr[0], 1)?;
    let len = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
    let mut payload = vec![0u8; len];
    std::io::Read::read_exact(&mut body, &mut payload)?;
    eq(
        "first line",
        String::from_utf8_lossy(&payload).into_owned(),
        "first\n".to_string(),
    )?;
    ctx.stop(&id)?;
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut body, &mut rest)
        .map_err(|e| anyhow!("follow did not end after stop: {e}"))?;
    Ok(Outcome::Pass)
}

fn order(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "seq 1 200")?;
    let f = demux(&logs(ctx, &id, "stdout=1")?.body)?;
    let want: String = (1..=200).map(|i| format!("{i}\n")).collect();
    eq("seq", stream_text(&f, 1), want)?;
    Ok(Outcome::Pass)
}

fn large_output(ctx: &mut Ctx) -> Result<Outcome> {
    // 40000 lines of 10 bytes: well past any single frame / chunk size.
    let id = exited(ctx, "yes 123456789 | head -n 40000")?;
    let f = demux(&logs(ctx, &id, "stdout=1")?.body)?;
    let out = stream_text(&f, 1);
    eq("bytes", out.len(), 400_000)?;
    ensure!(out.lines().all(|l| l == "123456789"), "corrupted lines");
    Ok(Outcome::Pass)
}

fn partial_line(ctx: &mut Ctx) -> Result<Outcome> {
    let id = exited(ctx, "printf 'no newline'")?;
    let f = demux(&logs(ctx, &id, "stdout=1")?.body)?;
    eq("stdout", stream_text(&f, 1), "no newline".to_string())?;
    Ok(Outcome::Pass)
}

fn missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!(
        "/containers/compat-missing-{}/logs?stdout=1",
        ctx.run_id
    ))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "No such container")?;
    Ok(Outcome::Pass)
}

fn created_empty(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["echo", "never"]}))?;
    let r = logs(ctx, &id, "stdout=1&stderr=1")?;
    ensure!(
        r.body.is_empty(),
        "logs of a never-started container: {:?}",
        r.text()
    );
    Ok(Outcome::Pass)
}

fn json_file(opts: serde_json::Value) -> serde_json::Value {
    json!({"HostConfig": {"LogConfig": {"Type": "json-file", "Config": opts}}})
}

fn compress_rotates(ctx: &mut Ctx) -> Result<Outcome> {
    // 1 KiB files, three kept (two gzipped): `logs` reads across them, in order.
    let (id, code) = ctx.run_to_exit(
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done",
        ],
        json_file(json!({"compress": "true", "max-size": "1k", "max-file": "3"})),
    )?;
    eq("exit", code, 0)?;
    let f = demux(&logs(ctx, &id, "stdout=1")?.body)?;
    let out = stream_text(&f, 1);
    let nums: Vec<u32> = out
        .lines()
        .map(|l| l.trim_start_matches("line-").parse())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("{e}: {out:?}"))?;
    eq("last", nums.last().copied(), Some(199))?;
    // More than the current file holds (about 14 entries of ~70 bytes), and not all.
    ensure!(nums.len() > 16 && nums.len() < 200, "{} lines", nums.len());
    ensure!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
    Ok(Outcome::Pass)
}

fn compress_invalid(ctx: &mut Ctx) -> Result<Outcome> {
    // Accepted at create; the logger refuses it when the container starts.
    let mut cfg = json!({"Cmd": ["true"]});
    crate::ctx::merge(&mut cfg, json_file(json!({"compress": "true"})));
    let id = ctx.create(cfg)?;
    let r = ctx.post(&format!("/containers/{id}/start"))?;
    let m = ctx.expect_error(&r, 500)?;
    let want = "failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set";
    eq("message", m.as_str(), want)?;
    let v = ctx.inspect(&id)?;
    eq("State.Error", v["State"]["Error"].as_str(), Some(want))?;
    eq(
        "State.Status",
        v["State"]["Status"].as_str(),
        Some("created"),
    )?;
    Ok(Outcome::Pass)
}
