//! `POST /containers/create` validation: every field of the request is either implemented by
//! [`super::linux_spec`], handled by the proxy, or refused with a 4xx naming the Docker
//! option. The structs are destructured without `..`, so a field added to the API models
//! does not compile until it is classified here.

use spec::api::models::{
    ContainerCreateBody, HealthConfig, HostConfig, HostConfigIsolationEnum, HostConfigLogConfig,
    RestartPolicy, RestartPolicyNameEnum,
};
use spec::image::ContainerConfig as ImageContainerConfig;

use super::network::NetworkMode;
use super::{
    caps, config, invalid, mounts, namespaces, network, nonempty, nonempty_vec, nonzero, resources,
    unsupported,
};
use crate::Error;

/// Healthcheck durations below this are refused (dockerd's `MinimumDuration`, 1ms).
const MIN_HEALTH_DURATION_NS: i64 = 1_000_000;
const MAX_HOSTNAME_LEN: usize = 64;

/// What `--security-opt` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityOptions {
    pub no_new_privileges: bool,
    /// `None`: the default (writable iff privileged).
    pub writable_cgroups: Option<bool>,
    pub seccomp: Seccomp,
    /// `apparmor=PROFILE` (checked against the host by [`super::lsm::check`]).
    pub apparmor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// The daemon's profile (see `LinuxContext::seccomp_profile`).
    #[default]
    Default,
    /// `seccomp=unconfined`.
    Unconfined,
    /// `seccomp=<profile JSON>` (the CLI reads the file and sends its content).
    Custom(String),
}

