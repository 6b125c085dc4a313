//! End to end: `docker pull`, `push`, `login`, `run` of a missing image, against a real
//! local registry (Debian's docker-registry, distribution 2.8) that the test starts on a
//! free loopback port. Images are put there by skopeo or by hand-made manifests, and read
//! back by skopeo, so neither side only agrees with itself.
// containerd, runc, the docker CLI, docker-registry and skopeo: a Linux host is required.
#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::registry::{self, Options, Registry};
use common::Daemon;
use serde_json::Value;

/// The registry tools are installed by scripts/install-deps.sh; a developer's machine
/// without them skips, scripts/test.sh (which sets DOCKBRIDGE_TEST_STRICT) fails instead, so the cases cannot pass unrun.
fn have_tools() -> bool {
    if registry::available() {
        return true;
    }
    assert!(
        std::env::var_os("DOCKBRIDGE_TEST_STRICT").is_none(),
        "docker-registry or skopeo missing under DOCKBRIDGE_TEST_STRICT (scripts/install-deps.sh installs them)"
    );
    eprintln!(
        "skipping: docker-registry or skopeo missing (scripts/install-deps.sh installs them)"
    );
    false
}

/// The offline busybox image as a docker-archive, optionally with an extra file (a
/// different layer, so a distinct image).
fn archive(d: &Daemon, name: &str, tag: &str, extra: Option<(&str, &str)>) -> std::path::PathBuf {
    let spec = compat::image::ImageSpec {
        extra_files: extra
            .map(|(p, c)| vec![(p.to_string(), c.to_string())])
            .unwrap_or_default(),
        ..Default::default()
    };
    let tar = compat::image::busybox_archive_with(&[tag], &spec).unwrap();
    let path = d.path(name);
    std::fs::write(&path, tar).unwrap();
    path
}

