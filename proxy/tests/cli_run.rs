//! End to end: the real docker CLI against a real dockbridge on a private containerd.
//! Each test brings up its own daemon (serially: see `common::SERIAL`).
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Daemon, IMAGE};

#[test]
fn run_echo_exit_codes_and_rm() {
    let d = Daemon::start();
    d.load_busybox();
    let out = d.ok(&["run", "--rm", "--network", "none", IMAGE, "echo", "hi"]);
    assert_eq!(out, "hi\n");

    let st = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(st.status.code(), Some(3), "{st:?}");
    assert_eq!(String::from_utf8_lossy(&st.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&st.stderr), "err\n");

    // --rm removed both containers.
    assert_eq!(d.ok(&["ps", "-aq"]), "");

    // A missing executable: the CLI's 127, and the container is left in `created` state
    // with the error recorded.
    let st = d.docker(&[
        "run",
        "--name",
        "nope",
        "--network",
        "none",
        IMAGE,
        "/no/such/binary",
    ]);
    assert_eq!(st.status.code(), Some(127), "{st:?}");
    let state = d.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "nope",
    ]);
    assert_eq!(state.trim(), "created 127");
    d.ok(&["rm", "nope"]);

    // `run --rm` whose start fails: removed as dockerd does, and the CLI, which waits for
    // that removal, returns with the error instead of hanging.
    let mut child = d
        .docker_cmd(&["run", "--rm", "-u", "nosuchuser", IMAGE, "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("docker run --rm hung after a failed start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unable to find user nosuchuser"),
        "{out:?}"
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn stdin_tty_user_workdir_env_and_binds() {
    let d = Daemon::start();
    d.load_busybox();

    // -i with piped stdin, half-closed at EOF.
    let mut child = d
        .docker_cmd(&[
            "run",
            "-i",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "cat; echo done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello stdin\ndone\n");

    // -t through a real pseudo-terminal made by script(1).
    let out = d.in_terminal(
        &format!("run --rm -t --network none {IMAGE} sh -c 'tty; echo cols=$(stty size)'"),
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/0"), "{text}");

    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-u",
            "daemon",
            IMAGE,
            "id",
            "-u"
        ])
        .trim(),
        "1"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "-u", "1:2", IMAGE, "id"])
            .trim(),
        "uid=1(daemon) gid=2 groups=2"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-w",
            "/made/by/docker",
            IMAGE,
            "pwd"
        ])
        .trim(),
        "/made/by/docker"
    );
    let env = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-e",
        "FOO=bar",
        "--hostname",
        "boxy",
        IMAGE,
        "env",
    ]);
    assert!(env.lines().any(|l| l == "FOO=bar"), "{env}");
    assert!(env.lines().any(|l| l == "HOSTNAME=boxy"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");

    let host_dir = d.path("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("f.txt"), "from host").unwrap();
    let ro = format!("{}:/data:ro", host_dir.display());
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &ro,
            IMAGE,
            "cat",
            "/data/f.txt"
        ]),
        "from host"
    );
    let st = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &ro,
        IMAGE,
        "touch",
        "/data/x",
    ]);
    assert_eq!(
        st.status.code(),
        Some(1),
        "writing to a :ro bind must fail: {st:?}"
    );
    let rw = format!("{}:/data", host_dir.display());
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &rw,
        IMAGE,
        "sh",
        "-c",
        "echo back > /data/y",
    ]);
    assert_eq!(
        std::fs::read_to_string(host_dir.join("y")).unwrap(),
        "back\n"
    );
}

#[test]
fn detached_ps_logs_stop_rm_and_conflicts() {
    let d = Daemon::start();
    d.load_busybox();
    let id = d.ok(&["run", "-d", "--name", "ticker", "--network", "none", IMAGE, "sh", "-c", "trap 'echo bye; exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("ticker Up"), "{ps}");

    // Name conflict: 409 with Docker's message.
    let st = d.docker(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "--network",
        "none",
        IMAGE,
        "true",
    ]);
    assert_eq!(st.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("is already in use by container"),
        "{st:?}"
    );

    // logs -f follows until the container stops.
    let mut follow = d
        .docker_cmd(&["logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    d.ok(&["stop", "ticker"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = follow.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "logs -f did not end after stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let mut followed = String::new();
    std::io::Read::read_to_string(&mut follow.stdout.take().unwrap(), &mut followed).unwrap();
    assert!(followed.starts_with("tick 0\n"), "{followed}");
    assert!(followed.ends_with("bye\n"), "{followed}");

    let logs = d.ok(&["logs", "--tail", "1", "ticker"]);
    assert_eq!(logs, "bye\n");
    let state = d.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}",
        "ticker",
    ]);
    assert_eq!(state.trim(), "exited 0 false");
    assert_eq!(d.ok(&["ps", "-q"]), "");
    assert_eq!(d.ok(&["ps", "-aq", "--no-trunc"]).trim(), id);
    d.ok(&["rm", "ticker"]);
    let st = d.docker(&["inspect", "ticker"]);
    assert_eq!(st.status.code(), Some(1));
}

