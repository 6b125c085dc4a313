//! End to end: `--pid container:X` and `--ipc container:X` join the other container's
//! namespaces (an `--ipc shareable` donor's `/dev/shm` is shared too), with dockerd's
//! refusals; nothing stays mounted after the donor is removed.
#![cfg(unix)]

mod common;

use common::{Daemon, IMAGE};

#[test]
fn joining_pid_and_ipc_namespaces() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        IMAGE,
        "sh",
        "-c",
        "echo shared > /dev/shm/x; exec sleep 300",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // The donor's processes are visible from inside the joiner.
    let ps = d.ok(&[
        "run",
        "--rm",
        "--pid",
        "container:donor",
        IMAGE,
        "ps",
        "-o",
        "pid,args",
    ]);
    assert!(ps.contains("sleep 300"), "{ps}");
    let ns = |args: &[&str]| d.ok(args).trim().to_string();
    let donor_ipc = ns(&["exec", "donor", "readlink", "/proc/1/ns/ipc"]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--ipc",
        "container:donor",
        IMAGE,
        "sh",
        "-c",
        "cat /dev/shm/x; readlink /proc/1/ns/ipc",
    ]);
    assert_eq!(out, format!("shared\n{donor_ipc}\n"));

    d.ok(&["run", "-d", "--name", "private", IMAGE, "sleep", "300"]);
    d.fails_with(
        &["run", "--rm", "--ipc", "container:private", IMAGE, "true"],
        "non-shareable IPC",
    );
    d.ok(&["stop", "-t", "0", "private"]);
    d.fails_with(
        &["run", "--rm", "--pid", "container:private", IMAGE, "true"],
        "cannot join PID of a non running container",
    );
    d.ok(&["rm", "-f", "donor", "private"]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = d.path("data").display().to_string();
    assert!(!mounts.contains(&root), "left mounted under {root}");
}
