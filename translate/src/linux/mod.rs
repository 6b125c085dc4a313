//! Docker create request → OCI Linux runtime spec, following what moby's `daemon/oci_linux.go`
//! and `daemon/pkg/oci/defaults.go` produce, so that a container behaves as it would under
//! dockerd + runc.
//!
//! Everything here is pure: whatever depends on the host or the image's files (its
//! `/etc/passwd`, the host's rlimits, capabilities and devices, the files the proxy wrote for
//! `/etc/hosts` …) arrives in a [`LinuxContext`].
//!
//! One concern per module:
//! * [`validate`]: [`check_create`], which rejects every option dockbridge does not implement;
//! * [`config`]: [`merge_config`] (image + request → the container's `Config`) and the env;
//! * [`user`]: `user[:group]` resolution against the image's passwd/group files;
//! * [`mounts`]: Docker's default mounts, `Binds`, `Mounts`, `Tmpfs`, `/etc/*` files;
//! * [`resources`]: cgroup limits, the device allow-list and ulimits;
//! * [`caps`]: capability sets;
//! * [`network`]: network modes plus the `/etc/hosts` and `/etc/resolv.conf` builders;
//! * [`namespaces`]: namespaces and sysctls;
//! * [`exec`]: the process of `docker exec`.

pub mod caps;
pub mod config;
pub mod devices;
pub mod exec;
pub mod init;
pub mod links;
pub mod lsm;
pub mod mounts;
pub mod namespaces;
pub mod network;
pub mod resources;
pub mod seccomp;
pub mod update;
pub mod user;
pub mod validate;

#[cfg(test)]
mod golden;

use std::collections::{BTreeMap, HashMap};

use oci_spec::runtime::{LinuxDevice, Spec};
use serde::{Deserialize, Serialize};
use spec::api::models::{ContainerCreateBody, HostConfig};
use spec::image::ImageConfigFile;

use crate::Error;

pub use config::merge_config;
pub use exec::{exec_process, exec_process_with, ExecOptions};
pub use mounts::{bind_mounts, bind_sources, BindMount, BindSource};
pub use network::{
    etc_hosts, etc_hosts_with, resolv_conf, resolve_host_gateway, NetworkMode, BRIDGE_WARNING,
    HOST_GATEWAY,
};
pub use validate::{
    check_create, check_restart_policy, image_warnings, log_init, log_options, LogOptions,
};

/// The OCI runtime-spec version dockbridge writes (runc accepts any 1.x).
pub const OCI_VERSION: &str = "1.2.0";

/// Docker's default `PATH` for Linux containers (`oci.DefaultPathEnv`).
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything about the host and the image's files that the translation needs, gathered by
/// the proxy (which may do I/O) so that the translation itself stays pure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinuxContext {
    pub container_id: String,
    /// The container's hostname. The proxy computes it as dockerd does: `Config.Hostname`
    /// when given, else the host's hostname for `--network host`, else the first 12
    /// characters of the id. It is also what `HOSTNAME` is set to.
    pub hostname: String,
    /// The domain name when it is not the request's (`--network container:` takes the
    /// joined container's, as dockerd does).
    pub domainname: Option<String>,
    /// Contents of the image rootfs's `/etc/passwd` and `/etc/group`; `None` if absent.
    pub passwd: Option<String>,
    pub group: Option<String>,
    /// Host paths of the files the proxy wrote, bind-mounted at `/etc/hosts`,
    /// `/etc/hostname` and `/etc/resolv.conf` (see [`etc_hosts`] and [`resolv_conf`]).
    pub etc_hosts: Option<String>,
    pub etc_hostname: Option<String>,
    pub resolv_conf: Option<String>,
    /// The host's hard rlimits keyed `RLIMIT_NOFILE` etc. (`u64::MAX` = unlimited): the runtime
    /// cannot raise a hard limit above them without CAP_SYS_RESOURCE, so a `--ulimit` above
    /// them is refused up front instead of failing at start.
    pub host_hard_rlimits: BTreeMap<String, u64>,
    /// A pre-made network namespace to join instead of creating one.
    pub netns_path: Option<String>,
    /// e.g. `/dockbridge/<id>`.
    pub cgroups_path: String,
    /// The host uses the unified (v2) cgroup hierarchy: as with dockerd, containers then get
    /// a private cgroup namespace by default, and v1-only knobs are refused.
    pub cgroup_v2: bool,
    /// The capabilities the runtime holds (`CAP_…` names, e.g. from
    /// [`caps::capabilities_from_mask`] of `CapEff` in `/proc/self/status`). dockerd gives a
    /// privileged container exactly those and refuses `--cap-add` of anything else. `None`
    /// means every capability the kernel knows.
    pub host_capabilities: Option<Vec<String>>,
    /// The host's device nodes, given to `--privileged` containers as dockerd does
    /// (`HostDevices()` walks `/dev`, which is I/O and therefore the proxy's job).
    pub host_devices: Vec<LinuxDevice>,
    /// Host-dependent paths dockerd masks besides the fixed list: the
    /// `/sys/devices/system/cpu/cpuN/thermal_throttle` directories that exist on the host.
    pub extra_masked_paths: Vec<String>,
    /// Number of CPUs on the host, to bound `--cpus` as dockerd does; `None` skips the check.
    pub online_cpus: Option<u32>,
    /// The runtime itself runs in a user namespace: dockerd then skips the
    /// `net.ipv4.ping_group_range` sysctl, which cannot be set there.
    pub running_in_userns: bool,
    /// runc and the kernel support recursive read-only bind mounts (`rro`, kernel ≥ 5.12);
    /// dockerd then makes read-only binds recursively read-only.
    pub supports_recursive_readonly: bool,
    /// `--pid container:X` / `--ipc container:X`: the namespaces to join (`/proc/<pid>/ns/…`
    /// of the other container's init process, found by the proxy at start).
    #[serde(default)]
    pub pid_ns_path: Option<String>,
    #[serde(default)]
    pub ipc_ns_path: Option<String>,
    /// With `--ipc shareable` or `--ipc container:X`: the host directory holding the shared
    /// `/dev/shm` (a tmpfs the proxy mounted), bind-mounted at `/dev/shm`.
    #[serde(default)]
    pub ipc_shm_path: Option<String>,
    /// Major and minor numbers of the host block devices the blkio options name
    /// (`--device-read-bps /dev/sda:1mb` …), by path.
    #[serde(default)]
    pub block_devices: BTreeMap<String, (i64, i64)>,
    /// The `--device`s, resolved on the host by the proxy (in `HostConfig.Devices` order).
    #[serde(default)]
    pub user_devices: Vec<devices::UserDevice>,
    /// A static init binary (tini) bind-mounted at `/sbin/docker-init` for `--init`, as
    /// dockerd mounts `docker-init`; `None`: `--init` is refused.
    #[serde(default)]
    pub init_path: Option<String>,
    /// `--link` children's variables ([`links::link_env`]), between the daemon's defaults
    /// and the container's own `Env`, as dockerd's `CreateDaemonEnvironment` puts them.
    pub link_env: Vec<String>,
    /// The daemon's seccomp profile for unprivileged containers (Docker's default, or
    /// `--seccomp-profile`); `None` runs them unconfined.
    pub seccomp_profile: Option<seccomp::Profile>,
    /// The host kernel's version, for profiles' `minKernel`.
    pub kernel: Option<(u32, u32)>,
    /// The host's AppArmor ([`lsm`]).
    #[serde(default)]
    pub lsm: lsm::HostLsm,
}

