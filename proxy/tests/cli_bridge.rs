//! End to end: the default bridge and published ports with the real CLI. The daemon runs
//! in a private network namespace (`Daemon::start_isolated`), so its bridge, veths and NAT
//! rules never touch the machine's own networking; curl runs in that namespace too.
#![cfg(target_os = "linux")]

mod common;

use common::{Daemon, IMAGE};
use serde_json::Value;

fn inspect(d: &Daemon, name: &str) -> Value {
    let out = d.ok(&["inspect", name]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

fn curl(d: &Daemon, url: &str) -> Result<String, String> {
    let out = d.in_netns(&["curl", "-sS", "-m", "5", "-g", url]);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// What the bridge driver leaves on the host: veths, pinned namespaces, recorded
/// endpoints, MASQUERADE rules.
fn leftovers(d: &Daemon) -> (usize, usize, usize) {
    let links = d.in_netns(&["ip", "-o", "link", "show", "type", "veth"]);
    let veths = String::from_utf8_lossy(&links.stdout).lines().count();
    let netns = std::fs::read_dir(d.path("exec/netns"))
        .map(|r| r.count())
        .unwrap_or(0);
    let state = std::fs::read_to_string(d.path("data/network/bridge.json")).unwrap_or_default();
    let v: Value = serde_json::from_str(&state).unwrap_or(Value::Null);
    let endpoints = v["endpoints"].as_object().map(|o| o.len()).unwrap_or(0);
    (veths, netns, endpoints)
}

const HTTPD: &str =
    "mkdir -p /www && echo hello > /www/index.html && exec busybox httpd -f -p 80 -h /www";

#[test]
fn default_bridge_published_ports_and_cleanup() {
    let mut d = Daemon::start_isolated(&[]);
    d.load_busybox();

    // The pre-defined bridge network, as dockerd shows it.
    let nets = d.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert_eq!(nets, "bridge bridge\nhost host\nnone null\n");
    let bridge: Value = serde_json::from_str(&d.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(bridge[0]["IPAM"]["Config"][0]["Subnet"], "172.17.0.0/16");
    // dockerd lists the gateway only when --bip chose it.
    assert!(bridge[0]["IPAM"]["Config"][0].get("Gateway").is_none());
    assert_eq!(
        bridge[0]["Options"]["com.docker.network.bridge.name"],
        "dockbridge0"
    );

    // A web server published three ways: a random port on 127.0.0.1, 8080 everywhere,
    // and a UDP port.
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        "-p",
        "8080:80",
        "-p",
        "5353/udp",
        IMAGE,
        "sh",
        "-c",
        HTTPD,
    ]);
    assert!(
        out.status.success(),
        "{out:?}\n{}",
        common::tail(&d.log(), 30)
    );
    // No warning about a missing bridge.
    assert!(
        String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "{out:?}"
    );

    let c = inspect(&d, "web");
    let ns = &c["NetworkSettings"];
    assert_eq!(ns["IPAddress"], "172.17.0.2", "{ns}");
    assert_eq!(ns["Gateway"], "172.17.0.1");
    assert_eq!(ns["IPPrefixLen"], 16);
    assert_eq!(ns["MacAddress"], "02:42:ac:11:00:02");
    assert_eq!(ns["EndpointID"].as_str().unwrap().len(), 64);
    assert!(ns["SandboxKey"].as_str().unwrap().contains("/exec/netns/"));
    let ep = &ns["Networks"]["bridge"];
    assert_eq!(ep["NetworkID"], bridge[0]["Id"]);
    assert_eq!(ep["EndpointID"], ns["EndpointID"]);
    assert_eq!(ep["IPAddress"], "172.17.0.2");
    assert_eq!(ep["Gateway"], "172.17.0.1");
    assert_eq!(ep["MacAddress"], "02:42:ac:11:00:02");
    // NetworkSettings.Ports in dockerd's shape (testcontainers reads it).
    let p80 = ns["Ports"]["80/tcp"].as_array().unwrap();
    assert_eq!(p80[0]["HostIp"], "127.0.0.1");
    let random: u16 = p80[0]["HostPort"].as_str().unwrap().parse().unwrap();
    assert!(random > 1024);
    assert!(p80
        .iter()
        .any(|b| b["HostIp"] == "0.0.0.0" && b["HostPort"] == "8080"));
    assert!(ns["Ports"]["5353/udp"][0]["HostPort"].as_str().unwrap() != "0");

    let port = d.ok(&["port", "web", "80/tcp"]);
    assert!(port.contains(&format!("127.0.0.1:{random}")), "{port}");
    assert!(port.contains("0.0.0.0:8080"), "{port}");
    let ps = d.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("127.0.0.1:{random}->80/tcp")), "{ps}");
    assert!(ps.contains("0.0.0.0:8080->80/tcp"), "{ps}");

    // The network lists the container with its address.
    let members = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
        "bridge",
    ]);
    assert_eq!(members.trim(), "web 172.17.0.2/16");

    // Reachable from the host over loopback (IPv4 and IPv6, name and address).
    let mut got = Err(String::new());
    for _ in 0..50 {
        got = curl(&d, &format!("http://127.0.0.1:{random}/"));
        if got.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got.unwrap(), "hello\n");
    assert_eq!(curl(&d, "http://localhost:8080/").unwrap(), "hello\n");
    if p80.iter().any(|b| b["HostIp"] == "::") {
        assert_eq!(curl(&d, "http://[::1]:8080/").unwrap(), "hello\n");
    }
    // From the host straight to the container's address, and from another container
    // through the bridge and through the host's published port (hairpin).
    assert_eq!(curl(&d, "http://172.17.0.2/").unwrap(), "hello\n");
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            IMAGE,
            "busybox",
            "wget",
            "-qO-",
            "http://172.17.0.2/"
        ]),
        "hello\n"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            IMAGE,
            "busybox",
            "wget",
            "-qO-",
            "http://172.17.0.1:8080/"
        ]),
        "hello\n"
    );
    // /etc/hosts maps the hostname to the container's address, as dockerd writes it.
    let hosts = d.ok(&["exec", "web", "cat", "/etc/hosts"]);
    let hostname = d.ok(&["exec", "web", "hostname"]);
    assert!(
        hosts.contains(&format!("172.17.0.2\t{}", hostname.trim())),
        "{hosts}"
    );
    let addr = d.ok(&[
        "exec", "web", "busybox", "ip", "-o", "-4", "addr", "show", "eth0",
    ]);
    assert!(addr.contains("172.17.0.2/16"), "{addr}");
    let route = d.ok(&["exec", "web", "busybox", "ip", "route"]);
    assert!(route.contains("default via 172.17.0.1"), "{route}");

    // `--add-host NAME:host-gateway` is the bridge's gateway, in every network mode.
    for mode in ["bridge", "none"] {
        let hosts = d.ok(&[
            "run",
            "--rm",
            "--network",
            mode,
            "--add-host",
            "gw:host-gateway",
            IMAGE,
            "cat",
            "/etc/hosts",
        ]);
        assert!(hosts.contains("172.17.0.1\tgw\n"), "{mode}: {hosts}");
    }

    // A taken port: a clear error at start, nothing left behind. Taken by another
    // container, it is dockerd's allocator's message; by another process, docker-proxy's.
    let before = leftovers(&d);
    let out = d.docker(&["run", "-d", "-p", "8080:80", IMAGE, "sleep", "60"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Bind for 0.0.0.0:8080 failed: port is already allocated"),
        "{err}"
    );
    assert_eq!(leftovers(&d), before);
    let mut other = d
        .netns_cmd(&[
            "python3",
            "-c",
            "import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',8089))\ns.listen()\nprint('up',flush=True)\ntime.sleep(60)",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(other.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "up");
    }
    let out = d.docker(&[
        "run", "-d", "--name", "clash", "-p", "8089:80", IMAGE, "sleep", "60",
    ]);
    let _ = other.kill();
    let _ = other.wait();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("driver failed programming external connectivity")
            && err.contains("Error starting userland proxy: listen tcp4 0.0.0.0:8089: bind: address already in use"),
        "{err}"
    );
    assert_eq!(leftovers(&d), before);
    let c = inspect(&d, "clash");
    assert_eq!(c["State"]["Status"], "created");
    assert_eq!(c["NetworkSettings"]["IPAddress"], "");
    d.ok(&["rm", "clash"]);

    // A daemon restart keeps the running container's address and published ports.
    d.restart();
    let c = inspect(&d, "web");
    assert_eq!(c["NetworkSettings"]["IPAddress"], "172.17.0.2");
    assert_eq!(curl(&d, "http://127.0.0.1:8080/").unwrap(), "hello\n");
    assert_eq!(
        curl(&d, &format!("http://127.0.0.1:{random}/")).unwrap(),
        "hello\n"
    );
    // The next container gets the next address (the first is still taken).
    let ip = d.ok(&[
        "run",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "busybox ip -o -4 addr show eth0 | awk '{print $4}'",
    ]);
    assert_eq!(ip.trim(), "172.17.0.3/16");

    // Exit releases the endpoint; a stopped container shows no address or ports.
    d.ok(&["stop", "-t", "1", "web"]);
    let c = inspect(&d, "web");
    assert_eq!(c["NetworkSettings"]["IPAddress"], "");
    assert_eq!(c["NetworkSettings"]["Ports"], serde_json::json!({}));
    assert_eq!(
        c["NetworkSettings"]["Networks"]["bridge"]["NetworkID"],
        bridge[0]["Id"]
    );
    assert_eq!(c["NetworkSettings"]["Networks"]["bridge"]["EndpointID"], "");
    assert_eq!(leftovers(&d), (0, 0, 0));
    assert!(curl(&d, "http://127.0.0.1:8080/").is_err());
    // Started again, it is published again; rm -f leaves nothing.
    d.ok(&["start", "web"]);
    assert_eq!(leftovers(&d).2, 1);
    d.ok(&["rm", "-f", "web"]);
    assert_eq!(leftovers(&d), (0, 0, 0));
    assert!(curl(&d, "http://127.0.0.1:8080/").is_err());
    let nat = d.in_netns(&["iptables", "-t", "nat", "-S", "POSTROUTING"]);
    let nat = String::from_utf8_lossy(&nat.stdout);
    assert_eq!(nat.matches("MASQUERADE").count(), 1, "{nat}");
    // dockerd's network events for a container joining and leaving the bridge (`--until`
    // has a resolution of seconds: the last events are a second old first).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let ev = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "type=network",
        "--filter",
        "event=disconnect",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let all = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.container}}",
    ]);
    assert!(ev.lines().count() >= 3, "{ev}\n{all}");
    assert!(ev.lines().all(|l| l == "disconnect bridge"), "{ev}");
    let ev = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "type=network",
        "--format",
        "{{.Action}}",
    ]);
    assert!(ev.contains("connect\n"), "{ev}");

    // `-P` publishes the exposed ports on random host ports.
    d.ok(&[
        "run", "-d", "--name", "all", "--expose", "80", "-P", IMAGE, "sh", "-c", HTTPD,
    ]);
    let port = d.ok(&["port", "all"]);
    let hp = port
        .lines()
        .find_map(|l| l.strip_prefix("80/tcp -> 0.0.0.0:"))
        .unwrap_or_else(|| panic!("{port}"))
        .to_string();
    let mut got = Err(String::new());
    for _ in 0..50 {
        got = curl(&d, &format!("http://127.0.0.1:{hp}/"));
        if got.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got.unwrap(), "hello\n");
    d.ok(&["rm", "-f", "all"]);
    assert_eq!(leftovers(&d), (0, 0, 0));
}

