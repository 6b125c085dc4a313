//! A real local registry for the tests: Debian's `docker-registry` (distribution 2.8) on a
//! free loopback port with a temp storage dir, optionally with htpasswd auth and TLS, plus
//! helpers that seed it with skopeo or with hand-made manifests and indexes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    pub tls: bool,
    /// The test CA (PEM) when TLS is on.
    pub ca: Option<PathBuf>,
}

#[derive(Default, Clone)]
pub struct Options {
    /// `(user, password)` for htpasswd auth.
    pub htpasswd: Option<(String, String)>,
    pub tls: bool,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether the tools the registry tests need are installed (scripts/install-deps.sh).
pub fn available() -> bool {
    [REGISTRY_BIN, "/usr/bin/skopeo"]
        .iter()
        .all(|p| Path::new(p).exists())
}

impl Registry {
    pub fn start(opts: Options) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dbreg")
            .tempdir_in("/tmp")
            .unwrap();
        let port = free_port();
        let mut auth = String::new();
        if let Some((user, pass)) = &opts.htpasswd {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("htpasswd (apache2-utils)");
            assert!(out.status.success(), "htpasswd: {out:?}");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                file.display()
            );
        }
        let mut tls = String::new();
        let mut ca = None;
        if opts.tls {
            let (ca_pem, cert, key) = make_certs(dir.path());
            tls = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
            ca = Some(ca_pem);
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls}{auth}",
            dir.path().join("data").display()
        );
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let mut r = Self {
            dir,
            port,
            child: None,
            tls: opts.tls,
            ca,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not come up:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it (a registry that went down); `restart` brings it back on the same port.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    fn skopeo_auth(&self, creds: Option<(&str, &str)>, flag: &str) -> Vec<String> {
        match creds {
            Some((u, p)) => vec![format!("--{flag}"), format!("{u}:{p}")],
            None => Vec::new(),
        }
    }

    /// `skopeo copy docker-archive:ARCHIVE docker://HOST/REPO_TAG`.
    pub fn seed(&self, archive: &Path, repo_tag: &str, creds: Option<(&str, &str)>) {
        self.seed_with(archive, repo_tag, creds, &[]);
    }

    /// `seed` with more `skopeo copy` flags (e.g. `--dest-compress-format zstd`).
    pub fn seed_with(
        &self,
        archive: &Path,
        repo_tag: &str,
        creds: Option<(&str, &str)>,
        flags: &[&str],
    ) {
        let out = Command::new("skopeo")
            .arg("copy")
            .arg("--dest-tls-verify=false")
            .args(flags)
            .args(self.skopeo_auth(creds, "dest-creds"))
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{}/{repo_tag}", self.host()))
            .output()
            .expect("running skopeo");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// `skopeo inspect` (the image's manifest digest, layers, …) as JSON.
    pub fn inspect(&self, repo_tag: &str, creds: Option<(&str, &str)>) -> serde_json::Value {
        let out = Command::new("skopeo")
            .arg("inspect")
            .arg("--tls-verify=false")
            .args(self.skopeo_auth(creds, "creds"))
            .arg(format!("docker://{}/{repo_tag}", self.host()))
            .output()
            .expect("running skopeo");
        assert!(
            out.status.success(),
            "skopeo inspect failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Uploads a blob (monolithic) with plain HTTP requests; returns its digest.
    pub fn put_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = format!("sha256:{}", compat::image::sha256_hex(data));
        let client = self.http();
        let base = self.base();
        let data = data.to_vec();
        let d = digest.clone();
        let repo = repo.to_string();
        block_on(async move {
            let r = client
                .post(format!("{base}/v2/{repo}/blobs/uploads/"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 202, "{r:?}");
            let loc = r.headers()["location"].to_str().unwrap().to_string();
            let url = if loc.starts_with("http") {
                loc
            } else {
                format!("{base}{loc}")
            };
            let sep = if url.contains('?') { '&' } else { '?' };
            let r = client
                .put(format!("{url}{sep}digest={d}"))
                .body(data)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201, "{r:?}");
        });
        digest
    }

    /// Puts a manifest or index under a tag; returns its digest.
    pub fn put_manifest(&self, repo: &str, tag: &str, media_type: &str, body: &[u8]) -> String {
        let digest = format!("sha256:{}", compat::image::sha256_hex(body));
        let client = self.http();
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.base());
        let body = body.to_vec();
        let media_type = media_type.to_string();
        block_on(async move {
            let r = client
                .put(&url)
                .header("content-type", media_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            assert_eq!(status, 201, "PUT {url}: {text}");
        });
        digest
    }

    fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .no_proxy()
            .build()
            .unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A test CA and a server certificate for 127.0.0.1/localhost signed by it (openssl).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=dockbridge test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(p("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    ]);
    (p("ca.crt"), p("server.crt"), p("server.key"))
}

/// An image made by hand: one layer (the offline busybox tree), a config for
/// `os/arch`, and a Docker schema 2 manifest; pushed to `repo` without a tag. Returns
/// (manifest digest, manifest size, config digest).
pub fn push_platform_image(
    reg: &Registry,
    repo: &str,
    os: &str,
    arch: &str,
) -> (String, usize, String) {
    let spec = compat::image::ImageSpec {
        labels: vec![("platform".into(), format!("{os}/{arch}"))],
        ..Default::default()
    };
    let layer = compat::image::busybox_layer(&spec).unwrap();
    let diff_id = format!("sha256:{}", compat::image::sha256_hex(&layer));
    let layer_digest = reg.put_blob(repo, &layer);
    let config = serde_json::json!({
        "architecture": arch,
        "os": os,
        "config": {"Cmd": ["sh"], "Labels": {"platform": format!("{os}/{arch}")}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    })
    .to_string();
    let config_digest = reg.put_blob(repo, config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "digest": layer_digest, "size": layer.len()}],
    })
    .to_string();
    let digest = reg.put_manifest(
        repo,
        &format!("sha256:{}", compat::image::sha256_hex(manifest.as_bytes())),
        "application/vnd.docker.distribution.manifest.v2+json",
        manifest.as_bytes(),
    );
    (digest, manifest.len(), config_digest)
}

/// An OCI index over `(digest, size, os, arch)` entries, put under `tag`.
pub fn push_index(
    reg: &Registry,
    repo: &str,
    tag: &str,
    entries: &[(String, usize, &str, &str)],
) -> String {
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(d, n, os, arch)| {
            serde_json::json!({
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "digest": d, "size": n,
                "platform": {"os": os, "architecture": arch},
            })
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    })
    .to_string();
    reg.put_manifest(
        repo,
        tag,
        "application/vnd.oci.image.index.v1+json",
        index.as_bytes(),
    )
}

/// A faulty front for a registry (tests/fixtures/fault_registry.py): drops, corrupts or
/// slows blob downloads, or demands Bearer tokens; logs every request it forwards.
pub struct FaultFront {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl FaultFront {
    /// `args`: the script's fault flags (`--drop-after`, `--corrupt`, `--delay`, `--token`).
    pub fn start(upstream: &Registry, dir: &Path, name: &str, args: &[&str]) -> Self {
        use std::io::BufRead;
        let log = dir.join(format!("{name}.log"));
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/fault_registry.py"
            ))
            .arg("--upstream")
            .arg(upstream.host())
            .arg("--log")
            .arg(&log)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (scripts/install-deps.sh installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the fault front's port");
        Self { child, port, log }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The requests forwarded so far, one `METHOD PATH RANGE` per line.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for FaultFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
