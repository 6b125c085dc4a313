//! `docker stats`: samples of a container's resource usage from its backend, shaped as
//! dockerd's `StatsJSON` (one object per sample, `precpu_stats` from the sample before).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{ContainerError, Manager, Result};
use crate::backend::{BlkioEntry, Stats};

/// One reading: the backend's numbers, the host's CPU time at the same moment and when.
#[derive(Debug, Clone)]
pub struct Sample {
    pub stats: Stats,
    /// `/proc/stat` CPU time of the whole host, in ns.
    pub system_cpu_ns: u64,
    pub read: DateTime<Utc>,
}

/// Who the samples are of, and the host facts dockerd adds to each.
#[derive(Debug, Clone)]
pub struct Subject {
    /// With the leading slash.
    pub name: String,
    pub id: String,
    pub online_cpus: u32,
    /// A cgroup without a limit reports a huge one; dockerd shows the host's memory then.
    pub machine_memory: u64,
}

/// The host's CPU time from `/proc/stat` as dockerd counts it: the first seven fields of
/// the `cpu` line (user … softirq), in USER_HZ ticks, which Linux fixes at 100 per second
/// for this file whatever the kernel's HZ.
pub fn system_cpu_ns(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .map(|f| f.parse::<u64>().ok())
        .sum::<Option<u64>>()?;
    Some(ticks.saturating_mul(1_000_000_000 / 100))
}

/// Go's zero `time.Time`, which dockerd writes for a `preread` it does not have.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn go_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn blkio(entries: Option<&Vec<BlkioEntry>>) -> Value {
    match entries {
        Some(v) if !v.is_empty() => v
            .iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
            .collect(),
        // dockerd's nil slices.
        _ => Value::Null,
    }
}

fn cpu_json(s: Option<&Sample>, online_cpus: u32) -> Value {
    let Some(s) = s else {
        return json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        });
    };
    let st = &s.stats;
    let mut usage = json!({
        "total_usage": st.cpu_total_ns,
        "usage_in_kernelmode": st.cpu_kernel_ns,
        "usage_in_usermode": st.cpu_user_ns,
    });
    if !st.cpu_per_cpu_ns.is_empty() {
        usage["percpu_usage"] = json!(st.cpu_per_cpu_ns);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": s.system_cpu_ns,
        "online_cpus": online_cpus,
        "throttling_data": {
            "periods": st.throttling[0],
            "throttled_periods": st.throttling[1],
            "throttled_time": st.throttling[2],
        },
    })
}

/// dockerd's `StatsJSON` for `cur` (none: the container is not running, all zeros), with
/// `prev` as `precpu_stats`.
pub fn stats_json(who: &Subject, cur: Option<&Sample>, prev: Option<&Sample>) -> Value {
    let read = cur.map_or_else(|| ZERO_TIME.to_string(), |s| go_time(&s.read));
    let preread = prev.map_or_else(|| ZERO_TIME.to_string(), |s| go_time(&s.read));
    let mut memory = serde_json::Map::new();
    let mut pids = serde_json::Map::new();
    let mut blk = serde_json::Map::new();
    for key in [
        "io_service_bytes_recursive",
        "io_serviced_recursive",
        "io_queue_recursive",
        "io_service_time_recursive",
        "io_wait_time_recursive",
        "io_merged_recursive",
        "io_time_recursive",
        "sectors_recursive",
    ] {
        blk.insert(key.into(), blkio(cur.and_then(|s| s.stats.blkio.get(key))));
    }
    if let Some(s) = cur {
        let st = &s.stats;
        let limit = if who.machine_memory > 0 && st.memory_limit > who.machine_memory {
            who.machine_memory
        } else {
            st.memory_limit
        };
        // Go's `omitempty`: dockerd leaves zero fields out (cgroup v2 has no max_usage or
        // failcnt at all).
        for (k, v) in [
            ("usage", st.memory_usage),
            ("max_usage", st.memory_max_usage),
            ("failcnt", st.memory_failcnt),
            ("limit", limit),
        ] {
            if v != 0 {
                memory.insert(k.into(), json!(v));
            }
        }
        if !st.memory_stats.is_empty() {
            let stats: BTreeMap<&String, &u64> = st.memory_stats.iter().collect();
            memory.insert("stats".into(), json!(stats));
        }
        pids.insert("current".into(), json!(st.pids));
        if st.pids_limit > 0 {
            pids.insert("limit".into(), json!(st.pids_limit));
        }
    }
    json!({
        "read": read,
        "preread": preread,
        "pids_stats": pids,
        "blkio_stats": blk,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(cur, who.online_cpus),
        "precpu_stats": cpu_json(prev, who.online_cpus),
        "memory_stats": memory,
        "name": who.name,
        "id": who.id,
    })
}

