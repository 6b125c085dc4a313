//! End to end: the `none` and `local` log drivers — `none` keeps nothing (attach still
//! shows the output, `docker logs` is dockerd's 501), `local` keeps and reads back with its
//! own options checked; an unknown driver gets Docker's words.
#![cfg(unix)]

mod common;

use common::{Daemon, IMAGE};

#[test]
fn none_and_local_log_drivers() {
    let d = Daemon::start();
    d.load_busybox();
    let out = d.ok(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        IMAGE,
        "echo",
        "live",
    ]);
    assert_eq!(out, "live\n");
    d.fails_with(
        &["logs", "quiet"],
        "configured logging driver does not support reading",
    );
    let id = d.ok(&["inspect", "--format", "{{.Id}}", "quiet"]);
    let dir = d.path("data/containers").join(id.trim());
    assert!(!dir.join(format!("{}-json.log", id.trim())).exists());

    d.ok(&[
        "run",
        "--name",
        "kept",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=1m",
        IMAGE,
        "echo",
        "kept",
    ]);
    assert_eq!(d.ok(&["logs", "kept"]), "kept\n");
    let cfg = d.ok(&[
        "inspect",
        "--format",
        "{{json .HostConfig.LogConfig}}",
        "kept",
    ]);
    assert_eq!(cfg.trim(), r#"{"Type":"local","Config":{"max-size":"1m"}}"#);
    d.fails_with(
        &[
            "run",
            "--rm",
            "--log-driver",
            "local",
            "--log-opt",
            "bogus=1",
            IMAGE,
            "true",
        ],
        "unknown log opt 'bogus' for log driver local",
    );
    d.fails_with(
        &["run", "--rm", "--log-driver", "asdf", IMAGE, "true"],
        "logger: no log driver named 'asdf' is registered",
    );
    d.ok(&["rm", "quiet", "kept"]);
}
