//! `docker update`: the resource changes dockerd applies to a container's host config
//! (`Container.UpdateContainer`: a zero value leaves a field alone; NanoCPUs and CPU
//! period/quota exclude each other; memory above the current swap limit needs the swap
//! too), and the cgroup resources the runtime then gets.

use oci_spec::runtime::LinuxResources;
use spec::api::models::{ContainerUpdateBody, HostConfig};

use super::LinuxContext;
use crate::Error;

fn conflict(m: &str) -> Error {
    Error::Conflict(m.to_string())
}

/// `current` with `u`'s non-zero fields applied, checked as dockerd checks them (the
/// restart policy is the caller's: it has rules of its own).
pub fn apply_update(current: &HostConfig, u: &ContainerUpdateBody) -> Result<HostConfig, Error> {
    let nz = |v: Option<i64>| v.filter(|x| *x != 0);
    let mut hc = current.clone();
    let cur = |v: Option<i64>| v.unwrap_or(0);
    if nz(u.nano_cpus).is_some_and(|n| n > 0) && cur(current.cpu_period) > 0 {
        return Err(conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        ));
    }
    if nz(u.nano_cpus).is_some_and(|n| n > 0) && cur(current.cpu_quota) > 0 {
        return Err(conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        ));
    }
    if nz(u.cpu_period).is_some_and(|n| n > 0) && cur(current.nano_cpus) > 0 {
        return Err(conflict(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        ));
    }
    if nz(u.cpu_quota).is_some_and(|n| n > 0) && cur(current.nano_cpus) > 0 {
        return Err(conflict(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        ));
    }
    if let Some(w) = u.blkio_weight.filter(|w| *w != 0) {
        hc.blkio_weight = Some(w);
    }
    if let Some(v) = nz(u.cpu_shares) {
        hc.cpu_shares = Some(v);
    }
    if let Some(v) = nz(u.nano_cpus) {
        hc.nano_cpus = Some(v);
    }
    if let Some(v) = nz(u.cpu_period) {
        hc.cpu_period = Some(v);
    }
    if let Some(v) = nz(u.cpu_quota) {
        hc.cpu_quota = Some(v);
    }
    if let Some(v) = u.cpuset_cpus.clone().filter(|s| !s.is_empty()) {
        hc.cpuset_cpus = Some(v);
    }
    if let Some(v) = u.cpuset_mems.clone().filter(|s| !s.is_empty()) {
        hc.cpuset_mems = Some(v);
    }
    if let Some(m) = nz(u.memory) {
        if m > cur(current.memory_swap) && nz(u.memory_swap).is_none() {
            return Err(conflict(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ));
        }
        hc.memory = Some(m);
    }
    if let Some(v) = nz(u.memory_swap) {
        hc.memory_swap = Some(v);
    }
    if let Some(v) = nz(u.memory_reservation) {
        hc.memory_reservation = Some(v);
    }
    if let Some(v) = nz(u.cpu_realtime_period) {
        hc.cpu_realtime_period = Some(v);
    }
    if let Some(v) = nz(u.cpu_realtime_runtime) {
        hc.cpu_realtime_runtime = Some(v);
    }
    if let Some(v) = u.pids_limit {
        hc.pids_limit = Some(v);
    }
    let mut warnings = Vec::new();
    super::resources::validate(&hc, &mut warnings)?;
    Ok(hc)
}

/// The cgroup resources for a running container's new host config.
pub fn resources(hc: &HostConfig, ctx: &LinuxContext) -> Result<LinuxResources, Error> {
    super::resources::linux_resources(hc, ctx)
}

/// The update fields dockbridge applies; a non-zero value anywhere else is refused by name.
pub const UPDATABLE: &[&str] = &[
    "RestartPolicy",
    "BlkioWeight",
    "CpuShares",
    "NanoCpus",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "PidsLimit",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn upd(v: serde_json::Value) -> ContainerUpdateBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn applies_non_zero_fields() {
        let cur = HostConfig {
            memory: Some(32 << 20),
            memory_swap: Some(64 << 20),
            cpu_shares: Some(1024),
            ..Default::default()
        };
        let hc = apply_update(
            &cur,
            &upd(serde_json::json!({"Memory": 48 << 20, "CpuShares": 0, "PidsLimit": 50})),
        )
        .unwrap();
        assert_eq!(hc.memory, Some(48 << 20));
        assert_eq!(hc.memory_swap, Some(64 << 20));
        assert_eq!(hc.cpu_shares, Some(1024), "zero leaves it alone");
        assert_eq!(hc.pids_limit, Some(50));
    }

    #[test]
    fn dockerds_conflicts() {
        let none = HostConfig::default();
        let e = apply_update(&none, &upd(serde_json::json!({"Memory": 64 << 20}))).unwrap_err();
        assert!(matches!(e, Error::Conflict(m) if m.starts_with("Memory limit should be smaller")));
        let ok = apply_update(
            &none,
            &upd(serde_json::json!({"Memory": 64 << 20, "MemorySwap": 128 << 20})),
        )
        .unwrap();
        assert_eq!(
            (ok.memory, ok.memory_swap),
            (Some(64 << 20), Some(128 << 20))
        );
        let nano = HostConfig {
            nano_cpus: Some(500_000_000),
            ..Default::default()
        };
        assert!(apply_update(&nano, &upd(serde_json::json!({"CpuQuota": 1000}))).is_err());
        // Create-time checks hold too (swap below memory).
        assert!(apply_update(
            &none,
            &upd(serde_json::json!({"Memory": 64 << 20, "MemorySwap": 32 << 20}))
        )
        .is_err());
    }
}
