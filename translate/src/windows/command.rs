//! The process's command: Docker's Entrypoint/Cmd merge, then the `ArgsEscaped` table (see
//! the [module docs](super)) deciding between an argv and a pre-escaped command line.

use spec::api::models::ContainerCreateBody;
use spec::cmdline;
use spec::image::{ContainerConfig, ImageConfigFile};

use crate::Error;

/// The operating system the container runs, which is the image's: a Linux image on a
/// Windows host (LCOW) is a Linux container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerOs {
    Windows,
    Linux,
}

impl ContainerOs {
    /// The OS of containers made from `image` (Docker treats an image without `os` as Linux).
    pub fn of(image: &ImageConfigFile) -> Self {
        if image.is_windows() {
            Self::Windows
        } else {
            Self::Linux
        }
    }
}

/// What goes into the runtime spec's `process`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// `process.args`. Empty when `command_line` is pre-escaped: any argv written next to
    /// it would be a second, disagreeing statement of what to run (containerd does the same).
    pub args: Vec<String>,
    /// `process.commandLine`: always set for a Windows container, never for a Linux one.
    pub command_line: Option<String>,
}

/// Where the first element of the merged command came from, which decides whose
/// `ArgsEscaped` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Image,
    Request,
}

/// Entrypoint and Cmd after Docker's merge of the request over the image config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedCommand {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    head: Origin,
}

impl MergedCommand {
    /// Docker's merge (moby `daemon/commit.go` `merge`, then `mergeAndVerifyConfig`):
    /// * the image `Cmd` is used only when the request has neither an `Entrypoint` nor a
    ///   `Cmd` — so a user `Entrypoint` drops the image `Cmd`;
    /// * the image `Entrypoint` is used only when the request's is absent (`null`); an
    ///   empty list keeps none, and `[""]` (the CLI's `--entrypoint ""`) resets it to none.
    pub fn of(create: &ContainerCreateBody, image: &ContainerConfig) -> Self {
        let mut entrypoint = create.entrypoint.clone().map(|e| (e, Origin::Request));
        let mut cmd = create.cmd.clone().map(|c| (c, Origin::Request));
        if entrypoint.as_ref().is_none_or(|(e, _)| e.is_empty()) {
            if cmd.as_ref().is_none_or(|(c, _)| c.is_empty()) {
                cmd = image.cmd.clone().map(|c| (c, Origin::Image));
            }
            if entrypoint.is_none() {
                entrypoint = image.entrypoint.clone().map(|e| (e, Origin::Image));
            }
        }
        if entrypoint
            .as_ref()
            .is_some_and(|(e, _)| e.len() == 1 && e[0].is_empty())
        {
            entrypoint = None;
        }
        let (entrypoint, ep_origin) = entrypoint.unwrap_or((Vec::new(), Origin::Request));
        let (cmd, cmd_origin) = cmd.unwrap_or((Vec::new(), Origin::Request));
        let head = if entrypoint.is_empty() {
            cmd_origin
        } else {
            ep_origin
        };
        Self {
            entrypoint,
            cmd,
            head,
        }
    }

    /// Entrypoint followed by Cmd.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }

    /// Whether element 0 is a pre-escaped command line: the `ArgsEscaped` of whoever wrote
    /// element 0 says so. The image's flag describes the image's own Entrypoint/Cmd and
    /// nothing a user supplies in its place (moby applies it to a user `Cmd` too, which
    /// then runs unquoted); a request's own `ArgsEscaped` (a builder's `RUN`) describes the
    /// request's command.
    fn pre_escaped(&self, create: &ContainerCreateBody, image: &ContainerConfig) -> bool {
        match self.head {
            Origin::Image => image.args_escaped == Some(true),
            Origin::Request => create.args_escaped == Some(true),
        }
    }
}