fn parse_bool(v: &str) -> Option<bool> {
    // Go's strconv.ParseBool.
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

impl SecurityOptions {
    /// dockerd's `parseSecurityOpt`, refusing what dockbridge cannot honour.
    pub fn parse(opts: &[String]) -> Result<Self, Error> {
        let mut s = Self::default();
        for opt in opts {
            match opt.as_str() {
                "no-new-privileges" => {
                    s.no_new_privileges = true;
                    continue;
                }
                "writable-cgroups" => {
                    s.writable_cgroups = Some(true);
                    continue;
                }
                // SELinux labels: accepted and not applied, as dockerd without
                // `--selinux-enabled` (see `super::lsm`).
                "disable" => continue,
                _ => {}
            }
            let (k, v) = opt
                .split_once('=')
                .or_else(|| opt.split_once(':'))
                .ok_or_else(|| invalid(format!("invalid --security-opt 1: {opt:?}")))?;
            match (k, v) {
                ("label", _) => {}
                ("apparmor", profile) => s.apparmor = Some(profile.to_string()),
                ("seccomp", "unconfined") => s.seccomp = Seccomp::Unconfined,
                // Decoded when the container starts, as dockerd does (a bad profile fails
                // the start with a 500, not the create).
                ("seccomp", profile) => s.seccomp = Seccomp::Custom(profile.to_string()),
                ("no-new-privileges", v) => {
                    s.no_new_privileges = parse_bool(v)
                        .ok_or_else(|| invalid(format!("invalid --security-opt 2: {opt:?}")))?
                }
                ("writable-cgroups", v) => {
                    s.writable_cgroups = Some(
                        parse_bool(v)
                            .ok_or_else(|| invalid(format!("invalid --security-opt 2: {opt:?}")))?,
                    )
                }
                _ => return Err(invalid(format!("invalid --security-opt 2: {opt:?}"))),
            }
        }
        Ok(s)
    }
}

/// Validates a create request and returns the warnings for the create response. Refuses
/// every option dockbridge does not implement with `Error::Unsupported` naming the Docker
/// option, and invalid values with dockerd's messages (`Error::InvalidParameter`).
///
/// Fields the proxy handles (and this function only validates): `AttachStd*`, `OpenStdin`,
/// `StdinOnce`, `Tty` (streams), `Image`, `StopSignal`, `StopTimeout`, `Labels`,
/// `ExposedPorts`, `OnBuild`, `Shell` (metadata), `AutoRemove`, `RestartPolicy` (`no`
/// only), `LogConfig` (`json-file` without options), `ContainerIDFile` (CLI-side),
/// `Dns`, `DnsSearch`, `DnsOptions` and `ExtraHosts` (the proxy writes the files with
/// [`network::resolv_conf`] and [`network::etc_hosts`]), `NetworkMode`.
pub fn check_create(create: &ContainerCreateBody) -> Result<Vec<String>, Error> {
    let mut warnings = Vec::new();
    let ContainerCreateBody {
        hostname,
        domainname: _,
        user: _,
        attach_stdin: _,
        attach_stdout: _,
        attach_stderr: _,
        exposed_ports: _,
        tty: _,
        open_stdin: _,
        stdin_once: _,
        env,
        cmd: _,
        healthcheck,
        args_escaped: _, // Windows-only; dockerd ignores it on Linux.
        image: _,
        volumes,
        working_dir,
        entrypoint: _,
        network_disabled: _,
        on_build: _,
        labels: _,
        stop_signal,
        stop_timeout: _,
        shell: _,
        host_config,
        networking_config: _, // checked by network::validate
    } = create;

    if let Some(h) = hostname.as_deref() {
        if h.len() > MAX_HOSTNAME_LEN {
            return Err(invalid(format!(
                "hostname {h:?} is too long (maximum {MAX_HOSTNAME_LEN} bytes)"
            )));
        }
    }
    if let Some(w) = nonempty(working_dir) {
        if !w.replace('\\', "/").starts_with('/') {
            return Err(invalid(format!(
                "the working directory '{w}' is invalid, it needs to be an absolute path"
            )));
        }
    }
    if let Some(sig) = nonempty(stop_signal) {
        validate_signal(sig)?;
    }
    for e in env.iter().flatten() {
        if e.split_once('=').map_or(e.as_str(), |(k, _)| k).is_empty() {
            return Err(invalid(format!("invalid environment variable: {e}")));
        }
    }
    if let Some(hc) = healthcheck {
        check_healthcheck(hc)?;
    }
    if let Some(v) = nonempty_vec(volumes) {
        return Err(unsupported(format!("-v {} (anonymous volume)", v[0])));
    }

    let default_hc = HostConfig::default();
    let hc = host_config.as_ref().unwrap_or(&default_hc);
    check_host_config(create, hc, &mut warnings)?;
    Ok(warnings)
}

fn check_healthcheck(h: &HealthConfig) -> Result<(), Error> {
    for (name, v) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ] {
        if let Some(v) = nonzero(v) {
            if v < MIN_HEALTH_DURATION_NS {
                return Err(invalid(format!(
                    "{name} in Healthcheck cannot be less than 1ms"
                )));
            }
        }
    }
    if h.retries.unwrap_or(0) < 0 {
        return Err(invalid("Retries in Healthcheck cannot be negative"));
    }
    Ok(())
}

