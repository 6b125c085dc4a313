//! Building `docker inspect` and `docker ps` JSON from a container record.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use spec::api::models::{
    ContainerInspectResponse, ContainerState, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, ContainerSummaryStateEnum,
    DriverData, EndpointSettings, MountPoint, NetworkSettings,
};

use super::record::{Record, Status};

/// Docker's zero time, which it shows for "never".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn ts(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

pub fn inspect(rec: &Record, paths: &Paths) -> ContainerInspectResponse {
    let s = &rec.state;
    ContainerInspectResponse {
        id: Some(rec.id.clone()),
        created: Some(rec.created.to_rfc3339_opts(SecondsFormat::Nanos, true)),
        path: Some(rec.path.clone()),
        args: Some(rec.args.clone()),
        state: Some(ContainerState {
            status: Some(match s.status {
                Status::Created => ContainerStateStatusEnum::CREATED,
                Status::Running => ContainerStateStatusEnum::RUNNING,
                Status::Paused => ContainerStateStatusEnum::PAUSED,
                Status::Restarting => ContainerStateStatusEnum::RESTARTING,
                Status::Removing => ContainerStateStatusEnum::REMOVING,
                Status::Exited => ContainerStateStatusEnum::EXITED,
                Status::Dead => ContainerStateStatusEnum::DEAD,
            }),
            running: Some(s.status.is_running()),
            paused: Some(s.status == Status::Paused),
            restarting: Some(s.status == Status::Restarting),
            oom_killed: Some(s.oom_killed),
            dead: Some(s.status == Status::Dead),
            pid: Some(i64::from(s.pid)),
            exit_code: Some(s.exit_code),
            error: Some(s.error.clone()),
            started_at: Some(ts(s.started_at)),
            finished_at: Some(ts(s.finished_at)),
            health: s.health.as_ref().map(health_json),
        }),
        image: Some(rec.image_id.clone()),
        resolv_conf_path: Some(paths.resolv_conf.clone()),
        hostname_path: Some(paths.hostname.clone()),
        hosts_path: Some(paths.hosts.clone()),
        log_path: Some(paths.log.clone()),
        name: Some(rec.name.clone()),
        restart_count: Some(rec.restart_count),
        driver: Some(rec.snapshotter.clone()),
        platform: Some(rec.platform.as_str().to_string()),
        mount_label: Some(String::new()),
        process_label: Some(String::new()),
        app_armor_profile: Some(String::new()),
        exec_ids: None,
        host_config: Some(rec.host_config.clone()),
        graph_driver: Some(DriverData {
            name: rec.snapshotter.clone(),
            data: HashMap::new(),
        }),
        mounts: Some(mounts(rec)),
        config: Some(rec.config.clone()),
        network_settings: Some(NetworkSettings {
            sandbox_id: Some(String::new()),
            sandbox_key: Some(String::new()),
            ports: Some(HashMap::new()),
            networks: Some(networks(rec)),
        }),
        ..Default::default()
    }
}

fn health_json(h: &super::health::Health) -> spec::api::models::Health {
    use spec::api::models::{HealthStatusEnum, HealthcheckResult};
    spec::api::models::Health {
        status: Some(match h.status {
            super::health::HealthStatus::Starting => HealthStatusEnum::STARTING,
            super::health::HealthStatus::Healthy => HealthStatusEnum::HEALTHY,
            super::health::HealthStatus::Unhealthy => HealthStatusEnum::UNHEALTHY,
        }),
        failing_streak: Some(h.failing_streak),
        log: Some(
            h.log
                .iter()
                .map(|r| HealthcheckResult {
                    start: Some(r.start.to_rfc3339_opts(SecondsFormat::Nanos, true)),
                    end: Some(r.end.to_rfc3339_opts(SecondsFormat::Nanos, true)),
                    exit_code: Some(r.exit_code),
                    output: Some(r.output.clone()),
                })
                .collect(),
        ),
    }
}

/// Paths of the files dockbridge keeps for a container.
pub struct Paths {
    pub log: String,
    pub hostname: String,
    pub hosts: String,
    pub resolv_conf: String,
}

fn network_name(rec: &Record) -> String {
    match rec.host_config.network_mode.as_deref().unwrap_or("default") {
        // dockerd on Windows: the default network is nat.
        "" | "default" if rec.platform == super::record::Platform::Windows => {
            crate::networks::windows::NAT.to_string()
        }
        "" | "default" | "bridge" => "bridge".to_string(),
        other => other.to_string(),
    }
}

