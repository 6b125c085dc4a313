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
        let rx = {
            let mut slot = self.stdin.lock().unwrap_or_else(|p| p.into_inner());
            slot.rx.take()
        };
        if let (Some(w), Some(rx)) = (io.stdin, rx) {
            tokio::spawn(pump_stdin(w, rx, on_stdin_closed));
        }
        let mut readers = Vec::new();
        if let Some(r) = io.stdout {
            readers.push(tokio::spawn(pump_output(
                r,
                StreamKind::Stdout,
                self.out.clone(),
                log.clone(),
            )));
        }
        if let Some(r) = io.stderr {
            readers.push(tokio::spawn(pump_output(
                r,
                StreamKind::Stderr,
                self.out.clone(),
                log.clone(),
            )));
        }
        let hub = self.clone();
        tokio::spawn(async move {
            for r in readers {
                let _ = r.await;
            }
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

async fn pump_output(
    mut r: BoxRead,
    kind: StreamKind,
    out: broadcast::Sender<Output>,
    log: Option<Arc<LogWriter>>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut lines = LineSplitter::default();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!("reading process {kind:?}: {e}");
                break;
            }
        };
        let chunk = Bytes::copy_from_slice(&buf[..n]);
        if let Some(log) = &log {
            for line in lines.push(&chunk) {
                log.write(Entry {
                    stream: kind,
                    time: chrono::Utc::now(),
                    line,
                });
            }
        }
        let _ = out.send(Output::Data(kind, chunk));
    }
    if let (Some(log), Some(line)) = (&log, lines.flush()) {
        log.write(Entry {
            stream: kind,
            time: chrono::Utc::now(),
            line,
        });
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
