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
            health: None,
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

/// Paths of the files dockbridge keeps for a container.
pub struct Paths {
    pub log: String,
    pub hostname: String,
    pub hosts: String,
    pub resolv_conf: String,
}

fn network_name(rec: &Record) -> String {
    match rec.host_config.network_mode.as_deref().unwrap_or("default") {
        "" | "default" | "bridge" => "bridge".to_string(),
        other => other.to_string(),
    }
}

fn networks(rec: &Record) -> HashMap<String, EndpointSettings> {
    HashMap::from([(network_name(rec), EndpointSettings::default())])
}

/// Bind mounts from `Binds` and `Mounts`, as `docker inspect` lists them.
pub fn mounts(rec: &Record) -> Vec<MountPoint> {
    let mut out = Vec::new();
    for b in rec.host_config.binds.clone().unwrap_or_default() {
        let parts: Vec<&str> = b.splitn(3, ':').collect();
        if parts.len() < 2 {
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
    out
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
        Status::Running | Status::Paused | Status::Restarting => {
            let up = human_duration(now - s.started_at.unwrap_or(now));
            if s.status == Status::Paused {
                format!("Up {up} (Paused)")
            } else {
                format!("Up {up}")
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
