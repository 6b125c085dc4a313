//! End to end: the offline tools of the built `dockbridge` binary (`cmdline join`,
//! `cmdline split`, `translate`). No daemon, no containerd.

use std::path::PathBuf;
use std::process::{Command, Output};

fn dockbridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dockbridge"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running dockbridge {args:?}: {e}"))
}

/// Success, with exactly `stdout` and nothing on stderr.
fn ok(args: &[&str]) -> String {
    let out = dockbridge(args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "dockbridge {args:?}: {:?}\nstderr: {stderr}",
        out.status
    );
    assert_eq!(stderr, "", "dockbridge {args:?}");
    stdout.into_owned()
}

/// Failure, with a message on stderr and nothing on stdout; returns the message.
fn fails(args: &[&str]) -> String {
    let out = dockbridge(args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !out.status.success(),
        "dockbridge {args:?} should fail; stdout: {stdout}"
    );
    assert_eq!(stdout, "", "dockbridge {args:?}");
    assert!(!stderr.trim().is_empty(), "dockbridge {args:?}: no message");
    stderr.into_owned()
}

fn golden(case: &str, file: &str) -> String {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "translate",
        "testdata",
        "windows",
        case,
        file,
    ]
    .iter()
    .collect();
    p.to_string_lossy().into_owned()
}

#[test]
fn cmdline_join_prints_one_line() {
    assert_eq!(
        ok(&[
            "cmdline",
            "join",
            "--",
            r"C:\Program Files\App\app.exe",
            "--out",
            r"C:\out dir\",
            r#"say "hi""#,
            ""
        ]),
        "\"C:\\Program Files\\App\\app.exe\" --out \"C:\\out dir\\\\\" \"say \\\"hi\\\"\" \"\"\n"
    );
    // Arguments that look like options are arguments after `--`.
    assert_eq!(
        ok(&["cmdline", "join", "--", "ping", "-n", "1", "--help"]),
        "ping -n 1 --help\n"
    );
}

#[test]
fn cmdline_join_refuses_what_windows_cannot_express() {
    assert!(fails(&["cmdline", "join", "--", "C:\\\"quoted\"\\app.exe"]).contains("double quote"));
    fails(&["cmdline", "join", "--"]);
}

#[test]
fn cmdline_split_prints_a_json_array_per_parser() {
    let line = r#"EXE a"b"" c d"#;
    assert_eq!(
        ok(&["cmdline", "split", "--rules", "argv", "--", line]),
        "[\"EXE\",\"ab\\\"\",\"c\",\"d\"]\n"
    );
    assert_eq!(
        ok(&["cmdline", "split", "--rules", "crt", "--", line]),
        "[\"EXE\",\"ab\\\" c d\"]\n"
    );
    let line = r#""C:\Program Files\App\app.exe" --out "C:\out dir\\" "say \"hi\"" """#;
    let want = "[\"C:\\\\Program Files\\\\App\\\\app.exe\",\"--out\",\"C:\\\\out dir\\\\\",\"say \\\"hi\\\"\",\"\"]\n";
    assert_eq!(
        ok(&["cmdline", "split", "--rules", "argv", "--", line]),
        want
    );
    assert_eq!(
        ok(&["cmdline", "split", "--rules", "crt", "--", line]),
        want
    );
    fails(&["cmdline", "split", "--rules", "sh", "--", "x"]);
}

#[test]
fn cmdline_join_then_split_round_trips() {
    let argv = [
        r"C:\Program Files\x\",
        r#"a\"b"#,
        "\t",
        r"\\server\share\",
        "Игорь 😀",
    ];
    let mut args = vec!["cmdline", "join", "--"];
    args.extend(argv);
    let line = ok(&args);
    let line = line.strip_suffix('\n').unwrap();
    for rules in ["argv", "crt"] {
        let json = ok(&["cmdline", "split", "--rules", rules, "--", line]);
        let got: Vec<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(got, argv, "{rules}");
    }
}

#[test]
fn translate_prints_the_golden_windows_specs() {
    for (case, extra) in [
        ("01-nanoserver-default", &["--host-cpus", "4"][..]),
        ("02-servercore-shell-cmd-tty", &["--host-cpus", "4"][..]),
        ("03-shell-entrypoint-user-cmd", &["--host-cpus", "4"][..]),
        (
            "04-user-cmd-on-args-escaped-image",
            &["--host-cpus", "4"][..],
        ),
        ("05-user-entrypoint-override", &["--host-cpus", "4"][..]),
        (
            "08-process-nanocpus-on-hyperv-host",
            &["--host-cpus", "8", "--default-isolation", "hyperv"][..],
        ),
        (
            "09-default-isolation-hyperv-host",
            &["--host-cpus", "4", "--default-isolation", "hyperv"][..],
        ),
    ] {
        let (image, create) = (golden(case, "image.json"), golden(case, "create.json"));
        let mut args = vec![
            "translate",
            "--platform",
            "windows",
            "--image-config",
            &image,
            "--create",
            &create,
        ];
        args.extend(extra);
        let want = std::fs::read_to_string(golden(case, "spec.json")).unwrap();
        assert_eq!(ok(&args), want, "{case}");
    }
}

#[test]
fn translate_errors_name_the_problem() {
    let (image, create) = (
        golden("10-error-cap-add", "image.json"),
        golden("10-error-cap-add", "create.json"),
    );
    let msg = fails(&[
        "translate",
        "--platform",
        "windows",
        "--image-config",
        &image,
        "--create",
        &create,
    ]);
    assert!(msg.contains("CapAdd"), "{msg}");
    let msg = fails(&[
        "translate",
        "--platform",
        "windows",
        "--image-config",
        "/no/such/image.json",
        "--create",
        &create,
    ]);
    assert!(msg.contains("/no/such/image.json"), "{msg}");
}

#[test]
fn translate_linux() {
    let dir = std::env::temp_dir().join(format!("dockbridge-cli-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (image, create) = (dir.join("image.json"), dir.join("create.json"));
    std::fs::write(&image, r#"{"os":"linux","architecture":"amd64","config":{"Cmd":["sh"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}"#)
        .unwrap();
    std::fs::write(
        &create,
        r#"{"Image":"busybox","Cmd":["echo","a b"],"HostConfig":{"NetworkMode":"none"}}"#,
    )
    .unwrap();
    let out = dockbridge(&[
        "translate",
        "--platform",
        "linux",
        "--image-config",
        &image.to_string_lossy(),
        "--create",
        &create.to_string_lossy(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{out:?}");
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(spec["process"]["args"], serde_json::json!(["echo", "a b"]));
    assert_eq!(spec["process"].get("commandLine"), None);
}