/// Signal names dockerd accepts for `--stop-signal` (with or without `SIG`), or a number.
fn validate_signal(sig: &str) -> Result<(), Error> {
    const NAMES: [&str; 33] = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
    ];
    let bad = || invalid(format!("Invalid signal: {sig}"));
    if let Ok(n) = sig.parse::<i64>() {
        return if (1..=64).contains(&n) {
            Ok(())
        } else {
            Err(bad())
        };
    }
    let name = sig.to_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let rt_ok =
        |rest: &str, max: u32| rest.is_empty() || rest.parse::<u32>().is_ok_and(|n| n <= max);
    let ok = NAMES.contains(&name)
        || name == "XFSZ"
        || name.strip_prefix("RTMIN+").is_some_and(|r| rt_ok(r, 15))
        || name.strip_prefix("RTMAX-").is_some_and(|r| rt_ok(r, 14))
        || name == "RTMIN"
        || name == "RTMAX";
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// dockerd's validation of a restart policy (create and `docker update`).
pub fn check_restart_policy(p: &RestartPolicy) -> Result<(), Error> {
    let count = p.maximum_retry_count.unwrap_or(0);
    let name = p.name.unwrap_or(RestartPolicyNameEnum::EMPTY);
    match name {
        RestartPolicyNameEnum::ALWAYS
        | RestartPolicyNameEnum::UNLESS_STOPPED
        | RestartPolicyNameEnum::NO
            if count != 0 =>
        {
            let mut msg =
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                    .to_string();
            if count < 0 {
                msg.push_str(" and cannot be negative");
            }
            return Err(invalid(msg));
        }
        RestartPolicyNameEnum::ON_FAILURE if count < 0 => {
            return Err(invalid(
                "invalid restart policy: maximum retry count cannot be negative",
            ));
        }
        _ => {}
    }
    // Every policy is implemented by the proxy's container manager.
    Ok(())
}

fn check_log_config(l: &HostConfigLogConfig) -> Result<(), Error> {
    match l.typ.as_deref().unwrap_or("") {
        "" | "json-file" | "local" | "none" => {}
        // Drivers Docker has: refused clearly until dockbridge has them.
        other @ ("syslog" | "journald" | "gelf" | "fluentd" | "awslogs" | "splunk" | "etwlogs"
        | "gcplogs" | "logentries") => {
            return Err(unsupported(format!(
                "--log-driver {other} (only json-file is)"
            )))
        }
        // Docker's wording for a driver that does not exist, which scripts match on.
        other => {
            return Err(invalid(format!(
                "logger: no log driver named '{other}' is registered"
            )))
        }
    }
    log_options(l).map(|_| ())
}

/// Log settings of the drivers dockbridge has: json-file's and local's rotation
/// (`--log-opt max-size=10m --log-opt max-file=3`), and whether anything is kept at all
/// (`none` keeps nothing and cannot be read back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogOptions {
    /// `false` for the `none` driver.
    pub stored: bool,
    /// Rotate when the file reaches this many bytes; `None` = never.
    pub max_size: Option<u64>,
    /// How many files to keep, the current one included (at least 1).
    pub max_file: u32,
    /// json-file's `compress`: rotated files are gzipped (`…-json.log.1.gz`). Only set by
    /// [`log_init`], where dockerd checks it.
    pub compress: bool,
}

/// Parses json-file's options as dockerd does; any other option is refused by name.
pub fn log_options(l: &HostConfigLogConfig) -> Result<LogOptions, Error> {
    let driver = l.typ.as_deref().unwrap_or("");
    let mut opts = match driver {
        "none" => LogOptions {
            stored: false,
            max_size: None,
            max_file: 1,
            compress: false,
        },
        // The local driver's defaults: 20 MB files, five of them.
        "local" => LogOptions {
            stored: true,
            max_size: Some(20 * 1024 * 1024),
            max_file: 5,
            compress: false,
        },
        _ => LogOptions {
            stored: true,
            max_size: None,
            max_file: 1,
            compress: false,
        },
    };
    let mut keys: Vec<_> = l.config.iter().flatten().collect();
    keys.sort();
    for (k, v) in keys {
        if matches!(driver, "local" | "none")
            && !matches!(k.as_str(), "max-size" | "max-file" | "compress")
            || driver == "none"
        {
            return Err(invalid(format!(
                "unknown log opt '{k}' for log driver {driver}"
            )));
        }
        match k.as_str() {
            // The local driver's files are its own business (not a format users read);
            // dockbridge keeps them uncompressed whatever this says.
            // json-file's is parsed when the logger starts, as dockerd does (`log_init`).
            "compress" if driver != "local" => {}
            "compress" if driver == "local" => {
                if !matches!(v.as_str(), "true" | "false") {
                    return Err(invalid(format!("invalid value for compress: {v}")));
                }
            }
            "max-size" => {
                let n = ram_in_bytes(v).ok_or_else(|| invalid(format!("invalid max-size: {v}")))?;
                // dockerd treats -1 as "no limit".
                opts.max_size = (n >= 0).then_some(n as u64);
            }
            "max-file" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| invalid(format!("invalid max-file: {v}")))?;
                if n < 1 {
                    return Err(invalid("max-file cannot be less than 1"));
                }
                opts.max_file =
                    u32::try_from(n).map_err(|_| invalid(format!("invalid max-file: {v}")))?;
            }
            other => return Err(unsupported(format!("--log-opt {other}"))),
        }
    }
    if driver != "local" && opts.max_file > 1 && opts.max_size.is_none() {
        return Err(invalid("max-file can only be set if max-size is set"));
    }
    Ok(opts)
}

