//! The container's effective `Config` (moby's `merge` in `daemon/commit.go`, run at create
//! time) and the process built from it (`withCommonOptions`, `CreateDaemonEnvironment`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use oci_spec::runtime::{PosixRlimit, Process};
use spec::api::models::{ContainerConfig, ContainerCreateBody, HealthConfig, HostConfig};
use spec::image::ContainerConfig as ImageContainerConfig;

use super::validate::SecurityOptions;
use super::{
    blank, caps, clean_path, invalid, nonempty, resources, user, LinuxContext, DEFAULT_PATH_ENV,
};
use crate::Error;

/// The container's `Config` as `docker inspect` shows it: the request merged over the
/// image's config the way dockerd merges them.
///
/// * `Env`: the user's entries, then the image's entries whose key the user did not set;
/// * `Cmd` comes from the image only when the user gives neither `Cmd` nor `Entrypoint`;
///   `Entrypoint` from the image unless the user gives one (so a user `Entrypoint` clears
///   the image's `Cmd`); `Entrypoint: [""]` resets it to none;
/// * `User`, `WorkingDir`, `StopSignal` from the image when unset; `Labels`, `ExposedPorts`,
///   `Volumes` are unions with the user's winning; `Healthcheck` is merged field by field;
/// * `Shell` and `OnBuild` are *not* inherited: dockerd's merge leaves them as the user sent
///   them, so `docker inspect` of a container shows them empty unless given.
pub fn merge_config(create: &ContainerCreateBody, image: &ImageContainerConfig) -> ContainerConfig {
    let user = match nonempty(&create.user) {
        Some(u) => Some(u.to_string()),
        None => image.user.clone(),
    };

    let exposed_ports = union_keys(
        create.exposed_ports.as_deref(),
        image
            .exposed_ports
            .as_ref()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .as_deref(),
    );
    let volumes = union_keys(
        create.volumes.as_deref(),
        image
            .volumes
            .as_ref()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .as_deref(),
    );

    let env = match create.env.as_deref().filter(|e| !e.is_empty()) {
        None => image.env.clone(),
        Some(user_env) => {
            let mut env = user_env.to_vec();
            for ie in image.env.iter().flatten() {
                let key = env_key(ie);
                if !user_env.iter().any(|ue| env_key(ue) == key) {
                    env.push(ie.clone());
                }
            }
            Some(env)
        }
    };

    let mut labels: HashMap<String, String> = create.labels.clone().unwrap_or_default();
    for (k, v) in image.labels.iter().flatten() {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }

    let mut cmd = create.cmd.clone();
    let mut entrypoint = create.entrypoint.clone();
    if entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if cmd.as_ref().is_none_or(|c| c.is_empty()) {
            cmd = image.cmd.clone();
        }
        if entrypoint.is_none() {
            entrypoint = image.entrypoint.clone();
        }
    }
    if entrypoint.as_deref() == Some(&[String::new()][..]) {
        entrypoint = None;
    }

    let healthcheck = merge_healthcheck(
        create.healthcheck.clone(),
        image
            .healthcheck
            .as_ref()
            .and_then(|v| serde_json::from_value::<HealthConfig>(v.clone()).ok()),
    );

    let working_dir = match nonempty(&create.working_dir) {
        Some(w) => Some(clean_path(w)),
        None => image.working_dir.clone(),
    };
    let stop_signal = match nonempty(&create.stop_signal) {
        Some(s) => Some(s.to_string()),
        None => image.stop_signal.clone(),
    };

    ContainerConfig {
        hostname: create.hostname.clone(),
        domainname: create.domainname.clone(),
        user,
        attach_stdin: create.attach_stdin,
        attach_stdout: create.attach_stdout,
        attach_stderr: create.attach_stderr,
        exposed_ports,
        tty: create.tty,
        open_stdin: create.open_stdin,
        stdin_once: create.stdin_once,
        env,
        cmd,
        healthcheck,
        args_escaped: create.args_escaped,
        image: create.image.clone(),
        volumes,
        working_dir,
        entrypoint,
        network_disabled: create.network_disabled,
        on_build: create.on_build.clone(),
        labels: Some(labels),
        stop_signal,
        stop_timeout: create.stop_timeout,
        shell: create.shell.clone(),
    }
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// Sorted union: the API serialises these as JSON objects, whose key order carries nothing.
fn union_keys(user: Option<&[String]>, image: Option<&[String]>) -> Option<Vec<String>> {
    if user.is_none() && image.is_none() {
        return None;
    }
    let set: BTreeSet<String> = user
        .into_iter()
        .flatten()
        .chain(image.into_iter().flatten())
        .cloned()
        .collect();
    Some(set.into_iter().collect())
}