/// The network the mode names, and the further ones the container is configured for
/// (several `--network`s at create, `network connect`), as they were asked for; the
/// network provider fills in the endpoints of a running container.
fn networks(rec: &Record) -> HashMap<String, EndpointSettings> {
    let primary = network_name(rec);
    let mut out = HashMap::new();
    // The namespace of `container:` is another container's: no endpoint of its own. A
    // container disconnected from its mode's network lists it no more (dockerd).
    if !primary.starts_with("container:") && !rec.network_mode_left {
        out.insert(primary.clone(), EndpointSettings::default());
    }
    let configured = rec
        .request
        .as_ref()
        .and_then(|b| b.networking_config.as_ref())
        .and_then(|c| c.endpoints_config.clone())
        .unwrap_or_default();
    for (name, ep) in configured {
        if name == primary {
            // `--ip`/`--ip6` are echoed as asked (dockerd's `IPAMConfig`).
            if let Some(p) = out.get_mut(&primary) {
                p.ipam_config = ep.ipam_config;
            }
            continue;
        }
        // `bridge`: the default bridge joined by `network connect`.
        if matches!(name.as_str(), "" | "default" | "host" | "none") {
            continue;
        }
        out.insert(
            name,
            EndpointSettings {
                ipam_config: ep.ipam_config,
                aliases: ep.aliases,
                ..Default::default()
            },
        );
    }
    out
}

/// Bind mounts from `Binds` and `Mounts`, as `docker inspect` lists them.
pub fn mounts(rec: &Record) -> Vec<MountPoint> {
    let mut out = Vec::new();
    for b in rec.host_config.binds.clone().unwrap_or_default() {
        let parts: Vec<&str> = b.splitn(3, ':').collect();
        // Volume names (not absolute paths) are listed below from the resolved volumes.
        if parts.len() < 2 || !parts[0].starts_with('/') {
            continue;
        }
        let mode = parts.get(2).copied().unwrap_or("");
        let rw = !mode.split(',').any(|o| o == "ro");
        out.push(MountPoint {
            typ: Some("bind".into()),
            source: Some(parts[0].to_string()),
            destination: Some(parts[1].to_string()),
            mode: Some(mode.to_string()),
            rw: Some(rw),
            propagation: Some("rprivate".into()),
            ..Default::default()
        });
    }
    for m in rec.host_config.mounts.clone().unwrap_or_default() {
        let typ = m.typ.map(|t| t.to_string()).unwrap_or_default();
        if typ == "volume" {
            // Listed below from the resolved volumes.
            continue;
        }
        let ro = m.read_only.unwrap_or(false);
        out.push(MountPoint {
            propagation: Some(if typ == "bind" {
                "rprivate".into()
            } else {
                String::new()
            }),
            typ: Some(typ),
            source: Some(m.source.unwrap_or_default()),
            destination: Some(m.target.unwrap_or_default()),
            mode: Some(String::new()),
            rw: Some(!ro),
            ..Default::default()
        });
    }
    for v in &rec.volumes {
        out.push(MountPoint {
            typ: Some("volume".into()),
            name: Some(v.name.clone()),
            source: Some(v.source.clone()),
            destination: Some(v.destination.clone()),
            driver: Some("local".into()),
            mode: Some(v.mode.clone()),
            rw: Some(v.rw),
            propagation: Some(String::new()),
        });
    }
    out
}

/// `docker inspect` as dockerd writes it: every field of its structs is present (Go has
/// no omitted fields there), with the effective defaults the daemon applied, because SDKs
/// index into them (docker-py reads `HostConfig.LogConfig.Type`). `cgroup_v2` decides the
/// default cgroup namespace mode, as in dockerd.
pub fn docker_shape(resp: &ContainerInspectResponse, cgroup_v2: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(resp).unwrap_or_default();
    let privileged = resp
        .host_config
        .as_ref()
        .and_then(|h| h.privileged)
        .unwrap_or(false);
    fill(&mut v, inspect_defaults(cgroup_v2, privileged));
    // dockerd stores the daemon's default driver when the request named none (the CLI
    // sends an empty type).
    if let Some(t) = v.pointer_mut("/HostConfig/LogConfig/Type") {
        if t.as_str() == Some("") {
            *t = "json-file".into();
        }
    }
    let endpoint = serde_json::json!({
        "Aliases": null, "DriverOpts": null, "EndpointID": "", "Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAMConfig": null,
        "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "Links": null,
        "MacAddress": "", "NetworkID": ""
    });
    if let Some(nets) = v
        .pointer_mut("/NetworkSettings/Networks")
        .and_then(|n| n.as_object_mut())
    {
        for ep in nets.values_mut() {
            fill(ep, &endpoint);
        }
    }
    v
}

