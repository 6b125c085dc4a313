//! End to end: `docker exec` with the real CLI.
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Daemon, IMAGE};

#[test]
fn exec_codes_stdin_tty_detach_and_options() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "--network",
        "none",
        IMAGE,
        "sleep",
        "300",
    ]);

    assert_eq!(d.ok(&["exec", "box", "echo", "hi"]), "hi\n");

    // docker top: the host's ps, only the container's processes.
    let top = d.ok(&["top", "box"]);
    let mut lines = top.lines();
    assert!(lines.next().unwrap_or_default().contains("PID"), "{top}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{top}");
    assert!(rows[0].ends_with("sleep 300"), "{top}");
    let st = d.docker(&["exec", "box", "sh", "-c", "echo o; echo e >&2; exit 3"]);
    assert_eq!(st.status.code(), Some(3), "{st:?}");
    assert_eq!(String::from_utf8_lossy(&st.stdout), "o\n");
    assert_eq!(String::from_utf8_lossy(&st.stderr), "e\n");
    let st = d.docker(&["exec", "box", "/no/such"]);
    assert_ne!(st.status.code(), Some(0), "{st:?}");

    // -i with piped stdin, ended by EOF.
    let mut child = d
        .docker_cmd(&["exec", "-i", "box", "sh", "-c", "cat; echo end"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped\nend\n");

    // -it in a real pseudo-terminal.
    let out = d.in_terminal("exec -it box sh -c 'tty; exit 4'", None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/"), "{text}");

    assert_eq!(
        d.ok(&["exec", "-u", "daemon", "box", "id", "-un"]).trim(),
        "daemon"
    );
    assert_eq!(
        d.ok(&["exec", "-e", "X=y", "box", "sh", "-c", "echo $X"])
            .trim(),
        "y"
    );
    assert_eq!(d.ok(&["exec", "-w", "/etc", "box", "pwd"]).trim(), "/etc");
    let plain = d.ok(&["exec", "box", "grep", "CapEff", "/proc/self/status"]);
    let privileged = d.ok(&[
        "exec",
        "--privileged",
        "box",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_ne!(
        plain, privileged,
        "--privileged must widen the capability set"
    );

    // -d: runs on after the CLI returns.
    d.ok(&[
        "exec",
        "-d",
        "box",
        "sh",
        "-c",
        "sleep 0.3; echo later > /tmp/marker",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if d.docker(&["exec", "box", "cat", "/tmp/marker"])
            .status
            .success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "detached exec did not run");
        std::thread::sleep(Duration::from_millis(100));
    }

    // exec into a stopped container: 409, the CLI's message.
    d.ok(&["stop", "-t", "0", "box"]);
    let st = d.docker(&["exec", "box", "true"]);
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("is not running"),
        "{st:?}"
    );
}
