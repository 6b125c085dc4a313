//! Network modes and endpoint settings on an engine with its default bridge (`bridge_*`:
//! skipped without one, run by `scripts/compat.sh` on both engines in private network
//! namespaces): `container:NAME`, `--mac-address`, `--sysctl net.*`.

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use super::{contains, eq, s};
use crate::ctx::Ctx;
use crate::runner::{Case, Outcome};

const A: &str = "networks";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "bridge_container_network_mode", (1, 24), container_mode),
        Case::new(A, "bridge_mac_address_and_sysctl", (1, 24), mac_and_sysctl),
    ]
}

/// `Config.MacAddress` (what docker-py and API < 1.44 clients send) on the interface and
/// in inspect; `Sysctls` `net.*` in the container's namespace.
fn mac_and_sysctl(ctx: &mut Ctx) -> Result<Outcome> {
    if !has_bridge(ctx)? {
        return Ok(Outcome::Skip(
            "the engine runs without its default bridge (--bridge=none)".into(),
        ));
    }
    let mac = "92:d0:c6:0a:29:34";
    let id = ctx.create(json!({
        "Cmd": ["sh", "-c", "cat /sys/class/net/eth0/address /proc/sys/net/ipv4/tcp_keepalive_time; sleep 300"],
        "MacAddress": mac,
        "HostConfig": {"NetworkMode": "default", "Sysctls": {"net.ipv4.tcp_keepalive_time": "77"}}
    }))?;
    ctx.start(&id)?;
    let v = ctx.inspect(&id)?;
    eq(
        "NetworkSettings.MacAddress",
        s(&v, "/NetworkSettings/MacAddress"),
        mac,
    )?;
    eq(
        "Networks.bridge.MacAddress",
        s(&v, "/NetworkSettings/Networks/bridge/MacAddress"),
        mac,
    )?;
    let n = ctx.get("/networks/bridge")?.json()?;
    eq(
        "network Containers MacAddress",
        s(&n["Containers"][&id], "/MacAddress"),
        mac,
    )?;
    let mut out = String::new();
    for _ in 0..50 {
        out = logs(ctx, &id)?;
        if out.lines().count() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    eq(
        "eth0 and sysctl",
        out.as_str(),
        format!("{mac}\n77\n").as_str(),
    )?;
    let r = ctx.delete(&format!("/containers/{id}?force=1"))?;
    ctx.expect(&r, 204)?;

    let r = ctx.post_json(
        "/containers/create",
        &ctx.container_config(json!({"MacAddress": mac, "HostConfig": {"NetworkMode": "host"}})),
    )?;
    let m = ctx.expect_error(&r, 400)?;
    contains(
        "message",
        &m,
        "conflicting options: mac-address and the network mode",
    )?;
    Ok(Outcome::Pass)
}

fn has_bridge(ctx: &mut Ctx) -> Result<bool> {
    Ok(ctx.get("/networks/bridge")?.status() != 404)
}

fn logs(ctx: &mut Ctx, id: &str) -> Result<String> {
    let r = ctx.get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))?;
    Ok(crate::http::stream_text(&crate::http::demux(&r.body)?, 1))
}

