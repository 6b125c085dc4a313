//! The container state machine: the only code that decides a container's status.
//!
//! [`apply`] is pure: it takes the record as it is, one [`Transition`] and the time, and
//! returns the record as it must become plus the [`Effect`]s the manager then carries out
//! (persist, report an event, wake waiters, schedule a restart, remove). The manager runs it
//! under the container's operation lock only (see `Manager::transition`), so two transitions
//! of one container never interleave and no other code writes `state.status`.
//!
//! The states are dockerd's: created, running, paused, restarting, removing, exited, dead.
//! As in moby, a container waiting to be restarted by its policy counts as running for the
//! checks around rm/stop/kill ("restarting"), with no process.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use spec::api::models::{HostConfig, RestartPolicyNameEnum};

use super::record::{Record, Status};

#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The runtime started the init process (`start` returned its pid).
    Started {
        pid: u32,
        init_process: Option<serde_json::Value>,
        /// `--network container:NAME`: the container joined.
        network_donor: Option<super::record::NetworkDonor>,
    },
    /// The container could not be started; nothing of the attempt is left in the runtime.
    StartFailed {
        error: String,
        exit_code: i64,
    },
    /// The init process exited: from the runtime's event, or found by a reconcile.
    Exited {
        /// The exited process's pid, 0 when unknown (a reconcile).
        pid: u32,
        exit_code: i64,
        /// The runtime's time for the exit; `None` or an implausible time means now.
        at: Option<DateTime<Utc>>,
    },
    /// A user stopped or killed the container: its policy does not bring it back, and a
    /// pending restart is cancelled.
    StopRequested,
    Paused,
    Resumed,
    Oom,
    RemovalStarted {
        force: bool,
    },
    RemovalFailed {
        error: String,
    },
    Removed,
    /// A health probe finished (see `health`).
    HealthProbed {
        result: super::health::ProbeResult,
        probe: super::health::Probe,
    },
    Renamed {
        name: String,
    },
    HostConfigUpdated {
        host_config: Box<HostConfig>,
    },
    /// `network connect`/`disconnect`: the networks the container is configured for
    /// (`NetworkingConfig.EndpointsConfig` of its request). The network events come from
    /// the network provider, which knows when an endpoint really joins or leaves.
    NetworksChanged {
        endpoints: HashMap<String, spec::api::models::EndpointSettings>,
        /// Whether the container is off the network its mode names.
        mode_left: bool,
    },
}

/// What the manager does after a transition, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Write the record to disk.
    Persist,
    /// Delete the record from disk and from the index.
    Forget,
    /// Report a container event (the manager adds the actor's attributes).
    Event {
        action: String,
        attrs: HashMap<String, String>,
    },
    /// Tell waiters (`docker wait`, stop, kill).
    Notify(Notice),
    /// Start again after the delay, unless a transition cancelled it meanwhile.
    ScheduleRestart(Duration),
    /// `--rm`: remove the container now that it exited.
    AutoRemove,
    /// Run the healthcheck's probes for this run.
    MonitorHealth(super::health::Probe),
    /// The task is gone: runtime-side resources of the run (network attachment) go too.
    ReleaseRun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Running,
    Exited(i64),
    Removed,
}

/// Why a transition does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing to do (dockerd's 304).
    NotModified(&'static str),
    /// Not in this state (409), with dockerd's message.
    Conflict(String),
    /// A runtime report that is not news (a late exit of an earlier run, a second exit):
    /// dropped silently.
    Stale,
}

#[derive(Debug, Clone)]
pub struct Applied {
    pub record: Record,
    pub effects: Vec<Effect>,
}

/// Whether a start may go ahead (checked before any runtime work).
pub fn check_start(rec: &Record) -> Result<(), Refusal> {
    match rec.state.status {
        Status::Running | Status::Paused | Status::Restarting => {
            Err(Refusal::NotModified("started"))
        }
        Status::Removing | Status::Dead => Err(Refusal::Conflict(format!(
            "container {} is marked for removal and cannot be started",
            rec.id
        ))),
        Status::Created | Status::Exited => Ok(()),
    }
}

