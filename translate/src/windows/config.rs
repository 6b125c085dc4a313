//! Request validation and the container `Config` fields a Windows process needs (user,
//! environment, working directory, hostname), merged the way dockerd merges them on Windows.

use oci_spec::runtime::WindowsDevice;
use spec::api::models::{
    ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, HostConfigIsolationEnum,
};
use spec::image::ContainerConfig;

use super::WindowsContext;
use crate::Error;

fn set_str(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

fn set_vec<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

fn set_map<K, V>(v: &Option<std::collections::HashMap<K, V>>) -> bool {
    v.as_ref().is_some_and(|m| !m.is_empty())
}

fn set_num(v: Option<i64>) -> bool {
    v.is_some_and(|n| n != 0)
}

/// Rejects every option that has no meaning for a Windows container.
///
/// Where dockerd itself refuses an option on Windows, its message is kept word for word
/// ([`Error::InvalidParameter`]). Where dockerd silently ignores a Linux-only option
/// (`--cap-add`, `--sysctl`, `--tmpfs`, …), dockbridge refuses it instead
/// ([`Error::Unsupported`]): a container that quietly differs from what was asked for is
/// worse than an error naming the option.
pub fn check_create(create: &ContainerCreateBody, hc: &HostConfig) -> Result<(), Error> {
    // dockerd: daemon/internal/runconfig/hostconfig_windows.go and daemon_windows.go.
    let docker_refuses: [(bool, &str); 19] = [
        (
            hc.privileged == Some(true),
            "invalid option: privileged mode is not supported for Windows containers",
        ),
        (
            hc.readonly_rootfs == Some(true),
            "invalid option: read-only mode is not supported for Windows containers",
        ),
        (
            set_num(hc.cpu_realtime_period),
            "invalid option: CPU real-time period is not supported for Windows containers",
        ),
        (
            set_num(hc.cpu_realtime_runtime),
            "invalid option: CPU real-time runtime is not supported for Windows containers",
        ),
        (
            set_vec(&hc.blkio_device_read_bps),
            "invalid option: Windows does not support BlkioDeviceReadBps",
        ),
        (
            set_vec(&hc.blkio_device_read_iops),
            "invalid option: Windows does not support BlkioDeviceReadIOps",
        ),
        (
            set_vec(&hc.blkio_device_write_bps),
            "invalid option: Windows does not support BlkioDeviceWriteBps",
        ),
        (
            set_vec(&hc.blkio_device_write_iops),
            "invalid option: Windows does not support BlkioDeviceWriteIOps",
        ),
        (
            hc.blkio_weight.is_some_and(|w| w > 0),
            "invalid option: Windows does not support BlkioWeight",
        ),
        (
            set_vec(&hc.blkio_weight_device),
            "invalid option: Windows does not support BlkioWeightDevice",
        ),
        (
            set_str(&hc.cgroup_parent),
            "invalid option: Windows does not support CgroupParent",
        ),
        (
            set_num(hc.cpu_period),
            "invalid option: Windows does not support CPUPeriod",
        ),
        (
            set_str(&hc.cpuset_cpus),
            "invalid option: Windows does not support CpusetCpus",
        ),
        (
            set_str(&hc.cpuset_mems),
            "invalid option: Windows does not support CpusetMems",
        ),
        (
            set_num(hc.memory_reservation),
            "invalid option: Windows does not support MemoryReservation",
        ),
        (
            set_num(hc.memory_swap),
            "invalid option: Windows does not support MemorySwap",
        ),
        // -1 is the CLI's "unset" (moby's fixMemorySwappiness).
        (
            hc.memory_swappiness.is_some_and(|s| s != -1),
            "invalid option: Windows does not support MemorySwappiness",
        ),
        (
            hc.oom_kill_disable == Some(true),
            "invalid option: Windows does not support OomKillDisable",
        ),
        (
            set_num(hc.pids_limit),
            "invalid option: Windows does not support PidsLimit",
        ),
    ];
    if let Some((_, msg)) = docker_refuses.iter().find(|(set, _)| *set) {
        return Err(Error::InvalidParameter((*msg).to_string()));
    }
    if set_vec(&hc.ulimits) {
        return Err(Error::InvalidParameter(
            "invalid option: Windows does not support Ulimits".into(),
        ));
    }

    let linux_only: [(bool, &str); 21] = [
        (set_vec(&hc.cap_add), "CapAdd (--cap-add)"),
        (set_vec(&hc.cap_drop), "CapDrop (--cap-drop)"),
        (set_map(&hc.sysctls), "Sysctls (--sysctl)"),
        (set_map(&hc.tmpfs), "Tmpfs (--tmpfs)"),
        (set_num(hc.shm_size), "ShmSize (--shm-size)"),
        (set_vec(&hc.group_add), "GroupAdd (--group-add)"),
        (set_num(hc.oom_score_adj), "OomScoreAdj (--oom-score-adj)"),
        (set_num(hc.cpu_quota), "CpuQuota (--cpu-quota)"),
        (set_str(&hc.cgroup), "Cgroup"),
        (
            hc.cgroupns_mode
                .is_some_and(|m| m != HostConfigCgroupnsModeEnum::EMPTY),
            "CgroupnsMode (--cgroupns)",
        ),
        (set_str(&hc.pid_mode), "PidMode (--pid)"),
        (set_str(&hc.ipc_mode), "IpcMode (--ipc)"),
        (set_str(&hc.uts_mode), "UTSMode (--uts)"),
        (set_str(&hc.userns_mode), "UsernsMode (--userns)"),
        (hc.init == Some(true), "Init (--init)"),
        (set_vec(&hc.masked_paths), "MaskedPaths"),
        (set_vec(&hc.readonly_paths), "ReadonlyPaths"),
        (
            set_vec(&hc.device_cgroup_rules),
            "DeviceCgroupRules (--device-cgroup-rule)",
        ),
        (set_vec(&hc.device_requests), "DeviceRequests (--gpus)"),
        (set_vec(&hc.dns_options), "DnsOptions (--dns-option)"),
        (set_vec(&hc.extra_hosts), "ExtraHosts (--add-host)"),
    ];
    if let Some((_, name)) = linux_only.iter().find(|(set, _)| *set) {
        return Err(Error::Unsupported(format!(
            "{name} is not supported for Windows containers"
        )));
    }
    if set_vec(&hc.volumes_from) {
        return Err(Error::Unsupported(
            "VolumesFrom (--volumes-from) is not supported by dockbridge yet".into(),
        ));
    }
    if let Some(driver) = hc
        .volume_driver
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "local")
    {
        return Err(Error::Unsupported(format!(
            "VolumeDriver {driver:?}: only the local volume driver is supported by dockbridge"
        )));
    }
    check_security_opts(hc.security_opt.as_deref().unwrap_or_default())?;
    for key in hc.annotations.iter().flat_map(|a| a.keys()) {
        if key.is_empty() {
            return Err(Error::InvalidParameter(
                "invalid Annotations: the empty string is not permitted as an annotation key"
                    .into(),
            ));
        }
    }
    // moby's validateContainerConfig: only the request's own entries are checked.
    for env in create.env.iter().flatten() {
        if env
            .split_once('=')
            .map_or(env.as_str(), |(k, _)| k)
            .is_empty()
        {
            return Err(Error::InvalidParameter(format!(
                "invalid environment variable: {env}"
            )));
        }
    }
    Ok(())
}

