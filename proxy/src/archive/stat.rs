//! Resolving a container path the way dockerd does, and the `X-Docker-Container-Path-Stat`
//! value (`{"name","size","mode","mtime","linkTarget"}`, base64 JSON) describing it.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ArchiveError, Result};

/// `container.PathStat` of the Engine API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// A Go `os.FileMode`: permission bits plus Go's type bits (not Unix `st_mode`).
    pub mode: u32,
    /// RFC 3339 with nanoseconds, trailing zeros trimmed, as Go marshals a `time.Time`.
    pub mtime: String,
    /// For a symlink, its target fully resolved inside the container; otherwise empty.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    /// The header value: standard base64 of the JSON, as the CLI decodes it.
    pub fn header_value(&self) -> String {
        use base64::Engine;
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }
}

// Go's os.FileMode type bits.
const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_NAMED_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHAR_DEVICE: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;

/// Unix `st_mode` to Go's `os.FileMode`, the way Go's `os.Lstat` converts it.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match st_mode & 0o170000 {
        0o040000 => GO_DIR,
        0o120000 => GO_SYMLINK,
        0o060000 => GO_DEVICE,
        0o020000 => GO_DEVICE | GO_CHAR_DEVICE,
        0o010000 => GO_NAMED_PIPE,
        0o140000 => GO_SOCKET,
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        m |= GO_SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= GO_SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= GO_STICKY;
    }
    m
}

/// Go's `time.Time` JSON form in UTC: `2000-01-01T00:00:00Z`, `…00.5Z`.
pub fn go_time(secs: i64, nanos: u32) -> String {
    let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) else {
        return "0001-01-01T00:00:00Z".into();
    };
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Resolves `path` inside `root` the way the container sees it: symlinks (absolute ones
/// re-rooted) are followed, and neither they nor `..` can lead outside `root`.
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf> {
    let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut cur = PathBuf::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let next = cur.join(&part);
        let full = root.join(&next);
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(ArchiveError::Invalid(format!(
                        "too many levels of symbolic links in {path}"
                    )));
                }
                let target = std::fs::read_link(&full)
                    .map_err(|e| ArchiveError::io(format!("reading link {}", full.display()), e))?;
                if target.is_absolute() {
                    cur = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => todo.push(s.to_string_lossy().into_owned()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => cur = next,
        }
    }
    Ok(root.join(cur))
}

/// A container path resolved for `docker cp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Where it is under the root the caller gave.
    pub host: PathBuf,
    /// Go's `filepath.Base` of the absolute path: what the archive's top entry is named.
    pub name: String,
}

/// dockerd's `ResolvePath`: the directory part is resolved in the container, the last
/// element is not followed (so `/bin/sh` is the link, not busybox) — unless the path ends
/// in `/` or `/.`, which asks for the directory itself.
pub fn resolve(root: &Path, path: &str) -> Result<Resolved> {
    let abs = format!("/{}", path.trim_start_matches('/'));
    let trailing = abs.ends_with('/') || abs.ends_with("/.");
    let name = {
        let t = abs.trim_end_matches('/');
        match t.rsplit('/').next() {
            Some("") | None => "/".to_string(),
            Some(n) => n.to_string(),
        }
    };
    if trailing || name == "/" {
        let host = resolve_in_root(root, &abs)?;
        return Ok(Resolved { host, name });
    }
    let (dir, base) = abs.rsplit_once('/').unwrap_or(("", abs.as_str()));
    let dir = resolve_in_root(root, dir)?;
    let host = if base == ".." {
        // `a/..` names the parent; resolve it whole so it cannot climb out of `root`.
        resolve_in_root(root, &abs)?
    } else {
        dir.join(base)
    };
    Ok(Resolved { host, name })
}