fn merge_healthcheck(
    user: Option<HealthConfig>,
    image: Option<HealthConfig>,
) -> Option<HealthConfig> {
    let Some(image) = image else { return user };
    let Some(mut user) = user else {
        return Some(image);
    };
    if user.test.as_ref().is_none_or(|t| t.is_empty()) {
        user.test = image.test;
    }
    let fill = |u: &mut Option<i64>, i: Option<i64>| {
        if u.unwrap_or(0) == 0 {
            *u = i;
        }
    };
    fill(&mut user.interval, image.interval);
    fill(&mut user.timeout, image.timeout);
    fill(&mut user.start_period, image.start_period);
    fill(&mut user.start_interval, image.start_interval);
    fill(&mut user.retries, image.retries);
    Some(user)
}

/// moby's `ReplaceOrAppendEnvValues`: overrides replace a default with the same key or are
/// appended; an entry without `=` removes the key. Only keys of `defaults` are matched, so
/// repeated overrides of a new key are all kept, as in dockerd.
pub fn replace_or_append_env(defaults: &[String], overrides: &[String]) -> Vec<String> {
    let mut env: Vec<Option<String>> = defaults.iter().cloned().map(Some).collect();
    let index: BTreeMap<&str, usize> = defaults
        .iter()
        .enumerate()
        .map(|(i, e)| (env_key(e), i))
        .collect();
    for o in overrides {
        match o.split_once('=') {
            None => {
                if let Some(&i) = index.get(o.as_str()) {
                    env[i] = None;
                }
            }
            Some((k, _)) => match index.get(k) {
                Some(&i) => env[i] = Some(o.clone()),
                None => env.push(Some(o.clone())),
            },
        }
    }
    env.into_iter()
        .flatten()
        .filter(|e| !e.is_empty())
        .collect()
}

/// The environment dockerd gives the container's processes: `PATH`, `HOSTNAME`, `TERM=xterm`
/// with a tty, then the container's `Env` replacing those by key.
pub fn daemon_environment(hostname: &str, tty: bool, config_env: &[String]) -> Vec<String> {
    daemon_environment_with_links(hostname, tty, &[], config_env)
}

/// [`daemon_environment`] with `--link` variables after the defaults.
pub fn daemon_environment_with_links(
    hostname: &str,
    tty: bool,
    link_env: &[String],
    config_env: &[String],
) -> Vec<String> {
    let mut defaults = vec![DEFAULT_PATH_ENV.to_string(), format!("HOSTNAME={hostname}")];
    if tty {
        defaults.push("TERM=xterm".to_string());
    }
    defaults.extend(link_env.iter().cloned());
    replace_or_append_env(&defaults, config_env)
}

/// `Entrypoint + Cmd`, or dockerd's "no command specified".
pub fn args(merged: &ContainerConfig) -> Result<Vec<String>, Error> {
    let args: Vec<String> = merged
        .entrypoint
        .iter()
        .flatten()
        .chain(merged.cmd.iter().flatten())
        .cloned()
        .collect();
    if args.is_empty() {
        return Err(invalid("no command specified"));
    }
    Ok(args)
}