/// `--security-opt` on Windows: only `credentialspec=…` exists (moby `setWindowsCredentialSpec`).
fn check_security_opts(opts: &[String]) -> Result<(), Error> {
    let mut credential_spec = false;
    for opt in opts {
        let Some((key, value)) = opt.split_once('=') else {
            return Err(Error::InvalidParameter(format!(
                "invalid security option: no equals sign in supplied value {opt}"
            )));
        };
        if !key.eq_ignore_ascii_case("credentialspec") {
            return Err(Error::InvalidParameter(format!(
                "security option not supported: {key}"
            )));
        }
        let valid = value.split_once("://").is_some_and(|(scheme, v)| {
            !v.is_empty()
                && ["file", "registry", "raw", "config"]
                    .iter()
                    .any(|s| scheme.eq_ignore_ascii_case(s))
        });
        if !valid {
            return Err(Error::InvalidParameter(
                "invalid credential spec security option - value must be prefixed by 'file://', \
                 'registry://', or 'raw://' followed by a non-empty value"
                    .into(),
            ));
        }
        credential_spec = true;
    }
    if credential_spec {
        // hcsshim reads `windows.credentialSpec` as a JSON *string* (that is what moby
        // writes), but oci-spec types the field as an object: whatever we put there, hcsshim
        // would skip it without a word and the container would run without its gMSA identity.
        return Err(Error::Unsupported(
            "credentialspec (gMSA) is not supported by dockbridge yet".into(),
        ));
    }
    Ok(())
}

