//! The image store against a real, private containerd: load (docker-archive and OCI, plain
//! and gzip layers), list, resolve, tag, remove, prune, container root filesystems, and that
//! what is stored survives containerd's garbage collector.
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use compat::image::{self as testimg, ImageSpec};
use containerd_client::services::v1::snapshots::StatSnapshotRequest;
use containerd_client::services::v1::{InfoRequest, ListRequest};
use dockbridge::containerd::supervisor::{Layout, Supervisor};
use dockbridge::containerd::Containerd;
use dockbridge::images::{
    self, DeleteItem, Filters, ImageStore, ImageUser, ImagesError, LoadedImage,
};
use spec::api::ApiVersion;

/// One containerd at a time: two cores run several of them and their GCs poorly.
static SERIAL: Mutex<()> = Mutex::new(());

struct Env {
    store: ImageStore,
    cd: Containerd,
    sup: Option<Supervisor>,
    dir: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Env {
    // Each #[tokio::test] has its own runtime on its own thread, so a std guard held across
    // awaits only serialises the tests (the point), it cannot deadlock one runtime.
    #[allow(clippy::await_holding_lock)]
    async fn start() -> Self {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        // Unix socket paths must stay under 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("dbimg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let layout = Layout::new(&dir.path().join("data"), &dir.path().join("exec"));
        let (sup, cd) = Supervisor::start(layout)
            .await
            .expect("starting containerd");
        let store = ImageStore::new(cd.clone(), "overlayfs", dir.path().join("spool"))
            .await
            .expect("image store");
        Self {
            store,
            cd,
            sup: Some(sup),
            dir,
            _serial: serial,
        }
    }

    async fn stop(mut self) {
        if let Some(sup) = self.sup.take() {
            sup.shutdown().await;
        }
        // Leftover overlay mounts would keep the tempdir from being removed.
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("mnt"))
            .stderr(Stdio::null())
            .status();
    }

    /// Loads an archive; returns the images and the progress lines.
    async fn load(&self, tar: Vec<u8>) -> Result<(Vec<LoadedImage>, Vec<String>), ImagesError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let res = self.store.load(std::io::Cursor::new(tar), tx).await;
        let mut lines = Vec::new();
        while let Ok(l) = rx.try_recv() {
            lines.push(l);
        }
        res.map(|r| (r, lines))
    }

    async fn tags(&self) -> Vec<(String, Vec<String>)> {
        self.store
            .list()
            .await
            .expect("list")
            .into_iter()
            .map(|r| (r.id, r.repo_tags))
            .collect()
    }
}

fn no_users(_: &str) -> Vec<ImageUser> {
    Vec::new()
}

fn variant(label: &str) -> ImageSpec {
    ImageSpec {
        labels: vec![("test.variant".into(), label.into())],
        extra_files: vec![],
    }
}

fn variant_with_layer(label: &str) -> ImageSpec {
    ImageSpec {
        labels: vec![("test.variant".into(), label.into())],
        extra_files: vec![("/etc/variant".into(), label.into())],
    }
}

/// dockerd's layer size: regular file sizes plus symlink target lengths.
fn unpacked_size(layer: &[u8]) -> i64 {
    let mut ar = tar::Archive::new(layer);
    let mut n = 0i64;
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        match e.header().entry_type() {
            tar::EntryType::Regular => n += e.size() as i64,
            tar::EntryType::Symlink => n += e.link_name_bytes().unwrap().len() as i64,
            _ => {}
        }
    }
    n
}

