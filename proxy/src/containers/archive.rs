//! `docker cp`, `docker export` and `docker diff` for the manager: picks the filesystem
//! (the live root of a running container, else its snapshot), runs the archive helper
//! child in it (see [`crate::archive::helper`]) and turns the helper's answers into
//! container errors with dockerd's messages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use super::{ContainerError, Manager, Record, Result};
use crate::archive::helper::{BindSpec, MountSpec, Op, Request, Root};
use crate::archive::stat::PathStat;
use crate::archive::ArchiveError;

/// A tar streamed out of the helper; ends with an error (aborting the HTTP body, so the
/// client sees a broken transfer rather than a short archive) if the helper fails midway.
pub type TarStream = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// What `PUT /containers/{id}/archive` asks for besides the path.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub no_overwrite_dir_non_dir: bool,
    pub copy_uid_gid: bool,
}

/// A spawned helper and the scratch mount point it may use.
struct Helper {
    child: tokio::process::Child,
    mount_point: Option<PathBuf>,
}

impl Drop for Helper {
    fn drop(&mut self) {
        // The mount lived in the helper's namespace; only the empty directory is ours.
        if let Some(p) = &self.mount_point {
            let _ = std::fs::remove_dir(p);
        }
    }
}

impl Helper {
    /// The helper's error after it stopped without the output it owed.
    async fn failure(&mut self) -> ArchiveError {
        match self.finish().await {
            Err(e) => e,
            Ok(()) => ArchiveError::Io("the archive helper exited without an answer".into()),
        }
    }

    /// Its stdout, buffered (taken once).
    fn stdout(&mut self) -> Result<tokio::io::BufReader<tokio::process::ChildStdout>> {
        let out = self
            .child
            .stdout
            .take()
            .ok_or_else(|| ContainerError::Internal("archive helper without stdout".into()))?;
        Ok(tokio::io::BufReader::new(out))
    }

    /// Waits for the helper; `Ok` if it succeeded.
    async fn finish(&mut self) -> std::result::Result<(), ArchiveError> {
        let mut err = Vec::new();
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_end(&mut err).await;
        }
        match self.child.wait().await {
            Ok(st) if st.success() => Ok(()),
            Ok(_) => Err(crate::archive::helper::parse_error(&err)),
            Err(e) => Err(ArchiveError::Io(format!(
                "waiting for the archive helper: {e}"
            ))),
        }
    }
}