/// Inspect's `AppArmorProfile`: the profile the container's process gets (empty without
/// AppArmor), as dockerd records it at create.
pub fn apparmor_profile(rec: &Record, host: &translate::linux::lsm::HostLsm) -> String {
    let opts = rec.host_config.security_opt.as_deref().unwrap_or(&[]);
    translate::linux::validate::SecurityOptions::parse(opts)
        .ok()
        .and_then(|s| {
            translate::linux::lsm::apparmor_profile(
                &s,
                rec.host_config.privileged == Some(true),
                host,
            )
        })
        .unwrap_or_default()
}

/// The effective defaults [`docker_shape`] fills in, built once per (cgroup v2, privileged):
/// parsing and building them on every inspect cost more than the rest of the answer.
fn inspect_defaults(cgroup_v2: bool, privileged: bool) -> &'static serde_json::Value {
    static DEFAULTS: std::sync::OnceLock<[serde_json::Value; 4]> = std::sync::OnceLock::new();
    let all = DEFAULTS.get_or_init(|| {
        [(false, false), (false, true), (true, false), (true, true)]
            .map(|(v2, privileged)| build_inspect_defaults(v2, privileged))
    });
    &all[usize::from(cgroup_v2) * 2 + usize::from(privileged)]
}

fn build_inspect_defaults(cgroup_v2: bool, privileged: bool) -> serde_json::Value {
    let paths = |list: &[&str]| -> serde_json::Value {
        if privileged {
            serde_json::Value::Null
        } else {
            list.iter().map(|p| serde_json::Value::from(*p)).collect()
        }
    };
    let config = serde_json::json!({
            "AttachStderr": false, "AttachStdin": false, "AttachStdout": false, "Cmd": null,
            "Domainname": "", "Entrypoint": null, "Env": null, "Hostname": "", "Image": "",
            "Labels": {}, "OnBuild": null, "OpenStdin": false, "StdinOnce": false,
            "Tty": false, "User": "", "Volumes": null, "WorkingDir": ""
    });
    let mut host_config: serde_json::Value =
        serde_json::from_str(HOST_CONFIG_DEFAULTS).unwrap_or_default();
    host_config["CgroupnsMode"] = if cgroup_v2 { "private" } else { "host" }.into();
    host_config["MaskedPaths"] = paths(&translate::linux::namespaces::DEFAULT_MASKED_PATHS);
    host_config["ReadonlyPaths"] = paths(&translate::linux::namespaces::DEFAULT_READONLY_PATHS);
    let network_settings = serde_json::json!({
            "Bridge": "", "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "HairpinMode": false, "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "MacAddress": "", "Networks": {}, "Ports": {},
            "SandboxID": "", "SandboxKey": "", "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null
    });
    serde_json::json!({
        "AppArmorProfile": "", "Args": [], "ExecIDs": null, "Mounts": [], "MountLabel": "",
        "ProcessLabel": "", "RestartCount": 0, "ResolvConfPath": "", "HostnamePath": "",
        "HostsPath": "", "LogPath": "", "Platform": "linux",
        "Config": config, "HostConfig": host_config, "NetworkSettings": network_settings
    })
}

/// dockerd 20.10's `HostConfig` for a create request that set nothing (cgroup namespace
/// mode and masked/read-only paths are filled in by [`docker_shape`]).
const HOST_CONFIG_DEFAULTS: &str = r#"{
    "AutoRemove": false, "Binds": null, "BlkioDeviceReadBps": null,
    "BlkioDeviceReadIOps": null, "BlkioDeviceWriteBps": null, "BlkioDeviceWriteIOps": null,
    "BlkioWeight": 0, "BlkioWeightDevice": null, "CapAdd": null, "CapDrop": null,
    "Cgroup": "", "CgroupParent": "", "ConsoleSize": [0, 0], "ContainerIDFile": "",
    "CpuCount": 0, "CpuPercent": 0, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
    "CpuRealtimeRuntime": 0, "CpuShares": 0, "CpusetCpus": "", "CpusetMems": "",
    "DeviceCgroupRules": null, "DeviceRequests": null, "Devices": null, "Dns": null,
    "DnsOptions": null, "DnsSearch": null, "ExtraHosts": null, "GroupAdd": null,
    "IOMaximumBandwidth": 0, "IOMaximumIOps": 0, "IpcMode": "private", "Isolation": "",
    "KernelMemory": 0, "KernelMemoryTCP": 0, "Links": null,
    "LogConfig": {"Type": "json-file", "Config": {}},
    "Memory": 0, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": null,
    "NanoCpus": 0, "NetworkMode": "default", "OomKillDisable": false, "OomScoreAdj": 0,
    "PidMode": "", "PidsLimit": null, "PortBindings": null, "Privileged": false,
    "PublishAllPorts": false, "ReadonlyRootfs": false,
    "RestartPolicy": {"MaximumRetryCount": 0, "Name": ""}, "Runtime": "runc",
    "SecurityOpt": null, "ShmSize": 67108864, "UTSMode": "", "Ulimits": null,
    "UsernsMode": "", "VolumeDriver": "", "VolumesFrom": null
}"#;

