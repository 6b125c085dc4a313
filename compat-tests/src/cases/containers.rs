//! Containers: create options, inspect fields, ps filters, top, stats,
//! changes, export, update, prune.

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use serde_json::{json, Value};

use super::{b, contains, eq, i, ids, s};
use crate::ctx::{filters, Ctx, RUN_LABEL};
use crate::image;
use crate::runner::{Case, Outcome};

const A: &str = "containers";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "create_201_schema", (1, 24), create_schema),
        Case::new(A, "create_with_name", (1, 24), create_with_name),
        Case::new(
            A,
            "create_duplicate_name_409",
            (1, 24),
            create_duplicate_name,
        ),
        Case::new(A, "create_invalid_name_400", (1, 24), create_invalid_name),
        Case::new(A, "create_missing_image_404", (1, 24), create_missing_image),
        Case::new(A, "create_malformed_json", (1, 24), create_malformed_json),
        Case::new(A, "create_wrong_field_type", (1, 24), create_wrong_type),
        Case::new(
            A,
            "create_wrong_content_type_400",
            (1, 24),
            create_wrong_content_type,
        ),
        Case::new(A, "create_empty_body_400", (1, 24), create_empty_body),
        Case::new(
            A,
            "create_config_roundtrip",
            (1, 24),
            create_config_roundtrip,
        ),
        Case::new(
            A,
            "create_defaults_from_image",
            (1, 24),
            create_defaults_from_image,
        ),
        Case::new(A, "create_entrypoint_path_args", (1, 24), create_entrypoint),
        Case::new(
            A,
            "create_hostconfig_roundtrip",
            (1, 24),
            create_hostconfig_roundtrip,
        ),
        Case::new(
            A,
            "create_autoremove_with_restart_400",
            (1, 25),
            create_autoremove_restart,
        ),
        Case::new(
            A,
            "create_invalid_restart_policy_400",
            (1, 24),
            create_invalid_restart,
        ),
        Case::new(A, "create_by_image_id", (1, 24), create_by_image_id),
        Case::new(A, "inspect_schema", (1, 24), inspect_schema),
        Case::new(A, "inspect_created_state", (1, 24), inspect_created_state),
        Case::new(A, "inspect_running_state", (1, 24), inspect_running_state),
        Case::new(A, "inspect_exited_state", (1, 24), inspect_exited_state),
        Case::new(
            A,
            "inspect_by_name_and_prefix",
            (1, 24),
            inspect_by_name_and_prefix,
        ),
        Case::new(A, "inspect_missing_404", (1, 24), inspect_missing),
        Case::new(A, "inspect_size", (1, 24), inspect_size),
        Case::new(A, "inspect_image_fields", (1, 24), inspect_image_fields),
        Case::new(A, "inspect_network_none", (1, 24), inspect_network_none),
        Case::new(
            A,
            "inspect_default_hostname",
            (1, 24),
            inspect_default_hostname,
        ),
        Case::new(
            A,
            "inspect_created_timestamp",
            (1, 24),
            inspect_created_timestamp,
        ),
        Case::new(A, "list_schema", (1, 24), list_schema),
        Case::new(
            A,
            "list_default_running_only",
            (1, 24),
            list_default_running_only,
        ),
        Case::new(A, "list_fields", (1, 24), list_fields),
        Case::new(A, "list_filter_name", (1, 24), list_filter_name),
        Case::new(A, "list_filter_label", (1, 24), list_filter_label),
        Case::new(A, "list_filter_status", (1, 24), list_filter_status),
        Case::new(A, "list_filter_id", (1, 24), list_filter_id),
        Case::new(A, "list_filter_ancestor", (1, 24), list_filter_ancestor),
        Case::new(A, "list_filter_exited", (1, 24), list_filter_exited),
        Case::new(A, "list_limit", (1, 24), list_limit),
        Case::new(A, "list_size", (1, 24), list_size),
        Case::new(A, "list_filter_invalid_400", (1, 24), list_filter_invalid),
        Case::new(
            A,
            "list_filter_bad_status_400",
            (1, 24),
            list_filter_bad_status,
        ),
        Case::new(A, "top_running", (1, 24), top_running),
        Case::new(A, "top_not_running_409", (1, 24), top_not_running),
        Case::new(A, "stats_one_shot", (1, 24), stats_one_shot),
        Case::new(A, "changes_after_write", (1, 24), changes),
        Case::new(A, "export_container", (1, 24), export),
        Case::new(A, "update_restart_policy", (1, 24), update_restart_policy),
        Case::new(A, "update_missing_404", (1, 24), update_missing),
        Case::new(A, "prune_by_label", (1, 25), prune_by_label),
        Case::new(A, "run_as_named_user", (1, 24), run_as_named_user),
        Case::new(A, "run_as_uid_gid", (1, 24), run_as_uid_gid),
        Case::new(A, "run_as_unknown_user_fails", (1, 24), run_as_unknown_user),
        Case::new(A, "run_env_merged_with_image", (1, 24), run_env),
        Case::new(A, "run_workdir_created", (1, 24), run_workdir),
        Case::new(A, "run_hostname", (1, 24), run_hostname),
        Case::new(A, "run_readonly_rootfs", (1, 24), run_readonly_rootfs),
        Case::new(
            A,
            "run_missing_binary_fails_start",
            (1, 24),
            run_missing_binary,
        ),
    ]
}

