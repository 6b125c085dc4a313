//! Networks, volumes and the build cache as listed by the API (an engine started with
//! `--bridge=none`, like the reference, has only the pre-defined `host` and `none`).
//!
//! The `bridge_*` cases need an engine with its default bridge and are skipped without
//! one; `scripts/compat.sh` runs them on both engines inside private network namespaces.

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use super::{contains, eq, s};
use crate::ctx::Ctx;
use crate::runner::{Case, Outcome};

const A: &str = "networks";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "list_predefined", (1, 24), list_predefined),
        Case::new(A, "inspect_by_name_and_id", (1, 24), inspect_by_name_and_id),
        Case::new(A, "inspect_missing_404", (1, 24), inspect_missing),
        Case::new(A, "remove_predefined_403", (1, 24), remove_predefined),
        Case::new(A, "filter_by_driver", (1, 24), filter_by_driver),
        Case::new(A, "volumes_list_shape", (1, 24), volumes_list),
        Case::new(A, "volume_inspect_missing_404", (1, 24), volume_missing),
        Case::new(A, "build_prune_ok", (1, 31), build_prune),
        Case::new(A, "bridge_container_inspect_shape", (1, 24), bridge_inspect),
        Case::new(A, "bridge_network_lists_container", (1, 24), bridge_members),
        Case::new(A, "bridge_ps_ports_shape", (1, 24), bridge_ps_ports),
        Case::new(A, "bridge_stopped_container_shape", (1, 24), bridge_stopped),
        Case::new(
            A,
            "bridge_port_already_allocated",
            (1, 24),
            bridge_port_conflict,
        ),
        Case::new(
            A,
            "bridge_user_network_create_inspect_rm",
            (1, 24),
            user_network_shape,
        ),
        Case::new(
            A,
            "bridge_user_network_errors",
            (1, 24),
            user_network_errors,
        ),
        Case::new(A, "bridge_legacy_link", (1, 24), bridge_link),
        Case::new(
            A,
            "bridge_network_connect_disconnect",
            (1, 24),
            connect_disconnect,
        ),
        Case::new(A, "bridge_network_prune_by_label", (1, 25), network_prune),
        Case::new(
            A,
            "bridge_default_network_connect_disconnect",
            (1, 24),
            default_bridge_connect,
        ),
    ]
}

/// `--link db:data` on the default bridge: the parent's /etc/hosts and environment, the
/// link as inspect records it, and the create-time error for a missing child.
fn bridge_link(ctx: &mut Ctx) -> Result<Outcome> {
    if let Err(skip) = default_bridge(ctx)? {
        return Ok(skip);
    }
    let db = format!("lnkdb-{}", ctx.run_id);
    let web = format!("lnkweb-{}", ctx.run_id);
    let child = ctx.create_named(
        &db,
        json!({
            "Cmd": ["sleep", "300"],
            "Hostname": "lnkhost",
            "Env": ["SECRET=s3"],
            "ExposedPorts": {"5432/tcp": {}},
            "HostConfig": {"NetworkMode": "default"}
        }),
    )?;
    ctx.start(&child)?;
    let ip = s(&ctx.inspect(&child)?, "/NetworkSettings/IPAddress").to_string();
    let parent = ctx.create_named(
        &web,
        json!({
            "Cmd": ["sh", "-c", "grep -w data /etc/hosts; env | grep ^DATA_ | sort"],
            "HostConfig": {"NetworkMode": "default", "Links": [format!("{db}:data")]}
        }),
    )?;
    let v = ctx.inspect(&parent)?;
    eq(
        "HostConfig.Links",
        v["HostConfig"]["Links"].clone(),
        json!([format!("/{db}:/{web}/data")]),
    )?;
    ctx.start(&parent)?;
    eq("exit", ctx.wait(&parent)?, 0)?;
    let r = ctx.get(&format!("/containers/{parent}/logs?stdout=1"))?;
    let out = crate::http::stream_text(&crate::http::demux(&r.body)?, 1);
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        format!("{ip}\tdata lnkhost {db}"),
        format!("DATA_PORT=tcp://{ip}:5432"),
        format!("DATA_PORT_5432_TCP=tcp://{ip}:5432"),
        format!("DATA_PORT_5432_TCP_ADDR={ip}"),
        "DATA_PORT_5432_TCP_PORT=5432".to_string(),
        "DATA_PORT_5432_TCP_PROTO=tcp".to_string(),
        format!("DATA_NAME=/{web}/data"),
        "DATA_ENV_SECRET=s3".to_string(),
    ] {
        anyhow::ensure!(
            lines.contains(&want.as_str()),
            "{want:?} missing in {out:?}"
        );
    }
    let r = ctx.post_json(
        "/containers/create",
        &ctx.container_config(json!({
            "Cmd": ["true"],
            "HostConfig": {"NetworkMode": "default", "Links": [format!("nosuch-{}:x", ctx.run_id)]}
        })),
    )?;
    let m = ctx.expect_error(&r, 400)?;
    contains(
        "message",
        &m,
        &format!(
            "could not get container for nosuch-{0}: No such container: nosuch-{0}",
            ctx.run_id
        ),
    )?;
    Ok(Outcome::Pass)
}

