//! The stdio hub of one process: output fanned out to every attacher (and to the log),
//! stdin gathered from attachers into the process.
//!
//! Attachers may come before the process exists (`docker run` attaches, then starts), so
//! the hub outlives processes: it is created with the container and reused on restart.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};

use super::logs::{Entry, LineSplitter, LogWriter, StreamKind};
use crate::backend::{BoxRead, BoxWrite, ProcessIo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Data(StreamKind, Bytes),
    /// All output of the current process has been delivered.
    Eof,
}

#[derive(Debug)]
pub enum StdinMsg {
    Data(Bytes),
    /// The attacher half-closed with `StdinOnce`: close the process's stdin.
    Close,
}

pub struct Hub {
    out: broadcast::Sender<Output>,
    stdin: Mutex<StdinSlot>,
    /// True while a process's output is being pumped.
    live: Mutex<bool>,
}

struct StdinSlot {
    tx: mpsc::Sender<StdinMsg>,
    rx: Option<mpsc::Receiver<StdinMsg>>,
}

impl StdinSlot {
    fn new() -> Self {
        let (tx, rx) = mpsc::channel(64);
        Self { tx, rx: Some(rx) }
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Self {
            out: broadcast::channel(1024).0,
            stdin: Mutex::new(StdinSlot::new()),
            live: Mutex::new(false),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Output> {
        self.out.subscribe()
    }

    pub fn is_live(&self) -> bool {
        *self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where an attacher sends stdin, for the current or next process.
    pub fn stdin(&self) -> mpsc::Sender<StdinMsg> {
        self.stdin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tx
            .clone()
    }

    /// Pumps a started process's stdio. The returned task ends when all output is read and
    /// delivered; `on_stdin_closed` runs when stdin is closed (to tell the runtime).
    pub fn pump<F>(
        self: &Arc<Self>,
        io: ProcessIo,
        log: Option<Arc<LogWriter>>,
        on_stdin_closed: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnOnce() + Send + 'static,
    {
        *self.live.lock().unwrap_or_else(|p| p.into_inner()) = true;
        if let Some(log) = &log {
            log.begin();
        }
        let rx = {
            let mut slot = self.stdin.lock().unwrap_or_else(|p| p.into_inner());
            slot.rx.take()
        };
        if let (Some(w), Some(rx)) = (io.stdin, rx) {
            tokio::spawn(pump_stdin(w, rx, on_stdin_closed));
        }
        // One task reads both streams: when stdout and stderr are both ready it takes
        // stdout first, so `echo out; echo err >&2` is logged in the order it was written
        // (two racing tasks would interleave at random).
        let reader = tokio::spawn(pump_outputs(
            io.stdout,
            io.stderr,
            self.out.clone(),
            log.clone(),
        ));
        let hub = self.clone();
        tokio::spawn(async move {
            let _ = reader.await;
            if let Some(log) = log {
                log.end();
            }
            *hub.live.lock().unwrap_or_else(|p| p.into_inner()) = false;
            // A fresh stdin channel for the next process (restart); attachers of the old one
            // see their sender fail.
            *hub.stdin.lock().unwrap_or_else(|p| p.into_inner()) = StdinSlot::new();
            let _ = hub.out.send(Output::Eof);
        })
    }
}

/// Splits one stream's bytes into log lines and fans them out.
struct Sink {
    kind: StreamKind,
    lines: LineSplitter,
}

impl Sink {
    fn deliver(
        &mut self,
        chunk: &[u8],
        out: &broadcast::Sender<Output>,
        log: &Option<Arc<LogWriter>>,
    ) {
        let chunk = Bytes::copy_from_slice(chunk);
        if let Some(log) = log {
            for line in self.lines.push(&chunk) {
                log.write(Entry {
                    stream: self.kind,
                    time: chrono::Utc::now(),
                    line,
                });
            }
        }
        let _ = out.send(Output::Data(self.kind, chunk));
    }

    fn finish(&mut self, log: &Option<Arc<LogWriter>>) {
        if let (Some(log), Some(line)) = (log, self.lines.flush()) {
            log.write(Entry {
                stream: self.kind,
                time: chrono::Utc::now(),
                line,
            });
        }
    }
}

async fn read_some(r: &mut Option<BoxRead>, buf: &mut [u8]) -> usize {
    match r {
        Some(r) => r.read(buf).await.unwrap_or_else(|e| {
            tracing::debug!("reading process output: {e}");
            0
        }),
        None => std::future::pending().await,
    }
}

async fn pump_outputs(
    mut stdout: Option<BoxRead>,
    mut stderr: Option<BoxRead>,
    out: broadcast::Sender<Output>,
    log: Option<Arc<LogWriter>>,
) {
    let mut so = Sink {
        kind: StreamKind::Stdout,
        lines: LineSplitter::default(),
    };
    let mut se = Sink {
        kind: StreamKind::Stderr,
        lines: LineSplitter::default(),
    };
    let (mut b1, mut b2) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
    while stdout.is_some() || stderr.is_some() {
        // Both reads are cancel-safe (tokio pipes, duplex streams): the losing branch of a
        // round loses no bytes.
        tokio::select! {
            biased;
            n = read_some(&mut stdout, &mut b1) => {
                if n == 0 {
                    stdout = None;
                    so.finish(&log);
                } else {
                    so.deliver(&b1[..n], &out, &log);
                }
            }
            n = read_some(&mut stderr, &mut b2) => {
                if n == 0 {
                    stderr = None;
                    se.finish(&log);
                } else {
                    se.deliver(&b2[..n], &out, &log);
                }
            }
        }
    }
}

async fn pump_stdin<F: FnOnce()>(mut w: BoxWrite, mut rx: mpsc::Receiver<StdinMsg>, on_closed: F) {
    while let Some(msg) = rx.recv().await {
        match msg {
            StdinMsg::Data(b) => {
                if w.write_all(&b).await.is_err() {
                    break;
                }
            }
            StdinMsg::Close => break,
        }
    }
    let _ = w.shutdown().await;
    drop(w);
    on_closed();
}
