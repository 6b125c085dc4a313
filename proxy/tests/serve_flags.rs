//! `dockbridge serve` flags that fail before anything starts.

use std::process::Command;

#[test]
fn non_loopback_tcp_is_refused_until_tls_exists() {
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