#[test]
fn unknown_image_fails_fast() {
    let d = Daemon::start();
    let t = Instant::now();
    let st = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "no-such-image:v1",
        "true",
    ]);
    assert_eq!(st.status.code(), Some(125), "{st:?}");
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("Unable to find image 'no-such-image:v1' locally"),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn containers_survive_a_daemon_restart() {
    let mut d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "long",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "echo started; sleep 300",
    ]);
    let st = d.docker(&[
        "run",
        "--name",
        "done",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(st.status.code(), Some(7));
    d.restart();
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.lines().any(|l| l.starts_with("long Up")), "{ps}");
    assert!(ps.lines().any(|l| l.starts_with("done Exited (7)")), "{ps}");
    assert_eq!(d.ok(&["logs", "long"]), "started\n");
    d.ok(&["stop", "-t", "1", "long"]);
    let code = d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "long"]);
    assert_eq!(code.trim(), "137");
}

#[test]
fn unsupported_options_are_refused_and_default_network_warns() {
    let d = Daemon::start();
    d.load_busybox();
    for (args, needle) in [
        (vec!["--gpus", "all"], "--gpus"),
        (vec!["-p", "8080:80"], "-p"),
        (vec!["--cgroup-parent", "/x"], "--cgroup-parent"),
        (vec!["--volume-driver", "nfs", "-v", "named:/data"], "nfs"),
        (vec!["--log-driver", "syslog"], "syslog"),
    ] {
        let mut full = vec!["run", "--rm"];
        full.extend(args.iter().copied());
        full.extend([IMAGE, "true"]);
        let st = d.docker(&full);
        assert_eq!(st.status.code(), Some(125), "{args:?}: {st:?}");
        let err = String::from_utf8_lossy(&st.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // Nothing was left behind by the refused requests.
    assert_eq!(d.ok(&["ps", "-aq"]), "");

    // The default network is loopback only, and the CLI shows the daemon's warning.
    let st = d.docker(&["run", "--rm", IMAGE, "cat", "/proc/net/dev"]);
    assert!(st.status.success(), "{st:?}");
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("WARNING") && err.to_lowercase().contains("loopback"),
        "{err}"
    );
    let dev = String::from_utf8_lossy(&st.stdout);
    let ifaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{dev}");
    // --network host shares the host's interfaces.
    let host = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        IMAGE,
        "cat",
        "/proc/net/dev",
    ]);
    assert!(host.lines().count() > 3, "{host}");
}

#[test]
fn an_existing_containerd_can_be_used() {
    let first = Daemon::start();
    let socket = first.path("exec/containerd/containerd.sock");
    // A second dockbridge on the first one's containerd, in its own namespace.
    let second = first.start_second(&[
        "--containerd",
        socket.to_str().unwrap(),
        "--containerd-namespace",
        "second",
    ]);
    second.load_busybox();
    assert_eq!(
        second.ok(&["run", "--rm", "--network", "none", IMAGE, "echo", "shared"]),
        "shared\n"
    );
    // Namespaces keep the two apart: the first daemon sees no image.
    assert_eq!(first.ok(&["images", "-q"]), "");
    let info = second.ok(&["info", "--format", "{{.Containers}} {{.Images}}"]);
    assert_eq!(info.trim(), "0 1");
}

#[test]
fn json_file_rotation_options() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run",
        "--name",
        "chatty",
        "--network",
        "none",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        IMAGE,
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line $i; done",
    ]);
    let logs = d.ok(&["logs", "chatty"]);
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.last(), Some(&"line 300"));
    assert!(lines.len() < 300 && lines.len() > 10, "{}", lines.len());
    let st = d.docker(&["run", "--rm", "--log-opt", "max-file=3", IMAGE, "true"]);
    assert_eq!(st.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("max-size"),
        "{st:?}"
    );
}
