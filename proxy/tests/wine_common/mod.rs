//! What the Wine end-to-end tests share: the Windows images they load, argv-echo's output
//! decoded, and an HTTP client over the daemon's named pipe.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient};

pub fn argv_echo() -> Option<String> {
    match std::env::var("DOCKBRIDGE_ARGV_ECHO") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var_os("DOCKBRIDGE_TEST_STRICT").is_none(),
                "DOCKBRIDGE_ARGV_ECHO is not set: run through scripts/wine-run.sh"
            );
            None
        }
    }
}

pub fn simulator() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for cand in [deps.join("hcs_sim.dll"), deps.join("../hcs_sim.dll")] {
        if cand.exists() {
            return cand;
        }
    }
    panic!("hcs_sim.dll not found next to {}", exe.display());
}

pub fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

pub fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for (name, body) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        out.append_data(&mut h, name, *body).unwrap();
    }
    out.into_inner().unwrap()
}

/// A docker-archive of one Windows image per (tag, container config), sharing one layer.
pub fn windows_images(images: &[(&str, Value)]) -> Vec<u8> {
    let layer = tar_of(&[("Files/marker.txt", b"layer content")]);
    let diff_id = format!("sha256:{}", sha(&layer));
    let layer_name = format!("{}/layer.tar", sha(&layer));
    let mut files: Vec<(String, Vec<u8>)> = vec![(layer_name.clone(), layer)];
    let mut manifest = Vec::new();
    for (tag, cfg) in images {
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "windows",
            "created": "2024-01-01T00:00:00Z",
            "config": cfg,
            "rootfs": { "type": "layers", "diff_ids": [diff_id] }
        }))
        .unwrap();
        let name = format!("{}.json", sha(&config));
        manifest.push(json!({"Config": name, "RepoTags": [tag], "Layers": [layer_name]}));
        files.push((name, config));
    }
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    tar_of(&entries)
}

/// argv-echo's `c <hex UTF-16>` lines: the argv its CRT parsed.
pub fn crt_argv(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("c "))
        .map(|hex| {
            let units: Vec<u16> = (0..hex.len() / 4)
                .map(|i| u16::from_str_radix(&hex[i * 4..i * 4 + 4], 16).unwrap())
                .collect();
            String::from_utf16(&units).unwrap()
        })
        .collect()
}

/// The payloads of a multiplexed (non-TTY) stream, stdout and stderr concatenated.
pub fn demux(mut b: &[u8]) -> String {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let end = (8 + n).min(b.len());
        out.extend_from_slice(&b[8..end]);
        b = &b[end..];
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct Api {
    pub pipe: String,
}

impl Api {
    pub async fn connect(&self) -> NamedPipeClient {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match ClientOptions::new().open(&self.pipe) {
                Ok(c) => return c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("connecting to {}: {e}", self.pipe),
            }
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        ctype: &str,
    ) -> (StatusCode, Vec<u8>) {
        let io = TokioIo::new(self.connect().await);
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("Host", "docker")
            .header("Content-Type", ctype)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, bytes)
    }

    pub async fn json(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let (st, b) = self
            .call(
                method,
                path,
                serde_json::to_vec(&body).unwrap(),
                "application/json",
            )
            .await;
        (st, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// Creates a container from `body` and starts it (each step must succeed): its ID.
    pub async fn run(&self, body: Value) -> String {
        let (st, c) = self.json("POST", "/containers/create", body).await;
        assert_eq!(st, StatusCode::CREATED, "{c}");
        let id = c["Id"].as_str().unwrap().to_string();
        let (st, b) = self
            .call(
                "POST",
                &format!("/containers/{id}/start"),
                vec![],
                "application/json",
            )
            .await;
        assert_eq!(
            st,
            StatusCode::NO_CONTENT,
            "{}",
            String::from_utf8_lossy(&b)
        );
        id
    }

    /// `POST` with `Upgrade: tcp` (exec start), everything the stream carries until EOF.
    pub async fn upgraded(&self, path: &str, body: Value) -> Vec<u8> {
        let io = TokioIo::new(self.connect().await);
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn.with_upgrades());
        let req = Request::builder()
            .method("POST")
            .uri(path)
            .header("Host", "docker")
            .header("Content-Type", "application/json")
            .header("Connection", "Upgrade")
            .header("Upgrade", "tcp")
            .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        let mut up = TokioIo::new(hyper::upgrade::on(resp).await.unwrap());
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), up.read_to_end(&mut out)).await;
        out
    }
}

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "daemon log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

pub fn chrono_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `dockbridge.exe serve` on a pipe of its own (`\\.\pipe\<name>_<pid>`: each test has
/// its own), HCS-only on the simulator, its report in `dir/sim-report.json`.
pub fn start_daemon(dir: &std::path::Path, name: &str) -> (Daemon, Api) {
    let pipe = format!(r"\\.\pipe\{name}_{}", std::process::id());
    let log = dir.join("daemon.log");
    let child = Command::new(env!("CARGO_BIN_EXE_dockbridge"))
        .args(["serve", "-H"])
        .arg(format!("npipe://{}", pipe.replace('\\', "/")))
        .args(["--backend", "hcs", "--hcs-library"])
        .arg(simulator())
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .env("HCS_SIM_CONFIG", r#"{"exec": true}"#)
        .env("HCS_SIM_REPORT", dir.join("sim-report.json"))
        .env("DOCKBRIDGE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.join("daemon.err")).unwrap())
        .spawn()
        .expect("starting dockbridge.exe");
    (Daemon { child, log }, Api { pipe })
}