/// Adds what `defaults` has and `v` lacks (or has as null where a default object or
/// value exists for an effective setting), recursively into objects.
fn fill(v: &mut serde_json::Value, defaults: &serde_json::Value) {
    let (Some(obj), Some(defs)) = (v.as_object_mut(), defaults.as_object()) else {
        return;
    };
    for (k, d) in defs {
        match obj.get_mut(k) {
            None => {
                obj.insert(k.clone(), d.clone());
            }
            Some(existing) if existing.is_null() && !d.is_null() => *existing = d.clone(),
            Some(existing) if existing.is_object() && d.is_object() => fill(existing, d),
            Some(_) => {}
        }
    }
}

pub fn summary(rec: &Record, image_display: String, now: DateTime<Utc>) -> ContainerSummary {
    let s = &rec.state;
    // dockerd quotes arguments that contain a space, and only those.
    let mut command = vec![rec.path.clone()];
    command.extend(rec.args.iter().map(|a| {
        if a.contains(' ') {
            format!("'{a}'")
        } else {
            a.clone()
        }
    }));
    ContainerSummary {
        id: Some(rec.id.clone()),
        names: Some(vec![rec.name.clone()]),
        image: Some(image_display),
        image_id: Some(rec.image_id.clone()),
        command: Some(command.join(" ").trim().to_string()),
        created: Some(rec.created.timestamp()),
        ports: Some(Vec::new()),
        labels: Some(rec.config.labels.clone().unwrap_or_default()),
        state: Some(match s.status {
            Status::Created => ContainerSummaryStateEnum::CREATED,
            Status::Running => ContainerSummaryStateEnum::RUNNING,
            Status::Paused => ContainerSummaryStateEnum::PAUSED,
            Status::Restarting => ContainerSummaryStateEnum::RESTARTING,
            Status::Removing => ContainerSummaryStateEnum::REMOVING,
            Status::Exited => ContainerSummaryStateEnum::EXITED,
            Status::Dead => ContainerSummaryStateEnum::DEAD,
        }),
        status: Some(status_text(rec, now)),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some(
                rec.host_config
                    .network_mode
                    .clone()
                    .unwrap_or_else(|| "default".into()),
            ),
            annotations: None,
        }),
        network_settings: Some(ContainerSummaryNetworkSettings {
            networks: Some(networks(rec)),
        }),
        mounts: Some(mounts(rec)),
        ..Default::default()
    }
}

/// `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`, `Up 1 second (Paused)`.
pub fn status_text(rec: &Record, now: DateTime<Utc>) -> String {
    let s = &rec.state;
    match s.status {
        Status::Created => "Created".into(),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human_duration(now - s.finished_at.unwrap_or(now))
        ),
        Status::Running | Status::Paused => {
            let up = human_duration(now - s.started_at.unwrap_or(now));
            match (&s.status, &s.health) {
                (Status::Paused, _) => format!("Up {up} (Paused)"),
                (_, Some(h)) if h.status == super::health::HealthStatus::Starting => {
                    format!("Up {up} (health: starting)")
                }
                (_, Some(h)) => format!("Up {up} ({})", h.status.as_str()),
                _ => format!("Up {up}"),
            }
        }
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Exited => match s.finished_at {
            Some(f) => format!("Exited ({}) {} ago", s.exit_code, human_duration(now - f)),
            None => format!("Exited ({})", s.exit_code),
        },
    }
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let mins = d.num_minutes();
    if mins == 1 {
        return "About a minute".into();
    }
    if mins < 60 {
        return format!("{mins} minutes");
    }
    let hours = (d.num_seconds() as f64 / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn human_durations_match_docker() {
        assert_eq!(
            human_duration(TimeDelta::milliseconds(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(TimeDelta::seconds(1)), "1 second");
        assert_eq!(human_duration(TimeDelta::seconds(42)), "42 seconds");
        assert_eq!(human_duration(TimeDelta::seconds(65)), "About a minute");
        assert_eq!(human_duration(TimeDelta::minutes(5)), "5 minutes");
        assert_eq!(human_duration(TimeDelta::minutes(61)), "About an hour");
        assert_eq!(human_duration(TimeDelta::hours(5)), "5 hours");
        assert_eq!(human_duration(TimeDelta::days(3)), "3 days");
    }
}