/// The default bridge network, or a skip when the engine has none.
pub(super) fn default_bridge(ctx: &mut Ctx) -> Result<std::result::Result<Value, Outcome>> {
    let r = ctx.get("/networks/bridge")?;
    if r.status() == 404 {
        return Ok(Err(Outcome::Skip(
            "the engine runs without its default bridge (--bridge=none)".into(),
        )));
    }
    ctx.expect(&r, 200)?;
    Ok(Ok(ctx.validate("get", "/networks/{id}", &r)?))
}

/// A container on the default bridge publishing 80/tcp on a random port of 127.0.0.1,
/// exposing 443/tcp unpublished.
fn published(ctx: &mut Ctx, started: bool) -> Result<String> {
    let cfg = json!({
        "Cmd": ["sleep", "300"],
        "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
        "HostConfig": {
            "NetworkMode": "default",
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
        }
    });
    let id = ctx.create(cfg)?;
    if started {
        ctx.start(&id)?;
    }
    Ok(id)
}

fn bridge_inspect(ctx: &mut Ctx) -> Result<Outcome> {
    let net = match default_bridge(ctx)? {
        Ok(n) => n,
        Err(skip) => return Ok(skip),
    };
    let subnet = s(&net, "/IPAM/Config/0/Subnet").to_string();
    let (base, prefix) = subnet
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("bridge subnet {subnet:?}"))?;
    let prefix: i64 = prefix.parse()?;
    let id = published(ctx, true)?;
    let v = ctx.inspect(&id)?;
    let ns = &v["NetworkSettings"];
    let ip = s(ns, "/IPAddress");
    let net_prefix: Vec<&str> = base.split('.').take(2).collect();
    ensure!(
        ip.starts_with(&format!("{}.", net_prefix.join("."))),
        "IPAddress {ip:?} not in {subnet}"
    );
    let gw = s(ns, "/Gateway");
    // Docker's gateway is the subnet's first address.
    let base_v: Vec<u8> = base.split('.').filter_map(|o| o.parse().ok()).collect();
    ensure!(base_v.len() == 4, "subnet {subnet:?}");
    eq(
        "Gateway",
        gw.to_string(),
        format!(
            "{}.{}.{}.{}",
            base_v[0],
            base_v[1],
            base_v[2],
            base_v[3] + 1
        ),
    )?;
    eq("IPPrefixLen", ns["IPPrefixLen"].as_i64(), Some(prefix))?;
    let octets: Vec<String> = ip
        .split('.')
        .filter_map(|o| o.parse::<u8>().ok())
        .map(|o| format!("{o:02x}"))
        .collect();
    eq(
        "MacAddress",
        s(ns, "/MacAddress").to_string(),
        format!("02:42:{}", octets.join(":")),
    )?;
    ensure!(
        s(ns, "/EndpointID").len() == 64,
        "EndpointID {:?}",
        ns["EndpointID"]
    );
    ensure!(
        !s(ns, "/SandboxKey").is_empty(),
        "SandboxKey {:?}",
        ns["SandboxKey"]
    );
    let ep = &ns["Networks"]["bridge"];
    eq(
        "Networks.bridge.NetworkID",
        s(ep, "/NetworkID"),
        s(&net, "/Id"),
    )?;
    eq(
        "Networks.bridge.EndpointID",
        s(ep, "/EndpointID"),
        s(ns, "/EndpointID"),
    )?;
    eq("Networks.bridge.IPAddress", s(ep, "/IPAddress"), ip)?;
    eq("Networks.bridge.Gateway", s(ep, "/Gateway"), gw)?;
    eq(
        "Networks.bridge.MacAddress",
        s(ep, "/MacAddress"),
        s(ns, "/MacAddress"),
    )?;
    eq(
        "Networks.bridge.IPPrefixLen",
        ep["IPPrefixLen"].as_i64(),
        Some(prefix),
    )?;
    // The port map testcontainers reads.
    let p80 = ns["Ports"]["80/tcp"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("Ports {}", ns["Ports"]))?;
    eq("bindings of 80/tcp", p80.len(), 1)?;
    eq("HostIp", s(&p80[0], "/HostIp"), "127.0.0.1")?;
    let port: u16 = s(&p80[0], "/HostPort").parse()?;
    ensure!(port > 0, "HostPort {port}");
    ensure!(
        ns["Ports"]["443/tcp"].is_null(),
        "443/tcp {}",
        ns["Ports"]["443/tcp"]
    );
    // The request as sent.
    eq(
        "HostConfig.PortBindings",
        v["HostConfig"]["PortBindings"].clone(),
        json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
    )?;
    Ok(Outcome::Pass)
}

