//! Mounts: Docker's default set (`oci.DefaultLinuxSpec`), `-v` binds, `--mount` bind/tmpfs,
//! `--tmpfs`, `--ipc host`'s `/dev/shm` and the `/etc/{resolv.conf,hostname,hosts}` files,
//! combined as moby's `withMounts` does.

use oci_spec::runtime::Mount;
use spec::api::models::{
    ContainerCreateBody, HostConfig, Mount as ApiMount, MountBindOptionsPropagationEnum as Prop,
    MountTmpfsOptions, MountType,
};

use super::validate::SecurityOptions;
use super::{blank, clean_path, invalid, unsupported, LinuxContext};
use crate::Error;

const DEFAULT_PROPAGATION: &str = "rprivate";
const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// What a user mount is, before it becomes an OCI mount.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Bind {
        source: String,
        writable: bool,
        propagation: String,
        non_recursive: bool,
        ro_non_recursive: bool,
        ro_force_recursive: bool,
    },
    Tmpfs {
        data: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct UserMount {
    destination: String,
    kind: Kind,
}

impl UserMount {
    fn bind(destination: &str, source: &str, writable: bool) -> Self {
        Self {
            destination: destination.to_string(),
            kind: Kind::Bind {
                source: source.to_string(),
                writable,
                propagation: DEFAULT_PROPAGATION.to_string(),
                non_recursive: false,
                ro_non_recursive: false,
                ro_force_recursive: false,
            },
        }
    }
}

/// A host path a bind mount needs. dockerd creates a missing `-v` source directory but
/// refuses a missing `--mount type=bind` source unless `CreateMountpoint` is set, with
/// `invalid mount config for type "bind": bind source path does not exist: <path>`. That
/// check is I/O, so the proxy does it with this list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSource {
    pub path: String,
    pub create_if_missing: bool,
}

/// The host paths of the request's bind mounts (see [`BindSource`]).
pub fn bind_sources(create: &ContainerCreateBody) -> Result<Vec<BindSource>, Error> {
    let default_hc = HostConfig::default();
    let hc = create.host_config.as_ref().unwrap_or(&default_hc);
    let mut out = Vec::new();
    for raw in hc.binds.iter().flatten() {
        if let Kind::Bind { source, .. } = parse_bind(raw)?.kind {
            out.push(BindSource {
                path: source,
                create_if_missing: true,
            });
        }
    }
    for m in hc.mounts.iter().flatten() {
        if let Some(UserMount {
            kind: Kind::Bind { source, .. },
            ..
        }) = parse_api_mount(m)?
        {
            let create = m.bind_options.as_ref().and_then(|b| b.create_mountpoint) == Some(true);
            out.push(BindSource {
                path: source,
                create_if_missing: create,
            });
        }
    }
    Ok(out)
}

/// A bind mount of the request, as the container will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub source: String,
    pub destination: String,
    pub writable: bool,
}

/// The request's bind mounts (`-v` and `--mount type=bind`), parents before children: what
/// `docker cp` must mount to see a stopped container's files as dockerd does.
pub fn bind_mounts(create: &ContainerCreateBody) -> Result<Vec<BindMount>, Error> {
    let default_hc = HostConfig::default();
    let hc = create.host_config.as_ref().unwrap_or(&default_hc);
    let mut out: Vec<BindMount> = user_mounts(hc)?
        .into_iter()
        .filter_map(|m| match m.kind {
            Kind::Bind {
                source, writable, ..
            } => Some(BindMount {
                source,
                destination: m.destination,
                writable,
            }),
            Kind::Tmpfs { .. } => None,
        })
        .collect();
    out.sort_by_key(|m| depth(&m.destination));
    Ok(out)
}

fn err_invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

fn mount_config_err(typ: &str, msg: impl std::fmt::Display) -> Error {
    invalid(format!("invalid mount config for type {typ:?}: {msg}"))
}

/// dockerd's `linuxValidMountMode`: comma-separated, at most one of each kind.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let i = match o {
            "ro" | "rw" => 0,
            "z" | "Z" => 1,
            p if PROPAGATIONS.contains(&p) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[i] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

