//! The process of `docker exec`: the container's process with the exec's command, env,
//! user, working directory and tty (moby's `ContainerExecStart` / `execSetPlatformOpt`).

use oci_spec::runtime::Process;
use spec::api::models::ExecConfig;

use super::config::replace_or_append_env;
use super::{blank, caps, clean_path, invalid, nonempty, nonempty_vec, user};
use crate::Error;

/// Inputs of [`exec_process_with`] beyond the exec request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecOptions<'a> {
    /// The image's `/etc/passwd` and `/etc/group`, to resolve `--user`.
    pub passwd: Option<&'a str>,
    pub group: Option<&'a str>,
    /// The container's `HostConfig.GroupAdd`, which dockerd appends to an exec `--user`'s groups.
    pub group_add: &'a [String],
    /// What `--privileged` grants (`LinuxContext::host_capabilities`); `None` = all known.
    pub host_capabilities: Option<&'a [String]>,
}

/// [`exec_process_with`] without `GroupAdd` and with every known capability for `--privileged`.
pub fn exec_process(
    container_spec_process: &Process,
    exec: &ExecConfig,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<Process, Error> {
    exec_process_with(
        container_spec_process,
        exec,
        &ExecOptions {
            passwd,
            group,
            ..Default::default()
        },
    )
}

/// The process for `docker exec`, derived from the container's spec process.
///
/// * args: the exec's `Cmd` (required);
/// * env: the container's environment with the exec's `Env` replacing by key. A tty exec
///   gets `TERM=xterm` if it has no `TERM`; a non-tty exec into a tty container loses the
///   `TERM=xterm` dockerd only adds for a tty;
/// * user: the exec's `User` resolved against the image files, else the container's user;
/// * cwd: the exec's `WorkingDir`, else the container's;
/// * `--privileged`: every capability the runtime holds.
pub fn exec_process_with(
    container: &Process,
    exec: &ExecConfig,
    opts: &ExecOptions<'_>,
) -> Result<Process, Error> {
    let args = nonempty_vec(&exec.cmd).ok_or_else(|| invalid("No exec command specified"))?;
    for e in exec.env.iter().flatten() {
        if e.split_once('=').map_or(e.as_str(), |(k, _)| k).is_empty() {
            return Err(invalid(format!("invalid environment variable: {e}")));
        }
    }
    let tty = exec.tty == Some(true);
    let mut p = container.clone();
    p.set_args(Some(args.to_vec()));

    let mut base: Vec<String> = container.env().clone().unwrap_or_default();
    let has_term = base.iter().any(|e| e.starts_with("TERM="));
    if tty && !has_term {
        // Where dockerd puts it: after PATH and HOSTNAME.
        let at = base
            .iter()
            .take_while(|e| e.starts_with("PATH=") || e.starts_with("HOSTNAME="))
            .count();
        base.insert(at, "TERM=xterm".into());
    } else if !tty && container.terminal() == Some(true) {
        if let Some(i) = base.iter().position(|e| e == "TERM=xterm") {
            base.remove(i);
        }
    }
    p.set_env(Some(replace_or_append_env(
        &base,
        exec.env.as_deref().unwrap_or(&[]),
    )));

    if let Some(u) = nonempty(&exec.user) {
        p.set_user(user::resolve_user(
            u,
            opts.group_add,
            opts.passwd,
            opts.group,
        )?);
    }
    if let Some(w) = nonempty(&exec.working_dir) {
        if !w.starts_with('/') {
            return Err(invalid(format!(
                "the working directory '{w}' is invalid, it needs to be an absolute path"
            )));
        }
        p.set_cwd(clean_path(w).into());
    }
    p.set_terminal(Some(tty));
    p.set_console_size(None);
    if tty {
        if let Some([h, w]) = exec.console_size.as_deref() {
            p.set_console_size(Some(blank(serde_json::json!({ "height": h, "width": w }))?));
        }
    }
    if exec.privileged == Some(true) {
        let all = caps::effective_set(&[], &[], true, opts.host_capabilities)?;
        p.set_capabilities(Some(caps::linux_capabilities(&all)?));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> Process {
        blank(serde_json::json!({
            "terminal": false,
            "user": { "uid": 0, "gid": 0, "additionalGids": [0, 10] },
            "args": ["sleep", "1d"],
            "env": ["PATH=/usr/bin", "HOSTNAME=abc", "A=1"],
            "cwd": "/srv",
            "capabilities": { "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"] }
        }))
        .unwrap()
    }

    #[test]
    fn exec_overrides() {
        let passwd = "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
        let exec = ExecConfig {
            cmd: Some(vec!["sh".into()]),
            env: Some(vec!["A=2".into(), "B=3".into()]),
            user: Some("app".into()),
            working_dir: Some("/tmp/".into()),
            tty: Some(true),
            privileged: Some(true),
            ..Default::default()
        };
        let p = exec_process(&container(), &exec, Some(passwd), None).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(
            p.env().as_deref().unwrap(),
            ["PATH=/usr/bin", "HOSTNAME=abc", "TERM=xterm", "A=2", "B=3"]
        );
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
        assert_eq!(p.cwd().to_str(), Some("/tmp"));
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(
            p.capabilities()
                .as_ref()
                .unwrap()
                .bounding()
                .as_ref()
                .unwrap()
                .len(),
            41
        );
    }

    #[test]
    fn exec_defaults_to_the_container() {
        let exec = ExecConfig {
            cmd: Some(vec!["id".into()]),
            ..Default::default()
        };
        let p = exec_process(&container(), &exec, None, None).unwrap();
        assert_eq!(p.user(), container().user());
        assert_eq!(p.cwd().to_str(), Some("/srv"));
        assert_eq!(p.capabilities(), container().capabilities());
        assert!(exec_process(&container(), &ExecConfig::default(), None, None).is_err());
        let bad = ExecConfig {
            cmd: Some(vec!["id".into()]),
            user: Some("ghost".into()),
            ..Default::default()
        };
        assert!(exec_process(&container(), &bad, Some(""), None).is_err());
    }
}
