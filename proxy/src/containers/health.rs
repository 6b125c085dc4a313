//! Healthchecks as dockerd runs them: the probe from the merged config (`CMD`, `CMD-SHELL`,
//! `NONE`), run as an exec process every interval with a timeout that kills it; the result
//! kept in `State.Health` (status, failing streak, the last five results with output cut at
//! 4096 bytes) and a `health_status: …` event whenever the status changes.
//!
//! The rules (which probe, how a result changes the health) are pure and unit-tested; the
//! monitor task at the bottom runs probes through the manager's exec machinery and applies
//! each result as a lifecycle transition, under the container's operation lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use spec::api::models::{ContainerConfig, ExecConfig, HealthConfig};

use super::record::Status;
use super::{Container, Manager};

/// dockerd's limits and defaults (`daemon/health.go`).
pub const MAX_OUTPUT_LEN: usize = 4096;
pub const MAX_LOG_ENTRIES: usize = 5;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result, as `State.Health.Log` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub exit_code: i64,
    pub output: String,
}

/// `State.Health`, persisted with the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: i64,
    pub log: Vec<ProbeResult>,
}

/// What to run and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    /// Between probes during the start period (API ≥ 1.44); `None`: the interval.
    pub start_interval: Option<Duration>,
    pub retries: i64,
}

fn duration(ns: Option<i64>) -> Option<Duration> {
    ns.filter(|n| *n > 0)
        .and_then(|n| u64::try_from(n).ok())
        .map(Duration::from_nanos)
}

/// The probe of a container's merged config; `None` without a healthcheck, with `NONE`,
/// or with a test type dockerd does not know (it only warns about those).
pub fn probe_of(config: &ContainerConfig) -> Option<Probe> {
    let hc: &HealthConfig = config.healthcheck.as_ref()?;
    let test = hc.test.as_deref()?;
    let (kind, rest) = test.split_first()?;
    let argv = match kind.as_str() {
        "CMD" => rest.to_vec(),
        "CMD-SHELL" => {
            let mut shell = config
                .shell
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            shell.extend(rest.iter().cloned());
            shell
        }
        _ => return None,
    };
    if argv.is_empty() {
        return None;
    }
    Some(Probe {
        argv,
        interval: duration(hc.interval).unwrap_or(DEFAULT_INTERVAL),
        timeout: duration(hc.timeout).unwrap_or(DEFAULT_TIMEOUT),
        start_period: duration(hc.start_period).unwrap_or_default(),
        start_interval: duration(hc.start_interval),
        retries: hc.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
    })
}

/// The health a container starts a run with: `starting`, keeping the earlier log.
pub fn at_start(previous: Option<&Health>) -> Health {
    Health {
        status: HealthStatus::Starting,
        failing_streak: 0,
        log: previous.map(|h| h.log.clone()).unwrap_or_default(),
    }
}

/// Applies one result, as dockerd's `handleProbeResult`: success makes healthy; a failure
/// counts towards `retries` (not while still starting within the start period) and makes
/// unhealthy at the limit. Returns whether the status changed.
pub fn record(
    h: &mut Health,
    result: ProbeResult,
    probe: &Probe,
    started_at: Option<DateTime<Utc>>,
) -> bool {
    let before = h.status;
    let in_start_period = h.status == HealthStatus::Starting
        && started_at.is_some_and(|s| {
            (result.start - s)
                .to_std()
                .is_ok_and(|since| since < probe.start_period)
        });
    let success = result.exit_code == 0;
    h.log.push(result);
    if h.log.len() > MAX_LOG_ENTRIES {
        let excess = h.log.len() - MAX_LOG_ENTRIES;
        h.log.drain(..excess);
    }
    if success {
        h.failing_streak = 0;
        h.status = HealthStatus::Healthy;
    } else if !in_start_period {
        h.failing_streak += 1;
        if h.failing_streak >= probe.retries {
            h.status = HealthStatus::Unhealthy;
        }
    }
    h.status != before
}

/// Collects probe output up to dockerd's limit; `...` marks what was cut.
#[derive(Debug, Default)]
pub struct LimitedOutput {
    buf: Vec<u8>,
    truncated: bool,
}