fn validate_target(typ: &str, target: &str) -> Result<(), Error> {
    let t = target.replace('\\', "/");
    if clean_path(&t) == "/" {
        return Err(mount_config_err(
            typ,
            "invalid specification: destination can't be '/'",
        ));
    }
    if !t.starts_with('/') {
        return Err(mount_config_err(
            typ,
            format!("invalid mount path: '{t}' mount path must be absolute"),
        ));
    }
    Ok(())
}

/// One `HostConfig.Binds` entry: `src:dst[:opts]`.
fn parse_bind(raw: &str) -> Result<UserMount, Error> {
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr.first().is_none_or(|a| a.is_empty()) {
        return Err(invalid(err_invalid_spec(raw)));
    }
    let (source, target, mode) = match arr.as_slice() {
        [dst] => {
            return Err(unsupported(format!("-v {dst} (anonymous volume)")));
        }
        [src, dst] => {
            if valid_mode(dst) {
                return Err(invalid(err_invalid_spec(raw)));
            }
            (*src, *dst, "")
        }
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(invalid(err_invalid_spec(raw))),
    };
    if !valid_mode(mode) {
        return Err(invalid(format!("invalid mode: {mode}")));
    }
    if !source.starts_with('/') {
        return Err(unsupported(format!("-v {raw} (named volume {source:?})")));
    }
    let wrap = |e: Error| invalid(format!("{}: {e}", err_invalid_spec(raw)));
    let opts: Vec<&str> = mode.split(',').collect();
    if opts.contains(&"nocopy") {
        return Err(wrap(mount_config_err(
            "bind",
            "field VolumeOptions must not be specified",
        )));
    }
    validate_target("bind", target).map_err(wrap)?;
    let propagation = opts
        .iter()
        .find(|o| PROPAGATIONS.contains(o))
        .copied()
        .unwrap_or(DEFAULT_PROPAGATION);
    // `z`/`Z` relabel the source for SELinux; dockbridge's hosts run without SELinux, where
    // dockerd's relabelling is a no-op too. Consistency modes only mean something on macOS.
    let mut m = UserMount::bind(
        &clean_path(target),
        &clean_path(source),
        !opts.contains(&"ro"),
    );
    if let Kind::Bind { propagation: p, .. } = &mut m.kind {
        *p = propagation.to_string();
    }
    Ok(m)
}

/// dockerd's `ConvertTmpfsOptions`: a `--mount type=tmpfs` as tmpfs mount data.
fn tmpfs_data(opt: Option<&MountTmpfsOptions>, read_only: bool) -> Result<String, Error> {
    let mut raw: Vec<String> = Vec::new();
    if read_only {
        raw.push("ro".into());
    }
    if let Some(mode) = opt.and_then(|o| o.mode).filter(|m| *m != 0) {
        raw.push(format!("mode={mode:o}"));
    }
    if let Some(size) = opt.and_then(|o| o.size_bytes).filter(|s| *s != 0) {
        let (mut n, mut suffix) = (size, "");
        for (s, d) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
            if size % d == 0 {
                n = size / d;
                suffix = s;
                break;
            }
        }
        raw.push(format!("size={n}{suffix}"));
    }
    for o in opt.and_then(|o| o.options.as_ref()).into_iter().flatten() {
        match o.as_slice() {
            [k] if k == "exec" || k == "noexec" => raw.push(k.clone()),
            [k, v] if k == "exec" || k == "noexec" => raw.push(format!("{k}={v}")),
            [k] | [k, _] => return Err(mount_config_err("tmpfs", format!("invalid option: {k}"))),
            _ => return Err(mount_config_err("tmpfs", "invalid option array length")),
        }
    }
    Ok(raw.join(","))
}

fn type_name(t: Option<MountType>) -> String {
    t.map(|t| t.to_string()).unwrap_or_default()
}

