//! Which containers `docker ps` lists and `docker container prune` removes, as dockerd's
//! filters decide. Pure: the manager resolves `before`/`since`/`ancestor` and hands the
//! records over.

use chrono::{DateTime, Utc};
use spec::filters::Filters;

use super::record::{Record, Status};
use super::{ContainerError, Result};

pub const LIST_FILTERS: &[&str] = &[
    "status",
    "name",
    "id",
    "label",
    "ancestor",
    "exited",
    "before",
    "since",
    "network",
    "volume",
    "health",
    "isolation",
    "is-task",
    "publish",
    "expose",
];

pub const PRUNE_FILTERS: &[&str] = &["until", "label", "label!"];

const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// `GET /containers/json`'s query, with the references already resolved.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub all: bool,
    pub filters: Filters,
    /// `created` of the `before` / `since` containers.
    pub before: Option<DateTime<Utc>>,
    pub since: Option<DateTime<Utc>>,
    /// Image IDs the `ancestor` values resolved to.
    pub ancestors: Vec<String>,
    pub limit: Option<usize>,
}

fn invalid(e: spec::filters::FilterError) -> ContainerError {
    ContainerError::InvalidParameter(e.0)
}

/// The keys and values dockerd refuses before listing.
pub fn validate_list(f: &Filters) -> Result<()> {
    f.validate(LIST_FILTERS).map_err(invalid)?;
    if let Some(s) = f
        .get("status")
        .iter()
        .find(|s| !STATUSES.contains(&s.as_str()))
    {
        return Err(ContainerError::InvalidParameter(format!(
            "invalid filter 'status={s}'"
        )));
    }
    const HEALTH: &[&str] = &["starting", "healthy", "unhealthy", "none"];
    if let Some(h) = f
        .get("health")
        .iter()
        .find(|h| !HEALTH.contains(&h.as_str()))
    {
        return Err(ContainerError::InvalidParameter(format!(
            "Unrecognised filter value for health: {h}"
        )));
    }
    Ok(())
}

/// The containers to list, newest first.
pub fn list(mut recs: Vec<Record>, q: &ListQuery) -> Vec<Record> {
    recs.sort_by_key(|r| std::cmp::Reverse(r.created));
    let f = &q.filters;
    let mut out: Vec<Record> = recs
        .into_iter()
        .filter(|r| {
            // Without `all`, running containers only, unless a status or exit code is asked.
            q.all || r.state.status.is_running() || f.contains("status") || f.contains("exited")
        })
        .filter(|r| f.any_or_absent("status", |s| s == r.state.status.as_str()))
        // dockerd matches each value as a regular expression against "/name".
        .filter(|r| f.any_or_absent("name", |n| name_matches(n, &r.name)))
        .filter(|r| f.any_or_absent("id", |p| r.id.starts_with(p)))
        .filter(|r| f.match_kv_list("label", &r.config.labels.clone().unwrap_or_default()))
        .filter(|r| !f.contains("ancestor") || q.ancestors.contains(&r.image_id))
        .filter(|r| {
            f.any_or_absent("exited", |c| {
                r.state.status == Status::Exited && c.parse::<i64>().ok() == Some(r.state.exit_code)
            })
        })
        .filter(|r| {
            f.any_or_absent("health", |h| {
                let have = r
                    .state
                    .health
                    .as_ref()
                    .map_or("none", |x| x.status.as_str());
                h == have
            })
        })
        .filter(|r| q.before.is_none_or(|b| r.created < b))
        .filter(|r| q.since.is_none_or(|s| r.created > s))
        .collect();
    if let Some(n) = q.limit {
        out.truncate(n);
    }
    out
}

fn name_matches(pattern: &str, name: &str) -> bool {
    match regex::Regex::new(pattern) {
        Ok(re) => re.is_match(name),
        Err(_) => name.contains(pattern),
    }
}