impl LinuxContext {
    /// Defaults for an offline audit tool: hostname from the id, no image files, no host
    /// limits, every capability available.
    pub fn for_audit(container_id: &str) -> Self {
        Self {
            container_id: container_id.to_string(),
            hostname: container_id.chars().take(12).collect(),
            cgroups_path: format!("/dockbridge/{container_id}"),
            ..Self::default()
        }
    }
}

/// The full OCI runtime spec for a Linux container, as dockerd would hand it to runc.
///
/// Runs [`check_create`] first, so a request with an option dockbridge does not implement
/// never turns into a container that quietly differs from what was asked.
pub fn linux_spec(
    create: &ContainerCreateBody,
    image: &ImageConfigFile,
    ctx: &LinuxContext,
) -> Result<Spec, Error> {
    check_create(create)?;
    if !image.os.is_empty() && image.os != "linux" {
        return Err(Error::InvalidParameter(format!(
            "image operating system {:?} cannot be used on this platform: operating system is not supported",
            image.os
        )));
    }
    let merged = merge_config(create, &image.container_config());
    let default_hc = HostConfig::default();
    let hc = create.host_config.as_ref().unwrap_or(&default_hc);
    let net = NetworkMode::of(hc)?;
    let security = validate::SecurityOptions::parse(hc.security_opt.as_deref().unwrap_or(&[]))?;

    lsm::check(&security, &ctx.lsm)?;
    let mut process = config::process(&merged, hc, ctx, &security)?;
    process.set_apparmor_profile(lsm::apparmor_profile(
        &security,
        hc.privileged == Some(true),
        &ctx.lsm,
    ));
    let readonly_rootfs = hc.readonly_rootfs == Some(true);
    let (spec_mounts, rootfs_propagation) = mounts::spec_mounts(hc, ctx, &security)?;
    let linux = namespaces::linux(&merged, hc, ctx, net, rootfs_propagation)?;

    let mut root = blank::<oci_spec::runtime::Root>(serde_json::json!({ "path": "rootfs" }))?;
    if readonly_rootfs {
        root.set_readonly(Some(true));
    }

    let mut spec = blank::<Spec>(serde_json::json!({}))?;
    spec.set_version(OCI_VERSION.to_string());
    spec.set_root(Some(root));
    let (spec_mounts, process) = init::apply(hc, ctx, spec_mounts, process)?;
    spec.set_mounts(Some(spec_mounts));
    spec.set_process(Some(process));
    // With `--uts host` the container shares the host's hostname, so none is set (as dockerd).
    if !namespaces::uts_is_host(hc) {
        spec.set_hostname(Some(ctx.hostname.clone()));
        let domain = ctx.domainname.as_ref().or(merged.domainname.as_ref());
        if let Some(domain) = domain.filter(|d| !d.is_empty()) {
            spec.set_domainname(Some(domain.to_string()));
        }
    }
    // dockerd passes HostConfig.Annotations to the runtime verbatim.
    if let Some(a) = hc.annotations.as_ref().filter(|a| !a.is_empty()) {
        spec.set_annotations(Some(
            a.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ));
    }
    let mut linux = linux;
    linux.set_seccomp(container_seccomp(
        hc,
        ctx,
        &security,
        spec.process().as_ref(),
    )?);
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// dockerd's `WithSeccomp`: nothing for privileged or `seccomp=unconfined` containers,
/// else the custom profile or the daemon's, for the process's bounding capabilities.
fn container_seccomp(
    hc: &HostConfig,
    ctx: &LinuxContext,
    security: &validate::SecurityOptions,
    process: Option<&oci_spec::runtime::Process>,
) -> Result<Option<oci_spec::runtime::LinuxSeccomp>, Error> {
    if hc.privileged == Some(true) {
        return Ok(None);
    }
    let custom;
    let profile = match &security.seccomp {
        validate::Seccomp::Unconfined => return Ok(None),
        validate::Seccomp::Custom(json) => {
            custom = seccomp::parse(json)?;
            &custom
        }
        validate::Seccomp::Default => match &ctx.seccomp_profile {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    let caps: Vec<String> = process
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .map(|b| b.iter().map(|c| format!("CAP_{c}")).collect())
        .unwrap_or_default();
    seccomp::setup(profile, &caps, seccomp::native_arch(), ctx.kernel)
}

/// The container's hostname as dockerd picks it at create time: `Config.Hostname` when
/// given, else the host's hostname for `--network host`, else the first 12 characters of
/// the id. It goes into [`LinuxContext::hostname`] and `Config.Hostname`.
pub fn container_hostname(
    create: &ContainerCreateBody,
    container_id: &str,
    host_hostname: &str,
) -> String {
    if let Some(h) = nonempty(&create.hostname) {
        return h.to_string();
    }
    let host_mode = create
        .host_config
        .as_ref()
        .and_then(|hc| hc.network_mode.as_deref())
        == Some("host");
    if host_mode {
        host_hostname.to_string()
    } else {
        container_id.chars().take(12).collect()
    }
}

/// An oci-spec value deserialised from explicit JSON. oci-spec's `Default`s are youki's
/// (hostname "youki", args `["sh"]`, extra capabilities …), so nothing here starts from them.
pub(crate) fn blank<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| internal(format!("building the runtime spec: {e}")))
}

/// A bug in the translation, not in the request: the API answers 500.
pub(crate) fn internal(msg: String) -> Error {
    Error::Spec(spec::Error::Oci(spec::oci::OciError::Invalid(msg)))
}

/// `… is not supported by dockbridge yet`, naming the Docker option.
pub(crate) fn unsupported(option: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("{option} is not supported by dockbridge yet"))
}

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidParameter(msg.into())
}