fn bridge_members(ctx: &mut Ctx) -> Result<Outcome> {
    if let Err(skip) = default_bridge(ctx)? {
        return Ok(skip);
    }
    let id = published(ctx, true)?;
    let c = ctx.inspect(&id)?;
    let net = default_bridge(ctx)?.map_err(|_| anyhow::anyhow!("bridge gone"))?;
    eq("Driver", s(&net, "/Driver"), "bridge")?;
    eq("Scope", s(&net, "/Scope"), "local")?;
    eq(
        "Options default_bridge",
        s(&net, "/Options/com.docker.network.bridge.default_bridge"),
        "true",
    )?;
    let m = &net["Containers"][&id];
    ensure!(m.is_object(), "container {id} not in {}", net["Containers"]);
    eq(
        "Name",
        s(m, "/Name"),
        s(&c, "/Name").trim_start_matches('/'),
    )?;
    eq(
        "EndpointID",
        s(m, "/EndpointID"),
        s(&c, "/NetworkSettings/EndpointID"),
    )?;
    eq(
        "MacAddress",
        s(m, "/MacAddress"),
        s(&c, "/NetworkSettings/MacAddress"),
    )?;
    eq(
        "IPv4Address",
        s(m, "/IPv4Address").to_string(),
        format!(
            "{}/{}",
            s(&c, "/NetworkSettings/IPAddress"),
            c["NetworkSettings"]["IPPrefixLen"]
        ),
    )?;
    eq("IPv6Address", s(m, "/IPv6Address"), "")?;
    Ok(Outcome::Pass)
}

