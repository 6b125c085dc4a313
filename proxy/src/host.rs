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
    /// AppArmor on this host ([`read_lsm`]).
    pub lsm: translate::linux::lsm::HostLsm,
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
            lsm: read_lsm(),
        }
    }
}

/// AppArmor as runc sees it (`/sys/kernel/security/apparmor` present and the module's
/// `enabled` parameter `Y`), and whether `docker-default` is loaded.
pub fn read_lsm() -> translate::linux::lsm::HostLsm {
    let securityfs = std::path::Path::new("/sys/kernel/security/apparmor");
    let enabled = securityfs.exists()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|v| v.starts_with('Y'));
    let default_loaded = enabled
        && std::fs::read_to_string(securityfs.join("profiles")).is_ok_and(|p| {
            p.lines().any(|l| {
                l.strip_prefix(translate::linux::lsm::DEFAULT_APPARMOR_PROFILE)
                    .is_some_and(|rest| rest.starts_with(' '))
            })
        });
    translate::linux::lsm::HostLsm {
        apparmor: enabled,
        apparmor_default_loaded: default_loaded,
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

/// The host's device nodes, as moby's `HostDevices()` collects them for `--privileged`:
/// every character and block device under `/dev`, not following symlinks and skipping the
/// pseudo-terminal, shared-memory and message-queue mounts.
#[cfg(unix)]
pub fn host_devices() -> Vec<oci_spec::runtime::LinuxDevice> {
    host_devices_under(std::path::Path::new("/dev"))
}

#[cfg(not(unix))]
pub fn host_devices() -> Vec<oci_spec::runtime::LinuxDevice> {
    Vec::new()
}

#[cfg(unix)]
fn host_devices_under(root: &std::path::Path) -> Vec<oci_spec::runtime::LinuxDevice> {
    use oci_spec::runtime::{LinuxDeviceBuilder, LinuxDeviceType};
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    const SKIP: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            // symlink_metadata: links (e.g. /dev/stdin) are not devices of their own.
            let Ok(md) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = md.file_type();
            if ft.is_dir() {
                let name = e.file_name();
                if !SKIP.iter().any(|s| name == *s) {
                    stack.push(path);
                }
                continue;
            }
            let typ = if ft.is_char_device() {
                LinuxDeviceType::C
            } else if ft.is_block_device() {
                LinuxDeviceType::B
            } else {
                continue;
            };
            let rdev = md.rdev();
            let dev = LinuxDeviceBuilder::default()
                .path(path.clone())
                .typ(typ)
                .major(i64::from(nix::sys::stat::major(rdev) as u32))
                .minor(i64::from(nix::sys::stat::minor(rdev) as u32))
                .file_mode(md.mode() & 0o777)
                .uid(md.uid())
                .gid(md.gid())
                .build();
            if let Ok(d) = dev {
                out.push(d);
            }
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out
}

/// `--device HOST[:CONTAINER[:PERMS]]` resolved on the host, as dockerd's
/// `devicesFromPath`: a device node (symlinks followed) keeps its numbers at the
/// container path; a directory brings every device under it, at the same relative paths.
#[cfg(unix)]
pub fn user_devices(
    mappings: &[spec::api::models::DeviceMapping],
) -> Result<Vec<translate::linux::devices::UserDevice>, String> {
    let mut out = Vec::new();
    for m in mappings {
        let host = m.path_on_host.clone().unwrap_or_default();
        let in_container = m
            .path_in_container
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| host.clone());
        let access = m
            .cgroup_permissions
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "rwm".into());
        // Go's wording for the errno, as dockerd prints it.
        let gather = |e: std::io::Error| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            format!("error gathering device information while adding custom device {host:?}: {why}")
        };
        let md = std::fs::metadata(&host).map_err(gather)?;
        let found = if md.is_dir() {
            host_devices_under(std::path::Path::new(&host))
                .into_iter()
                .map(|mut d| {
                    let rel = d
                        .path()
                        .strip_prefix(&host)
                        .map(|r| std::path::Path::new(&in_container).join(r))
                        .unwrap_or_else(|_| d.path().clone());
                    d.set_path(rel);
                    d
                })
                .collect()
        } else {
            let canonical = std::fs::canonicalize(&host).map_err(gather)?;
            let parent = canonical.parent().unwrap_or(std::path::Path::new("/"));
            let mut devs: Vec<_> = host_devices_under(parent)
                .into_iter()
                .filter(|d| d.path() == &canonical)
                .collect();
            if devs.is_empty() {
                return Err(format!(
                    "error gathering device information while adding custom device {host:?}: not a device node"
                ));
            }
            for d in &mut devs {
                d.set_path(in_container.clone().into());
            }
            devs
        };
        out.extend(
            found
                .into_iter()
                .map(|device| translate::linux::devices::UserDevice {
                    device,
                    access: access.clone(),
                }),
        );
    }
    Ok(out)
}

#[cfg(not(unix))]
pub fn user_devices(
    mappings: &[spec::api::models::DeviceMapping],
) -> Result<Vec<translate::linux::devices::UserDevice>, String> {
    if mappings.is_empty() {
        Ok(Vec::new())
    } else {
        Err("--device needs a unix host".into())
    }
}

/// Major and minor numbers of the block devices the blkio options name, as dockerd reads
/// them with `stat` (symlinks followed).
#[cfg(unix)]
pub fn block_devices(
    paths: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, (i64, i64)>, String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = BTreeMap::new();
    for p in paths {
        let md = std::fs::metadata(&p).map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                _ => e.to_string(),
            };
            format!("stat {p}: {why}")
        })?;
        if !md.file_type().is_block_device() {
            return Err(format!("{p}: not a block device"));
        }
        let rdev = md.rdev();
        out.insert(
            p,
            (
                i64::from(nix::sys::stat::major(rdev) as u32),
                i64::from(nix::sys::stat::minor(rdev) as u32),
            ),
        );
    }
    Ok(out)
}

#[cfg(not(unix))]
pub fn block_devices(
    paths: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, (i64, i64)>, String> {
    match paths.into_iter().next() {
        None => Ok(BTreeMap::new()),
        Some(_) => Err("blkio device options need a unix host".into()),
    }
}

/// `/sys/devices/system/cpu/cpuN/thermal_throttle` directories present on this host, which
/// dockerd masks in unprivileged containers besides its fixed list.
pub fn thermal_throttle_paths() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/devices/system/cpu") else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.strip_prefix("cpu")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path().join("thermal_throttle"))
        .filter(|p| p.is_dir())
        .map(|p| p.display().to_string())
        .collect();
    out.sort();
    out
}

#[cfg(all(test, unix))]
mod device_tests {
    #[test]
    fn finds_the_null_device_and_skips_links() {
        let devs = super::host_devices();
        let null = devs
            .iter()
            .find(|d| d.path() == std::path::Path::new("/dev/null"))
            .expect("/dev/null");
        assert_eq!((null.major(), null.minor()), (1, 3));
        assert!(devs.iter().all(|d| !d.path().starts_with("/dev/pts")));
        assert!(devs
            .iter()
            .all(|d| d.path() != std::path::Path::new("/dev/stdin")));
    }
}
