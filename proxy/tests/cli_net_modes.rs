//! End to end with the real CLI: `--network container:NAME`, `--mac-address`, `--sysctl
//! net.*`. The daemon runs in a private network namespace (`Daemon::start_isolated`).
#![cfg(target_os = "linux")]

mod common;

use common::{Daemon, IMAGE};
use serde_json::Value;

fn inspect(d: &Daemon, name: &str) -> Value {
    let out = d.ok(&["inspect", name]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

fn stderr(d: &Daemon, args: &[&str]) -> String {
    let out = d.docker(args);
    assert!(!out.status.success(), "{args:?} succeeded: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn container_network_mode_shares_the_namespace() {
    let d = Daemon::start_isolated(&[]);
    d.load_busybox();

    d.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--hostname",
        "donorhost",
        "--dns-search",
        "example.test",
        IMAGE,
        "sh",
        "-c",
        "mkdir -p /www && echo hi > /www/i && exec busybox httpd -f -p 7000 -h /www",
    ]);
    let donor = inspect(&d, "donor");
    let donor_id = donor["Id"].as_str().unwrap().to_string();
    let donor_ip = donor["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();

    // The joined container sees the donor's interfaces and listener on loopback, its
    // hostname and its files.
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:donor",
        IMAGE,
        "sh",
        "-c",
        "ip -4 -o addr show eth0; hostname; cat /etc/hostname; grep search /etc/resolv.conf; wget -qO- http://127.0.0.1:7000/i",
    ]);
    assert!(out.contains(&format!("inet {donor_ip}/")), "{out}");
    assert!(out.contains("donorhost\ndonorhost\n"), "{out}");
    assert!(out.contains("search example.test"), "{out}");
    assert!(out.trim_end().ends_with("hi"), "{out}");

    // Inspect as dockerd: the mode names the donor's ID, the files are the donor's, the
    // hostname is the donor's, and there are no endpoints of its own.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "joined",
        "--network",
        "container:donor",
        IMAGE,
        "sleep",
        "300",
    ]);
    let j = inspect(&d, "joined");
    assert_eq!(
        j["HostConfig"]["NetworkMode"],
        format!("container:{donor_id}")
    );
    assert_eq!(j["Config"]["Hostname"], "donorhost");
    for k in ["HostsPath", "HostnamePath", "ResolvConfPath"] {
        assert_eq!(j[k], donor[k], "{k}");
    }
    assert_eq!(
        j["NetworkSettings"]["Networks"],
        serde_json::json!({}),
        "{j}"
    );
    assert_eq!(j["NetworkSettings"]["IPAddress"], "");
    let ns = std::fs::read_link(format!(
        "/proc/{}/ns/net",
        j["State"]["Pid"].as_u64().unwrap()
    ))
    .unwrap();
    let donor_ns = std::fs::read_link(format!(
        "/proc/{}/ns/net",
        donor["State"]["Pid"].as_u64().unwrap()
    ))
    .unwrap();
    assert_eq!(ns, donor_ns);

    // dockerd's refusals at create, in its order.
    for (flags, msg) in [
        (
            vec!["--hostname", "x"],
            "conflicting options: hostname and the network mode",
        ),
        (
            vec!["--dns", "1.1.1.1"],
            "conflicting options: dns and the network mode",
        ),
        (
            vec!["--add-host", "a:1.2.3.4"],
            "conflicting options: custom host-to-IP mapping and the network mode",
        ),
        (
            vec!["--mac-address", "02:42:ac:11:00:99"],
            "conflicting options: mac-address and the network mode",
        ),
        (
            vec!["-p", "80"],
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            vec!["--expose", "80"],
            "conflicting options: port exposing and the container type network mode",
        ),
        (
            vec!["--link", "donor:d"],
            "conflicting options: container type network can't be used with links",
        ),
    ] {
        let mut args = vec!["create", "--network", "container:donor"];
        args.extend(flags.iter().copied());
        args.push(IMAGE);
        let e = stderr(&d, &args);
        assert!(e.contains(msg), "{flags:?}: {e}");
    }
    d.ok(&["network", "create", "n1"]);
    let e = stderr(&d, &["network", "connect", "n1", "joined"]);
    assert!(
        e.contains("container sharing network namespace with another container"),
        "{e}"
    );

    // The donor must run at every start of the joined container.
    d.ok(&[
        "create",
        "--name",
        "later",
        "--network",
        "container:donor",
        IMAGE,
        "true",
    ]);
    d.ok(&["stop", "-t", "1", "donor"]);
    let e = stderr(&d, &["start", "later"]);
    assert!(
        e.contains("cannot join network of a non running container: "),
        "{e}"
    );
    // A stopped donor takes its endpoint with it; the joined container keeps the
    // namespace, with loopback only (dockerd's behaviour).
    let out = d.ok(&["exec", "joined", "busybox", "ip", "-o", "link"]);
    assert!(!out.contains("eth0"), "{out}");
    // After the donor's restart (a new namespace), a new start of the joined one follows.
    d.ok(&["start", "donor"]);
    d.ok(&["restart", "-t", "1", "joined"]);
    let ip = inspect(&d, "donor")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let out = d.ok(&[
        "exec", "joined", "busybox", "ip", "-4", "-o", "addr", "show", "eth0",
    ]);
    assert!(out.contains(&format!("inet {ip}/")), "{out}");
    let e = stderr(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "container:nosuch",
            IMAGE,
            "true",
        ],
    );
    assert!(e.contains("No such container: nosuch"), "{e}");

    d.ok(&["rm", "-f", "joined", "later", "donor"]);
    d.ok(&["network", "rm", "n1"]);
    let links = d.in_netns(&["ip", "-o", "link", "show", "type", "veth"]);
    assert!(String::from_utf8_lossy(&links.stdout).trim().is_empty());
}