impl Manager {
    fn spawn_helper(&self, req: &Request, stdin: bool) -> Result<Helper> {
        let mount_point = match &req.root {
            Root::Snapshot { at, .. } => {
                std::fs::create_dir_all(at)
                    .map_err(|e| ContainerError::io(format!("creating {}", at.display()), e))?;
                Some(at.clone())
            }
            Root::Live { .. } => None,
        };
        let arg = serde_json::to_string(req)
            .map_err(|e| ContainerError::Internal(format!("encoding helper request: {e}")))?;
        let child = tokio::process::Command::new(&self.helper_exe)
            .arg("archive-helper")
            .arg(arg)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                ContainerError::io(
                    format!("starting the archive helper {}", self.helper_exe.display()),
                    e,
                )
            })?;
        Ok(Helper { child, mount_point })
    }

    /// The filesystem an archive operation works in. `writable` snapshots are mounted as
    /// they are (the caller holds the container's op lock so it cannot start meanwhile);
    /// others get a throwaway upper dir, so they can coexist with the container's own mount.
    async fn archive_root(&self, rec: &Record, writable: bool) -> Result<Root> {
        self.host_fs_backend(rec)?;
        if rec.state.status.is_live() && rec.state.pid > 0 {
            return Ok(Root::Live { pid: rec.state.pid });
        }
        let m = self.snapshot_mount(rec).await?;
        let at = self
            .mount_root
            .join(format!("{}.archive.{:08x}", rec.id, rand::random::<u32>()));
        let binds = translate::linux::bind_mounts(&self.runtime_body(rec))?
            .into_iter()
            .map(|b| BindSpec {
                source: b.source,
                destination: b.destination,
                writable: b.writable,
            })
            .collect();
        Ok(Root::Snapshot {
            mount: m,
            at,
            binds,
            throwaway_upper: !writable,
        })
    }

    pub(super) async fn snapshot_mount(&self, rec: &Record) -> Result<MountSpec> {
        let mounts = self.images.rootfs_mounts(&rec.rootfs_key).await?;
        let [m] = mounts.as_slice() else {
            return Err(ContainerError::Internal(format!(
                "expected one rootfs mount, got {}",
                mounts.len()
            )));
        };
        Ok(MountSpec {
            kind: m.r#type.clone(),
            source: m.source.clone(),
            options: m.options.clone(),
        })
    }

    /// Maps a helper error to dockerd's messages for `key` and `path`.
    fn archive_error(e: ArchiveError, key: &str, path: &str) -> ContainerError {
        match e {
            ArchiveError::NotFound(_) => ContainerError::NotFound(format!(
                "Could not find the file {path} in container {key}"
            )),
            ArchiveError::NotADirectory(m) | ArchiveError::Invalid(m) => {
                ContainerError::InvalidParameter(m)
            }
            ArchiveError::ReadOnly(m) => ContainerError::Forbidden(m),
            ArchiveError::Io(m) => ContainerError::Internal(m),
        }
    }

    /// Reads the stat line a helper prints first.
    async fn read_stat(
        helper: &mut Helper,
        key: &str,
        path: &str,
    ) -> Result<(PathStat, tokio::io::BufReader<tokio::process::ChildStdout>)> {
        let mut reader = helper.stdout()?;
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .await
            .map_err(|e| ContainerError::io("reading the archive helper", e))?;
        if n == 0 {
            return Err(Self::archive_error(helper.failure().await, key, path));
        }
        let st = serde_json::from_str(&line)
            .map_err(|e| ContainerError::Internal(format!("archive helper said {line:?}: {e}")))?;
        Ok((st, reader))
    }

    /// `HEAD /containers/{id}/archive`.
    pub async fn archive_stat(&self, key: &str, path: &str) -> Result<PathStat> {
        let c = self.get(key)?;
        let root = self.archive_root(&c.record(), false).await?;
        let req = Request {
            root,
            op: Op::Stat { path: path.into() },
        };
        let mut helper = self.spawn_helper(&req, false)?;
        let (st, _) = Self::read_stat(&mut helper, key, path).await?;
        helper
            .finish()
            .await
            .map_err(|e| Self::archive_error(e, key, path))?;
        Ok(st)
    }

    /// `GET /containers/{id}/archive`: the stat for the header, then the tar.
    pub async fn archive_get(&self, key: &str, path: &str) -> Result<(PathStat, TarStream)> {
        let c = self.get(key)?;
        let root = self.archive_root(&c.record(), false).await?;
        let req = Request {
            root,
            op: Op::Get { path: path.into() },
        };
        let mut helper = self.spawn_helper(&req, false)?;
        let (st, reader) = Self::read_stat(&mut helper, key, path).await?;
        self.emit(&c, "archive-path", HashMap::new());
        Ok((st, helper_stream(helper, reader)))
    }

    /// `GET /containers/{id}/export`: the container's filesystem, without its volumes.
    pub async fn export(&self, key: &str) -> Result<TarStream> {
        let c = self.get(key)?;
        let rec = c.record();
        self.host_fs_backend(&rec)?;
        // Always the snapshot, even when running: dockerd exports the rootfs only.
        let m = self.snapshot_mount(&rec).await?;
        let at = self
            .mount_root
            .join(format!("{}.export.{:08x}", rec.id, rand::random::<u32>()));
        let req = Request {
            // dockerd exports the rootfs without the volumes.
            root: Root::Snapshot {
                mount: m,
                at,
                binds: Vec::new(),
                throwaway_upper: true,
            },
            op: Op::Export,
        };
        let mut helper = self.spawn_helper(&req, false)?;
        let reader = helper.stdout()?;
        self.emit(&c, "export", HashMap::new());
        Ok(helper_stream(helper, reader))
    }

    /// `PUT /containers/{id}/archive`: extracts `body` (a tar) into the directory `path`.
    pub async fn archive_put<S>(
        &self,
        key: &str,
        path: &str,
        opts: PutOptions,
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
    {
        let c = self.get(key)?;
        // A stopped container's snapshot is mounted writable: keep it from starting
        // (and mounting the same upper dir) until the extraction is done.
        let _op = c.op.lock().await;
        let rec = c.record();
        let root = self.archive_root(&rec, true).await?;
        if matches!(root, Root::Snapshot { .. }) && rec.host_config.readonly_rootfs == Some(true) {
            return Err(ContainerError::Forbidden(
                "container rootfs is marked read-only".into(),
            ));
        }
        let user = rec.config.user.clone().unwrap_or_default();
        let req = Request {
            root,
            op: Op::Put {
                path: path.into(),
                no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
                chown_user: opts.copy_uid_gid.then_some(user),
            },
        };
        let mut helper = self.spawn_helper(&req, true)?;
        let fed = feed(&mut helper, body).await;
        // The helper's own error says more than the broken pipe its early exit causes.
        helper
            .finish()
            .await
            .map_err(|e| Self::archive_error(e, key, path))?;
        fed.map_err(|e| ContainerError::InvalidParameter(format!("reading the upload: {e}")))?;
        self.emit(&c, "extract-to-dir", HashMap::new());
        Ok(())
    }

    /// `GET /containers/{id}/changes` from the snapshot's upper directory.
    pub async fn changes(&self, key: &str) -> Result<Vec<crate::archive::Change>> {
        let c = self.get(key)?;
        let rec = c.record();
        self.host_fs_backend(&rec)?;
        let (upper, lowers) = layer_dirs(&self.snapshot_mount(&rec).await?)?;
        #[cfg(unix)]
        let diff = move || crate::archive::changes::changes(&upper, &lowers);
        #[cfg(not(unix))]
        let diff = move || -> crate::archive::Result<Vec<crate::archive::Change>> {
            let _ = (upper, lowers);
            Err(ArchiveError::Io("docker diff needs a unix host".into()))
        };
        tokio::task::spawn_blocking(diff)
            .await
            .map_err(|e| ContainerError::Internal(format!("diff task: {e}")))?
            .map_err(|e| ContainerError::Internal(e.to_string()))
    }
}