impl LimitedOutput {
    pub fn push(&mut self, data: &[u8]) {
        let keep = MAX_OUTPUT_LEN
            .saturating_sub(self.buf.len())
            .min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        if keep < data.len() {
            self.truncated = true;
        }
    }
    pub fn finish(self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

/// Go's `time.Duration` text for whole units (`30s`, `1m30s`, `500ms`), as dockerd's
/// timeout message prints it.
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let frac = d.subsec_millis();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let s_text = if frac > 0 {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    } else {
        format!("{s}s")
    };
    match (h, m) {
        (0, 0) => s_text,
        (0, m) => format!("{m}m{s_text}"),
        (h, m) => format!("{h}h{m}m{s_text}"),
    }
}

impl Manager {
    /// Runs the probes of one run of `c` (identified by its pid) until the run ends.
    pub(super) fn monitor_health(self: &Arc<Self>, c: &Arc<Container>, probe: Probe) {
        let me = Arc::downgrade(self);
        let c = c.clone();
        let run_pid = c.record().state.pid;
        tokio::spawn(async move {
            loop {
                let starting = c
                    .record()
                    .state
                    .health
                    .is_some_and(|h| h.status == HealthStatus::Starting);
                let wait = match (starting, probe.start_interval) {
                    (true, Some(si)) => si,
                    _ => probe.interval,
                };
                tokio::time::sleep(wait).await;
                let rec = c.record();
                if rec.state.pid != run_pid || !rec.state.status.is_live() {
                    return;
                }
                // A paused container is not probed (dockerd stops its monitor meanwhile).
                if rec.state.status == Status::Paused {
                    continue;
                }
                let Some(me) = me.upgrade() else { return };
                let result = me.run_probe(&c, &probe).await;
                let op = c.lock_op().await;
                let rec = c.record();
                if rec.state.pid != run_pid || !rec.state.status.is_live() {
                    return;
                }
                let t = super::lifecycle::Transition::HealthProbed {
                    result,
                    probe: probe.clone(),
                };
                let _ = me.transition(&c, &op, t).await;
            }
        });
    }

    /// One probe as an exec process, killed at the timeout; errors become a failed result
    /// with the error as output (exit code -1), as in dockerd.
    async fn run_probe(self: &Arc<Self>, c: &Arc<Container>, probe: &Probe) -> ProbeResult {
        let start = Utc::now();
        let failed = |output: String| ProbeResult {
            start,
            end: Utc::now(),
            exit_code: -1,
            output,
        };
        let rec = c.record();
        let config = ExecConfig {
            cmd: Some(probe.argv.clone()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            user: rec.config.user.clone().filter(|u| !u.is_empty()),
            working_dir: rec.config.working_dir.clone().filter(|w| !w.is_empty()),
            ..Default::default()
        };
        let exec_id = match self.exec_create(&c.id, config) {
            Ok(id) => id,
            Err(e) => return failed(e.to_string()),
        };
        let Ok(exec) = self.execs.get(&exec_id) else {
            return failed("the probe's exec went away".into());
        };
        let mut output_rx = exec.hub.subscribe();
        let mut done = exec.done();
        if let Err(e) = self.exec_start(&exec).await {
            self.execs.remove(&exec_id);
            return failed(e.to_string());
        }
        let collect = async {
            let mut out = LimitedOutput::default();
            loop {
                match output_rx.recv().await {
                    Ok(super::stream::Output::Data(_, data)) => out.push(&data),
                    Ok(super::stream::Output::Eof)
                    | Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                }
            }
            let code = done
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|c| *c)
                .unwrap_or(-1);
            (code, out.finish())
        };
        let result = match tokio::time::timeout(probe.timeout, collect).await {
            Ok((code, output)) => ProbeResult {
                start,
                end: Utc::now(),
                exit_code: code,
                output,
            },
            Err(_) => {
                // A hung probe is killed, so probes never pile up in the container.
                if let Ok(b) = self.backend(&rec.backend) {
                    let _ = b.signal(&c.id, Some(&exec_id), 9).await;
                }
                let mut done = exec.done();
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), done.wait_for(Option::is_some))
                        .await;
                failed(format!(
                    "Health check exceeded timeout ({})",
                    go_duration(probe.timeout)
                ))
            }
        };
        // Probe execs are not kept around (dockerd drops them after they ran).
        self.execs.remove(&exec_id);
        result
    }
}

