//! End to end: IPv6 on a user network (`docker network create --ipv6`) with the real CLI.
//! The daemon runs in a private network namespace (`Daemon::start_isolated`), so its
//! bridges, veths and rules never touch the machine's own networking; curl runs there too.
#![cfg(target_os = "linux")]

mod common;

use common::{Daemon, IMAGE};
use serde_json::{json, Value};

fn inspect(d: &Daemon, name: &str) -> Value {
    let v: Value = serde_json::from_str(&d.ok(&["inspect", name])).unwrap();
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

/// `curl` until the server in the container answers (it may still be starting).
fn curl_ready(d: &Daemon, url: &str) -> String {
    let mut got = Err(String::new());
    for _ in 0..50 {
        got = curl(d, url);
        if got.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    got.unwrap_or_else(|e| panic!("{url}: {e}\n{}", common::tail(&d.log(), 30)))
}

/// Lines of `cmd` in the daemon's namespace (a listing).
fn lines(d: &Daemon, cmd: &[&str]) -> Vec<String> {
    let out = d.in_netns(cmd);
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// What networking leaves behind: interfaces, pinned namespaces, recorded endpoints,
/// IPv4 and IPv6 firewall rules.
#[derive(Debug, PartialEq, Eq)]
struct Leftovers {
    links: Vec<String>,
    netns: usize,
    endpoints: usize,
    ip4_rules: Vec<String>,
    ip6_rules: Vec<String>,
}

fn leftovers(d: &Daemon) -> Leftovers {
    let rules = |prog: &str| -> Vec<String> {
        let mut v = Vec::new();
        for table in ["filter", "nat"] {
            v.extend(lines(d, &[prog, "-w", "-t", table, "-S"]));
        }
        v
    };
    let state = std::fs::read_to_string(d.path("data/network/bridge.json")).unwrap_or_default();
    let v: Value = serde_json::from_str(&state).unwrap_or(Value::Null);
    Leftovers {
        links: lines(d, &["ip", "-o", "link", "show"])
            .iter()
            .filter_map(|l| {
                l.split(": ")
                    .nth(1)
                    .map(|n| n.split('@').next().unwrap_or(n).to_string())
            })
            .collect(),
        netns: std::fs::read_dir(d.path("exec/netns"))
            .map(|r| r.count())
            .unwrap_or(0),
        endpoints: v["endpoints"].as_object().map(|o| o.len()).unwrap_or(0),
        ip4_rules: rules("iptables"),
        ip6_rules: rules("ip6tables"),
    }
}

const HTTPD: &str =
    "mkdir -p /www && echo hello > /www/index.html && exec busybox httpd -f -p 80 -h /www";

#[test]
fn ipv6_network_names_ports_and_cleanup() {
    let mut d = Daemon::start_isolated(&[]);
    d.load_busybox();
    let before = leftovers(&d);

    // The network, as dockerd 20.10 shows it: an IPv4 pool picked beside the IPv6 subnet.
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:db8:1::/64",
        "v6net",
    ]);
    let n: Value = serde_json::from_str(&d.ok(&["network", "inspect", "v6net"])).unwrap();
    assert_eq!(n[0]["EnableIPv6"], true);
    assert_eq!(
        n[0]["IPAM"]["Config"][1],
        json!({"Subnet": "fd00:db8:1::/64"})
    );
    assert_eq!(n[0]["IPAM"]["Config"][0]["Subnet"], "172.18.0.0/16");
    let bridge = format!("br-{}", &n[0]["Id"].as_str().unwrap()[..12]);
    let addrs = lines(&d, &["ip", "-o", "-6", "addr", "show", "dev", &bridge]).join("\n");
    assert!(addrs.contains("fd00:db8:1::1/64"), "{addrs}");
    // dockerd refuses --ipv6 without an IPv6 subnet (it has no default IPv6 pool).
    d.fails_with(
        &["network", "create", "--ipv6", "nov6"],
        "could not find an available, non-overlapping IPv6 address pool",
    );

    // Two containers: the first gets the address after the gateway's, the second its --ip6
    // and publishes its web server on [::1] (random port) and on 8086 (both families).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "v6net",
        IMAGE,
        "sleep",
        "300",
    ]);
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "v6net",
        "--ip6",
        "fd00:db8:1::99",
        "-p",
        "[::1]::80",
        "-p",
        "8086:80",
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
    let ep = inspect(&d, "db")["NetworkSettings"]["Networks"]["v6net"].clone();
    assert_eq!(ep["GlobalIPv6Address"], "fd00:db8:1::2", "{ep}");
    assert_eq!(ep["GlobalIPv6PrefixLen"], 64);
    assert_eq!(ep["IPv6Gateway"], "fd00:db8:1::1");
    let web = inspect(&d, "web");
    let ep = &web["NetworkSettings"]["Networks"]["v6net"];
    assert_eq!(ep["GlobalIPv6Address"], "fd00:db8:1::99", "{ep}");
    assert_eq!(ep["IPAMConfig"], json!({"IPv6Address": "fd00:db8:1::99"}));
    let members = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv6Address}};{{end}}",
        "v6net",
    ]);
    assert!(members.contains("web fd00:db8:1::99/64;"), "{members}");
    assert!(members.contains("db fd00:db8:1::2/64;"), "{members}");

    // Inside: the address is usable at once (no DAD), the default route is the gateway,
    // /etc/hosts has both addresses, the embedded DNS answers AAAA, names reach over IPv6.
    let hosts = d.ok(&["exec", "db", "cat", "/etc/hosts"]);
    let short = &inspect(&d, "db")["Id"].as_str().unwrap()[..12].to_string();
    assert!(
        hosts.contains(&format!("fd00:db8:1::2\t{short}\n")),
        "{hosts}"
    );
    assert!(hosts.contains(&format!("172.18.0.2\t{short}\n")), "{hosts}");
    let route = d.ok(&["exec", "db", "busybox", "ip", "-6", "route"]);
    assert!(
        route.contains("default via fd00:db8:1::1 dev eth0"),
        "{route}"
    );
    let addr = d.ok(&["exec", "db", "busybox", "ip", "-6", "addr", "show", "eth0"]);
    // (The link-local address is still in its DAD, as on dockerd.)
    let global = addr.lines().position(|l| l.contains("fd00:db8:1::2/64"));
    assert!(
        global.is_some_and(|i| !addr.lines().nth(i).unwrap_or("").contains("tentative")),
        "{addr}"
    );
    // IPv6 as libnetwork leaves it: off in the namespace (`all`), on for the interface
    // with an IPv6 address and for loopback; off everywhere on an IPv4-only network.
    let sysctls = "cd /proc/sys/net/ipv6/conf && cat all/disable_ipv6 lo/disable_ipv6 eth0/disable_ipv6 && cut -c1-32 /proc/net/if_inet6 | sort";
    let v6 = d.ok(&["exec", "db", "sh", "-c", sysctls]);
    assert!(
        v6.starts_with("1\n0\n0\n") && v6.contains("00000000000000000000000000000001\n"),
        "{v6}"
    );
    let v4 = d.ok(&["run", "--rm", IMAGE, "sh", "-c", sysctls]);
    assert_eq!(v4, "1\n1\n1\n");
    let aaaa = d.ok(&["exec", "db", "busybox", "nslookup", "-type=aaaa", "web"]);
    assert!(aaaa.contains("fd00:db8:1::99"), "{aaaa}");
    d.ok(&[
        "exec", "db", "busybox", "ping", "-6", "-c1", "-W", "5", "web",
    ]);
    let page = d.ok(&[
        "exec",
        "db",
        "busybox",
        "wget",
        "-q",
        "-O-",
        "http://[fd00:db8:1::99]/",
    ]);
    assert_eq!(page, "hello\n");

    // `network connect --ip6` of a running container: a second interface with the address.
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.57.0.0/24",
        "--subnet",
        "fd00:db8:2::/64",
        "v6b",
    ]);
    d.fails_with(
        &["network", "connect", "--ip6", "fd00:db8:3::5", "v6b", "db"],
        "It does not belong to any of this network's subnets",
    );
    d.ok(&["network", "connect", "--ip6", "fd00:db8:2::50", "v6b", "db"]);
    let ep = inspect(&d, "db")["NetworkSettings"]["Networks"]["v6b"].clone();
    assert_eq!(ep["GlobalIPv6Address"], "fd00:db8:2::50", "{ep}");
    assert_eq!(ep["IPv6Gateway"], "fd00:db8:2::1");
    let eth1 = d.ok(&["exec", "db", "busybox", "ip", "-6", "addr", "show", "eth1"]);
    assert!(eth1.contains("fd00:db8:2::50/64"), "{eth1}");
    d.ok(&["network", "disconnect", "v6b", "db"]);
    d.ok(&["network", "rm", "v6b"]);

    // Published over IPv6: the bindings as dockerd reports them, reachable on [::1].
    let ports = d.ok(&["port", "web", "80/tcp"]);
    let random: u16 = ports
        .lines()
        .find_map(|l| l.strip_prefix("[::1]:"))
        .unwrap_or_else(|| panic!("{ports}"))
        .parse()
        .unwrap();
    assert!(
        ports.contains("0.0.0.0:8086") && ports.contains("[::]:8086"),
        "{ports}"
    );
    assert_eq!(
        curl_ready(&d, &format!("http://[::1]:{random}/")),
        "hello\n"
    );
    assert_eq!(curl_ready(&d, "http://[::1]:8086/"), "hello\n");
    assert_eq!(curl_ready(&d, "http://127.0.0.1:8086/"), "hello\n");
    // dockerd 20.10 programs no ip6tables rules (its ip6tables support is experimental and
    // off by default): neither does dockbridge.
    assert_eq!(leftovers(&d).ip6_rules, before.ip6_rules);

    // A restart keeps the addresses and the ports; a new container gets the next address.
    d.restart();
    assert_eq!(
        inspect(&d, "web")["NetworkSettings"]["Networks"]["v6net"]["GlobalIPv6Address"],
        "fd00:db8:1::99"
    );
    assert_eq!(
        curl_ready(&d, &format!("http://[::1]:{random}/")),
        "hello\n"
    );
    let next = d.ok(&[
        "run",
        "--rm",
        "--network",
        "v6net",
        IMAGE,
        "sh",
        "-c",
        "busybox ip -o -6 addr show eth0 scope global | awk '{print $4}'",
    ]);
    assert_eq!(next.trim(), "fd00:db8:1::3/64");
    // A crash (kill -9) and a new start: the same again, nothing added twice.
    d.crash_restart();
    assert_eq!(
        curl_ready(&d, &format!("http://[::1]:{random}/")),
        "hello\n"
    );
    assert_eq!(curl_ready(&d, "http://[::1]:8086/"), "hello\n");
    let addrs = lines(&d, &["ip", "-o", "-6", "addr", "show", "dev", &bridge]);
    assert_eq!(
        addrs
            .iter()
            .filter(|l| l.contains("fd00:db8:1::1/64"))
            .count(),
        1,
        "{addrs:?}"
    );
    d.ok(&[
        "exec", "db", "busybox", "ping", "-6", "-c1", "-W", "5", "web",
    ]);
    // An --ip6 another container has: the start fails, nothing is left of it.
    let taken = d.docker(&[
        "run",
        "-d",
        "--name",
        "dup",
        "--network",
        "v6net",
        "--ip6",
        "fd00:db8:1::99",
        IMAGE,
        "sleep",
        "60",
    ]);
    assert!(!taken.status.success());
    assert!(
        String::from_utf8_lossy(&taken.stderr).contains("Address already in use"),
        "{taken:?}"
    );
    d.ok(&["rm", "-f", "dup", "web", "db"]);
    assert!(curl(&d, &format!("http://[::1]:{random}/")).is_err());
    d.ok(&["network", "rm", "v6net"]);
    assert_eq!(leftovers(&d), before);
}
