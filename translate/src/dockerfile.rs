//! Dockerfile `RUN`, `CMD` and `ENTRYPOINT`: the command a builder runs or commits, and the
//! `ArgsEscaped` it commits (for the builder to come; moby `resolveCmdLine` and the
//! `dispatchRun`/`dispatchCmd`/`dispatchEntrypoint` dispatchers).
//!
//! | instruction form | Linux (and LCOW) | Windows |
//! |---|---|---|
//! | exec, `["a", "b"]` | the argv | the argv (joined at run time, see [`crate::windows`]) |
//! | shell, `text` | `shell + [text]`, shell default `["/bin/sh", "-c"]` | one pre-escaped command line: `join(shell) + " " + text`, shell default `cmd /S /C` |
//!
//! On Windows the shell form uses the instruction's *original* text, not a re-joined parse
//! of it: `cmd.exe` and its built-ins (`echo`, `mkdir`) parse their command line in their own
//! way, and `RUN mkdir "c:/foo"` only works if the quotes arrive exactly as written.
//!
//! `ArgsEscaped` says that element 0 of the image's command (its `Entrypoint`, or its `Cmd`
//! when there is none) is such a pre-escaped line. `CMD` and `ENTRYPOINT` in shell form
//! therefore commit `ArgsEscaped: true`, exec form commits it false, and `RUN` never changes
//! it (the `RUN` container itself is created with the request's `ArgsEscaped`). Since the
//! flag describes element 0, it follows whichever instruction provides element 0: after a
//! shell-form `ENTRYPOINT`, an exec-form `CMD` keeps it true (moby clears it, so the
//! entrypoint's line would then be quoted as a program name), and a shell-form `CMD` after
//! an exec-form `ENTRYPOINT` leaves it false (moby sets it, so the entrypoint's argv0 would
//! go unquoted). The shell itself is joined by the Windows rules, so a `SHELL` whose program
//! path has spaces still works (moby joins it with plain spaces).

use spec::cmdline;
use spec::image::ContainerConfig;

use crate::windows::ContainerOs;
use crate::Error;

/// The instructions that carry a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instruction {
    Run,
    Cmd,
    Entrypoint,
}

impl Instruction {
    fn name(self) -> &'static str {
        match self {
            Instruction::Run => "RUN",
            Instruction::Cmd => "CMD",
            Instruction::Entrypoint => "ENTRYPOINT",
        }
    }
}

/// How the instruction spells its command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    /// `["prog", "arg"]`: an argv.
    Exec(Vec<String>),
    /// Anything else: the text after the instruction keyword, exactly as written.
    Shell(String),
}

/// Splits one instruction, as written (line continuations already joined), into its
/// keyword and command. A JSON array of strings is the exec form; anything else is the
/// shell form, kept verbatim apart from the whitespace after the keyword.
pub fn parse_instruction(original: &str) -> Result<(Instruction, CommandForm), Error> {
    let line = original.trim_start_matches(is_dockerfile_space);
    let end = line.find(is_dockerfile_space).unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let instruction = match keyword.to_ascii_uppercase().as_str() {
        "RUN" => Instruction::Run,
        "CMD" => Instruction::Cmd,
        "ENTRYPOINT" => Instruction::Entrypoint,
        _ => {
            return Err(Error::InvalidParameter(format!(
                "not a RUN, CMD or ENTRYPOINT instruction: {keyword:?}"
            )))
        }
    };
    let text = rest.trim_start_matches(is_dockerfile_space);
    if instruction == Instruction::Run {
        if let Some(flag) = text.strip_prefix("--") {
            let name = flag
                .split(|c: char| c == '=' || is_dockerfile_space(c))
                .next()
                .unwrap_or_default();
            return Err(Error::Unsupported(format!(
                "RUN --{name} is not supported by dockbridge yet"
            )));
        }
    }
    let form = match exec_form(text) {
        Some(argv) => CommandForm::Exec(argv),
        None if text.trim_end_matches(is_dockerfile_space).is_empty() => {
            CommandForm::Exec(Vec::new())
        }
        None => CommandForm::Shell(text.to_string()),
    };
    if instruction == Instruction::Run && form == CommandForm::Exec(Vec::new()) {
        return Err(Error::InvalidParameter(
            "RUN requires at least one argument".into(),
        ));
    }
    Ok((instruction, form))
}

/// Whitespace as moby strips it after the keyword (`" \t\v\n"`), plus `\r`.
fn is_dockerfile_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\n' | '\r')
}

