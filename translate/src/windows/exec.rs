//! `docker exec` into a Windows container: the exec's own command (always the user's, so
//! every argument is escaped by the MSVC rules into `commandLine`), its working directory
//! (Windows paths), user and environment on top of the init process's, and a console size
//! for a TTY. Never the init process's `commandLine`.

use oci_spec::runtime::Process;
use spec::api::models::ExecConfig;
use spec::cmdline;

use crate::Error;

/// What dockerd refuses at exec create: no command, a working directory that is not an
/// absolute Windows path.
pub fn check(exec: &ExecConfig) -> Result<(), Error> {
    if exec.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(Error::InvalidParameter("No exec command specified".into()));
    }
    if let Some(dir) = exec.working_dir.as_deref().filter(|d| !d.is_empty()) {
        // `C:\app` or `\app`; a Linux-style path is not one.
        let ok = dir.starts_with('\\')
            || dir
                .as_bytes()
                .get(1..3)
                .is_some_and(|b| b[0] == b':' && (b[1] == b'\\' || b[1] == b'/'));
        if !ok {
            return Err(Error::InvalidParameter(format!(
                "the working directory '{dir}' is invalid, it needs to be an absolute path"
            )));
        }
    }
    Ok(())
}

/// The exec process for a Windows container whose init process is `init`.
pub fn exec_process(init: &Process, exec: &ExecConfig) -> Result<Process, Error> {
    check(exec)?;
    let argv = exec.cmd.clone().unwrap_or_default();
    if argv.is_empty() {
        return Err(Error::InvalidParameter("No exec command specified".into()));
    }
    let line = cmdline::join(&argv).map_err(|e| {
        Error::InvalidParameter(format!("cannot build the Windows command line: {e}"))
    })?;
    let mut p = init.clone();
    p.set_args(None);
    p.set_command_line(Some(line));
    let tty = exec.tty == Some(true);
    p.set_terminal(Some(tty));
    if !tty {
        p.set_console_size(None);
    } else if let Some([h, w]) = exec.console_size.as_deref() {
        p.set_console_size(Some(
            oci_spec::runtime::BoxBuilder::default()
                .height(u64::try_from(*h).unwrap_or(0))
                .width(u64::try_from(*w).unwrap_or(0))
                .build()
                .map_err(|e| Error::InvalidParameter(format!("console size: {e}")))?,
        ));
    }
    if let Some(dir) = exec.working_dir.as_deref().filter(|d| !d.is_empty()) {
        p.set_cwd(dir.into());
    }
    if let Some(user) = exec.user.as_deref().filter(|u| !u.is_empty()) {
        let mut u = p.user().clone();
        u.set_username(Some(user.to_string()));
        p.set_user(u);
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in exec.env.iter().flatten() {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        // Windows environment names are case-insensitive.
        env.retain(|x| {
            !x.split_once('=')
                .map_or(x.as_str(), |(k, _)| k)
                .eq_ignore_ascii_case(key)
        });
        env.push(e.clone());
    }
    p.set_env(Some(env));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> Process {
        serde_json::from_value(serde_json::json!({
            "cwd": "C:\\",
            "user": { "uid": 0, "gid": 0, "username": "ContainerUser" },
            "commandLine": "cmd /S /C \"ping -t localhost\"",
            "env": ["PATH=C:\\Windows", "Foo=1"]
        }))
        .unwrap()
    }

    fn exec(v: serde_json::Value) -> ExecConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_execs_own_command_escaped() {
        let p = exec_process(
            &init(),
            &exec(serde_json::json!({"Cmd": ["C:\\tools\\echo args.exe", "a b", "q\"uote", "tail\\"]})),
        )
        .unwrap();
        assert_eq!(
            p.command_line().as_deref(),
            Some(r#""C:\tools\echo args.exe" "a b" q\"uote tail\"#)
        );
        assert!(p.args().is_none());
        // The round trip through the CRT rules gives the argv back.
        let back = cmdline::split(
            p.command_line().as_deref().unwrap(),
            cmdline::Rules::MsvcCrt,
        );
        assert_eq!(
            back,
            ["C:\\tools\\echo args.exe", "a b", "q\"uote", "tail\\"]
        );
    }

    #[test]
    fn working_dir_user_env_and_tty() {
        let p = exec_process(
            &init(),
            &exec(serde_json::json!({
                "Cmd": ["cmd"], "WorkingDir": "C:\\app", "User": "ContainerAdministrator",
                "Env": ["FOO=2"], "Tty": true, "ConsoleSize": [30, 100]
            })),
        )
        .unwrap();
        assert_eq!(p.cwd().display().to_string(), "C:\\app");
        assert_eq!(
            p.user().username().as_deref(),
            Some("ContainerAdministrator")
        );
        assert_eq!(p.env().clone().unwrap(), ["PATH=C:\\Windows", "FOO=2"]);
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(
            p.console_size().map(|b| (b.height(), b.width())),
            Some((30, 100))
        );
        assert!(exec_process(
            &init(),
            &exec(serde_json::json!({"Cmd": ["x"], "WorkingDir": "/app"}))
        )
        .is_err());
        assert!(exec_process(&init(), &exec(serde_json::json!({"Cmd": []}))).is_err());
    }
}
