//! `windows.resources`: memory, CPU and storage limits, validated and computed exactly as
//! dockerd does (moby `verifyPlatformContainerResources` and `setResourcesInSpec`).

use oci_spec::runtime::{
    WindowsCPUResources, WindowsMemoryResources, WindowsResources, WindowsStorageResources,
};
use spec::api::models::HostConfig;

use crate::Error;

const MAX_CPU_SHARES: i64 = 10_000;
const MAX_CPU_PERCENT: i64 = 100;
const NANOS_PER_CPU: i64 = 1_000_000_000;
/// `windows.resources.cpu.maximum` is in hundredths of a percent of the host (10000 = all).
const NANOS_PER_MAXIMUM_UNIT: i64 = NANOS_PER_CPU / 10_000;

/// The CPU knobs after dockerd's precedence rules, plus the warnings it prints for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cpu {
    count: i64,
    shares: i64,
    percent: i64,
    nano_cpus: i64,
}

/// Validates the limits and returns the warnings dockerd would give for them.
///
/// On process-isolated containers Windows honours only one CPU control, so dockerd keeps
/// CPU count over shares over percent and warns about the rest; Hyper-V containers take all.
pub fn warnings(hc: &HostConfig, hyperv: bool) -> Vec<String> {
    effective_cpu(hc, hyperv).1
}

fn effective_cpu(hc: &HostConfig, hyperv: bool) -> (Cpu, Vec<String>) {
    let mut cpu = Cpu {
        count: hc.cpu_count.unwrap_or(0),
        shares: hc.cpu_shares.unwrap_or(0),
        percent: hc.cpu_percent.unwrap_or(0),
        nano_cpus: hc.nano_cpus.unwrap_or(0),
    };
    let mut warnings = Vec::new();
    if !hyperv {
        if cpu.count > 0 {
            if cpu.shares > 0 {
                warnings.push("Conflicting options: CPU count takes priority over CPU shares on Windows Server Containers. CPU shares discarded".to_string());
                cpu.shares = 0;
            }
            if cpu.percent > 0 {
                warnings.push("Conflicting options: CPU count takes priority over CPU percent on Windows Server Containers. CPU percent discarded".to_string());
                cpu.percent = 0;
            }
        } else if cpu.shares > 0 && cpu.percent > 0 {
            warnings.push("Conflicting options: CPU shares takes priority over CPU percent on Windows Server Containers. CPU percent discarded".to_string());
            cpu.percent = 0;
        }
    }
    (cpu, warnings)
}

/// `windows.resources`, or `None` when no limit is set.
pub fn resources(
    hc: &HostConfig,
    hyperv: bool,
    host_cpu_count: u32,
) -> Result<Option<WindowsResources>, Error> {
    let invalid = |m: String| Error::InvalidParameter(m);
    let (cpu, _) = effective_cpu(hc, hyperv);
    // A host always has a CPU; 0 means the proxy did not say.
    let host_cpus = i64::from(host_cpu_count.max(1));

    if !(0..=MAX_CPU_SHARES).contains(&cpu.shares) {
        return Err(invalid(format!(
            "range of CPUShares is from 1 to {MAX_CPU_SHARES}"
        )));
    }
    if !(0..=MAX_CPU_PERCENT).contains(&cpu.percent) {
        return Err(invalid(format!(
            "range of CPUPercent is from 1 to {MAX_CPU_PERCENT}"
        )));
    }
    if cpu.count < 0 {
        return Err(invalid(
            "invalid CPUCount: CPUCount cannot be negative".into(),
        ));
    }
    if cpu.nano_cpus > 0 && cpu.percent > 0 {
        return Err(invalid(
            "conflicting options: Nano CPUs and CPU Percent cannot both be set".into(),
        ));
    }
    if cpu.nano_cpus > 0 && cpu.shares > 0 {
        return Err(invalid(
            "conflicting options: Nano CPUs and CPU Shares cannot both be set".into(),
        ));
    }
    if cpu.nano_cpus != 0 && (cpu.nano_cpus < 0 || cpu.nano_cpus > host_cpus * NANOS_PER_CPU) {
        return Err(invalid(format!(
            "range of CPUs is from 0.01 to {host_cpus}.00, as there are only {host_cpus} CPUs available"
        )));
    }
    let non_negative = |v: Option<i64>, name: &str| -> Result<u64, Error> {
        let v = v.unwrap_or(0);
        u64::try_from(v).map_err(|_| invalid(format!("invalid {name}: {v} cannot be negative")))
    };
    let memory = non_negative(hc.memory, "Memory")?;
    let iops = non_negative(hc.io_maximum_iops, "IOMaximumIOps")?;
    let bandwidth = non_negative(hc.io_maximum_bandwidth, "IOMaximumBandwidth")?;
    let sandbox_size = sandbox_size(hc)?;

    let mut res = WindowsResources::default();
    if let Some(c) = cpu_resources(cpu, hyperv, host_cpus) {
        res.set_cpu(Some(c));
    }
    if memory != 0 {
        let mut m = WindowsMemoryResources::default();
        m.set_limit(Some(memory));
        res.set_memory(Some(m));
    }
    if iops != 0 || bandwidth != 0 || sandbox_size.is_some() {
        let mut s = WindowsStorageResources::default();
        // dockerd sets both I/O limits as soon as either is given.
        if iops != 0 || bandwidth != 0 {
            s.set_iops(Some(iops)).set_bps(Some(bandwidth));
        }
        s.set_sandbox_size(sandbox_size);
        res.set_storage(Some(s));
    }
    Ok((res != WindowsResources::default()).then_some(res))
}