#[test]
fn no_bridge_daemon_refuses_publishing() {
    let d = Daemon::start();
    d.load_busybox();
    let out = d.docker(&["create", "-p", "80", IMAGE, "true"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--bridge none"),
        "{out:?}"
    );
    assert_eq!(
        d.ok(&["network", "ls", "--format", "{{.Name}}"]),
        "host\nnone\n"
    );
    let out = d.docker(&["create", "--add-host", "gw:host-gateway", IMAGE, "true"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("host-gateway needs the default bridge"),
        "{out:?}"
    );
}

fn bridges(d: &Daemon) -> Vec<String> {
    let out = d.in_netns(&["ip", "-o", "link", "show", "type", "bridge"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1).map(|n| n.to_string()))
        .collect()
}

#[test]
fn user_networks_with_dns() {
    let mut d = Daemon::start_isolated(&[]);
    d.load_busybox();
    let id = d
        .ok(&[
            "network",
            "create",
            "--subnet",
            "10.77.0.0/24",
            "--label",
            "env=ci",
            "mynet",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    let n: Value = serde_json::from_str(&d.ok(&["network", "inspect", "mynet"])).unwrap();
    assert_eq!(n[0]["Id"], id.as_str());
    assert_eq!(n[0]["Driver"], "bridge");
    assert_eq!(
        n[0]["IPAM"]["Config"],
        serde_json::json!([{"Subnet": "10.77.0.0/24"}])
    );
    assert_eq!(n[0]["Labels"], serde_json::json!({"env": "ci"}));
    assert_eq!(
        d.ok(&[
            "network",
            "ls",
            "--filter",
            "label=env=ci",
            "--format",
            "{{.Name}}"
        ]),
        "mynet\n"
    );
    assert_eq!(
        d.ok(&[
            "network",
            "ls",
            "--filter",
            "type=custom",
            "--format",
            "{{.Name}}"
        ]),
        "mynet\n"
    );
    // dockerd's errors.
    let dup = d.docker(&["network", "create", "mynet"]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("network with name mynet already exists"));
    let overlap = d.docker(&["network", "create", "--subnet", "10.77.0.0/16", "other"]);
    assert!(
        String::from_utf8_lossy(&overlap.stderr)
            .contains("Pool overlaps with other one on this address space"),
        "{overlap:?}"
    );
    let missing = d.docker(&["run", "--rm", "--network", "nope", IMAGE, "true"]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("network nope not found"),
        "{missing:?}"
    );

    d.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "mynet",
        "--network-alias",
        "database",
        IMAGE,
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "mynet",
        IMAGE,
        "sh",
        "-c",
        HTTPD,
    ]);
    let c = inspect(&d, "db");
    let ep = &c["NetworkSettings"]["Networks"]["mynet"];
    assert_eq!(ep["NetworkID"], id.as_str());
    assert_eq!(ep["IPAddress"], "10.77.0.2");
    assert_eq!(ep["Gateway"], "10.77.0.1");
    assert_eq!(ep["IPPrefixLen"], 24);
    let aliases: Vec<&str> = ep["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(aliases.contains(&"database"), "{aliases:?}");
    let dns_names = ep["DNSNames"].to_string();
    assert!(
        dns_names.contains("\"db\"") && dns_names.contains("\"database\""),
        "{dns_names}"
    );
    // Only the default bridge fills the top-level fields.
    assert_eq!(c["NetworkSettings"]["IPAddress"], "");
    let resolv = d.ok(&["exec", "db", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    assert!(resolv.contains("ndots:0"), "{resolv}");

    // Names and aliases resolve on the network, through the embedded DNS server.
    let looked = d.ok(&[
        "run",
        "--rm",
        "--network",
        "mynet",
        IMAGE,
        "busybox",
        "nslookup",
        "database",
    ]);
    assert!(looked.contains("10.77.0.2"), "{looked}");
    let mut got = String::new();
    for _ in 0..30 {
        let out = d.docker(&[
            "run",
            "--rm",
            "--network",
            "mynet",
            IMAGE,
            "busybox",
            "wget",
            "-qO-",
            "http://web/",
        ]);
        got = String::from_utf8_lossy(&out.stdout).into_owned();
        if got == "hello\n" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got, "hello\n");
    // A container on the default bridge does not see them.
    let out = d.docker(&["run", "--rm", IMAGE, "busybox", "nslookup", "database"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("10.77.0.2"));

    let members = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{end}}",
        "mynet",
    ]);
    let mut members: Vec<&str> = members.split_whitespace().collect();
    members.sort();
    assert_eq!(members, ["db", "web"]);
    let rm = d.docker(&["network", "rm", "mynet"]);
    assert!(
        String::from_utf8_lossy(&rm.stderr).contains("has active endpoints"),
        "{rm:?}"
    );
    let conn = d.docker(&["network", "connect", "mynet", "db"]);
    assert!(
        String::from_utf8_lossy(&conn.stderr)
            .contains("endpoint with name db already exists in network mynet"),
        "{conn:?}"
    );

    // --ip: that address, inside the subnet only, on user networks only.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "--network",
        "mynet",
        "--ip",
        "10.77.0.50",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let c = inspect(&d, "fixed");
    assert_eq!(
        c["NetworkSettings"]["Networks"]["mynet"]["IPAddress"],
        "10.77.0.50"
    );
    let looked = d.ok(&["exec", "db", "busybox", "nslookup", "fixed"]);
    assert!(looked.contains("10.77.0.50"), "{looked}");
    d.ok(&["rm", "-f", "fixed"]);
    let out = d.docker(&[
        "create",
        "--network",
        "mynet",
        "--ip",
        "10.78.0.5",
        IMAGE,
        "true",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no configured subnet or ip-range contain the IP address 10.78.0.5"),
        "{out:?}"
    );
    let out = d.docker(&["create", "--ip", "172.17.0.9", IMAGE, "true"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("user specified IP address is supported on user defined networks only"),
        "{out:?}"
    );

    // A restarted daemon keeps the network, the addresses and the DNS.
    d.restart();
    let looked = d.ok(&["exec", "web", "busybox", "nslookup", "database"]);
    assert!(looked.contains("10.77.0.2"), "{looked}");

    // --internal: no route out.
    d.ok(&["network", "create", "--internal", "int"]);
    let route = d.ok(&[
        "run",
        "--rm",
        "--network",
        "int",
        IMAGE,
        "busybox",
        "ip",
        "route",
    ]);
    assert!(!route.contains("default"), "{route}");
    assert!(route.contains("dev eth0"), "{route}");

    // Nothing left once the containers and networks are gone.
    d.ok(&["rm", "-f", "db", "web"]);
    d.ok(&["network", "rm", "mynet"]);
    let pruned = d.ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("int"), "{pruned}");
    assert_eq!(bridges(&d), ["dockbridge0"]);
    assert_eq!(leftovers(&d), (0, 0, 0));
    let nat = d.in_netns(&["iptables", "-t", "nat", "-S", "POSTROUTING"]);
    assert_eq!(
        String::from_utf8_lossy(&nat.stdout)
            .matches("MASQUERADE")
            .count(),
        1
    );
    assert_eq!(
        d.ok(&["network", "ls", "--format", "{{.Name}}"]),
        "bridge\nhost\nnone\n"
    );
}

const COMPOSE_FILE: &str = r#"name: dbtest
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo db > /www/index.html && exec busybox httpd -f -p 80 -h /www"]
    networks: [back]
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo web > /www/index.html && exec busybox httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:18080:80"]
    networks: [back]
networks:
  back:
    labels:
      tier: backend
"#;

#[test]
fn compose_project_on_a_user_network() {
    let d = Daemon::start_isolated(&[]);
    d.load_busybox();
    let file = d.path("compose.yaml");
    std::fs::write(&file, COMPOSE_FILE).unwrap();
    let compose_run = |args: &[&str]| {
        d.compose(&file, args);
    };
    compose_run(&["up", "-d"]);
    // The services find each other by name on the project network.
    let mut got = String::new();
    for _ in 0..50 {
        let out = d.docker(&[
            "exec",
            "dbtest-web-1",
            "busybox",
            "wget",
            "-qO-",
            "http://db/",
        ]);
        got = String::from_utf8_lossy(&out.stdout).into_owned();
        if got == "db\n" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got, "db\n");
    assert_eq!(curl(&d, "http://127.0.0.1:18080/").unwrap(), "web\n");
    let labels = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{json .Labels}}",
        "dbtest_back",
    ]);
    assert!(labels.contains(r#""tier":"backend""#), "{labels}");
    assert!(labels.contains("com.docker.compose.project"), "{labels}");
    compose_run(&["down"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(
        d.ok(&["network", "ls", "--format", "{{.Name}}"]),
        "bridge\nhost\nnone\n"
    );
    assert_eq!(bridges(&d), ["dockbridge0"]);
    assert_eq!(leftovers(&d), (0, 0, 0));
    assert!(curl(&d, "http://127.0.0.1:18080/").is_err());
}

#[test]
fn bip_sets_the_default_bridge_range() {
    let mut d = Daemon::start_isolated(&["--bip", "10.55.0.1/24"]);
    d.load_busybox();
    let ip = d.ok(&[
        "run",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "busybox ip -o -4 addr show eth0 | awk '{print $4}'",
    ]);
    assert_eq!(ip.trim(), "10.55.0.2/24");
    let cfg = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{json .IPAM.Config}}",
        "bridge",
    ]);
    assert_eq!(
        cfg.trim(),
        r#"[{"Subnet":"10.55.0.0/24","Gateway":"10.55.0.1"}]"#
    );
    // The same bridge under another --bip takes the new address (not a second one).
    d.restart_with(&["--bip", "10.56.0.1/24"]);
    let addr = d.in_netns(&["ip", "-o", "-4", "addr", "show", "dev", "dockbridge0"]);
    let addr = String::from_utf8_lossy(&addr.stdout);
    assert!(
        addr.contains("10.56.0.1/24") && !addr.contains("10.55.0.1"),
        "{addr}"
    );
}

#[test]
fn legacy_links_on_the_default_bridge() {
    let d = Daemon::start_isolated(&[]);
    d.load_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--hostname",
        "dbhost",
        "-e",
        "SECRET=s3",
        "--expose",
        "5432",
        IMAGE,
        "sleep",
        "300",
    ]);
    let db_ip = inspect(&d, "db")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    // The parent reaches the child by alias and by name; its environment describes it.
    let out = d.ok(&[
        "run", "--rm", "--name", "web", "--link", "db:data", IMAGE, "sh", "-c",
        "grep -w data /etc/hosts; env | grep ^DATA_ | sort; ping -c1 -W2 data >/dev/null && echo reached",
    ]);
    assert!(out.contains(&format!("{db_ip}\tdata dbhost db")), "{out}");
    for want in [
        format!("DATA_PORT=tcp://{db_ip}:5432"),
        format!("DATA_PORT_5432_TCP_ADDR={db_ip}"),
        "DATA_PORT_5432_TCP_PORT=5432".to_string(),
        "DATA_PORT_5432_TCP_PROTO=tcp".to_string(),
        "DATA_NAME=/web/data".to_string(),
        "DATA_ENV_SECRET=s3".to_string(),
        "reached".to_string(),
    ] {
        assert!(out.lines().any(|l| l == want), "{want:?} missing:\n{out}");
    }
    // Inspect shows the link as dockerd records it.
    d.ok(&["create", "--name", "web2", "--link", "db", IMAGE, "true"]);
    assert_eq!(
        inspect(&d, "web2")["HostConfig"]["Links"],
        serde_json::json!(["/db:/web2/db"])
    );
    // Bad links: dockerd's words.
    let out = d.docker(&["create", "--link", "nosuch:x", IMAGE, "true"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("could not get container for nosuch: No such container: nosuch"),
        "{out:?}"
    );
    d.ok(&["stop", "-t", "0", "db"]);
    let out = d.docker(&["start", "web2"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Cannot link to a non running container: /db AS /web2/db"),
        "{out:?}"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--link",
        "db",
        IMAGE,
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
}

#[test]
fn connect_disconnect_and_several_networks() {
    let d = Daemon::start_isolated(&[]);
    d.load_busybox();
    d.ok(&["network", "create", "--subnet", "10.81.0.0/24", "front"]);
    d.ok(&["network", "create", "--subnet", "10.82.0.0/24", "back"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        IMAGE,
        "sleep",
        "300",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "back",
        IMAGE,
        "sleep",
        "300",
    ]);
    let lookup = |from: &str, name: &str| {
        d.docker(&["exec", from, "busybox", "nslookup", name])
            .status
            .success()
    };
    assert!(!lookup("web", "db"), "db is on another network");

    // Connect the running web to back, with an alias: both find each other there.
    d.ok(&["network", "connect", "--alias", "webalias", "back", "web"]);
    assert!(lookup("web", "db"));
    assert!(lookup("db", "webalias"));
    let out = d.ok(&[
        "exec", "web", "busybox", "ip", "-o", "-4", "addr", "show", "eth1",
    ]);
    assert!(out.contains("10.82.0."), "{out}");
    let v = inspect(&d, "web");
    let nets = &v["NetworkSettings"]["Networks"];
    assert!(
        nets["front"]["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("10.81.0."),
        "{nets}"
    );
    assert!(
        nets["back"]["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("10.82.0."),
        "{nets}"
    );
    assert_eq!(
        nets["back"]["Aliases"],
        serde_json::json!(["webalias", &v["Id"].as_str().unwrap()[..12]])
    );
    let n: Value = serde_json::from_str(&d.ok(&["network", "inspect", "back"])).unwrap();
    assert_eq!(n[0]["Containers"].as_object().unwrap().len(), 2, "{n}");
    // dockerd's refusals.
    let out = d.docker(&["network", "connect", "back", "web"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("endpoint with name web already exists in network back"),
        "{out:?}"
    );
    let out = d.docker(&["network", "connect", "back", "nosuch"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such container: nosuch"),
        "{out:?}"
    );

    // The connection outlives a restart of the container, and disconnect undoes it.
    d.ok(&["restart", "-t", "0", "web"]);
    assert!(lookup("web", "db"));
    d.ok(&["network", "disconnect", "back", "web"]);
    assert!(!lookup("web", "db"));
    assert!(inspect(&d, "web")["NetworkSettings"]["Networks"]["back"].is_null());
    let out = d.docker(&["network", "disconnect", "back", "web"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not connected to network back"),
        "{out:?}"
    );

    // Several networks at create (API 1.44 sends them all), and a stopped container
    // connected before its start.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "both",
        "--network",
        "front",
        "--network",
        "back",
        IMAGE,
        "sleep",
        "300",
    ]);
    assert!(lookup("both", "db") && lookup("both", "web"));
    d.ok(&[
        "create",
        "--name",
        "late",
        "--network",
        "front",
        IMAGE,
        "sleep",
        "300",
    ]);
    d.ok(&["network", "connect", "back", "late"]);
    d.ok(&["start", "late"]);
    assert!(lookup("late", "db"));
    assert!(lookup("db", "late"));

    // Nothing stays behind.
    d.ok(&["rm", "-f", "web", "db", "both", "late"]);
    let (veths, netns, endpoints) = leftovers(&d);
    assert_eq!((veths, netns, endpoints), (0, 0, 0));
    let state = std::fs::read_to_string(d.path("data/network/bridge.json")).unwrap();
    let v: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(v["extra"], serde_json::json!({}), "{v}");
    d.ok(&["network", "rm", "front", "back"]);
}

/// `ip -o -4 addr` inside a container: `(interface, address)` pairs besides loopback.
fn addresses(d: &Daemon, c: &str) -> Vec<(String, String)> {
    let out = d.ok(&["exec", c, "busybox", "ip", "-o", "-4", "addr"]);
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let addr = f.get(3)?.split('/').next()?.to_string();
            (f[1] != "lo").then(|| (f[1].to_string(), addr))
        })
        .collect()
}

/// The default route's gateway inside a container.
fn default_gateway(d: &Daemon, c: &str) -> String {
    let out = d.ok(&["exec", c, "busybox", "ip", "route"]);
    out.lines()
        .find_map(|l| l.strip_prefix("default via "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_string()
}

fn embedded_dns(d: &Daemon, c: &str) -> bool {
    d.ok(&["exec", c, "cat", "/etc/resolv.conf"])
        .lines()
        .any(|l| l == "nameserver 127.0.0.11")
}

#[test]
fn default_bridge_connect_disconnect_and_the_resolver_switch() {
    let mut d = Daemon::start_isolated(&[]);
    d.load_busybox();
    d.ok(&["network", "create", "--subnet", "10.83.0.0/24", "un"]);
    let bridge_id = d.ok(&["network", "inspect", "-f", "{{.Id}}", "bridge"]);

    // A container of a user network joins the default bridge: dockerd's refusals first.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "u1",
        "--network",
        "un",
        IMAGE,
        "sleep",
        "300",
    ]);
    d.fails_with(
        &["network", "connect", "--alias", "foo", "bridge", "u1"],
        "network-scoped alias is supported only for containers in user defined networks",
    );
    d.fails_with(
        &["network", "connect", "--ip", "172.17.0.50", "bridge", "u1"],
        "user specified IP address is supported on user defined networks only",
    );
    d.ok(&["network", "connect", "bridge", "u1"]);
    let addrs = addresses(&d, "u1");
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    assert_eq!(addrs[1].0, "eth1");
    assert!(addrs[1].1.starts_with("172.17.0."), "{addrs:?}");
    // libnetwork's gateway choice: the network first by name (bridge < un).
    assert_eq!(default_gateway(&d, "u1"), "172.17.0.1");
    let v = inspect(&d, "u1");
    let ns = &v["NetworkSettings"];
    assert_eq!(v["HostConfig"]["NetworkMode"], "un");
    assert_eq!(ns["Networks"]["bridge"]["IPAddress"], addrs[1].1.as_str());
    assert_eq!(ns["Networks"]["bridge"]["NetworkID"], bridge_id.trim());
    // The top-level fields follow the default bridge's endpoint.
    assert_eq!(ns["IPAddress"], addrs[1].1.as_str());
    assert_eq!(ns["Gateway"], "172.17.0.1");
    assert_eq!(ns["MacAddress"], ns["Networks"]["bridge"]["MacAddress"]);
    let members = d.ok(&["network", "inspect", "-f", "{{json .Containers}}", "bridge"]);
    assert!(members.contains("\"Name\":\"u1\""), "{members}");
    d.fails_with(
        &["network", "connect", "bridge", "u1"],
        "endpoint with name u1 already exists in network bridge",
    );

    // A default-bridge container joins a user network: it switches to the embedded DNS
    // server, as dockerd, and finds the network's names; leaving keeps the resolver.
    d.ok(&["run", "-d", "--name", "b1", IMAGE, "sleep", "300"]);
    assert!(!embedded_dns(&d, "b1"));
    d.ok(&["network", "connect", "--alias", "bal", "un", "b1"]);
    assert!(embedded_dns(&d, "b1"));
    let lookup = |d: &Daemon, from: &str, name: &str| {
        d.docker(&["exec", from, "busybox", "nslookup", name, "127.0.0.11"])
            .status
            .success()
    };
    assert!(lookup(&d, "b1", "u1"));
    assert!(lookup(&d, "u1", "bal"));
    assert_eq!(default_gateway(&d, "b1"), "172.17.0.1");
    d.ok(&["network", "disconnect", "un", "b1"]);
    assert!(embedded_dns(&d, "b1"));

    // Leaving the network the mode names (dockerd allows it): the mode stays, the
    // container keeps only loopback, and its next start joins no network.
    d.ok(&["network", "disconnect", "bridge", "b1"]);
    assert!(addresses(&d, "b1").is_empty());
    let v = inspect(&d, "b1");
    assert_eq!(v["HostConfig"]["NetworkMode"], "default");
    assert_eq!(v["NetworkSettings"]["Networks"], serde_json::json!({}));
    assert_eq!(v["NetworkSettings"]["IPAddress"], "");
    // The sandbox stays (dockerd shows it).
    let key = v["NetworkSettings"]["SandboxKey"]
        .as_str()
        .unwrap_or_default();
    assert!(key.contains("/netns/"), "{v}");
    d.ok(&["restart", "-t", "0", "b1"]);
    assert!(addresses(&d, "b1").is_empty());
    assert!(!embedded_dns(&d, "b1"));

    // u1 leaves un while running: the bridge interface stays, with the default route.
    d.ok(&["network", "disconnect", "un", "u1"]);
    let addrs = addresses(&d, "u1");
    assert_eq!(addrs.len(), 1, "{addrs:?}");
    assert_eq!(default_gateway(&d, "u1"), "172.17.0.1");
    let v = inspect(&d, "u1");
    assert_eq!(v["HostConfig"]["NetworkMode"], "un");
    let keys: Vec<&String> = v["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["bridge"]);
    // A restart joins the default bridge only (as eth0), with the host's resolvers.
    d.ok(&["restart", "-t", "0", "u1"]);
    let addrs = addresses(&d, "u1");
    assert_eq!(addrs.len(), 1, "{addrs:?}");
    assert_eq!(addrs[0].0, "eth0");
    assert!(!embedded_dns(&d, "u1"));
    // Back on un: the resolver switches again.
    d.ok(&["network", "connect", "un", "u1"]);
    assert!(embedded_dns(&d, "u1"));
    d.ok(&[
        "run",
        "-d",
        "--name",
        "peer",
        "--network",
        "un",
        IMAGE,
        "sleep",
        "300",
    ]);
    assert!(lookup(&d, "u1", "peer"));
    assert!(lookup(&d, "peer", "u1"));

    // Stopped containers: recorded, joined at the next start; dockerd's words for a
    // network the container is not on.
    d.ok(&[
        "create",
        "--name",
        "s1",
        "--network",
        "un",
        IMAGE,
        "sleep",
        "300",
    ]);
    d.ok(&["network", "connect", "bridge", "s1"]);
    d.ok(&["network", "disconnect", "un", "s1"]);
    d.fails_with(
        &["network", "disconnect", "un", "s1"],
        "is not connected to the network un",
    );
    d.ok(&["start", "s1"]);
    let addrs = addresses(&d, "s1");
    assert_eq!(addrs.len(), 1, "{addrs:?}");
    assert!(addrs[0].1.starts_with("172.17.0."), "{addrs:?}");
    assert_eq!(
        inspect(&d, "s1")["NetworkSettings"]["IPAddress"],
        addrs[0].1.as_str()
    );
    d.fails_with(
        &["network", "disconnect", "-f", "un", "nosuch"],
        "endpoint nosuch not found",
    );

    // The events of the default bridge's connects and disconnects.
    let ev = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "type=network",
        "--filter",
        "network=bridge",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert!(ev.lines().any(|l| l == "connect bridge"), "{ev}");
    assert!(ev.lines().any(|l| l == "disconnect bridge"), "{ev}");

    // A daemon restart keeps what the running containers have, the resolver of one
    // that left its user network too (it answers, where no listener refuses).
    d.ok(&["run", "-d", "--name", "r1", IMAGE, "sleep", "300"]);
    d.ok(&["network", "connect", "un", "r1"]);
    d.ok(&["network", "disconnect", "un", "r1"]);
    d.restart();
    assert!(embedded_dns(&d, "u1"));
    assert!(lookup(&d, "u1", "peer"));
    assert_eq!(addresses(&d, "u1").len(), 2);
    let out = d.docker(&["exec", "r1", "busybox", "nslookup", "nosuch", "127.0.0.11"]);
    let text = format!("{out:?}");
    assert!(text.contains("server can't find"), "{text}");
    assert!(!text.contains("Connection refused"), "{text}");

    d.ok(&["rm", "-f", "u1", "b1", "peer", "s1", "r1"]);
    let (veths, netns, endpoints) = leftovers(&d);
    assert_eq!((veths, netns, endpoints), (0, 0, 0));
    let state = std::fs::read_to_string(d.path("data/network/bridge.json")).unwrap();
    let v: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(v["extra"], serde_json::json!({}), "{v}");
    assert_eq!(v["bare"], serde_json::json!({}), "{v}");
    d.ok(&["network", "rm", "un"]);
}

/// Published ports reached from containers through the host's own address and through
/// each bridge's gateway, across networks and from the publishing container itself
/// (dockerd with userland-proxy=true allows them all).
#[test]
fn hairpin_through_host_and_gateway_addresses() {
    let d = Daemon::start_isolated(&[]);
    d.load_busybox();
    // A host address besides the bridges', in the daemon's private namespace (a veth
    // pair: no module needed), from the documentation range.
    let host_ip = "198.51.100.1";
    for cmd in [
        &[
            "ip", "link", "add", "hp0", "type", "veth", "peer", "name", "hp1",
        ][..],
        &["ip", "addr", "add", "198.51.100.1/24", "dev", "hp0"],
        &["ip", "link", "set", "hp0", "up"],
        &["ip", "link", "set", "hp1", "up"],
    ] {
        let out = d.in_netns(cmd);
        assert!(out.status.success(), "{cmd:?}: {out:?}");
    }
    d.ok(&["network", "create", "--subnet", "10.84.0.0/24", "hn"]);
    d.ok(&[
        "run", "-d", "--name", "w1", "-p", "8080:80", IMAGE, "sh", "-c", HTTPD,
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "w2",
        "--network",
        "hn",
        "-p",
        "8081:80",
        IMAGE,
        "sh",
        "-c",
        HTTPD,
    ]);
    d.ok(&["run", "-d", "--name", "c1", IMAGE, "sleep", "300"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "c2",
        "--network",
        "hn",
        IMAGE,
        "sleep",
        "300",
    ]);
    let fetch = |from: &str, target: &str| {
        let url = format!("http://{target}/");
        let mut last = None;
        for _ in 0..20 {
            // (This busybox's `wget -T` crashes: timeout(1) bounds it.)
            let out = d.docker(&[
                "exec", from, "timeout", "5", "busybox", "wget", "-qO-", &url,
            ]);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            last = Some(out);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{from} -> {url}: {last:?}");
    };
    for from in ["w1", "w2", "c1", "c2"] {
        for addr in ["172.17.0.1", "10.84.0.1", host_ip] {
            for port in [8080, 8081] {
                assert_eq!(fetch(from, &format!("{addr}:{port}")), "hello\n");
            }
        }
    }
    let nat =
        String::from_utf8_lossy(&d.in_netns(&["iptables-save", "-t", "nat"]).stdout).into_owned();
    assert!(
        nat.contains("-A DOCKBRIDGE -i dockbridge0 -j RETURN"),
        "{nat}"
    );
    // The published port follows when the network that carried it leaves (dockerd keeps
    // it reachable through the remaining endpoint).
    d.ok(&["network", "connect", "bridge", "w2"]);
    d.ok(&["network", "disconnect", "hn", "w2"]);
    assert_eq!(curl(&d, "http://127.0.0.1:8081/").unwrap(), "hello\n");
    assert_eq!(fetch("c1", &format!("{host_ip}:8081")), "hello\n");
    let v = inspect(&d, "w2");
    assert_eq!(
        v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
        "8081"
    );
    // Off every network the port goes (dockerd's), and comes back with the next network.
    d.ok(&["network", "disconnect", "bridge", "w2"]);
    assert!(curl(&d, "http://127.0.0.1:8081/").is_err());
    assert_eq!(
        inspect(&d, "w2")["NetworkSettings"]["Ports"],
        serde_json::json!({})
    );
    d.ok(&["network", "connect", "hn", "w2"]);
    let mut got = curl(&d, "http://127.0.0.1:8081/");
    for _ in 0..20 {
        if got.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        got = curl(&d, "http://127.0.0.1:8081/");
    }
    assert_eq!(got.unwrap(), "hello\n");
    // Every teardown path takes the rules: rm of the last publisher, then network rm.
    d.ok(&["rm", "-f", "w1", "w2", "c1", "c2"]);
    d.ok(&["network", "rm", "hn"]);
    let nat =
        String::from_utf8_lossy(&d.in_netns(&["iptables-save", "-t", "nat"]).stdout).into_owned();
    assert!(!nat.contains("DOCKBRIDGE"), "{nat}");
    let _ = d.in_netns(&["ip", "link", "del", "hp0"]);
}
