//! End to end: `docker attach`, `docker run -a`, detach keys, several attachers.
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Daemon, IMAGE};

#[test]
fn attach_fanout_run_a_and_detach_keys() {
    let d = Daemon::start();
    d.load_busybox();

    // -a stdout: stderr is not attached, so the CLI prints only stdout.
    let st = d.docker(&[
        "run",
        "--rm",
        "-a",
        "stdout",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert!(st.status.success(), "{st:?}");
    assert_eq!(String::from_utf8_lossy(&st.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&st.stderr), "");

    // Two attachers on one running container both see its output (fan-out).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "sleep 1; for i in 1 2 3; do echo line$i; sleep 0.2; done",
    ]);
    let a1 = d
        .docker_cmd(&["attach", "--no-stdin", "talker"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let a2 = d
        .docker_cmd(&["attach", "--no-stdin", "talker"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let o1 = a1.wait_with_output().unwrap();
    let o2 = a2.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o1.stdout), "line1\nline2\nline3\n");
    assert_eq!(String::from_utf8_lossy(&o2.stdout), "line1\nline2\nline3\n");

    // Detach with ctrl-p ctrl-q from a real terminal: the container keeps running.
    d.ok(&[
        "run",
        "-dit",
        "--name",
        "shell",
        "--network",
        "none",
        IMAGE,
        "sh",
    ]);
    let out = d.in_terminal(
        "attach shell",
        Some("sleep 1; printf 'echo typed > /tmp/t\\n'; sleep 1; printf '\\020\\021'"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("read escape sequence"), "{text}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "shell"])
            .trim(),
        "true"
    );
    assert_eq!(d.ok(&["exec", "shell", "cat", "/tmp/t"]), "typed\n");
    d.ok(&["rm", "-f", "shell", "talker"]);
}
