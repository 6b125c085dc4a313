//! End to end: `docker cp` both ways, `docker diff` and `docker export` with the real CLI
//! against dockbridge on a private containerd.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use common::{Daemon, IMAGE};

fn write(path: &Path, data: &str) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// `docker cp - <dest>` with `tar` on stdin: the CLI passes such an archive through
/// untouched, so hostile entries reach the daemon as written.
fn cp_stdin(d: &Daemon, dest: &str, tar: &[u8]) -> std::process::Output {
    let mut child = d
        .docker_cmd(&["cp", "-", dest])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(tar).unwrap();
    child.wait_with_output().unwrap()
}

/// A tar whose entries are written raw, so `..` names survive.
fn hostile_tar(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(946_684_800);
        match link {
            Some(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_link_name(target).unwrap();
                h.set_size(0);
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(6);
                h.set_cksum();
                b.append(&h, &b"pwned\n"[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// No helper mount point is left behind and no archive mount is visible on the host.
fn assert_no_leftovers(d: &Daemon) {
    let mnt = d.path("exec/mnt");
    let left: Vec<_> = std::fs::read_dir(&mnt)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".archive.") || n.contains(".export."))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", mnt.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(".archive.") && !mounts.contains(".export."),
        "archive mounts leaked into the host namespace"
    );
}

#[test]
fn cp_round_trips_running_created_and_stopped_containers() {
    let d = Daemon::start();
    d.load_busybox();
    let local = d.path("local");
    std::fs::create_dir_all(local.join("dir/sub")).unwrap();
    write(&local.join("file.txt"), "hello\n");
    write(&local.join("dir/sub/inner"), "inner\n");

    // Into and out of a running container: a file, a directory, and `dir/.` contents.
    d.ok(&["run", "-d", "--name", "live", IMAGE, "sleep", "1000"]);
    d.ok(&["cp", local.join("file.txt").to_str().unwrap(), "live:/tmp/"]);
    d.ok(&["cp", local.join("dir").to_str().unwrap(), "live:/tmp/dir"]);
    assert_eq!(
        d.ok(&["exec", "live", "cat", "/tmp/file.txt", "/tmp/dir/sub/inner"]),
        "hello\ninner\n"
    );
    let back = d.path("back");
    d.ok(&["cp", "live:/tmp/dir", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(back.join("sub/inner")).unwrap(),
        "inner\n"
    );
    let etc = d.path("etc-contents");
    d.ok(&["cp", "live:/etc/.", etc.to_str().unwrap()]);
    assert!(std::fs::read_to_string(etc.join("passwd"))
        .unwrap()
        .starts_with("root:x:0:0:"));
    // The container's own /etc/hosts (a bind mount dockbridge made) is what cp sees.
    assert!(std::fs::read_to_string(etc.join("hosts"))
        .unwrap()
        .contains("127.0.0.1"));
    // -L follows the link; without it the link itself is copied.
    d.ok(&[
        "cp",
        "-L",
        "live:/bin/sh",
        d.path("sh-file").to_str().unwrap(),
    ]);
    assert!(std::fs::symlink_metadata(d.path("sh-file"))
        .unwrap()
        .is_file());
    d.ok(&["cp", "live:/bin/sh", d.path("sh-link").to_str().unwrap()]);
    let in_container = d.ok(&["exec", "live", "readlink", "/bin/sh"]);
    assert_eq!(
        std::fs::read_link(d.path("sh-link")).unwrap(),
        Path::new(in_container.trim_end())
    );

    // cp -a hands the files to the container's user.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "owned",
        "-u",
        "1234:5678",
        IMAGE,
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "cp",
        "-a",
        local.join("file.txt").to_str().unwrap(),
        "owned:/tmp/",
    ]);
    assert_eq!(
        d.ok(&["exec", "owned", "stat", "-c", "%u:%g", "/tmp/file.txt"]),
        "1234:5678\n"
    );

    // Into a created container before it starts, and out of it after it exits.
    d.ok(&[
        "create",
        "--name",
        "later",
        IMAGE,
        "sh",
        "-c",
        "cat /root/file.txt > /root/out",
    ]);
    d.ok(&[
        "cp",
        local.join("file.txt").to_str().unwrap(),
        "later:/root/",
    ]);
    d.ok(&["start", "-a", "later"]);
    d.ok(&["cp", "later:/root/out", d.path("out").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(d.path("out")).unwrap(), "hello\n");

    // A stopped container's bind mounts are mounted for cp, as dockerd mounts volumes:
    // files land in (and come from) the host directory, and a read-only bind refuses.
    let vol = d.path("vol");
    let vol_ro = d.path("vol-ro");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::create_dir_all(&vol_ro).unwrap();
    write(&vol.join("from-host.txt"), "host side\n");
    d.ok(&[
        "create",
        "--name",
        "withvol",
        "-v",
        &format!("{}:/data", vol.display()),
        "-v",
        &format!("{}:/data/ro:ro", vol_ro.display()),
        IMAGE,
        "true",
    ]);
    d.ok(&[
        "cp",
        local.join("file.txt").to_str().unwrap(),
        "withvol:/data/",
    ]);
    assert_eq!(
        std::fs::read_to_string(vol.join("file.txt")).unwrap(),
        "hello\n"
    );
    d.ok(&[
        "cp",
        "withvol:/data/from-host.txt",
        d.path("from-host").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(d.path("from-host")).unwrap(),
        "host side\n"
    );
    let st = d.docker(&[
        "cp",
        local.join("file.txt").to_str().unwrap(),
        "withvol:/data/ro/",
    ]);
    assert!(!st.status.success(), "{st:?}");
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("read-only"),
        "{st:?}"
    );
    assert!(!vol_ro.join("file.txt").exists());

    // Errors in the CLI's words.
    let st = d.docker(&["cp", "live:/no/such/file", d.path("x").to_str().unwrap()]);
    assert!(!st.status.success());
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("Could not find the file /no/such/file"),
        "{st:?}"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ro",
        "--read-only",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let st = d.docker(&["cp", local.join("file.txt").to_str().unwrap(), "ro:/tmp/"]);
    assert!(!st.status.success());
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("read-only"),
        "{st:?}"
    );
    d.ok(&["rm", "-f", "live", "owned", "later", "ro", "withvol"]);
    assert_no_leftovers(&d);
}

#[test]
fn cp_refuses_archives_that_escape_the_target() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&["run", "-d", "--name", "cx", IMAGE, "sleep", "1000"]);
    let marker = format!("dockbridge-escape-{}", std::process::id());

    // `..` climbing out of /tmp: refused before anything is written.
    let name = format!("../../../../../../../../tmp/{marker}");
    let st = cp_stdin(&d, "cx:/tmp", &hostile_tar(&[(&name, None)]));
    assert!(!st.status.success(), "{st:?}");
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("is outside of"),
        "{st:?}"
    );

    // A symlink to another directory, then a file through it.
    let st = cp_stdin(
        &d,
        "cx:/tmp",
        &hostile_tar(&[("hop", Some("/etc")), ("hop/pwned", None)]),
    );
    assert!(!st.status.success(), "{st:?}");

    // A symlink to the root: inside the chroot it is the container's root, never the
    // host's, so even a permitted path cannot land on the host.
    let through_root = format!("hop2/tmp/{marker}");
    let _ = cp_stdin(
        &d,
        "cx:/tmp",
        &hostile_tar(&[("hop2", Some("/")), (&through_root, None)]),
    );

    assert!(
        !Path::new("/tmp").join(&marker).exists(),
        "a file escaped to the host"
    );
    assert!(
        !Path::new("/etc/pwned").exists(),
        "a file escaped to the host"
    );
    // A well-formed archive padded far past its end marker (tar writers pad to a record
    // size): all of it is read, and the copy succeeds.
    let mut padded = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "padded.txt", &b"ok\n"[..]).unwrap();
        b.into_inner().unwrap()
    };
    padded.extend(std::iter::repeat_n(0u8, 1 << 20));
    let st = cp_stdin(&d, "cx:/tmp", &padded);
    assert!(st.status.success(), "{st:?}");
    assert_eq!(d.ok(&["exec", "cx", "cat", "/tmp/padded.txt"]), "ok\n");

    let etc = d.ok(&["exec", "cx", "ls", "/etc"]);
    assert!(!etc.contains("pwned"), "{etc}");
    d.ok(&["rm", "-f", "cx"]);
    assert_no_leftovers(&d);
}