fn bridge_ps_ports(ctx: &mut Ctx) -> Result<Outcome> {
    if let Err(skip) = default_bridge(ctx)? {
        return Ok(skip);
    }
    let id = published(ctx, true)?;
    let c = ctx.inspect(&id)?;
    let port: u64 = s(&c, "/NetworkSettings/Ports/80~1tcp/0/HostPort").parse()?;
    let r = ctx.get(&format!(
        "/containers/json?filters={}",
        crate::ctx::filters(&json!({"id": [id]}))
    ))?;
    ctx.expect(&r, 200)?;
    let list = r.json()?;
    let mut ports: Vec<Value> = list[0]["Ports"].as_array().cloned().unwrap_or_default();
    ports.sort_by_key(|p| p["PrivatePort"].as_u64());
    eq(
        "Ports",
        Value::Array(ports),
        json!([
            {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": port, "Type": "tcp"},
            {"PrivatePort": 443, "Type": "tcp"}
        ]),
    )?;
    let ep = &list[0]["NetworkSettings"]["Networks"]["bridge"];
    eq(
        "ps IPAddress",
        s(ep, "/IPAddress"),
        s(&c, "/NetworkSettings/IPAddress"),
    )?;
    Ok(Outcome::Pass)
}

fn bridge_stopped(ctx: &mut Ctx) -> Result<Outcome> {
    let net = match default_bridge(ctx)? {
        Ok(n) => n,
        Err(skip) => return Ok(skip),
    };
    let created = published(ctx, false)?;
    let v = ctx.inspect(&created)?;
    let ns = &v["NetworkSettings"];
    eq("created Ports", ns["Ports"].clone(), json!({}))?;
    eq("created IPAddress", s(ns, "/IPAddress"), "")?;
    eq("created NetworkID", s(ns, "/Networks/bridge/NetworkID"), "")?;
    let id = published(ctx, true)?;
    ctx.stop(&id)?;
    let v = ctx.inspect(&id)?;
    let ns = &v["NetworkSettings"];
    eq("stopped Ports", ns["Ports"].clone(), json!({}))?;
    eq("stopped IPAddress", s(ns, "/IPAddress"), "")?;
    eq("stopped EndpointID", s(ns, "/EndpointID"), "")?;
    let ep = &ns["Networks"]["bridge"];
    eq("stopped NetworkID", s(ep, "/NetworkID"), s(&net, "/Id"))?;
    eq("stopped Networks.bridge.IPAddress", s(ep, "/IPAddress"), "")?;
    Ok(Outcome::Pass)
}

fn bridge_port_conflict(ctx: &mut Ctx) -> Result<Outcome> {
    if let Err(skip) = default_bridge(ctx)? {
        return Ok(skip);
    }
    // A port from the run ID, so parallel runs on one host rarely meet.
    let port = 20000 + (ctx.run_id.bytes().map(u32::from).sum::<u32>() % 10000);
    let cfg = json!({
        "Cmd": ["sleep", "300"],
        "ExposedPorts": {"80/tcp": {}},
        "HostConfig": {
            "NetworkMode": "default",
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": port.to_string()}]}
        }
    });
    let a = ctx.create(cfg.clone())?;
    ctx.start(&a)?;
    let b = ctx.create(cfg)?;
    let r = ctx.post(&format!("/containers/{b}/start"))?;
    let m = ctx.expect_error(&r, 500)?;
    contains(
        "message",
        &m,
        "driver failed programming external connectivity on endpoint",
    )?;
    contains(
        "message",
        &m,
        &format!("Bind for 127.0.0.1:{port} failed: port is already allocated"),
    )?;
    let v = ctx.inspect(&b)?;
    eq("State.Status", s(&v, "/State/Status"), "created")?;
    eq("IPAddress", s(&v, "/NetworkSettings/IPAddress"), "")?;
    Ok(Outcome::Pass)
}

fn list(ctx: &mut Ctx, query: &str) -> Result<Vec<Value>> {
    let r = ctx.get(&format!("/networks{query}"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("get", "/networks", &r)?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

fn by_name<'a>(nets: &'a [Value], name: &str) -> Option<&'a Value> {
    nets.iter().find(|n| n["Name"] == name)
}

fn list_predefined(ctx: &mut Ctx) -> Result<Outcome> {
    let nets = list(ctx, "")?;
    for (name, driver) in [("host", "host"), ("none", "null")] {
        let n =
            by_name(&nets, name).ok_or_else(|| anyhow::anyhow!("no {name} network in {nets:?}"))?;
        eq("Driver", s(n, "/Driver"), driver)?;
        eq("Scope", s(n, "/Scope"), "local")?;
        ensure!(s(n, "/Id").len() == 64, "Id {:?}", n["Id"]);
    }
    Ok(Outcome::Pass)
}

fn inspect_by_name_and_id(ctx: &mut Ctx) -> Result<Outcome> {
    let nets = list(ctx, "")?;
    let id = by_name(&nets, "none")
        .map(|n| s(n, "/Id").to_string())
        .unwrap_or_default();
    for key in [
        "none".to_string(),
        id.clone(),
        id[..12.min(id.len())].to_string(),
    ] {
        let r = ctx.get(&format!("/networks/{key}"))?;
        ctx.expect(&r, 200)?;
        let v = ctx.validate("get", "/networks/{id}", &r)?;
        eq("Name", s(&v, "/Name"), "none")?;
        eq("Id", s(&v, "/Id"), id.as_str())?;
        ensure!(
            v["Containers"].is_object(),
            "Containers {:?}",
            v["Containers"]
        );
    }
    Ok(Outcome::Pass)
}

fn inspect_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!("/networks/compat-missing-{}", ctx.run_id))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "not found")?;
    Ok(Outcome::Pass)
}

fn remove_predefined(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.send(ctx.req("DELETE", "/networks/host"))?;
    let m = ctx.expect_error(&r, 403)?;
    contains("message", &m, "pre-defined network")?;
    Ok(Outcome::Pass)
}

