//! The host networking calls the bridge driver makes, behind a trait: the real one runs
//! iproute2 (`ip`, in batches), `nsenter` and `iptables`, and pins network namespaces with
//! `unshare` + a bind mount; the recording fake lets the driver's logic be unit-tested.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use async_trait::async_trait;

use super::ipam::Subnet;

#[derive(Debug, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct OpsError {
    pub what: String,
    pub detail: String,
}

impl OpsError {
    pub fn new(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// One container's link to a bridge: a veth pair with `eth0` in the container's netns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link<'a> {
    pub bridge: &'a str,
    pub host_if: &'a str,
    /// The interface's name inside the namespace: `eth0`, `eth1` for a second network.
    pub ifname: &'a str,
    pub netns: &'a Path,
    pub mac: &'a str,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// No default route on `--internal` networks.
    pub default_route: bool,
    /// The IPv6 address on an `--ipv6` network.
    pub v6: Option<LinkV6>,
}

/// A container interface's IPv6 half: address, prefix, and the gateway of its default route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkV6 {
    pub ip: Ipv6Addr,
    pub prefix: u8,
    pub gateway: Ipv6Addr,
}

#[async_trait]
pub trait NetOps: Send + Sync + 'static {
    /// IPv4 ranges the host already routes, other than `except` (our own bridge).
    async fn routed_subnets(&self, except: &str) -> Result<Vec<Subnet>, OpsError>;
    /// The IPv4 address of an existing interface.
    async fn address_of(&self, ifname: &str) -> Result<Option<(Ipv4Addr, u8)>, OpsError>;
    /// Creates the bridge with `gateway/prefix` unless it exists, and brings it up.
    async fn ensure_bridge(
        &self,
        name: &str,
        gateway: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), OpsError>;
    /// IPv6 on the bridge (an `--ipv6` network): `gateway/prefix` and `fe80::1/64` on it
    /// without duplicate address detection (usable at once), IPv6 forwarding on; as
    /// dockerd's bridge driver. Idempotent.
    async fn ensure_bridge_v6(
        &self,
        name: &str,
        gateway: Ipv6Addr,
        prefix: u8,
    ) -> Result<(), OpsError>;
    /// Forwarding on, masquerade for `subnet` leaving by another interface, and the
    /// bridge's traffic accepted in FORWARD (hosts with Docker have a DROP policy there).
    async fn ensure_nat(&self, bridge: &str, subnet: Subnet) -> Result<(), OpsError>;
    /// Removes what [`Self::ensure_nat`] added (forwarding stays on); missing rules are fine.
    async fn remove_nat(&self, bridge: &str, subnet: Subnet) -> Result<(), OpsError>;
    /// Isolates `bridge` from every other isolated bridge as dockerd's
    /// DOCKER-ISOLATION-STAGE-1/2 chains do (under dockbridge's own chain names, so a
    /// dockerd on the same host keeps its own): traffic that enters by one bridge and
    /// leaves by another is dropped. The jump from FORWARD is kept first.
    async fn ensure_isolation(&self, bridge: &str) -> Result<(), OpsError>;
    /// Removes what [`Self::ensure_isolation`] added for `bridge`; missing rules are fine.
    async fn remove_isolation(&self, bridge: &str) -> Result<(), OpsError>;
    /// Adds DNAT rules (see [`super::dnat`]) to dockbridge's nat chain, creating it and its
    /// jumps from PREROUTING and OUTPUT (local destinations) when missing.
    async fn add_dnat(&self, rules: &[Vec<String>]) -> Result<(), OpsError>;
    /// Deletes DNAT rules (missing ones are fine); the chain goes with its last rule.
    async fn remove_dnat(&self, rules: &[Vec<String>]) -> Result<(), OpsError>;
    /// While the DNAT chain exists: traffic from the containers of `bridges` to a published
    /// port is not rewritten, the userland proxy (listening on the host's addresses) takes
    /// it, as dockerd's `-A DOCKER -i <bridge> -j RETURN` with userland-proxy=true. That is
    /// what lets a container reach a port another network's container publishes (hairpin
    /// through the host's address), which the isolation chains would drop once rewritten.
    async fn ensure_proxy_return(&self, bridges: &[String]) -> Result<(), OpsError>;
    /// Deletes a bridge's rule of [`NetOps::ensure_proxy_return`] (a missing one is fine).
    async fn remove_proxy_return(&self, bridge: &str) -> Result<(), OpsError>;
    /// A new network namespace pinned at `path` (a bind mount of its nsfs file).
    async fn create_netns(&self, path: &Path) -> Result<(), OpsError>;
    /// Unpins and deletes `path`; a missing one is fine.
    async fn remove_netns(&self, path: &Path) -> Result<(), OpsError>;
    /// Loopback up in a namespace no link was added to (see [`NetOps::add_link`]).
    async fn loopback_up(&self, netns: &Path) -> Result<(), OpsError>;
    /// The veth pair, the container side addressed, loopback up, the default route.
    async fn add_link(&self, link: &Link<'_>) -> Result<(), OpsError>;
    /// Deletes a host-side interface (its peer goes with it); a missing one is fine.
    async fn remove_link(&self, ifname: &str) -> Result<(), OpsError>;
    /// Points the namespace's default route at `via` (gateway, interface), or removes it.
    async fn set_default_route(
        &self,
        netns: &Path,
        via: Option<(Ipv4Addr, &str)>,
    ) -> Result<(), OpsError>;
    /// A UDP socket bound to 127.0.0.11:53 inside `netns`, for the embedded DNS server;
    /// `None` where sockets cannot be made (the fake).
    async fn dns_socket(&self, netns: &Path) -> Result<Option<std::net::UdpSocket>, OpsError>;
}

