//! End to end: `--tlsverify`/`--tls` on a tcp:// listener with the real docker CLI and
//! docker-py, and the unix socket's `--group`. Certificates are made here with rcgen: a
//! CA, a server certificate for 127.0.0.1/localhost, a client certificate, an expired
//! one, and one from another CA.
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::certs::{free_port, leaf, leaf_valid, new_ca};
use common::{Daemon, DOCKER, IMAGE};
use rcgen::ExtendedKeyUsagePurpose;

/// The files one test needs, each client's as `DIR/{ca,cert,key}.pem` (the layout the
/// CLI's `DOCKER_CERT_PATH` expects).
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = new_ca("dockbridge test CA");
        let other = new_ca("another CA");
        let write = |sub: &str, ca_pem: &str, (cert, key): (String, String)| {
            let d = dir.path().join(sub);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("ca.pem"), ca_pem).unwrap();
            std::fs::write(d.join("cert.pem"), cert).unwrap();
            std::fs::write(d.join("key.pem"), key).unwrap();
        };
        use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        write(
            "server",
            &ca.pem,
            leaf(&ca, "dockbridge", &["127.0.0.1", "localhost"], ServerAuth),
        );
        write("client", &ca.pem, leaf(&ca, "client", &[], ClientAuth));
        write(
            "expired",
            &ca.pem,
            leaf_valid(&ca, "expired", &[], ClientAuth, (2020, 2021)),
        );
        // Trusts the right CA for the server, but its own certificate is another CA's.
        write(
            "wrong-ca",
            &ca.pem,
            leaf(&other, "stranger", &[], ClientAuth),
        );
        // Only the CA: a client without a certificate.
        let d = dir.path().join("no-cert");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("ca.pem"), &ca.pem).unwrap();
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `--tlscacert … --tlscert … --tlskey …` for the server.
    fn server_flags(&self) -> Vec<String> {
        let f = |n: &str| self.path("server").join(n).display().to_string();
        vec![
            "--tlscacert".into(),
            f("ca.pem"),
            "--tlscert".into(),
            f("cert.pem"),
            "--tlskey".into(),
            f("key.pem"),
        ]
    }
}

fn start(pki: &Pki, port: u16, tls_flags: &[&str]) -> Daemon {
    let tcp = format!("tcp://127.0.0.1:{port}");
    let server = pki.server_flags();
    let mut args: Vec<&str> = vec!["-H", &tcp];
    args.extend(tls_flags);
    args.extend(server.iter().map(String::as_str));
    Daemon::start_with(&args, &[])
}

