//! Facts about the host, read once at start-up for `/version` and `/info`.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct HostInfo {
    pub hostname: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_version: String,
    pub ncpu: i64,
    pub mem_total: i64,
    /// 1 or 2.
    pub cgroup_version: u8,
    pub runc_version: String,
    pub runc_commit: String,
    /// The hard limits of this process, which a container can never exceed (no
    /// CAP_SYS_RESOURCE here).
    pub hard_rlimits: BTreeMap<String, u64>,
    /// The capabilities this process holds (from `CapEff`): a container cannot get more.
    pub capabilities: Option<Vec<String>>,
}

impl HostInfo {
    pub fn read() -> Self {
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |k: &str| {
            os_release.lines().find_map(|l| {
                l.strip_prefix(k)
                    .and_then(|v| v.strip_prefix('='))
                    .map(|v| v.trim_matches('"').to_string())
            })
        };
        let mem_total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        let (runc_version, runc_commit) = runc_version();
        Self {
            hostname: hostname(),
            kernel_version: kernel_version(),
            operating_system: field("PRETTY_NAME").unwrap_or_else(|| "Linux".into()),
            os_version: field("VERSION_ID").unwrap_or_default(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            mem_total,
            cgroup_version: if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                2
            } else {
                1
            },
            runc_version,
            runc_commit,
            hard_rlimits: hard_rlimits(),
            capabilities: effective_capabilities(),
        }
    }
}

fn runc_version() -> (String, String) {
    let Ok(out) = std::process::Command::new("runc").arg("--version").output() else {
        return (String::new(), String::new());
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("runc version "))
        .unwrap_or_default()
        .to_string();
    let commit = text
        .lines()
        .find_map(|l| l.strip_prefix("commit: "))
        .unwrap_or_default()
        .to_string();
    (version, commit)
}

#[cfg(unix)]
fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

#[cfg(not(unix))]
fn hostname() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

#[cfg(unix)]
fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(not(unix))]
fn kernel_version() -> String {
    String::new()
}

/// No rlimits outside unix: nothing to bound.
#[cfg(not(unix))]
fn hard_rlimits() -> BTreeMap<String, u64> {
    BTreeMap::new()
}

#[cfg(unix)]
fn hard_rlimits() -> BTreeMap<String, u64> {
    use nix::sys::resource::{getrlimit, Resource};
    let mut out = BTreeMap::new();
    for (name, res) in [
        ("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE),
        ("RLIMIT_NPROC", Resource::RLIMIT_NPROC),
        ("RLIMIT_CORE", Resource::RLIMIT_CORE),
        ("RLIMIT_STACK", Resource::RLIMIT_STACK),
        ("RLIMIT_MEMLOCK", Resource::RLIMIT_MEMLOCK),
        ("RLIMIT_AS", Resource::RLIMIT_AS),
        ("RLIMIT_CPU", Resource::RLIMIT_CPU),
        ("RLIMIT_DATA", Resource::RLIMIT_DATA),
        ("RLIMIT_FSIZE", Resource::RLIMIT_FSIZE),
        ("RLIMIT_LOCKS", Resource::RLIMIT_LOCKS),
        ("RLIMIT_MSGQUEUE", Resource::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", Resource::RLIMIT_NICE),
        ("RLIMIT_RTPRIO", Resource::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", Resource::RLIMIT_RTTIME),
        ("RLIMIT_SIGPENDING", Resource::RLIMIT_SIGPENDING),
    ] {
        if let Ok((_, hard)) = getrlimit(res) {
            out.insert(name.to_string(), hard);
        }
    }
    out
}

fn effective_capabilities() -> Option<Vec<String>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let mask = u64::from_str_radix(hex, 16).ok()?;
    Some(translate::linux::caps::capabilities_from_mask(mask))
}