/// The CLI sends many fields as 0, "", [] or false: only non-default values count as set.
pub(crate) fn nonzero(v: Option<i64>) -> Option<i64> {
    v.filter(|v| *v != 0)
}

pub(crate) fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

pub(crate) fn nonempty_vec<T>(v: &Option<Vec<T>>) -> Option<&[T]> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// The lexical core of Go's `path.Clean`/`filepath.Clean`: empty and `.` segments go, `..`
/// removes its parent, and a `..` that climbs above a rooted path is dropped.
pub(crate) fn clean_segments(p: &str, sep: char, rooted: bool) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split(sep) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    parts
}

/// Go's `path.Clean`: lexical, for slash-separated paths.
pub(crate) fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let joined = clean_segments(p, '/', rooted).join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_matches_go() {
        for (i, o) in [
            ("/", "/"),
            ("/a/b/../c/", "/a/c"),
            ("//a//b/.", "/a/b"),
            ("/../x", "/x"),
            ("a/../../b", "../b"),
            ("", "."),
            ("/app/", "/app"),
        ] {
            assert_eq!(clean_path(i), o, "{i}");
        }
    }

    #[test]
    fn for_audit_has_sane_defaults() {
        let c = LinuxContext::for_audit("0123456789abcdef0123");
        assert_eq!(c.hostname, "0123456789ab");
        assert_eq!(c.cgroups_path, "/dockbridge/0123456789abcdef0123");
        assert!(c.passwd.is_none() && c.host_capabilities.is_none());
    }

    #[test]
    fn hostname_like_dockerd() {
        let mut c = ContainerCreateBody::default();
        assert_eq!(
            container_hostname(&c, "0123456789abcdef", "box"),
            "0123456789ab"
        );
        c.host_config = Some(HostConfig {
            network_mode: Some("host".into()),
            ..Default::default()
        });
        assert_eq!(container_hostname(&c, "0123456789abcdef", "box"), "box");
        c.hostname = Some("web".into());
        assert_eq!(container_hostname(&c, "0123456789abcdef", "box"), "web");
    }
}
