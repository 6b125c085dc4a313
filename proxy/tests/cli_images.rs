//! End to end: image commands with the real docker CLI.
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, IMAGE};

#[test]
fn load_list_tag_inspect_rmi_prune_and_pull() {
    let d = Daemon::start();
    d.load_busybox();

    // OCI layout with a gzip layer loads too; a label makes it a distinct image.
    let spec = compat::image::ImageSpec {
        labels: vec![("variant".into(), "oci".into())],
        ..Default::default()
    };
    let oci = compat::image::busybox_oci_archive_with(&["oci/busybox:v1"], &spec).unwrap();
    let p = d.path("oci.tar");
    std::fs::write(&p, oci).unwrap();
    let out = d.ok(&["load", "-i", p.to_str().unwrap()]);
    assert!(out.contains("oci/busybox:v1"), "{out}");

    let id = d
        .ok(&["image", "inspect", "-f", "{{.Id}}", IMAGE])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let info = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Os}}/{{.Architecture}} {{json .RepoTags}} {{json .Config.Cmd}}",
        "busybox",
    ]);
    assert_eq!(info.trim(), "linux/amd64 [\"busybox:latest\"] [\"sh\"]");
    // Short ID prefixes and the full normalized name resolve to the same image.
    let short = &id["sha256:".len().."sha256:".len() + 12];
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", short]).trim(),
        id
    );
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}}",
            "docker.io/library/busybox:latest"
        ])
        .trim(),
        id
    );

    d.ok(&["tag", "busybox", "mine/box:one"]);
    let listed = d.ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "--filter",
        "reference=mine/*",
    ]);
    assert_eq!(listed.trim(), "mine/box:one");
    let labelled = d.ok(&[
        "images",
        "--format",
        "{{.Repository}}",
        "--filter",
        "label=variant=oci",
    ]);
    assert_eq!(labelled.trim(), "oci/busybox");

    // rmi of one of two names only untags.
    let out = d.ok(&["rmi", "mine/box:one"]);
    assert!(out.contains("Untagged: mine/box:one"), "{out}");
    assert!(d.docker(&["image", "inspect", "busybox"]).status.success());

    // In use by a container: 409 unless forced.
    d.ok(&[
        "create",
        "--name",
        "user",
        "--network",
        "none",
        IMAGE,
        "true",
    ]);
    let st = d.docker(&["rmi", &id]);
    assert_eq!(st.status.code(), Some(1));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("conflict") || err.contains("being used"),
        "{err}"
    );
    d.ok(&["rm", "user"]);

    // Removing the last name deletes the image.
    d.ok(&["tag", "oci/busybox:v1", "keep/me:1"]);
    assert!(d
        .ok(&["rmi", "oci/busybox:v1"])
        .contains("Untagged: oci/busybox:v1"));
    let out = d.ok(&["rmi", "keep/me:1"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    let images = d.ok(&["images", "-q"]);
    assert_eq!(images.lines().count(), 1, "{images}");

    // No registry: pull fails fast with an error the CLI prints.
    let t = Instant::now();
    let st = d.docker(&["pull", "alpine:3"]);
    assert_eq!(st.status.code(), Some(1), "{st:?}");
    assert!(!String::from_utf8_lossy(&st.stderr).is_empty());
    assert!(t.elapsed() < Duration::from_secs(10));

    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
}