/// The real calls.
#[cfg(target_os = "linux")]
pub struct SystemOps;

/// Where there are no Linux bridges (Windows): every call fails, so a bridge is never
/// configured there (the daemon runs as with `--bridge none`).
pub struct NoBridges;

#[async_trait]
impl NetOps for NoBridges {
    async fn routed_subnets(&self, _except: &str) -> Result<Vec<Subnet>, OpsError> {
        Err(unsupported())
    }
    async fn address_of(&self, _ifname: &str) -> Result<Option<(Ipv4Addr, u8)>, OpsError> {
        Err(unsupported())
    }
    async fn ensure_bridge(&self, _: &str, _: Ipv4Addr, _: u8) -> Result<(), OpsError> {
        Err(unsupported())
    }
    async fn ensure_bridge_v6(&self, _: &str, _: Ipv6Addr, _: u8) -> Result<(), OpsError> {
        Err(unsupported())
    }
    async fn ensure_nat(&self, _bridge: &str, _subnet: Subnet) -> Result<(), OpsError> {
        Err(unsupported())
    }
    async fn remove_nat(&self, _bridge: &str, _subnet: Subnet) -> Result<(), OpsError> {
        Ok(())
    }
    async fn ensure_isolation(&self, _bridge: &str) -> Result<(), OpsError> {
        Err(unsupported())
    }
    async fn remove_isolation(&self, _bridge: &str) -> Result<(), OpsError> {
        Ok(())
    }
    async fn add_dnat(&self, _rules: &[Vec<String>]) -> Result<(), OpsError> {
        Err(unsupported())
    }
    async fn remove_dnat(&self, _rules: &[Vec<String>]) -> Result<(), OpsError> {
        Ok(())
    }
    async fn ensure_proxy_return(&self, _bridges: &[String]) -> Result<(), OpsError> {
        Ok(())
    }
    async fn remove_proxy_return(&self, _bridge: &str) -> Result<(), OpsError> {
        Ok(())
    }
    async fn create_netns(&self, _path: &Path) -> Result<(), OpsError> {
        Err(unsupported())
    }
    async fn loopback_up(&self, _netns: &Path) -> Result<(), OpsError> {
        Err(unsupported())
    }
    async fn remove_netns(&self, _path: &Path) -> Result<(), OpsError> {
        Ok(())
    }
    async fn add_link(&self, _link: &Link<'_>) -> Result<(), OpsError> {
        Err(unsupported())
    }
    async fn remove_link(&self, _ifname: &str) -> Result<(), OpsError> {
        Ok(())
    }
    async fn set_default_route(
        &self,
        _netns: &Path,
        _via: Option<(Ipv4Addr, &str)>,
    ) -> Result<(), OpsError> {
        Err(unsupported())
    }
    async fn dns_socket(&self, _netns: &Path) -> Result<Option<std::net::UdpSocket>, OpsError> {
        Err(unsupported())
    }
}