/// The logger's options as the container starts: [`log_options`] plus what dockerd only
/// checks when it creates the logger (json-file's `compress`), worded as dockerd words it.
pub fn log_init(l: &HostConfigLogConfig) -> Result<LogOptions, String> {
    let fail = |m: String| format!("failed to initialize logging driver: {m}");
    let mut opts = log_options(l).map_err(|e| fail(e.to_string()))?;
    let json_file = matches!(l.typ.as_deref(), None | Some("") | Some("json-file"));
    let compress = l.config.as_ref().and_then(|c| c.get("compress"));
    if let (true, Some(v)) = (json_file, compress) {
        opts.compress = go_parse_bool(v)
            .ok_or_else(|| fail(format!("strconv.ParseBool: parsing {v:?}: invalid syntax")))?;
        if opts.compress && (opts.max_file < 2 || opts.max_size.is_none()) {
            return Err(fail(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
                    .into(),
            ));
        }
    }
    Ok(opts)
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// go-units' `RAMInBytes`: `10m`, `1.5G`, `512kb`, plain bytes; binary multiples.
fn ram_in_bytes(s: &str) -> Option<i64> {
    let t = s.trim();
    if t == "-1" {
        return Some(-1);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0_f64.powi(4),
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && v >= 0.0 && v < i64::MAX as f64).then_some(v as i64)
}

#[cfg(test)]
mod log_option_tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn local_and_none_drivers() {
        let with = |driver: &str, pairs: &[(&str, &str)]| HostConfigLogConfig {
            typ: Some(driver.into()),
            config: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        };
        let local = log_options(&with("local", &[])).unwrap();
        assert_eq!(
            (local.stored, local.max_size, local.max_file),
            (true, Some(20 << 20), 5)
        );
        let sized =
            log_options(&with("local", &[("max-size", "1m"), ("compress", "false")])).unwrap();
        assert_eq!(sized.max_size, Some(1 << 20));
        assert_eq!(
            log_options(&with("local", &[("bogus", "1")]))
                .unwrap_err()
                .to_string(),
            "unknown log opt 'bogus' for log driver local"
        );
        assert!(!log_options(&with("none", &[])).unwrap().stored);
        assert!(log_options(&with("none", &[("max-size", "1m")])).is_err());
    }

    fn cfg(pairs: &[(&str, &str)]) -> HostConfigLogConfig {
        HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            ),
        }
    }

    #[test]
    fn parses_json_file_rotation_like_dockerd() {
        assert_eq!(
            log_options(&cfg(&[])).unwrap(),
            LogOptions {
                stored: true,
                max_size: None,
                max_file: 1,
                compress: false,
            }
        );
        assert_eq!(
            log_options(&cfg(&[("max-size", "10m"), ("max-file", "3")])).unwrap(),
            LogOptions {
                stored: true,
                max_size: Some(10 * 1024 * 1024),
                max_file: 3,
                compress: false,
            }
        );
        assert_eq!(
            log_options(&cfg(&[("max-size", "512")])).unwrap().max_size,
            Some(512)
        );
        assert!(log_options(&cfg(&[("max-file", "3")])).is_err());
        assert!(log_options(&cfg(&[("max-size", "ten")])).is_err());
        assert!(log_options(&cfg(&[("max-file", "0"), ("max-size", "1k")])).is_err());
        // compress is checked when the logger starts, not at create.
        assert!(log_options(&cfg(&[("compress", "true")])).is_ok());
        assert_eq!(
            log_init(&cfg(&[("compress", "true")])).unwrap_err(),
            "failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set"
        );
        assert_eq!(
            log_init(&cfg(&[("compress", "yes"), ("max-size", "1k"), ("max-file", "2")]))
                .unwrap_err(),
            "failed to initialize logging driver: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        let on = log_init(&cfg(&[
            ("compress", "T"),
            ("max-size", "1k"),
            ("max-file", "2"),
        ]))
        .unwrap();
        assert!(on.compress);
        assert!(!log_init(&cfg(&[("compress", "0")])).unwrap().compress);
    }
}

