//! The `linux` section: namespaces (moby's `WithNamespaces`), sysctls, masked and read-only
//! paths, devices, seccomp, cgroups path and resources.

use std::collections::HashMap;

use oci_spec::runtime::{Linux, LinuxNamespace};
use spec::api::models::{ContainerConfig, HostConfig, HostConfigCgroupnsModeEnum as CgroupNs};

use super::network::NetworkMode;
use super::{blank, invalid, resources, LinuxContext};
use crate::Error;

/// Paths dockerd masks in every unprivileged container.
pub const DEFAULT_MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Paths dockerd makes read-only in every unprivileged container.
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub(super) fn uts_is_host(hc: &HostConfig) -> bool {
    hc.uts_mode.as_deref() == Some("host")
}

/// Sysctls that only touch the container's IPC namespace (runc's list).
fn is_ipc_sysctl(k: &str) -> bool {
    matches!(
        k,
        "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
            | "kernel.sem"
            | "kernel.shmall"
            | "kernel.shmmax"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
    ) || k.starts_with("fs.mqueue.")
}

/// Refuses at create time the sysctls runc would refuse at start, because they are not
/// namespaced or the namespace they live in is the host's.
pub fn validate_sysctls(hc: &HostConfig, net: NetworkMode) -> Result<(), Error> {
    for k in hc.sysctls.iter().flatten().map(|(k, _)| k.as_str()) {
        if is_ipc_sysctl(k) {
            if hc.ipc_mode.as_deref() == Some("host") {
                return Err(invalid(format!("sysctl {k:?} is not allowed with --ipc host: it would change the host's IPC namespace")));
            }
        } else if k.starts_with("net.") {
            if !net.is_private() {
                return Err(invalid(format!(
                    "sysctl {k:?} is not allowed with --network host: it would change the host's network stack"
                )));
            }
        } else if k == "kernel.domainname" {
            if uts_is_host(hc) {
                return Err(invalid(format!(
                    "sysctl {k:?} is not allowed with --uts host"
                )));
            }
        } else if k == "kernel.hostname" {
            return Err(invalid(format!(
                "sysctl {k:?} is not allowed: use --hostname"
            )));
        } else {
            return Err(invalid(format!(
                "sysctl {k:?} is not allowed: it is not namespaced and would change the host"
            )));
        }
    }
    Ok(())
}

fn ns(typ: &str, path: Option<&str>) -> Result<LinuxNamespace, Error> {
    let mut v = serde_json::json!({ "type": typ });
    if let Some(p) = path {
        v["path"] = p.into();
    }
    blank(v)
}

pub(super) fn linux(
    _merged: &ContainerConfig,
    hc: &HostConfig,
    ctx: &LinuxContext,
    net: NetworkMode,
    rootfs_propagation: Option<String>,
) -> Result<Linux, Error> {
    let privileged = hc.privileged == Some(true);

    // Docker's order: mount, network, uts, pid, ipc, then cgroup when private. (Recent
    // dockerd also adds a time namespace; released versions up to 28 do not.)
    let mut namespaces = vec![ns("mount", None)?];
    if net.is_private() {
        let path = ctx.netns_path.as_deref();
        if net == NetworkMode::Container && path.is_none() {
            return Err(Error::InvalidParameter(
                "--network container:…: the container's namespace is not known".into(),
            ));
        }
        namespaces.push(ns("network", path)?);
    }
    if !uts_is_host(hc) {
        namespaces.push(ns("uts", None)?);
    }
    let joins =
        |mode: &Option<String>| mode.as_deref().is_some_and(|m| m.starts_with("container:"));
    if hc.pid_mode.as_deref() != Some("host") {
        let path = if joins(&hc.pid_mode) {
            Some(ctx.pid_ns_path.as_deref().ok_or_else(|| {
                Error::InvalidParameter(
                    "--pid container:…: the container's namespace is not known".into(),
                )
            })?)
        } else {
            None
        };
        namespaces.push(ns("pid", path)?);
    }
    if hc.ipc_mode.as_deref() != Some("host") {
        let path = if joins(&hc.ipc_mode) {
            Some(ctx.ipc_ns_path.as_deref().ok_or_else(|| {
                Error::InvalidParameter(
                    "--ipc container:…: the container's namespace is not known".into(),
                )
            })?)
        } else {
            None
        };
        namespaces.push(ns("ipc", path)?);
    }
    // dockerd's default: private on cgroup v2 (even when privileged), host on v1.
    let private_cgroupns = match hc.cgroupns_mode {
        Some(CgroupNs::PRIVATE) => true,
        Some(CgroupNs::HOST) => false,
        None | Some(CgroupNs::EMPTY) => ctx.cgroup_v2,
    };
    if private_cgroupns {
        namespaces.push(ns("cgroup", None)?);
    }

    let mut sysctl: HashMap<String, String> = HashMap::new();
    if net.is_private() && net != NetworkMode::Container {
        // dockerd's defaults for a new network namespace: ping without CAP_NET_RAW and
        // binding ports below 1024 without CAP_NET_BIND_SERVICE.
        if !ctx.running_in_userns {
            sysctl.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
        }
        sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
    }
    validate_sysctls(hc, net)?;
    for (k, v) in hc.sysctls.iter().flatten() {
        sysctl.insert(k.clone(), v.clone());
    }

    let (mut masked, mut readonly): (Vec<String>, Vec<String>) = if privileged {
        (Vec::new(), Vec::new())
    } else {
        (
            DEFAULT_MASKED_PATHS
                .iter()
                .map(|p| p.to_string())
                .chain(ctx.extra_masked_paths.iter().cloned())
                .collect(),
            DEFAULT_READONLY_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
        )
    };
    // Set (even to empty, as `--security-opt systempaths=unconfined` does), these replace
    // the defaults, privileged or not.
    if let Some(m) = &hc.masked_paths {
        masked = m.clone();
    }
    if let Some(r) = &hc.readonly_paths {
        readonly = r.clone();
    }

    let mut linux = blank::<Linux>(serde_json::json!({}))?;
    linux.set_namespaces(Some(namespaces));
    linux.set_resources(Some(resources::linux_resources(hc, ctx)?));
    if !ctx.cgroups_path.is_empty() {
        linux.set_cgroups_path(Some(ctx.cgroups_path.clone().into()));
    }
    if !sysctl.is_empty() {
        linux.set_sysctl(Some(sysctl));
    }
    if !masked.is_empty() {
        linux.set_masked_paths(Some(masked));
    }
    if !readonly.is_empty() {
        linux.set_readonly_paths(Some(readonly));
    }
    // Unprivileged containers rely on runc's default /dev nodes (null, zero, full, random,
    // urandom, tty, console, ptmx); privileged ones get the host's devices, as in dockerd.
    let mut devices: Vec<oci_spec::runtime::LinuxDevice> = Vec::new();
    if privileged {
        devices.extend(ctx.host_devices.iter().cloned());
    }
    // `--device` nodes, at their path in the container (replacing a host one of that path).
    for d in &ctx.user_devices {
        devices.retain(|x| x.path() != d.device.path());
        devices.push(d.device.clone());
    }
    if !devices.is_empty() {
        linux.set_devices(Some(devices));
    }
    linux.set_rootfs_propagation(rootfs_propagation);
    Ok(linux)
}