#[tokio::test]
async fn load_list_resolve_and_inspect() {
    let env = Env::start().await;
    let id = testimg::image_id(&ImageSpec::default()).unwrap();
    let diff_id = testimg::diff_id(&ImageSpec::default()).unwrap();

    let (loaded, lines) = env
        .load(testimg::busybox_archive(&["busybox:latest"]).unwrap())
        .await
        .expect("load");
    assert_eq!(lines, ["Loaded image: busybox:latest"]);
    assert_eq!(loaded[0].id, id);

    let list = env.store.list().await.unwrap();
    assert_eq!(list.len(), 1);
    let rec = &list[0];
    assert_eq!(rec.id, id);
    assert_eq!(rec.repo_tags, ["busybox:latest"]);
    assert!(rec.repo_digests.is_empty());
    assert!(!rec.dangling);
    assert_eq!(rec.created_nanos, 946_684_800 * 1_000_000_000);
    let layer = testimg::busybox_layer(&ImageSpec::default()).unwrap();
    assert_eq!(rec.size, unpacked_size(&layer));
    assert_eq!(rec.diff_ids, std::slice::from_ref(&diff_id));

    // Every way Docker resolves an image.
    let hex = &id[7..];
    for form in [
        "busybox",
        "busybox:latest",
        "library/busybox",
        "docker.io/library/busybox:latest",
        id.as_str(),
        hex,
        &hex[..12],
        &hex[..3],
        &format!("sha256:{}", &hex[..12]),
    ] {
        let r = env
            .store
            .resolve(form)
            .await
            .unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(r.id, id, "{form}");
    }
    let e = env.store.resolve("nope").await.unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(e.to_string(), "No such image: nope:latest");
    assert_eq!(e.kind(), dockbridge::error_kind::ErrorKind::NotFound);
    let e = env.store.resolve("busybox:1").await.unwrap_err();
    assert_eq!(e.to_string(), "No such image: busybox:1");
    let e = env.store.resolve("Busybox").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid reference format: repository name must be lowercase"
    );
    assert_eq!(
        e.kind(),
        dockbridge::error_kind::ErrorKind::InvalidParameter
    );
    let missing = format!("sha256:{}", "0".repeat(64));
    let e = env.store.resolve(&missing).await.unwrap_err();
    assert_eq!(e.to_string(), format!("No such image: {missing}"));

    // API views.
    let v = images::inspect_json(rec, ApiVersion::new(1, 44));
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["RootFS"]["Type"], "layers");
    assert_eq!(v["RootFS"]["Layers"][0], diff_id.as_str());
    assert_eq!(v["Config"]["Cmd"][0], "sh");
    assert_eq!(v["Created"], "2000-01-01T00:00:00Z");
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Os"], "linux");
    let s = images::summary_json(rec, ApiVersion::new(1, 41));
    assert_eq!(s["Created"], 946_684_800);
    assert_eq!(s["VirtualSize"], s["Size"]);
    let h = images::history(rec);
    assert_eq!(h[0].id, id);
    assert_eq!(h[0].tags, ["busybox:latest"]);

    // Loading again changes nothing.
    let (again, lines) = env
        .load(testimg::busybox_archive(&["busybox:latest"]).unwrap())
        .await
        .expect("reload");
    assert_eq!(again, loaded);
    assert_eq!(lines, ["Loaded image: busybox:latest"]);
    assert_eq!(
        env.tags().await,
        [(id.clone(), vec!["busybox:latest".to_string()])]
    );
    env.stop().await;
}

