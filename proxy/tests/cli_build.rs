//! End to end: `docker build` before dockbridge has a builder — the CLI uploads its whole
//! context and gets Docker's JSON error back (a 501 that says so), never a broken pipe.
#![cfg(unix)]

mod common;

use common::Daemon;

#[test]
fn build_is_refused_after_the_context_is_read() {
    let d = Daemon::start();
    let ctx = d.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN true\n").unwrap();
    // Larger than any socket buffer: an unread body would break the CLI's pipe.
    std::fs::write(ctx.join("big"), vec![7u8; 8 << 20]).unwrap();
    let st = d
        .docker_cmd(&["build", ctx.to_str().unwrap()])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(!st.status.success());
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("docker build is not supported by dockbridge yet"),
        "{err}"
    );
    assert!(!err.contains("broken pipe"), "{err}");
}
