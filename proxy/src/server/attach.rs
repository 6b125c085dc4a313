//! An attach session over a hijacked connection: process output (framed unless TTY) goes
//! to the client, the client's bytes go to the process's stdin. Generic over the
//! connection so the framing and half-close rules are tested on an in-memory duplex.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};

use super::stdcopy;
use crate::containers::logs::StreamKind;
use crate::containers::stream::{Output, StdinMsg};

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    /// Close the process's stdin when the client half-closes.
    pub stdin_once: bool,
}

/// Runs until the process's output ends (or the client goes away).
pub async fn run<IO>(
    conn: IO,
    opts: Options,
    backlog: Vec<(StreamKind, bytes::Bytes)>,
    mut output: Option<broadcast::Receiver<Output>>,
    stdin: Option<mpsc::Sender<StdinMsg>>,
    before_close: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
) where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(conn);
    let stdin_task = match (opts.stdin, stdin) {
        (true, Some(tx)) => Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        if opts.stdin_once {
                            let _ = tx.send(StdinMsg::Close).await;
                        }
                        return;
                    }
                    Ok(n) => {
                        if tx
                            .send(StdinMsg::Data(bytes::Bytes::copy_from_slice(&buf[..n])))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        })),
        _ => None,
    };
    let wanted = |k: StreamKind| match k {
        StreamKind::Stdout => opts.stdout,
        StreamKind::Stderr => opts.stderr,
    };
    for (kind, data) in backlog {
        if wanted(kind)
            && wr
                .write_all(&stdcopy::encode(opts.tty, kind, data))
                .await
                .is_err()
        {
            return;
        }
    }
    if let Some(rx) = output.as_mut() {
        loop {
            match rx.recv().await {
                Ok(Output::Data(kind, data)) => {
                    if wanted(kind)
                        && wr
                            .write_all(&stdcopy::encode(opts.tty, kind, data))
                            .await
                            .is_err()
                    {
                        break;
                    }
                }
                Ok(Output::Eof) | Err(broadcast::error::RecvError::Closed) => break,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("attach client too slow: dropped {n} output chunks");
                }
            }
        }
    }
    // An exec's client asks for the exit code as soon as the stream ends: hold the stream
    // open until the exit is recorded.
    if let Some(f) = before_close {
        f.await;
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
    if let Some(t) = stdin_task {
        t.abort();
    }
}

/// Shares the attach options between handlers.
pub type Shared = Arc<Options>;

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test]
    async fn frames_output_and_forwards_stdin_with_half_close() {
        let (client, server) = tokio::io::duplex(1024);
        let (out_tx, out_rx) = broadcast::channel(16);
        let (in_tx, mut in_rx) = mpsc::channel(16);
        let opts = Options {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
            stdin_once: true,
        };
        let session = tokio::spawn(run(server, opts, vec![], Some(out_rx), Some(in_tx), None));
        let (mut crd, mut cwr) = tokio::io::split(client);
        cwr.write_all(b"input").await.unwrap();
        cwr.shutdown().await.unwrap();
        match in_rx.recv().await.unwrap() {
            StdinMsg::Data(b) => assert_eq!(&b[..], b"input"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(in_rx.recv().await.unwrap(), StdinMsg::Close));
        out_tx
            .send(Output::Data(StreamKind::Stdout, Bytes::from_static(b"out")))
            .unwrap();
        out_tx
            .send(Output::Data(StreamKind::Stderr, Bytes::from_static(b"err")))
            .unwrap();
        out_tx.send(Output::Eof).unwrap();
        let mut got = Vec::new();
        crd.read_to_end(&mut got).await.unwrap();
        assert_eq!(
            got,
            b"\x01\x00\x00\x00\x00\x00\x00\x03out\x02\x00\x00\x00\x00\x00\x00\x03err"
        );
        session.await.unwrap();
    }

    #[tokio::test]
    async fn tty_is_raw_and_streams_are_filtered() {
        let (client, server) = tokio::io::duplex(1024);
        let (out_tx, out_rx) = broadcast::channel(16);
        let opts = Options {
            stdin: false,
            stdout: true,
            stderr: false,
            tty: true,
            stdin_once: false,
        };
        let session = tokio::spawn(run(
            server,
            opts,
            vec![(StreamKind::Stdout, Bytes::from_static(b"old "))],
            Some(out_rx),
            None,
            None,
        ));
        out_tx
            .send(Output::Data(
                StreamKind::Stderr,
                Bytes::from_static(b"hidden"),
            ))
            .unwrap();
        out_tx
            .send(Output::Data(StreamKind::Stdout, Bytes::from_static(b"new")))
            .unwrap();
        out_tx.send(Output::Eof).unwrap();
        let mut got = Vec::new();
        let mut client = client;
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"old new");
        session.await.unwrap();
    }
}