/// The `PathStat` of `path` (not following a final symlink), and where it is.
#[cfg(unix)]
pub fn stat_path(root: &Path, path: &str) -> Result<(PathStat, Resolved)> {
    use std::os::unix::fs::MetadataExt;
    let r = resolve(root, path)?;
    let not_found = |_| ArchiveError::NotFound(format!("no such file or directory: {path}"));
    let md = std::fs::symlink_metadata(&r.host).map_err(not_found)?;
    if (path.ends_with('/') || path.ends_with("/.")) && !md.is_dir() {
        return Err(ArchiveError::NotADirectory(format!(
            "{path}: not a directory"
        )));
    }
    let link_target = if md.file_type().is_symlink() {
        let full = resolve_in_root(root, path)?;
        let rel = full.strip_prefix(root).unwrap_or(&full);
        format!("/{}", rel.display())
    } else {
        String::new()
    };
    let stat = PathStat {
        name: r.name.clone(),
        size: md.size() as i64,
        mode: go_mode(md.mode()),
        mtime: go_time(md.mtime(), u32::try_from(md.mtime_nsec()).unwrap_or(0)),
        link_target,
    };
    Ok((stat, r))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("bin")).unwrap();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("bin/busybox"), b"elf").unwrap();
        std::fs::write(r.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
        symlink("/bin/busybox", r.join("bin/sh")).unwrap();
        symlink("busybox", r.join("bin/rel")).unwrap();
        symlink("/", r.join("escape")).unwrap();
        symlink("../../../..", r.join("etc/up")).unwrap();
        d
    }

    #[test]
    fn go_modes_match_os_lstat() {
        assert_eq!(go_mode(0o100644), 0o644);
        assert_eq!(go_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_mode(0o041777), (1 << 31) | (1 << 20) | 0o777);
        assert_eq!(go_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_mode(0o020666), (1 << 26) | (1 << 21) | 0o666);
        assert_eq!(go_mode(0o010644), (1 << 25) | 0o644);
    }

    #[test]
    fn times_are_go_rfc3339nano() {
        assert_eq!(go_time(946_684_800, 0), "2000-01-01T00:00:00Z");
        assert_eq!(go_time(946_684_800, 500_000_000), "2000-01-01T00:00:00.5Z");
        assert_eq!(go_time(946_684_800, 123), "2000-01-01T00:00:00.000000123Z");
    }

    #[test]
    fn final_symlink_is_not_followed_but_reported() {
        let d = tree();
        let (st, r) = stat_path(d.path(), "/bin/sh").unwrap();
        assert_eq!(st.name, "sh");
        assert_eq!(st.link_target, "/bin/busybox");
        assert_ne!(st.mode & (1 << 27), 0);
        assert_eq!(r.host, d.path().join("bin/sh"));
        let (st, _) = stat_path(d.path(), "bin/rel").unwrap();
        assert_eq!(st.link_target, "/bin/busybox");
    }

    #[test]
    fn symlinks_and_dotdot_stay_inside_the_root() {
        let d = tree();
        assert_eq!(
            resolve_in_root(d.path(), "/escape/etc/passwd").unwrap(),
            d.path().join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(d.path(), "/etc/up/etc").unwrap(),
            d.path().join("etc")
        );
        assert_eq!(
            resolve_in_root(d.path(), "/../../etc").unwrap(),
            d.path().join("etc")
        );
        let (st, _) = stat_path(d.path(), "/escape").unwrap();
        assert_eq!(st.link_target, "/");
    }

    #[test]
    fn names_follow_go_filepath_base() {
        let d = tree();
        assert_eq!(resolve(d.path(), "/etc/").unwrap().name, "etc");
        assert_eq!(resolve(d.path(), "/etc/.").unwrap().name, ".");
        assert_eq!(resolve(d.path(), "/").unwrap().name, "/");
        assert_eq!(resolve(d.path(), "etc/passwd").unwrap().name, "passwd");
    }

    #[test]
    fn missing_and_not_a_directory_are_classified() {
        let d = tree();
        assert!(matches!(
            stat_path(d.path(), "/nope"),
            Err(ArchiveError::NotFound(_))
        ));
        assert!(matches!(
            stat_path(d.path(), "/etc/passwd/"),
            Err(ArchiveError::NotADirectory(_))
        ));
    }

    #[test]
    fn header_is_base64_json() {
        let st = PathStat {
            name: "a".into(),
            size: 1,
            mode: 0o644,
            mtime: go_time(0, 0),
            link_target: String::new(),
        };
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(st.header_value())
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["linkTarget"], "");
        assert_eq!(v["mode"], 0o644);
    }
}