#[test]
fn diff_and_export_show_what_the_container_wrote() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run",
        "--name",
        "wr",
        IMAGE,
        "sh",
        "-c",
        "mkdir /tmp/new && echo x > /tmp/new/f && rm /etc/group && echo changed > /etc/passwd",
    ]);
    let diff = d.ok(&["diff", "wr"]);
    let lines: Vec<&str> = diff.lines().collect();
    for want in [
        "C /etc",
        "D /etc/group",
        "C /etc/passwd",
        "C /tmp",
        "A /tmp/new",
        "A /tmp/new/f",
    ] {
        assert!(lines.contains(&want), "{want:?} not in {lines:?}");
    }
    // Mount points runc made are not the container's changes (dockerd's init layer).
    assert!(
        !lines
            .iter()
            .any(|l| l.ends_with(" /proc") || l.ends_with(" /sys")),
        "{lines:?}"
    );

    let out = d.path("w.tar");
    d.ok(&["export", "-o", out.to_str().unwrap(), "wr"]);
    let mut a = tar::Archive::new(std::fs::File::open(&out).unwrap());
    let mut names = Vec::new();
    let mut passwd = String::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        if name == "etc/passwd" {
            std::io::Read::read_to_string(&mut e, &mut passwd).unwrap();
        }
        names.push(name);
    }
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(names.iter().any(|n| n == "tmp/new/f"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "etc/group"),
        "deleted file exported"
    );
    assert_eq!(passwd, "changed\n");

    let st = d.docker(&["diff", "nope"]);
    assert!(String::from_utf8_lossy(&st.stderr).contains("No such container"));
    d.ok(&["rm", "wr"]);
    assert_no_leftovers(&d);
}

