//! End to end: healthchecks with the real CLI — a check that turns healthy and one that
//! turns unhealthy (inspect, `docker ps` status and filter, events), a hung probe killed at
//! its timeout, and many probes leaving no exec processes or FIFOs behind.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, IMAGE};

fn health(d: &Daemon, name: &str) -> String {
    d.ok(&["inspect", "--format", "{{.State.Health.Status}}", name])
        .trim()
        .to_string()
}

fn wait_health(d: &Daemon, name: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = health(d, name);
        if h == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: health {h:?}, want {want}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Files in the container's FIFO directory (one set per live process).
fn fifo_count(d: &Daemon, id: &str) -> usize {
    std::fs::read_dir(d.path("exec/fifo").join(id))
        .map(|r| r.count())
        .unwrap_or(0)
}

#[test]
fn healthchecks_with_the_cli() {
    let mut d = Daemon::start();
    d.load_busybox();
    let start = chrono::Utc::now().timestamp();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "good",
        "--health-cmd",
        "test -e /bin/sh",
        "--health-interval",
        "200ms",
        IMAGE,
        "sleep",
        "300",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "bad",
        "--health-cmd",
        "exit 3",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        IMAGE,
        "sleep",
        "300",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hung",
        "--health-cmd",
        "sleep 60",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        IMAGE,
        "sleep",
        "300",
    ]);
    wait_health(&d, "good", "healthy");
    wait_health(&d, "bad", "unhealthy");
    wait_health(&d, "hung", "unhealthy");

    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with("good ") && l.ends_with("(healthy)")),
        "{ps}"
    );
    assert!(
        ps.lines()
            .any(|l| l.starts_with("bad ") && l.ends_with("(unhealthy)")),
        "{ps}"
    );
    let unhealthy = d.ok(&[
        "ps",
        "--filter",
        "health=unhealthy",
        "--format",
        "{{.Names}}",
    ]);
    let mut names: Vec<&str> = unhealthy.lines().collect();
    names.sort();
    assert_eq!(names, ["bad", "hung"]);

    let log = d.ok(&["inspect", "--format", "{{json .State.Health.Log}}", "hung"]);
    assert!(
        log.contains("Health check exceeded timeout (300ms)"),
        "{log}"
    );

    let until = chrono::Utc::now().timestamp() + 1;
    let events = d.ok(&[
        "events",
        "--since",
        &start.to_string(),
        "--until",
        &until.to_string(),
        "--format",
        "{{.Actor.Attributes.name}} {{.Action}}",
    ]);
    assert!(events.contains("good health_status: healthy"), "{events}");
    assert!(events.contains("bad health_status: unhealthy"), "{events}");

    // Many probes later, nothing accumulates: no exec is kept, no FIFO stays behind, and
    // the hung probes were killed (only the container's own sleep runs in it).
    std::thread::sleep(Duration::from_secs(3));
    for name in ["good", "bad", "hung"] {
        let id = d.ok(&["inspect", "--format", "{{.Id}}", name]);
        let id = id.trim();
        let execs = d.ok(&["inspect", "--format", "{{len .ExecIDs}}", name]);
        assert!(
            execs.trim().parse::<usize>().unwrap_or(99) <= 1,
            "{name}: {execs}"
        );
        assert!(
            fifo_count(&d, id) <= 6,
            "{name}: {} FIFOs",
            fifo_count(&d, id)
        );
        let top = d.ok(&["top", name]);
        let sleeps = top.lines().filter(|l| l.contains("sleep 60")).count();
        assert!(sleeps <= 1, "{name}: hung probes pile up:\n{top}");
    }

    // A daemon restart keeps probing the runs that survived it.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "flips",
        "--health-cmd",
        "test ! -e /tmp/sick",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        IMAGE,
        "sleep",
        "300",
    ]);
    wait_health(&d, "flips", "healthy");
    d.restart();
    d.ok(&["exec", "flips", "touch", "/tmp/sick"]);
    wait_health(&d, "flips", "unhealthy");
    d.ok(&["rm", "-f", "flips"]);

    // Probes stop with the container; its health stays as it was.
    d.ok(&["stop", "-t", "1", "good"]);
    assert_eq!(health(&d, "good"), "healthy");
    d.ok(&["rm", "-f", "good", "bad", "hung"]);
}
