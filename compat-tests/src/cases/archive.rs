//! Archive (docker cp): GET / HEAD / PUT /containers/{id}/archive.

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use serde_json::{json, Value};

use super::{contains, eq, i, s};
use crate::ctx::Ctx;
use crate::http::Response;
use crate::image;
use crate::runner::{Case, Outcome};

const A: &str = "archive";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "get_file", (1, 24), get_file),
        Case::new(A, "get_file_stat_header", (1, 24), get_stat_header),
        Case::new(A, "head_stat_only", (1, 24), head_stat),
        Case::new(A, "get_directory", (1, 24), get_dir),
        Case::new(A, "stat_symlink", (1, 24), stat_symlink),
        Case::new(A, "get_missing_path_404", (1, 24), get_missing_path),
        Case::new(A, "head_missing_path_404", (1, 24), head_missing_path),
        Case::new(
            A,
            "get_missing_container_404",
            (1, 24),
            get_missing_container,
        ),
        Case::new(A, "put_file_roundtrip", (1, 24), put_roundtrip),
        Case::new(A, "put_into_created_container", (1, 24), put_created),
        Case::new(A, "put_chunked_body", (1, 24), put_chunked),
        Case::new(A, "put_missing_dir_404", (1, 24), put_missing_dir),
        Case::new(A, "put_onto_file_rejected", (1, 24), put_onto_file),
        Case::new(A, "put_readonly_rootfs_rejected", (1, 24), put_readonly),
        Case::new(A, "get_from_stopped_container", (1, 24), get_stopped),
    ]
}

fn get(ctx: &mut Ctx, id: &str, path: &str) -> Result<Response> {
    let req = ctx
        .req(
            "GET",
            &format!(
                "/containers/{id}/archive?path={}",
                crate::ctx::urlencode(path)
            ),
        )
        .timeout(Duration::from_secs(30));
    ctx.send(req)
}

fn stat(r: &Response) -> Result<Value> {
    let h = r
        .header("X-Docker-Container-Path-Stat")
        .ok_or_else(|| anyhow!("no X-Docker-Container-Path-Stat header"))?;
    let raw = base64_decode(h)?;
    Ok(serde_json::from_slice(&raw)?)
}

/// Standard base64 (with padding), as Go's base64.StdEncoding.
fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return Err(anyhow!("bad base64 {s:?}")),
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// A tar with one regular file.
fn one_file_tar(name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(946_684_800);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)?;
    Ok(b.into_inner()?)
}

fn put(ctx: &mut Ctx, id: &str, path: &str, tar: Vec<u8>) -> Result<Response> {
    let req = ctx
        .req(
            "PUT",
            &format!(
                "/containers/{id}/archive?path={}",
                crate::ctx::urlencode(path)
            ),
        )
        .body_with_type(tar, "application/x-tar");
    ctx.send(req)
}

fn read_back(ctx: &mut Ctx, id: &str, path: &str) -> Result<Vec<u8>> {
    let r = get(ctx, id, path)?;
    ctx.expect(&r, 200)?;
    let entries = image::tar_entries(&r.body)?;
    entries
        .into_iter()
        .next()
        .map(|(_, d)| d)
        .ok_or_else(|| anyhow!("empty archive for {path}"))
}

fn get_file(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = get(ctx, &id, "/etc/passwd")?;
    ctx.expect(&r, 200)?;
    eq("Content-Type", r.head.content_type(), "application/x-tar")?;
    let entries = image::tar_entries(&r.body)?;
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    eq("entries", names, vec!["passwd"])?;
    ensure!(
        entries[0].1.starts_with(b"root:x:0:0:"),
        "content {:?}",
        String::from_utf8_lossy(&entries[0].1)
    );
    Ok(Outcome::Pass)
}

fn get_stat_header(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = get(ctx, &id, "/etc/passwd")?;
    ctx.expect(&r, 200)?;
    let st = stat(&r)?;
    eq("name", s(&st, "/name"), "passwd")?;
    eq("mode", i(&st, "/mode"), Some(0o644))?;
    ensure!(
        i(&st, "/size").unwrap_or(0) > 0,
        "size {:?}",
        st.get("size")
    );
    eq("mtime", s(&st, "/mtime"), "2000-01-01T00:00:00Z")?;
    eq("linkTarget", s(&st, "/linkTarget"), "")?;
    Ok(Outcome::Pass)
}

fn head_stat(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.head(&format!("/containers/{id}/archive?path=/etc"))?;
    ctx.expect(&r, 200)?;
    let st = stat(&r)?;
    eq("name", s(&st, "/name"), "etc")?;
    // Go's os.ModeDir bit plus the permissions.
    eq("mode", i(&st, "/mode"), Some((1 << 31) | 0o755))?;
    ensure!(r.body.is_empty(), "HEAD with a body");
    Ok(Outcome::Pass)
}

