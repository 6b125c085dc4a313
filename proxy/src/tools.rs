//! The offline tools of the `dockbridge` binary:
//!
//! * `dockbridge cmdline join -- ARG...` prints the Windows command line dockbridge would
//!   write for an argv; `dockbridge cmdline split --rules argv|crt -- LINE` prints, as one
//!   JSON array, the argv a program would see (`argv` = `CommandLineToArgvW`, `crt` = the
//!   Microsoft C runtime), for users who debug quoting.
//! * `dockbridge translate --platform windows|linux --image-config FILE --create FILE`
//!   prints the exact OCI runtime spec dockbridge would send for a create request (the body
//!   of `POST /containers/create`) and an image config: the audit tool for a rollout.
//!
//! Output goes to stdout; errors go to stderr with a non-zero exit status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;
use spec::api::models::ContainerCreateBody;
use spec::cmdline::{self, Rules};
use spec::image::ImageConfigFile;

/// The container id `translate` assumes unless told otherwise: fixed, so that two audits of
/// the same request diff cleanly (its first 12 characters are the default hostname).
pub const AUDIT_CONTAINER_ID: &str =
    "4f1c3a2b9d8e7f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CmdlineCommand {
    /// Print the Windows command line for an argv (program first), after `--`.
    Join {
        #[arg(allow_hyphen_values = true, value_name = "ARG")]
        args: Vec<String>,
    },
    /// Print, as a JSON array, the argv a Windows program reads from LINE.
    Split {
        /// Which parser: `argv` = CommandLineToArgvW (shell32), `crt` = the Microsoft C runtime.
        #[arg(long, value_enum)]
        rules: RulesArg,
        #[arg(allow_hyphen_values = true, value_name = "LINE")]
        line: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesArg {
    /// shell32's CommandLineToArgvW (also the pre-2008 C runtime's argument rules).
    Argv,
    /// The current (2008+) Microsoft C runtime.
    Crt,
}

impl From<RulesArg> for Rules {
    fn from(r: RulesArg) -> Self {
        match r {
            RulesArg::Argv => Rules::CommandLineToArgvW,
            RulesArg::Crt => Rules::MsvcCrt,
        }
    }
}

/// Runs `dockbridge cmdline …`.
pub fn run_cmdline(cmd: CmdlineCommand) -> ExitCode {
    report("cmdline", cmdline_output(&cmd))
}

/// What `dockbridge cmdline …` prints (without the final newline).
pub fn cmdline_output(cmd: &CmdlineCommand) -> Result<String, String> {
    match cmd {
        CmdlineCommand::Join { args } => cmdline::join(args).map_err(|e| e.to_string()),
        CmdlineCommand::Split { rules, line } => {
            serde_json::to_string(&cmdline::split(line, (*rules).into())).map_err(|e| e.to_string())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlatformArg {
    Windows,
    Linux,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    Process,
    Hyperv,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct TranslateArgs {
    /// The platform of the daemon that runs the container.
    #[arg(long, value_enum)]
    pub platform: PlatformArg,
    /// The image config JSON (the config blob the image's manifest points to).
    #[arg(long, value_name = "FILE")]
    pub image_config: PathBuf,
    /// The create request: the JSON body of `POST /containers/create`.
    #[arg(long, value_name = "FILE")]
    pub create: PathBuf,
    /// The container id to assume.
    #[arg(long, default_value = AUDIT_CONTAINER_ID)]
    pub container_id: String,
    /// Windows: the host's logical CPUs, which `--cpus` is a share of [default: this machine's].
    #[arg(long, value_name = "N")]
    pub host_cpus: Option<u32>,
    /// Windows: the isolation `default` means on the host (dockerd: process on Windows
    /// Server, hyperv on client Windows).
    #[arg(long, value_enum, default_value = "process")]
    pub default_isolation: IsolationArg,
}

/// Runs `dockbridge translate …`.
pub fn run_translate(args: TranslateArgs) -> ExitCode {
    report("translate", translate_output(&args))
}

/// What `dockbridge translate …` prints: the spec as pretty JSON with sorted keys (so that
/// audits diff cleanly whatever order the maps come in), without the final newline.
pub fn translate_output(args: &TranslateArgs) -> Result<String, String> {
    let create: ContainerCreateBody = serde_json::from_slice(&read(&args.create)?)
        .map_err(|e| format!("parsing {}: {e}", args.create.display()))?;
    let image = ImageConfigFile::from_slice(&read(&args.image_config)?)
        .map_err(|e| format!("parsing {}: {e}", args.image_config.display()))?;
    let spec = match args.platform {
        PlatformArg::Windows => {
            let cpus = args
                .host_cpus
                .or_else(|| {
                    std::thread::available_parallelism()
                        .ok()
                        .and_then(|n| u32::try_from(n.get()).ok())
                })
                .unwrap_or(1);
            let mut ctx = translate::windows::WindowsContext::for_audit(&args.container_id, cpus);
            ctx.hyperv_default = args.default_isolation == IsolationArg::Hyperv;
            // The daemon creates (and names) a volume for each of these; an audit names them
            // so that it is plain they do not exist yet.
            let targets =
                translate::windows::anonymous_volume_targets(&create, &image.container_config())
                    .map_err(|e| e.to_string())?;
            for (i, target) in targets.into_iter().enumerate() {
                ctx.anonymous_volumes
                    .insert(target, format!("<anonymous-volume-{}>", i + 1));
            }
            translate::windows::windows_spec(&create, &image, &ctx)
        }
        PlatformArg::Linux => translate::linux::linux_spec(
            &create,
            &image,
            &translate::linux::LinuxContext::for_audit(&args.container_id),
        ),
    }
    .map_err(|e| e.to_string())?;
    let value = serde_json::to_value(&spec).map_err(|e| format!("serialising the spec: {e}"))?;
    serde_json::to_string_pretty(&sorted(value)).map_err(|e| format!("serialising the spec: {e}"))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// Keys sorted at every level (serde_json keeps insertion order when `preserve_order` is
/// on anywhere in the build, and oci-spec's annotations are a `HashMap`).
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn report(tool: &str, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dockbridge {tool}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Stands in for the binary's parser, which the tools' subcommands are wired into.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        tool: Tool,
    }

    #[derive(Debug, Subcommand)]
    enum Tool {
        Cmdline {
            #[command(subcommand)]
            cmd: CmdlineCommand,
        },
        Translate(TranslateArgs),
    }

    fn parse(args: &[&str]) -> Tool {
        Cli::try_parse_from(std::iter::once("dockbridge").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .tool
    }

    fn cmdline(args: &[&str]) -> Result<String, String> {
        match parse(args) {
            Tool::Cmdline { cmd } => cmdline_output(&cmd),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn join_prints_the_command_line() {
        assert_eq!(
            cmdline(&[
                "cmdline",
                "join",
                "--",
                r"C:\Program Files\app.exe",
                "-v",
                r"C:\out dir\",
                r#"say "hi""#
            ]),
            Ok(r#""C:\Program Files\app.exe" -v "C:\out dir\\" "say \"hi\"""#.to_string())
        );
        assert_eq!(
            cmdline(&["cmdline", "join", "--", "a", ""]),
            Ok(r#"a """#.to_string())
        );
        let err = cmdline(&["cmdline", "join", "--", "a\"b"]).unwrap_err();
        assert!(err.contains("double quote"), "{err}");
        let err = cmdline(&["cmdline", "join", "--"]).unwrap_err();
        assert!(err.contains("empty argv"), "{err}");
    }

    #[test]
    fn split_prints_a_json_array() {
        let line = r#"EXE a"b"" c d"#;
        assert_eq!(
            cmdline(&["cmdline", "split", "--rules", "argv", "--", line]),
            Ok(r#"["EXE","ab\"","c","d"]"#.into())
        );
        assert_eq!(
            cmdline(&["cmdline", "split", "--rules", "crt", "--", line]),
            Ok(r#"["EXE","ab\" c d"]"#.into())
        );
        assert_eq!(
            cmdline(&["cmdline", "split", "--rules", "crt", "--", "-x --y"]),
            Ok(r#"["-x","--y"]"#.into())
        );
        assert!(Cli::try_parse_from([
            "dockbridge",
            "cmdline",
            "split",
            "--rules",
            "bash",
            "--",
            "x"
        ])
        .is_err());
        assert!(Cli::try_parse_from(["dockbridge", "cmdline", "split", "--", "x"]).is_err());
    }

    fn testdata(case: &str, file: &str) -> String {
        format!(
            "{}/../translate/testdata/windows/{case}/{file}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn translate(extra: &[&str], case: &str) -> Result<String, String> {
        let (image, create) = (testdata(case, "image.json"), testdata(case, "create.json"));
        let mut args = vec!["translate", "--image-config", &image, "--create", &create];
        args.extend_from_slice(extra);
        match parse(&args) {
            Tool::Translate(a) => translate_output(&a),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn translate_prints_the_golden_spec() {
        for case in [
            "01-nanoserver-default",
            "03-shell-entrypoint-user-cmd",
            "04-user-cmd-on-args-escaped-image",
        ] {
            let want = std::fs::read_to_string(testdata(case, "spec.json")).unwrap();
            let got = translate(&["--platform", "windows", "--host-cpus", "4"], case).unwrap();
            assert_eq!(got + "\n", want, "{case}");
        }
    }

    #[test]
    fn translate_options_and_errors() {
        let got = translate(
            &[
                "--platform",
                "windows",
                "--default-isolation",
                "hyperv",
                "--container-id",
                "abc",
            ],
            "01-nanoserver-default",
        )
        .unwrap();
        let v: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["windows"]["hyperv"], serde_json::json!({}));
        assert_eq!(v["hostname"], "abc");
        let err = translate(&["--platform", "windows"], "10-error-cap-add").unwrap_err();
        assert!(err.contains("CapAdd"), "{err}");
        let args = TranslateArgs {
            platform: PlatformArg::Windows,
            image_config: "/nonexistent/image.json".into(),
            create: testdata("01-nanoserver-default", "create.json").into(),
            container_id: AUDIT_CONTAINER_ID.into(),
            host_cpus: None,
            default_isolation: IsolationArg::Process,
        };
        let err = translate_output(&args).unwrap_err();
        assert!(err.starts_with("reading /nonexistent/image.json"), "{err}");
    }

    #[test]
    fn translate_names_anonymous_volumes_in_audits() {
        let dir = std::env::temp_dir().join(format!("dockbridge-tools-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (image, create) = (dir.join("image.json"), dir.join("create.json"));
        std::fs::write(
            &image,
            r#"{"os":"windows","config":{"Cmd":["cmd"],"Volumes":{"C:\\data":{}}}}"#,
        )
        .unwrap();
        std::fs::write(&create, "{}").unwrap();
        let args = TranslateArgs {
            platform: PlatformArg::Windows,
            image_config: image,
            create,
            container_id: AUDIT_CONTAINER_ID.into(),
            host_cpus: Some(2),
            default_isolation: IsolationArg::Process,
        };
        let v: Value = serde_json::from_str(&translate_output(&args).unwrap()).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            v["mounts"],
            serde_json::json!([{"destination": r"C:\data", "source": r"C:\ProgramData\docker\volumes\<anonymous-volume-1>\_data"}])
        );
    }
}