#[test]
fn mac_address_and_net_sysctls() {
    let d = Daemon::start_isolated(&[]);
    d.load_busybox();
    let read = "cat /sys/class/net/eth0/address /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/tcp_keepalive_time";

    // The default bridge: the address on the interface and in inspect; net.* sysctls set
    // in the container's namespace only.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "m1",
        "--mac-address",
        "92:D0:C6:0A:29:33",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--sysctl",
        "net.ipv4.tcp_keepalive_time=77",
        IMAGE,
        "sleep",
        "300",
    ]);
    let out = d.ok(&["exec", "m1", "sh", "-c", read]);
    assert_eq!(out, "92:d0:c6:0a:29:33\n1\n77\n");
    let ns = inspect(&d, "m1")["NetworkSettings"].clone();
    assert_eq!(ns["MacAddress"], "92:d0:c6:0a:29:33");
    assert_eq!(ns["Networks"]["bridge"]["MacAddress"], "92:d0:c6:0a:29:33");
    let host = d.in_netns(&["cat", "/proc/sys/net/ipv4/tcp_keepalive_time"]);
    assert_ne!(String::from_utf8_lossy(&host.stdout).trim(), "77");

    // A user network, and a container's network list.
    d.ok(&["network", "create", "macnet"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "m2",
        "--network",
        "macnet",
        "--mac-address",
        "02:00:00:00:00:42",
        IMAGE,
        "sleep",
        "300",
    ]);
    let out = d.ok(&["exec", "m2", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(out, "02:00:00:00:00:42\n");
    let ns = inspect(&d, "m2")["NetworkSettings"].clone();
    assert_eq!(ns["Networks"]["macnet"]["MacAddress"], "02:00:00:00:00:42");
    let n: Value = serde_json::from_str(&d.ok(&["network", "inspect", "macnet"])).unwrap();
    let listed = n[0]["Containers"].as_object().unwrap();
    assert_eq!(
        listed.values().next().unwrap()["MacAddress"],
        "02:00:00:00:00:42"
    );
    // It survives a restart of the container.
    d.ok(&["restart", "-t", "1", "m2"]);
    let out = d.ok(&["exec", "m2", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(out, "02:00:00:00:00:42\n");

    // dockerd's refusals.
    let e = stderr(
        &d,
        &[
            "create",
            "--network",
            "host",
            "--mac-address",
            "02:00:00:00:00:43",
            IMAGE,
        ],
    );
    assert!(
        e.contains("conflicting options: mac-address and the network mode"),
        "{e}"
    );
    let e = stderr(
        &d,
        &[
            "create",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--network",
            "host",
            IMAGE,
        ],
    );
    assert!(e.contains("net.ipv4.ip_forward"), "{e}");

    d.ok(&["rm", "-f", "m1", "m2"]);
    d.ok(&["network", "rm", "macnet"]);
}

const HTTPD: &str =
    "mkdir -p /www && echo hello > /www/index.html && exec busybox httpd -f -p 80 -h /www";

fn iptables(d: &Daemon) -> String {
    let out = d.in_netns(&["iptables-save", "-t", "filter"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn networks_are_isolated_from_each_other() {
    let d = Daemon::start_isolated(&[]);
    d.load_busybox();
    d.ok(&["network", "create", "--subnet", "10.61.0.0/24", "neta"]);
    d.ok(&["network", "create", "--subnet", "10.62.0.0/24", "netb"]);
    for (name, net) in [("a1", "neta"), ("b1", "netb"), ("d1", "bridge")] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            IMAGE,
            "sh",
            "-c",
            HTTPD,
        ]);
    }
    let ip = |n: &str| -> String {
        let v = inspect(&d, n);
        let nets = v["NetworkSettings"]["Networks"]
            .as_object()
            .unwrap()
            .clone();
        nets.values().next().unwrap()["IPAddress"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a1 = ip("a1");
    let ping = |from: &str, to: &str| {
        let url = format!("http://{to}/");
        d.docker(&[
            "exec", from, "busybox", "timeout", "3", "busybox", "wget", "-qO-", &url,
        ])
    };
    // Same network: reachable.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "a2",
        "--network",
        "neta",
        IMAGE,
        "sleep",
        "300",
    ]);
    let out = ping("a2", &a1);
    assert!(out.status.success(), "{out:?}\n{}", iptables(&d));
    // Another user network, or the default bridge: dropped between the bridges.
    assert!(!ping("b1", &a1).status.success());
    assert!(!ping("d1", &a1).status.success());
    assert!(!ping("a1", &ip("b1")).status.success());
    // The host still reaches every network.
    let url = format!("http://{a1}/");
    let out = d.in_netns(&["curl", "-sS", "-m", "5", &url]);
    assert!(out.status.success(), "{out:?}");
    let rules = iptables(&d);
    assert!(
        rules.contains("-A FORWARD -j DOCKBRIDGE-ISOLATION-STAGE-1"),
        "{rules}"
    );

    // A container on both networks reaches both.
    d.ok(&["network", "connect", "netb", "a2"]);
    assert!(ping("a2", &ip("b1")).status.success());

    // network rm takes the network's rules; the last bridge's go with the daemon's own.
    d.ok(&["rm", "-f", "a1", "a2", "b1", "d1"]);
    let b_bridge = {
        let v: Value = serde_json::from_str(&d.ok(&["network", "inspect", "netb"])).unwrap();
        format!("br-{}", &v[0]["Id"].as_str().unwrap()[..12])
    };
    d.ok(&["network", "rm", "netb"]);
    let rules = iptables(&d);
    assert!(!rules.contains(&b_bridge), "{rules}");
    assert!(
        rules.contains("DOCKBRIDGE-ISOLATION-STAGE-2 -o dockbridge0 -j DROP"),
        "{rules}"
    );
    d.ok(&["network", "rm", "neta"]);
}

fn nat(d: &Daemon) -> String {
    let out = d.in_netns(&["iptables-save", "-t", "nat"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Packets the DNAT rules of dockbridge's chain rewrote.
fn dnat_packets(d: &Daemon) -> u64 {
    let out = d.in_netns(&[
        "iptables",
        "-t",
        "nat",
        "-L",
        "DOCKBRIDGE",
        "-n",
        "-v",
        "-x",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("DNAT"))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn published_ports_dnat_on_host_addresses() {
    let mut d = Daemon::start_isolated(&[]);
    d.load_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "8080:80",
        "-p",
        "127.0.0.1:8081:80",
        IMAGE,
        "sh",
        "-c",
        HTTPD,
    ]);
    let rules = nat(&d);
    assert!(
        rules.contains("-A DOCKBRIDGE ! -i dockbridge0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"),
        "{rules}"
    );
    // Loopback stays with the userland proxy.
    assert!(!rules.contains("--dport 8081"), "{rules}");
    assert!(rules.contains("-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKBRIDGE"));
    assert!(rules.contains("-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKBRIDGE"));

    // The host's own (non-loopback) address goes through the kernel, loopback through
    // the proxy; both answer.
    let get = |d: &Daemon, url: &str| d.in_netns(&["curl", "-sS", "-m", "5", url]);
    let before = dnat_packets(&d);
    let out = get(&d, "http://172.17.0.1:8080/");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n", "{out:?}");
    assert!(dnat_packets(&d) > before);
    let counted = dnat_packets(&d);
    let out = get(&d, "http://127.0.0.1:8080/");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n", "{out:?}");
    let out = get(&d, "http://127.0.0.1:8081/");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n", "{out:?}");
    assert_eq!(dnat_packets(&d), counted);

    // A restart keeps the rule once; rm takes it and the chain.
    d.restart();
    let rules = nat(&d);
    assert_eq!(rules.matches("--dport 8080").count(), 1, "{rules}");
    let out = get(&d, "http://172.17.0.1:8080/");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n", "{out:?}");
    d.ok(&["rm", "-f", "web"]);
    let rules = nat(&d);
    assert!(!rules.contains("DOCKBRIDGE"), "{rules}");
}