/// `POST path` on the daemon's socket with HTTP/1.0 (so the body ends with the
/// connection); returns the status code and the JSON lines of the body.
fn post_lines(d: &Daemon, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<Value>) {
    let mut s = common::raw::connect(d);
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut req = format!("POST {path} HTTP/1.0\r\nHost: x\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let lines = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or(Value::String(l.to_string())))
        .collect();
    (status, lines)
}

fn statuses(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.get("status").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

#[test]
fn pull_run_push_and_failures_against_a_real_registry() {
    if !have_tools() {
        return;
    }
    let d = Daemon::start();
    let mut reg = Registry::start(Options::default());
    let host = reg.host();

    // skopeo pushes, dockbridge pulls.
    let seeded = archive(&d, "seed.tar", "seed:v1", Some(("/etc/seed", "one")));
    reg.seed(&seeded, "team/app:v1", None);
    reg.seed(&seeded, "team/app:v2", None);
    let digest = reg.inspect("team/app:v1", None)["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    let out = d.ok(&["pull", &format!("{host}/team/app:v1")]);
    for want in [
        "v1: Pulling from team/app",
        "Pull complete",
        &format!("Digest: {digest}"),
        &format!("Status: Downloaded newer image for {host}/team/app:v1"),
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
    let repo_digests = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .RepoDigests}}",
        &format!("{host}/team/app:v1"),
    ]);
    assert_eq!(
        repo_digests.trim(),
        format!("[\"{host}/team/app@{digest}\"]"),
        "{repo_digests}"
    );
    // Again: nothing to download.
    let out = d.ok(&["pull", &format!("{host}/team/app:v1")]);
    assert!(
        out.contains(&format!(
            "Status: Image is up to date for {host}/team/app:v1"
        )),
        "{out}"
    );
    assert!(!out.contains("Pull complete"), "{out}");
    // -q prints the reference only; by digest works too.
    let out = d.ok(&["pull", "-q", &format!("{host}/team/app@{digest}")]);
    assert_eq!(out.trim(), format!("{host}/team/app@{digest}"));
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &format!("{host}/team/app:v1"),
        "cat",
        "/etc/seed",
    ]);
    assert_eq!(out.trim(), "one");

    // The JSON stream as dockerd writes it: per-layer steps with progressDetail.
    let (status, lines) = post_lines(
        &d,
        &format!("/v1.41/images/create?fromImage={host}/team/app&tag=v2"),
        &[],
    );
    assert_eq!(status, 200, "{lines:?}");
    assert_eq!(
        lines[0],
        serde_json::json!({"status": "Pulling from team/app", "id": "v2"})
    );
    let st = statuses(&lines);
    assert_eq!(st[st.len() - 2], format!("Digest: {digest}"), "{st:?}");
    assert_eq!(
        st[st.len() - 1],
        format!("Status: Downloaded newer image for {host}/team/app:v2")
    );

    // `docker run` of an image that is not there: the CLI pulls it after the 404.
    let other = archive(&d, "other.tar", "other:v1", Some(("/etc/seed", "two")));
    reg.seed(&other, "team/other:latest", None);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &format!("{host}/team/other"),
        "cat",
        "/etc/seed",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{}", d.log());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "two");
    assert!(stderr.contains("Unable to find image"), "{stderr}");

    // A multi-layer image: Downloading with counts, Extracting, every layer once.
    let (status, lines) = {
        // The plain busybox layer first, so that the multi-layer image shares it.
        let base = d.path("base.tar");
        std::fs::write(&base, compat::image::busybox_archive(&["base:v1"]).unwrap()).unwrap();
        reg.seed(&base, "team/base:v1", None);
        d.ok(&["pull", &format!("{host}/team/base:v1")]);
        let multi = multi_layer_archive(&d);
        reg.seed(&multi, "team/multi:latest", None);
        post_lines(
            &d,
            &format!("/images/create?fromImage={host}/team/multi&tag=latest"),
            &[],
        )
    };
    assert_eq!(status, 200);
    let downloading = lines
        .iter()
        .find(|l| l["status"] == "Downloading")
        .expect("a Downloading line");
    assert!(
        downloading["progressDetail"]["total"].as_u64().unwrap() > 0,
        "{downloading}"
    );
    assert!(
        downloading["progress"].as_str().unwrap().starts_with('['),
        "{downloading}"
    );
    let complete = lines
        .iter()
        .filter(|l| l["status"] == "Pull complete")
        .count();
    let already = lines
        .iter()
        .filter(|l| l["status"] == "Already exists")
        .count();
    assert_eq!(complete + already, 3, "{lines:?}");
    assert_eq!(already, 1, "the busybox base layer is shared: {lines:?}");

    // --all-tags.
    let out = d.ok(&["pull", "--all-tags", &format!("{host}/team/app")]);
    assert!(
        out.contains("v1: Pulling from team/app") && out.contains("v2: Pulling from team/app"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Image is up to date for {host}/team/app")),
        "{out}"
    );

    // dockbridge pushes, skopeo reads back; RepoDigests shows what the registry has.
    let local = archive(
        &d,
        "local.tar",
        "local/thing:v3",
        Some(("/etc/local", "three")),
    );
    d.ok(&["load", "-i", local.to_str().unwrap()]);
    d.ok(&["tag", "local/thing:v3", &format!("{host}/pushed/thing:v3")]);
    let out = d.ok(&["push", &format!("{host}/pushed/thing:v3")]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{host}/pushed/thing]"
        )),
        "{out}"
    );
    assert!(out.contains("Pushed"), "{out}");
    let pushed = reg.inspect("pushed/thing:v3", None);
    let pushed_digest = pushed["Digest"].as_str().unwrap();
    assert!(
        out.contains(&format!("v3: digest: {pushed_digest} size: ")),
        "{out}"
    );
    let repo_digests = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .RepoDigests}}",
        &format!("{host}/pushed/thing:v3"),
    ]);
    assert!(
        repo_digests.contains(&format!("{host}/pushed/thing@{pushed_digest}")),
        "{repo_digests}"
    );
    // Pushing again finds every layer there.
    let out = d.ok(&["push", &format!("{host}/pushed/thing:v3")]);
    assert!(out.contains("Layer already exists"), "{out}");
    // And a fresh pull of it elsewhere is the same image.
    d.ok(&["rmi", &format!("{host}/pushed/thing:v3"), "local/thing:v3"]);
    d.ok(&["pull", &format!("{host}/pushed/thing:v3")]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &format!("{host}/pushed/thing:v3"),
        "cat",
        "/etc/local",
    ]);
    assert_eq!(out.trim(), "three");

    // Unknown tag: dockerd's 404 wording; `docker run` exits 125.
    let out = d.docker(&["pull", &format!("{host}/team/app:nope")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "manifest for {host}/team/app:nope not found: manifest unknown: manifest unknown"
        )),
        "{stderr}"
    );
    let out = d.docker(&["run", "--rm", &format!("{host}/team/app:nope")]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let (status, lines) = post_lines(
        &d,
        &format!("/images/create?fromImage={host}/team/app&tag=nope"),
        &[],
    );
    assert_eq!(status, 404, "{lines:?}");

    // Registry down: a clear error, quickly.
    reg.stop();
    let t = Instant::now();
    let out = d.docker(&["pull", &format!("{host}/team/app:v1")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "Get \"http://{host}/v2/\": dial tcp {host}: connect: connection refused"
        )),
        "{stderr}"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // A push with the registry down fails in-band (after "The push refers to …").
    let out = d.docker(&["push", &format!("{host}/pushed/thing:v3")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    reg.restart();
    d.ok(&["pull", &format!("{host}/team/app:v1")]);
}

/// busybox plus two layers of random data (one image, three layers).
fn multi_layer_archive(d: &Daemon) -> std::path::PathBuf {
    let base = compat::image::busybox_layer(&Default::default()).unwrap();
    let mut layers = vec![base];
    for i in 0..2 {
        let mut data = vec![0u8; 512 * 1024];
        for (j, b) in data.iter_mut().enumerate() {
            *b = ((j * 7919 + i * 104729) % 251) as u8 ^ (j >> 9) as u8;
        }
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("data/blob{i}"), &data[..])
            .unwrap();
        layers.push(b.into_inner().unwrap());
    }
    let path = d.path("multi.tar");
    std::fs::write(&path, docker_archive(&layers, "multi:latest")).unwrap();
    path
}

/// A docker-archive of the given (uncompressed) layers.
fn docker_archive(layers: &[Vec<u8>], tag: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", compat::image::sha256_hex(l)))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let config_name = format!("{}.json", compat::image::sha256_hex(config.as_bytes()));
    let layer_names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let manifest =
        serde_json::json!([{"Config": config_name, "RepoTags": [tag], "Layers": layer_names}])
            .to_string();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    for (n, l) in layer_names.iter().zip(layers) {
        add(n, l);
    }
    add(&config_name, config.as_bytes());
    add("manifest.json", manifest.as_bytes());
    b.into_inner().unwrap()
}

#[test]
fn multi_platform_index_and_platform_selection() {
    if !have_tools() {
        return;
    }
    let d = Daemon::start();
    let reg = Registry::start(Options::default());
    let host = reg.host();
    let amd = registry::push_platform_image(&reg, "multi/app", "linux", "amd64");
    let arm = registry::push_platform_image(&reg, "multi/app", "linux", "arm64");
    let win = registry::push_platform_image(&reg, "multi/app", "windows", "amd64");
    let index = registry::push_index(
        &reg,
        "multi/app",
        "latest",
        &[
            (amd.0.clone(), amd.1, "linux", "amd64"),
            (arm.0.clone(), arm.1, "linux", "arm64"),
            (win.0.clone(), win.1, "windows", "amd64"),
        ],
    );
    // Manifests belong to a repository: the Windows-only index gets its own copy.
    let win_only = registry::push_platform_image(&reg, "multi/winonly", "windows", "amd64");
    registry::push_index(
        &reg,
        "multi/winonly",
        "latest",
        &[(win_only.0, win_only.1, "windows", "amd64")],
    );

    // The default is the host's platform; RepoDigests names the index.
    let name = format!("{host}/multi/app:latest");
    let out = d.ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {index}")), "{out}");
    let info = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}} {{.Os}}/{{.Architecture}} {{json .RepoDigests}}",
        &name,
    ]);
    assert_eq!(
        info.trim(),
        format!("{} linux/amd64 [\"{host}/multi/app@{index}\"]", amd.2)
    );
    // --platform picks the arm64 entry (a different image; the tag moves to it).
    let out = d.ok(&["pull", "--platform", "linux/arm64", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    let info = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}} {{.Os}}/{{.Architecture}}",
        &name,
    ]);
    assert_eq!(info.trim(), format!("{} linux/arm64", arm.2));
    // ... and the Windows one on request.
    let out = d.ok(&["pull", "--platform", "windows/amd64", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    let info = d.ok(&["image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", &name]);
    assert_eq!(info.trim(), "windows/amd64");

    // A Windows-only index on this Linux host: dockerd's error, in-band, exit 1.
    let out = d.docker(&["pull", &format!("{host}/multi/winonly")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no matching manifest for linux/amd64 in the manifest list entries"),
        "{stderr}"
    );
    assert!(
        d.docker(&["image", "inspect", &format!("{host}/multi/winonly")])
            .status
            .code()
            != Some(0)
    );

    // A single-platform image pulled with another --platform is kept, with a warning.
    let out = d.docker(&[
        "pull",
        "--platform",
        "linux/arm64",
        &format!("{host}/multi/app@{}", amd.0),
    ]);
    assert!(out.status.success(), "{out:?}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains(
            "does not match the specified platform: wanted linux/arm64, actual: linux/amd64"
        ),
        "{all}"
    );

    // /distribution: the descriptor and platforms, without pulling.
    let out = std::process::Command::new("curl")
        .args(["-s", "--unix-socket", d.sock.to_str().unwrap()])
        .arg(format!(
            "http://x/distribution/{host}/multi/app:latest/json"
        ))
        .output();
    if let Ok(out) = out {
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["Descriptor"]["digest"], index.as_str(), "{v}");
            assert_eq!(v["Platforms"].as_array().map(Vec::len), Some(3), "{v}");
        }
    }
}