fn exec_form(text: &str) -> Option<Vec<String>> {
    let t = text.trim_end_matches(is_dockerfile_space);
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// A command as the container config carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCommand {
    pub command: Vec<String>,
    /// `command` is one pre-escaped Windows command line.
    pub args_escaped: bool,
}

/// The shell `SHELL` did not change.
pub fn default_shell(os: ContainerOs) -> Vec<String> {
    let shell: &[&str] = match os {
        ContainerOs::Windows => &["cmd", "/S", "/C"],
        ContainerOs::Linux => &["/bin/sh", "-c"],
    };
    shell.iter().map(|s| s.to_string()).collect()
}

/// The command for one instruction's form, with `shell` from `SHELL` (or the default).
pub fn resolve(
    os: ContainerOs,
    form: &CommandForm,
    shell: Option<&[String]>,
) -> Result<ResolvedCommand, Error> {
    let text = match form {
        CommandForm::Exec(argv) => {
            return Ok(ResolvedCommand {
                command: argv.clone(),
                args_escaped: false,
            })
        }
        CommandForm::Shell(text) => text,
    };
    let default;
    let shell = match shell.filter(|s| !s.is_empty()) {
        Some(s) => s,
        None => {
            default = default_shell(os);
            &default
        }
    };
    match os {
        ContainerOs::Linux => {
            let mut command = shell.to_vec();
            command.push(text.clone());
            Ok(ResolvedCommand {
                command,
                args_escaped: false,
            })
        }
        ContainerOs::Windows => {
            let shell = cmdline::join(shell).map_err(|e| {
                Error::InvalidParameter(format!("SHELL cannot be run on Windows: {e}"))
            })?;
            Ok(ResolvedCommand {
                command: vec![format!("{shell} {text}")],
                args_escaped: true,
            })
        }
    }
}

/// What a `RUN` creates its container with: the resolved command as `Cmd`, no entrypoint
/// (`[""]`, which resets the image's), and `ArgsEscaped` for a Windows shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub args_escaped: bool,
}

/// The command-related part of the image config while a stage is being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCommand {
    pub os: ContainerOs,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `SHELL`, inherited from the base image's config.
    pub shell: Option<Vec<String>>,
    entrypoint_escaped: bool,
    cmd_escaped: bool,
    /// A `CMD` ran in this stage: a later `ENTRYPOINT` then keeps it (dockerd's `cmdSet`).
    cmd_set: bool,
}

impl ImageCommand {
    /// The state after `FROM`: the base image's command and shell.
    pub fn from_image(config: &ContainerConfig, os: ContainerOs) -> Self {
        let escaped = os == ContainerOs::Windows && config.args_escaped == Some(true);
        let has_entrypoint = config.entrypoint.as_ref().is_some_and(|e| !e.is_empty());
        Self {
            os,
            entrypoint: config.entrypoint.clone(),
            cmd: config.cmd.clone(),
            shell: config.shell.clone(),
            entrypoint_escaped: escaped && has_entrypoint,
            cmd_escaped: escaped && !has_entrypoint,
            cmd_set: false,
        }
    }

    /// The `ArgsEscaped` to commit: whether element 0 of the command is a pre-escaped line.
    pub fn args_escaped(&self) -> bool {
        if self.entrypoint.as_ref().is_some_and(|e| !e.is_empty()) {
            self.entrypoint_escaped
        } else {
            self.cmd_escaped
        }
    }

    /// Applies one instruction. `RUN` leaves the image's command alone and returns the
    /// config of the container to run; `CMD` and `ENTRYPOINT` update the command.
    pub fn apply(
        &mut self,
        instruction: Instruction,
        form: &CommandForm,
    ) -> Result<Option<RunConfig>, Error> {
        let resolved = resolve(self.os, form, self.shell.as_deref())?;
        match instruction {
            Instruction::Run => {
                if resolved.command.is_empty() {
                    return Err(Error::InvalidParameter(format!(
                        "{} requires at least one argument",
                        instruction.name()
                    )));
                }
                Ok(Some(RunConfig {
                    entrypoint: vec![String::new()],
                    cmd: resolved.command,
                    args_escaped: resolved.args_escaped,
                }))
            }
            Instruction::Cmd => {
                self.cmd_set = !resolved.command.is_empty();
                self.cmd = Some(resolved.command);
                self.cmd_escaped = resolved.args_escaped;
                Ok(None)
            }
            Instruction::Entrypoint => {
                self.entrypoint = Some(resolved.command);
                self.entrypoint_escaped = resolved.args_escaped;
                if !self.cmd_set {
                    self.cmd = None;
                    self.cmd_escaped = false;
                }
                Ok(None)
            }
        }
    }