/// The container's init process.
pub(super) fn process(
    merged: &ContainerConfig,
    hc: &HostConfig,
    ctx: &LinuxContext,
    security: &SecurityOptions,
) -> Result<Process, Error> {
    let tty = merged.tty == Some(true);
    let privileged = hc.privileged == Some(true);
    let cwd = match nonempty(&merged.working_dir) {
        Some(w) => clean_path(w),
        None => "/".to_string(),
    };
    let user = user::resolve_user(
        merged.user.as_deref().unwrap_or(""),
        hc.group_add.as_deref().unwrap_or(&[]),
        ctx.passwd.as_deref(),
        ctx.group.as_deref(),
    )?;

    let cap_names = caps::effective_set(
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
        privileged,
        ctx.host_capabilities.as_deref(),
    )?;

    let oom = hc.oom_score_adj.unwrap_or(0);
    if oom < 0 && !holds(ctx, "CAP_SYS_RESOURCE") {
        return Err(Error::Unsupported(format!(
            "--oom-score-adj {oom} is not supported on this host: lowering the OOM score needs CAP_SYS_RESOURCE, which dockbridge's runtime does not hold"
        )));
    }

    let mut p =
        blank::<Process>(serde_json::json!({ "user": { "uid": 0, "gid": 0 }, "cwd": cwd }))?;
    p.set_terminal(Some(tty));
    if tty {
        if let Some([h, w]) = hc.console_size.as_deref() {
            if *h > 0 || *w > 0 {
                p.set_console_size(Some(blank(serde_json::json!({ "height": h, "width": w }))?));
            }
        }
    }
    p.set_user(user);
    p.set_args(Some(args(merged)?));
    p.set_env(Some(daemon_environment_with_links(
        &ctx.hostname,
        tty,
        &ctx.link_env,
        merged.env.as_deref().unwrap_or(&[]),
    )));
    p.set_capabilities(Some(caps::linux_capabilities(&cap_names)?));
    let rlimits: Vec<PosixRlimit> =
        resources::rlimits(hc.ulimits.as_deref().unwrap_or(&[]), &ctx.host_hard_rlimits)?;
    if !rlimits.is_empty() {
        p.set_rlimits(Some(rlimits));
    }
    if security.no_new_privileges {
        p.set_no_new_privileges(Some(true));
    }
    // dockerd always writes the score (0 by default), so the container does not inherit the
    // shim's, which is usually negative.
    p.set_oom_score_adj(Some(
        i32::try_from(oom).map_err(|_| invalid(oom_range_msg(oom)))?,
    ));
    Ok(p)
}

pub(super) fn oom_range_msg(v: i64) -> String {
    format!("Invalid value {v}, range for oom score adj is [-1000, 1000]")
}

fn holds(ctx: &LinuxContext, cap: &str) -> bool {
    ctx.host_capabilities
        .as_ref()
        .is_none_or(|c| c.iter().any(|h| h.eq_ignore_ascii_case(cap)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn env_replace_or_append() {
        let d = v(&["PATH=/bin", "HOSTNAME=h"]);
        assert_eq!(
            replace_or_append_env(&d, &v(&["A=1", "PATH=/x", "HOSTNAME", "A=2"])),
            v(&["PATH=/x", "A=1", "A=2"])
        );
        assert_eq!(daemon_environment("h", true, &[])[2], "TERM=xterm");
    }

    #[test]
    fn merge_cmd_entrypoint() {
        let image = ImageContainerConfig {
            entrypoint: Some(v(&["/ep"])),
            cmd: Some(v(&["c1"])),
            env: Some(v(&["PATH=/img", "A=img"])),
            ..Default::default()
        };
        let mut create = ContainerCreateBody::default();
        let m = merge_config(&create, &image);
        assert_eq!(
            (m.entrypoint.clone(), m.cmd.clone()),
            (Some(v(&["/ep"])), Some(v(&["c1"])))
        );
        create.cmd = Some(v(&["c2"]));
        let m = merge_config(&create, &image);
        assert_eq!(args(&m).unwrap(), v(&["/ep", "c2"]));
        create.cmd = None;
        create.entrypoint = Some(v(&["/other"]));
        assert_eq!(
            args(&merge_config(&create, &image)).unwrap(),
            v(&["/other"])
        );
        create.entrypoint = Some(v(&[""]));
        create.cmd = Some(v(&["sh"]));
        let m = merge_config(&create, &image);
        assert_eq!(
            (m.entrypoint.clone(), args(&m).unwrap()),
            (None, v(&["sh"]))
        );
        create.cmd = None;
        assert_eq!(
            args(&merge_config(&create, &image))
                .unwrap_err()
                .to_string(),
            "no command specified"
        );
        create.entrypoint = Some(vec![]);
        assert_eq!(args(&merge_config(&create, &image)).unwrap(), v(&["c1"]));
        create.env = Some(v(&["A=user", "B=1"]));
        assert_eq!(
            merge_config(&create, &image).env.unwrap(),
            v(&["A=user", "B=1", "PATH=/img"])
        );
    }
}