/// `NetworkMode: container:NAME`: recorded with the other container's ID, its namespace,
/// hostname and files taken at start, no endpoint of its own, dockerd's create-time
/// conflicts and the refusal to join a container that does not run.
fn container_mode(ctx: &mut Ctx) -> Result<Outcome> {
    if !has_bridge(ctx)? {
        return Ok(Outcome::Skip(
            "the engine runs without its default bridge (--bridge=none)".into(),
        ));
    }
    let donor_name = format!("cnmdonor-{}", ctx.run_id);
    let donor = ctx.create_named(
        &donor_name,
        json!({
            "Cmd": ["sleep", "300"],
            "Hostname": "donorhost",
            "HostConfig": {"NetworkMode": "default"}
        }),
    )?;
    ctx.start(&donor)?;
    let dv = ctx.inspect(&donor)?;
    let ip = s(&dv, "/NetworkSettings/IPAddress").to_string();
    ensure!(!ip.is_empty(), "the donor has no address: {dv}");
    let mode = format!("container:{donor_name}");

    let joined = ctx.create(json!({
        "Cmd": ["sh", "-c", "hostname; ip -4 -o addr show eth0"],
        "HostConfig": {"NetworkMode": mode}
    }))?;
    let v = ctx.inspect(&joined)?;
    eq(
        "HostConfig.NetworkMode",
        s(&v, "/HostConfig/NetworkMode"),
        format!("container:{donor}").as_str(),
    )?;
    ctx.start(&joined)?;
    eq("exit", ctx.wait(&joined)?, 0)?;
    let out = logs(ctx, &joined)?;
    ensure!(out.starts_with("donorhost\n"), "hostname: {out:?}");
    ensure!(out.contains(&format!("inet {ip}/")), "eth0: {out:?}");
    let v = ctx.inspect(&joined)?;
    eq("Config.Hostname", s(&v, "/Config/Hostname"), "donorhost")?;
    for k in ["HostsPath", "HostnamePath", "ResolvConfPath"] {
        eq(k, v[k].clone(), dv[k].clone())?;
    }
    eq(
        "NetworkSettings.Networks",
        v["NetworkSettings"]["Networks"].clone(),
        json!({}),
    )?;
    eq(
        "NetworkSettings.IPAddress",
        s(&v, "/NetworkSettings/IPAddress"),
        "",
    )?;

    // Create-time conflicts (moby's validateNetContainerMode), as 400s.
    for (extra, msg) in [
        (
            json!({"Hostname": "x"}),
            "conflicting options: hostname and the network mode",
        ),
        (
            json!({"HostConfig": {"NetworkMode": mode, "Dns": ["1.1.1.1"]}}),
            "conflicting options: dns and the network mode",
        ),
        (
            json!({"HostConfig": {"NetworkMode": mode, "ExtraHosts": ["a:1.2.3.4"]}}),
            "conflicting options: custom host-to-IP mapping and the network mode",
        ),
        (
            json!({"HostConfig": {"NetworkMode": mode,
                "PortBindings": {"80/tcp": [{"HostPort": ""}]}}}),
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            json!({"ExposedPorts": {"80/tcp": {}}}),
            "conflicting options: port exposing and the container type network mode",
        ),
    ] {
        let mut cfg = json!({"Cmd": ["true"], "HostConfig": {"NetworkMode": mode}});
        crate::ctx::merge(&mut cfg, extra);
        let r = ctx.post_json("/containers/create", &ctx.container_config(cfg))?;
        let m = ctx.expect_error(&r, 400)?;
        contains("message", &m, msg)?;
    }

    // A running joined container cannot join anything else; a stopped one has the
    // network recorded (dockerd checks the mode only when it connects a running one).
    let net = ctx.name();
    let r = ctx.post_json("/networks/create", &json!({"Name": net}))?;
    ctx.expect(&r, 201)?;
    let running =
        ctx.create(json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": mode}}))?;
    ctx.start(&running)?;
    let refused = ctx.post_json(
        &format!("/networks/{net}/connect"),
        &json!({"Container": running}),
    )?;
    let stopped = ctx.post_json(
        &format!("/networks/{net}/connect"),
        &json!({"Container": joined}),
    )?;
    let listed = ctx.inspect(&joined)?["NetworkSettings"]["Networks"].clone();
    let _ = ctx.delete(&format!("/containers/{running}?force=1"));
    let _ = ctx.delete(&format!("/containers/{joined}?force=1"));
    let _ = ctx.delete(&format!("/networks/{net}"));
    let m = ctx.expect_error(&refused, 400)?;
    contains(
        "message",
        &m,
        "container sharing network namespace with another container or host cannot be connected to any other network",
    )?;
    ctx.expect(&stopped, 200)?;
    ensure!(listed.get(&net).is_some(), "Networks: {listed}");

    // The other container must run at every start.
    ctx.stop(&donor)?;
    let again = ctx.create(json!({"Cmd": ["true"], "HostConfig": {"NetworkMode": mode}}))?;
    let r = ctx.post(&format!("/containers/{again}/start"))?;
    let m = ctx.expect_error(&r, 409)?;
    contains(
        "message",
        &m,
        &format!("cannot join network of a non running container: {donor}"),
    )?;
    // A name that is no container: the create passes, the start finds nothing.
    let missing = format!("nosuch-{}", ctx.run_id);
    let late = ctx.create(json!({
        "Cmd": ["true"],
        "HostConfig": {"NetworkMode": format!("container:{missing}")}
    }))?;
    let v: Value = ctx.inspect(&late)?;
    eq(
        "HostConfig.NetworkMode",
        s(&v, "/HostConfig/NetworkMode"),
        format!("container:{missing}").as_str(),
    )?;
    let r = ctx.post(&format!("/containers/{late}/start"))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, &format!("No such container: {missing}"))?;
    Ok(Outcome::Pass)
}
