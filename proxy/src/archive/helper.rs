//! The archive helper: a short-lived child (`dockbridge archive-helper <request>`) that does
//! one archive operation chrooted into a container's filesystem.
//!
//! Why a child process: `chroot` and mount namespaces are per process, and the daemon is a
//! multi-threaded tokio process whose root must never change. Inside the chroot an absolute
//! symlink planted by the container resolves inside the container, so neither a read
//! (`docker cp` out) nor an extraction (`docker cp` in) can touch the host. A stopped
//! container's snapshot is mounted in the child's private mount namespace, so the mount
//! disappears with the child whatever happens — no mount can leak.
//!
//! Protocol: the request is one JSON argument. `stat` and `get` print the path's
//! [`PathStat`] as one JSON line on stdout (`get` then streams the tar); `put` reads a tar
//! on stdin. A failure is one JSON [`ArchiveError`] line on stderr and exit status 1.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[cfg(unix)]
use super::stat::PathStat;
use super::ArchiveError;

/// A mount as containerd describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub kind: String,
    pub source: String,
    pub options: Vec<String>,
}

impl MountSpec {
    /// The same filesystem with a throwaway upper dir under `scratch`: the container's
    /// upper dir becomes the topmost lower one. Such a mount never touches the container's
    /// own upper and work dirs, so it can sit beside the container's mount (an export of a
    /// running container, a read racing a start), and mount points for binds can still be
    /// made in it; whatever is written there vanishes with the helper.
    pub fn with_throwaway_upper(&self, scratch: &std::path::Path) -> Self {
        let mut lowers = Vec::new();
        let mut rest = Vec::new();
        if self.kind == "overlay" {
            let mut upper = None;
            let mut lower = None;
            for o in &self.options {
                if let Some(u) = o.strip_prefix("upperdir=") {
                    upper = Some(u.to_string());
                } else if let Some(l) = o.strip_prefix("lowerdir=") {
                    lower = Some(l.to_string());
                } else if !o.starts_with("workdir=") && o != "rw" && o != "ro" {
                    rest.push(o.clone());
                }
            }
            lowers.extend(upper);
            lowers.extend(lower);
        } else {
            // A snapshot without parents is a bind of its one directory.
            lowers.push(self.source.clone());
        }
        let mut options = vec![
            format!("lowerdir={}", lowers.join(":")),
            format!("upperdir={}", scratch.join("upper").display()),
            format!("workdir={}", scratch.join("work").display()),
        ];
        options.extend(rest);
        Self {
            kind: "overlay".into(),
            source: "overlay".into(),
            options,
        }
    }
}

/// A bind mount of the container, mounted over its snapshot so that `docker cp` on a
/// stopped container reads and writes its volumes, as dockerd does, not the rootfs
/// directory they hide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindSpec {
    pub source: String,
    pub destination: String,
    pub writable: bool,
}

/// Which filesystem the helper enters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Root {
    /// A running container: its root as its init process sees it (with its volumes and the
    /// `/etc/hosts` dockbridge mounted), through `/proc/<pid>/root`.
    Live { pid: u32 },
    /// A container without a process: its snapshot, mounted at `at` in the helper's own
    /// mount namespace, with its bind mounts (parents first) over it. `throwaway_upper`
    /// mounts it with a tmpfs upper dir instead of the container's own (reads, exports).
    Snapshot {
        mount: MountSpec,
        at: PathBuf,
        #[serde(default)]
        binds: Vec<BindSpec>,
        #[serde(default)]
        throwaway_upper: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Stat {
        path: String,
    },
    Get {
        path: String,
    },
    Put {
        path: String,
        no_overwrite_dir_non_dir: bool,
        /// `copyUIDGID`: the container's `User`, resolved in its `/etc/passwd`.
        chown_user: Option<String>,
    },
    Export,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub root: Root,
    pub op: Op,
}

