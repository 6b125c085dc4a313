//! An attach session over a hijacked connection: process output (framed unless TTY) goes
//! to the client, the client's bytes go to the process's stdin. Generic over the
//! connection so the framing, half-close and detach rules are tested on an in-memory
//! duplex.

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use tokio::sync::{broadcast, mpsc, Notify};

use super::stdcopy;
use crate::containers::logs::StreamKind;
use crate::containers::stream::{Output, StdinMsg};

/// Docker's default detach sequence, `ctrl-p,ctrl-q`.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

#[derive(Debug, Clone)]
pub struct Options {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    /// Close the process's stdin when the client half-closes.
    pub stdin_once: bool,
    /// The byte sequence on stdin that detaches the client; empty = none.
    pub detach_keys: Vec<u8>,
}

/// Parses Docker's detach key syntax: comma-separated `ctrl-<x>` or single characters.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let invalid = || format!("Invalid detach keys ({spec}) provided");
    let mut out = Vec::new();
    for part in spec.split(',') {
        let b = if let Some(c) = part.strip_prefix("ctrl-") {
            match c.as_bytes() {
                [x @ b'a'..=b'z'] => x - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(invalid()),
            }
        } else if part.len() == 1 {
            part.as_bytes()[0]
        } else {
            return Err(invalid());
        };
        out.push(b);
    }
    Ok(out)
}

/// Finds the detach sequence across reads: bytes that may start it are held back until it
/// is known whether they do.
struct EscapeScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeScanner {
    /// The bytes to forward, and whether the sequence was completed.
    fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (data.to_vec(), false);
        }
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = usize::from(b == self.keys[0]);
                if self.matched == 0 {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

pub type BeforeClose = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs until the process's output ends, the client detaches, or the client goes away.
pub async fn run<IO>(
    conn: IO,
    opts: Options,
    backlog: Vec<(StreamKind, bytes::Bytes)>,
    mut output: Option<broadcast::Receiver<Output>>,
    stdin: Option<mpsc::Sender<StdinMsg>>,
    before_close: Option<BeforeClose>,
) where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(conn);
    // notify_one keeps a permit, so a detach before the output loop waits is not lost.
    let detached = Arc::new(Notify::new());
    let detached_tx = detached.clone();
    let stdin_once = opts.stdin_once;
    let mut scanner = EscapeScanner {
        keys: opts.detach_keys.clone(),
        matched: 0,
    };
    let stdin_task = match (opts.stdin, stdin) {
        (true, Some(tx)) => Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        if stdin_once {
                            let _ = tx.send(StdinMsg::Close).await;
                        }
                        return;
                    }
                    Ok(n) => {
                        let (forward, detach) = scanner.feed(&buf[..n]);
                        if !forward.is_empty()
                            && tx
                                .send(StdinMsg::Data(bytes::Bytes::from(forward)))
                                .await
                                .is_err()
                        {
                            return;
                        }
                        if detach {
                            // Detaching leaves the process and its stdin alone.
                            detached_tx.notify_one();
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
    let mut was_detached = false;
    if let Some(rx) = output.as_mut() {
        loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = detached.notified() => {
                    was_detached = true;
                    break;
                }
            };
            match msg {
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
    // open until the exit is recorded (not when the client detached).
    if let (Some(f), false) = (before_close, was_detached) {
        f.await;
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
    if let Some(t) = stdin_task {
        t.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn opts(stdin: bool, tty: bool, stdin_once: bool) -> Options {
        Options {
            stdin,
            stdout: true,
            stderr: true,
            tty,
            stdin_once,
            detach_keys: DEFAULT_DETACH_KEYS.to_vec(),
        }
    }

    #[tokio::test]
    async fn frames_output_and_forwards_stdin_with_half_close() {
        let (client, server) = tokio::io::duplex(1024);
        let (out_tx, out_rx) = broadcast::channel(16);
        let (in_tx, mut in_rx) = mpsc::channel(16);
        let session = tokio::spawn(run(
            server,
            opts(true, false, true),
            vec![],
            Some(out_rx),
            Some(in_tx),
            None,
        ));
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
        let mut o = opts(false, true, false);
        o.stderr = false;
        let session = tokio::spawn(run(
            server,
            o,
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

    #[tokio::test]
    async fn detach_keys_end_the_session_but_not_stdin() {
        let (client, server) = tokio::io::duplex(1024);
        let (_out_tx, out_rx) = broadcast::channel::<Output>(16);
        let (in_tx, mut in_rx) = mpsc::channel(16);
        let session = tokio::spawn(run(
            server,
            opts(true, true, true),
            vec![],
            Some(out_rx),
            Some(in_tx),
            None,
        ));
        let (mut crd, mut cwr) = tokio::io::split(client);
        // ctrl-p alone is forwarded once it turns out not to start the sequence.
        cwr.write_all(b"a\x10b\x10").await.unwrap();
        cwr.write_all(b"\x11ignored").await.unwrap();
        let mut got = Vec::new();
        crd.read_to_end(&mut got).await.unwrap();
        assert!(got.is_empty());
        session.await.unwrap();
        let mut forwarded = Vec::new();
        while let Ok(StdinMsg::Data(b)) = in_rx.try_recv() {
            forwarded.extend_from_slice(&b);
        }
        assert_eq!(forwarded, b"a\x10b");
        // Detaching never closes the process's stdin.
        assert!(in_rx.try_recv().is_err());
    }

    #[test]
    fn parses_detach_keys_like_docker() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            DEFAULT_DETACH_KEYS
        );
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("ctrl-@").unwrap(), vec![0]);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("abc").is_err());
        assert!(parse_detach_keys("").is_err());
    }
}
