//! Docker's default confinement: the seccomp profile on every unprivileged container,
//! `seccomp=unconfined`, a custom profile in `SecurityOpt` (the CLI sends the file's
//! JSON), a profile that does not decode (accepted at create, a 500 at start),
//! `no-new-privileges`, SELinux labels (accepted and not applied by an engine without
//! `--selinux-enabled`), `apparmor=unconfined`, and `SecurityOptions` in `/info`.

use anyhow::{ensure, Result};
use serde_json::json;

use super::{contains, eq, s};
use crate::ctx::Ctx;
use crate::http;
use crate::runner::{Case, Outcome};

const A: &str = "security";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(
            A,
            "seccomp_default_blocks_unshare",
            (1, 24),
            default_profile,
        ),
        Case::new(A, "seccomp_unconfined_allows_it", (1, 24), unconfined),
        Case::new(A, "seccomp_custom_profile", (1, 24), custom),
        Case::new(A, "seccomp_bad_profile_500_at_start", (1, 24), bad_profile),
        Case::new(A, "info_security_options_seccomp", (1, 24), info),
        Case::new(A, "no_new_privileges", (1, 24), no_new_privileges),
        Case::new(A, "label_accepted_without_selinux", (1, 24), labels),
        Case::new(
            A,
            "apparmor_unconfined_accepted",
            (1, 24),
            apparmor_unconfined,
        ),
    ]
}

/// A user namespace needs no capability, so only the seccomp filter refuses it.
const UNSHARE: &[&str] = &["busybox", "unshare", "-U", "true"];

fn output(ctx: &mut Ctx, id: &str) -> Result<String> {
    let r = ctx.get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))?;
    let f = http::demux(&r.body)?;
    Ok(format!(
        "{}{}",
        http::stream_text(&f, 1),
        http::stream_text(&f, 2)
    ))
}

fn default_profile(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, code) = ctx.run_to_exit(UNSHARE, json!({}))?;
    eq("exit", code, 1)?;
    contains("output", &output(ctx, &id)?, "Operation not permitted")?;
    // CAP_SYS_ADMIN brings the unshare group of the profile back.
    let (_, code) = ctx.run_to_exit(UNSHARE, json!({"HostConfig": {"CapAdd": ["SYS_ADMIN"]}}))?;
    eq("exit with SYS_ADMIN", code, 0)?;
    Ok(Outcome::Pass)
}

fn unconfined(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, code) = ctx.run_to_exit(
        UNSHARE,
        json!({"HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}}),
    )?;
    eq("exit", code, 0)?;
    eq("output", output(ctx, &id)?.as_str(), "")?;
    Ok(Outcome::Pass)
}

fn custom(ctx: &mut Ctx) -> Result<Outcome> {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    let opt = format!("seccomp={profile}");
    let (id, code) = ctx.run_to_exit(
        &["mkdir", "/tmp/blocked"],
        json!({"HostConfig": {"SecurityOpt": [opt.clone()]}}),
    )?;
    eq("mkdir exit", code, 1)?;
    contains("output", &output(ctx, &id)?, "Operation not permitted")?;
    let v = ctx.inspect(&id)?;
    eq(
        "HostConfig.SecurityOpt",
        v["HostConfig"]["SecurityOpt"].clone(),
        json!([opt.clone()]),
    )?;
    // Everything else is allowed by that profile, user namespaces included.
    let (_, code) = ctx.run_to_exit(UNSHARE, json!({"HostConfig": {"SecurityOpt": [opt]}}))?;
    eq("unshare exit", code, 0)?;
    Ok(Outcome::Pass)
}

fn bad_profile(ctx: &mut Ctx) -> Result<Outcome> {
    let id =
        ctx.create(json!({"Cmd": ["true"], "HostConfig": {"SecurityOpt": ["seccomp={bad"]}}))?;
    let r = ctx.post(&format!("/containers/{id}/start"))?;
    let m = ctx.expect_error(&r, 500)?;
    ensure!(m.starts_with("Decoding seccomp profile failed: "), "{m}");
    let v = ctx.inspect(&id)?;
    eq("State.Status", s(&v, "/State/Status"), "created")?;
    ensure!(
        s(&v, "/State/Error").starts_with("Decoding seccomp profile failed"),
        "State.Error {}",
        v["State"]["Error"]
    );
    Ok(Outcome::Pass)
}

fn info(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/info")?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    let opts: Vec<&str> = v["SecurityOptions"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    ensure!(
        opts.contains(&"name=seccomp,profile=default"),
        "SecurityOptions {opts:?}"
    );
    Ok(Outcome::Pass)
}

/// The `NoNewPrivs` line of the container's own `/proc/self/status`.
fn no_new_privs(ctx: &mut Ctx, opts: serde_json::Value) -> Result<String> {
    let (id, code) = ctx.run_to_exit(
        &["grep", "NoNewPrivs", "/proc/self/status"],
        json!({"HostConfig": {"SecurityOpt": opts}}),
    )?;
    eq("exit", code, 0)?;
    Ok(output(ctx, &id)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" "))
}

fn no_new_privileges(ctx: &mut Ctx) -> Result<Outcome> {
    eq(
        "without",
        no_new_privs(ctx, json!(null))?.as_str(),
        "NoNewPrivs: 0",
    )?;
    eq(
        "no-new-privileges",
        no_new_privs(ctx, json!(["no-new-privileges"]))?.as_str(),
        "NoNewPrivs: 1",
    )?;
    eq(
        "no-new-privileges=true",
        no_new_privs(ctx, json!(["no-new-privileges=true"]))?.as_str(),
        "NoNewPrivs: 1",
    )?;
    eq(
        "no-new-privileges:false",
        no_new_privs(ctx, json!(["no-new-privileges:false"]))?.as_str(),
        "NoNewPrivs: 0",
    )?;
    Ok(Outcome::Pass)
}

fn labels(ctx: &mut Ctx) -> Result<Outcome> {
    let opts = json!([
        "label=user:system_u",
        "label=type:svirt_apache_t",
        "label=disable"
    ]);
    let (id, code) = ctx.run_to_exit(&["true"], json!({"HostConfig": {"SecurityOpt": opts}}))?;
    eq("exit", code, 0)?;
    let v = ctx.inspect(&id)?;
    eq(
        "HostConfig.SecurityOpt",
        v["HostConfig"]["SecurityOpt"].clone(),
        opts,
    )?;
    eq("ProcessLabel", s(&v, "/ProcessLabel"), "")?;
    eq("MountLabel", s(&v, "/MountLabel"), "")?;
    Ok(Outcome::Pass)
}

fn apparmor_unconfined(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, code) = ctx.run_to_exit(
        &["true"],
        json!({"HostConfig": {"SecurityOpt": ["apparmor=unconfined"]}}),
    )?;
    eq("exit", code, 0)?;
    let v = ctx.inspect(&id)?;
    eq(
        "HostConfig.SecurityOpt",
        v["HostConfig"]["SecurityOpt"].clone(),
        json!(["apparmor=unconfined"]),
    )?;
    Ok(Outcome::Pass)
}
