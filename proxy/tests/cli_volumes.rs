//! End to end: `docker volume` and volume mounts with the real CLI — data in a named volume
//! outlives its containers, copy-up of the image's content (ownership kept), anonymous
//! volumes of `-v /path` and of the image's `VOLUME`, removed by `rm -v` and `--rm`,
//! `volume rm` of a volume in use (409, data kept), prune, bad names, a restart of the
//! daemon, an interrupted copy-up.
#![cfg(unix)]

mod common;

use common::{Daemon, IMAGE};

fn volumes(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = d
        .ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn volumes_with_the_cli() {
    let mut d = Daemon::start();
    d.load_busybox();

    // Named: created on first use, data survives the container.
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        IMAGE,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "data:/data", IMAGE, "cat", "/data/f"])
            .trim(),
        "kept"
    );
    let mp = d.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "data"]);
    assert!(mp.trim().ends_with("/volumes/data/_data"), "{mp}");
    assert_eq!(
        std::fs::read_to_string(format!("{}/f", mp.trim())).unwrap(),
        "kept\n"
    );

    // Copy-up: an empty volume mounted over image content gets that content, owners kept.
    let ls = d.ok(&[
        "run",
        "--rm",
        "-v",
        "etc:/etc",
        IMAGE,
        "sh",
        "-c",
        "ls -ln /etc/passwd; cat /etc/hostname >/dev/null",
    ]);
    assert!(ls.contains(" 0        0 ") || ls.contains(" 0 0 "), "{ls}");
    // `nocopy` leaves it empty.
    let empty = d.ok(&["run", "--rm", "-v", "bare:/etc:nocopy", IMAGE, "ls", "/etc"]);
    assert!(!empty.contains("passwd"), "{empty}");

    // Labels and options at create; in use → 409 and nothing lost.
    d.ok(&["volume", "create", "--label", "app=db", "labelled"]);
    let filtered = d.ok(&["volume", "ls", "-q", "--filter", "label=app=db"]);
    assert_eq!(filtered.trim(), "labelled");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "user",
        "-v",
        "data:/data",
        IMAGE,
        "sleep",
        "300",
    ]);
    d.fails_with(&["volume", "rm", "data"], "volume is in use");
    assert!(volumes(&d).contains(&"data".to_string()));
    let dangling = d.ok(&["volume", "ls", "-q", "--filter", "dangling=false"]);
    assert_eq!(dangling.trim(), "data");

    // Anonymous: `-v /path` gets a fresh 64-hex volume, `rm -v` removes it.
    d.ok(&["create", "--name", "anon", "-v", "/scratch", IMAGE, "true"]);
    let anon = d.ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Name}}{{end}}",
        "anon",
    ]);
    let anon = anon.trim().to_string();
    assert_eq!(anon.len(), 64, "{anon}");
    assert!(volumes(&d).contains(&anon));
    d.ok(&["rm", "-v", "anon"]);
    assert!(!volumes(&d).contains(&anon));
    // `--rm` removes them too; named ones stay.
    let before = volumes(&d);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "/tmpdata",
        "-v",
        "data2:/d2",
        IMAGE,
        "true",
    ]);
    let after = volumes(&d);
    assert_eq!(after.len(), before.len() + 1, "{before:?} -> {after:?}");
    assert!(after.contains(&"data2".to_string()));

    // --volumes-from shares another container's volumes and binds; `:ro` makes them
    // read-only; removing the sharer never removes the source's anonymous volumes.
    let hostdir = d.path("hostdir");
    std::fs::create_dir_all(&hostdir).unwrap();
    std::fs::write(hostdir.join("h"), "host\n").unwrap();
    let bind = format!("{}:/hd", hostdir.display());
    d.ok(&[
        "create",
        "--name",
        "src",
        "-v",
        "shared:/s",
        "-v",
        "/anonsrc",
        "-v",
        &bind,
        IMAGE,
        "true",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        IMAGE,
        "sh",
        "-c",
        "echo x > /s/f && cat /hd/h && test -d /anonsrc && echo ok",
    ]);
    assert_eq!(out, "host\nok\n");
    let ro = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        IMAGE,
        "touch",
        "/s/g",
    ]);
    assert!(!ro.status.success(), "{ro:?}");
    let before_rm = volumes(&d);
    d.ok(&["run", "--rm", "--volumes-from", "src", IMAGE, "true"]);
    assert_eq!(volumes(&d), before_rm);
    d.fails_with(
        &["run", "--rm", "--volumes-from", "nosuch", IMAGE, "true"],
        "No such container",
    );
    d.ok(&["rm", "-v", "src"]);

    // Bad input.
    d.fails_with(
        &["volume", "create", "bad/name"],
        "includes invalid characters",
    );
    d.fails_with(
        &["run", "--rm", "-v", "rel/path:/x", IMAGE, "true"],
        "use absolute path",
    );
    d.fails_with(
        &["volume", "create", "-o", "bogus=1", "opts"],
        "invalid option",
    );

    // Survives a daemon restart, with its users.
    d.restart();
    assert!(volumes(&d).contains(&"data".to_string()));
    d.fails_with(&["volume", "rm", "data"], "volume is in use");

    // An interrupted copy-up (a staging dir left behind, `_data` empty) is redone.
    let root = d.path("data/volumes");
    d.ok(&["volume", "create", "half"]);
    std::fs::create_dir_all(root.join("half/_copyup/etc-part")).unwrap();
    let ls = d.ok(&["run", "--rm", "-v", "half:/etc", IMAGE, "ls", "/etc"]);
    assert!(ls.contains("passwd"), "{ls}");
    assert!(!root.join("half/_copyup").exists());

    // Prune: API ≥ 1.42 takes unused anonymous volumes only; `--all` the named ones too.
    d.ok(&["rm", "-f", "user"]);
    d.ok(&["create", "--name", "leaves-anon", "-v", "/x", IMAGE, "true"]);
    d.ok(&["rm", "leaves-anon"]);
    let with_anon = volumes(&d);
    let out = d.ok(&["volume", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    let pruned = volumes(&d);
    assert_eq!(
        pruned.len(),
        with_anon.len() - 1,
        "{with_anon:?} -> {pruned:?}"
    );
    assert!(pruned.contains(&"data".to_string()));
    d.ok(&["volume", "prune", "-af"]);
    assert!(volumes(&d).is_empty(), "{:?}", volumes(&d));
}
