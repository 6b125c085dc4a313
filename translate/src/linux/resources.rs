//! cgroup resources (moby's `WithResources`, `getMemoryResources`, `getCPUResources`,
//! `getPidsLimit`), the device allow-list (`DefaultLinuxSpec`, `WithDevices`) and ulimits
//! (`withRlimits`).

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources, PosixRlimit};
use spec::api::models::{HostConfig, ResourcesUlimits};

use super::{blank, invalid, nonempty, nonzero, unsupported, LinuxContext};
use crate::Error;

/// dockerd's floor for `--memory` and `--memory-reservation`: startup overhead, not a kernel
/// limit.
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// `/dev/shm` size when `ShmSize` is 0 (dockerd's `DefaultShmSize`).
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;
/// The CFS period `--cpus` uses: 100ms.
const NANO_CPU_PERIOD: u64 = 100_000;

/// `--ulimit` names dockerd understands (go-units), plus `as`, which the OCI spec also knows.
const ULIMIT_NAMES: [&str; 16] = [
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Create-time checks of the resource fields, with dockerd's messages (`verifyPlatformContainerResources`).
pub fn validate(hc: &HostConfig, warnings: &mut Vec<String>) -> Result<(), Error> {
    let memory = hc.memory.unwrap_or(0);
    let swap = hc.memory_swap.unwrap_or(0);
    let reservation = hc.memory_reservation.unwrap_or(0);
    if memory != 0 && memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if memory == 0 && swap > 0 {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s != -1) {
        if !(0..=100).contains(&s) {
            return Err(invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if hc.oom_kill_disable == Some(true) && memory == 0 {
        warnings.push(
            "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources."
                .to_string(),
        );
    }

    let nano = hc.nano_cpus.unwrap_or(0);
    let period = hc.cpu_period.unwrap_or(0);
    let quota = hc.cpu_quota.unwrap_or(0);
    if nano > 0 && period > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && quota > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if nano < 0 {
        return Err(invalid(
            "range of CPUs is from 0.01 to the number of CPUs available",
        ));
    }
    if let Some(shares) = hc.cpu_shares.filter(|s| *s < 0) {
        return Err(invalid(format!(
            "invalid CPU shares ({shares}): value must be a positive integer"
        )));
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if quota > 0 && quota < 1000 {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if nonzero(hc.cpu_realtime_period).is_some() {
        return Err(unsupported("--cpu-rt-period"));
    }
    if nonzero(hc.cpu_realtime_runtime).is_some() {
        return Err(unsupported("--cpu-rt-runtime"));
    }
    for (name, v) in [("cpus", &hc.cpuset_cpus), ("mems", &hc.cpuset_mems)] {
        if let Some(list) = nonempty(v) {
            if !valid_cpu_list(list) {
                return Err(invalid(format!("Invalid value {list} for cpuset {name}")));
            }
        }
    }
    if let Some(w) = hc.blkio_weight.filter(|w| *w > 0) {
        if !(10..=1000).contains(&w) {
            return Err(invalid("Range of blkio weight is from 10 to 1000"));
        }
    }
    if nonzero(hc.io_maximum_bandwidth).is_some() || nonzero(hc.io_maximum_iops).is_some() {
        return Err(invalid(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps",
        ));
    }
    if hc.cpu_percent.unwrap_or(0) > 0 {
        warnings.push("linux does not support CPU percent. Percent discarded.".to_string());
    }
    if nonzero(hc.cpu_count).is_some() {
        warnings.push("CPU count (CpuCount) is Windows-only: discarded on Linux.".to_string());
    }
    for u in hc.ulimits.iter().flatten() {
        ulimit(u)?;
    }
    Ok(())
}

/// `0-3,5` style lists (the kernel's cpuset syntax).
fn valid_cpu_list(s: &str) -> bool {
    s.split(',').all(|part| {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        match (a.parse::<u32>(), b.parse::<u32>()) {
            (Ok(a), Ok(b)) => a <= b,
            _ => false,
        }
    })
}

/// A validated ulimit: name, soft, hard (negative values are "unlimited", as Go's
/// `uint64(-1)` makes them).
fn ulimit(u: &ResourcesUlimits) -> Result<(String, u64, u64), Error> {
    let name = u.name.as_deref().unwrap_or("");
    if !ULIMIT_NAMES.contains(&name) {
        return Err(invalid(format!("invalid ulimit type: {name}")));
    }
    let (soft, hard) = (u.soft.unwrap_or(0), u.hard.unwrap_or(0));
    let as_u64 = |v: i64| u64::try_from(v).unwrap_or(u64::MAX);
    let (s, h) = (as_u64(soft), as_u64(hard));
    if s > h {
        return Err(invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok((name.to_string(), s, h))
}

/// `--ulimit`s as rlimits. Without CAP_SYS_RESOURCE the runtime cannot raise a hard limit
/// above its own, so such a request is refused here with a message naming the ulimit
/// instead of failing obscurely at start.
pub fn rlimits(
    ulimits: &[ResourcesUlimits],
    host_hard: &BTreeMap<String, u64>,
) -> Result<Vec<PosixRlimit>, Error> {
    let mut out = Vec::with_capacity(ulimits.len());
    for u in ulimits {
        let (name, soft, hard) = ulimit(u)?;
        let typ = format!("RLIMIT_{}", name.to_uppercase());
        if let Some(&max) = host_hard.get(&typ) {
            if hard > max {
                return Err(invalid(format!(
                    "--ulimit {name}: hard limit {} is above the host's hard limit {} for {typ}; dockbridge's runtime lacks CAP_SYS_RESOURCE and cannot raise it",
                    fmt_limit(hard),
                    fmt_limit(max)
                )));
            }
        }
        out.push(blank(
            serde_json::json!({ "type": typ, "soft": soft, "hard": hard }),
        )?);
    }
    Ok(out)
}

fn fmt_limit(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".to_string()
    } else {
        v.to_string()
    }
}

/// Docker's default device cgroup rules: deny all, then allow null, zero, full, random,
/// urandom, tty, console and ptmx, and explicitly deny `/dev/fuse` (10:229).
fn default_device_rules() -> serde_json::Value {
    let allow = |major: i64, minor: i64| serde_json::json!({ "allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm" });
    serde_json::json!([
        { "allow": false, "access": "rwm" },
        allow(1, 5),
        allow(1, 3),
        allow(1, 9),
        allow(1, 8),
        allow(5, 0),
        allow(5, 1),
        { "allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm" },
    ])
}

/// The `linux.resources` section.
pub(super) fn linux_resources(
    hc: &HostConfig,
    ctx: &LinuxContext,
) -> Result<LinuxResources, Error> {
    let privileged = hc.privileged == Some(true);
    let devices: Vec<LinuxDeviceCgroup> = if privileged {
        blank(serde_json::json!([{ "allow": true, "access": "rwm" }]))?
    } else {
        blank(default_device_rules())?
    };
    let mut devices = devices;
    if !privileged {
        for d in &ctx.user_devices {
            devices.push(super::devices::allow_rule(d)?);
        }
        for rule in hc.device_cgroup_rules.iter().flatten() {
            devices.push(super::devices::parse_cgroup_rule(rule)?);
        }
    }
    let mut r = blank::<LinuxResources>(serde_json::json!({}))?;
    r.set_devices(Some(devices));

    // Memory.
    let memory = hc.memory.unwrap_or(0);
    let mut mem = serde_json::Map::new();
    if memory > 0 {
        mem.insert("limit".into(), memory.into());
    }
    if let Some(res) = hc.memory_reservation.filter(|r| *r > 0) {
        mem.insert("reservation".into(), res.into());
    }
    // dockerd defaults the swap limit to twice the memory limit; -1 leaves swap unlimited.
    let swap = match hc.memory_swap.unwrap_or(0) {
        0 if memory > 0 => memory.saturating_mul(2),
        s => s,
    };
    if swap > 0 {
        mem.insert("swap".into(), swap.into());
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s != -1) {
        if ctx.cgroup_v2 {
            return Err(Error::Unsupported(
                "--memory-swappiness is not supported on cgroup v2 hosts (the kernel has no per-cgroup swappiness)".into(),
            ));
        }
        mem.insert("swappiness".into(), s.into());
    }
    if ctx.cgroup_v2 {
        if hc.oom_kill_disable == Some(true) {
            return Err(Error::Unsupported(
                "--oom-kill-disable is not supported on cgroup v2 hosts (the kernel has no per-cgroup switch)".into(),
            ));
        }
    } else {
        // On cgroup v1 dockerd always writes the switch (false unless asked).
        mem.insert(
            "disableOOMKiller".into(),
            hc.oom_kill_disable.unwrap_or(false).into(),
        );
    }
    if !mem.is_empty() {
        r.set_memory(Some(blank(serde_json::Value::Object(mem))?));
    }

    // CPU.
    let mut cpu = serde_json::Map::new();
    if let Some(shares) = nonzero(hc.cpu_shares) {
        cpu.insert("shares".into(), shares.into());
    }
    if let Some(c) = nonempty(&hc.cpuset_cpus) {
        cpu.insert("cpus".into(), c.into());
    }
    if let Some(m) = nonempty(&hc.cpuset_mems) {
        cpu.insert("mems".into(), m.into());
    }
    if let Some(nano) = hc.nano_cpus.filter(|n| *n > 0) {
        if let Some(n) = ctx.online_cpus {
            if nano > i64::from(n) * 1_000_000_000 {
                return Err(invalid(format!(
                    "range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
                )));
            }
        }
        cpu.insert("period".into(), NANO_CPU_PERIOD.into());
        let quota = i128::from(nano) * i128::from(NANO_CPU_PERIOD) / 1_000_000_000;
        cpu.insert(
            "quota".into(),
            i64::try_from(quota).unwrap_or(i64::MAX).into(),
        );
    }
    if let Some(p) = nonzero(hc.cpu_period) {
        cpu.insert("period".into(), p.into());
    }
    if let Some(q) = nonzero(hc.cpu_quota) {
        cpu.insert("quota".into(), q.into());
    }
    if !cpu.is_empty() {
        r.set_cpu(Some(blank(serde_json::Value::Object(cpu))?));
    }

    // PIDs: 0 and negative mean unlimited, which runc spells -1.
    if let Some(p) = hc.pids_limit {
        let limit = if p <= 0 { -1 } else { p };
        r.set_pids(Some(blank(serde_json::json!({ "limit": limit }))?));
    }

    let mut blkio = serde_json::Map::new();
    if let Some(w) = hc.blkio_weight.filter(|w| *w > 0) {
        blkio.insert("weight".into(), w.into());
    }
    // Per-device weights and throttles: the device numbers come from the proxy's stat of
    // each path (`LinuxContext::block_devices`).
    let dev = |path: &str| -> Result<(i64, i64), Error> {
        ctx.block_devices
            .get(path)
            .copied()
            .ok_or_else(|| invalid(format!("{path}: not a block device on this host")))
    };
    let mut weights = Vec::new();
    for w in hc.blkio_weight_device.iter().flatten() {
        let (major, minor) = dev(w.path.as_deref().unwrap_or_default())?;
        weights.push(
            serde_json::json!({ "major": major, "minor": minor, "weight": w.weight.unwrap_or(0) }),
        );
    }
    if !weights.is_empty() {
        blkio.insert("weightDevice".into(), weights.into());
    }
    for (key, list) in [
        ("throttleReadBpsDevice", &hc.blkio_device_read_bps),
        ("throttleWriteBpsDevice", &hc.blkio_device_write_bps),
        ("throttleReadIOPSDevice", &hc.blkio_device_read_iops),
        ("throttleWriteIOPSDevice", &hc.blkio_device_write_iops),
    ] {
        let mut out = Vec::new();
        for t in list.iter().flatten() {
            let (major, minor) = dev(t.path.as_deref().unwrap_or_default())?;
            let rate = u64::try_from(t.rate.unwrap_or(0))
                .map_err(|_| invalid("blkio rates cannot be negative"))?;
            out.push(serde_json::json!({ "major": major, "minor": minor, "rate": rate }));
        }
        if !out.is_empty() {
            blkio.insert(key.into(), out.into());
        }
    }
    if !blkio.is_empty() {
        r.set_block_io(Some(blank(serde_json::Value::Object(blkio))?));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_device_throttles_use_the_host_numbers() {
        let hc: HostConfig = serde_json::from_value(serde_json::json!({
            "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1048576}],
            "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 300}]
        }))
        .unwrap();
        let mut ctx = LinuxContext::default();
        ctx.block_devices.insert("/dev/sda".into(), (8, 0));
        let r = linux_resources(&hc, &ctx).unwrap();
        let v = serde_json::to_value(r.block_io().as_ref().unwrap()).unwrap();
        assert_eq!(
            v["throttleReadBpsDevice"],
            serde_json::json!([{"major": 8, "minor": 0, "rate": 1048576}])
        );
        assert_eq!(v["weightDevice"][0]["weight"], 300);
        // A path the proxy did not resolve is refused, never dropped.
        assert!(linux_resources(&hc, &LinuxContext::default()).is_err());
    }

    fn ul(name: &str, soft: i64, hard: i64) -> ResourcesUlimits {
        ResourcesUlimits {
            name: Some(name.into()),
            soft: Some(soft),
            hard: Some(hard),
        }
    }

    #[test]
    fn ulimits_checked_against_host() {
        let host: BTreeMap<String, u64> = [("RLIMIT_NOFILE".to_string(), 4096u64)].into();
        let ok = rlimits(&[ul("nofile", 1024, 4096), ul("core", -1, -1)], &host).unwrap();
        assert_eq!(ok.len(), 2);
        let e = rlimits(&[ul("nofile", 1024, 8192)], &host)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--ulimit nofile") && e.contains("4096"), "{e}");
        assert!(rlimits(&[ul("bogus", 1, 1)], &host).is_err());
        assert!(rlimits(&[ul("nofile", 10, 1)], &host).is_err());
    }

    #[test]
    fn cpu_lists() {
        assert!(valid_cpu_list("0-3,5"));
        assert!(!valid_cpu_list("3-1"));
        assert!(!valid_cpu_list("a"));
    }
}