/// Hyper-V isolation: `HostConfig.Isolation`, or the host's default for `default`/empty.
pub fn is_hyperv(hc: &HostConfig, ctx: &WindowsContext) -> bool {
    match hc.isolation {
        Some(HostConfigIsolationEnum::HYPERV) => true,
        Some(HostConfigIsolationEnum::PROCESS) => false,
        Some(HostConfigIsolationEnum::DEFAULT | HostConfigIsolationEnum::EMPTY) | None => {
            ctx.hyperv_default
        }
    }
}

/// The process environment: the request's entries, then the image's whose name the request
/// does not set (names compare case-insensitively, as Windows does), minus entries without
/// `=` (on Windows dockerd adds no defaults, and such entries only ever unset one).
pub fn environment(create: &ContainerCreateBody, image: &ContainerConfig) -> Vec<String> {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let user: &[String] = create.env.as_deref().unwrap_or_default();
    let mut env: Vec<String> = user.to_vec();
    if env.is_empty() {
        env = image.env.clone().unwrap_or_default();
    } else {
        for ie in image.env.iter().flatten() {
            let ik = key(ie);
            if !user.iter().any(|ue| key(ue).eq_ignore_ascii_case(&ik)) {
                env.push(ie.clone());
            }
        }
    }
    env.retain(|e| e.contains('='));
    env
}

/// The user to run as (`ContainerUser`, `ContainerAdministrator`, …): the request's, else
/// the image's; Windows resolves the name itself.
pub fn user(create: &ContainerCreateBody, image: &ContainerConfig) -> Option<String> {
    create
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| image.user.clone())
        .filter(|u| !u.is_empty())
}

/// The working directory: the request's (validated and cleaned as dockerd does), else the
/// image's verbatim, else `C:\` (cmd.exe running as ContainerAdministrator would otherwise
/// start in `C:\Windows\System32`, unlike `/` on Linux).
pub fn working_dir(create: &ContainerCreateBody, image: &ContainerConfig) -> Result<String, Error> {
    if let Some(wd) = create.working_dir.as_deref().filter(|w| !w.is_empty()) {
        let wd = wd.replace('/', "\\");
        let is_abs = wd.starts_with('\\')
            || drive_prefix_len(&wd).is_some_and(|n| wd[n..].starts_with('\\'));
        if !is_abs {
            return Err(Error::InvalidParameter(format!(
                "the working directory '{}' is invalid, it needs to be an absolute path",
                create.working_dir.as_deref().unwrap_or_default()
            )));
        }
        return Ok(clean_windows_path(&wd));
    }
    Ok(image
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| r"C:\".to_string()))
}

/// Length of a leading `X:` drive, if any.
pub(crate) fn drive_prefix_len(p: &str) -> Option<usize> {
    let b = p.as_bytes();
    (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':').then_some(2)
}

/// Go's `filepath.Clean` on Windows for the paths dockerd cleans: the volume (`C:` or
/// `\\server\share`) is kept, `.` and `..` are resolved lexically, separators collapse, and
/// a trailing separator goes (except at the root).
pub(crate) fn clean_windows_path(p: &str) -> String {
    let (volume, rest) = if let Some(n) = drive_prefix_len(p) {
        p.split_at(n)
    } else if let Some(unc) = p.strip_prefix(r"\\") {
        // \\server\share
        let mut parts = unc.splitn(3, '\\');
        let server = parts.next().unwrap_or_default();
        let share = parts.next().unwrap_or_default();
        let len = 2 + server.len() + if share.is_empty() { 0 } else { 1 + share.len() };
        p.split_at(len.min(p.len()))
    } else {
        ("", p)
    };
    let rooted = rest.starts_with('\\');
    let joined = crate::linux::clean_segments(rest, '\\', rooted).join("\\");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("{volume}\\{joined}"),
        (false, true) if volume.is_empty() => ".".to_string(),
        (false, _) => format!("{volume}{joined}"),
    }
}