#[tokio::test]
async fn oci_layout_with_gzip_layer_joins_the_same_image() {
    let env = Env::start().await;
    let id = testimg::image_id(&ImageSpec::default()).unwrap();
    let (loaded, lines) = env
        .load(testimg::busybox_oci_archive(&["busybox:oci"]).unwrap())
        .await
        .expect("load OCI");
    assert_eq!(lines, ["Loaded image: busybox:oci"]);
    assert_eq!(loaded[0].id, id);
    let rec = env.store.resolve("busybox:oci").await.unwrap();
    assert_eq!(
        rec.target.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        rec.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    // Same config from a docker-archive: one image, two names (two manifests).
    env.load(testimg::busybox_archive(&["busybox:latest"]).unwrap())
        .await
        .expect("load docker-archive");
    assert_eq!(
        env.tags().await,
        [(
            id.clone(),
            vec!["busybox:latest".to_string(), "busybox:oci".to_string()]
        )]
    );
    // Untagged OCI archive: reported by ID.
    let spec = variant("oci-untagged");
    let vid = testimg::image_id(&spec).unwrap();
    let (_, lines) = env
        .load(testimg::busybox_oci_archive_with(&[], &spec).unwrap())
        .await
        .expect("load untagged OCI");
    assert_eq!(lines, [format!("Loaded image ID: {vid}")]);
    assert!(env.store.resolve(&vid).await.unwrap().dangling);
    env.stop().await;
}

#[tokio::test]
async fn retag_tag_remove_and_prune_follow_docker() {
    let env = Env::start().await;
    let id = testimg::image_id(&ImageSpec::default()).unwrap();
    env.load(testimg::busybox_archive(&["busybox:latest"]).unwrap())
        .await
        .expect("load");

    // A new image under the same tag takes it; the old one stays, untagged.
    let spec = variant("two");
    let id2 = testimg::image_id(&spec).unwrap();
    let (_, lines) = env
        .load(testimg::busybox_archive_with(&["busybox:latest"], &spec).unwrap())
        .await
        .expect("load variant");
    assert_eq!(
        lines,
        [
            format!("The image busybox:latest already exists, renaming the old one with ID {id} to empty string"),
            "Loaded image: busybox:latest".to_string(),
        ]
    );
    let old = env.store.resolve(&id).await.unwrap();
    assert!(old.dangling);
    assert!(old.repo_tags.is_empty());
    let dangling = env
        .store
        .list_filtered(
            &Filters::from_json(r#"{"dangling":["true"]}"#).unwrap(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        dangling.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );
    let labelled = env
        .store
        .list_filtered(
            &Filters::from_json(r#"{"label":["test.variant=two"]}"#).unwrap(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(labelled.len(), 1);
    assert_eq!(labelled[0].id, id2);

    // docker tag: the dangling image gets names again.
    assert_eq!(env.store.tag(&id, "a/b", "1").await.unwrap(), "a/b:1");
    assert_eq!(
        env.store.tag(&id[7..19], "c", "").await.unwrap(),
        "c:latest"
    );
    let rec = env.store.resolve("a/b:1").await.unwrap();
    assert_eq!(rec.repo_tags, ["a/b:1", "c:latest"]);
    assert!(!rec.dangling);
    assert!(rec.last_tag_time.is_some());
    let e = env.store.tag(&id, "Upper", "x").await.unwrap_err();
    assert_eq!(
        e.kind(),
        dockbridge::error_kind::ErrorKind::InvalidParameter
    );
    let e = env.store.tag(&id, "sha256", "x").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "refusing to create an ambiguous tag using digest algorithm as name"
    );
    assert!(env
        .store
        .tag("missing", "x", "y")
        .await
        .unwrap_err()
        .is_not_found());
    let refd = env
        .store
        .list_filtered(
            &Filters::from_json(r#"{"reference":["a/*"]}"#).unwrap(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(refd.len(), 1);
    assert_eq!(refd[0].repo_tags, ["a/b:1"]);

    // By ID with several names: 409 unless forced.
    let e = env.store.remove(&id, false, &no_users).await.unwrap_err();
    assert_eq!(e.kind(), dockbridge::error_kind::ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            &id[7..19]
        )
    );
    // By name with other names left: untag only.
    let items = env.store.remove("c", false, &no_users).await.unwrap();
    assert_eq!(items, [DeleteItem::Untagged("c:latest".into())]);

    // A (stopped) container uses it, with a rootfs on its layers.
    let cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    env.store.prepare_rootfs(&id, cid).await.expect("rootfs");
    let users = |img: &str| {
        if img == id {
            vec![ImageUser {
                container_id: cid.to_string(),
                running: false,
            }]
        } else {
            Vec::new()
        }
    };
    let e = env.store.remove("a/b:1", false, &users).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to remove repository reference \"a/b:1\" (must force) - container 0123456789ab is using its referenced image {}",
            &id[7..19]
        )
    );
    let e = env.store.remove(&id, false, &users).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container 0123456789ab",
            &id[7..19]
        )
    );
    // A running container's image: forcing the name only untags, the image stays.
    let running = |img: &str| {
        if img == id {
            vec![ImageUser {
                container_id: cid.to_string(),
                running: true,
            }]
        } else {
            Vec::new()
        }
    };
    let items = env.store.remove("a/b:1", true, &running).await.unwrap();
    assert_eq!(items, [DeleteItem::Untagged("a/b:1".into())]);
    assert!(env.store.resolve(&id).await.unwrap().dangling);
    let e = env.store.remove(&id, true, &running).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("(cannot be forced) - image is being used by running container 0123456789ab"),
        "{e}"
    );
    // Stopped: forcing deletes the image; its layer stays (the rootfs needs it).
    let items = env.store.remove(&id, true, &users).await.unwrap();
    assert_eq!(items, [DeleteItem::Deleted(id.clone())]);
    assert!(env.store.resolve(&id).await.unwrap_err().is_not_found());
    let mounts = env.store.rootfs_mounts(cid).await.expect("rootfs survives");
    assert!(!mounts.is_empty());
    env.store.remove_rootfs(cid).await.unwrap();
    env.store.remove_rootfs(cid).await.expect("idempotent");

    // Prune: only dangling images by default, reclaiming layers no one else has.
    let spec3 = variant_with_layer("three");
    let id3 = testimg::image_id(&spec3).unwrap();
    let chain3 = testimg::diff_id(&spec3).unwrap();
    env.load(testimg::busybox_archive_with(&[], &spec3).unwrap())
        .await
        .expect("load untagged");
    let (items, reclaimed) = env
        .store
        .prune(&Filters::default(), &no_users)
        .await
        .unwrap();
    assert_eq!(
        items,
        [
            DeleteItem::Deleted(id3.clone()),
            DeleteItem::Deleted(chain3)
        ]
    );
    let layer3 = testimg::busybox_layer(&spec3).unwrap();
    assert_eq!(reclaimed as i64, unpacked_size(&layer3));
    // dangling=false prunes tagged images too, unless a container uses them.
    let f = Filters::from_json(r#"{"dangling":["false"]}"#).unwrap();
    let busy = |img: &str| {
        if img == id2 {
            vec![ImageUser {
                container_id: cid.to_string(),
                running: true,
            }]
        } else {
            Vec::new()
        }
    };
    let (items, _) = env.store.prune(&f, &busy).await.unwrap();
    assert!(items.is_empty(), "{items:?}");
    let (items, reclaimed) = env.store.prune(&f, &no_users).await.unwrap();
    assert_eq!(items[0], DeleteItem::Untagged("busybox:latest".into()));
    assert_eq!(items[1], DeleteItem::Deleted(id2.clone()));
    assert!(reclaimed > 1_000_000);
    assert!(env.store.list().await.unwrap().is_empty());
    let e = env
        .store
        .prune(&Filters::from_json(r#"{"foo":["x"]}"#).unwrap(), &no_users)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "Invalid filter 'foo'");
    env.stop().await;
}

#[tokio::test]
async fn rootfs_mounts_hold_busybox_and_survive_gc() {
    let env = Env::start().await;
    let id = testimg::image_id(&ImageSpec::default()).unwrap();
    env.load(testimg::busybox_oci_archive(&["busybox:latest"]).unwrap())
        .await
        .expect("load");
    // Force a synchronous garbage collection: load an unrelated image and delete it.
    let spec = variant_with_layer("gc");
    let gid = testimg::image_id(&spec).unwrap();
    env.load(testimg::busybox_archive_with(&[], &spec).unwrap())
        .await
        .expect("load other");
    let items = env.store.remove(&gid, false, &no_users).await.unwrap();
    assert_eq!(items.len(), 2, "{items:?}");

    // No lease is left behind, and what the image needs survived the collection, as a
    // fresh store (no cache) on the same containerd sees.
    let leases = env
        .cd
        .leases()
        .list(ListRequest { filters: vec![] })
        .await
        .unwrap();
    assert!(leases.into_inner().leases.is_empty());
    let fresh = ImageStore::new(env.cd.clone(), "overlayfs", env.dir.path().join("spool2"))
        .await
        .unwrap();
    let rec = fresh.resolve("busybox").await.expect("image after GC");
    assert_eq!(rec.id, id);
    for digest in [&rec.target.digest, &rec.id, &rec.layers[0].digest] {
        let info = env
            .cd
            .content()
            .info(InfoRequest {
                digest: digest.clone(),
            })
            .await;
        assert!(info.is_ok(), "{digest} collected");
    }
    let top = rec.top_chain_id().unwrap().to_string();
    let snap = env
        .cd
        .snapshots()
        .stat(StatSnapshotRequest {
            snapshotter: "overlayfs".into(),
            key: top.clone(),
        })
        .await;
    assert!(snap.is_ok(), "snapshot {top} collected");

    let key = "ctr-rootfs-1";
    let mounts = env
        .store
        .prepare_rootfs("busybox", key)
        .await
        .expect("prepare");
    assert_eq!(mounts.len(), 1);
    let m = &mounts[0];
    let target = env.dir.path().join("mnt");
    std::fs::create_dir_all(&target).unwrap();
    let status = Command::new("mount")
        .arg("-t")
        .arg(&m.r#type)
        .arg(&m.source)
        .arg("-o")
        .arg(m.options.join(","))
        .arg(&target)
        .status()
        .expect("mount");
    assert!(status.success(), "mount {m:?}");
    let busybox_ok = Path::new(&target).join("bin/busybox").is_file();
    let sh_ok = std::fs::symlink_metadata(target.join("bin/sh")).is_ok();
    let _ = Command::new("umount").arg(&target).status();
    assert!(busybox_ok, "/bin/busybox missing in the rootfs");
    assert!(sh_ok, "/bin/sh missing in the rootfs");

    assert_eq!(env.store.rootfs_mounts(key).await.unwrap(), mounts);
    // A second rootfs with the same key is refused.
    assert!(env.store.prepare_rootfs(&id, key).await.is_err());
    env.store.remove_rootfs(key).await.unwrap();
    assert!(env.store.rootfs_mounts(key).await.is_err());
    env.stop().await;
}

#[tokio::test]
async fn bad_archives_change_nothing() {
    let env = Env::start().await;
    let id = testimg::image_id(&ImageSpec::default()).unwrap();
    env.load(testimg::busybox_archive(&["busybox:latest"]).unwrap())
        .await
        .expect("load");
    let before = env.tags().await;

    // A layer that does not match its diff ID, under an existing tag.
    let good = testimg::busybox_archive_with(&["busybox:latest"], &variant("bad")).unwrap();
    let mut entries = testimg::tar_entries(&good).unwrap();
    for (name, data) in entries.iter_mut() {
        if name.ends_with("layer.tar") {
            // Flip a byte in the middle of the busybox binary.
            let mid = data.len() / 2;
            data[mid] ^= 0xff;
        }
    }
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in &entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    let tampered = b.into_inner().unwrap();
    let e = env.load(tampered).await.unwrap_err();
    assert!(matches!(e, ImagesError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains("digest mismatch"), "{e}");
    assert_eq!(
        e.kind(),
        dockbridge::error_kind::ErrorKind::InvalidParameter
    );

    let e = env.load(b"this is not a tar".to_vec()).await.unwrap_err();
    assert_eq!(
        e.kind(),
        dockbridge::error_kind::ErrorKind::InvalidParameter,
        "{e}"
    );
    let e = env
        .load(testimg::busybox_archive(&[]).unwrap()[..4096].to_vec())
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        dockbridge::error_kind::ErrorKind::InvalidParameter,
        "{e}"
    );

    assert_eq!(env.tags().await, before);
    assert_eq!(env.store.resolve("busybox").await.unwrap().id, id);
    env.stop().await;
}