fn unsupported() -> OpsError {
    OpsError::new("bridge networking", "Linux bridges exist only on Linux")
}

#[cfg(target_os = "linux")]
mod system {
    use super::*;
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    use tokio::process::Command;

    async fn run(prog: &str, args: &[&str], stdin: Option<&str>) -> Result<String, OpsError> {
        let what = format!("{prog} {}", args.join(" "));
        let mut child = Command::new(prog)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| OpsError::new(&what, e.to_string()))?;
        if let (Some(input), Some(mut w)) = (stdin, child.stdin.take()) {
            w.write_all(input.as_bytes())
                .await
                .map_err(|e| OpsError::new(&what, e.to_string()))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| OpsError::new(&what, e.to_string()))?;
        if !out.status.success() {
            let what = match stdin {
                Some(s) => format!("{what} <<< {}", s.trim().replace('\n', "; ")),
                None => what,
            };
            return Err(OpsError::new(
                what,
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// dockerd's OUTPUT jump: the host's own connections to its non-loopback addresses.
    const DNAT_OUTPUT_JUMP: [&str; 9] = [
        "!",
        "-d",
        "127.0.0.0/8",
        "-m",
        "addrtype",
        "--dst-type",
        "LOCAL",
        "-j",
        super::super::dnat::CHAIN,
    ];
    const ISOLATION_1: &str = "DOCKBRIDGE-ISOLATION-STAGE-1";
    const ISOLATION_2: &str = "DOCKBRIDGE-ISOLATION-STAGE-2";

    /// Writes a `/proc/sys` file of the network namespace pinned at `netns` (those files
    /// belong to the namespace of the thread that opens them: a thread of its own enters it).
    async fn set_sysctl_in(
        netns: &Path,
        path: String,
        value: &'static str,
    ) -> Result<(), OpsError> {
        let ns = netns.to_path_buf();
        let what = format!("writing {path} in {}", ns.display());
        let r = std::thread::spawn(move || -> Result<(), String> {
            let f = std::fs::File::open(&ns).map_err(|e| e.to_string())?;
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("setns: {e}"))?;
            std::fs::write(&path, value).map_err(|e| e.to_string())
        })
        .join()
        .map_err(|_| OpsError::new(&what, "the thread panicked"))?;
        r.map_err(|e| OpsError::new(what, e))
    }

    /// `iptables -C …` then `-A`/`-I` only when missing, so restarts add nothing twice.
    async fn iptables_ensure(
        table: &str,
        chain: &str,
        insert: bool,
        rule: &[&str],
    ) -> Result<(), OpsError> {
        let mut check = vec!["-w", "-t", table, "-C", chain];
        check.extend_from_slice(rule);
        if run("iptables", &check, None).await.is_ok() {
            return Ok(());
        }
        let mut add = vec!["-w", "-t", table, if insert { "-I" } else { "-A" }, chain];
        add.extend_from_slice(rule);
        run("iptables", &add, None).await.map(|_| ())
    }

    #[async_trait]
    impl NetOps for SystemOps {
        async fn routed_subnets(&self, except: &str) -> Result<Vec<Subnet>, OpsError> {
            let out = run("ip", &["-4", "-o", "route", "show", "table", "all"], None).await?;
            Ok(out
                .lines()
                .filter(|l| !l.split_whitespace().any(|w| w == except))
                .filter_map(|l| {
                    let first = l.split_whitespace().next()?;
                    // `local 127.0.0.1 …`, `broadcast …` in the local table.
                    let first = if matches!(first, "local" | "broadcast" | "unicast") {
                        l.split_whitespace().nth(1)?
                    } else {
                        first
                    };
                    if first == "default" {
                        return None;
                    }
                    if first.contains('/') {
                        first.parse().ok()
                    } else {
                        first
                            .parse::<Ipv4Addr>()
                            .ok()
                            .and_then(|ip| Subnet::new(ip, 32).ok())
                    }
                })
                .collect())
        }

        async fn address_of(&self, ifname: &str) -> Result<Option<(Ipv4Addr, u8)>, OpsError> {
            let Ok(out) = run("ip", &["-4", "-o", "addr", "show", "dev", ifname], None).await
            else {
                return Ok(None);
            };
            Ok(out.lines().find_map(|l| {
                let mut w = l.split_whitespace();
                w.find(|x| *x == "inet")?;
                super::super::ipam::parse_cidr(w.next()?).ok()
            }))
        }

        async fn ensure_bridge(
            &self,
            name: &str,
            gateway: Ipv4Addr,
            prefix: u8,
        ) -> Result<(), OpsError> {
            let current = self.address_of(name).await?;
            if current != Some((gateway, prefix)) {
                let exists = run("ip", &["link", "show", "dev", name], None)
                    .await
                    .is_ok();
                let mut batch = String::new();
                if !exists {
                    batch.push_str(&format!("link add {name} type bridge\n"));
                } else if current.is_some() {
                    // `--bip` changed: the bridge takes the new address, not a second one.
                    batch.push_str(&format!("addr flush dev {name}\n"));
                }
                batch.push_str(&format!("addr add {gateway}/{prefix} dev {name}\n"));
                run("ip", &["-batch", "-"], Some(&batch)).await?;
            }
            run("ip", &["link", "set", name, "up"], None)
                .await
                .map(|_| ())
        }

        async fn ensure_bridge_v6(
            &self,
            name: &str,
            gateway: Ipv6Addr,
            prefix: u8,
        ) -> Result<(), OpsError> {
            // A host (or `net.ipv6.conf.default`) with IPv6 off leaves the new bridge
            // without it; dockerd's bridge driver turns it on there too.
            for (what, path, value) in [
                (
                    "enabling IPv6 on the bridge",
                    format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"),
                    "0",
                ),
                (
                    "enabling IPv6 forwarding",
                    "/proc/sys/net/ipv6/conf/all/forwarding".to_string(),
                    "1",
                ),
            ] {
                tokio::fs::write(&path, value)
                    .await
                    .map_err(|e| OpsError::new(what, e.to_string()))?;
            }
            // `replace` keeps a restart from failing on addresses already there.
            let batch = format!(
                "addr replace {gateway}/{prefix} dev {name} nodad\naddr replace fe80::1/64 dev {name} nodad\n"
            );
            run("ip", &["-batch", "-"], Some(&batch)).await.map(|_| ())
        }

        async fn ensure_nat(&self, bridge: &str, subnet: Subnet) -> Result<(), OpsError> {
            tokio::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
                .await
                .map_err(|e| OpsError::new("enabling IPv4 forwarding", e.to_string()))?;
            let s = subnet.to_string();
            iptables_ensure(
                "nat",
                "POSTROUTING",
                false,
                &["-s", &s, "!", "-o", bridge, "-j", "MASQUERADE"],
            )
            .await?;
            iptables_ensure("filter", "FORWARD", true, &["-o", bridge, "-j", "ACCEPT"]).await?;
            iptables_ensure("filter", "FORWARD", true, &["-i", bridge, "-j", "ACCEPT"]).await
        }

        async fn remove_nat(&self, bridge: &str, subnet: Subnet) -> Result<(), OpsError> {
            let s = subnet.to_string();
            let rules: [(&str, &str, Vec<&str>); 3] = [
                (
                    "nat",
                    "POSTROUTING",
                    vec!["-s", &s, "!", "-o", bridge, "-j", "MASQUERADE"],
                ),
                ("filter", "FORWARD", vec!["-o", bridge, "-j", "ACCEPT"]),
                ("filter", "FORWARD", vec!["-i", bridge, "-j", "ACCEPT"]),
            ];
            for (table, chain, rule) in rules {
                let mut del = vec!["-w", "-t", table, "-D", chain];
                del.extend_from_slice(&rule);
                // Deleted until none is left (an older run may have added it twice).
                while run("iptables", &del, None).await.is_ok() {}
            }
            Ok(())
        }

        async fn ensure_isolation(&self, bridge: &str) -> Result<(), OpsError> {
            for chain in [ISOLATION_1, ISOLATION_2] {
                // Exists already after the first network (or a previous run).
                let _ = run("iptables", &["-w", "-t", "filter", "-N", chain], None).await;
            }
            iptables_ensure(
                "filter",
                ISOLATION_1,
                false,
                &["-i", bridge, "!", "-o", bridge, "-j", ISOLATION_2],
            )
            .await?;
            iptables_ensure("filter", ISOLATION_2, false, &["-o", bridge, "-j", "DROP"]).await?;
            // Each network's ACCEPT rules are inserted at the top of FORWARD: the jump
            // moves back above them.
            let jump = ["-w", "-t", "filter", "-D", "FORWARD", "-j", ISOLATION_1];
            while run("iptables", &jump, None).await.is_ok() {}
            run(
                "iptables",
                &[
                    "-w",
                    "-t",
                    "filter",
                    "-I",
                    "FORWARD",
                    "1",
                    "-j",
                    ISOLATION_1,
                ],
                None,
            )
            .await
            .map(|_| ())
        }

        async fn remove_isolation(&self, bridge: &str) -> Result<(), OpsError> {
            let rules: [(&str, Vec<&str>); 2] = [
                (
                    ISOLATION_1,
                    vec!["-i", bridge, "!", "-o", bridge, "-j", ISOLATION_2],
                ),
                (ISOLATION_2, vec!["-o", bridge, "-j", "DROP"]),
            ];
            for (chain, rule) in rules {
                let mut del = vec!["-w", "-t", "filter", "-D", chain];
                del.extend_from_slice(&rule);
                while run("iptables", &del, None).await.is_ok() {}
            }
            // The chains go with the last isolated bridge.
            let left = run("iptables", &["-w", "-t", "filter", "-S", ISOLATION_1], None)
                .await
                .map(|out| out.lines().count())
                .unwrap_or(0);
            if left <= 1 {
                let jump = ["-w", "-t", "filter", "-D", "FORWARD", "-j", ISOLATION_1];
                while run("iptables", &jump, None).await.is_ok() {}
                for chain in [ISOLATION_1, ISOLATION_2] {
                    let _ = run("iptables", &["-w", "-t", "filter", "-F", chain], None).await;
                    let _ = run("iptables", &["-w", "-t", "filter", "-X", chain], None).await;
                }
            }
            Ok(())
        }

        async fn add_dnat(&self, rules: &[Vec<String>]) -> Result<(), OpsError> {
            if rules.is_empty() {
                return Ok(());
            }
            let chain = super::super::dnat::CHAIN;
            let _ = run("iptables", &["-w", "-t", "nat", "-N", chain], None).await;
            iptables_ensure(
                "nat",
                "PREROUTING",
                false,
                &["-m", "addrtype", "--dst-type", "LOCAL", "-j", chain],
            )
            .await?;
            iptables_ensure("nat", "OUTPUT", false, &DNAT_OUTPUT_JUMP).await?;
            for r in rules {
                let r: Vec<&str> = r.iter().map(String::as_str).collect();
                iptables_ensure("nat", chain, false, &r).await?;
            }
            Ok(())
        }

        async fn remove_dnat(&self, rules: &[Vec<String>]) -> Result<(), OpsError> {
            if rules.is_empty() {
                return Ok(());
            }
            let chain = super::super::dnat::CHAIN;
            for r in rules {
                let mut del = vec!["-w", "-t", "nat", "-D", chain];
                del.extend(r.iter().map(String::as_str));
                while run("iptables", &del, None).await.is_ok() {}
            }
            // The chain goes once no DNAT rule is left (with its bridges' RETURN rules).
            let listed = run("iptables", &["-w", "-t", "nat", "-S", chain], None).await;
            let left = listed
                .as_ref()
                .map(|out| out.lines().filter(|l| l.contains("-j DNAT")).count())
                .unwrap_or(1);
            if left == 0 {
                let _ = run("iptables", &["-w", "-t", "nat", "-F", chain], None).await;
                let pre = ["-m", "addrtype", "--dst-type", "LOCAL", "-j", chain];
                for (hook, rule) in [("PREROUTING", &pre[..]), ("OUTPUT", &DNAT_OUTPUT_JUMP[..])] {
                    let mut del = vec!["-w", "-t", "nat", "-D", hook];
                    del.extend_from_slice(rule);
                    while run("iptables", &del, None).await.is_ok() {}
                }
                let _ = run("iptables", &["-w", "-t", "nat", "-X", chain], None).await;
            }
            Ok(())
        }

        async fn ensure_proxy_return(&self, bridges: &[String]) -> Result<(), OpsError> {
            let chain = super::super::dnat::CHAIN;
            if run("iptables", &["-w", "-t", "nat", "-S", chain], None)
                .await
                .is_err()
            {
                return Ok(());
            }
            for b in bridges {
                iptables_ensure("nat", chain, true, &["-i", b, "-j", "RETURN"]).await?;
            }
            Ok(())
        }

        async fn remove_proxy_return(&self, bridge: &str) -> Result<(), OpsError> {
            let chain = super::super::dnat::CHAIN;
            let del = ["-w", "-t", "nat", "-D", chain, "-i", bridge, "-j", "RETURN"];
            while run("iptables", &del, None).await.is_ok() {}
            Ok(())
        }

        async fn create_netns(&self, path: &Path) -> Result<(), OpsError> {
            let path = path.to_path_buf();
            let what = format!("creating the network namespace {}", path.display());
            // unshare(CLONE_NEWNET) moves only the calling thread: a thread of its own,
            // which ends right after, so no pool thread is ever left in the new namespace.
            let r = std::thread::spawn(move || -> Result<(), String> {
                use nix::mount::{mount, MsFlags};
                use nix::sched::{unshare, CloneFlags};
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                std::fs::File::create(&path).map_err(|e| e.to_string())?;
                let pin = || -> Result<(), String> {
                    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare: {e}"))?;
                    // As libnetwork: IPv6 off in the namespace (`all`, hence `default`
                    // for the interfaces to come, and `lo`); an interface that gets an IPv6
                    // address turns it back on for itself and `lo` (see `add_link`). This
                    // thread is in the new namespace, so its /proc/sys/net is the new one's.
                    match std::fs::write("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1") {
                        // A kernel without IPv6.
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(format!("disabling IPv6: {e}"))
                        }
                        _ => {}
                    }
                    let ns = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
                    mount(
                        Some(ns.as_str()),
                        &path,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                    .map_err(|e| format!("bind-mounting {ns}: {e}"))
                };
                pin().inspect_err(|_| {
                    let _ = std::fs::remove_file(&path);
                })
            })
            .join()
            .map_err(|_| OpsError::new(&what, "the thread panicked"))?;
            r.map_err(|e| OpsError::new(what, e))
        }

        async fn loopback_up(&self, netns: &Path) -> Result<(), OpsError> {
            let ns = format!("--net={}", netns.display());
            run("nsenter", &[&ns, "ip", "link", "set", "lo", "up"], None)
                .await
                .map(|_| ())
        }

        async fn remove_netns(&self, path: &Path) -> Result<(), OpsError> {
            use nix::mount::{umount2, MntFlags};
            match umount2(path, MntFlags::MNT_DETACH) {
                // EINVAL: not a mount point (any more); ENOENT: gone.
                Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => {
                    return Err(OpsError::new(
                        format!("unmounting {}", path.display()),
                        e.to_string(),
                    ))
                }
            }
            match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(OpsError::new(
                    format!("removing {}", path.display()),
                    e.to_string(),
                )),
            }
        }

        async fn add_link(&self, l: &Link<'_>) -> Result<(), OpsError> {
            let ns = l.netns.display().to_string();
            let host = format!(
                "link add {} type veth peer name {} netns {ns} address {}\nlink set {} master {} up\n",
                l.host_if, l.ifname, l.mac, l.host_if, l.bridge
            );
            run("ip", &["-batch", "-"], Some(&host)).await?;
            if l.v6.is_some() {
                // IPv6 is off in the namespace (see `create_netns`): on again for this
                // interface and loopback, as libnetwork does. The address is added with
                // `nodad` (libnetwork's IFA_F_NODAD), so it is usable at once.
                for dev in [l.ifname, "lo"] {
                    set_sysctl_in(
                        l.netns,
                        format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"),
                        "0",
                    )
                    .await?;
                }
            }
            let mut inside = format!(
                "link set lo up\naddr add {}/{} dev {}\nlink set {} up\n",
                l.ip, l.prefix, l.ifname, l.ifname
            );
            if let Some(v6) = &l.v6 {
                inside.push_str(&format!(
                    "addr add {}/{} dev {} nodad\n",
                    v6.ip, v6.prefix, l.ifname
                ));
            }
            if l.default_route {
                inside.push_str(&format!("route add default via {}\n", l.gateway));
                if let Some(v6) = &l.v6 {
                    inside.push_str(&format!(
                        "route add ::/0 via {} dev {}\n",
                        v6.gateway, l.ifname
                    ));
                }
            }
            run(
                "nsenter",
                &[&format!("--net={ns}"), "ip", "-batch", "-"],
                Some(&inside),
            )
            .await
            .map(|_| ())
        }

        async fn remove_link(&self, ifname: &str) -> Result<(), OpsError> {
            if run("ip", &["link", "show", "dev", ifname], None)
                .await
                .is_err()
            {
                return Ok(());
            }
            run("ip", &["link", "del", ifname], None).await.map(|_| ())
        }

        async fn set_default_route(
            &self,
            netns: &Path,
            via: Option<(Ipv4Addr, &str)>,
        ) -> Result<(), OpsError> {
            let ns = format!("--net={}", netns.display());
            match via {
                Some((gw, dev)) => {
                    let gw = gw.to_string();
                    run(
                        "nsenter",
                        &[
                            &ns, "ip", "route", "replace", "default", "via", &gw, "dev", dev,
                        ],
                        None,
                    )
                    .await
                    .map(|_| ())
                }
                None => {
                    // None there (yet) is fine.
                    let _ = run("nsenter", &[&ns, "ip", "route", "del", "default"], None).await;
                    Ok(())
                }
            }
        }

        async fn dns_socket(&self, netns: &Path) -> Result<Option<std::net::UdpSocket>, OpsError> {
            let path = netns.to_path_buf();
            let what = format!("binding 127.0.0.11:53 in {}", path.display());
            // setns moves only the calling thread: one of its own, which ends right after;
            // the socket stays in the namespace it was made in.
            let r = std::thread::spawn(move || -> Result<std::net::UdpSocket, String> {
                let f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
                nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("setns: {e}"))?;
                let s = std::net::UdpSocket::bind("127.0.0.11:53").map_err(|e| e.to_string())?;
                s.set_nonblocking(true).map_err(|e| e.to_string())?;
                Ok(s)
            })
            .join()
            .map_err(|_| OpsError::new(&what, "the thread panicked"))?;
            r.map(Some).map_err(|e| OpsError::new(what, e))
        }
    }
}