impl Manager {
    /// Who `key` is, for the stats frames.
    pub fn stats_subject(&self, key: &str) -> Result<Subject> {
        let c = self.get(key)?;
        let rec = c.record();
        Ok(Subject {
            name: rec.name.clone(),
            id: c.id.clone(),
            online_cpus: u32::try_from(self.host.ncpu).unwrap_or(1),
            machine_memory: u64::try_from(self.host.mem_total).unwrap_or(0),
        })
    }

    /// One sample of `key`, `None` when it has no running task (dockerd then sends zeros).
    pub async fn stats_sample(&self, key: &str) -> Result<Option<Sample>> {
        let c = self.get(key)?;
        let rec = c.record();
        if !rec.state.status.is_live() {
            return Ok(None);
        }
        let backend = self.backend(&rec.backend)?;
        let stats = match backend.stats(&c.id).await {
            Ok(s) => s,
            // Exited between the check and the call.
            Err(crate::backend::BackendError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(ContainerError::Backend(e)),
        };
        let proc_stat = tokio::fs::read_to_string("/proc/stat")
            .await
            .map_err(|e| ContainerError::io("reading /proc/stat", e))?;
        Ok(Some(Sample {
            stats,
            system_cpu_ns: system_cpu_ns(&proc_stat).unwrap_or(0),
            read: Utc::now(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Subject {
        Subject {
            name: "/web".into(),
            id: "abc".into(),
            online_cpus: 2,
            machine_memory: 1 << 30,
        }
    }

    fn sample(total: u64, system: u64, limit: u64) -> Sample {
        Sample {
            stats: Stats {
                cpu_total_ns: total,
                cpu_per_cpu_ns: vec![total / 2, total / 2],
                memory_usage: 4096,
                memory_limit: limit,
                memory_stats: [("cache".to_string(), 1u64)].into_iter().collect(),
                pids: 2,
                ..Stats::default()
            },
            system_cpu_ns: system,
            read: DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
        }
    }

    #[test]
    fn proc_stat_sums_seven_fields_in_ns() {
        let s = "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 1 1\n";
        assert_eq!(system_cpu_ns(s), Some(28 * 10_000_000));
        assert_eq!(system_cpu_ns("intr 1\n"), None);
    }

    #[test]
    fn frames_carry_the_previous_sample_as_precpu() {
        let (a, b) = (sample(100, 1000, 64 << 20), sample(300, 3000, 64 << 20));
        let v = stats_json(&who(), Some(&b), Some(&a));
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 300);
        assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 100);
        assert_eq!(v["precpu_stats"]["system_cpu_usage"], 1000);
        assert_eq!(v["cpu_stats"]["online_cpus"], 2);
        assert_eq!(v["memory_stats"]["limit"], 64 << 20);
        assert_eq!(v["memory_stats"]["stats"]["cache"], 1);
        assert_eq!(v["pids_stats"], json!({"current": 2}));
        assert_eq!(v["read"], "2023-11-14T22:13:20.000000005Z");
        assert_eq!(v["name"], "/web");
        assert_eq!(v["blkio_stats"]["io_service_bytes_recursive"], Value::Null);
    }

    #[test]
    fn unlimited_memory_shows_the_hosts_and_stopped_is_zeros() {
        let v = stats_json(&who(), Some(&sample(1, 1, u64::MAX / 2)), None);
        assert_eq!(v["memory_stats"]["limit"], 1u64 << 30);
        assert_eq!(v["preread"], ZERO_TIME);
        let z = stats_json(&who(), None, None);
        assert_eq!(z["read"], ZERO_TIME);
        assert_eq!(z["memory_stats"], json!({}));
        assert_eq!(z["pids_stats"], json!({}));
        assert_eq!(z["cpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert_eq!(z["id"], "abc");
    }
}