fn check_mode(what: &str, flag: &str, v: &Option<String>, allowed: &[&str]) -> Result<(), Error> {
    let v = v.as_deref().unwrap_or("");
    if allowed.contains(&v) {
        return Ok(());
    }
    if let Some(rest) = v.strip_prefix("container:") {
        if rest.is_empty() {
            return Err(invalid(format!("invalid {what} mode: {v}")));
        }
        // Joined at start: the proxy resolves the container to its namespace.
        let _ = flag;
        return Ok(());
    }
    Err(invalid(format!("invalid {what} mode: {v}")))
}

fn check_host_config(
    create: &ContainerCreateBody,
    hc: &HostConfig,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    let HostConfig {
        // Resources (implemented; validated by resources::validate).
        cpu_shares: _,
        memory: _,
        cgroup_parent,
        blkio_weight: _,
        blkio_weight_device: _, // resources::linux_resources (device numbers from the proxy)
        blkio_device_read_bps: _, // resources::linux_resources (device numbers from the proxy)
        blkio_device_write_bps: _, // resources::linux_resources (device numbers from the proxy)
        blkio_device_read_iops: _, // resources::linux_resources (device numbers from the proxy)
        blkio_device_write_iops: _, // resources::linux_resources (device numbers from the proxy)
        cpu_period: _,
        cpu_quota: _,
        cpu_realtime_period: _,
        cpu_realtime_runtime: _,
        cpuset_cpus: _,
        cpuset_mems: _,
        devices,
        device_cgroup_rules,
        device_requests,
        memory_reservation: _,
        memory_swap: _,
        memory_swappiness: _,
        nano_cpus: _,
        oom_kill_disable: _,
        init: _, // --init: linux::init
        pids_limit: _,
        ulimits: _,
        cpu_count: _,
        cpu_percent: _,
        io_maximum_iops: _,
        io_maximum_bandwidth: _,
        // Mounts (implemented; validated by mounts::validate).
        binds: _,
        container_id_file: _, // CLI-side only; dockerd ignores it too.
        log_config,
        network_mode: _, // network::validate
        port_bindings: _,
        restart_policy,
        auto_remove,
        volume_driver,
        volumes_from,
        mounts: _,
        console_size,
        annotations,
        cap_add,
        cap_drop,
        cgroupns_mode: _, // private / host / default: all implemented
        dns: _,
        dns_options: _,
        dns_search: _,
        extra_hosts: _,
        group_add: _, // resolved against /etc/group in linux_spec
        ipc_mode,
        cgroup,
        links: _,
        oom_score_adj,
        pid_mode,
        privileged: _,
        publish_all_ports: _,
        readonly_rootfs: _,
        security_opt,
        storage_opt,
        tmpfs: _,
        uts_mode,
        userns_mode,
        shm_size,
        sysctls: _,
        runtime,
        isolation,
        masked_paths: _,
        readonly_paths: _,
    } = hc;

    if let Some(p) = restart_policy {
        check_restart_policy(p)?;
        let none = matches!(
            p.name,
            None | Some(RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO)
        );
        if *auto_remove == Some(true) && !none {
            return Err(invalid(
                "can't create 'AutoRemove' container with restart policy",
            ));
        }
    }
    if let Some(l) = log_config {
        check_log_config(l)?;
    }
    if nonempty(cgroup_parent).is_some() {
        return Err(unsupported("--cgroup-parent"));
    }
    for (flag, set) in [
        (
            "--gpus/DeviceRequests",
            nonempty_vec(device_requests).is_some(),
        ),
        ("--volume-driver", nonempty(volume_driver).is_some()),
        ("--volumes-from", nonempty_vec(volumes_from).is_some()),
        (
            "--storage-opt",
            storage_opt.as_ref().is_some_and(|s| !s.is_empty()),
        ),
        ("--cgroup (HostConfig.Cgroup)", nonempty(cgroup).is_some()),
    ] {
        if set {
            return Err(unsupported(flag));
        }
    }
    super::devices::validate(devices.as_deref().unwrap_or_default())?;
    for rule in device_cgroup_rules.iter().flatten() {
        super::devices::parse_cgroup_rule(rule)?;
    }
    resources::validate(hc, warnings)?;
    mounts::validate(hc)?;

    if let Some(cs) = console_size {
        if cs.len() != 2 {
            return Err(invalid("invalid ConsoleSize: expected [height, width]"));
        }
    }
    if annotations.iter().flatten().any(|(k, _)| k.is_empty()) {
        return Err(invalid(
            "invalid Annotations: the empty string is not permitted as an annotation key",
        ));
    }
    caps::validate(
        cap_add.as_deref().unwrap_or(&[]),
        cap_drop.as_deref().unwrap_or(&[]),
    )?;

    check_mode(
        "IPC",
        "--ipc",
        ipc_mode,
        &["", "private", "shareable", "none", "host"],
    )?;
    check_mode("PID", "--pid", pid_mode, &["", "host"])?;
    match uts_mode.as_deref().unwrap_or("") {
        "" => {}
        "host" => {
            if nonempty(&create.hostname).is_some() {
                return Err(invalid("conflicting options: hostname and the UTS mode"));
            }
        }
        other => return Err(invalid(format!("invalid UTS mode: {other}"))),
    }
    // Without user-namespace remapping in the daemon, "host" is what every container gets.
    match userns_mode.as_deref().unwrap_or("") {
        "" | "host" => {}
        other => return Err(unsupported(format!("--userns {other}"))),
    }
    let oom = oom_score_adj.unwrap_or(0);
    if !(-1000..=1000).contains(&oom) {
        return Err(invalid(config::oom_range_msg(oom)));
    }
    if shm_size.unwrap_or(0) < 0 {
        return Err(invalid("SHM size can not be less than 0"));
    }
    SecurityOptions::parse(security_opt.as_deref().unwrap_or(&[]))?;
    match runtime.as_deref().unwrap_or("") {
        "" | "runc" | "io.containerd.runc.v2" => {}
        other => return Err(unsupported(format!("--runtime {other} (only runc is)"))),
    }
    match isolation {
        None | Some(HostConfigIsolationEnum::EMPTY | HostConfigIsolationEnum::DEFAULT) => {}
        Some(other) => return Err(invalid(format!("invalid isolation '{other}' on linux"))),
    }

    let net = network::validate(create, hc, warnings)?;
    namespaces::validate_sysctls(hc, net)?;
    let _: NetworkMode = net;
    Ok(())
}

