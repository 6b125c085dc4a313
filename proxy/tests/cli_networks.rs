//! End to end: `docker network`, `docker volume` and `docker system prune` with the real
//! CLI, on a daemon without a default bridge (`--bridge none`, the harness's default in the
//! host's network namespace). dockbridge lists what really exists (the built-in `host` and
//! `none` networks, no named volumes, no build cache) and refuses what it cannot provide.
#![cfg(unix)]

mod common;

use common::{Daemon, IMAGE};

#[test]
fn networks_volumes_and_system_prune() {
    let d = Daemon::start();
    d.load_busybox();
    assert_eq!(
        d.ok(&[
            "network",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}}"
        ]),
        "host host local\nnone null local\n"
    );
    assert_eq!(
        d.ok(&["network", "ls", "-q", "--filter", "driver=null"])
            .len(),
        13
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "onhost",
        "--network",
        "host",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let attached = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}}{{end}}",
        "host",
    ]);
    assert_eq!(attached.trim(), "onhost");
    d.fails_with(&["network", "inspect", "bridge"], "not found");
    // User networks are tested in a private network namespace (cli_bridge.rs); here only
    // what changes nothing on the host: other drivers are refused.
    d.fails_with(
        &["network", "create", "-d", "overlay", "mynet"],
        "not supported by dockbridge",
    );
    d.fails_with(&["network", "rm", "host"], "pre-defined network");

    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");
    d.fails_with(&["volume", "inspect", "v1"], "no such volume");

    // `docker system prune` walks containers, networks, images and the build cache.
    d.ok(&["rm", "-f", "onhost"]);
    d.ok(&["create", "--name", "leftover", IMAGE, "true"]);
    let out = d.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // The image is in use by nothing but still tagged: kept.
    assert!(d.ok(&["images", "-q"]).trim().len() >= 12);
}