/// The CLI against the TLS listener, with `client`'s files (a directory of `pki`) given
/// as flags: `--tlsverify` (the server's certificate checked) and the client's own
/// certificate when the directory has one.
fn cli(d: &Daemon, port: u16, pki: &Pki, client: &str) -> Command {
    let dir = pki.path(client);
    let mut c = Command::new(DOCKER);
    c.arg("-H")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .arg("--tlsverify")
        .arg("--tlscacert")
        .arg(dir.join("ca.pem"));
    if dir.join("cert.pem").exists() {
        c.arg("--tlscert")
            .arg(dir.join("cert.pem"))
            .arg("--tlskey")
            .arg(dir.join("key.pem"));
    }
    // A config directory without certificates: the CLI's default cert path.
    c.env("DOCKER_CONFIG", d.path("cli-config"))
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("running docker")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `docker version` with `client`'s certificate, retried while the listener comes up
/// (the harness waits for the unix socket only).
fn version_when_up(d: &Daemon, port: u16, pki: &Pki, client: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut c = cli(d, port, pki, client);
        c.args(["version", "--format", "{{.Server.Version}}"]);
        let out = run(c);
        if out.status.success() || Instant::now() > deadline {
            return out;
        }
        if !text(&out.stderr).contains("connection refused") {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn refused(d: &Daemon, port: u16, pki: &Pki, client: &str) -> String {
    let out = version_when_up(d, port, pki, client);
    assert!(
        !out.status.success(),
        "{client}: should be refused: {out:?}"
    );
    text(&out.stderr)
}

/// docker-py with `TLSConfig` (the server checked against the CA; the client's
/// certificate when `client` has one): prints the server's version, then runs `script`.
fn docker_py(port: u16, pki: &Pki, client: &str, script: &str) -> Output {
    let dir = pki.path(client);
    let cert = if dir.join("cert.pem").exists() {
        format!(
            "client_cert=({:?}, {:?}), ",
            dir.join("cert.pem").display().to_string(),
            dir.join("key.pem").display().to_string()
        )
    } else {
        String::new()
    };
    let program = format!(
        "import docker, docker.tls\n\
         tls = docker.tls.TLSConfig({cert}ca_cert={ca:?}, verify=True)\n\
         c = docker.DockerClient(base_url='https://127.0.0.1:{port}', tls=tls, timeout=60)\n\
         print(c.version()['Version'])\n\
         {script}\n",
        ca = dir.join("ca.pem").display().to_string(),
    );
    // requests lets these override the session's CA (docker-py's ca_cert) when a request
    // has no `verify` of its own, and this machine sets them.
    Command::new("python3")
        .args(["-c", &program])
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .stdin(Stdio::null())
        .output()
        .expect("running python3 (docker-py)")
}

/// Runs the CLI with `input` on its stdin, killed after a minute.
fn with_stdin(mut c: Command, input: &[u8]) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running docker");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("docker with stdin hung: {:?}", child.wait_with_output());
}

#[test]
fn tlsverify_admits_only_clients_with_a_certificate_from_the_ca() {
    let pki = Pki::new();
    let port = free_port();
    let d = start(&pki, port, &["--tlsverify"]);
    d.load_busybox();

    let out = version_when_up(&d, port, &pki, "client");
    assert!(
        out.status.success(),
        "{out:?}\n{}",
        common::tail(&d.log(), 30)
    );
    assert_eq!(
        text(&out.stdout).trim(),
        d.ok(&["version", "--format", "{{.Server.Version}}"]).trim()
    );

    // A client that connects and never says a word holds up no one's handshake.
    let _silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();

    // The environment form: DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=DIR.
    let started = Instant::now();
    let out = Command::new(DOCKER)
        .args(["info", "--format", "{{.ID}}"])
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", pki.path("client"))
        .env("DOCKER_CONFIG", d.path("cli-config"))
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!text(&out.stdout).trim().is_empty());
    // (A handshake waiting for the silent one would take its 30 s timeout.)
    assert!(started.elapsed() < Duration::from_secs(10));

    // A container over TLS, and a hijacked stream with stdin (closed at its end).
    let mut c = cli(&d, port, &pki, "client");
    c.args(["run", "--rm", "--network", "none", IMAGE, "echo", "hi"]);
    let out = run(c);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "hi\n");
    let mut c = cli(&d, port, &pki, "client");
    c.args(["run", "--rm", "-i", "--network", "none", IMAGE, "cat"]);
    let out = with_stdin(c, b"over tls\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "over tls\n");

    // Refused at the handshake: none, another CA's certificate (Go's client does not
    // even offer it, since the server names its CA), an expired one. The CLI shows the
    // server's TLS alert.
    for (client, alert) in [
        ("no-cert", "tls: certificate required"),
        ("wrong-ca", "tls: certificate required"),
        ("expired", "tls: expired certificate"),
    ] {
        let err = refused(&d, port, &pki, client);
        assert!(err.contains(alert), "{client}: {err}");
    }
    assert!(
        d.log().contains("certificate expired"),
        "{}",
        common::tail(&d.log(), 30)
    );
    // Plain HTTP on the TLS port gets no API answer.
    let out = Command::new(DOCKER)
        .args(["-H", &format!("tcp://127.0.0.1:{port}"), "version"])
        .env("DOCKER_CONFIG", d.path("cli-config"))
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(!text(&out.stdout).contains("Server:"), "{out:?}");

    // docker-py's TLSConfig: with the client certificate it connects and runs a
    // container; without one it is refused.
    let out = docker_py(
        port,
        &pki,
        "client",
        "print(c.containers.run('busybox', ['echo', 'py'], remove=True, network_mode='none').decode(), end='')",
    );
    assert!(
        out.status.success(),
        "{out:?}\n{}",
        common::tail(&d.log(), 20)
    );
    assert!(text(&out.stdout).ends_with("py\n"), "{out:?}");
    let out = docker_py(port, &pki, "no-cert", "");
    assert!(!out.status.success(), "{out:?}");
    // OpenSSL sends the other CA's certificate anyway: the server refuses it.
    let out = docker_py(port, &pki, "wrong-ca", "");
    assert!(!out.status.success(), "{out:?}");
    let log = d.log();
    assert!(
        log.contains("invalid peer certificate: UnknownIssuer"),
        "{}",
        common::tail(&log, 30)
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn tls_without_verification_takes_clients_without_certificates() {
    let pki = Pki::new();
    let port = free_port();
    // dockerd's spelling of TLS without client verification.
    let mut d = start(&pki, port, &["--tls", "--tlsverify=false"]);
    let out = version_when_up(&d, port, &pki, "no-cert");
    assert!(
        out.status.success(),
        "{out:?}\n{}",
        common::tail(&d.log(), 30)
    );
    // A client certificate is not asked for, so any is fine.
    assert!(version_when_up(&d, port, &pki, "wrong-ca").status.success());
    let out = docker_py(port, &pki, "no-cert", "print(c.ping())");
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).ends_with("True\n"), "{out:?}");

    // `--tls` alone verifies clients, as dockerd (20.10 and later) does.
    let tcp = format!("tcp://127.0.0.1:{port}");
    let server = pki.server_flags();
    let mut args: Vec<&str> = vec!["-H", &tcp, "--tls"];
    args.extend(server.iter().map(String::as_str));
    d.restart_with(&args);
    assert!(version_when_up(&d, port, &pki, "client").status.success());
    let err = refused(&d, port, &pki, "no-cert");
    assert!(err.contains("tls: certificate required"), "{err}");
}

fn group_gid(name: &str) -> Option<u32> {
    let out = Command::new("getent").args(["group", name]).output().ok()?;
    let line = String::from_utf8(out.stdout).ok()?;
    line.trim().split(':').nth(2)?.parse().ok()
}

fn socket_mode_gid(p: &Path) -> (u32, u32) {
    let md = std::fs::metadata(p).unwrap();
    (md.permissions().mode() & 0o7777, md.gid())
}

#[test]
fn the_unix_socket_is_0660_for_the_docker_group() {
    let mut d = Daemon::start();
    let (mode, gid) = socket_mode_gid(&d.sock);
    assert_eq!(mode, 0o660);
    // The docker group when the host has one (dockerd's default), else the daemon's.
    assert_eq!(gid, group_gid("docker").unwrap_or(0));

    // A GID by number, as dockerd takes it.
    d.restart_with(&["--group", "4242"]);
    assert_eq!(socket_mode_gid(&d.sock), (0o660, 4242));
    // "" keeps the daemon's group.
    d.restart_with(&["-G", ""]);
    assert_eq!(socket_mode_gid(&d.sock), (0o660, 0));
}