/// Whether a signal may be sent. A restarting container has no process: the caller applies
/// [`Transition::StopRequested`] and is done.
pub fn check_signal(rec: &Record) -> Result<(), Refusal> {
    if rec.state.status.is_running() {
        Ok(())
    } else {
        Err(Refusal::Conflict(format!(
            "Container {} is not running",
            rec.id
        )))
    }
}

/// moby's `errContainerIsRestarting`.
pub fn restarting_conflict(id: &str) -> Refusal {
    Refusal::Conflict(format!(
        "Container {id} is restarting, wait until the container is running"
    ))
}

pub fn apply(rec: &Record, t: Transition, now: DateTime<Utc>) -> Result<Applied, Refusal> {
    let mut r = rec.clone();
    let status = rec.state.status;
    let event = |action: &str| Effect::Event {
        action: action.to_string(),
        attrs: HashMap::new(),
    };
    let effects = match t {
        Transition::Started {
            pid,
            init_process,
            network_donor,
        } => {
            // The restart policy's start of a restarting container lands here too.
            if status != Status::Restarting {
                check_start(rec)?;
            }
            r.state.status = Status::Running;
            r.state.pid = pid;
            r.state.started_at = Some(now);
            r.state.error.clear();
            r.state.exit_code = 0;
            r.state.oom_killed = false;
            r.has_been_manually_stopped = false;
            r.init_process = init_process;
            if let Some(d) = network_donor {
                // dockerd's initializeNetworking: the joined container's names and files.
                r.config.hostname = Some(d.hostname);
                r.config.domainname = d.domainname;
                r.network_donor = Some(d.id);
            }
            let probe = super::health::probe_of(&r.config);
            r.state.health = probe
                .as_ref()
                .map(|_| super::health::at_start(rec.state.health.as_ref()));
            let mut fx = vec![
                Effect::Persist,
                Effect::Notify(Notice::Running),
                event("start"),
            ];
            fx.extend(probe.map(Effect::MonitorHealth));
            fx
        }
        Transition::StartFailed { error, exit_code } => {
            if status.is_live() {
                return Err(Refusal::Stale);
            }
            // A container that ran before keeps "exited"; a restart that failed ends the
            // restart loop there too, as dockerd's restart goroutine sets it stopped.
            r.state.status = if rec.state.started_at.is_some() {
                Status::Exited
            } else {
                Status::Created
            };
            r.state.error = error;
            r.state.exit_code = exit_code;
            r.state.pid = 0;
            let mut fx = vec![Effect::Persist];
            if status == Status::Restarting {
                r.state.finished_at = Some(now);
                fx.push(Effect::Notify(Notice::Exited(exit_code)));
                if r.host_config.auto_remove.unwrap_or(false) {
                    fx.push(Effect::AutoRemove);
                }
            }
            fx
        }
        Transition::Exited { pid, exit_code, at } => {
            if !status.is_live() {
                return Err(Refusal::Stale);
            }
            // An exit of an earlier run delivered late (containerd's shim retries its
            // events while containerd is down) must not end the current run.
            if pid != 0 && rec.state.pid != 0 && pid != rec.state.pid {
                return Err(Refusal::Stale);
            }
            let started = rec.state.started_at;
            // A zero or pre-start time from the runtime is not an exit time.
            let at = at
                .filter(|t| t.timestamp() > 0 && started.is_none_or(|s| *t >= s))
                .unwrap_or(now);
            r.state.exit_code = exit_code;
            r.state.pid = 0;
            r.state.finished_at = Some(at);
            let die = translate::events::runtime_action(
                &translate::events::RuntimeEvent::Exit {
                    exec_id: None,
                    exit_code,
                },
                started.and_then(|s| s.timestamp_nanos_opt()),
                at.timestamp_nanos_opt().unwrap_or_default(),
            );
            let mut fx = vec![
                Effect::ReleaseRun,
                Effect::Persist,
                Effect::Event {
                    action: die.action(),
                    attrs: die.attributes(),
                },
                Effect::Notify(Notice::Exited(exit_code)),
            ];
            if let Some(delay) = restart_delay(rec, exit_code, at) {
                r.state.status = Status::Restarting;
                r.restart_count = r.restart_count.saturating_add(1);
                fx.push(Effect::ScheduleRestart(delay));
            } else {
                r.state.status = Status::Exited;
                if r.host_config.auto_remove.unwrap_or(false) {
                    fx.push(Effect::AutoRemove);
                }
            }
            fx
        }
        Transition::StopRequested => {
            r.has_been_manually_stopped = true;
            if status == Status::Restarting {
                // The pending restart is cancelled: the container is simply exited.
                r.state.status = Status::Exited;
                let mut fx = vec![Effect::Persist];
                if r.host_config.auto_remove.unwrap_or(false) {
                    fx.push(Effect::AutoRemove);
                }
                fx
            } else {
                vec![Effect::Persist]
            }
        }
        Transition::Paused => match status {
            Status::Running => {
                r.state.status = Status::Paused;
                vec![Effect::Persist, event("pause")]
            }
            Status::Paused => {
                return Err(Refusal::Conflict(format!(
                    "Container {} is already paused",
                    rec.id
                )))
            }
            Status::Restarting => return Err(restarting_conflict(&rec.id)),
            _ => {
                return Err(Refusal::Conflict(format!(
                    "Container {} is not running",
                    rec.id
                )))
            }
        },
        Transition::Resumed => {
            if status != Status::Paused {
                return Err(Refusal::Conflict(format!(
                    "Container {} is not paused",
                    rec.id
                )));
            }
            r.state.status = Status::Running;
            vec![Effect::Persist, event("unpause")]
        }
        Transition::Oom => {
            r.state.oom_killed = true;
            vec![Effect::Persist, event("oom")]
        }
        Transition::RemovalStarted { force } => {
            if status == Status::Removing {
                return Err(Refusal::Conflict(format!(
                    "removal of container {} is already in progress",
                    rec.id
                )));
            }
            if status.is_running() {
                // Forced removal kills first; a container still running here came back.
                let procedure = if status == Status::Paused {
                    "Unpause and then stop the container before attempting removal or force remove"
                } else {
                    "Stop the container before attempting removal or force remove"
                };
                let _ = force;
                return Err(Refusal::Conflict(format!(
                    "You cannot remove a {} container {}. {procedure}",
                    status.as_str(),
                    rec.id
                )));
            }
            r.state.status = Status::Removing;
            Vec::new()
        }
        Transition::RemovalFailed { error } => {
            if status != Status::Removing {
                return Err(Refusal::Stale);
            }
            // As dockerd: a container whose removal failed half-way is dead, never started
            // again, and can be removed again.
            r.state.status = Status::Dead;
            r.state.error = error;
            vec![Effect::Persist]
        }
        Transition::Removed => {
            if status != Status::Removing {
                return Err(Refusal::Stale);
            }
            vec![
                Effect::Forget,
                Effect::Notify(Notice::Removed),
                event("destroy"),
            ]
        }
        Transition::HealthProbed { result, probe } => {
            if !status.is_live() {
                return Err(Refusal::Stale);
            }
            let started = rec.state.started_at;
            let Some(h) = r.state.health.as_mut() else {
                return Err(Refusal::Stale);
            };
            let mut fx = vec![Effect::Persist];
            if super::health::record(h, result, &probe, started) {
                let (action, attrs) = super::health::event(h.status);
                fx.push(Effect::Event { action, attrs });
            }
            fx
        }
        Transition::Renamed { name } => {
            let old = std::mem::replace(&mut r.name, name);
            vec![
                Effect::Persist,
                Effect::Event {
                    action: "rename".into(),
                    attrs: HashMap::from([("oldName".to_string(), old)]),
                },
            ]
        }
        Transition::NetworksChanged {
            endpoints,
            mode_left,
        } => {
            r.network_mode_left = mode_left;
            let body = r.request.get_or_insert_with(Default::default);
            body.networking_config
                .get_or_insert_with(Default::default)
                .endpoints_config = Some(endpoints);
            vec![Effect::Persist]
        }
        Transition::HostConfigUpdated { host_config } => {
            r.host_config = *host_config;
            vec![Effect::Persist, event("update")]
        }
    };
    Ok(Applied { record: r, effects })
}