/// A fake that records every call and fails the ones it is told to.
#[cfg(test)]
#[derive(Default)]
pub struct RecordingOps {
    pub calls: std::sync::Mutex<Vec<String>>,
    /// Calls whose text starts with one of these fail.
    pub fail: std::sync::Mutex<Vec<String>>,
    pub routed: Vec<Subnet>,
}

#[cfg(test)]
impl RecordingOps {
    fn record(&self, call: String) -> Result<(), OpsError> {
        let failing = self
            .fail
            .lock()
            .unwrap()
            .iter()
            .any(|f| call.starts_with(f.as_str()));
        self.calls.lock().unwrap().push(call.clone());
        if failing {
            return Err(OpsError::new(call, "injected failure"));
        }
        Ok(())
    }
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[cfg(test)]
#[async_trait]
impl NetOps for RecordingOps {
    async fn routed_subnets(&self, _except: &str) -> Result<Vec<Subnet>, OpsError> {
        Ok(self.routed.clone())
    }
    async fn address_of(&self, _ifname: &str) -> Result<Option<(Ipv4Addr, u8)>, OpsError> {
        Ok(None)
    }
    async fn ensure_bridge(&self, name: &str, gw: Ipv4Addr, prefix: u8) -> Result<(), OpsError> {
        self.record(format!("bridge {name} {gw}/{prefix}"))
    }
    async fn ensure_bridge_v6(&self, name: &str, gw: Ipv6Addr, prefix: u8) -> Result<(), OpsError> {
        self.record(format!("bridge6 {name} {gw}/{prefix}"))
    }
    async fn ensure_nat(&self, bridge: &str, subnet: Subnet) -> Result<(), OpsError> {
        self.record(format!("nat {bridge} {subnet}"))
    }
    async fn remove_nat(&self, bridge: &str, subnet: Subnet) -> Result<(), OpsError> {
        self.record(format!("nat- {bridge} {subnet}"))
    }
    async fn ensure_isolation(&self, bridge: &str) -> Result<(), OpsError> {
        self.record(format!("iso {bridge}"))
    }
    async fn remove_isolation(&self, bridge: &str) -> Result<(), OpsError> {
        self.record(format!("iso- {bridge}"))
    }
    async fn ensure_proxy_return(&self, bridges: &[String]) -> Result<(), OpsError> {
        self.record(format!("return+ {}", bridges.join(" ")))
    }
    async fn remove_proxy_return(&self, bridge: &str) -> Result<(), OpsError> {
        self.record(format!("return- {bridge}"))
    }
    async fn add_dnat(&self, rules: &[Vec<String>]) -> Result<(), OpsError> {
        for r in rules {
            self.record(format!("dnat {}", r.join(" ")))?;
        }
        Ok(())
    }
    async fn remove_dnat(&self, rules: &[Vec<String>]) -> Result<(), OpsError> {
        for r in rules {
            self.record(format!("dnat- {}", r.join(" ")))?;
        }
        Ok(())
    }
    async fn create_netns(&self, path: &Path) -> Result<(), OpsError> {
        self.record(format!("netns+ {}", path.display()))
    }
    async fn remove_netns(&self, path: &Path) -> Result<(), OpsError> {
        self.record(format!("netns- {}", path.display()))
    }
    async fn loopback_up(&self, netns: &Path) -> Result<(), OpsError> {
        self.record(format!("lo {}", netns.display()))
    }
    async fn add_link(&self, l: &Link<'_>) -> Result<(), OpsError> {
        let v6 =
            l.v6.map(|v| format!(" {}/{} gw {}", v.ip, v.prefix, v.gateway))
                .unwrap_or_default();
        self.record(format!(
            "link+ {} {} {}/{} gw {} {}{v6}",
            l.host_if, l.mac, l.ip, l.prefix, l.gateway, l.bridge
        ))
    }
    async fn remove_link(&self, ifname: &str) -> Result<(), OpsError> {
        self.record(format!("link- {ifname}"))
    }
    async fn set_default_route(
        &self,
        netns: &Path,
        via: Option<(Ipv4Addr, &str)>,
    ) -> Result<(), OpsError> {
        match via {
            Some((gw, dev)) => self.record(format!("route {} via {gw} {dev}", netns.display())),
            None => self.record(format!("route {} none", netns.display())),
        }
    }
    async fn dns_socket(&self, netns: &Path) -> Result<Option<std::net::UdpSocket>, OpsError> {
        self.record(format!("dns {}", netns.display()))?;
        Ok(None)
    }
}