/// One `HostConfig.Mounts` entry; `None` for kinds that need nothing here (none yet).
fn parse_api_mount(m: &ApiMount) -> Result<Option<UserMount>, Error> {
    let typ = type_name(m.typ);
    let err = |msg: &str| mount_config_err(&typ, msg);
    // dockerd's validateExclusiveOptions: options of another mount type are refused.
    let is = |t: MountType| m.typ == Some(t);
    if !is(MountType::BIND) && m.bind_options.is_some() {
        return Err(err("field BindOptions must not be specified"));
    }
    if !is(MountType::VOLUME) && m.volume_options.is_some() {
        return Err(err("field VolumeOptions must not be specified"));
    }
    if !is(MountType::IMAGE) && m.image_options.is_some() {
        return Err(err("field ImageOptions must not be specified"));
    }
    if !is(MountType::TMPFS) && m.tmpfs_options.is_some() {
        return Err(err("field TmpfsOptions must not be specified"));
    }
    let target = m.target.as_deref().unwrap_or("");
    if target.is_empty() {
        return Err(err("field Target must not be empty"));
    }
    validate_target(&typ, target)?;
    let source = m.source.as_deref().unwrap_or("");
    let read_only = m.read_only == Some(true);
    match m.typ {
        Some(MountType::BIND) => {
            if source.is_empty() {
                return Err(err("field Source must not be empty"));
            }
            if !source.replace('\\', "/").starts_with('/') {
                return Err(err(&format!(
                    "invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            let b = m.bind_options.clone().unwrap_or_default();
            let (ro_nr, ro_force) = (
                b.read_only_non_recursive == Some(true),
                b.read_only_force_recursive == Some(true),
            );
            if !read_only && ro_nr {
                return Err(invalid(
                    "mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive",
                ));
            }
            if !read_only && ro_force {
                return Err(invalid(
                    "mount options conflict: !ReadOnly && BindOptions.ReadOnlyForceRecursive",
                ));
            }
            if ro_nr && ro_force {
                return Err(invalid("mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive"));
            }
            let propagation = match b.propagation {
                None | Some(Prop::EMPTY) => DEFAULT_PROPAGATION.to_string(),
                Some(p) => p.to_string(),
            };
            Ok(Some(UserMount {
                destination: clean_path(target),
                kind: Kind::Bind {
                    source: clean_path(source),
                    writable: !read_only,
                    propagation,
                    non_recursive: b.non_recursive == Some(true),
                    ro_non_recursive: ro_nr,
                    ro_force_recursive: ro_force,
                },
            }))
        }
        Some(MountType::TMPFS) => {
            if !source.is_empty() {
                return Err(err("field Source must not be specified"));
            }
            Ok(Some(UserMount {
                destination: clean_path(target),
                kind: Kind::Tmpfs {
                    data: tmpfs_data(m.tmpfs_options.as_ref(), read_only)?,
                },
            }))
        }
        Some(MountType::VOLUME) => Err(if source.is_empty() {
            unsupported(format!(
                "--mount type=volume,target={target} (anonymous volume)"
            ))
        } else {
            unsupported(format!(
                "--mount type=volume,source={source},target={target} (named volume)"
            ))
        }),
        Some(MountType::IMAGE) => Err(unsupported("--mount type=image")),
        Some(MountType::NPIPE) => Err(unsupported("--mount type=npipe")),
        Some(MountType::CLUSTER) => Err(unsupported("--mount type=cluster")),
        None => Err(err("mount type unknown")),
    }
}

/// Every user mount of the request, validated, in dockbridge's deterministic order:
/// `--tmpfs` (by destination), `--mount type=tmpfs`, `-v` binds, `--mount type=bind`.
fn user_mounts(hc: &HostConfig) -> Result<Vec<UserMount>, Error> {
    let mut out: Vec<UserMount> = Vec::new();
    let mut tmpfs: Vec<(&String, &String)> = hc.tmpfs.iter().flatten().collect();
    tmpfs.sort();
    for (dest, data) in tmpfs {
        let d = dest.replace('\\', "/");
        if clean_path(&d) == "/" {
            return Err(invalid("invalid specification: destination can't be '/'"));
        }
        if !d.starts_with('/') {
            return Err(invalid(format!(
                "invalid mount path: '{d}' mount path must be absolute"
            )));
        }
        out.push(UserMount {
            destination: clean_path(&d),
            kind: Kind::Tmpfs { data: data.clone() },
        });
    }
    let mut api_binds: Vec<UserMount> = Vec::new();
    for m in hc.mounts.iter().flatten() {
        match parse_api_mount(m)? {
            Some(
                um @ UserMount {
                    kind: Kind::Tmpfs { .. },
                    ..
                },
            ) => out.push(um),
            Some(um) => api_binds.push(um),
            None => {}
        }
    }
    for raw in hc.binds.iter().flatten() {
        out.push(parse_bind(raw)?);
    }
    out.extend(api_binds);
    // dockerd refuses two mounts at one place, including a bind over a --tmpfs (moby#10618).
    for (i, m) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.destination == m.destination) {
            return Err(invalid(format!("Duplicate mount point: {}", m.destination)));
        }
    }
    Ok(out)
}

/// Validates the mount-related fields at create time.
pub fn validate(hc: &HostConfig) -> Result<(), Error> {
    user_mounts(hc).map(|_| ())
}

fn oci_mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> serde_json::Value {
    serde_json::json!({ "destination": destination, "type": typ, "source": source, "options": options })
}

/// Docker's default mounts, in its order.
fn default_mounts() -> Vec<serde_json::Value> {
    vec![
        oci_mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        oci_mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        oci_mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        oci_mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        oci_mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        oci_mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        oci_mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777"],
        ),
    ]
}

/// moby's `mount.MergeTmpfsOptions`: later options win over earlier ones of the same flag
/// (or the same `key=`), one propagation mode at most, unknown data keys refused.
pub fn merge_tmpfs_options(options: &[String]) -> Result<Vec<String>, Error> {
    // Options that set or clear the same mount flag share a key.
    fn flag_key(o: &str) -> Option<&'static str> {
        Some(match o {
            "ro" | "rw" => "rdonly",
            "suid" | "nosuid" => "nosuid",
            "dev" | "nodev" => "nodev",
            "exec" | "noexec" => "noexec",
            "sync" | "async" => "sync",
            "dirsync" => "dirsync",
            "remount" => "remount",
            "mand" | "nomand" => "mand",
            "atime" | "noatime" => "noatime",
            "diratime" | "nodiratime" => "nodiratime",
            "relatime" | "norelatime" => "relatime",
            "strictatime" | "nostrictatime" => "strictatime",
            "bind" | "rbind" | "unbindable" | "runbindable" | "private" | "rprivate" | "shared"
            | "rshared" | "slave" | "rslave" => "propagation",
            _ => return None,
        })
    }
    const DATA_KEYS: [&str; 7] = [
        "size",
        "mode",
        "uid",
        "gid",
        "nr_inodes",
        "nr_blocks",
        "mpol",
    ];
    let mut seen: Vec<String> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for o in options.iter().rev() {
        if o == "defaults" {
            continue;
        }
        let key = match flag_key(o) {
            Some(k) => format!("flag:{k}"),
            None => match o.split_once('=') {
                Some((k, _)) if DATA_KEYS.contains(&k) => format!("data:{k}"),
                Some((k, _)) => return Err(invalid(format!("invalid tmpfs option {k:?}"))),
                None => return Err(invalid(format!("invalid tmpfs option {o:?}"))),
            },
        };
        if !seen.contains(&key) {
            seen.push(key);
            out.push(o.clone());
        }
    }
    out.reverse();
    Ok(out)
}

