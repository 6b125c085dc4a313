//! End to end: `--containerd tcp://HOST:PORT` with TLS to a second containerd, through a
//! TLS front on its unix socket (client certificates required), certificates made here
//! with rcgen. containerd's own `[grpc] tcp_address` + `tcp_tls_*` serves only the CRI
//! services (checked here too: dockbridge refuses it at start and says so), so a remote
//! containerd is always a TLS terminator in front of its socket (socat, stunnel,
//! ghostunnel); the test's is a few lines of tokio-rustls. The docker CLI runs a
//! container through it; a wrong CA or a missing client certificate stops dockbridge at
//! start with the reason; a containerd that does not see this host's files (its root on a
//! tmpfs in a mount namespace of its own) serves images but refuses to run containers.
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::certs::{self, free_port, new_ca, Ca};
use common::{Daemon, IMAGE};
use rcgen::ExtendedKeyUsagePurpose;

/// Writes `DIR/NAME-cert.pem` and `DIR/NAME-key.pem`, signed by `ca`.
fn leaf(dir: &Path, name: &str, ca: &Ca, sans: &[&str], usage: ExtendedKeyUsagePurpose) {
    let (cert, key) = certs::leaf(ca, name, sans, usage);
    std::fs::write(dir.join(format!("{name}-cert.pem")), cert).unwrap();
    std::fs::write(dir.join(format!("{name}-key.pem")), key).unwrap();
}

/// CA, containerd's server certificate for 127.0.0.1, dockbridge's client certificate,
/// and another CA that signed nothing here.
fn pki(dir: &Path) {
    let ca = new_ca("containerd test CA");
    std::fs::write(dir.join("ca.pem"), &ca.pem).unwrap();
    std::fs::write(dir.join("other-ca.pem"), new_ca("another CA").pem).unwrap();
    use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    leaf(dir, "server", &ca, &["127.0.0.1"], ServerAuth);
    leaf(dir, "client", &ca, &[], ClientAuth);
}

/// A containerd of the test's own, with its CRI-only `tcp_address` on TLS; SIGTERM'd
/// when dropped.
struct Containerd {
    child: Child,
    /// Its own `tcp_address` (CRI only).
    port: u16,
    log: PathBuf,
    socket: PathBuf,
}