fn list(ctx: &mut Ctx, query: &str) -> Result<Vec<Value>> {
    let r = ctx.get(&format!("/containers/json{query}"))?;
    ctx.expect(&r, 200)?;
    Ok(ctx
        .validate("get", "/containers/json", &r)?
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn listed(ctx: &mut Ctx, f: Value) -> Result<Vec<String>> {
    let v = list(ctx, &format!("?all=1&filters={}", filters(&f)))?;
    Ok(ids(&Value::Array(v)))
}

/// Output of a container that ran to completion (stdout+stderr, demuxed).
pub fn output(ctx: &mut Ctx, id: &str) -> Result<String> {
    let r = ctx.get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))?;
    ctx.expect(&r, 200)?;
    let frames = crate::http::demux(&r.body)?;
    Ok(frames
        .iter()
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
        .collect())
}

fn create_schema(ctx: &mut Ctx) -> Result<Outcome> {
    let name = ctx.name();
    let body = ctx.container_config(json!({"Cmd": ["true"]}));
    let r = ctx.post_json(&format!("/containers/create?name={name}"), &body)?;
    ctx.track_container(&name);
    ctx.expect(&r, 201)?;
    let v = ctx.validate("post", "/containers/create", &r)?;
    ensure!(
        s(&v, "/Id").len() == 64,
        "Id {:?} is not 64 hex chars",
        s(&v, "/Id")
    );
    Ok(Outcome::Pass)
}

fn create_with_name(ctx: &mut Ctx) -> Result<Outcome> {
    let name = ctx.name();
    let id = ctx.create_named(&name, json!({"Cmd": ["true"]}))?;
    let v = ctx.inspect(&name)?;
    eq("Name", s(&v, "/Name").to_string(), format!("/{name}"))?;
    eq("Id", s(&v, "/Id"), id.as_str())?;
    Ok(Outcome::Pass)
}

fn create_duplicate_name(ctx: &mut Ctx) -> Result<Outcome> {
    let name = ctx.name();
    let id = ctx.create_named(&name, json!({"Cmd": ["true"]}))?;
    let body = ctx.container_config(json!({"Cmd": ["true"]}));
    let r = ctx.post_json(&format!("/containers/create?name={name}"), &body)?;
    let m = ctx.expect_error(&r, 409)?;
    contains(
        "message",
        &m,
        &format!("The container name \"/{name}\" is already in use by container \"{id}\""),
    )?;
    Ok(Outcome::Pass)
}

fn create_invalid_name(ctx: &mut Ctx) -> Result<Outcome> {
    let body = ctx.container_config(json!({"Cmd": ["true"]}));
    let r = ctx.post_json("/containers/create?name=compat%2Fbad%20name", &body)?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "Invalid container name")?;
    Ok(Outcome::Pass)
}

fn create_missing_image(ctx: &mut Ctx) -> Result<Outcome> {
    let img = format!("compat-missing:{}", ctx.run_id);
    let body = ctx.container_config(json!({"Image": img}));
    let name = ctx.name();
    let r = ctx.post_json(&format!("/containers/create?name={name}"), &body)?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, &format!("No such image: {img}"))?;
    Ok(Outcome::Pass)
}

fn create_malformed_json(ctx: &mut Ctx) -> Result<Outcome> {
    let req = ctx
        .req("POST", "/containers/create")
        .body_with_type(b"{\"Image\": ".to_vec(), "application/json");
    let r = ctx.send(req)?;
    // 400 since Docker 23; 20.10 answered 500.
    ctx.expect_error_in(&r, &[400, 500])?;
    Ok(Outcome::Pass)
}

fn create_wrong_type(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image.clone();
    let r = ctx.post_json("/containers/create", &json!({"Image": img, "Cmd": 5}))?;
    ctx.expect_error_in(&r, &[400, 500])?;
    let r = ctx.post_json(
        "/containers/create",
        &json!({"Image": img, "HostConfig": {"Memory": "lots"}}),
    )?;
    ctx.expect_error_in(&r, &[400, 500])?;
    Ok(Outcome::Pass)
}

fn create_wrong_content_type(ctx: &mut Ctx) -> Result<Outcome> {
    let body = ctx.container_config(json!({"Cmd": ["true"]}));
    let req = ctx
        .req("POST", "/containers/create")
        .body_with_type(body.to_string().into_bytes(), "text/plain");
    let r = ctx.send(req)?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "application/json")?;
    Ok(Outcome::Pass)
}