/// Warnings about the image itself, for the create response: what the image declares that
/// dockbridge does not do yet. (Refusing such images would refuse most databases.)
pub fn image_warnings(image: &ImageContainerConfig) -> Vec<String> {
    // Image volumes become anonymous volumes and healthchecks run: nothing to warn about.
    let _ = image;
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec::api::models::PortBinding;

    fn with_hc(hc: HostConfig) -> ContainerCreateBody {
        ContainerCreateBody {
            host_config: Some(hc),
            ..Default::default()
        }
    }

    fn unsupported_naming(create: ContainerCreateBody, needle: &str) {
        match check_create(&create) {
            Err(Error::Unsupported(m)) => assert!(
                m.contains(needle) && m.contains("not supported by dockbridge"),
                "{m}"
            ),
            other => panic!("expected Unsupported naming {needle}, got {other:?}"),
        }
    }

    #[test]
    fn cli_defaults_are_accepted_without_warnings() {
        // What `docker create busybox` sends: zero values everywhere.
        let create: ContainerCreateBody = serde_json::from_str(
            r#"{"Image":"busybox","Cmd":["true"],"Env":[],"Volumes":{},"Labels":{},"OnBuild":null,
            "HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
            "NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
            "AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[24,80],"CapAdd":null,
            "CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,
            "GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"",
            "Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,
            "UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,
            "CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],
            "BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,
            "CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"",
            "Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,
            "MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":[],
            "CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,
            "ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{}}}}"#,
        )
        .unwrap();
        // The bridge (or its absence, with a warning) is the daemon's network provider's.
        assert!(check_create(&create).unwrap().is_empty());
    }

    #[test]
    fn none_and_host_have_no_warning() {
        for mode in ["none", "host"] {
            let c = with_hc(HostConfig {
                network_mode: Some(mode.into()),
                ..Default::default()
            });
            assert!(check_create(&c).unwrap().is_empty(), "{mode}");
        }
    }

    #[test]
    fn rejections_name_the_option() {
        let pb = [(
            "80/tcp".to_string(),
            Some(vec![PortBinding {
                host_ip: None,
                host_port: Some("8080".into()),
            }]),
        )];
        unsupported_naming(
            with_hc(HostConfig {
                port_bindings: Some(pb.into()),
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            "-p/--publish",
        );
        unsupported_naming(
            with_hc(HostConfig {
                cgroup_parent: Some("/x".into()),
                ..Default::default()
            }),
            "--cgroup-parent",
        );
        unsupported_naming(
            with_hc(HostConfig {
                binds: Some(vec!["data:/data".into()]),
                ..Default::default()
            }),
            "-v data:/data (named volume \"data\")",
        );
        let log = HostConfigLogConfig {
            typ: Some("syslog".into()),
            config: None,
        };
        unsupported_naming(
            with_hc(HostConfig {
                log_config: Some(log),
                ..Default::default()
            }),
            "--log-driver syslog",
        );
        // User-defined networks are the daemon's network provider's (it checks they exist).
        assert!(check_create(&with_hc(HostConfig {
            network_mode: Some("mynet".into()),
            ..Default::default()
        }))
        .is_ok());
        // Links are the default bridge's: elsewhere refused by name.
        assert!(check_create(&with_hc(HostConfig {
            links: Some(vec!["db:db".into()]),
            ..Default::default()
        }))
        .is_ok());
        unsupported_naming(
            with_hc(HostConfig {
                links: Some(vec!["db:db".into()]),
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            "--link",
        );
        unsupported_naming(
            with_hc(HostConfig {
                links: Some(vec!["db:db".into()]),
                network_mode: Some("appnet".into()),
                ..Default::default()
            }),
            "--link",
        );
        unsupported_naming(
            ContainerCreateBody {
                volumes: Some(vec!["/data".into()]),
                ..Default::default()
            },
            "-v /data (anonymous volume)",
        );
    }

    #[test]
    fn healthcheck_none_is_fine() {
        let hc = HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        };
        assert!(check_create(&ContainerCreateBody {
            healthcheck: Some(hc),
            ..Default::default()
        })
        .is_ok());
    }

    #[test]
    fn dockerd_validation_messages() {
        let err = |hc: HostConfig| check_create(&with_hc(hc)).unwrap_err().to_string();
        assert_eq!(
            err(HostConfig {
                memory: Some(1024),
                ..Default::default()
            }),
            "Minimum memory limit allowed is 6MB"
        );
        let p = RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: Some(3),
        };
        assert_eq!(
            err(HostConfig {
                restart_policy: Some(p),
                ..Default::default()
            }),
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        );
        assert_eq!(
            err(HostConfig {
                nano_cpus: Some(1_000_000_000),
                cpu_period: Some(50_000),
                ..Default::default()
            }),
            "Conflicting options: Nano CPUs and CPU Period cannot both be set"
        );
        assert_eq!(
            err(HostConfig {
                oom_score_adj: Some(1001),
                ..Default::default()
            }),
            "Invalid value 1001, range for oom score adj is [-1000, 1000]"
        );
        assert_eq!(
            err(HostConfig {
                cap_add: Some(vec!["BOGUS".into()]),
                ..Default::default()
            }),
            "invalid CapAdd: unknown capability: \"CAP_BOGUS\""
        );
        assert_eq!(
            err(HostConfig { network_mode: Some("host".into()), links: Some(vec!["a:b".into()]), ..Default::default() }),
            "conflicting options: host type networking can't be used with links. This would result in undefined behavior"
        );
        assert_eq!(
            err(HostConfig {
                security_opt: Some(vec!["bogus".into()]),
                ..Default::default()
            }),
            "invalid --security-opt 1: \"bogus\""
        );
        let e = check_create(&ContainerCreateBody {
            env: Some(vec!["=x".into()]),
            ..Default::default()
        });
        assert_eq!(
            e.unwrap_err().to_string(),
            "invalid environment variable: =x"
        );
        let e = check_create(&ContainerCreateBody {
            working_dir: Some("rel".into()),
            ..Default::default()
        });
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("needs to be an absolute path"));
        let e = check_create(&ContainerCreateBody {
            stop_signal: Some("SIGFOO".into()),
            ..Default::default()
        });
        assert_eq!(e.unwrap_err().to_string(), "Invalid signal: SIGFOO");
        assert!(
            validate_signal("SIGRTMIN+3").is_ok()
                && validate_signal("9").is_ok()
                && validate_signal("term").is_ok()
        );
    }

    #[test]
    fn host_mode_discards_ports_with_a_warning() {
        let pb = [(
            "80/tcp".to_string(),
            Some(vec![PortBinding {
                host_ip: None,
                host_port: Some("80".into()),
            }]),
        )];
        let c = with_hc(HostConfig {
            network_mode: Some("host".into()),
            port_bindings: Some(pb.into()),
            ..Default::default()
        });
        assert_eq!(
            check_create(&c).unwrap(),
            vec!["Published ports are discarded when using host network mode".to_string()]
        );
    }

    #[test]
    fn unknown_log_driver_in_dockers_words() {
        let body = |driver: &str| ContainerCreateBody {
            host_config: Some(HostConfig {
                log_config: Some(HostConfigLogConfig {
                    typ: Some(driver.into()),
                    config: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = check_create(&body("asdf")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "logger: no log driver named 'asdf' is registered"
        );
        assert!(matches!(
            check_create(&body("syslog")),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn image_volumes_and_healthchecks_need_no_warning() {
        let img: ImageContainerConfig = serde_json::from_str(
            r#"{"Volumes":{"/var/lib/db":{}},"Healthcheck":{"Test":["CMD","true"]}}"#,
        )
        .unwrap();
        // Volumes and healthchecks are honoured: nothing to warn about.
        assert!(image_warnings(&img).is_empty());
        let hc = ContainerCreateBody {
            healthcheck: Some(HealthConfig {
                test: Some(vec!["CMD".into(), "true".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(check_create(&hc).is_ok());
    }
}
