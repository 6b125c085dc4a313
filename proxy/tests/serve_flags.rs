//! `dockbridge serve` flags that fail before anything starts.

use std::process::Command;

#[test]
fn non_loopback_tcp_is_refused_without_tls() {
    let out = Command::new(env!("CARGO_BIN_EXE_dockbridge"))
        .args([
            "serve",
            "-H",
            "tcp://0.0.0.0:2375",
            "--data-root",
            "/nonexistent/x",
            "--exec-root",
            "/nonexistent/y",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs TLS"), "{err}");
    // Nothing was created for a refused start.
    assert!(!std::path::Path::new("/nonexistent").exists());
}

#[test]
fn malformed_hosts_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_dockbridge"))
        .args(["serve", "-H", "ftp://nowhere"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid host"));
}

/// `dockbridge serve ARGS` with `HOME` (where the default certificates live) set to
/// `home` and no `DOCKER_CERT_PATH`/`DOCKER_CONFIG`: it must fail before creating its
/// roots. Returns stderr.
fn refused_start(home: &std::path::Path, args: &[&str]) -> String {
    let roots = home.join("roots");
    let out = Command::new(env!("CARGO_BIN_EXE_dockbridge"))
        .arg("serve")
        .args(args)
        .arg("--data-root")
        .arg(roots.join("data"))
        .arg("--exec-root")
        .arg(roots.join("exec"))
        .env("HOME", home)
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(!roots.exists(), "a refused start created its roots");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn tlsverify_without_a_ca_names_the_default_path() {
    let home = tempfile::tempdir().unwrap();
    let err = refused_start(home.path(), &["--tlsverify", "-H", "tcp://127.0.0.1:0"]);
    let ca = home.path().join(".docker/ca.pem");
    assert!(
        err.contains(&format!("{} (the default for --tlscacert", ca.display())),
        "{err}"
    );
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn missing_tls_files_are_clear_errors_at_start() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".docker");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), "not a certificate\n").unwrap();
    let err = refused_start(
        home.path(),
        &[
            "--tls",
            "--tlsverify=false",
            "--tlscert",
            "/nonexistent/cert.pem",
        ],
    );
    assert!(
        err.contains("--tlscert /nonexistent/cert.pem: No such file"),
        "{err}"
    );
    let err = refused_start(home.path(), &["--tlsverify"]);
    assert!(err.contains("no PEM certificate"), "{err}");
    assert!(err.contains("ca.pem (the default for --tlscacert"), "{err}");
    // With TLS on, a non-loopback address is allowed; the files still decide.
    let err = refused_start(
        home.path(),
        &[
            "--tlsverify",
            "--tlscacert",
            "/nonexistent/ca.pem",
            "-H",
            "tcp://0.0.0.0",
        ],
    );
    assert!(err.contains("--tlscacert /nonexistent/ca.pem"), "{err}");
}

#[cfg(unix)]
#[test]
fn an_unknown_socket_group_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let err = refused_start(home.path(), &["--group", "no-such-group-here"]);
    assert!(err.contains("group no-such-group-here not found"), "{err}");
}

#[test]
fn a_seccomp_profile_that_does_not_load_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("nope.json");
    let err = refused_start(
        home.path(),
        &[
            "--seccomp-profile",
            missing.to_str().unwrap(),
            "-H",
            "tcp://127.0.0.1:0",
        ],
    );
    assert!(
        err.contains(&format!(
            "reading the seccomp profile {}",
            missing.display()
        )),
        "{err}"
    );
    let bad = home.path().join("bad.json");
    std::fs::write(&bad, "{bad").unwrap();
    let err = refused_start(
        home.path(),
        &[
            "--seccomp-profile",
            bad.to_str().unwrap(),
            "-H",
            "tcp://127.0.0.1:0",
        ],
    );
    assert!(err.contains("Decoding seccomp profile failed"), "{err}");
}