/// Reads the helper's error line from its stderr; anything else is reported as it is.
pub fn parse_error(stderr: &[u8]) -> ArchiveError {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| ArchiveError::Io(format!("archive helper failed: {}", text.trim())))
}

/// The helper's `main`: never returns to the caller's normal flow.
pub fn main(request: &str) -> std::process::ExitCode {
    let result = serde_json::from_str::<Request>(request)
        .map_err(|e| ArchiveError::Io(format!("bad helper request: {e}")))
        .and_then(run);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", serde_json::to_string(&e).unwrap_or_default());
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(unix))]
fn run(_: Request) -> Result<(), ArchiveError> {
    Err(ArchiveError::Io(
        "container archives need a unix host".into(),
    ))
}

#[cfg(unix)]
fn run(req: Request) -> Result<(), ArchiveError> {
    use std::io::Write;
    use std::path::Path;

    enter(&req.root)?;
    let root = Path::new("/");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |e: std::io::Error| ArchiveError::io("writing the archive", e);
    let print_stat = |out: &mut dyn Write, st: &PathStat| -> Result<(), ArchiveError> {
        let line = serde_json::to_string(st).map_err(|e| ArchiveError::Io(e.to_string()))?;
        writeln!(out, "{line}").map_err(io)
    };
    match req.op {
        Op::Stat { path } => {
            let (st, _) = super::stat::stat_path(root, &path)?;
            print_stat(&mut out, &st)?;
        }
        Op::Get { path } => {
            let (st, r) = super::stat::stat_path(root, &path)?;
            print_stat(&mut out, &st)?;
            // `docker cp c:/ …` archives the root under `.`, like `c:/.`.
            let name = if r.name == "/" { "." } else { r.name.as_str() };
            let mut b = tar::Builder::new(&mut out);
            super::tarball::write_tree(&mut b, &r.host, name)?;
            b.finish().map_err(io)?;
        }
        Op::Export => {
            let mut b = tar::Builder::new(&mut out);
            super::tarball::write_tree(&mut b, root, "")?;
            b.finish().map_err(io)?;
        }
        Op::Put {
            path,
            no_overwrite_dir_non_dir,
            chown_user,
        } => {
            let dest = super::stat::resolve_in_root(root, &path)?;
            let md = std::fs::metadata(&dest)
                .map_err(|_| ArchiveError::NotFound(format!("no such directory: {path}")))?;
            if !md.is_dir() {
                return Err(ArchiveError::NotADirectory(
                    "extraction point is not a directory".into(),
                ));
            }
            let chown = chown_user.map(|u| container_ids(&u)).transpose()?;
            let opts = super::extract::ExtractOptions {
                no_overwrite_dir_non_dir,
                chown,
            };
            let mut stdin = std::io::stdin().lock();
            super::extract::extract(&mut stdin, &dest, &path, &opts)?;
            // Writers pad past the end-of-archive marker (Go's and GNU tar to a record
            // size); read it all, or the daemon feeding us sees a broken pipe.
            std::io::copy(&mut stdin, &mut std::io::sink())
                .map_err(|e| ArchiveError::io("reading the rest of the archive", e))?;
        }
    }
    out.flush().map_err(io)
}

/// uid:gid of a `User` spec inside the (already entered) container.
#[cfg(unix)]
fn container_ids(user: &str) -> Result<(u32, u32), ArchiveError> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let group = std::fs::read_to_string("/etc/group").ok();
    let u = translate::linux::user::get_exec_user(user, passwd.as_deref(), group.as_deref())
        .map_err(|e| ArchiveError::Invalid(format!("resolving user {user:?}: {e}")))?;
    Ok((u.uid, u.gid))
}

