//! Is a containerd reached over TCP on this host, i.e. does it see this host's files?
//!
//! Running a container hands containerd paths on dockbridge's host: the stdio FIFOs the
//! shim opens, bind-mount and volume sources, `/etc/hosts` and `resolv.conf`, the network
//! namespace, the rootfs dockbridge mounts to read `/etc/passwd`. A containerd on another
//! host would resolve each on its own filesystem (FIFOs cannot cross hosts at all).
//! Images only travel through containerd's services (content, images, snapshots, diff)
//! and work from anywhere.
//!
//! The test: containerd's introspection service answers its UUID, which it keeps in a
//! file under its root (`<root>/io.containerd.service.v1.introspection-service/uuid` in
//! containerd 1.6/1.7, `…grpc.v1.introspection` in 2.x); its root is the parent of a
//! snapshotter's exported `root`. Reading the same UUID from that file here proves the
//! same filesystem; anything else is another host (or a containerd in another mount
//! namespace, which is the same thing for paths).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use containerd_client::services::v1::PluginsRequest;

use super::Containerd;

/// Where each containerd version keeps the introspection UUID, relative to its root.
const UUID_FILES: [&str; 2] = [
    "io.containerd.service.v1.introspection-service/uuid",
    "io.containerd.grpc.v1.introspection/uuid",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locality {
    /// containerd sees this host's filesystem: everything works.
    SameHost,
    /// It does not (the reason says what was found): containers cannot run.
    OtherHost(String),
}

/// Asks containerd for its UUID and snapshotter roots, then looks for the UUID here.
/// A containerd that does not answer is an error: the caller has nothing to work with.
pub async fn probe(cd: &Containerd) -> Result<Locality, tonic::Status> {
    let uuid = cd.introspection().server(()).await?.into_inner().uuid;
    let plugins = cd
        .introspection()
        .plugins(PluginsRequest { filters: vec![] })
        .await?
        .into_inner()
        .plugins;
    let roots: Vec<PathBuf> = plugins
        .iter()
        .filter(|p| p.r#type == "io.containerd.snapshotter.v1")
        .filter_map(|p| exported_root(&p.exports))
        .collect();
    Ok(decide(&uuid, &roots, |p| std::fs::read_to_string(p).ok()))
}

fn exported_root(exports: &HashMap<String, String>) -> Option<PathBuf> {
    Path::new(exports.get("root")?)
        .parent()
        .map(Path::to_path_buf)
}

/// The pure decision: `read` reads a file on this host.
pub fn decide(
    uuid: &str,
    containerd_roots: &[PathBuf],
    read: impl Fn(&Path) -> Option<String>,
) -> Locality {
    if uuid.is_empty() {
        return Locality::OtherHost("containerd did not report its UUID".into());
    }
    let mut looked = Vec::new();
    for root in containerd_roots {
        for rel in UUID_FILES {
            let p = root.join(rel);
            if read(&p).is_some_and(|found| found.trim() == uuid) {
                return Locality::SameHost;
            }
            looked.push(p.display().to_string());
        }
    }
    if looked.is_empty() {
        return Locality::OtherHost(
            "containerd exported no snapshotter root to find its files by".into(),
        );
    }
    Locality::OtherHost(format!(
        "its UUID {uuid} is not in {} on this host",
        looked.join(" or ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0e5b7c3a-9c1e-4a59-8d0a-6f1f3b1d2c4e";

    fn roots() -> Vec<PathBuf> {
        vec![PathBuf::from("/var/lib/containerd")]
    }

    #[test]
    fn same_uuid_in_either_layout_is_this_host() {
        for rel in UUID_FILES {
            let want = Path::new("/var/lib/containerd").join(rel);
            let read = |p: &Path| (p == want).then(|| format!("{UUID}\n"));
            assert_eq!(decide(UUID, &roots(), read), Locality::SameHost, "{rel}");
        }
    }

    #[test]
    fn another_uuid_or_no_file_is_another_host() {
        let other = decide(UUID, &roots(), |_| {
            Some("11111111-2222-3333-4444-555555555555".into())
        });
        let Locality::OtherHost(why) = other else {
            panic!("{other:?}")
        };
        assert!(
            why.contains(UUID) && why.contains("/var/lib/containerd"),
            "{why}"
        );
        assert!(matches!(
            decide(UUID, &roots(), |_| None),
            Locality::OtherHost(_)
        ));
        assert!(matches!(
            decide(UUID, &[], |_| Some(UUID.into())),
            Locality::OtherHost(_)
        ));
        assert!(matches!(
            decide("", &roots(), |_| Some(String::new())),
            Locality::OtherHost(_)
        ));
    }

    #[test]
    fn containerd_root_is_the_snapshotter_roots_parent() {
        let exports = HashMap::from([(
            "root".to_string(),
            "/srv/ctd/io.containerd.snapshotter.v1.overlayfs".to_string(),
        )]);
        assert_eq!(exported_root(&exports), Some(PathBuf::from("/srv/ctd")));
        assert_eq!(exported_root(&HashMap::new()), None);
    }
}