fn create_empty_body(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post_json("/containers/create", &json!({}))?;
    ctx.expect_error(&r, 400)?;
    Ok(Outcome::Pass)
}

fn create_config_roundtrip(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({
        "Cmd": ["sh", "-c", "echo hi"],
        "Env": ["COMPAT_A=1", "COMPAT_B=two words"],
        "WorkingDir": "/tmp",
        "User": "daemon",
        "Hostname": "compat-host",
        "Domainname": "example.test",
        "Tty": true,
        "OpenStdin": true,
        "StdinOnce": true,
        "AttachStdin": true,
        "StopSignal": "SIGUSR1",
        "StopTimeout": 3,
        "Labels": {"compat.x": "y"},
    }))?;
    let v = ctx.inspect(&id)?;
    eq(
        "Cmd",
        v.pointer("/Config/Cmd").cloned(),
        Some(json!(["sh", "-c", "echo hi"])),
    )?;
    let env = v.pointer("/Config/Env").cloned().unwrap_or_default();
    for e in ["COMPAT_A=1", "COMPAT_B=two words"] {
        ensure!(
            env.as_array().is_some_and(|a| a.contains(&json!(e))),
            "Env {env} lacks {e}"
        );
    }
    eq("WorkingDir", s(&v, "/Config/WorkingDir"), "/tmp")?;
    eq("User", s(&v, "/Config/User"), "daemon")?;
    eq("Hostname", s(&v, "/Config/Hostname"), "compat-host")?;
    eq("Domainname", s(&v, "/Config/Domainname"), "example.test")?;
    eq("Tty", b(&v, "/Config/Tty"), Some(true))?;
    eq("OpenStdin", b(&v, "/Config/OpenStdin"), Some(true))?;
    eq("StdinOnce", b(&v, "/Config/StdinOnce"), Some(true))?;
    eq("StopSignal", s(&v, "/Config/StopSignal"), "SIGUSR1")?;
    eq("StopTimeout", i(&v, "/Config/StopTimeout"), Some(3))?;
    eq("Labels.compat.x", s(&v, "/Config/Labels/compat.x"), "y")?;
    eq(
        "run label",
        v.pointer("/Config/Labels")
            .and_then(|l| l.get(RUN_LABEL))
            .cloned(),
        Some(json!(ctx.run_id)),
    )?;
    Ok(Outcome::Pass)
}

fn create_defaults_from_image(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({}))?;
    let v = ctx.inspect(&id)?;
    eq(
        "Config.Cmd",
        v.pointer("/Config/Cmd").cloned(),
        Some(json!(["sh"])),
    )?;
    eq("Path", s(&v, "/Path"), "sh")?;
    eq("Args", v.pointer("/Args").cloned(), Some(json!([])))?;
    let env = v.pointer("/Config/Env").cloned().unwrap_or_default();
    ensure!(
        env.as_array().is_some_and(|a| a
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.starts_with("PATH=")))),
        "Config.Env {env} lacks the image's PATH"
    );
    eq("WorkingDir", s(&v, "/Config/WorkingDir"), "/")?;
    Ok(Outcome::Pass)
}

fn create_entrypoint(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Entrypoint": ["echo", "-n"], "Cmd": ["a", "b"]}))?;
    let v = ctx.inspect(&id)?;
    eq("Path", s(&v, "/Path"), "echo")?;
    eq(
        "Args",
        v.pointer("/Args").cloned(),
        Some(json!(["-n", "a", "b"])),
    )?;
    eq(
        "Entrypoint",
        v.pointer("/Config/Entrypoint").cloned(),
        Some(json!(["echo", "-n"])),
    )?;
    ctx.start(&id)?;
    ctx.wait(&id)?;
    eq(
        "output",
        super::containers::output(ctx, &id)?,
        "a b".to_string(),
    )?;
    Ok(Outcome::Pass)
}

fn create_hostconfig_roundtrip(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({
        "Cmd": ["true"],
        "HostConfig": {
            "NetworkMode": "none",
            "Memory": 67108864,
            "CpuShares": 512,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
            "ReadonlyRootfs": true,
            "CapAdd": ["NET_ADMIN"],
            "CapDrop": ["MKNOD"],
            "ExtraHosts": ["compat.test:127.0.0.1"],
            "ShmSize": 16777216,
            "Init": false,
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
        },
    }))?;
    let v = ctx.inspect(&id)?;
    let h = v.get("HostConfig").cloned().unwrap_or_default();
    eq("Memory", i(&h, "/Memory"), Some(67_108_864))?;
    eq("CpuShares", i(&h, "/CpuShares"), Some(512))?;
    eq(
        "RestartPolicy.Name",
        s(&h, "/RestartPolicy/Name"),
        "on-failure",
    )?;
    eq(
        "RestartPolicy.MaximumRetryCount",
        i(&h, "/RestartPolicy/MaximumRetryCount"),
        Some(2),
    )?;
    eq("ReadonlyRootfs", b(&h, "/ReadonlyRootfs"), Some(true))?;
    eq(
        "CapAdd",
        h.get("CapAdd").cloned(),
        Some(json!(["NET_ADMIN"])),
    )?;
    eq("CapDrop", h.get("CapDrop").cloned(), Some(json!(["MKNOD"])))?;
    eq(
        "ExtraHosts",
        h.get("ExtraHosts").cloned(),
        Some(json!(["compat.test:127.0.0.1"])),
    )?;
    eq("ShmSize", i(&h, "/ShmSize"), Some(16_777_216))?;
    eq("LogConfig.Type", s(&h, "/LogConfig/Type"), "json-file")?;
    eq(
        "LogConfig.Config.max-size",
        s(&h, "/LogConfig/Config/max-size"),
        "1m",
    )?;
    Ok(Outcome::Pass)
}