/// The stopped containers `docker container prune` removes.
pub fn prune(recs: Vec<Record>, f: &Filters, now: DateTime<Utc>) -> Result<Vec<Record>> {
    f.validate(PRUNE_FILTERS).map_err(invalid)?;
    let until = match f.get("until").as_slice() {
        [] => None,
        [one] => Some(spec::timestamp::parse(one, now).map_err(|e| {
            ContainerError::InvalidParameter(format!("invalid filter 'until={one}': {e}"))
        })?),
        _ => {
            return Err(ContainerError::InvalidParameter(
                "invalid filter 'until': only one value is allowed".into(),
            ))
        }
    };
    Ok(recs
        .into_iter()
        .filter(|r| !r.state.status.is_running())
        .filter(|r| until.is_none_or(|u| spec::timestamp::nanos(r.created) <= u))
        .filter(|r| {
            let labels = r.config.labels.clone().unwrap_or_default();
            f.match_kv_list("label", &labels) && !negated_labels_match(f, &labels)
        })
        .collect())
}

/// `label!=k` / `label!=k=v`: any match excludes the container.
fn negated_labels_match(f: &Filters, labels: &std::collections::HashMap<String, String>) -> bool {
    f.get("label!").iter().any(|l| match l.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(l.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::record::State;
    use chrono::TimeZone;

    fn rec(id: &str, secs: i64, status: Status, labels: &[(&str, &str)]) -> Record {
        let mut r: Record = serde_json::from_value(serde_json::json!({
            "id": id, "name": format!("/{id}"), "created": "2023-01-01T00:00:00Z",
            "image_ref": "busybox", "image_id": format!("sha256:{id}"),
            "config": {}, "host_config": {}, "state": {
                "status": "created", "pid": 0, "exit_code": 0, "error": "",
                "oom_killed": false, "started_at": null, "finished_at": null },
            "backend": "containerd", "platform": "linux", "restart_count": 0,
            "rootfs_key": id, "snapshotter": "overlayfs", "path": "sh", "args": []
        }))
        .unwrap();
        r.created = Utc.timestamp_opt(secs, 0).unwrap();
        r.state = State {
            status,
            ..State::default()
        };
        r.config.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        r
    }

    fn ids(v: Vec<Record>) -> Vec<String> {
        v.into_iter().map(|r| r.id).collect()
    }

    fn f(s: &str) -> Filters {
        Filters::from_json(s).unwrap()
    }

    #[test]
    fn lists_running_by_default_and_filters() {
        let recs = vec![
            rec("a", 1, Status::Running, &[("app", "web")]),
            rec("b", 2, Status::Exited, &[]),
            rec("c", 3, Status::Restarting, &[]),
        ];
        let q = |filters: &str, all: bool| ListQuery {
            all,
            filters: f(filters),
            ..Default::default()
        };
        assert_eq!(ids(list(recs.clone(), &q("{}", false))), ["c", "a"]);
        assert_eq!(ids(list(recs.clone(), &q("{}", true))), ["c", "b", "a"]);
        assert_eq!(
            ids(list(recs.clone(), &q(r#"{"status":["exited"]}"#, false))),
            ["b"]
        );
        assert_eq!(
            ids(list(recs.clone(), &q(r#"{"label":["app=web"]}"#, true))),
            ["a"]
        );
        assert_eq!(
            ids(list(recs.clone(), &q(r#"{"name":["^/b$"]}"#, true))),
            ["b"]
        );
        assert!(validate_list(&f(r#"{"status":["nope"]}"#)).is_err());
        assert!(validate_list(&f(r#"{"bogus":["x"]}"#)).is_err());
    }

    #[test]
    fn prune_takes_stopped_ones_with_until_and_labels() {
        let now = Utc.timestamp_opt(100_000, 0).unwrap();
        let recs = vec![
            rec("old", 1, Status::Exited, &[("keep", "1")]),
            rec("new", 99_999, Status::Exited, &[]),
            rec("up", 1, Status::Running, &[]),
            rec("waiting", 1, Status::Restarting, &[]),
            rec("fresh", 1, Status::Created, &[]),
        ];
        assert_eq!(
            ids(prune(recs.clone(), &Filters::default(), now).unwrap()),
            ["old", "new", "fresh"]
        );
        // Durations are accepted, as for image prune (dockerd's GetTimestamp).
        assert_eq!(
            ids(prune(recs.clone(), &f(r#"{"until":["24h"]}"#), now).unwrap()),
            ["old", "fresh"]
        );
        assert_eq!(
            ids(prune(recs.clone(), &f(r#"{"label!":["keep"]}"#), now).unwrap()),
            ["new", "fresh"]
        );
        assert!(prune(recs.clone(), &f(r#"{"until":["soon"]}"#), now).is_err());
        assert!(prune(recs, &f(r#"{"status":["x"]}"#), now).is_err());
    }
}
