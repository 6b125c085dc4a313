//! The classic builder (`POST /build`, API version 1 builder): the stream's step lines,
//! aux IDs and `Successfully …` lines, the committed config and history `CreatedBy`
//! strings, a failing RUN's `errorDetail`, the cache, `--target`, quiet mode.
//! Every case passes on dockerd 20.10.

use anyhow::{anyhow, ensure, Result};
use serde_json::Value;

use super::{eq, s};
use crate::ctx::Ctx;
use crate::runner::{Case, Outcome};

const A: &str = "build";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(
            A,
            "stream_config_and_history",
            (1, 24),
            stream_config_history,
        ),
        Case::new(A, "failing_run_error_detail", (1, 24), failing_run),
        Case::new(A, "multi_stage_target_and_aux", (1, 24), multi_stage),
        Case::new(A, "cache_hit_same_image", (1, 24), cache_hit),
        Case::new(A, "quiet_only_the_id", (1, 24), quiet),
        Case::new(A, "dockerfile_parse_error", (1, 24), parse_error),
    ]
}

/// A context tar of `files`.
fn context(files: &[(&str, &str)]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, content.as_bytes())?;
    }
    Ok(b.into_inner()?)
}

fn build(ctx: &mut Ctx, query: &str, files: &[(&str, &str)]) -> Result<(u16, Vec<Value>)> {
    let body = context(files)?;
    let req = ctx
        .req("POST", &format!("/build?{query}"))
        .body_with_type(body, "application/x-tar")
        .timeout(std::time::Duration::from_secs(120));
    let r = ctx.send(req)?;
    let status = r.status();
    let lines = if status == 200 {
        r.json_lines()?
    } else {
        vec![r.json()?]
    };
    Ok((status, lines))
}

/// The `stream` texts, concatenated.
fn text(lines: &[Value]) -> String {
    lines
        .iter()
        .filter_map(|l| l.get("stream").and_then(Value::as_str))
        .collect()
}

fn aux_ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.pointer("/aux/ID").and_then(Value::as_str))
        .map(String::from)
        .collect()
}

fn step_lines(lines: &[Value]) -> Vec<String> {
    text(lines)
        .lines()
        .filter(|l| l.starts_with("Step "))
        .map(String::from)
        .collect()
}

fn error_of(lines: &[Value]) -> Option<&Value> {
    lines.iter().find(|l| l.get("errorDetail").is_some())
}

/// `COPY file:<hash>` → `COPY file:H` (the hash is each engine's own).
fn unhash(s: &str) -> String {
    let mut out = s.to_string();
    for kind in ["file:", "dir:", "multi:"] {
        if let Some(i) = out.find(kind) {
            let start = i + kind.len();
            let end = out[start..]
                .find(|c: char| !c.is_ascii_hexdigit())
                .map_or(out.len(), |e| start + e);
            if end - start == 64 {
                out.replace_range(start..end, "H");
            }
        }
    }
    out
}