fn create_autoremove_restart(ctx: &mut Ctx) -> Result<Outcome> {
    let body = ctx.container_config(json!({
        "Cmd": ["true"],
        "HostConfig": {"AutoRemove": true, "RestartPolicy": {"Name": "always"}},
    }));
    let name = ctx.name();
    let r = ctx.post_json(&format!("/containers/create?name={name}"), &body)?;
    ctx.track_container(&name);
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m, "AutoRemove")?;
    Ok(Outcome::Pass)
}

fn create_invalid_restart(ctx: &mut Ctx) -> Result<Outcome> {
    let body = ctx.container_config(
        json!({"Cmd": ["true"], "HostConfig": {"RestartPolicy": {"Name": "compat-bogus"}}}),
    );
    let name = ctx.name();
    let r = ctx.post_json(&format!("/containers/create?name={name}"), &body)?;
    ctx.track_container(&name);
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m.to_lowercase(), "restart policy")?;
    Ok(Outcome::Pass)
}

fn create_by_image_id(ctx: &mut Ctx) -> Result<Outcome> {
    let img = ctx.image_id.clone();
    let id = ctx.create(json!({"Image": img, "Cmd": ["true"]}))?;
    let v = ctx.inspect(&id)?;
    eq("Image", s(&v, "/Image"), img.as_str())?;
    eq("Config.Image", s(&v, "/Config/Image"), img.as_str())?;
    Ok(Outcome::Pass)
}

fn inspect_schema(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.get(&format!("/containers/{id}/json"))?;
    ctx.expect(&r, 200)?;
    ctx.validate("get", "/containers/{id}/json", &r)?;
    ctx.stop(&id)?;
    let r = ctx.get(&format!("/containers/{id}/json"))?;
    ctx.validate("get", "/containers/{id}/json", &r)?;
    Ok(Outcome::Pass)
}

fn inspect_created_state(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let v = ctx.inspect(&id)?;
    eq("State.Status", s(&v, "/State/Status"), "created")?;
    eq("State.Running", b(&v, "/State/Running"), Some(false))?;
    eq("State.Pid", i(&v, "/State/Pid"), Some(0))?;
    eq("State.ExitCode", i(&v, "/State/ExitCode"), Some(0))?;
    eq(
        "State.StartedAt",
        s(&v, "/State/StartedAt"),
        "0001-01-01T00:00:00Z",
    )?;
    eq(
        "State.FinishedAt",
        s(&v, "/State/FinishedAt"),
        "0001-01-01T00:00:00Z",
    )?;
    eq("RestartCount", i(&v, "/RestartCount"), Some(0))?;
    Ok(Outcome::Pass)
}

fn inspect_running_state(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let v = ctx.inspect(&id)?;
    eq("State.Status", s(&v, "/State/Status"), "running")?;
    eq("State.Running", b(&v, "/State/Running"), Some(true))?;
    eq("State.Paused", b(&v, "/State/Paused"), Some(false))?;
    ensure!(
        i(&v, "/State/Pid").unwrap_or(0) > 0,
        "Pid {:?}",
        v.pointer("/State/Pid")
    );
    ensure!(
        !s(&v, "/State/StartedAt").starts_with("0001"),
        "StartedAt {}",
        s(&v, "/State/StartedAt")
    );
    Ok(Outcome::Pass)
}

fn inspect_exited_state(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, code) = ctx.run_to_exit(&["sh", "-c", "exit 3"], json!({}))?;
    eq("wait StatusCode", code, 3)?;
    let v = ctx.inspect(&id)?;
    eq("State.Status", s(&v, "/State/Status"), "exited")?;
    eq("State.ExitCode", i(&v, "/State/ExitCode"), Some(3))?;
    eq("State.Pid", i(&v, "/State/Pid"), Some(0))?;
    eq("State.OOMKilled", b(&v, "/State/OOMKilled"), Some(false))?;
    // No ordering check: dockerd itself can record StartedAt a moment after
    // FinishedAt for a process that exits at once.
    let fin = s(&v, "/State/FinishedAt");
    ensure!(!fin.starts_with("0001"), "FinishedAt {fin}");
    Ok(Outcome::Pass)
}