fn filter_by_driver(ctx: &mut Ctx) -> Result<Outcome> {
    let nets = list(ctx, "?filters=%7B%22driver%22%3A%5B%22null%22%5D%7D")?;
    let names: Vec<&str> = nets.iter().filter_map(|n| n["Name"].as_str()).collect();
    eq("names", names, vec!["none"])?;
    let r = ctx.get("/networks?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D")?;
    ctx.expect_error(&r, 400)?;
    Ok(Outcome::Pass)
}

fn volumes_list(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get("/volumes")?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("get", "/volumes", &r)?;
    ensure!(v["Volumes"].is_array() || v["Volumes"].is_null(), "{v}");
    ensure!(v.get("Warnings").is_some(), "no Warnings in {v}");
    Ok(Outcome::Pass)
}

fn volume_missing(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.get(&format!("/volumes/compat-missing-{}", ctx.run_id))?;
    let m = ctx.expect_error(&r, 404)?;
    contains("message", &m, "no such volume")?;
    Ok(Outcome::Pass)
}

fn build_prune(ctx: &mut Ctx) -> Result<Outcome> {
    let r = ctx.post("/build/prune")?;
    ctx.expect(&r, 200)?;
    let v = r.json()?;
    ensure!(v.get("SpaceReclaimed").is_some(), "{v}");
    Ok(Outcome::Pass)
}

/// Creates a user network (the engine has a default bridge, so it can); removed at the end
/// of the case by the caller.
pub(super) fn create_net(ctx: &mut Ctx, body: Value) -> Result<(u16, Value)> {
    let r = ctx.post_json("/networks/create", &body)?;
    let status = r.status();
    Ok((status, r.json().unwrap_or(Value::Null)))
}

