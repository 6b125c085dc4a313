//! `docker commit`: the image config a commit writes, from the request's config and the
//! container's, with moby's merge rules (`daemon/commit.go` `merge`).
//!
//! The request's config wins; the container's fills in only what moby merges: `User`,
//! `ExposedPorts` (union), `Env` (the container's variables whose names the request does
//! not set), `Labels` (union, request first), `Cmd`/`Entrypoint` (only when the request
//! sets no `Entrypoint`), `Healthcheck`, `WorkingDir`, `Volumes` (union) and `StopSignal`.
//! Everything else (`Hostname`, `Image`, attach flags …) is the request's alone.

use spec::image::ContainerConfig;

fn env_key(e: &str) -> &str {
    e.split('=').next().unwrap_or(e)
}

/// `user` completed from `container` as moby's commit does.
pub fn merge_commit_config(
    mut user: ContainerConfig,
    container: &ContainerConfig,
) -> ContainerConfig {
    if user.user.as_deref().unwrap_or_default().is_empty() {
        user.user = container.user.clone();
    }
    match (&mut user.exposed_ports, &container.exposed_ports) {
        (Some(u), Some(c)) if !u.is_empty() => {
            for (k, v) in c {
                u.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        (_, c) => {
            if user.exposed_ports.as_ref().is_none_or(|u| u.is_empty()) {
                user.exposed_ports = c.clone();
            }
        }
    }
    match &mut user.env {
        Some(u) if !u.is_empty() => {
            for e in container.env.iter().flatten() {
                if !u.iter().any(|x| env_key(x) == env_key(e)) {
                    u.push(e.clone());
                }
            }
        }
        _ => user.env = container.env.clone(),
    }
    let labels = user.labels.get_or_insert_with(Default::default);
    for (k, v) in container.labels.iter().flatten() {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if user.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if user.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            user.cmd = container.cmd.clone();
            user.args_escaped = container.args_escaped;
        }
        if user.entrypoint.is_none() {
            user.entrypoint = container.entrypoint.clone();
        }
    }
    if user.healthcheck.is_none() {
        user.healthcheck = container.healthcheck.clone();
    }
    if user.working_dir.as_deref().unwrap_or_default().is_empty() {
        user.working_dir = container.working_dir.clone();
    }
    match &mut user.volumes {
        Some(u) if !u.is_empty() => {
            for (k, v) in container.volumes.iter().flatten() {
                u.insert(k.clone(), v.clone());
            }
        }
        _ => user.volumes = container.volumes.clone(),
    }
    if user.stop_signal.as_deref().unwrap_or_default().is_empty() {
        user.stop_signal = container.stop_signal.clone();
    }
    user
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> ContainerConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn empty_request_takes_the_merged_fields_only() {
        let container = cfg(json!({
            "Hostname": "abc", "Image": "busybox", "User": "app", "Env": ["A=1"],
            "Cmd": ["sh"], "WorkingDir": "/w", "Labels": {"l": "c"}, "StopSignal": "SIGINT",
            "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}
        }));
        let got = merge_commit_config(ContainerConfig::default(), &container);
        assert_eq!(
            serde_json::to_value(&got).unwrap(),
            json!({
                "User": "app", "Env": ["A=1"], "Cmd": ["sh"], "WorkingDir": "/w",
                "Labels": {"l": "c"}, "StopSignal": "SIGINT",
                "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}
            })
        );
    }

    #[test]
    fn request_wins_and_unions_are_merged() {
        let container = cfg(json!({
            "Env": ["A=1", "B=2"], "Labels": {"l": "c", "k": "c"},
            "ExposedPorts": {"80/tcp": {}}, "Entrypoint": ["/init"], "Cmd": ["run"]
        }));
        let user = cfg(json!({
            "Env": ["A=9"], "Labels": {"l": "u"}, "ExposedPorts": {"443/tcp": {}},
            "Cmd": ["other"]
        }));
        let got = merge_commit_config(user, &container);
        assert_eq!(got.env.unwrap(), ["A=9", "B=2"]);
        let labels = got.labels.unwrap();
        assert_eq!((labels["l"].as_str(), labels["k"].as_str()), ("u", "c"));
        assert_eq!(got.exposed_ports.unwrap().len(), 2);
        // The request's Cmd stays; the container's Entrypoint comes along.
        assert_eq!(got.cmd.unwrap(), ["other"]);
        assert_eq!(got.entrypoint.unwrap(), ["/init"]);
    }

    #[test]
    fn a_request_entrypoint_keeps_the_container_cmd_out() {
        let container = cfg(json!({"Entrypoint": ["/init"], "Cmd": ["run"]}));
        let user = cfg(json!({"Entrypoint": ["/other"]}));
        let got = merge_commit_config(user, &container);
        assert_eq!(got.entrypoint.unwrap(), ["/other"]);
        assert_eq!(got.cmd, None);
    }
}