fn inspect_by_name_and_prefix(ctx: &mut Ctx) -> Result<Outcome> {
    let name = ctx.name();
    let id = ctx.create_named(&name, json!({"Cmd": ["true"]}))?;
    for r in [name.clone(), id[..12].to_string(), id.clone()] {
        let v = ctx.inspect(&r)?;
        eq("Id", s(&v, "/Id"), id.as_str())?;
    }
    Ok(Outcome::Pass)
}

fn inspect_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let name = format!("compat-missing-{}", ctx.run_id);
    let r = ctx.get(&format!("/containers/{name}/json"))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, &format!("No such container: {name}"))?;
    Ok(Outcome::Pass)
}

fn inspect_size(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(&["sh", "-c", "echo x > /tmp/f"], json!({}))?;
    let v = ctx.get(&format!("/containers/{id}/json?size=1"))?.json()?;
    ensure!(
        i(&v, "/SizeRw").unwrap_or(0) > 0,
        "SizeRw {:?}",
        v.get("SizeRw")
    );
    ensure!(
        i(&v, "/SizeRootFs").unwrap_or(0) > 1_000_000,
        "SizeRootFs {:?}",
        v.get("SizeRootFs")
    );
    let v = ctx.get(&format!("/containers/{id}/json"))?.json()?;
    ensure!(v.get("SizeRw").is_none(), "SizeRw without size=1");
    Ok(Outcome::Pass)
}

fn inspect_image_fields(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let v = ctx.inspect(&id)?;
    eq("Image", s(&v, "/Image"), ctx.image_id.as_str())?;
    eq("Config.Image", s(&v, "/Config/Image"), ctx.image.as_str())?;
    eq("Driver non-empty", s(&v, "/Driver").is_empty(), false)?;
    eq("Platform", s(&v, "/Platform"), "linux")?;
    Ok(Outcome::Pass)
}

fn inspect_network_none(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let v = ctx.inspect(&id)?;
    eq(
        "HostConfig.NetworkMode",
        s(&v, "/HostConfig/NetworkMode"),
        "none",
    )?;
    ensure!(
        v.pointer("/NetworkSettings/Networks/none").is_some(),
        "NetworkSettings.Networks {}",
        v.pointer("/NetworkSettings/Networks")
            .cloned()
            .unwrap_or_default()
    );
    Ok(Outcome::Pass)
}

fn inspect_default_hostname(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let v = ctx.inspect(&id)?;
    eq("Config.Hostname", s(&v, "/Config/Hostname"), &id[..12])?;
    Ok(Outcome::Pass)
}

fn inspect_created_timestamp(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let v = ctx.inspect(&id)?;
    let c = s(&v, "/Created");
    // RFC 3339 with nanoseconds in UTC, as Go's time.Time marshals it.
    ensure!(
        c.len() >= 20 && c.ends_with('Z') && c.as_bytes().get(10) == Some(&b'T'),
        "Created {c:?}"
    );
    ensure!(!c.starts_with("0001"), "Created is zero: {c}");
    Ok(Outcome::Pass)
}

fn list_schema(ctx: &mut Ctx) -> Result<Outcome> {
    ctx.create(json!({"Cmd": ["true"]}))?;
    ctx.run_bg(json!({}))?;
    list(ctx, "?all=1")?;
    list(ctx, "")?;
    Ok(Outcome::Pass)
}

fn list_default_running_only(ctx: &mut Ctx) -> Result<Outcome> {
    let created = ctx.create(json!({"Cmd": ["true"]}))?;
    let running = ctx.run_bg(json!({}))?;
    let got = ids(&Value::Array(list(ctx, "")?));
    ensure!(
        got.contains(&running),
        "running container not listed by default"
    );
    ensure!(
        !got.contains(&created),
        "created container listed without all=1"
    );
    let got = ids(&Value::Array(list(ctx, "?all=1")?));
    ensure!(
        got.contains(&created),
        "created container not listed with all=1"
    );
    Ok(Outcome::Pass)
}

fn list_fields(ctx: &mut Ctx) -> Result<Outcome> {
    let name = ctx.name();
    let id = ctx.create_named(
        &name,
        json!({"Cmd": ["echo", "hello world"], "Labels": {"compat.k": "v"}}),
    )?;
    let v = list(
        ctx,
        &format!("?all=1&filters={}", filters(&json!({"id": [id]}))),
    )?;
    let c = v.first().ok_or_else(|| anyhow!("container not listed"))?;
    eq(
        "Names",
        c.get("Names").cloned(),
        Some(json!([format!("/{name}")])),
    )?;
    eq("Image", s(c, "/Image"), ctx.image.as_str())?;
    eq("ImageID", s(c, "/ImageID"), ctx.image_id.as_str())?;
    eq("Command", s(c, "/Command"), "echo 'hello world'")?;
    eq("State", s(c, "/State"), "created")?;
    eq("Status", s(c, "/Status"), "Created")?;
    eq("Labels.compat.k", s(c, "/Labels/compat.k"), "v")?;
    ensure!(
        i(c, "/Created").unwrap_or(0) > 1_500_000_000,
        "Created {:?}",
        c.get("Created")
    );
    Ok(Outcome::Pass)
}

