//! End to end: `--device` and `--device-cgroup-rule` with the real CLI — a host device at
//! another path in the container, usable; a device the cgroup does not allow by default
//! made accessible by a rule; a missing host device refused with dockerd's message.
#![cfg(unix)]

mod common;

use common::{Daemon, IMAGE};

#[test]
fn devices_with_the_cli() {
    let d = Daemon::start();
    d.load_busybox();
    let out = d.ok(&[
        "run",
        "--rm",
        "--device",
        "/dev/null:/dev/xnull",
        IMAGE,
        "sh",
        "-c",
        "ls -l /dev/xnull && echo data > /dev/xnull && echo wrote",
    ]);
    assert!(out.contains("1,   3") && out.ends_with("wrote\n"), "{out}");

    // /dev/fuse (10:229) is denied by Docker's default rules; made here as a node, it
    // opens only with a rule that allows it.
    let script = "mknod /dev/f c 10 229 2>/dev/null; cat /dev/f 2>&1 | head -1";
    let denied = d.ok(&["run", "--rm", IMAGE, "sh", "-c", script]);
    assert!(denied.contains("can't open"), "{denied}");
    let allowed = d.ok(&[
        "run",
        "--rm",
        "--device-cgroup-rule",
        "c 10:229 rwm",
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    // Opened (reading an unmounted fuse device then fails, which is the device's business).
    assert!(!allowed.contains("can't open"), "{allowed}");

    // --privileged gets the host's device nodes, as dockerd gives them (issue 19).
    let host_block = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .find(|n| std::path::Path::new("/dev").join(n).exists())
        .expect("a host block device");
    let privileged = d.ok(&["run", "--rm", "--privileged", IMAGE, "ls", "/dev"]);
    assert!(
        privileged.lines().any(|l| l == host_block),
        "{host_block} missing:\n{privileged}"
    );
    let plain = d.ok(&["run", "--rm", IMAGE, "ls", "/dev"]);
    assert!(!plain.lines().any(|l| l == host_block), "{plain}");

    // blkio throttles land in the container's cgroup for the host device's numbers.
    let dev = format!("/dev/{host_block}");
    let throttled = d.ok(&[
        "run", "--rm", "--device-read-bps", &format!("{dev}:1mb"),
        "--device-write-iops", &format!("{dev}:100"), IMAGE, "sh", "-c",
        "cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device",
    ]);
    let lines: Vec<&str> = throttled.lines().collect();
    assert!(
        lines.len() == 2 && lines[0].ends_with(" 1048576") && lines[1].ends_with(" 100"),
        "{throttled}"
    );
    d.fails_with(
        &[
            "run",
            "--rm",
            "--device-read-bps",
            "/dev/nope:1mb",
            IMAGE,
            "true",
        ],
        "stat /dev/nope: no such file or directory",
    );

    let st = d.docker(&["run", "--rm", "--device", "/dev/nope", IMAGE, "true"]);
    assert!(!st.status.success());
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains(
            "error gathering device information while adding custom device \"/dev/nope\": no such file or directory"
        ),
        "{err}"
    );
    let st = d.docker(&[
        "run",
        "--rm",
        "--device-cgroup-rule",
        "x 1:3 rwm",
        IMAGE,
        "true",
    ]);
    assert!(!st.status.success());
    assert!(String::from_utf8_lossy(&st.stderr).contains("invalid device cgroup format"));
}