fn depth(dest: &str) -> usize {
    clean_path(dest).matches('/').count()
}

/// The `mounts` of the spec, plus the `rootfsPropagation` shared/slave binds need.
pub(super) fn spec_mounts(
    hc: &HostConfig,
    ctx: &LinuxContext,
    security: &SecurityOptions,
) -> Result<(Vec<Mount>, Option<String>), Error> {
    let privileged = hc.privileged == Some(true);
    let readonly_rootfs = hc.readonly_rootfs == Some(true);
    let ipc = hc.ipc_mode.as_deref().unwrap_or("");

    let mut users = user_mounts(hc)?;
    if ipc == "host" && !users.iter().any(|m| m.destination == "/dev/shm") {
        users.push(UserMount::bind("/dev/shm", "/dev/shm", true));
    }
    // A shareable IPC namespace keeps its /dev/shm on the host, and a container joining it
    // mounts that one, as dockerd does.
    if let (true, Some(shm)) = (
        ipc == "shareable" || ipc.starts_with("container:"),
        ctx.ipc_shm_path.as_deref(),
    ) {
        if !users.iter().any(|m| m.destination == "/dev/shm") {
            users.push(UserMount::bind("/dev/shm", shm, true));
        }
    }
    // The files the proxy wrote; a user mount at the same place replaces them, as in dockerd.
    for (dest, src) in [
        ("/etc/resolv.conf", &ctx.resolv_conf),
        ("/etc/hostname", &ctx.etc_hostname),
        ("/etc/hosts", &ctx.etc_hosts),
    ] {
        if let Some(src) = src {
            if !users.iter().any(|m| m.destination == dest) {
                users.push(UserMount::bind(dest, src, !readonly_rootfs));
            }
        }
    }
    // Parents before children, so that /etc is not mounted over /etc/resolv.conf. dockerd's
    // sort is unstable; a stable one keeps the spec deterministic.
    users.sort_by_key(|m| depth(&m.destination));

    let user_dests: Vec<&str> = users.iter().map(|m| m.destination.as_str()).collect();
    let user_dev = user_dests.contains(&"/dev");
    let shm_size = match hc.shm_size.unwrap_or(0) {
        0 => super::resources::DEFAULT_SHM_SIZE,
        s => s,
    };
    let mut out: Vec<Mount> = Vec::new();
    for mut m in default_mounts() {
        let dest = m["destination"].as_str().unwrap_or_default().to_string();
        if user_dests.contains(&dest.as_str()) || (user_dev && dest.starts_with("/dev/")) {
            continue;
        }
        let opts = m["options"]
            .as_array_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut opts: Vec<String> = opts
            .into_iter()
            .filter_map(|o| o.as_str().map(str::to_string))
            .collect();
        if dest == "/dev/shm" {
            if ipc == "none" {
                continue;
            }
            opts.push(format!("size={shm_size}"));
        }
        if readonly_rootfs
            && !["/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"].contains(&dest.as_str())
            && !opts.iter().any(|o| o == "ro")
        {
            opts.push("ro".into());
        }
        if privileged && dest == "/sys" {
            opts.retain(|o| o != "ro");
        }
        // Writable cgroups default to --privileged, as in dockerd.
        if security.writable_cgroups.unwrap_or(privileged) && m["type"] == "cgroup" {
            opts.retain(|o| o != "ro");
        }
        m["options"] = serde_json::json!(opts);
        out.push(blank(m)?);
    }

    let mut rootfs_propagation: Option<String> = None;
    for um in &users {
        let value = match &um.kind {
            Kind::Tmpfs { data } => {
                let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                if !data.is_empty() {
                    opts.extend(data.split(',').map(str::to_string));
                }
                let merged = merge_tmpfs_options(&opts)?;
                serde_json::json!({ "destination": um.destination, "type": "tmpfs", "source": "tmpfs", "options": merged })
            }
            Kind::Bind {
                source,
                writable,
                propagation,
                non_recursive,
                ro_non_recursive,
                ro_force_recursive,
            } => {
                let mut opts = vec![if *non_recursive { "bind" } else { "rbind" }.to_string()];
                if !writable {
                    let mut rro = !ro_non_recursive;
                    if !ctx.supports_recursive_readonly {
                        if *ro_force_recursive {
                            return Err(Error::Unsupported(format!(
                                "--mount …,readonly,bind-recursive=readonly for {} is not supported on this host: the kernel or runtime cannot make bind mounts recursively read-only",
                                um.destination
                            )));
                        }
                        rro = false;
                    }
                    opts.push(if rro { "rro" } else { "ro" }.to_string());
                }
                opts.push(propagation.clone());
                // Propagation out of (or into) the container needs a rootfs that propagates
                // too, as dockerd sets it; shared wins over slave.
                match propagation.as_str() {
                    "shared" | "rshared" => rootfs_propagation = Some("shared".into()),
                    "slave" | "rslave" if rootfs_propagation.is_none() => {
                        rootfs_propagation = Some("rslave".into())
                    }
                    _ => {}
                }
                serde_json::json!({ "destination": um.destination, "type": "bind", "source": source, "options": opts })
            }
        };
        out.push(blank(value)?);
    }
    Ok((out, rootfs_propagation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn bind_mounts_list_parents_first_without_tmpfs() {
        let body: ContainerCreateBody = serde_json::from_value(serde_json::json!({
            "HostConfig": {
                "Binds": ["/h/inner:/data/inner:ro", "/h/data:/data"],
                "Tmpfs": {"/run": ""}
            }
        }))
        .unwrap();
        let got = bind_mounts(&body).unwrap();
        assert_eq!(
            got,
            [
                BindMount {
                    source: "/h/data".into(),
                    destination: "/data".into(),
                    writable: true
                },
                BindMount {
                    source: "/h/inner".into(),
                    destination: "/data/inner".into(),
                    writable: false
                },
            ]
        );
    }

    #[test]
    fn binds_parse_like_moby() {
        let m = parse_bind("/src/:/dst:ro,rslave").unwrap();
        assert_eq!(m.destination, "/dst");
        assert_eq!(
            m.kind,
            Kind::Bind {
                source: "/src".into(),
                writable: false,
                propagation: "rslave".into(),
                non_recursive: false,
                ro_non_recursive: false,
                ro_force_recursive: false
            }
        );
        assert_eq!(
            parse_bind("/a:rw").unwrap_err().to_string(),
            "invalid volume specification: '/a:rw'"
        );
        assert_eq!(
            parse_bind("/a:/b:bogus").unwrap_err().to_string(),
            "invalid mode: bogus"
        );
        assert_eq!(
            parse_bind("/a:/b:ro,rw").unwrap_err().to_string(),
            "invalid mode: ro,rw"
        );
        assert_eq!(
            parse_bind("/a:/").unwrap_err().to_string(),
            "invalid volume specification: '/a:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
        );
        assert!(parse_bind("/a:/b:nocopy")
            .unwrap_err()
            .to_string()
            .contains("field VolumeOptions must not be specified"));
        let e = parse_bind("data:/data").unwrap_err();
        assert!(
            matches!(e, Error::Unsupported(_)) && e.to_string().contains("named volume \"data\""),
            "{e}"
        );
        assert!(matches!(
            parse_bind("/data").unwrap_err(),
            Error::Unsupported(_)
        ));
        assert!(parse_bind("/a:/b:c:d").is_err());
    }

    #[test]
    fn tmpfs_merge() {
        let m = merge_tmpfs_options(&s(&[
            "noexec", "nosuid", "nodev", "rprivate", "rw", "exec", "size=64m", "size=1g",
        ]))
        .unwrap();
        assert_eq!(
            m,
            s(&["nosuid", "nodev", "rprivate", "rw", "exec", "size=1g"])
        );
        assert!(merge_tmpfs_options(&s(&["bogus"])).is_err());
        let data = tmpfs_data(
            Some(&MountTmpfsOptions {
                size_bytes: Some(64 << 20),
                mode: Some(0o1777),
                options: Some(vec![s(&["exec"])]),
            }),
            true,
        )
        .unwrap();
        assert_eq!(data, "ro,mode=1777,size=64m,exec");
    }

    #[test]
    fn duplicates_are_refused() {
        let hc = HostConfig {
            binds: Some(s(&["/a:/x", "/b:/x"])),
            ..Default::default()
        };
        assert_eq!(
            validate(&hc).unwrap_err().to_string(),
            "Duplicate mount point: /x"
        );
        let hc = HostConfig {
            binds: Some(s(&["/a:/x"])),
            tmpfs: Some([("/x".to_string(), String::new())].into()),
            ..Default::default()
        };
        assert!(validate(&hc).is_err());
    }
}