fn list_filter_name(ctx: &mut Ctx) -> Result<Outcome> {
    let name = ctx.name();
    let id = ctx.create_named(&name, json!({"Cmd": ["true"]}))?;
    eq(
        "name=",
        listed(ctx, json!({"name": [name]}))?,
        vec![id.clone()],
    )?;
    // Names match as regexps against "/name".
    eq(
        "name=^/…$",
        listed(ctx, json!({"name": [format!("^/{name}$")]}))?,
        vec![id],
    )?;
    Ok(Outcome::Pass)
}

fn list_filter_label(ctx: &mut Ctx) -> Result<Outcome> {
    let tag = format!("lbl-{}", ctx.run_id);
    let a = ctx.create(json!({"Cmd": ["true"], "Labels": {"compat.filter": tag}}))?;
    let b_ = ctx.create(json!({"Cmd": ["true"], "Labels": {"compat.filter": "other"}}))?;
    eq(
        "label=k=v",
        listed(ctx, json!({"label": [format!("compat.filter={tag}")]}))?,
        vec![a.clone()],
    )?;
    let got = listed(
        ctx,
        json!({"label": ["compat.filter", format!("{RUN_LABEL}={}", ctx.run_id)]}),
    )?;
    ensure!(
        got.contains(&a) && got.contains(&b_),
        "label=key missed containers: {got:?}"
    );
    Ok(Outcome::Pass)
}

fn list_filter_status(ctx: &mut Ctx) -> Result<Outcome> {
    let created = ctx.create(json!({"Cmd": ["true"]}))?;
    let running = ctx.run_bg(json!({}))?;
    let (exited, _) = ctx.run_to_exit(&["true"], json!({}))?;
    let run_label = format!("{RUN_LABEL}={}", ctx.run_id);
    for (st, want, not) in [
        ("created", &created, &running),
        ("running", &running, &exited),
        ("exited", &exited, &created),
    ] {
        let got = listed(ctx, json!({"status": [st], "label": [run_label]}))?;
        ensure!(got.contains(want), "status={st} lacks {want}");
        ensure!(!got.contains(not), "status={st} includes {not}");
    }
    Ok(Outcome::Pass)
}

fn list_filter_id(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    eq(
        "id=full",
        listed(ctx, json!({"id": [id]}))?,
        vec![id.clone()],
    )?;
    eq(
        "id=prefix",
        listed(ctx, json!({"id": [&id[..16]]}))?,
        vec![id.clone()],
    )?;
    Ok(Outcome::Pass)
}

fn list_filter_ancestor(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let img = ctx.image.clone();
    let got = listed(ctx, json!({"ancestor": [img]}))?;
    ensure!(got.contains(&id), "ancestor=<tag> lacks {id}");
    let img_id = ctx.image_id.clone();
    let got = listed(ctx, json!({"ancestor": [img_id]}))?;
    ensure!(got.contains(&id), "ancestor=<image id> lacks {id}");
    Ok(Outcome::Pass)
}

fn list_filter_exited(ctx: &mut Ctx) -> Result<Outcome> {
    let (three, _) = ctx.run_to_exit(&["sh", "-c", "exit 3"], json!({}))?;
    let (zero, _) = ctx.run_to_exit(&["true"], json!({}))?;
    let run_label = format!("{RUN_LABEL}={}", ctx.run_id);
    let got = listed(ctx, json!({"exited": ["3"], "label": [run_label]}))?;
    ensure!(
        got.contains(&three) && !got.contains(&zero),
        "exited=3 gave {got:?}"
    );
    Ok(Outcome::Pass)
}

fn list_limit(ctx: &mut Ctx) -> Result<Outcome> {
    ctx.create(json!({"Cmd": ["true"]}))?;
    let second = ctx.create(json!({"Cmd": ["true"]}))?;
    let v = list(ctx, "?all=1&limit=1")?;
    eq("count", v.len(), 1)?;
    // Newest first.
    eq("newest", s(&v[0], "/Id"), second.as_str())?;
    Ok(Outcome::Pass)
}

fn list_size(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(&["sh", "-c", "echo x > /tmp/f"], json!({}))?;
    let v = list(
        ctx,
        &format!("?all=1&size=1&filters={}", filters(&json!({"id": [id]}))),
    )?;
    let c = v.first().ok_or_else(|| anyhow!("not listed"))?;
    ensure!(
        i(c, "/SizeRw").unwrap_or(0) > 0,
        "SizeRw {:?}",
        c.get("SizeRw")
    );
    ensure!(
        i(c, "/SizeRootFs").unwrap_or(0) > 1_000_000,
        "SizeRootFs {:?}",
        c.get("SizeRootFs")
    );
    Ok(Outcome::Pass)
}

