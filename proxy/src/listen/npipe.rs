//! `npipe://` listeners (Windows): a named pipe served as dockerd serves it (go-winio's
//! `ListenPipe`): byte-mode instances with 64 KiB buffers, guarded by a security descriptor
//! that admits Administrators and SYSTEM, plus read/write for the `--group` accounts.
//!
//! A pipe instance serves one client, so the accept loop always keeps a fresh instance
//! waiting: as soon as a client connects, the next instance is created before the connected
//! one is handed to the HTTP server (tokio's named_pipe pattern), so a second client never
//! finds the name gone.

use std::io;
use std::time::Duration;

use hcs::ffi::pipe_security::SecurityDescriptor;
use tokio::net::windows::named_pipe::{NamedPipeServer, PipeMode, ServerOptions};

use super::pipe_sddl;

/// go-winio's buffer sizes in dockerd's listener.
const BUFFER: u32 = 64 * 1024;

pub struct NpipeListener {
    name: String,
    options: ServerOptions,
    security: SecurityDescriptor,
    /// The instance waiting for the next client.
    next: NamedPipeServer,
}

/// What `--group` adds to the descriptor: each comma-separated account's SID.
pub fn group_sids(group: Option<&str>) -> io::Result<Vec<String>> {
    group
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|g| {
            hcs::ffi::pipe_security::lookup_sid(g)
                .map_err(|e| io::Error::new(e.kind(), format!("--group {g}: {e}")))
        })
        .collect()
}

/// Refuses a pipe name that another process serves (`WaitNamedPipeW`: nobody connects).
pub fn ensure_unserved(name: &str) -> io::Result<()> {
    if hcs::ffi::pipe_security::pipe_exists(name)? {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{name} is already in use (is another daemon running?)"),
        ));
    }
    Ok(())
}

impl NpipeListener {
    /// Creates the first instance; fails if another process already serves `name`.
    pub fn bind(name: &str, group_sids: &[String]) -> io::Result<Self> {
        let security = SecurityDescriptor::from_sddl(&pipe_sddl(group_sids))?;
        let mut options = ServerOptions::new();
        options
            .pipe_mode(PipeMode::Byte)
            .in_buffer_size(BUFFER)
            .out_buffer_size(BUFFER);
        // Only the first instance claims the name: another daemon on it is an error here,
        // not a second server answering half the clients. FILE_FLAG_FIRST_PIPE_INSTANCE
        // makes Windows refuse it; the probe before makes the refusal hold where the flag is
        // ignored (Wine 8) and names the reason.
        ensure_unserved(name)?;
        let first = security.create_pipe(options.clone().first_pipe_instance(true), name)?;
        Ok(Self {
            name: name.to_string(),
            options,
            security,
            next: first,
        })
    }

    fn fresh(&self) -> io::Result<NamedPipeServer> {
        self.security.create_pipe(&self.options, &self.name)
    }
}

impl axum::serve::Listener for NpipeListener {
    type Io = NamedPipeServer;
    type Addr = String;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Err(e) = self.next.connect().await {
                // A client that came and went before the connect finished: that instance
                // is spent, take another.
                tracing::debug!("{}: connect: {e}", self.name);
                drop(self.replace_next().await);
                continue;
            }
            let connected = self.replace_next().await;
            return (connected, self.name.clone());
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.name.clone())
    }
}

impl NpipeListener {
    /// Puts a fresh instance in place of `next` and returns the old one; retries (with a
    /// pause) while Windows refuses a new instance, so the listener never goes away.
    async fn replace_next(&mut self) -> NamedPipeServer {
        loop {
            match self.fresh() {
                Ok(fresh) => return std::mem::replace(&mut self.next, fresh),
                Err(e) => {
                    tracing::warn!("{}: creating a pipe instance: {e}", self.name);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}
