//! End to end: `--init` runs tini as PID 1 (bind-mounted at /sbin/docker-init, as dockerd
//! mounts docker-init) and it reaps orphans; without it, an orphan whose parent PID 1
//! never waits stays a zombie — the difference the option exists for.
#![cfg(unix)]

mod common;

use common::{Daemon, IMAGE};

fn zombies(d: &Daemon, name: &str) -> usize {
    d.ok(&["exec", name, "ps", "-o", "stat,comm"])
        .lines()
        .filter(|l| l.starts_with('Z'))
        .count()
}

#[test]
fn init_reaps_orphans() {
    let d = Daemon::start();
    d.load_busybox();
    let pid1 = d.ok(&["run", "--rm", "--init", IMAGE, "cat", "/proc/1/cmdline"]);
    assert_eq!(
        pid1.split('\0').next(),
        Some("/sbin/docker-init"),
        "{pid1:?}"
    );
    assert!(pid1.contains("cat"), "{pid1:?}");

    // The subshell's background sleep is orphaned to PID 1; `exec sleep` never waits.
    let script = "(sleep 0.1 &); exec sleep 60";
    d.ok(&["run", "-d", "--name", "plain", IMAGE, "sh", "-c", script]);
    d.ok(&[
        "run", "-d", "--init", "--name", "inited", IMAGE, "sh", "-c", script,
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(zombies(&d, "plain"), 1, "the control shows no zombie");
    assert_eq!(zombies(&d, "inited"), 0);
    let inspect = d.ok(&["inspect", "--format", "{{.HostConfig.Init}}", "inited"]);
    assert_eq!(inspect.trim(), "true");
    d.ok(&["rm", "-f", "plain", "inited"]);
}
