//! Task stdio on Windows: named pipes that dockbridge serves and the shim connects to, as
//! containerd's own client does there (`cio/io_windows.go`: the client listens on
//! `\\.\pipe\…-stdin/-stdout/-stderr`, the shim dials each once).
//!
//! Each pipe is one server instance waiting for its one client. The process side is
//! handed out at once as an ordinary reader or writer; a task copies between it and the
//! pipe once the shim connected. A consumer that goes away before the shim connects (a
//! failed task create) ends the wait, so no pipe handle outlives it.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::windows::named_pipe::{NamedPipeServer, PipeMode, ServerOptions};

use crate::backend::{BoxRead, BoxWrite};

/// The chunk size of the copies, and the output channel's depth in chunks.
const CHUNK: usize = 32 * 1024;
const DEPTH: usize = 16;

/// One duplex instance (the shim dials with read and write access, as go-winio's
/// `DialPipe` does, whatever the direction); `first_pipe_instance` refuses a name that
/// another process already serves.
fn server(name: &str) -> io::Result<NamedPipeServer> {
    ServerOptions::new()
        .first_pipe_instance(true)
        .max_instances(1)
        .pipe_mode(PipeMode::Byte)
        .create(name)
}

/// Serves `name` for the shim to write the process's output into; the returned reader
/// sees it, and EOF once the shim closed its end.
pub fn output(name: &str) -> io::Result<BoxRead> {
    let pipe = server(name)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(DEPTH);
    tokio::spawn(async move {
        let mut pipe = pipe;
        tokio::select! {
            r = pipe.connect() => if r.is_err() { return },
            // Nobody reads any more: stop waiting for the shim.
            _ = tx.closed() => return,
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                // The shim's end closed: a broken pipe is the pipe's EOF.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    Ok(Box::pin(tokio_util::io::StreamReader::new(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    )))
}

/// Serves `name` for the shim to read the process's stdin from; what is written to the
/// returned writer reaches it, and closing (dropping) the writer closes the pipe.
pub fn input(name: &str) -> io::Result<BoxWrite> {
    let pipe = server(name)?;
    // A duplex pair, not `simplex`: dropping one end of it is EOF at the other.
    let (mut reader, writer) = tokio::io::duplex(CHUNK);
    tokio::spawn(async move {
        let mut pipe = pipe;
        // Input written before the shim connects waits here; the writer's close before
        // any input ends the wait (nothing will ever be sent).
        let mut early = Vec::new();
        let mut closed = false;
        loop {
            let mut chunk = vec![0u8; CHUNK];
            tokio::select! {
                r = pipe.connect() => {
                    if r.is_err() { return }
                    break;
                }
                n = reader.read(&mut chunk), if !closed => match n {
                    Ok(0) | Err(_) if early.is_empty() => return,
                    Ok(0) | Err(_) => closed = true,
                    Ok(n) => early.extend_from_slice(&chunk[..n]),
                },
            }
        }
        if pipe.write_all(&early).await.is_err() {
            return;
        }
        if !closed {
            let _ = tokio::io::copy(&mut reader, &mut pipe).await;
        }
        let _ = pipe.flush().await;
        // Dropping the server end disconnects: the process reads EOF.
    });
    Ok(Box::pin(writer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    use tokio::net::windows::named_pipe::ClientOptions;

    fn name(what: &str) -> String {
        format!(r"\\.\pipe\dockbridge-stdio-{what}-{}", std::process::id())
    }

    #[tokio::test]
    async fn output_reaches_the_reader_then_eof() {
        let n = name("out");
        let mut reader = output(&n).unwrap();
        // The shim's side: a client that writes and closes.
        let mut shim = ClientOptions::new().open(&n).unwrap();
        shim.write_all(b"hello from the process\n").await.unwrap();
        drop(shim);
        let mut got = String::new();
        tokio::time::timeout(Duration::from_secs(10), reader.read_to_string(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, "hello from the process\n");
    }

    #[tokio::test]
    async fn input_reaches_the_shim_then_eof_including_what_came_before_it_connected() {
        let n = name("in");
        let mut writer = input(&n).unwrap();
        writer.write_all(b"early ").await.unwrap();
        let mut shim = ClientOptions::new().open(&n).unwrap();
        writer.write_all(b"late").await.unwrap();
        drop(writer);
        let mut got = String::new();
        tokio::time::timeout(Duration::from_secs(10), shim.read_to_string(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, "early late");
    }

    /// A pipe still served would let this open succeed. The serving task gets a moment
    /// to notice its consumer left first (opening earlier would connect it).
    async fn gone(n: &str) -> bool {
        tokio::time::sleep(Duration::from_millis(300)).await;
        matches!(ClientOptions::new().open(n), Err(e) if e.kind() == io::ErrorKind::NotFound)
    }

    #[tokio::test]
    async fn pipes_whose_consumer_left_before_the_shim_came_are_closed() {
        let out = name("out-dropped");
        drop(output(&out).unwrap());
        assert!(gone(&out).await, "{out} is still served");
        let inp = name("in-dropped");
        drop(input(&inp).unwrap());
        assert!(gone(&inp).await, "{inp} is still served");
    }

    #[tokio::test]
    async fn a_name_in_use_is_refused() {
        let n = name("twice");
        let _first = output(&n).unwrap();
        assert!(output(&n).is_err());
    }
}
