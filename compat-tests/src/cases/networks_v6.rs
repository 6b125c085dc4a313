//! IPv6 on user-defined bridge networks (`--ipv6`): the network's inspect shape and
//! dockerd's refusals, a container's IPv6 endpoint fields, and a published port reached
//! over `[::1]`.
//!
//! `bridge_*` cases like those of `networks.rs`: they need an engine with its default
//! bridge, and `scripts/compat.sh` runs them inside the engine's own network namespace (the
//! published-port case connects to the engine's `[::1]`).

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::json;

use super::networks::{create_net, default_bridge};
use super::{contains, eq, s};
use crate::ctx::Ctx;
use crate::runner::{Case, Outcome};

const A: &str = "networks";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "bridge_ipv6_network_shape", (1, 24), network_shape),
        Case::new(A, "bridge_ipv6_container_endpoint", (1, 24), endpoint),
        Case::new(A, "bridge_ipv6_published_port", (1, 25), published_port),
        Case::new(A, "bridge_ip_range_gateway", (1, 24), range_gateway),
    ]
}

/// What a case made: removed at its end, whatever the outcome.
#[derive(Default)]
struct Made {
    networks: Vec<String>,
    containers: Vec<String>,
}

/// Runs `body`, then removes the containers and networks it made.
fn with_networks(
    ctx: &mut Ctx,
    body: impl FnOnce(&mut Ctx, &mut Made) -> Result<()>,
) -> Result<Outcome> {
    if let Err(skip) = default_bridge(ctx)? {
        return Ok(skip);
    }
    let mut made = Made::default();
    let result = body(ctx, &mut made);
    // Containers first: a network with endpoints cannot go.
    for c in &made.containers {
        ctx.delete(&format!("/containers/{c}?force=1"))?;
    }
    for id in &made.networks {
        let r = ctx.delete(&format!("/networks/{id}"))?;
        if result.is_ok() {
            ctx.expect(&r, 204)?;
        }
    }
    result.map(|_| Outcome::Pass)
}

/// Creates a network from `body`, which must succeed (`what` names the step), removed
/// at the end of the case.
fn made_net(ctx: &mut Ctx, made: &mut Made, what: &str, body: serde_json::Value) -> Result<()> {
    let (st, v) = create_net(ctx, body)?;
    eq(what, st, 201)?;
    made.networks.push(s(&v, "/Id").to_string());
    Ok(())
}

/// Creates a container (removed at the end of the case).
fn container(ctx: &mut Ctx, made: &mut Made, config: serde_json::Value) -> Result<String> {
    let id = ctx.create(config)?;
    made.containers.push(id.clone());
    Ok(id)
}

fn network_shape(ctx: &mut Ctx) -> Result<Outcome> {
    with_networks(ctx, |ctx, made| {
        // IPv6 alone: dockerd still picks an IPv4 pool, listed first with its gateway.
        let name = ctx.name();
        made_net(
            ctx,
            made,
            "create status",
            json!({"Name": name, "EnableIPv6": true,
                   "IPAM": {"Config": [{"Subnet": "fd00:c0:1::/64"}]}}),
        )?;
        let r = ctx.get(&format!("/networks/{name}"))?;
        ctx.expect(&r, 200)?;
        let n = ctx.validate("get", "/networks/{id}", &r)?;
        eq("EnableIPv6", n["EnableIPv6"].as_bool(), Some(true))?;
        let config = n["IPAM"]["Config"].as_array().cloned().unwrap_or_default();
        eq("IPAM.Config entries", config.len(), 2)?;
        let keys: Vec<String> = config[0]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        eq(
            "IPv4 entry's keys",
            keys,
            vec!["Gateway".to_string(), "Subnet".to_string()],
        )?;
        ensure!(!s(&config[0], "/Subnet").contains(':'), "{config:?}");
        eq(
            "IPv6 entry",
            config[1].clone(),
            json!({"Subnet": "fd00:c0:1::/64"}),
        )?;

        // Dual stack, as requested (the IPv6 config first): IPv4's entry is listed first.
        let dual = ctx.name();
        made_net(
            ctx,
            made,
            "dual-stack create status",
            json!({"Name": dual, "EnableIPv6": true, "IPAM": {"Config": [
                {"Subnet": "fd00:c0:2::/64", "Gateway": "fd00:c0:2::fe", "IPRange": "fd00:c0:2::100/120"},
                {"Subnet": "10.196.0.0/24"}]}}),
        )?;
        let r = ctx.get(&format!("/networks/{dual}"))?;
        let n = r.json()?;
        eq(
            "dual-stack IPAM.Config",
            n["IPAM"]["Config"].clone(),
            json!([{"Subnet": "10.196.0.0/24"},
                   {"Subnet": "fd00:c0:2::/64", "Gateway": "fd00:c0:2::fe", "IPRange": "fd00:c0:2::100/120"}]),
        )?;

        // dockerd's refusals: no IPv6 subnet (it has no default IPv6 pool), an overlap.
        let other = ctx.name();
        let (st, v) = create_net(ctx, json!({"Name": other, "EnableIPv6": true}))?;
        eq("no IPv6 subnet status", st, 404)?;
        eq(
            "no IPv6 subnet message",
            s(&v, "/message"),
            "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network",
        )?;
        let (st, v) = create_net(
            ctx,
            json!({"Name": other, "EnableIPv6": true,
                   "IPAM": {"Config": [{"Subnet": "fd00:c0:1::/80"}]}}),
        )?;
        eq("overlap status", st, 403)?;
        eq(
            "overlap message",
            s(&v, "/message"),
            "Pool overlaps with other one on this address space",
        )?;
        Ok(())
    })
}

