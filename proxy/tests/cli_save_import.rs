//! End to end: `docker save`, `docker load` of what was saved, and `docker import`, with the
//! real docker CLI.
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::{Daemon, IMAGE};
use compat::image::{self, ImageSpec};
use serde_json::Value;

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    d.ok(&["image", "inspect", "-f", format, name])
        .trim()
        .to_string()
}

fn manifest_of(tar: &[u8]) -> Value {
    let entries = image::tar_entries(tar).unwrap();
    let (_, m) = entries
        .iter()
        .find(|(n, _)| n == "manifest.json")
        .expect("manifest.json in the archive");
    serde_json::from_slice(m).unwrap()
}

/// `docker <args>` with `input` as its standard input.
fn with_stdin(d: &Daemon, args: &[&str], input: &[u8]) -> Output {
    let mut child = d
        .docker_cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn ok_with_stdin(d: &Daemon, args: &[&str], input: &[u8]) -> String {
    let out = with_stdin(d, args, input);
    assert!(
        out.status.success(),
        "docker {args:?} failed:\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        common::tail(&d.log(), 40)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn save_rmi_load_restores_the_same_image() {
    let d = Daemon::start();
    d.load_busybox();
    let spec = ImageSpec {
        labels: vec![("variant".into(), "second".into())],
        extra_files: vec![("/etc/second".into(), "2\n".into())],
    };
    let second = image::busybox_archive_with(&["second/img:v1"], &spec).unwrap();
    let p = d.path("second.tar");
    std::fs::write(&p, second).unwrap();
    d.ok(&["load", "-i", p.to_str().unwrap()]);

    let id = inspect(&d, IMAGE, "{{.Id}}");
    let layers = inspect(&d, IMAGE, "{{json .RootFS.Layers}}");
    let second_id = inspect(&d, "second/img:v1", "{{.Id}}");

    // One image: save, remove, load back.
    let one = d.path("one.tar");
    d.ok(&["save", "-o", one.to_str().unwrap(), IMAGE]);
    let tar = std::fs::read(&one).unwrap();
    let m = manifest_of(&tar);
    assert_eq!(m[0]["RepoTags"], serde_json::json!([IMAGE]), "{m}");
    assert_eq!(
        format!(
            "sha256:{}",
            m[0]["Config"].as_str().unwrap().trim_end_matches(".json")
        ),
        id
    );
    let names: Vec<String> = image::tar_entries(&tar)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.iter().any(|n| n == "repositories"), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("/VERSION")), "{names:?}");
    let out = d.ok(&["rmi", IMAGE]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    let out = d.ok(&["load", "-i", one.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert_eq!(inspect(&d, IMAGE, "{{.Id}}"), id);
    assert_eq!(inspect(&d, IMAGE, "{{json .RootFS.Layers}}"), layers);
    d.ok(&["run", "--rm", "--network", "none", IMAGE, "true"]);

    // Two images at once; by ID an image gets no tag.
    let two = d.path("two.tar");
    d.ok(&["save", "-o", two.to_str().unwrap(), IMAGE, &second_id]);
    let m = manifest_of(&std::fs::read(&two).unwrap());
    assert_eq!(m.as_array().map(Vec::len), Some(2), "{m}");
    assert_eq!(m[1]["RepoTags"], Value::Null, "{m}");

    // The archive loads into a fresh daemon as the same images.
    let fresh = d.start_second(&[]);
    let out = fresh.ok(&["load", "-i", two.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert!(
        out.contains(&format!("Loaded image ID: {second_id}")),
        "{out}"
    );
    assert_eq!(inspect(&fresh, IMAGE, "{{.Id}}"), id);
    assert_eq!(inspect(&fresh, IMAGE, "{{json .RootFS.Layers}}"), layers);
    assert_eq!(inspect(&fresh, &second_id, "{{.Id}}"), second_id);
    drop(fresh);

    // A missing image: the CLI reports the daemon's 404.
    let st = d.docker(&["save", "-o", d.path("x.tar").to_str().unwrap(), "missing:1"]);
    assert_eq!(st.status.code(), Some(1));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(err.contains("No such image: missing:1"), "{err}");

    let events = event_ids(&d, "save");
    assert!(events.contains(&id), "{events}");
}

#[test]
fn import_plain_gzip_and_changes() {
    let d = Daemon::start();
    let rootfs = image::busybox_layer(&ImageSpec::default()).unwrap();
    let diff_id = image::diff_id(&ImageSpec::default()).unwrap();

    let out = ok_with_stdin(&d, &["import", "-", "imported/plain:v1"], &rootfs);
    let id = out.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    assert_eq!(inspect(&d, "imported/plain:v1", "{{.Id}}"), id);
    assert_eq!(
        inspect(&d, "imported/plain:v1", "{{json .RootFS.Layers}}"),
        format!("[\"{diff_id}\"]")
    );
    assert_eq!(
        inspect(&d, "imported/plain:v1", "{{.Os}} {{.Comment}}"),
        "linux Imported from -"
    );
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "imported/plain:v1",
        "/bin/busybox",
        "true",
    ]);

    // --change CMD: the image runs it by default.
    ok_with_stdin(
        &d,
        &[
            "import",
            "--change",
            r#"CMD ["/bin/busybox","echo","hi"]"#,
            "--change",
            "ENV GREETING=hello",
            "-",
            "imported/cmd:v1",
        ],
        &rootfs,
    );
    let out = d.ok(&["run", "--rm", "--network", "none", "imported/cmd:v1"]);
    assert_eq!(out.trim(), "hi");
    assert_eq!(
        inspect(&d, "imported/cmd:v1", "{{json .Config.Env}}"),
        r#"["GREETING=hello"]"#
    );
    let st = with_stdin(&d, &["import", "--change", "RUN true", "-", "x:y"], &rootfs);
    assert_eq!(st.status.code(), Some(1));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(err.contains("run is not a valid change command"), "{err}");

    // gzip: the same diff ID; it runs; and it saves (decompressed) into a loadable archive.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&rootfs).unwrap();
    let gz = gz.finish().unwrap();
    let out = ok_with_stdin(
        &d,
        &["import", "-m", "from gzip", "-", "imported/gz:v1"],
        &gz,
    );
    let gz_id = out.trim().to_string();
    assert_eq!(
        inspect(&d, "imported/gz:v1", "{{json .RootFS.Layers}} {{.Comment}}"),
        format!("[\"{diff_id}\"] from gzip")
    );
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "imported/gz:v1",
        "/bin/busybox",
        "true",
    ]);
    let saved = d.path("gz.tar");
    d.ok(&["save", "-o", saved.to_str().unwrap(), "imported/gz:v1"]);
    let entries = image::tar_entries(&std::fs::read(&saved).unwrap()).unwrap();
    let layer = entries
        .iter()
        .find(|(n, _)| n.ends_with("/layer.tar"))
        .expect("a layer.tar");
    assert_eq!(format!("sha256:{}", image::sha256_hex(&layer.1)), diff_id);
    d.ok(&["rmi", "imported/gz:v1"]);
    d.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(inspect(&d, "imported/gz:v1", "{{.Id}}"), gz_id);

    // A file argument is sent as the body too; a URL cannot be fetched.
    let file = d.path("rootfs.tar");
    std::fs::write(&file, &rootfs).unwrap();
    d.ok(&["import", file.to_str().unwrap(), "imported/file:v1"]);
    let st = d.docker(&["import", "http://192.0.2.1/rootfs.tar", "imported/url:v1"]);
    assert_eq!(st.status.code(), Some(1));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(err.contains("not supported"), "{err}");

    let events = event_ids(&d, "import");
    assert!(events.contains(&id) && events.contains(&gz_id), "{events}");
}

/// IDs of the image events `action` emitted so far.
fn event_ids(d: &Daemon, action: &str) -> String {
    d.ok(&[
        "events",
        "--since",
        "0",
        // The CLI turns durations into whole seconds: a second ahead covers "now".
        "--until",
        "-1s",
        "--filter",
        &format!("event={action}"),
        "--format",
        "{{.ID}}",
    ])
}