fn stream_config_history(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let tag = format!("compat-build-{}:one", ctx.run_id);
    ctx.track_image(&tag);
    let dockerfile = format!(
        "FROM {img}\nENV A=1 B=\"two words\"\nARG X=5\nRUN echo hi $X\nCOPY a.txt /app/\nWORKDIR /app\nCMD [\"sh\"]\nENTRYPOINT echo ep\nLABEL k=v\nEXPOSE 80 53/udp\nUSER nobody\nVOLUME /data\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s CMD true\nRUN true\n"
    );
    let q = format!(
        "t={tag}&rm=1&nocache=1&labels=%7B%22z%22%3A%22q%22%7D&buildargs=%7B%22X%22%3A%227%22%7D"
    );
    let (status, lines) = build(
        ctx,
        &q,
        &[("Dockerfile", &dockerfile), ("a.txt", "hello\n")],
    )?;
    eq("status", status, 200)?;
    ensure!(error_of(&lines).is_none(), "build failed: {lines:?}");
    eq(
        "steps",
        step_lines(&lines),
        vec![
            format!("Step 1/16 : FROM {img}"),
            "Step 2/16 : ENV A=1 B=\"two words\"".into(),
            "Step 3/16 : ARG X=5".into(),
            "Step 4/16 : RUN echo hi $X".into(),
            "Step 5/16 : COPY a.txt /app/".into(),
            "Step 6/16 : WORKDIR /app".into(),
            "Step 7/16 : CMD [\"sh\"]".into(),
            "Step 8/16 : ENTRYPOINT echo ep".into(),
            "Step 9/16 : LABEL k=v".into(),
            "Step 10/16 : EXPOSE 80 53/udp".into(),
            "Step 11/16 : USER nobody".into(),
            "Step 12/16 : VOLUME /data".into(),
            "Step 13/16 : STOPSIGNAL SIGINT".into(),
            "Step 14/16 : HEALTHCHECK --interval=5s CMD true".into(),
            "Step 15/16 : RUN true".into(),
            "Step 16/16 : LABEL z=q".into(),
        ],
    )?;
    // Each step line is its own message, its newline the next one.
    let first = lines
        .iter()
        .position(|l| s(l, "/stream").starts_with("Step 1/16"))
        .ok_or_else(|| anyhow!("no Step 1"))?;
    eq(
        "newline after the step",
        s(&lines[first + 1], "/stream"),
        "\n",
    )?;
    let t = text(&lines);
    ensure!(t.contains("\nhi 7\n"), "RUN output missing: {t}");
    ensure!(t.contains(" ---> Running in "), "{t}");
    ensure!(t.contains("Removing intermediate container "), "{t}");
    let ids = aux_ids(&lines);
    eq("aux lines", ids.len(), 1)?;
    let id = ids[0].clone();
    ensure!(
        t.contains(&format!("Successfully built {}\n", &id[7..19])),
        "{t}"
    );
    ensure!(t.contains(&format!("Successfully tagged {tag}\n")), "{t}");

    let v = ctx.get(&format!("/images/{tag}/json"))?.json()?;
    eq("Id", s(&v, "/Id"), id.as_str())?;
    ensure!(
        s(&v, "/Parent").starts_with("sha256:"),
        "Parent {:?}",
        v["Parent"]
    );
    let c = &v["Config"];
    eq(
        "Env",
        c["Env"].clone(),
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "A=1",
            "B=two words"
        ]),
    )?;
    eq("Cmd", c["Cmd"].clone(), serde_json::json!(["sh"]))?;
    eq(
        "Entrypoint",
        c["Entrypoint"].clone(),
        serde_json::json!(["/bin/sh", "-c", "echo ep"]),
    )?;
    eq("WorkingDir", s(c, "/WorkingDir"), "/app")?;
    eq("User", s(c, "/User"), "nobody")?;
    eq(
        "Labels",
        c["Labels"].clone(),
        serde_json::json!({"k": "v", "z": "q"}),
    )?;
    eq(
        "ExposedPorts",
        c["ExposedPorts"].clone(),
        serde_json::json!({"53/udp": {}, "80/tcp": {}}),
    )?;
    eq(
        "Volumes",
        c["Volumes"].clone(),
        serde_json::json!({"/data": {}}),
    )?;
    eq("StopSignal", s(c, "/StopSignal"), "SIGINT")?;
    eq(
        "Healthcheck",
        c["Healthcheck"].clone(),
        serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000i64}),
    )?;
    ensure!(
        c.get("ArgsEscaped").is_none_or(|a| a == false),
        "ArgsEscaped {:?}",
        c.get("ArgsEscaped")
    );

    let h = ctx.get(&format!("/images/{tag}/history"))?.json()?;
    let by: Vec<String> = h
        .as_array()
        .ok_or_else(|| anyhow!("history not a list"))?
        .iter()
        .map(|e| unhash(s(e, "/CreatedBy")))
        .collect();
    eq(
        "CreatedBy",
        by[..16].to_vec(),
        vec![
            "/bin/sh -c #(nop)  LABEL z=q".to_string(),
            "|1 X=7 /bin/sh -c true".into(),
            "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"true\"] \"5s\" \"0s\" \"0s\" '\\x00'}".into(),
            "/bin/sh -c #(nop)  STOPSIGNAL SIGINT".into(),
            "/bin/sh -c #(nop)  VOLUME [/data]".into(),
            "/bin/sh -c #(nop)  USER nobody".into(),
            "/bin/sh -c #(nop)  EXPOSE 53/udp 80".into(),
            "/bin/sh -c #(nop)  LABEL k=v".into(),
            "/bin/sh -c #(nop)  ENTRYPOINT [\"/bin/sh\" \"-c\" \"echo ep\"]".into(),
            "/bin/sh -c #(nop)  CMD [\"sh\"]".into(),
            "/bin/sh -c #(nop) WORKDIR /app".into(),
            "/bin/sh -c #(nop) COPY file:H in /app/ ".into(),
            "|1 X=7 /bin/sh -c echo hi $X".into(),
            "/bin/sh -c #(nop)  ARG X=5".into(),
            "/bin/sh -c #(nop)  ENV A=1 B=two words".into(),
            "dockbridge-compat busybox image".into(),
        ],
    )?;
    // The parents are local images: their IDs are on their entries.
    let second = s(&h[1], "/Id");
    eq("history[1].Id", second, s(&v, "/Parent"))?;
    // Sizes: config-only steps made no layer.
    eq("LABEL size", h[0]["Size"].as_i64(), Some(0))?;
    eq("COPY size", h[11]["Size"].as_i64(), Some(6))?;
    Ok(Outcome::Pass)
}