fn endpoint(ctx: &mut Ctx) -> Result<Outcome> {
    with_networks(ctx, |ctx, made| {
        let name = ctx.name();
        let (st, v) = create_net(
            ctx,
            json!({"Name": name, "EnableIPv6": true,
                   "IPAM": {"Config": [{"Subnet": "10.195.0.0/24"}, {"Subnet": "fd00:c0:3::/64"}]}}),
        )?;
        eq("create status", st, 201)?;
        let net_id = s(&v, "/Id").to_string();
        made.networks.push(net_id.clone());
        // The first container gets the address after the gateway's, the second its --ip6.
        let first = container(
            ctx,
            made,
            json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": name}}),
        )?;
        ctx.start(&first)?;
        let second = container(
            ctx,
            made,
            json!({
                "Cmd": ["sleep", "300"],
                "HostConfig": {"NetworkMode": name},
                "NetworkingConfig": {"EndpointsConfig": {&name: {"IPAMConfig": {"IPv6Address": "fd00:c0:3::99"}}}}
            }),
        )?;
        ctx.start(&second)?;
        let v = ctx.inspect(&first)?;
        let ep = &v["NetworkSettings"]["Networks"][&name];
        eq(
            "GlobalIPv6Address",
            s(ep, "/GlobalIPv6Address"),
            "fd00:c0:3::2",
        )?;
        eq(
            "GlobalIPv6PrefixLen",
            ep["GlobalIPv6PrefixLen"].as_u64(),
            Some(64),
        )?;
        eq("IPv6Gateway", s(ep, "/IPv6Gateway"), "fd00:c0:3::1")?;
        eq("IPAddress", s(ep, "/IPAddress"), "10.195.0.2")?;
        // A user network leaves the top-level fields empty.
        eq(
            "top-level GlobalIPv6Address",
            s(&v, "/NetworkSettings/GlobalIPv6Address"),
            "",
        )?;
        let v = ctx.inspect(&second)?;
        let ep = &v["NetworkSettings"]["Networks"][&name];
        eq(
            "--ip6 address",
            s(ep, "/GlobalIPv6Address"),
            "fd00:c0:3::99",
        )?;
        eq(
            "IPAMConfig",
            ep["IPAMConfig"].clone(),
            json!({"IPv6Address": "fd00:c0:3::99"}),
        )?;
        let r = ctx.get(&format!("/networks/{net_id}"))?;
        let n = r.json()?;
        eq(
            "member IPv6Address",
            s(&n["Containers"][&second], "/IPv6Address"),
            "fd00:c0:3::99/64",
        )?;
        eq(
            "member IPv4Address",
            s(&n["Containers"][&first], "/IPv4Address"),
            "10.195.0.2/24",
        )?;
        // --ip6 outside the subnet, or taken: the start fails with libnetwork's words.
        for (ip, status, msg) in [
            (
                "fd00:ffff::5",
                400,
                "It does not belong to any of this network's subnets",
            ),
            ("fd00:c0:3::99", 403, "Address already in use"),
        ] {
            let c = container(
                ctx,
                made,
                json!({
                    "Cmd": ["sleep", "300"],
                    "HostConfig": {"NetworkMode": name},
                    "NetworkingConfig": {"EndpointsConfig": {&name: {"IPAMConfig": {"IPv6Address": ip}}}}
                }),
            )?;
            let r = ctx.post(&format!("/containers/{c}/start"))?;
            let m = ctx.expect_error_in(&r, &[status, 500])?;
            contains("start error", &m, msg)?;
        }
        Ok(())
    })
}