/// moby `setResourcesInSpec`. With `--cpus` a process-isolated container gets a share of
/// the whole host (`maximum = 10000 * NanoCPUs / hostCPUs / 1e9`); a Hyper-V container gets
/// whole virtual CPUs, rounded up, each capped so the total is what was asked. Once any of
/// the three is set dockerd writes all three (0 meaning "no limit" to HCS), and so do we.
fn cpu_resources(cpu: Cpu, hyperv: bool, host_cpus: i64) -> Option<WindowsCPUResources> {
    // Ranges were checked: shares ≤ 10000, percent ≤ 100, so these fit a u16.
    let shares = u16::try_from(cpu.shares).unwrap_or(u16::MAX);
    let mut maximum = u16::try_from(cpu.percent * 100).unwrap_or(u16::MAX);
    let mut count = u64::try_from(cpu.count).unwrap_or(0);
    if cpu.nano_cpus > 0 {
        if hyperv {
            let mut whole = cpu.nano_cpus / NANOS_PER_CPU;
            if cpu.nano_cpus % NANOS_PER_CPU != 0 {
                whole += 1;
                maximum = capped_maximum(cpu.nano_cpus / whole / NANOS_PER_MAXIMUM_UNIT);
            }
            count = u64::try_from(whole).unwrap_or(0);
        } else {
            maximum = capped_maximum(cpu.nano_cpus / host_cpus / NANOS_PER_MAXIMUM_UNIT);
        }
    }
    if maximum == 0 && shares == 0 && count == 0 {
        return None;
    }
    let mut c = WindowsCPUResources::default();
    c.set_count(Some(count))
        .set_shares(Some(shares))
        .set_maximum(Some(maximum));
    Some(c)
}

/// A request so small it rounds to 0 gets the smallest limit, 1, not "no limit".
fn capped_maximum(v: i64) -> u16 {
    u16::try_from(v.clamp(1, 10_000)).unwrap_or(10_000)
}

/// `--storage-opt size=…`: the minimum size of the container's system drive. dockerd's
/// windowsfilter driver reads it (key case-insensitive, `units.RAMInBytes`); here it is the
/// spec's `sandboxSize`.
fn sandbox_size(hc: &HostConfig) -> Result<Option<u64>, Error> {
    let mut size = None;
    for (key, value) in hc.storage_opt.iter().flatten() {
        if !key.eq_ignore_ascii_case("size") {
            return Err(Error::InvalidParameter(format!(
                "storage option {key:?} is not supported for Windows containers (only size)"
            )));
        }
        size = Some(
            ram_in_bytes(value)
                .ok_or_else(|| Error::InvalidParameter(format!("invalid size: '{value}'")))?,
        );
    }
    Ok(size)
}