#[test]
fn login_and_pull_with_htpasswd_over_tls() {
    if !have_tools() {
        return;
    }
    let reg = Registry::start(Options {
        htpasswd: Some(("alice".into(), "s3cret-pw".into())),
        tls: true,
    });
    // The test CA goes where users put it: certs.d/HOST:PORT/ca.crt.
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path().join(reg.host());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(reg.ca.as_ref().unwrap(), dir.join("ca.crt")).unwrap();
    let d = Daemon::start_with(
        &["--registry-certs-dir", certs.path().to_str().unwrap()],
        &[],
    );
    let host = reg.host();
    let seeded = archive(&d, "seed.tar", "seed:v1", Some(("/etc/seed", "secret")));
    reg.seed(&seeded, "private/app:v1", Some(("alice", "s3cret-pw")));

    // No credentials: Go's wording, and nothing pulled.
    let out = d.docker(&["pull", &format!("{host}/private/app:v1")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no basic auth credentials"), "{stderr}");

    // Wrong password: 401 with dockerd's message.
    let login = |pw: &str| {
        let mut c = d.docker_cmd(&["login", "-u", "alice", "--password-stdin", &host]);
        let mut child = c
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(pw.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = login("wrong");
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("401 Unauthorized"), "{stderr}");
    let out = login("s3cret-pw");
    assert!(out.status.success(), "{out:?}\n{}", d.log());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"),
        "{out:?}"
    );
    // The CLI now sends X-Registry-Auth: the pull goes through.
    let out = d.ok(&["pull", &format!("{host}/private/app:v1")]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    // A push with the same credentials, read back by skopeo.
    d.ok(&[
        "tag",
        &format!("{host}/private/app:v1"),
        &format!("{host}/private/copy:v1"),
    ]);
    d.ok(&["push", &format!("{host}/private/copy:v1")]);
    let v = reg.inspect("private/copy:v1", Some(("alice", "s3cret-pw")));
    assert!(v["Digest"].as_str().unwrap().starts_with("sha256:"));
    // Credentials are never logged.
    assert!(!d.log().contains("s3cret-pw"));
}

/// `ctr` on the daemon's own containerd, in dockbridge's namespace.
fn ctr(d: &Daemon, args: &[&str]) -> String {
    let sock = d.path("exec/containerd/containerd.sock");
    let out = std::process::Command::new("ctr")
        .arg("--address")
        .arg(&sock)
        .args(["-n", "dockbridge"])
        .args(args)
        .output()
        .expect("ctr");
    assert!(out.status.success(), "ctr {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The blob GETs a fault front saw, by digest.
fn blob_gets(front: &registry::FaultFront) -> Vec<String> {
    front
        .requests()
        .into_iter()
        .filter(|l| l.starts_with("GET ") && l.contains("/blobs/sha256:"))
        .collect()
}

#[test]
fn faults_dropped_corrupt_shared_and_token_auth() {
    if !have_tools() {
        return;
    }
    let d = Daemon::start();
    let reg = Registry::start(Options::default());
    let multi = multi_layer_archive(&d);
    reg.seed(&multi, "faults/app:v1", None);
    let layers = 3;

    // A connection dropped mid-blob: the download resumes with a Range request and the
    // pull succeeds, every layer whole.
    let drop = registry::FaultFront::start(
        &reg,
        d.path("").as_path(),
        "drop",
        &["--drop-after", "100000"],
    );
    let image = format!("{}/faults/app:v1", drop.host());
    let out = d.ok(&["pull", &image]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    let gets = blob_gets(&drop);
    let ranged = gets.iter().filter(|l| !l.ends_with(" -")).count();
    assert!(ranged >= 2, "no resumed download: {gets:?}");
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "wc -c < /data/blob1",
    ]);
    assert_eq!(out.trim(), (512 * 1024).to_string());
    d.ok(&["rmi", &image]);
    let leases_before = ctr(&d, &["leases", "ls", "-q"]);

    // A corrupt blob: the pull fails on the digest, nothing is tagged, no ingest or lease
    // is left behind.
    let bad = registry::FaultFront::start(&reg, d.path("").as_path(), "corrupt", &["--corrupt"]);
    let image = format!("{}/faults/app:v1", bad.host());
    let out = d.docker(&["pull", &image]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.to_lowercase().contains("digest"), "{stderr}");
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!images.contains("faults/app"), "{images}");
    assert_eq!(
        ctr(&d, &["content", "active"]).lines().count(),
        1,
        "ingests left"
    );
    assert_eq!(
        ctr(&d, &["leases", "ls", "-q"]),
        leases_before,
        "leases left"
    );

    // Two pulls at once share each layer's download.
    let slow = registry::FaultFront::start(&reg, d.path("").as_path(), "slow", &["--delay", "1.5"]);
    let image = format!("{}/faults/app:v1", slow.host());
    let both: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new("docker")
                .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
                .env("DOCKER_CONFIG", d.path("cli-config"))
                .args(["pull", "-q", &image])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in both {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{o:?}");
    }
    // Each layer blob was fetched once (the small config is read by each pull).
    let gets = blob_gets(&slow);
    let info = reg.inspect("faults/app:v1", None);
    let layer_digests: Vec<&str> = info["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert_eq!(layer_digests.len(), layers);
    for l in layer_digests {
        let n = gets.iter().filter(|g| g.contains(l)).count();
        assert_eq!(n, 1, "layer {l} fetched {n} times: {gets:?}");
    }
    d.ok(&["rmi", &image]);

    // Bearer tokens: no credentials is refused with the registry's words; `docker login`
    // gets a token through the realm, and the pull goes through with it.
    let tok = registry::FaultFront::start(
        &reg,
        d.path("").as_path(),
        "token",
        &["--token", "alice:pw1"],
    );
    let image = format!("{}/faults/app:v1", tok.host());
    let out = d.docker(&["pull", &image]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = d.docker(&["login", "-u", "alice", "-p", "wrong", &tok.host()]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let out = d.docker(&["login", "-u", "alice", "-p", "pw1", &tok.host()]);
    assert!(out.status.success(), "{out:?}");
    let out = d.ok(&["pull", &image]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert!(!d.log().contains("pw1"), "a password in the log");

    // Push through a plain front to a new repository: large layers are streamed in a
    // PATCH, small blobs go in one PUT; what skopeo reads back is what dockbridge pushed.
    let plain = registry::FaultFront::start(&reg, d.path("").as_path(), "plain", &[]);
    let target = format!("{}/pushed/multi:v1", plain.host());
    d.ok(&["tag", &image, &target]);
    let out = d.ok(&["push", &target]);
    let reqs = plain.requests();
    let patches = reqs.iter().filter(|l| l.starts_with("PATCH ")).count();
    let monolithic = reqs
        .iter()
        .filter(|l| l.starts_with("PUT ") && l.contains("/blobs/uploads/"))
        .count();
    assert!(patches >= 1 && monolithic > patches, "{reqs:?}");
    let pushed = reg.inspect("pushed/multi:v1", None);
    assert!(
        out.contains(&format!(
            "v1: digest: {} ",
            pushed["Digest"].as_str().unwrap()
        )),
        "{out}\n{pushed}"
    );
}

#[test]
fn docker_hub_names_through_a_mirror_and_zstd_layers() {
    if !have_tools() {
        return;
    }
    // The mirror holds Docker Hub's `library/` path; its layers are zstd-compressed (an
    // OCI manifest, as skopeo writes it).
    let mirror = Registry::start(Options::default());
    let d = Daemon::start_with(
        &["--registry-mirror", &format!("http://{}", mirror.host())],
        &[],
    );
    let seeded = archive(&d, "zstd.tar", "zstd:v1", Some(("/etc/zstd", "squeezed")));
    mirror.seed_with(
        &seeded,
        "library/mirrored:v1",
        None,
        &["--dest-compress-format", "zstd", "--format", "oci"],
    );
    let info = mirror.inspect("library/mirrored:v1", None);
    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/library/mirrored:v1", mirror.host()))
        .output()
        .expect("skopeo");
    let manifest: Value = serde_json::from_slice(&raw.stdout).expect("a manifest");
    assert_eq!(
        manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
        "{manifest}"
    );
    // `mirrored:v1` is docker.io/library/mirrored:v1: asked of the mirror first.
    let out = d.ok(&["pull", "mirrored:v1"]);
    assert!(out.contains("v1: Pulling from library/mirrored"), "{out}");
    assert!(
        out.contains("Status: Downloaded newer image for mirrored:v1"),
        "{out}"
    );
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "mirrored:v1",
        "cat",
        "/etc/zstd",
    ]);
    assert_eq!(out.trim(), "squeezed");
    let digests = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .RepoDigests}}",
        "mirrored:v1",
    ]);
    // `--pull`, as the CLI drives it: never (a missing image is an error), always (asks
    // the registry even with the image present), missing (pulls after the 404).
    let out = d.docker(&["run", "--rm", "--pull", "never", "mirrored:absent", "true"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such image: mirrored:absent"),
        "{out:?}"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--pull",
        "always",
        "--network",
        "none",
        "mirrored:v1",
        "true",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Image is up to date for mirrored:v1"),
        "{out:?}"
    );
    d.ok(&["rmi", "mirrored:v1"]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--pull",
        "missing",
        "--network",
        "none",
        "mirrored:v1",
        "cat",
        "/etc/zstd",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "squeezed");
    assert!(
        digests.contains(&format!("mirrored@{}", info["Digest"].as_str().unwrap())),
        "{digests}"
    );
}