/// The process command for a container of `os` made from `create` and `image`, by the
/// `ArgsEscaped` table in the [module docs](super).
pub fn command(
    create: &ContainerCreateBody,
    image: &ImageConfigFile,
    os: ContainerOs,
) -> Result<Command, Error> {
    let config = image.container_config();
    let merged = MergedCommand::of(create, &config);
    let argv = merged.argv();
    if argv.is_empty() {
        // dockerd's wording, so clients that match on it keep working.
        return Err(Error::InvalidParameter("no command specified".into()));
    }
    match os {
        // BuildKit sets ArgsEscaped on every image, Linux included: it means nothing there.
        ContainerOs::Linux => Ok(Command {
            args: argv,
            command_line: None,
        }),
        ContainerOs::Windows if merged.pre_escaped(create, &config) => Ok(Command {
            args: Vec::new(),
            command_line: Some(pre_escaped_line(&argv)?),
        }),
        ContainerOs::Windows => {
            let line = cmdline::join(&argv).map_err(|e| {
                Error::InvalidParameter(format!("cannot build the Windows command line: {e}"))
            })?;
            Ok(Command {
                args: argv,
                command_line: Some(line),
            })
        }
    }
}

/// Element 0 verbatim (it already is a command line), every further element escaped.
fn pre_escaped_line(argv: &[String]) -> Result<String, Error> {
    let invalid = |msg: String| {
        Error::InvalidParameter(format!("cannot build the Windows command line: {msg}"))
    };
    let (head, rest) = argv
        .split_first()
        .ok_or_else(|| invalid("no command".into()))?;
    if head.trim_matches([' ', '\t']).is_empty() {
        return Err(invalid(
            "the pre-escaped (ArgsEscaped) command line is empty".into(),
        ));
    }
    if let Some(index) = argv.iter().position(|a| a.contains('\0')) {
        return Err(invalid(cmdline::CmdlineError::Nul { index }.to_string()));
    }
    let mut line = head.clone();
    for arg in rest {
        line.push(' ');
        line.push_str(&cmdline::escape_arg(arg));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(v: serde_json::Value) -> ContainerCreateBody {
        serde_json::from_value(v).expect("create body")
    }

    fn image(os: &str, config: serde_json::Value) -> ImageConfigFile {
        serde_json::from_value(json!({"os": os, "config": config})).expect("image config")
    }

    fn run(c: serde_json::Value, os: &str, img: serde_json::Value) -> Result<Command, Error> {
        let image = image(os, img);
        command(&create(c), &image, ContainerOs::of(&image))
    }

    fn argv_and_line(args: &[&str], line: &str) -> Command {
        Command {
            args: args.iter().map(|s| s.to_string()).collect(),
            command_line: Some(line.to_string()),
        }
    }

    fn line_only(line: &str) -> Command {
        Command {
            args: Vec::new(),
            command_line: Some(line.to_string()),
        }
    }

    // Row 1: Windows image without ArgsEscaped: args = entrypoint + cmd, line = join(args).
    #[test]
    fn row1_windows_without_args_escaped() {
        let img = json!({"Entrypoint": [r"C:\Program Files\app\app.exe"], "Cmd": ["--dir", r"C:\data dir\"]});
        assert_eq!(
            run(json!({}), "windows", img.clone()).unwrap(),
            argv_and_line(
                &[r"C:\Program Files\app\app.exe", "--dir", r"C:\data dir\"],
                r#""C:\Program Files\app\app.exe" --dir "C:\data dir\\""#
            )
        );
        // A user Cmd replaces the image Cmd, still escaped.
        assert_eq!(
            run(json!({"Cmd": [r#"say "hi""#]}), "windows", img).unwrap(),
            argv_and_line(
                &[r"C:\Program Files\app\app.exe", r#"say "hi""#],
                r#""C:\Program Files\app\app.exe" "say \"hi\"""#
            )
        );
        // ArgsEscaped: false is the same as absent.
        assert_eq!(
            run(
                json!({}),
                "windows",
                json!({"Cmd": ["cmd", "/S", "/C", "echo a b"], "ArgsEscaped": false})
            )
            .unwrap(),
            argv_and_line(&["cmd", "/S", "/C", "echo a b"], r#"cmd /S /C "echo a b""#)
        );
    }

    // Row 2: ArgsEscaped and the command from the image: element 0 verbatim, the rest escaped.
    #[test]
    fn row2_args_escaped_image_command() {
        let shell_cmd = json!({"Cmd": [r#"cmd /S /C echo "hello world""#], "ArgsEscaped": true});
        assert_eq!(
            run(json!({}), "windows", shell_cmd.clone()).unwrap(),
            line_only(r#"cmd /S /C echo "hello world""#)
        );
        // An empty request Cmd is no Cmd.
        assert_eq!(
            run(json!({"Cmd": []}), "windows", shell_cmd).unwrap(),
            line_only(r#"cmd /S /C echo "hello world""#)
        );
        // Image Entrypoint (shell form) + image Cmd.
        let shell_ep = json!({
            "Entrypoint": [r#"powershell -Command "& C:\app\run.ps1""#],
            "Cmd": ["-Mode", "full run"],
            "ArgsEscaped": true
        });
        assert_eq!(
            run(json!({}), "windows", shell_ep.clone()).unwrap(),
            line_only(r#"powershell -Command "& C:\app\run.ps1" -Mode "full run""#)
        );
        // ... + a user Cmd, appended and escaped.
        assert_eq!(
            run(
                json!({"Cmd": [r"C:\out dir\", r#"a"b"#]}),
                "windows",
                shell_ep
            )
            .unwrap(),
            line_only(r#"powershell -Command "& C:\app\run.ps1" "C:\out dir\\" a\"b"#)
        );
        // `Entrypoint: []` keeps no entrypoint but still takes the image Cmd.
        assert_eq!(
            run(
                json!({"Entrypoint": []}),
                "windows",
                json!({"Cmd": ["cmd /S /C dir"], "ArgsEscaped": true})
            )
            .unwrap(),
            line_only("cmd /S /C dir")
        );
    }

    // Row 3: ArgsEscaped, but the user supplies Cmd and the image has no Entrypoint.
    #[test]
    fn row3_user_cmd_is_escaped_despite_image_args_escaped() {
        let img = json!({"Cmd": ["cmd /S /C echo hi"], "ArgsEscaped": true});
        // moby would write `C:\Program Files\x.exe --flag` unquoted: a different program.
        assert_eq!(
            run(
                json!({"Cmd": [r"C:\Program Files\x.exe", "--flag"]}),
                "windows",
                img.clone()
            )
            .unwrap(),
            argv_and_line(
                &[r"C:\Program Files\x.exe", "--flag"],
                r#""C:\Program Files\x.exe" --flag"#
            )
        );
        assert_eq!(
            run(json!({"Cmd": ["cmd", "/c", "echo a b"]}), "windows", img).unwrap(),
            argv_and_line(&["cmd", "/c", "echo a b"], r#"cmd /c "echo a b""#)
        );
    }

    // Row 4: a user Entrypoint overrides the image's and drops the image Cmd: escaped normally.
    #[test]
    fn row4_user_entrypoint_is_escaped_and_drops_image_cmd() {
        let img = json!({"Entrypoint": ["cmd /S /C run.cmd"], "Cmd": ["x"], "ArgsEscaped": true});
        assert_eq!(
            run(
                json!({"Entrypoint": ["powershell", "-File", r"C:\my scripts\a.ps1"]}),
                "windows",
                img.clone()
            )
            .unwrap(),
            argv_and_line(
                &["powershell", "-File", r"C:\my scripts\a.ps1"],
                r#"powershell -File "C:\my scripts\a.ps1""#
            )
        );
        assert_eq!(
            run(
                json!({"Entrypoint": ["ping"], "Cmd": ["-n", "1", "localhost"]}),
                "windows",
                img.clone()
            )
            .unwrap(),
            argv_and_line(&["ping", "-n", "1", "localhost"], "ping -n 1 localhost")
        );
        // `--entrypoint ""` ([""]) resets the entrypoint; the user's Cmd runs, escaped.
        assert_eq!(
            run(
                json!({"Entrypoint": [""], "Cmd": ["cmd", "/c", "ver"]}),
                "windows",
                img.clone()
            )
            .unwrap(),
            argv_and_line(&["cmd", "/c", "ver"], "cmd /c ver")
        );
        // ... and without a Cmd there is nothing to run (the image Cmd is not taken).
        assert!(matches!(
            run(json!({"Entrypoint": [""]}), "windows", img),
            Err(Error::InvalidParameter(m)) if m == "no command specified"
        ));
    }

    // Row 5: the request's own ArgsEscaped (a builder's RUN) describes the request's command.
    #[test]
    fn row5_request_args_escaped_covers_only_the_request_command() {
        let run_cfg = json!({"Entrypoint": [""], "Cmd": [r#"cmd /S /C mkdir "c:/foo""#], "ArgsEscaped": true});
        assert_eq!(
            run(run_cfg, "windows", json!({"Cmd": ["cmd"]})).unwrap(),
            line_only(r#"cmd /S /C mkdir "c:/foo""#)
        );
        // It says nothing about an image Entrypoint that comes first.
        assert_eq!(
            run(
                json!({"Cmd": ["a b"], "ArgsEscaped": true}),
                "windows",
                json!({"Entrypoint": ["app.exe"]})
            )
            .unwrap(),
            argv_and_line(&["app.exe", "a b"], r#"app.exe "a b""#)
        );
    }

    // Row 6: Linux images, including Linux containers on Windows: ArgsEscaped is ignored.
    #[test]
    fn row6_linux_ignores_args_escaped() {
        for create in [json!({}), json!({"ArgsEscaped": true})] {
            let got = run(
                create,
                "linux",
                json!({"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo \"a b\""], "ArgsEscaped": true}),
            )
            .unwrap();
            assert_eq!(
                got,
                Command {
                    args: vec!["/bin/sh".into(), "-c".into(), "echo \"a b\"".into()],
                    command_line: None
                }
            );
        }
        // An image without `os` is a Linux image to Docker.
        let image: ImageConfigFile =
            serde_json::from_value(json!({"config": {"Cmd": ["x"]}})).unwrap();
        assert_eq!(ContainerOs::of(&image), ContainerOs::Linux);
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(matches!(
            run(json!({}), "windows", json!({})),
            Err(Error::InvalidParameter(m)) if m == "no command specified"
        ));
        let err = run(json!({"Cmd": ["a\"b.exe"]}), "windows", json!({}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("double quote"), "{err}");
        let err = run(json!({"Cmd": ["a", "b\0"]}), "windows", json!({}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("NUL"), "{err}");
        let err = run(
            json!({}),
            "windows",
            json!({"Cmd": ["x", "\0"], "ArgsEscaped": true}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("NUL"), "{err}");
        let err = run(
            json!({}),
            "windows",
            json!({"Cmd": [" "], "ArgsEscaped": true}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn windows_lines_split_back_to_the_argv() {
        use spec::cmdline::{split, Rules};
        let argv = [
            r"C:\Program Files\a b\",
            r#"x "y" \"#,
            "",
            "\t",
            r"\\server\share\",
        ];
        let got = run(json!({"Cmd": argv}), "windows", json!({})).unwrap();
        let line = got.command_line.unwrap();
        for rules in [Rules::CommandLineToArgvW, Rules::MsvcCrt] {
            assert_eq!(split(&line, rules), argv, "{rules:?}");
        }
    }
}