fn failing_run(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let tag = format!("compat-build-{}:fail", ctx.run_id);
    ctx.track_image(&tag);
    let (status, lines) = build(
        ctx,
        &format!("t={tag}"),
        &[(
            "Dockerfile",
            &format!("FROM {img}\nRUN echo out && exit 3\n"),
        )],
    )?;
    eq("status", status, 200)?;
    let e = error_of(&lines).ok_or_else(|| anyhow!("no errorDetail: {lines:?}"))?;
    let msg = "The command '/bin/sh -c echo out && exit 3' returned a non-zero code: 3";
    eq(
        "errorDetail.code",
        e.pointer("/errorDetail/code").and_then(Value::as_i64),
        Some(3),
    )?;
    eq("errorDetail.message", s(e, "/errorDetail/message"), msg)?;
    eq("error", s(e, "/error"), msg)?;
    ensure!(text(&lines).contains("\nout\n"), "{lines:?}");
    ensure!(aux_ids(&lines).is_empty(), "aux on a failed build");
    let r = ctx.get(&format!("/images/{tag}/json"))?;
    eq("tagged after a failure", r.status(), 404)?;
    Ok(Outcome::Pass)
}

fn multi_stage(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let tag = format!("compat-build-{}:multi", ctx.run_id);
    ctx.track_image(&tag);
    let df = format!(
        "ARG BASE={img}\nFROM $BASE AS first\nRUN echo one > /one\nFROM first AS second\nCOPY --from=first /one /two\nFROM $BASE\nRUN echo never\n"
    );
    let (status, lines) = build(
        ctx,
        &format!("t={tag}&target=second&nocache=1"),
        &[("Dockerfile", &df)],
    )?;
    eq("status", status, 200)?;
    ensure!(error_of(&lines).is_none(), "{lines:?}");
    eq(
        "steps",
        step_lines(&lines),
        vec![
            "Step 1/5 : ARG BASE=".to_string() + &img,
            "Step 2/5 : FROM $BASE AS first".into(),
            "Step 3/5 : RUN echo one > /one".into(),
            "Step 4/5 : FROM first AS second".into(),
            "Step 5/5 : COPY --from=first /one /two".into(),
        ],
    )?;
    // One aux line per stage.
    let ids = aux_ids(&lines);
    eq("aux lines", ids.len(), 2)?;
    let v = ctx.get(&format!("/images/{tag}/json"))?.json()?;
    eq("Id", s(&v, "/Id"), ids[1].as_str())?;
    Ok(Outcome::Pass)
}

fn cache_hit(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let tag = format!("compat-build-{}:cache", ctx.run_id);
    ctx.track_image(&tag);
    let df = format!(
        "FROM {img}\nENV C={}\nRUN echo x > /x\nCOPY f /f\n",
        ctx.run_id
    );
    let files = [("Dockerfile", df.as_str()), ("f", "content")];
    let (_, first) = build(ctx, &format!("t={tag}"), &files)?;
    ensure!(error_of(&first).is_none(), "{first:?}");
    let (_, second) = build(ctx, &format!("t={tag}"), &files)?;
    ensure!(error_of(&second).is_none(), "{second:?}");
    eq(
        "Using cache",
        text(&second).matches(" ---> Using cache\n").count(),
        3,
    )?;
    eq("same image", aux_ids(&second), aux_ids(&first))?;
    // A changed file misses at its COPY only.
    let files = [("Dockerfile", df.as_str()), ("f", "changed")];
    let (_, third) = build(ctx, &format!("t={tag}"), &files)?;
    eq(
        "Using cache after a change",
        text(&third).matches(" ---> Using cache\n").count(),
        2,
    )?;
    Ok(Outcome::Pass)
}

fn quiet(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let (status, lines) = build(
        ctx,
        "q=1",
        &[("Dockerfile", &format!("FROM {img}\nENV Q=1\n"))],
    )?;
    eq("status", status, 200)?;
    eq("messages", lines.len(), 1)?;
    let id = s(&lines[0], "/stream").trim().to_string();
    ensure!(id.starts_with("sha256:") && id.len() == 71, "{lines:?}");
    let r = ctx.delete(&format!("/images/{id}"))?;
    ctx.expect(&r, 200)?;
    Ok(Outcome::Pass)
}

fn parse_error(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let (status, lines) = build(
        ctx,
        "",
        &[("Dockerfile", &format!("FROM {img}\nFOO bar\n"))],
    )?;
    ensure!((400..600).contains(&status), "status {status}");
    let msg = lines
        .first()
        .map(|l| s(l, "/message").to_string())
        .unwrap_or_default();
    ensure!(msg.contains("unknown instruction: FOO"), "{msg}");
    Ok(Outcome::Pass)
}