impl Containerd {
    /// `hidden`: its root and state on a tmpfs in a mount namespace of its own, so that
    /// nothing it writes is visible on this host's filesystem (another host, for paths).
    fn start(dir: &Path, pki: &Path, hidden: bool) -> Self {
        let base = dir.join("ctd");
        let root = base.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let port = free_port();
        let config = dir.join(format!("config-{port}.toml"));
        let pem = |n: &str| pki.join(n).display().to_string();
        std::fs::write(
            &config,
            format!(
                r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{state}/containerd.sock"
  tcp_address = "127.0.0.1:{port}"
  tcp_tls_ca = "{ca}"
  tcp_tls_cert = "{cert}"
  tcp_tls_key = "{key}"

[ttrpc]
  address = "{state}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
"#,
                root = root.display(),
                state = base.join("state").display(),
                ca = pem("ca.pem"),
                cert = pem("server-cert.pem"),
                key = pem("server-key.pem"),
            ),
        )
        .unwrap();
        let log = dir.join(format!("containerd-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = if hidden {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(format!(
                    "mount -t tmpfs tmpfs '{}' && exec containerd --config '{}'",
                    root.display(),
                    config.display()
                ));
            c
        } else {
            let mut c = Command::new("containerd");
            c.arg("--config").arg(&config);
            c
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting containerd");
        let socket = base.join("state/containerd.sock");
        let mut c = Self {
            child,
            port,
            log,
            socket: socket.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() || !socket.exists() {
            if let Ok(Some(status)) = c.child.try_wait() {
                panic!("containerd exited ({status}):\n{}", c.log());
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not listen:\n{}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    fn cri_address(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS terminator on 127.0.0.1 that requires a client certificate from the test CA and
/// forwards each connection to containerd's unix socket (what socat's `OPENSSL-LISTEN` or
/// stunnel do on a real containerd host). Stops with its runtime when dropped.
struct TlsFront {
    port: u16,
    _rt: tokio::runtime::Runtime,
}

impl TlsFront {
    fn start(pki: &Path, socket: PathBuf) -> Self {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(pki.join("ca.pem")).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_file(pki.join("server-cert.pem")).unwrap()],
                PrivateKeyDer::from_pem_file(pki.join("server-key.pem")).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, socket) = (acceptor.clone(), socket.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut unix).await;
                    }
                });
            }
        });
        Self { port, _rt: rt }
    }

    fn address(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

fn tls_flags(pki: &Path, ca: &str, client: bool) -> Vec<String> {
    let mut v = vec![
        "--containerd-tlscacert".to_string(),
        pki.join(ca).display().to_string(),
    ];
    if client {
        v.extend([
            "--containerd-tlscert".to_string(),
            pki.join("client-cert.pem").display().to_string(),
            "--containerd-tlskey".to_string(),
            pki.join("client-key.pem").display().to_string(),
        ]);
    }
    v
}

/// dockbridge that must fail at start: its stderr.
fn start_fails(dir: &Path, args: &[String]) -> String {
    let run = dir.join(format!("failing-{}", rand_suffix()));
    let out = Command::new(env!("CARGO_BIN_EXE_dockbridge"))
        .arg("serve")
        .arg("-H")
        .arg(format!("unix://{}", run.join("d.sock").display()))
        .arg("--data-root")
        .arg(run.join("data"))
        .arg("--exec-root")
        .arg(run.join("exec"))
        .args(["--bridge", "none"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "dockbridge started with {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn with_args<'a>(address: &'a str, flags: &'a [String]) -> Vec<&'a str> {
    let mut v = vec!["--containerd", address];
    v.extend(flags.iter().map(String::as_str));
    v
}

/// [`with_args`], owned, for [`start_fails`].
fn containerd_args(address: &str, flags: &[String]) -> Vec<String> {
    with_args(address, flags)
        .into_iter()
        .map(String::from)
        .collect()
}

/// A test's second containerd behind its TLS front, with the certificates under `dir`.
struct Remote {
    front: TlsFront,
    ctd: Containerd,
    pki_dir: PathBuf,
    dir: tempfile::TempDir,
}

impl Remote {
    /// `hide_root`: containerd's root on a tmpfs in a mount namespace of its own, so it does
    /// not see this host's files.
    fn start(hide_root: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dbrc")
            .tempdir_in("/tmp")
            .unwrap();
        let pki_dir = dir.path().join("pki");
        std::fs::create_dir_all(&pki_dir).unwrap();
        pki(&pki_dir);
        let ctd = Containerd::start(dir.path(), &pki_dir, hide_root);
        let front = TlsFront::start(&pki_dir, ctd.socket.clone());
        Self {
            front,
            ctd,
            pki_dir,
            dir,
        }
    }
}

#[test]
fn containerd_over_tcp_with_tls_runs_containers() {
    // Bound in this order so the front, then containerd, drop before the directory.
    let Remote {
        dir,
        pki_dir,
        ctd,
        front,
    } = Remote::start(false);
    let address = front.address();

    let flags = tls_flags(&pki_dir, "ca.pem", true);
    let d = Daemon::start_with(&with_args(&address, &flags), &[]);
    d.load_busybox();
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", IMAGE, "echo", "hi"]),
        "hi\n"
    );
    // It really went through that containerd: its namespace holds the image.
    let images = Command::new("ctr")
        .args(["--address"])
        .arg(dir.path().join("ctd/state/containerd.sock"))
        .args(["-n", "dockbridge", "images", "ls", "-q"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&images.stdout);
    assert!(listed.contains("busybox"), "{listed}\n{}", ctd.log());
    drop(d);

    // containerd's certificate is not signed by the CA dockbridge was given.
    let err = start_fails(
        dir.path(),
        &containerd_args(&address, &tls_flags(&pki_dir, "other-ca.pem", true)),
    );
    assert!(
        err.contains(&format!("cannot reach containerd at {address} (TLS)"))
            && err.contains("UnknownIssuer"),
        "{err}"
    );
    // containerd asks for a client certificate (tcp_tls_ca) and gets none.
    let err = start_fails(
        dir.path(),
        &containerd_args(&address, &tls_flags(&pki_dir, "ca.pem", false)),
    );
    assert!(
        err.contains(&format!("cannot reach containerd at {address} (TLS)")),
        "{err}"
    );
    // containerd's own tcp_address answers gRPC over TLS, but only CRI.
    let err = start_fails(
        dir.path(),
        &containerd_args(&ctd.cri_address(), &tls_flags(&pki_dir, "ca.pem", true)),
    );
    assert!(
        err.contains("not with containerd's API") && err.contains("tcp_address"),
        "{err}"
    );
    // Plain TCP to a non-loopback address is refused before anything is dialled.
    let err = start_fails(
        dir.path(),
        &[
            "--containerd".to_string(),
            "tcp://192.0.2.1:7443".to_string(),
        ],
    );
    assert!(err.contains("without TLS"), "{err}");
}

#[test]
fn containerd_on_another_filesystem_serves_images_but_runs_no_container() {
    // Bound in this order so the front, then containerd, drop before the directory.
    let Remote {
        dir: _dir,
        pki_dir,
        ctd: _ctd,
        front,
    } = Remote::start(true);
    let address = front.address();
    let flags = tls_flags(&pki_dir, "ca.pem", true);
    let d = Daemon::start_with(&with_args(&address, &flags), &[]);
    assert!(d.log().contains("is not on this host"), "{}", d.log());
    d.load_busybox();
    assert!(d.ok(&["images"]).contains("busybox"));
    let out = d.docker(&["run", "--rm", "--network", "none", IMAGE, "echo", "hi"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "containerd at {address} (TLS) is not on this host"
        )) && err.contains("stdio FIFOs"),
        "{err}"
    );
    // Nothing was left behind: the --rm container is gone, no FIFO directory was made.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let fifos = d.dir.path().join("exec/fifo");
    let left = std::fs::read_dir(&fifos).map(|r| r.count()).unwrap_or(0);
    assert_eq!(left, 0, "FIFO dirs left in {}", fifos.display());
}