/// Mounts one of the container's binds over the mounted snapshot at `root`. The mount
/// point is resolved inside the root (a symlink in the image cannot redirect it to the
/// host) and created when missing, as runc would at start; a read-only view that cannot
/// create it leaves the bind out (the path then does not exist yet, as in the rootfs).
#[cfg(unix)]
fn bind_over(root: &std::path::Path, b: &BindSpec) -> Result<(), ArchiveError> {
    use nix::mount::{mount, MsFlags};
    let target = super::stat::resolve_in_root(root, &b.destination)?;
    let source_is_dir = std::fs::metadata(&b.source)
        .map(|m| m.is_dir())
        .map_err(|e| ArchiveError::io(format!("bind source {}", b.source), e))?;
    if std::fs::symlink_metadata(&target).is_err() {
        let made = if source_is_dir {
            std::fs::create_dir_all(&target)
        } else {
            target
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::File::create(&target).map(drop))
        };
        if made.is_err() {
            return Ok(());
        }
    }
    let sys = |what: &str, e: nix::Error| {
        ArchiveError::Io(format!("{what} {} on {}: {e}", b.source, b.destination))
    };
    mount(
        Some(b.source.as_str()),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys("bind-mounting", e))?;
    if !b.writable {
        mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| sys("making read-only", e))?;
    }
    Ok(())
}

/// chroot into the container's filesystem (mounting its snapshot privately first).
#[cfg(unix)]
fn enter(root: &Root) -> Result<(), ArchiveError> {
    use nix::mount::{mount, MsFlags};
    let sys = |what: &str, e: nix::Error| ArchiveError::Io(format!("{what}: {e}"));
    let dir = match root {
        Root::Live { pid } => PathBuf::from(format!("/proc/{pid}/root")),
        Root::Snapshot {
            mount: m,
            at,
            binds,
            throwaway_upper,
        } => {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(|e| sys("unshare(CLONE_NEWNS)", e))?;
            // Keep our mounts from propagating back to the host's namespace.
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| sys("making / private", e))?;
            let (m, root) = if *throwaway_upper {
                mount(
                    Some("tmpfs"),
                    at,
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some("mode=0700"),
                )
                .map_err(|e| sys("mounting the scratch tmpfs", e))?;
                for d in ["upper", "work", "root"] {
                    std::fs::create_dir(at.join(d))
                        .map_err(|e| ArchiveError::io(format!("creating scratch {d}"), e))?;
                }
                (m.with_throwaway_upper(at), at.join("root"))
            } else {
                (m.clone(), at.clone())
            };
            crate::containers::rootfs::mount_at(&m.kind, &m.source, &m.options, &root)
                .map_err(|e| sys(&format!("mounting the snapshot at {}", root.display()), e))?;
            for b in binds {
                bind_over(&root, b)?;
            }
            root
        }
    };
    nix::unistd::chroot(&dir).map_err(|e| sys(&format!("chroot {}", dir.display()), e))?;
    nix::unistd::chdir("/").map_err(|e| sys("chdir /", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throwaway_upper_stacks_the_upper_dir_on_the_lowers() {
        let m = MountSpec {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                "index=off".into(),
                "workdir=/s/2/work".into(),
                "upperdir=/s/2/fs".into(),
                "lowerdir=/s/1/fs:/s/0/fs".into(),
            ],
        };
        let scratch = std::path::Path::new("/x");
        assert_eq!(
            m.with_throwaway_upper(scratch).options,
            [
                "lowerdir=/s/2/fs:/s/1/fs:/s/0/fs",
                "upperdir=/x/upper",
                "workdir=/x/work",
                "index=off"
            ]
        );
        let bind = MountSpec {
            kind: "bind".into(),
            source: "/s/1/fs".into(),
            options: vec!["rbind".into(), "rw".into()],
        };
        let b = bind.with_throwaway_upper(scratch);
        assert_eq!(b.kind, "overlay");
        assert_eq!(b.options[0], "lowerdir=/s/1/fs");
    }

    #[test]
    fn errors_cross_the_process_boundary() {
        let e = ArchiveError::NotFound("no such file".into());
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(parse_error(format!("noise\n{line}\n").as_bytes()), e);
        assert!(matches!(parse_error(b"panicked"), ArchiveError::Io(m) if m.contains("panicked")));
    }
}