fn list_filter_invalid(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!(
        "/containers/json?filters={}",
        filters(&json!({"compat-bogus": ["x"]}))
    ))?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m.to_lowercase(), "invalid filter")?;
    Ok(Outcome::Pass)
}

fn list_filter_bad_status(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!(
        "/containers/json?filters={}",
        filters(&json!({"status": ["compat-bogus"]}))
    ))?;
    let m = ctx.expect_error(&r, 400)?;
    contains("message", &m.to_lowercase(), "invalid filter")?;
    Ok(Outcome::Pass)
}

fn top_running(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let r = ctx.get(&format!("/containers/{id}/top"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("get", "/containers/{id}/top", &r)?;
    let titles = v["Titles"].as_array().cloned().unwrap_or_default();
    ensure!(
        titles.contains(&json!("PID")) && titles.contains(&json!("CMD")),
        "Titles {titles:?}"
    );
    let procs = v["Processes"].as_array().cloned().unwrap_or_default();
    ensure!(
        procs.iter().any(|p| p.to_string().contains("sleep 1000")),
        "no sleep in {procs:?}"
    );
    Ok(Outcome::Pass)
}

fn top_not_running(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let r = ctx.get(&format!("/containers/{id}/top"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains("message", &m, "is not running")?;
    Ok(Outcome::Pass)
}

fn stats_one_shot(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.run_bg(json!({}))?;
    let req = ctx
        .req("GET", &format!("/containers/{id}/stats?stream=false"))
        .timeout(Duration::from_secs(30));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    for k in [
        "read",
        "preread",
        "cpu_stats",
        "precpu_stats",
        "memory_stats",
        "pids_stats",
    ] {
        ensure!(v.get(k).is_some(), "stats lack {k}: {v}");
    }
    eq("id", s(&v, "/id"), id.as_str())?;
    ensure!(s(&v, "/name").starts_with('/'), "name {:?}", s(&v, "/name"));
    ensure!(
        i(&v, "/pids_stats/current").unwrap_or(0) >= 1,
        "pids_stats {}",
        v["pids_stats"]
    );
    Ok(Outcome::Pass)
}

fn changes(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(
        &["sh", "-c", "echo x > /tmp/compat-added; rm /etc/group"],
        json!({}),
    )?;
    let r = ctx.get(&format!("/containers/{id}/changes"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("get", "/containers/{id}/changes", &r)?;
    let has = |p: &str, k: i64| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|c| c["Path"] == p && c["Kind"] == k))
    };
    ensure!(
        has("/tmp/compat-added", 1),
        "no Added /tmp/compat-added in {v}"
    );
    ensure!(has("/tmp", 0), "no Modified /tmp in {v}");
    ensure!(has("/etc/group", 2), "no Deleted /etc/group in {v}");
    Ok(Outcome::Pass)
}

fn export(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = ctx.run_to_exit(&["sh", "-c", "echo exported > /root/compat"], json!({}))?;
    let req = ctx
        .req("GET", &format!("/containers/{id}/export"))
        .timeout(Duration::from_secs(60));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200)?;
    eq(
        "Content-Type",
        r.head.content_type(),
        "application/octet-stream",
    )?;
    let entries = image::tar_entries(&r.body)?;
    ensure!(
        entries
            .iter()
            .any(|(n, _)| n.trim_start_matches("./") == "bin/busybox"),
        "no bin/busybox in export"
    );
    ensure!(
        entries
            .iter()
            .any(|(n, d)| n.trim_start_matches("./") == "root/compat" && d == b"exported\n"),
        "no root/compat in export"
    );
    Ok(Outcome::Pass)
}

fn update_restart_policy(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"]}))?;
    let r = ctx.post_json(
        &format!("/containers/{id}/update"),
        &json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}),
    )?;
    ctx.expect(&r, 200)?;
    ctx.validate("post", "/containers/{id}/update", &r)?;
    let v = ctx.inspect(&id)?;
    eq(
        "RestartPolicy.Name",
        s(&v, "/HostConfig/RestartPolicy/Name"),
        "on-failure",
    )?;
    eq(
        "MaximumRetryCount",
        i(&v, "/HostConfig/RestartPolicy/MaximumRetryCount"),
        Some(3),
    )?;
    Ok(Outcome::Pass)
}

fn update_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post_json(
        &format!("/containers/compat-missing-{}/update", ctx.run_id),
        &json!({"CpuShares": 512}),
    )?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "No such container")?;
    Ok(Outcome::Pass)
}