    /// Writes the command, `Shell` and `ArgsEscaped` into an image config to commit.
    pub fn commit_into(&self, config: &mut ContainerConfig) {
        config.entrypoint = self.entrypoint.clone();
        config.cmd = self.cmd.clone();
        config.shell = self.shell.clone();
        // dockerd writes the flag only when true (`omitempty`).
        config.args_escaped = self.args_escaped().then_some(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windows::{command, Command};
    use serde_json::json;
    use spec::api::models::ContainerCreateBody;
    use spec::image::ImageConfigFile;

    const WIN: ContainerOs = ContainerOs::Windows;
    const LINUX: ContainerOs = ContainerOs::Linux;

    fn parse(line: &str) -> (Instruction, CommandForm) {
        parse_instruction(line).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_forms_and_keeps_the_original_text() {
        assert_eq!(
            parse(r#"RUN mkdir "c:/foo""#),
            (
                Instruction::Run,
                CommandForm::Shell(r#"mkdir "c:/foo""#.into())
            )
        );
        assert_eq!(
            parse("run \t  echo   \"a  b\"  "),
            (
                Instruction::Run,
                CommandForm::Shell("echo   \"a  b\"  ".into())
            )
        );
        assert_eq!(
            parse(r#"ENTRYPOINT ["C:\\app\\app.exe", "--port", "80"]"#),
            (
                Instruction::Entrypoint,
                CommandForm::Exec(strings(&[r"C:\app\app.exe", "--port", "80"]))
            )
        );
        // Not valid JSON (single quotes): the shell form, as Docker treats it.
        assert_eq!(
            parse("CMD ['a']"),
            (Instruction::Cmd, CommandForm::Shell("['a']".into()))
        );
        assert_eq!(
            parse("CMD []"),
            (Instruction::Cmd, CommandForm::Exec(vec![]))
        );
        assert_eq!(parse("CMD"), (Instruction::Cmd, CommandForm::Exec(vec![])));
        assert!(
            matches!(parse_instruction("RUN"), Err(Error::InvalidParameter(m)) if m.contains("at least one"))
        );
        assert!(
            matches!(parse_instruction("RUN --mount=type=cache,target=/x make"), Err(Error::Unsupported(m)) if m.contains("--mount"))
        );
        assert!(parse_instruction("COPY a b").is_err());
    }

    #[test]
    fn windows_shell_form_is_one_pre_escaped_line() {
        let (_, form) = parse(r#"RUN mkdir "c:/foo" && echo "done""#);
        assert_eq!(
            resolve(WIN, &form, None).unwrap(),
            ResolvedCommand {
                command: vec![r#"cmd /S /C mkdir "c:/foo" && echo "done""#.into()],
                args_escaped: true
            }
        );
        let pwsh = strings(&[
            r"C:\Program Files\PowerShell\7\pwsh.exe",
            "-NoLogo",
            "-Command",
        ]);
        let (_, form) = parse(r#"RUN Get-ChildItem "C:\Program Files""#);
        assert_eq!(
            resolve(WIN, &form, Some(&pwsh)).unwrap().command,
            [
                r#""C:\Program Files\PowerShell\7\pwsh.exe" -NoLogo -Command Get-ChildItem "C:\Program Files""#
            ]
        );
        let bad_shell = strings(&["a\"b"]);
        assert!(resolve(WIN, &form, Some(&bad_shell)).is_err());
        // Exec form stays an argv.
        let (_, form) = parse(r#"RUN ["cmd", "/c", "echo a b"]"#);
        assert_eq!(
            resolve(WIN, &form, None).unwrap(),
            ResolvedCommand {
                command: strings(&["cmd", "/c", "echo a b"]),
                args_escaped: false
            }
        );
    }

    #[test]
    fn linux_shell_form_is_shell_plus_text() {
        let (_, form) = parse(r#"RUN echo "a  b" > /x"#);
        assert_eq!(
            resolve(LINUX, &form, None).unwrap(),
            ResolvedCommand {
                command: strings(&["/bin/sh", "-c", r#"echo "a  b" > /x"#]),
                args_escaped: false
            }
        );
        let bash = strings(&["/bin/bash", "-o", "pipefail", "-c"]);
        assert_eq!(
            resolve(LINUX, &form, Some(&bash)).unwrap().command[..4],
            bash[..]
        );
    }

    fn build(
        os: ContainerOs,
        base: serde_json::Value,
        lines: &[&str],
    ) -> (ImageCommand, Vec<RunConfig>) {
        let config: ContainerConfig = serde_json::from_value(base).unwrap();
        let mut state = ImageCommand::from_image(&config, os);
        let mut runs = Vec::new();
        for line in lines {
            let (instr, form) = parse(line);
            if let Some(run) = state.apply(instr, &form).unwrap() {
                runs.push(run);
            }
        }
        (state, runs)
    }

    #[test]
    fn args_escaped_commits() {
        let base = json!({"Cmd": ["c:\\windows\\system32\\cmd.exe"]});
        // CMD shell form: true.
        let (s, _) = build(WIN, base.clone(), &["CMD echo hi"]);
        assert_eq!(
            (s.cmd.clone().unwrap(), s.args_escaped()),
            (strings(&["cmd /S /C echo hi"]), true)
        );
        // ENTRYPOINT shell form: true, and it drops the base image's Cmd.
        let (s, _) = build(WIN, base.clone(), &[r"ENTRYPOINT C:\app\start.cmd"]);
        assert_eq!(
            (
                s.entrypoint.clone().unwrap(),
                s.cmd.clone(),
                s.args_escaped()
            ),
            (strings(&[r"cmd /S /C C:\app\start.cmd"]), None, true)
        );
        // Exec forms: false.
        let (s, _) = build(WIN, base.clone(), &[r#"CMD ["cmd", "/c", "ver"]"#]);
        assert!(!s.args_escaped());
        // RUN never commits it, but its container runs the pre-escaped line.
        let (s, runs) = build(
            WIN,
            json!({"Cmd": ["cmd"], "ArgsEscaped": false}),
            &[r#"RUN mkdir "c:/foo""#],
        );
        assert!(!s.args_escaped());
        assert_eq!(
            runs,
            [RunConfig {
                entrypoint: vec![String::new()],
                cmd: vec![r#"cmd /S /C mkdir "c:/foo""#.into()],
                args_escaped: true
            }]
        );
        let (s, _) = build(
            WIN,
            json!({"Cmd": ["cmd /S /C x"], "ArgsEscaped": true}),
            &["RUN echo"],
        );
        assert!(s.args_escaped());
        // The flag follows element 0: shell ENTRYPOINT + exec CMD keeps it...
        let (s, _) = build(
            WIN,
            base.clone(),
            &["ENTRYPOINT app.exe --serve", r#"CMD ["--port", "80"]"#],
        );
        assert!(s.args_escaped());
        // ... and exec ENTRYPOINT + shell CMD does not set it.
        let (s, _) = build(
            WIN,
            base.clone(),
            &[r#"ENTRYPOINT ["app.exe"]"#, "CMD --port 80"],
        );
        assert!(!s.args_escaped());
        // A CMD before ENTRYPOINT in the same stage survives it.
        let (s, _) = build(WIN, base, &["CMD x", r#"ENTRYPOINT ["app.exe"]"#]);
        assert_eq!(s.cmd, Some(strings(&["cmd /S /C x"])));
        // Linux never commits it, whatever the base said.
        let (s, _) = build(
            LINUX,
            json!({"Cmd": ["sh"], "ArgsEscaped": true}),
            &["CMD echo hi"],
        );
        assert_eq!(
            (s.cmd.clone().unwrap(), s.args_escaped()),
            (strings(&["/bin/sh", "-c", "echo hi"]), false)
        );
    }

    /// Built, committed and run: the container's command line is the shell plus the
    /// instruction's text, byte for byte.
    #[test]
    fn a_built_image_runs_the_original_text() {
        let (state, _) = build(
            WIN,
            json!({"Cmd": ["c:\\windows\\system32\\cmd.exe"]}),
            &[r#"ENTRYPOINT powershell -Command "& { Write-Host 'hi' }""#],
        );
        let mut config = ContainerConfig::default();
        state.commit_into(&mut config);
        assert_eq!(config.args_escaped, Some(true));
        let image = ImageConfigFile {
            os: "windows".into(),
            config: Some(config),
            ..Default::default()
        };
        let create: ContainerCreateBody =
            serde_json::from_value(json!({"Cmd": ["C:\\out dir\\"]})).unwrap();
        assert_eq!(
            command(&create, &image, WIN).unwrap(),
            Command {
                args: vec![],
                command_line: Some(
                    r#"cmd /S /C powershell -Command "& { Write-Host 'hi' }" "C:\out dir\\""#
                        .into()
                )
            }
        );
    }
}