/// dockerd's `FullHostname`: `Hostname` (default: the first 12 characters of the id), plus
/// `.Domainname` when given.
pub fn hostname(create: &ContainerCreateBody, ctx: &WindowsContext) -> String {
    let mut name = create
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| ctx.container_id.chars().take(12).collect());
    if let Some(domain) = create.domainname.as_deref().filter(|d| !d.is_empty()) {
        name.push('.');
        name.push_str(domain);
    }
    name
}

/// `--device` on Windows assigns a device by interface class or by id (moby
/// `setupWindowsDevices`): `class/<GUID>` or `<IDType>://<ID>`.
pub fn devices(hc: &HostConfig) -> Result<Vec<WindowsDevice>, Error> {
    let mut out = Vec::new();
    for mapping in hc.devices.iter().flatten() {
        let path = mapping.path_on_host.as_deref().unwrap_or_default();
        let (id_type, id) = if let Some(id) = path.strip_prefix("class/") {
            ("class", id)
        } else {
            let Some((id_type, id)) = path.split_once("://") else {
                return Err(Error::InvalidParameter(format!(
                    "invalid device assignment path: '{path}', must be 'class/ID' or 'IDType://ID'"
                )));
            };
            if id_type.is_empty() {
                return Err(Error::InvalidParameter(format!(
                    "invalid device assignment path: '{path}', IDType cannot be empty"
                )));
            }
            (id_type, id)
        };
        let mut device = WindowsDevice::default();
        device
            .set_id(id.to_string())
            .set_id_type(id_type.to_string());
        out.push(device);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: serde_json::Value) -> ContainerCreateBody {
        serde_json::from_value(v).unwrap()
    }

    fn check(hc: serde_json::Value) -> Result<(), Error> {
        let create = body(json!({"HostConfig": hc}));
        check_create(&create, create.host_config.as_ref().unwrap())
    }

    #[test]
    fn linux_only_options_are_refused_by_name() {
        for (hc, needle) in [
            (json!({"CapAdd": ["NET_ADMIN"]}), "CapAdd (--cap-add)"),
            (json!({"CapDrop": ["ALL"]}), "CapDrop"),
            (json!({"Sysctls": {"net.ipv4.ip_forward": "1"}}), "Sysctls"),
            (json!({"Tmpfs": {"C:\\t": ""}}), "Tmpfs"),
            (json!({"ShmSize": 1024}), "ShmSize"),
            (json!({"PidMode": "host"}), "PidMode"),
            (json!({"UsernsMode": "host"}), "UsernsMode"),
            (json!({"CgroupnsMode": "private"}), "CgroupnsMode"),
            (json!({"Init": true}), "Init"),
            (json!({"OomScoreAdj": 500}), "OomScoreAdj"),
            (json!({"GroupAdd": ["users"]}), "GroupAdd"),
        ] {
            match check(hc.clone()) {
                Err(Error::Unsupported(m)) => assert!(m.contains(needle), "{hc}: {m}"),
                other => panic!("{hc}: {other:?}"),
            }
        }
        for (hc, msg) in [
            (
                json!({"Privileged": true}),
                "invalid option: privileged mode is not supported for Windows containers",
            ),
            (
                json!({"ReadonlyRootfs": true}),
                "invalid option: read-only mode is not supported for Windows containers",
            ),
            (
                json!({"CpusetCpus": "0-1"}),
                "invalid option: Windows does not support CpusetCpus",
            ),
            (
                json!({"MemorySwappiness": 10}),
                "invalid option: Windows does not support MemorySwappiness",
            ),
            (
                json!({"PidsLimit": 10}),
                "invalid option: Windows does not support PidsLimit",
            ),
            (
                json!({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 2}]}),
                "invalid option: Windows does not support Ulimits",
            ),
            (
                json!({"SecurityOpt": ["seccomp=unconfined"]}),
                "security option not supported: seccomp",
            ),
            (
                json!({"SecurityOpt": ["no-new-privileges"]}),
                "invalid security option: no equals sign in supplied value no-new-privileges",
            ),
        ] {
            match check(hc.clone()) {
                Err(Error::InvalidParameter(m)) => assert_eq!(m, msg, "{hc}"),
                other => panic!("{hc}: {other:?}"),
            }
        }
        assert!(matches!(
            check(json!({"SecurityOpt": ["credentialspec=file://gmsa.json"]})),
            Err(Error::Unsupported(m)) if m.contains("credentialspec")
        ));
    }

    #[test]
    fn the_clis_defaults_are_not_options() {
        // What `docker run` sends when no flag is given.
        let defaults: serde_json::Value = serde_json::from_str(
            r#"{
            "Binds": null, "NetworkMode": "default", "ConsoleSize": [0, 0], "CapAdd": null,
            "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": null,
            "GroupAdd": null, "IpcMode": "", "Cgroup": "", "OomScoreAdj": 0, "PidMode": "",
            "Privileged": false, "ReadonlyRootfs": false, "SecurityOpt": null, "UTSMode": "",
            "UsernsMode": "", "ShmSize": 0, "Isolation": "", "CpuShares": 0, "Memory": 0,
            "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
            "BlkioDeviceReadBps": [], "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
            "CpusetCpus": "", "Devices": [], "MemoryReservation": 0, "MemorySwap": 0,
            "MemorySwappiness": -1, "OomKillDisable": false, "PidsLimit": null, "Ulimits": [],
            "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
            "MaskedPaths": null, "ReadonlyPaths": null
            }"#,
        )
        .unwrap();
        check(defaults).unwrap();
    }

    #[test]
    fn env_merges_case_insensitively_and_validates() {
        let img: ContainerConfig =
            serde_json::from_value(json!({"Env": ["Path=C:\\Windows", "A=1", "B=2"]})).unwrap();
        let c = body(json!({"Env": ["PATH=C:\\x", "b=3", "UNSET"]}));
        assert_eq!(environment(&c, &img), ["PATH=C:\\x", "b=3", "A=1"]);
        assert_eq!(
            environment(&body(json!({})), &img),
            ["Path=C:\\Windows", "A=1", "B=2"]
        );
        let bad = body(json!({"Env": ["=x"], "HostConfig": {}}));
        assert!(matches!(
            check_create(&bad, bad.host_config.as_ref().unwrap()),
            Err(Error::InvalidParameter(m)) if m == "invalid environment variable: =x"
        ));
    }

    #[test]
    fn working_dir_like_dockerd() {
        let img: ContainerConfig = serde_json::from_value(json!({"WorkingDir": "C:/app"})).unwrap();
        let none = ContainerConfig::default();
        let wd = |v: &str, i: &ContainerConfig| working_dir(&body(json!({"WorkingDir": v})), i);
        assert_eq!(wd("", &none).unwrap(), r"C:\");
        // The image's is used verbatim.
        assert_eq!(wd("", &img).unwrap(), "C:/app");
        assert_eq!(wd("C:/work/../src/", &img).unwrap(), r"C:\src");
        assert_eq!(wd(r"D:\", &none).unwrap(), r"D:\");
        assert_eq!(wd(r"\data\\x\.", &none).unwrap(), r"\data\x");
        assert_eq!(wd(r"\\srv\share\dir\", &none).unwrap(), r"\\srv\share\dir");
        assert!(
            matches!(wd("app", &none), Err(Error::InvalidParameter(m)) if m.contains("absolute path"))
        );
        assert!(wd("C:app", &none).is_err());
    }

    #[test]
    fn hostname_and_devices() {
        let ctx = WindowsContext {
            container_id: "0123456789abcdef".into(),
            ..Default::default()
        };
        assert_eq!(hostname(&body(json!({})), &ctx), "0123456789ab");
        assert_eq!(
            hostname(
                &body(json!({"Hostname": "web", "Domainname": "corp.local"})),
                &ctx
            ),
            "web.corp.local"
        );
        let hc: HostConfig = serde_json::from_value(json!({"Devices": [
            {"PathOnHost": "class/5B45201D-F2F2-4F3B-85BB-30FF1F953599"},
            {"PathOnHost": "vpci-location-path://PCIROOT(0)#PCI(0100)"}
        ]}))
        .unwrap();
        let d = devices(&hc).unwrap();
        assert_eq!(
            (d[0].id_type().as_str(), d[0].id().as_str()),
            ("class", "5B45201D-F2F2-4F3B-85BB-30FF1F953599")
        );
        assert_eq!(d[1].id_type(), "vpci-location-path");
        let bad: HostConfig =
            serde_json::from_value(json!({"Devices": [{"PathOnHost": "/dev/fuse"}]})).unwrap();
        assert!(
            matches!(devices(&bad), Err(Error::InvalidParameter(m)) if m.contains("/dev/fuse"))
        );
    }
}