#[test]
fn commit_makes_a_runnable_image_of_the_changes() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run",
        "--name",
        "src",
        "-e",
        "FROM_CONTAINER=1",
        IMAGE,
        "sh",
        "-c",
        "echo committed > /root/marker && rm /etc/group",
    ]);
    let id = d.ok(&[
        "commit",
        "-m",
        "first commit",
        "-a",
        "tester",
        "src",
        "committed:v1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    // The new layer on top of busybox's, with the deletion as a whiteout.
    let out = d.ok(&[
        "run",
        "--rm",
        "committed:v1",
        "sh",
        "-c",
        "cat /root/marker; test -e /etc/group && echo group-back; echo $FROM_CONTAINER",
    ]);
    assert_eq!(out, "committed\n1\n");
    let layers = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}} {{.Comment}} {{.Author}} {{json .Config.Cmd}}",
        "committed:v1",
    ]);
    let base = d.ok(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", IMAGE]);
    let base: usize = base.trim().parse().unwrap();
    assert_eq!(
        layers.trim(),
        format!(
            "{} first commit tester [\"sh\",\"-c\",\"echo committed > /root/marker && rm /etc/group\"]",
            base + 1
        )
    );
    let history = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.Comment}}",
        "committed:v1",
    ]);
    assert_eq!(history.lines().next(), Some("first commit"));

    // A running container: paused while its layer is read, running again afterwards.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        IMAGE,
        "sh",
        "-c",
        "echo live > /tmp/live; sleep 1000",
    ]);
    for _ in 0..50 {
        if d.docker(&["exec", "busy", "test", "-e", "/tmp/live"])
            .status
            .success()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    d.ok(&["commit", "busy", "committed:live"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "busy"]),
        "running\n"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "committed:live", "cat", "/tmp/live"]),
        "live\n"
    );

    // --change instructions apply to the new config; ones a commit cannot take are
    // refused before anything is written; bad names too.
    d.ok(&[
        "commit",
        "--change",
        "ENV GREETING=changed",
        "--change",
        r#"CMD ["sh", "-c", "echo $GREETING $FROM_CONTAINER"]"#,
        "src",
        "committed:v2",
    ]);
    assert_eq!(d.ok(&["run", "--rm", "committed:v2"]), "changed 1\n");
    let st = d.docker(&["commit", "--change", "RUN true", "src", "committed:v3"]);
    assert!(!st.status.success(), "{st:?}");
    let st = d.docker(&["commit", "src", "Bad:Name"]);
    assert!(!st.status.success(), "{st:?}");
    assert_eq!(d.ok(&["images", "-q", "--filter", "dangling=true"]), "");
    d.ok(&["rm", "-f", "src", "busy"]);
}