/// The `health_status: …` event for a status.
pub fn event(status: HealthStatus) -> (String, HashMap<String, String>) {
    (
        format!("health_status: {}", status.as_str()),
        HashMap::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn config(test: &[&str], retries: i64, start_period_s: i64) -> ContainerConfig {
        ContainerConfig {
            healthcheck: Some(HealthConfig {
                test: Some(test.iter().map(|s| s.to_string()).collect()),
                retries: Some(retries),
                start_period: Some(start_period_s * 1_000_000_000),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn result(at: i64, code: i64) -> ProbeResult {
        ProbeResult {
            start: t(at),
            end: t(at),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn probe_forms() {
        let p = probe_of(&config(&["CMD", "true", "x"], 0, 0)).unwrap();
        assert_eq!(p.argv, ["true", "x"]);
        assert_eq!(p.retries, 3);
        assert_eq!(p.interval, Duration::from_secs(30));
        let p = probe_of(&config(&["CMD-SHELL", "exit 1"], 2, 0)).unwrap();
        assert_eq!(p.argv, ["/bin/sh", "-c", "exit 1"]);
        let mut with_shell = config(&["CMD-SHELL", "x"], 0, 0);
        with_shell.shell = Some(vec!["/bin/bash".into(), "-ec".into()]);
        assert_eq!(
            probe_of(&with_shell).unwrap().argv,
            ["/bin/bash", "-ec", "x"]
        );
        assert!(probe_of(&config(&["NONE"], 0, 0)).is_none());
        assert!(probe_of(&config(&[], 0, 0)).is_none());
        assert!(probe_of(&config(&["WHAT", "x"], 0, 0)).is_none());
        assert!(probe_of(&ContainerConfig::default()).is_none());
    }

    #[test]
    fn success_is_healthy_and_failures_count_to_retries() {
        let probe = probe_of(&config(&["CMD", "x"], 2, 0)).unwrap();
        let mut h = at_start(None);
        assert!(!record(&mut h, result(1, 1), &probe, Some(t(0))));
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 1));
        assert!(record(&mut h, result(2, 1), &probe, Some(t(0))));
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 2));
        assert!(record(&mut h, result(3, 0), &probe, Some(t(0))));
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
    }

    #[test]
    fn failures_within_the_start_period_do_not_count() {
        let probe = probe_of(&config(&["CMD", "x"], 1, 10)).unwrap();
        let mut h = at_start(None);
        record(&mut h, result(5, 1), &probe, Some(t(0)));
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        record(&mut h, result(11, 1), &probe, Some(t(0)));
        assert_eq!(h.status, HealthStatus::Unhealthy);
    }

    #[test]
    fn log_keeps_the_last_five() {
        let probe = probe_of(&config(&["CMD", "x"], 3, 0)).unwrap();
        let mut h = at_start(None);
        for i in 0..8 {
            record(&mut h, result(i, 0), &probe, Some(t(0)));
        }
        assert_eq!(h.log.len(), 5);
        assert_eq!(h.log[0].start, t(3));
        // A new run starts over as `starting`, keeping the log.
        let again = at_start(Some(&h));
        assert_eq!(again.status, HealthStatus::Starting);
        assert_eq!(again.log.len(), 5);
    }

    #[test]
    fn output_is_cut_at_dockerds_limit() {
        let mut o = LimitedOutput::default();
        o.push(&[b'a'; 4000]);
        o.push(&[b'b'; 200]);
        let s = o.finish();
        assert_eq!(s.len(), MAX_OUTPUT_LEN + 3);
        assert!(s.ends_with("bbb..."));
        let mut small = LimitedOutput::default();
        small.push(b"ok\n");
        assert_eq!(small.finish(), "ok\n");
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
