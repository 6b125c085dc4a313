//! The build context: the request body (a tar, plain or gzip/bzip2/xz compressed, or a bare
//! Dockerfile) unpacked as it arrives into a temporary directory, never held in memory
//! whole; its unpacked size is bounded by the daemon's `--max-build-context`.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::BuildError;

/// How the body starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Tar,
    Gzip,
    Bzip2,
    Xz,
    /// Not an archive: the body is the Dockerfile itself.
    Dockerfile,
    Empty,
}

fn detect(head: &[u8]) -> Format {
    if head.is_empty() {
        Format::Empty
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Format::Gzip
    } else if head.starts_with(b"BZh") {
        Format::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Format::Xz
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Format::Tar
    } else if head.len() >= 512 && head[..512].iter().all(|b| *b == 0) {
        // An empty tar (two zero blocks).
        Format::Tar
    } else {
        Format::Dockerfile
    }
}

/// Unpacks the body into `dir`. Returns the Dockerfile text when the body was a bare
/// Dockerfile rather than an archive.
pub async fn receive<S, E>(body: S, dir: &Path, limit: u64) -> Result<Option<String>, BuildError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut reader = tokio_util::io::StreamReader::new(body.map_err(std::io::Error::other));
    let mut head = Vec::with_capacity(512);
    while head.len() < 512 {
        let mut buf = vec![0u8; 512 - head.len()];
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| BuildError::Context(format!("reading the build context: {e}")))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let format = detect(&head);
    let rest = std::io::Cursor::new(head.clone()).chain_async(reader);
    match format {
        Format::Empty => Ok(None),
        Format::Dockerfile => {
            let mut text = Vec::new();
            let mut r = rest.take(limit.max(1) + 1);
            r.read_to_end(&mut text)
                .await
                .map_err(|e| BuildError::Context(format!("reading the Dockerfile: {e}")))?;
            if text.len() as u64 > limit {
                return Err(too_large(limit));
            }
            Ok(Some(String::from_utf8_lossy(&text).into_owned()))
        }
        Format::Tar => unpack_blocking(rest, dir, limit, false).await.map(|_| None),
        Format::Gzip => unpack_blocking(rest, dir, limit, true).await.map(|_| None),
        Format::Bzip2 | Format::Xz => {
            let prog = if format == Format::Xz { "xz" } else { "bzip2" };
            let mut child = tokio::process::Command::new(prog)
                .args(["-d", "-c", "-q"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| {
                    BuildError::Context(format!(
                        "starting {prog} to decompress the build context: {e}"
                    ))
                })?;
            let mut stdin = child
                .stdin
                .take()
                .ok_or_else(|| BuildError::Internal(format!("{prog} without stdin")))?;
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| BuildError::Internal(format!("{prog} without stdout")))?;
            let feed = tokio::spawn(async move {
                let mut rest = rest;
                let r = tokio::io::copy(&mut rest, &mut stdin).await;
                let _ = stdin.shutdown().await;
                r
            });
            let unpacked = unpack_blocking(stdout, dir, limit, false).await;
            let fed = feed.await;
            let status = child.wait().await;
            unpacked?;
            match fed {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err(BuildError::Context(format!(
                        "reading the build context: {e}"
                    )))
                }
                Err(e) => return Err(BuildError::Internal(e.to_string())),
            }
            match status {
                Ok(s) if s.success() => Ok(None),
                _ => Err(BuildError::Context(format!(
                    "the build context is not a valid {prog} stream"
                ))),
            }
        }
    }
}

fn too_large(limit: u64) -> BuildError {
    BuildError::Context(format!(
        "the build context is larger than this daemon's limit of {limit} bytes (--max-build-context)"
    ))
}

/// `Cursor::chain` for an async reader.
trait ChainAsync {
    fn chain_async<R: AsyncRead + Unpin>(self, next: R) -> tokio::io::Chain<Self, R>
    where
        Self: Sized + AsyncRead;
}

impl ChainAsync for std::io::Cursor<Vec<u8>> {
    fn chain_async<R: AsyncRead + Unpin>(self, next: R) -> tokio::io::Chain<Self, R> {
        AsyncReadExt::chain(self, next)
    }
}

async fn unpack_blocking<R>(reader: R, dir: &Path, limit: u64, gzip: bool) -> Result<(), BuildError>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let dir = dir.to_path_buf();
    let bridge = tokio_util::io::SyncIoBridge::new(reader);
    tokio::task::spawn_blocking(move || {
        let mut r: Box<dyn Read> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(bridge))
        } else {
            Box::new(bridge)
        };
        unpack(&mut r, &dir, limit)?;
        // Read the body to its end (padding after the tar's end blocks): a request read
        // to its end is what lets the server notice a client that goes away later.
        std::io::copy(&mut r, &mut std::io::sink())
            .map(|_| ())
            .map_err(|e| BuildError::Context(format!("reading the build context: {e}")))
    })
    .await
    .map_err(|e| BuildError::Internal(format!("unpacking the build context: {e}")))?
}

/// Unpacks a tar into `dir` (entries cannot escape it), counting what it writes.
pub fn unpack(r: impl Read, dir: &Path, limit: u64) -> Result<(), BuildError> {
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    let mut total: u64 = 0;
    let bad = |e: std::io::Error| BuildError::Context(format!("unpacking the build context: {e}"));
    for entry in ar.entries().map_err(bad)? {
        // The docker CLI's `-f -` context ends right after its last file's data (no
        // padding, no end-of-archive blocks), which Go's reader accepts: so does this.
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) if e.to_string().contains("unexpected EOF") => break,
            Err(e) => return Err(bad(e)),
        };
        total = total.saturating_add(entry.header().size().unwrap_or(0));
        if total > limit {
            return Err(too_large(limit));
        }
        entry.unpack_in(dir).map_err(bad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(detect(b""), Format::Empty);
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Format::Gzip);
        assert_eq!(detect(b"BZh91AY"), Format::Bzip2);
        assert_eq!(detect(&[0xfd, b'7', b'z', b'X', b'Z', 0, 1]), Format::Xz);
        assert_eq!(detect(b"FROM busybox\n"), Format::Dockerfile);
        let mut t = vec![0u8; 512];
        t[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&t), Format::Tar);
    }
}