/// Whether the restart policy brings the container back after this exit, and after how
/// long: as dockerd's restart manager, 100 ms doubling per restart up to a minute, back to
/// 100 ms once a run lasted 10 s; never after a user stopped it; `on-failure` only for
/// non-zero codes and up to its retry count.
pub fn restart_delay(rec: &Record, exit_code: i64, exited: DateTime<Utc>) -> Option<Duration> {
    if rec.has_been_manually_stopped {
        return None;
    }
    let p = rec.host_config.restart_policy.as_ref()?;
    let restart = match p.name {
        Some(RestartPolicyNameEnum::ALWAYS) | Some(RestartPolicyNameEnum::UNLESS_STOPPED) => true,
        Some(RestartPolicyNameEnum::ON_FAILURE) => {
            let max = p.maximum_retry_count.unwrap_or(0);
            exit_code != 0 && (max == 0 || rec.restart_count < max)
        }
        _ => false,
    };
    if !restart {
        return None;
    }
    let ran_long = rec
        .state
        .started_at
        .is_some_and(|s| (exited - s).num_seconds() >= 10);
    if ran_long {
        return Some(Duration::from_millis(100));
    }
    let n = u32::try_from(rec.restart_count.clamp(0, 10)).unwrap_or(10);
    Some((Duration::from_millis(100) * 2u32.pow(n)).min(Duration::from_secs(60)))
}