fn prune_by_label(ctx: &mut Ctx) -> Result<Outcome> {
    let tag = format!("prune-{}", ctx.run_id);
    let (exited, _) = ctx.run_to_exit(&["true"], json!({"Labels": {"compat.prune": tag}}))?;
    let running = ctx.run_bg(json!({"Labels": {"compat.prune": tag}}))?;
    let keep = ctx.create(json!({"Cmd": ["true"]}))?;
    // Scoped by label: never prunes anything the suite did not create.
    let f = filters(&json!({"label": [format!("compat.prune={tag}")]}));
    let r = ctx.post(&format!("/containers/prune?filters={f}"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("post", "/containers/prune", &r)?;
    eq(
        "ContainersDeleted",
        v.get("ContainersDeleted").cloned(),
        Some(json!([exited])),
    )?;
    let r = ctx.get(&format!("/containers/{running}/json"))?;
    ctx.expect(&r, 200)
        .map_err(|e| anyhow!("running container pruned: {e}"))?;
    let r = ctx.get(&format!("/containers/{keep}/json"))?;
    ctx.expect(&r, 200)
        .map_err(|e| anyhow!("unlabelled container pruned: {e}"))?;
    Ok(Outcome::Pass)
}

fn run_output(ctx: &mut Ctx, cmd: &[&str], extra: Value) -> Result<(i64, String)> {
    let (id, code) = ctx.run_to_exit(cmd, extra)?;
    Ok((code, output(ctx, &id)?))
}

fn run_as_named_user(ctx: &mut Ctx) -> Result<Outcome> {
    let (code, out) = run_output(ctx, &["id"], json!({"User": "daemon"}))?;
    eq("exit", code, 0)?;
    eq(
        "id",
        out.trim(),
        "uid=1(daemon) gid=1(daemon) groups=1(daemon)",
    )?;
    let (_, out) = run_output(ctx, &["id", "-u"], json!({"User": "nobody"}))?;
    eq("nobody uid", out.trim(), "65534")?;
    Ok(Outcome::Pass)
}

fn run_as_uid_gid(ctx: &mut Ctx) -> Result<Outcome> {
    let (code, out) = run_output(
        ctx,
        &["sh", "-c", "id -u; id -g"],
        json!({"User": "1234:5678"}),
    )?;
    eq("exit", code, 0)?;
    eq("uid/gid", out.trim(), "1234\n5678")?;
    let (_, out) = run_output(ctx, &["id", "-g"], json!({"User": "daemon:0"}))?;
    eq("daemon:0 gid", out.trim(), "0")?;
    Ok(Outcome::Pass)
}

fn run_as_unknown_user(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["true"], "User": "compat-nouser"}))?;
    let r = ctx.post(&format!("/containers/{id}/start"))?;
    let m = ctx
        .expect_error(&r, 400)
        .or_else(|_| ctx.expect_error(&r, 500))?;
    contains("message", &m, "compat-nouser")?;
    Ok(Outcome::Pass)
}

fn run_env(ctx: &mut Ctx) -> Result<Outcome> {
    let (_, out) = run_output(ctx, &["env"], json!({"Env": ["COMPAT_X=1", "PATH=/bin"]}))?;
    let lines: Vec<&str> = out.lines().collect();
    for want in ["COMPAT_X=1", "PATH=/bin", "HOME=/root"] {
        ensure!(lines.contains(&want), "env lacks {want}: {lines:?}");
    }
    ensure!(
        lines.iter().any(|l| l.starts_with("HOSTNAME=")),
        "env lacks HOSTNAME: {lines:?}"
    );
    Ok(Outcome::Pass)
}

fn run_workdir(ctx: &mut Ctx) -> Result<Outcome> {
    let (code, out) = run_output(ctx, &["pwd"], json!({"WorkingDir": "/compat/new/dir"}))?;
    eq("exit", code, 0)?;
    eq("pwd", out.trim(), "/compat/new/dir")?;
    Ok(Outcome::Pass)
}

fn run_hostname(ctx: &mut Ctx) -> Result<Outcome> {
    let (_, out) = run_output(ctx, &["hostname"], json!({"Hostname": "compat-host"}))?;
    eq("hostname", out.trim(), "compat-host")?;
    Ok(Outcome::Pass)
}

fn run_readonly_rootfs(ctx: &mut Ctx) -> Result<Outcome> {
    let (_, code) = ctx.run_to_exit(
        &["touch", "/compat-ro"],
        json!({"HostConfig": {"ReadonlyRootfs": true}}),
    )?;
    ensure!(code != 0, "write to a read-only rootfs succeeded");
    Ok(Outcome::Pass)
}

fn run_missing_binary(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.create(json!({"Cmd": ["/compat-no-such-binary"]}))?;
    let r = ctx.post(&format!("/containers/{id}/start"))?;
    let m = ctx.expect_error_in(&r, &[400, 404, 500])?;
    contains("message", &m, "/compat-no-such-binary")?;
    let v = ctx.inspect(&id)?;
    eq("State.ExitCode", i(&v, "/State/ExitCode"), Some(127))?;
    ensure!(!s(&v, "/State/Error").is_empty(), "State.Error empty");
    Ok(Outcome::Pass)
}