/// `--ip-range` without `--gateway`: libnetwork makes the range's first address the
/// gateway (IPv4 and IPv6 alike) and hands out the next ones.
fn range_gateway(ctx: &mut Ctx) -> Result<Outcome> {
    with_networks(ctx, |ctx, made| {
        let name = ctx.name();
        made_net(
            ctx,
            made,
            "create status",
            json!({"Name": name, "EnableIPv6": true, "IPAM": {"Config": [
                {"Subnet": "10.194.0.0/24", "IPRange": "10.194.0.128/25"},
                {"Subnet": "fd00:c0:5::/64", "IPRange": "fd00:c0:5::100/120"}]}}),
        )?;
        let c = container(
            ctx,
            made,
            json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": name}}),
        )?;
        ctx.start(&c)?;
        let v = ctx.inspect(&c)?;
        let ep = &v["NetworkSettings"]["Networks"][&name];
        eq("Gateway", s(ep, "/Gateway"), "10.194.0.128")?;
        eq("IPAddress", s(ep, "/IPAddress"), "10.194.0.129")?;
        eq("IPv6Gateway", s(ep, "/IPv6Gateway"), "fd00:c0:5::100")?;
        eq(
            "GlobalIPv6Address",
            s(ep, "/GlobalIPv6Address"),
            "fd00:c0:5::101",
        )?;
        Ok(())
    })
}

/// An HTTP GET of `/hostname` on `[::1]:port`, read to the end.
fn get_hostname(port: u16) -> Result<String> {
    let mut last = None;
    // The server in the container may still be starting, and the proxy's first dial of
    // the container's fresh IPv6 address can stall (seen on dockerd 20.10 under load): a
    // connection that gets no answer is retried until the deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while std::time::Instant::now() < deadline {
        let attempt = || -> Result<String> {
            let mut c = std::net::TcpStream::connect(("::1", port))?;
            c.set_read_timeout(Some(Duration::from_secs(5)))?;
            c.write_all(b"GET /hostname HTTP/1.0\r\n\r\n")?;
            let mut out = String::new();
            c.read_to_string(&mut out)?;
            Ok(out)
        };
        match attempt() {
            Ok(out) if out.starts_with("HTTP/1.") => return Ok(out),
            Ok(out) => last = Some(anyhow::anyhow!("answer {out:?}")),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no answer"))).with_context(|| {
        format!("GET http://[::1]:{port}/hostname (run inside the engine's network namespace)")
    })
}

fn published_port(ctx: &mut Ctx) -> Result<Outcome> {
    with_networks(ctx, |ctx, made| {
        let name = ctx.name();
        made_net(
            ctx,
            made,
            "create status",
            json!({"Name": name, "EnableIPv6": true,
                   "IPAM": {"Config": [{"Subnet": "fd00:c0:4::/64"}]}}),
        )?;
        let c = container(
            ctx,
            made,
            json!({
                "Cmd": ["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"],
                "ExposedPorts": {"80/tcp": {}},
                "HostConfig": {
                    "NetworkMode": name,
                    "PortBindings": {"80/tcp": [{"HostIp": "::1", "HostPort": ""}]}
                }
            }),
        )?;
        ctx.start(&c)?;
        let v = ctx.inspect(&c)?;
        let ports = v["NetworkSettings"]["Ports"]["80/tcp"].clone();
        eq("bindings", ports.as_array().map(Vec::len), Some(1))?;
        eq("HostIp", s(&ports[0], "/HostIp"), "::1")?;
        let port: u16 = s(&ports[0], "/HostPort").parse()?;
        let out = get_hostname(port)?;
        ensure!(out.starts_with("HTTP/1.") && out.contains(" 200 "), "{out}");
        // The container's own hostname (its short ID) comes back.
        contains("body", &out, &c[..12])?;
        Ok(())
    })
}