/// Whether a container that was running when the daemon stopped comes back at boot.
pub fn restarts_at_boot(rec: &Record) -> bool {
    let wants = matches!(
        rec.host_config.restart_policy.as_ref().and_then(|p| p.name),
        Some(RestartPolicyNameEnum::ALWAYS) | Some(RestartPolicyNameEnum::UNLESS_STOPPED)
    );
    wants
        && !rec.has_been_manually_stopped
        && !rec.state.status.is_live()
        && rec.state.started_at.is_some()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::containers::record::State;
    use chrono::TimeZone;
    use spec::api::models::{ContainerConfig, RestartPolicy};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    pub(crate) fn record(status: Status) -> Record {
        Record {
            id: "c1".into(),
            name: "/c1".into(),
            created: t(0),
            image_ref: "busybox".into(),
            image_id: "sha256:i".into(),
            config: ContainerConfig::default(),
            host_config: HostConfig::default(),
            state: State {
                status,
                ..State::default()
            },
            backend: "containerd".into(),
            platform: Default::default(),
            restart_count: 0,
            rootfs_key: "c1".into(),
            snapshotter: "overlayfs".into(),
            path: "sh".into(),
            args: vec![],
            has_been_manually_stopped: false,
            warnings: vec![],
            init_process: None,
            request: None,
            volumes: vec![],
            inherited_binds: vec![],
            network_donor: None,
            network_mode_left: false,
        }
    }

    fn with_policy(mut r: Record, name: RestartPolicyNameEnum, max: i64) -> Record {
        r.host_config.restart_policy = Some(RestartPolicy {
            name: Some(name),
            maximum_retry_count: Some(max),
        });
        r
    }

    fn running(pid: u32) -> Record {
        let mut r = record(Status::Running);
        r.state.pid = pid;
        r.state.started_at = Some(t(1));
        r
    }

    fn actions(a: &Applied) -> Vec<String> {
        a.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Event { action, .. } => Some(action.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn start_from_created_and_exited_only() {
        for s in [Status::Created, Status::Exited] {
            let a = apply(
                &record(s),
                Transition::Started {
                    pid: 42,
                    init_process: None,
                    network_donor: None,
                },
                t(5),
            )
            .unwrap();
            assert_eq!(a.record.state.status, Status::Running);
            assert_eq!(a.record.state.pid, 42);
            assert_eq!(a.record.state.started_at, Some(t(5)));
            assert!(a.effects.contains(&Effect::Notify(Notice::Running)));
            assert_eq!(actions(&a), ["start"]);
        }
        for s in [Status::Running, Status::Paused, Status::Restarting] {
            assert_eq!(
                check_start(&record(s)),
                Err(Refusal::NotModified("started"))
            );
        }
        // The policy's own start of a restarting container.
        let a = apply(
            &record(Status::Restarting),
            Transition::Started {
                pid: 7,
                init_process: None,
                network_donor: None,
            },
            t(6),
        )
        .unwrap();
        assert_eq!(a.record.state.status, Status::Running);
        for s in [Status::Removing, Status::Dead] {
            assert!(matches!(check_start(&record(s)), Err(Refusal::Conflict(_))));
        }
    }

    #[test]
    fn start_failure_keeps_created_or_exited() {
        let a = apply(
            &record(Status::Created),
            Transition::StartFailed {
                error: "boom".into(),
                exit_code: 127,
            },
            t(2),
        )
        .unwrap();
        assert_eq!(a.record.state.status, Status::Created);
        assert_eq!(a.record.state.exit_code, 127);
        assert_eq!(a.record.state.error, "boom");
        let mut ran = record(Status::Exited);
        ran.state.started_at = Some(t(1));
        let a = apply(
            &ran,
            Transition::StartFailed {
                error: "x".into(),
                exit_code: 128,
            },
            t(2),
        )
        .unwrap();
        assert_eq!(a.record.state.status, Status::Exited);
        // A failed restart by policy ends the loop and wakes waiters.
        let mut restarting = record(Status::Restarting);
        restarting.state.started_at = Some(t(1));
        let a = apply(
            &restarting,
            Transition::StartFailed {
                error: "x".into(),
                exit_code: 127,
            },
            t(3),
        )
        .unwrap();
        assert_eq!(a.record.state.status, Status::Exited);
        assert!(a.effects.contains(&Effect::Notify(Notice::Exited(127))));
    }

    #[test]
    fn exit_records_code_and_reports_die() {
        let a = apply(
            &running(42),
            Transition::Exited {
                pid: 42,
                exit_code: 3,
                at: Some(t(4)),
            },
            t(9),
        )
        .unwrap();
        assert_eq!(a.record.state.status, Status::Exited);
        assert_eq!(a.record.state.exit_code, 3);
        assert_eq!(a.record.state.pid, 0);
        assert_eq!(a.record.state.finished_at, Some(t(4)));
        assert_eq!(actions(&a), ["die"]);
        assert!(a.effects.contains(&Effect::Notify(Notice::Exited(3))));
        assert!(a.effects.contains(&Effect::ReleaseRun));
        assert!(!a.effects.contains(&Effect::AutoRemove));
    }

    #[test]
    fn exit_time_before_start_is_replaced_by_now() {
        let a = apply(
            &running(42),
            Transition::Exited {
                pid: 0,
                exit_code: 0,
                at: Some(t(-5)),
            },
            t(9),
        )
        .unwrap();
        assert_eq!(a.record.state.finished_at, Some(t(9)));
    }

    #[test]
    fn late_or_second_exits_are_stale() {
        // Another run's pid.
        let e = apply(
            &running(42),
            Transition::Exited {
                pid: 7,
                exit_code: 1,
                at: None,
            },
            t(2),
        );
        assert!(matches!(e, Err(Refusal::Stale)));
        // Already exited: the exit of the same run reported twice (event and reconcile).
        for s in [
            Status::Exited,
            Status::Created,
            Status::Removing,
            Status::Dead,
        ] {
            let e = apply(
                &record(s),
                Transition::Exited {
                    pid: 0,
                    exit_code: 1,
                    at: None,
                },
                t(2),
            );
            assert!(matches!(e, Err(Refusal::Stale)));
        }
        // A restarting container has no process: an exit for it is stale.
        let e = apply(
            &record(Status::Restarting),
            Transition::Exited {
                pid: 0,
                exit_code: 1,
                at: None,
            },
            t(2),
        );
        assert!(matches!(e, Err(Refusal::Stale)));
    }

    #[test]
    fn paused_container_exit_is_recorded() {
        let mut r = running(42);
        r.state.status = Status::Paused;
        let a = apply(
            &r,
            Transition::Exited {
                pid: 42,
                exit_code: 137,
                at: None,
            },
            t(2),
        )
        .unwrap();
        assert_eq!(a.record.state.status, Status::Exited);
    }

    #[test]
    fn policy_exit_goes_to_restarting_with_backoff() {
        let r = with_policy(running(42), RestartPolicyNameEnum::ALWAYS, 0);
        let a = apply(
            &r,
            Transition::Exited {
                pid: 42,
                exit_code: 0,
                at: Some(t(2)),
            },
            t(2),
        )
        .unwrap();
        assert_eq!(a.record.state.status, Status::Restarting);
        assert_eq!(a.record.restart_count, 1);
        assert!(a
            .effects
            .contains(&Effect::ScheduleRestart(Duration::from_millis(100))));
        // die is reported and waiters wake, as dockerd's SetRestarting does.
        assert_eq!(actions(&a), ["die"]);
        assert!(a.effects.contains(&Effect::Notify(Notice::Exited(0))));
        // Doubling, capped at a minute.
        let mut r3 = r.clone();
        r3.restart_count = 3;
        assert_eq!(
            restart_delay(&r3, 0, t(2)),
            Some(Duration::from_millis(800))
        );
        r3.restart_count = 30;
        assert_eq!(restart_delay(&r3, 0, t(2)), Some(Duration::from_secs(60)));
        // A long run resets the backoff.
        assert_eq!(
            restart_delay(&r3, 0, t(20)),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn on_failure_honours_code_and_retry_count() {
        let r = with_policy(running(1), RestartPolicyNameEnum::ON_FAILURE, 2);
        assert_eq!(restart_delay(&r, 0, t(2)), None);
        assert!(restart_delay(&r, 1, t(2)).is_some());
        let mut spent = r.clone();
        spent.restart_count = 2;
        assert_eq!(restart_delay(&spent, 1, t(2)), None);
        let mut stopped = with_policy(running(1), RestartPolicyNameEnum::ALWAYS, 0);
        stopped.has_been_manually_stopped = true;
        assert_eq!(restart_delay(&stopped, 1, t(2)), None);
        let no = with_policy(running(1), RestartPolicyNameEnum::NO, 0);
        assert_eq!(restart_delay(&no, 1, t(2)), None);
    }

    #[test]
    fn auto_remove_after_exit() {
        let mut r = running(5);
        r.host_config.auto_remove = Some(true);
        let a = apply(
            &r,
            Transition::Exited {
                pid: 5,
                exit_code: 0,
                at: None,
            },
            t(2),
        )
        .unwrap();
        assert_eq!(a.effects.last(), Some(&Effect::AutoRemove));
    }

    #[test]
    fn stop_cancels_a_pending_restart() {
        let mut r = with_policy(record(Status::Restarting), RestartPolicyNameEnum::ALWAYS, 0);
        r.state.exit_code = 1;
        let a = apply(&r, Transition::StopRequested, t(3)).unwrap();
        assert_eq!(a.record.state.status, Status::Exited);
        assert!(a.record.has_been_manually_stopped);
        assert_eq!(a.record.state.exit_code, 1);
        // A running container only remembers it was stopped by hand.
        let a = apply(&running(3), Transition::StopRequested, t(3)).unwrap();
        assert_eq!(a.record.state.status, Status::Running);
        assert!(a.record.has_been_manually_stopped);
    }

    #[test]
    fn pause_and_resume() {
        let a = apply(&running(3), Transition::Paused, t(1)).unwrap();
        assert_eq!(a.record.state.status, Status::Paused);
        assert_eq!(actions(&a), ["pause"]);
        let b = apply(&a.record, Transition::Resumed, t(1)).unwrap();
        assert_eq!(b.record.state.status, Status::Running);
        assert_eq!(actions(&b), ["unpause"]);
        assert!(matches!(
            apply(&a.record, Transition::Paused, t(1)),
            Err(Refusal::Conflict(m)) if m.contains("already paused")
        ));
        assert!(matches!(
            apply(&record(Status::Exited), Transition::Paused, t(1)),
            Err(Refusal::Conflict(m)) if m.contains("is not running")
        ));
        assert!(matches!(
            apply(&record(Status::Restarting), Transition::Paused, t(1)),
            Err(Refusal::Conflict(m)) if m.contains("is restarting")
        ));
        assert!(matches!(
            apply(&running(3), Transition::Resumed, t(1)),
            Err(Refusal::Conflict(m)) if m.contains("is not paused")
        ));
    }

    #[test]
    fn removal_refused_while_running_restarting_or_paused() {
        for (s, word) in [
            (Status::Running, "running"),
            (Status::Restarting, "restarting"),
            (Status::Paused, "paused"),
        ] {
            match apply(
                &record(s),
                Transition::RemovalStarted { force: false },
                t(1),
            ) {
                Err(Refusal::Conflict(m)) => {
                    assert!(m.starts_with(&format!("You cannot remove a {word} container c1.")))
                }
                other => panic!("{s:?}: {other:?}"),
            }
        }
        let e = apply(
            &record(Status::Removing),
            Transition::RemovalStarted { force: true },
            t(1),
        );
        assert!(matches!(e, Err(Refusal::Conflict(m)) if m.contains("already in progress")));
    }

    #[test]
    fn removal_succeeds_or_leaves_dead() {
        for s in [Status::Created, Status::Exited, Status::Dead] {
            let a = apply(
                &record(s),
                Transition::RemovalStarted { force: false },
                t(1),
            )
            .unwrap();
            assert_eq!(a.record.state.status, Status::Removing);
            let done = apply(&a.record, Transition::Removed, t(1)).unwrap();
            assert_eq!(
                done.effects,
                vec![
                    Effect::Forget,
                    Effect::Notify(Notice::Removed),
                    Effect::Event {
                        action: "destroy".into(),
                        attrs: HashMap::new()
                    }
                ]
            );
            let failed = apply(
                &a.record,
                Transition::RemovalFailed {
                    error: "busy".into(),
                },
                t(1),
            )
            .unwrap();
            assert_eq!(failed.record.state.status, Status::Dead);
            assert!(check_start(&failed.record).is_err());
        }
        assert!(matches!(
            apply(&record(Status::Exited), Transition::Removed, t(1)),
            Err(Refusal::Stale)
        ));
    }

    #[test]
    fn rename_and_update_persist_and_report() {
        let a = apply(
            &record(Status::Created),
            Transition::Renamed {
                name: "/new".into(),
            },
            t(1),
        )
        .unwrap();
        assert_eq!(a.record.name, "/new");
        assert_eq!(
            a.effects[1],
            Effect::Event {
                action: "rename".into(),
                attrs: HashMap::from([("oldName".to_string(), "/c1".to_string())])
            }
        );
        let hc = HostConfig {
            memory: Some(1 << 20),
            ..Default::default()
        };
        let a = apply(
            &record(Status::Running),
            Transition::HostConfigUpdated {
                host_config: Box::new(hc),
            },
            t(1),
        )
        .unwrap();
        assert_eq!(a.record.host_config.memory, Some(1 << 20));
        assert_eq!(a.effects[0], Effect::Persist);
    }

    #[test]
    fn boot_restart_rules() {
        let mut r = with_policy(record(Status::Exited), RestartPolicyNameEnum::ALWAYS, 0);
        assert!(!restarts_at_boot(&r), "never started");
        r.state.started_at = Some(t(1));
        assert!(restarts_at_boot(&r));
        r.has_been_manually_stopped = true;
        assert!(!restarts_at_boot(&r));
    }
}