fn get_dir(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = get(ctx, &id, "/etc")?;
    ctx.expect(&r, 200)?;
    let entries = image::tar_entries(&r.body)?;
    let names: Vec<String> = entries
        .iter()
        .map(|(n, _)| n.trim_end_matches('/').to_string())
        .collect();
    for want in ["etc", "etc/passwd", "etc/group"] {
        ensure!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    Ok(Outcome::Pass)
}

fn stat_symlink(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.head(&format!("/containers/{id}/archive?path=/bin/sh"))?;
    ctx.expect(&r, 200)?;
    let st = stat(&r)?;
    eq("name", s(&st, "/name"), "sh")?;
    eq("linkTarget", s(&st, "/linkTarget"), "/bin/busybox")?;
    // Go's os.ModeSymlink bit.
    ensure!(
        i(&st, "/mode").unwrap_or(0) & (1 << 27) != 0,
        "mode {:?} lacks the symlink bit",
        st.get("mode")
    );
    Ok(Outcome::Pass)
}

fn get_missing_path(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = get(ctx, &id, "/compat-nope")?;
    let m = ctx.expect_error(&r, 404)?;
    contains(
        "message",
        &m,
        "Could not find the file /compat-nope in container",
    )?;
    Ok(Outcome::Pass)
}

fn head_missing_path(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.head(&format!("/containers/{id}/archive?path=/compat-nope"))?;
    ctx.expect(&r, 404)?;
    Ok(Outcome::Pass)
}

fn get_missing_container(ctx: &mut Ctx) -> Result<Outcome> {
    let name = format!("compat-missing-{}", ctx.run_id);
    let r = get(ctx, &name, "/etc")?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "No such container")?;
    Ok(Outcome::Pass)
}

fn put_roundtrip(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = put(ctx, &id, "/tmp", one_file_tar("compat.txt", b"uploaded\n")?)?;
    ctx.expect(&r, 200)?;
    eq(
        "content",
        read_back(ctx, &id, "/tmp/compat.txt")?,
        b"uploaded\n".to_vec(),
    )?;
    Ok(Outcome::Pass)
}

fn put_created(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["cat", "/root/in.txt"]}))?;
    let r = put(
        ctx,
        &id,
        "/root",
        one_file_tar("in.txt", b"before start\n")?,
    )?;
    ctx.expect(&r, 200)?;
    ctx.start(&id)?;
    eq("exit", ctx.wait(&id)?, 0)?;
    eq(
        "output",
        super::containers::output(ctx, &id)?,
        "before start\n".to_string(),
    )?;
    Ok(Outcome::Pass)
}

fn put_chunked(ctx: &mut Ctx) -> Result<Outcome> {
    // The docker CLI streams uploads with chunked transfer encoding.
    let id = ctx.run_bg(json!({}))?;
    let tar = one_file_tar("chunked.txt", b"in chunks\n")?;
    let mut body = Vec::new();
    for part in tar.chunks(700) {
        body.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        body.extend_from_slice(part);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let mut raw = format!(
        "PUT {} HTTP/1.1\r\nHost: api.moby.localhost\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n",
        ctx.url(&format!("/containers/{id}/archive?path=/tmp"))
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let r = crate::http::send_raw(&ctx.ep, &raw, Duration::from_secs(30))?;
    ctx.expect(&r, 200)?;
    eq(
        "content",
        read_back(ctx, &id, "/tmp/chunked.txt")?,
        b"in chunks\n".to_vec(),
    )?;
    Ok(Outcome::Pass)
}

fn put_missing_dir(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = put(ctx, &id, "/compat-nope", one_file_tar("x", b"x")?)?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "Could not find the file /compat-nope")?;
    Ok(Outcome::Pass)
}

fn put_onto_file(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = put(ctx, &id, "/etc/passwd", one_file_tar("x", b"x")?)?;
    // 400 since Docker 23; 20.10 answered 500.
    let m = ctx.expect_error_in(&r, &[400, 500])?;
    contains("message", &m, "not a directory")?;
    Ok(Outcome::Pass)
}

fn put_readonly(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({"HostConfig": {"ReadonlyRootfs": true}}))?;
    let r = put(ctx, &id, "/tmp", one_file_tar("x", b"x")?)?;
    // 403 since Docker 23; 20.10 answered 500.
    let m = ctx.expect_error_in(&r, &[403, 500])?;
    contains("message", &m, "read-only")?;
    Ok(Outcome::Pass)
}

fn get_stopped(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(&["sh", "-c", "echo kept > /root/out"], json!({}))?;
    eq(
        "content",
        read_back(ctx, &id, "/root/out")?,
        b"kept\n".to_vec(),
    )?;
    Ok(Outcome::Pass)
}