/// The upper directory and the lower ones (topmost first) of a snapshot mount.
pub fn layer_dirs(m: &MountSpec) -> Result<(PathBuf, Vec<PathBuf>)> {
    if m.kind == "bind" {
        return Ok((PathBuf::from(&m.source), Vec::new()));
    }
    let opt = |k: &str| m.options.iter().find_map(|o| o.strip_prefix(k));
    let upper = opt("upperdir=").ok_or_else(|| {
        ContainerError::Internal(format!("snapshot mount without upperdir: {:?}", m.options))
    })?;
    let lowers = opt("lowerdir=")
        .map(|l| l.split(':').map(PathBuf::from).collect())
        .unwrap_or_default();
    Ok((Path::new(upper).to_path_buf(), lowers))
}

async fn feed<S>(helper: &mut Helper, mut body: S) -> std::io::Result<()>
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
{
    let Some(mut stdin) = helper.child.stdin.take() else {
        return Ok(());
    };
    while let Some(chunk) = body.next().await {
        stdin.write_all(&chunk?).await?;
    }
    stdin.shutdown().await
}

fn helper_stream(
    helper: Helper,
    reader: tokio::io::BufReader<tokio::process::ChildStdout>,
) -> TarStream {
    let chunks = tokio_util::io::ReaderStream::new(reader);
    Box::pin(futures::stream::unfold(
        (chunks, Some(helper)),
        |(mut chunks, helper)| async move {
            let mut helper = helper?;
            match chunks.next().await {
                Some(item) => Some((item, (chunks, Some(helper)))),
                None => match helper.finish().await {
                    Ok(()) => None,
                    Err(e) => Some((Err(std::io::Error::other(e.to_string())), (chunks, None))),
                },
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_dirs_of_overlay_and_bind() {
        let m = MountSpec {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                "workdir=/w".into(),
                "upperdir=/u".into(),
                "lowerdir=/l1:/l0".into(),
            ],
        };
        let (u, l) = layer_dirs(&m).unwrap();
        assert_eq!(u, PathBuf::from("/u"));
        assert_eq!(l, [PathBuf::from("/l1"), PathBuf::from("/l0")]);
        let b = MountSpec {
            kind: "bind".into(),
            source: "/only".into(),
            options: vec!["rbind".into()],
        };
        assert_eq!(layer_dirs(&b).unwrap(), (PathBuf::from("/only"), vec![]));
    }

    #[test]
    fn helper_errors_become_dockerd_messages() {
        let e = Manager::archive_error(ArchiveError::NotFound("x".into()), "web", "/nope");
        assert_eq!(
            e.to_string(),
            "Could not find the file /nope in container web"
        );
        assert!(matches!(
            Manager::archive_error(ArchiveError::ReadOnly("ro".into()), "w", "/"),
            ContainerError::Forbidden(_)
        ));
    }
}