/// go-units `RAMInBytes`: a decimal number, an optional space, an optional binary unit
/// `k m g t p` (any case), optionally followed by `i` and/or `b`.
fn ram_in_bytes(s: &str) -> Option<u64> {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, mut unit) = s.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.contains("..") {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    unit = unit.strip_prefix(' ').unwrap_or(unit);
    let mut chars = unit.chars().peekable();
    let mult: f64 = match chars.peek().map(|c| c.to_ascii_lowercase()) {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            chars.next();
            let exp = match c {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                _ => 5,
            };
            1024f64.powi(exp)
        }
        _ => 1.0,
    };
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
        chars.next();
    }
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    let bytes = value * mult;
    // Go converts with int64(); anything beyond is no size anyone means.
    (bytes.is_finite() && bytes < 9.2e18).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn hc(v: Value) -> HostConfig {
        serde_json::from_value(v).unwrap()
    }

    fn cpu(v: Value, hyperv: bool, host: u32) -> Value {
        let r = resources(&hc(v), hyperv, host).unwrap();
        serde_json::to_value(r).unwrap()["cpu"].clone()
    }

    #[test]
    fn nano_cpus_process_isolation_is_a_share_of_the_host() {
        // moby: cpuMaximum = NanoCPUs / NumCPU / (1e9/10000).
        assert_eq!(
            cpu(json!({"NanoCpus": 1_500_000_000i64}), false, 4),
            json!({"count": 0, "shares": 0, "maximum": 3750})
        );
        assert_eq!(
            cpu(json!({"NanoCpus": 4_000_000_000i64}), false, 4),
            json!({"count": 0, "shares": 0, "maximum": 10000})
        );
        // Rounds to 0: the smallest limit instead.
        assert_eq!(
            cpu(json!({"NanoCpus": 1000}), false, 64),
            json!({"count": 0, "shares": 0, "maximum": 1})
        );
    }

    #[test]
    fn nano_cpus_hyperv_is_whole_vcpus() {
        assert_eq!(
            cpu(json!({"NanoCpus": 2_000_000_000i64}), true, 8),
            json!({"count": 2, "shares": 0, "maximum": 0})
        );
        // 1.5 CPUs: 2 vCPUs at 75% each.
        assert_eq!(
            cpu(json!({"NanoCpus": 1_500_000_000i64}), true, 8),
            json!({"count": 2, "shares": 0, "maximum": 7500})
        );
        assert_eq!(
            cpu(json!({"NanoCpus": 500_000_000i64}), true, 8),
            json!({"count": 1, "shares": 0, "maximum": 5000})
        );
    }

    #[test]
    fn cpu_count_shares_percent_and_precedence() {
        assert_eq!(
            cpu(json!({"CpuPercent": 40}), false, 4),
            json!({"count": 0, "shares": 0, "maximum": 4000})
        );
        assert_eq!(
            cpu(json!({"CpuShares": 512}), false, 4),
            json!({"count": 0, "shares": 512, "maximum": 0})
        );
        // Process isolation: count wins over shares and percent, with warnings.
        let h = hc(json!({"CpuCount": 2, "CpuShares": 512, "CpuPercent": 50}));
        assert_eq!(
            cpu(
                json!({"CpuCount": 2, "CpuShares": 512, "CpuPercent": 50}),
                false,
                4
            ),
            json!({"count": 2, "shares": 0, "maximum": 0})
        );
        assert_eq!(warnings(&h, false).len(), 2);
        // Hyper-V takes all three.
        assert_eq!(
            cpu(
                json!({"CpuCount": 2, "CpuShares": 512, "CpuPercent": 50}),
                true,
                4
            ),
            json!({"count": 2, "shares": 512, "maximum": 5000})
        );
        assert!(warnings(&h, true).is_empty());
        let h = hc(json!({"CpuShares": 512, "CpuPercent": 50}));
        assert_eq!(warnings(&h, false), ["Conflicting options: CPU shares takes priority over CPU percent on Windows Server Containers. CPU percent discarded"]);
        // Discarded values are not range-checked (dockerd discards first).
        resources(&hc(json!({"CpuCount": 1, "CpuShares": 99999})), false, 4).unwrap();
    }

    #[test]
    fn limits_are_validated_like_dockerd() {
        for (v, msg) in [
            (
                json!({"CpuShares": 10001}),
                "range of CPUShares is from 1 to 10000",
            ),
            (
                json!({"CpuPercent": 101}),
                "range of CPUPercent is from 1 to 100",
            ),
            (
                json!({"CpuCount": -1}),
                "invalid CPUCount: CPUCount cannot be negative",
            ),
            (
                json!({"NanoCpus": 1, "CpuPercent": 5}),
                "conflicting options: Nano CPUs and CPU Percent cannot both be set",
            ),
            (
                json!({"NanoCpus": 1, "CpuShares": 5}),
                "conflicting options: Nano CPUs and CPU Shares cannot both be set",
            ),
            (
                json!({"NanoCpus": 5_000_000_000i64}),
                "range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available",
            ),
            (
                json!({"Memory": -5}),
                "invalid Memory: -5 cannot be negative",
            ),
            (
                json!({"StorageOpt": {"size": "lots"}}),
                "invalid size: 'lots'",
            ),
        ] {
            match resources(&hc(v.clone()), false, 4) {
                Err(Error::InvalidParameter(m)) => assert_eq!(m, msg, "{v}"),
                other => panic!("{v}: {other:?}"),
            }
        }
    }

    #[test]
    fn memory_and_storage() {
        assert_eq!(resources(&hc(json!({})), false, 4).unwrap(), None);
        assert_eq!(
            resources(&hc(json!({"Memory": 0, "CpuShares": 0})), false, 4).unwrap(),
            None
        );
        let r = serde_json::to_value(
            resources(&hc(json!({"Memory": 2147483648i64, "IOMaximumIOps": 500, "StorageOpt": {"Size": "40G"}})), false, 4)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            r,
            json!({"memory": {"limit": 2147483648i64}, "storage": {"iops": 500, "bps": 0, "sandboxSize": 42949672960i64}})
        );
    }

    #[test]
    fn ram_in_bytes_like_go_units() {
        for (s, want) in [
            ("32", Some(32)),
            ("32b", Some(32)),
            ("32 B", Some(32)),
            ("32k", Some(32 * 1024)),
            ("32KiB", Some(32 * 1024)),
            ("1.5g", Some(1024 * 1024 * 1536)),
            ("20GB", Some(20 * 1024 * 1024 * 1024)),
            ("2t", Some(2 * 1024u64.pow(4))),
            ("", None),
            ("g", None),
            ("-1", None),
            ("32x", None),
            ("1..2", None),
            ("12gbx", None),
        ] {
            assert_eq!(ram_in_bytes(s), want, "{s:?}");
        }
    }
}
