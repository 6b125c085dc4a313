//! End to end: Docker's default seccomp profile on unprivileged containers (taken from
//! Debian's moby package by scripts/install-deps.sh), `--security-opt seccomp=unconfined`,
//! a custom profile file read by the CLI, and `--seccomp-profile` on the daemon.
#![cfg(target_os = "linux")]

mod common;

use common::{Daemon, IMAGE};

const DEFAULT: &str = "/usr/local/share/dockbridge/seccomp/default.json";

fn run(d: &Daemon, extra: &[&str], cmd: &[&str]) -> std::process::Output {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(extra);
    args.push(IMAGE);
    args.extend_from_slice(cmd);
    d.docker(&args)
}

#[test]
fn default_unconfined_and_custom_profiles() {
    if !std::path::Path::new(DEFAULT).is_file() {
        assert!(
            std::env::var_os("DOCKBRIDGE_TEST_STRICT").is_none(),
            "{DEFAULT} missing (scripts/install-deps.sh installs it)"
        );
        eprintln!("skipping: {DEFAULT} missing");
        return;
    }
    let d = Daemon::start();
    d.load_busybox();
    let unshare = ["busybox", "unshare", "-U", "true"];
    let out = run(&d, &[], &unshare);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"));
    assert!(run(&d, &["--security-opt", "seccomp=unconfined"], &unshare)
        .status
        .success());
    assert!(run(&d, &["--cap-add", "SYS_ADMIN"], &unshare)
        .status
        .success());
    let info = d.ok(&["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(info.contains("name=seccomp,profile=default"), "{info}");

    // A profile file: the CLI sends its JSON, the daemon applies it.
    let profile = d.path("nomkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = run(&d, &["--security-opt", &opt], &["mkdir", "/tmp/x"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(run(&d, &["--security-opt", &opt], &["touch", "/tmp/x"])
        .status
        .success());

    // The daemon's own profile, and `unconfined` for all.
    let custom = d.start_second(&["--seccomp-profile", profile.to_str().unwrap()]);
    custom.load_busybox();
    assert!(!run(&custom, &[], &["mkdir", "/tmp/x"]).status.success());
    let info = custom.ok(&["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(
        info.contains(&format!("profile={}", profile.display())),
        "{info}"
    );
    drop(custom);
    let open = d.start_second(&["--seccomp-profile", "unconfined"]);
    open.load_busybox();
    assert!(run(&open, &[], &unshare).status.success());
    let info = open.ok(&["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(info.contains("profile=unconfined"), "{info}");
}
