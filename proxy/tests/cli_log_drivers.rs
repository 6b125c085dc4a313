//! End to end: the `none` and `local` log drivers — `none` keeps nothing (attach still
//! shows the output, `docker logs` is dockerd's 501), `local` keeps and reads back with its
//! own options checked; an unknown driver gets Docker's words; json-file `compress`
//! gzips rotated files and `docker logs` reads across them.
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

#[test]
fn json_file_compress_gzips_rotated_files() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run",
        "--name",
        "squeezed",
        "--network",
        "none",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "--log-opt",
        "compress=true",
        IMAGE,
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    let log = d.ok(&["inspect", "-f", "{{.LogPath}}", "squeezed"]);
    let log = log.trim();
    for n in [1, 2] {
        let gz = std::fs::read(format!("{log}.{n}.gz")).expect("a gzipped rotated file");
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert!(!std::path::Path::new(&format!("{log}.{n}")).exists());
    }
    let out = d.ok(&["logs", "squeezed"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&"line-199"));
    assert!(lines.len() > 16, "{out}");
    // Without rotation, `compress` is refused when the container starts, as dockerd does.
    let out = d.docker(&["run", "--rm", "--log-opt", "compress=true", IMAGE, "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set"
        ),
        "{out:?}"
    );
}