fn user_network_shape(ctx: &mut Ctx) -> Result<Outcome> {
    if let Err(skip) = default_bridge(ctx)? {
        return Ok(skip);
    }
    let name = ctx.name();
    let (st, v) = create_net(
        ctx,
        json!({"Name": name, "Labels": {"compat": "yes"}, "Internal": true,
               "IPAM": {"Config": [{"Subnet": "10.199.0.0/24", "IPRange": "10.199.0.128/25", "Gateway": "10.199.0.254"}]}}),
    )?;
    eq("create status", st, 201)?;
    let id = s(&v, "/Id").to_string();
    ensure!(id.len() == 64, "Id {v}");
    eq("Warning", s(&v, "/Warning"), "")?;
    let result = (|| -> Result<()> {
        let r = ctx.get(&format!("/networks/{name}"))?;
        ctx.expect(&r, 200)?;
        let n = ctx.validate("get", "/networks/{id}", &r)?;
        eq("Id", s(&n, "/Id"), id.as_str())?;
        eq("Driver", s(&n, "/Driver"), "bridge")?;
        eq("Scope", s(&n, "/Scope"), "local")?;
        eq("Internal", n["Internal"].as_bool(), Some(true))?;
        eq(
            "IPAM.Config",
            n["IPAM"]["Config"].clone(),
            json!([{"Subnet": "10.199.0.0/24", "IPRange": "10.199.0.128/25", "Gateway": "10.199.0.254"}]),
        )?;
        eq("Labels", n["Labels"].clone(), json!({"compat": "yes"}))?;
        eq("Containers", n["Containers"].clone(), json!({}))?;
        ensure!(s(&n, "/Created").len() > 20, "Created {:?}", n["Created"]);
        // A container on it: an address from the IP range, the network's ID, its name.
        let c =
            ctx.create(json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": name}}))?;
        ctx.start(&c)?;
        let v = ctx.inspect(&c)?;
        let ep = &v["NetworkSettings"]["Networks"][&name];
        eq("NetworkID", s(ep, "/NetworkID"), id.as_str())?;
        eq("IPAddress", s(ep, "/IPAddress"), "10.199.0.128")?;
        eq("Gateway", s(ep, "/Gateway"), "10.199.0.254")?;
        eq(
            "top-level IPAddress",
            s(&v, "/NetworkSettings/IPAddress"),
            "",
        )?;
        let r = ctx.get(&format!("/networks/{id}"))?;
        let n = r.json()?;
        eq(
            "member IPv4Address",
            s(&n["Containers"][&c], "/IPv4Address"),
            "10.199.0.128/24",
        )?;
        // In use: refused.
        let r = ctx.delete(&format!("/networks/{name}"))?;
        let m = ctx.expect_error(&r, 403)?;
        contains("message", &m, "has active endpoints")?;
        let r = ctx.delete(&format!("/containers/{c}?force=1"))?;
        ctx.expect(&r, 204)?;
        Ok(())
    })();
    let r = ctx.delete(&format!("/networks/{id}"))?;
    result?;
    ctx.expect(&r, 204)?;
    let r = ctx.get(&format!("/networks/{id}"))?;
    ctx.expect_error(&r, 404)?;
    Ok(Outcome::Pass)
}

fn user_network_errors(ctx: &mut Ctx) -> Result<Outcome> {
    if let Err(skip) = default_bridge(ctx)? {
        return Ok(skip);
    }
    let name = ctx.name();
    let (st, v) = create_net(
        ctx,
        json!({"Name": name, "IPAM": {"Config": [{"Subnet": "10.198.0.0/24"}]}}),
    )?;
    eq("create status", st, 201)?;
    let id = s(&v, "/Id").to_string();
    let result = (|| -> Result<()> {
        let (st, v) = create_net(ctx, json!({"Name": name, "CheckDuplicate": true}))?;
        eq("duplicate status", st, 409)?;
        contains(
            "message",
            s(&v, "/message"),
            &format!("network with name {name} already exists"),
        )?;
        let other = ctx.name();
        let (st, v) = create_net(
            ctx,
            json!({"Name": other, "IPAM": {"Config": [{"Subnet": "10.198.0.0/16"}]}}),
        )?;
        eq("overlap status", st, 403)?;
        eq(
            "overlap message",
            s(&v, "/message"),
            "Pool overlaps with other one on this address space",
        )?;
        let r = ctx.delete(&format!("/networks/compat-missing-{}", ctx.run_id))?;
        let m = ctx.expect_error(&r, 404)?;
        contains("message", &m, "not found")?;
        Ok(())
    })();
    let r = ctx.delete(&format!("/networks/{id}"))?;
    result?;
    ctx.expect(&r, 204)?;
    Ok(Outcome::Pass)
}

/// `POST /networks/{id}/connect` and `/disconnect` of a running container: the second
/// network in inspect and in the network's `Containers`, an alias, dockerd's refusals.
fn connect_disconnect(ctx: &mut Ctx) -> Result<Outcome> {
    if let Err(skip) = default_bridge(ctx)? {
        return Ok(skip);
    }
    let first = ctx.name();
    let second = ctx.name();
    let mut made = Vec::new();
    let result = (|| -> Result<()> {
        for (n, subnet) in [(&first, "10.197.0.0/24"), (&second, "10.198.0.0/24")] {
            let (st, v) = create_net(
                ctx,
                json!({"Name": n, "IPAM": {"Config": [{"Subnet": subnet}]}}),
            )?;
            eq("create status", st, 201)?;
            made.push(s(&v, "/Id").to_string());
        }
        let cname = format!("conn-{}", ctx.run_id);
        let c = ctx.create_named(
            &cname,
            json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": first}}),
        )?;
        ctx.start(&c)?;
        let r = ctx.post_json(
            &format!("/networks/{second}/connect"),
            &json!({"Container": cname, "EndpointConfig": {"Aliases": ["connalias"]}}),
        )?;
        ctx.expect(&r, 200)?;
        let v = ctx.inspect(&c)?;
        let ep = &v["NetworkSettings"]["Networks"][&second];
        eq("NetworkID", s(ep, "/NetworkID"), made[1].as_str())?;
        ensure!(s(ep, "/IPAddress").starts_with("10.198.0."), "{ep}");
        eq("Gateway", s(ep, "/Gateway"), "10.198.0.1")?;
        ensure!(
            ep["Aliases"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "connalias")),
            "Aliases {ep}"
        );
        let first_ep = &v["NetworkSettings"]["Networks"][&first];
        ensure!(
            s(first_ep, "/IPAddress").starts_with("10.197.0."),
            "{first_ep}"
        );
        let n = ctx.get(&format!("/networks/{second}"))?.json()?;
        ensure!(
            n["Containers"].get(&c).is_some(),
            "Containers {}",
            n["Containers"]
        );
        // Twice: dockerd's refusal.
        let r = ctx.post_json(
            &format!("/networks/{second}/connect"),
            &json!({"Container": cname}),
        )?;
        let m = ctx.expect_error(&r, 403)?;
        contains(
            "message",
            &m,
            &format!("endpoint with name {cname} already exists in network {second}"),
        )?;
        let r = ctx.post_json(
            &format!("/networks/{second}/connect"),
            &json!({"Container": format!("nosuch-{}", ctx.run_id)}),
        )?;
        ctx.expect_error(&r, 404)?;
        let r = ctx.post_json(
            &format!("/networks/{second}/disconnect"),
            &json!({"Container": cname}),
        )?;
        ctx.expect(&r, 200)?;
        let v = ctx.inspect(&c)?;
        ensure!(
            v["NetworkSettings"]["Networks"].get(&second).is_none(),
            "still on {second}: {}",
            v["NetworkSettings"]["Networks"]
        );
        let n = ctx.get(&format!("/networks/{second}"))?.json()?;
        eq("Containers", n["Containers"].clone(), json!({}))?;
        let r = ctx.delete(&format!("/containers/{c}?force=1"))?;
        ctx.expect(&r, 204)?;
        Ok(())
    })();
    for id in made {
        let _ = ctx.delete(&format!("/networks/{id}"));
    }
    result?;
    Ok(Outcome::Pass)
}

/// The keys of a container's `NetworkSettings.Networks`, sorted.
fn network_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v["NetworkSettings"]["Networks"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// `network connect`/`disconnect` of the default bridge, and of the network the
/// container's `NetworkMode` names: dockerd's refusals, the mode kept, what the next
/// start joins, the top-level address fields following the bridge's endpoint, the
/// resolver switch to the embedded DNS server, and the messages for a network the
/// container is not on (running, stopped, and a forced disconnect of no container).
fn default_bridge_connect(ctx: &mut Ctx) -> Result<Outcome> {
    let bridge = match default_bridge(ctx)? {
        Ok(n) => n,
        Err(skip) => return Ok(skip),
    };
    let bridge_id = s(&bridge, "/Id").to_string();
    let net = ctx.name();
    let (st, v) = create_net(
        ctx,
        json!({"Name": net, "IPAM": {"Config": [{"Subnet": "10.195.0.0/24"}]}}),
    )?;
    eq("create status", st, 201)?;
    let net_id = s(&v, "/Id").to_string();
    let result = (|| -> Result<()> {
        let cname = format!("bconn-{}", ctx.run_id);
        let c = ctx.create_named(
            &cname,
            json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": net}}),
        )?;
        let connect = |ctx: &mut Ctx, network: &str, body: Value| {
            ctx.post_json(&format!("/networks/{network}/connect"), &body)
        };
        let disconnect = |ctx: &mut Ctx, network: &str, body: Value| {
            ctx.post_json(&format!("/networks/{network}/disconnect"), &body)
        };
        let r = connect(
            ctx,
            "bridge",
            json!({"Container": cname, "EndpointConfig": {"Aliases": ["x"]}}),
        )?;
        let m = ctx.expect_error(&r, 400)?;
        contains(
            "message",
            &m,
            "network-scoped alias is supported only for containers in user defined networks",
        )?;
        let r = connect(
            ctx,
            "bridge",
            json!({"Container": cname,
                   "EndpointConfig": {"IPAMConfig": {"IPv4Address": "172.17.0.50"}}}),
        )?;
        let m = ctx.expect_error(&r, 400)?;
        contains(
            "message",
            &m,
            "user specified IP address is supported on user defined networks only",
        )?;
        // Stopped: recorded; leaving the mode's network keeps the mode.
        let r = connect(ctx, "bridge", json!({"Container": cname}))?;
        ctx.expect(&r, 200)?;
        let r = disconnect(ctx, &net, json!({"Container": cname}))?;
        ctx.expect(&r, 200)?;
        let r = disconnect(ctx, &net, json!({"Container": cname}))?;
        let m = ctx.expect_error(&r, 500)?;
        contains(
            "message",
            &m,
            &format!("container {c} is not connected to the network {net}"),
        )?;
        let v = ctx.inspect(&c)?;
        eq(
            "NetworkMode",
            s(&v, "/HostConfig/NetworkMode"),
            net.as_str(),
        )?;
        eq("Networks", network_keys(&v), vec!["bridge".to_string()])?;
        // The start joins the default bridge only.
        ctx.start(&c)?;
        let v = ctx.inspect(&c)?;
        eq("Networks", network_keys(&v), vec!["bridge".to_string()])?;
        let ep = &v["NetworkSettings"]["Networks"]["bridge"];
        eq("NetworkID", s(ep, "/NetworkID"), bridge_id.as_str())?;
        let ip = s(ep, "/IPAddress").to_string();
        ensure!(!ip.is_empty(), "no address on the bridge: {ep}");
        eq(
            "IPAddress",
            s(&v, "/NetworkSettings/IPAddress"),
            ip.as_str(),
        )?;
        eq(
            "MacAddress",
            s(&v, "/NetworkSettings/MacAddress"),
            s(ep, "/MacAddress"),
        )?;
        let resolv = |ctx: &mut Ctx| -> Result<String> {
            let out = ctx.docker(&["exec", &cname, "cat", "/etc/resolv.conf"])?;
            ensure!(out.code == 0, "exec: {}", out.describe());
            Ok(out.stdout)
        };
        ensure!(
            !resolv(ctx)?.contains("nameserver 127.0.0.11"),
            "the default bridge has no embedded DNS server"
        );
        // Running: joining a user network switches to the embedded DNS server.
        let r = connect(ctx, &net, json!({"Container": cname}))?;
        ctx.expect(&r, 200)?;
        ensure!(
            resolv(ctx)?.contains("nameserver 127.0.0.11"),
            "resolv.conf after joining {net}"
        );
        let v = ctx.inspect(&c)?;
        eq("Networks", network_keys(&v), {
            let mut k = vec!["bridge".to_string(), net.clone()];
            k.sort();
            k
        })?;
        eq(
            "NetworkID",
            s(&v["NetworkSettings"]["Networks"][&net], "/NetworkID"),
            net_id.as_str(),
        )?;
        let n = ctx.get("/networks/bridge")?.json()?;
        ensure!(
            n["Containers"].get(&c).is_some(),
            "bridge {}",
            n["Containers"]
        );
        // Leaving the default bridge while running: the top-level fields empty.
        let r = disconnect(ctx, "bridge", json!({"Container": cname}))?;
        ctx.expect(&r, 200)?;
        let v = ctx.inspect(&c)?;
        eq("Networks", network_keys(&v), vec![net.clone()])?;
        eq("IPAddress", s(&v, "/NetworkSettings/IPAddress"), "")?;
        let r = disconnect(ctx, "bridge", json!({"Container": cname}))?;
        let m = ctx.expect_error(&r, 500)?;
        contains(
            "message",
            &m,
            &format!("container {c} is not connected to network bridge"),
        )?;
        let nosuch = format!("nosuch-{}", ctx.run_id);
        let r = disconnect(ctx, &net, json!({"Container": nosuch, "Force": true}))?;
        let m = ctx.expect_error(&r, 404)?;
        contains("message", &m, &format!("endpoint {nosuch} not found"))?;
        let r = ctx.delete(&format!("/containers/{c}?force=1"))?;
        ctx.expect(&r, 204)?;
        Ok(())
    })();
    let _ = ctx.delete(&format!("/networks/{net_id}"));
    result?;
    Ok(Outcome::Pass)
}

/// `POST /networks/prune` with a label filter: the unused network named, and gone.
fn network_prune(ctx: &mut Ctx) -> Result<Outcome> {
    if let Err(skip) = default_bridge(ctx)? {
        return Ok(skip);
    }
    let name = ctx.name();
    let label = format!("compat-prune={}", ctx.run_id);
    let (st, v) = create_net(
        ctx,
        json!({"Name": name, "Labels": {"compat-prune": ctx.run_id},
               "IPAM": {"Config": [{"Subnet": "10.196.0.0/24"}]}}),
    )?;
    eq("create status", st, 201)?;
    let id = s(&v, "/Id").to_string();
    let f = crate::ctx::filters(&json!({"label": [label]}));
    let r = ctx.post(&format!("/networks/prune?filters={f}"))?;
    ctx.expect(&r, 200)?;
    let v = ctx.validate("post", "/networks/prune", &r)?;
    let result = eq(
        "NetworksDeleted",
        v["NetworksDeleted"].clone(),
        json!([name]),
    );
    if result.is_err() {
        let _ = ctx.delete(&format!("/networks/{id}"));
    }
    result?;
    let r = ctx.get(&format!("/networks/{id}"))?;
    ctx.expect_error(&r, 404)?;
    Ok(Outcome::Pass)
}
