//! Binding the `-H` addresses: unix sockets (0660, the `--group`'s), named pipes on
//! Windows ([`npipe`]: Administrators, SYSTEM and the `--group`'s), plain TCP, and TCP with
//! TLS ([`tls`]).

#[cfg(unix)]
pub mod group;
#[cfg(windows)]
pub mod npipe;
pub mod tls;

use std::sync::Arc;

use anyhow::Context;

use crate::config::ListenAddr;
use crate::server::AppState;

pub enum Listener {
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
    Tls(tls::TlsListener),
    #[cfg(windows)]
    Npipe(npipe::NpipeListener),
}

/// dockerd's named-pipe DACL (daemon/listeners, Windows): full access for Administrators
/// (BA) and SYSTEM (SY), protected from inheritance (`P`), and read/write for each
/// `--group` account, by SID.
pub fn pipe_sddl(group_sids: &[String]) -> String {
    let mut sddl = String::from("D:P(A;;GA;;;BA)(A;;GA;;;SY)");
    for sid in group_sids {
        sddl.push_str(&format!("(A;;GRGW;;;{sid})"));
    }
    sddl
}

/// What every listener is bound with.
#[derive(Clone, Default)]
pub struct BindOptions {
    /// TLS for tcp:// listeners (`--tls`/`--tlsverify`); unix sockets never use it.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The group unix sockets are given (`--group`); `None` keeps the daemon's.
    #[cfg(unix)]
    pub socket_group: Option<nix::unistd::Gid>,
    /// The SIDs `--group` names, admitted to named pipes besides Administrators and SYSTEM.
    #[cfg(windows)]
    pub pipe_group_sids: Vec<String>,
}

pub async fn bind(addr: &ListenAddr, opts: &BindOptions) -> anyhow::Result<Listener> {
    match addr {
        #[cfg(windows)]
        ListenAddr::Npipe(name) => npipe::NpipeListener::bind(name, &opts.pipe_group_sids)
            .map(Listener::Npipe)
            .with_context(|| format!("listening on {addr}")),
        #[cfg(not(windows))]
        ListenAddr::Npipe(_) => anyhow::bail!(
            "cannot listen on {addr}: named pipes need a Windows host; use unix:///path or tcp://HOST[:PORT]"
        ),
        #[cfg(not(unix))]
        ListenAddr::Unix(path) => anyhow::bail!(
            "cannot listen on unix://{}: unix sockets need a unix host; use tcp://127.0.0.1:PORT",
            path.display()
        ),
        #[cfg(unix)]
        ListenAddr::Unix(path) => {
            use std::os::unix::fs::PermissionsExt;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            // A socket left by a previous run would make bind fail.
            let _ = std::fs::remove_file(path);
            let l = tokio::net::UnixListener::bind(path)
                .with_context(|| format!("listening on {}", path.display()))?;
            // As dockerd: the group first, then 0660.
            if let Some(gid) = opts.socket_group {
                nix::unistd::chown(path.as_path(), None, Some(gid))
                    .with_context(|| format!("giving {} to group {gid}", path.display()))?;
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
                .with_context(|| format!("setting the mode of {}", path.display()))?;
            Ok(Listener::Unix(l))
        }
        ListenAddr::Tcp(sa) => {
            let l = tokio::net::TcpListener::bind(sa)
                .await
                .with_context(|| format!("listening on {sa}"))?;
            match &opts.tls {
                Some(config) => Ok(Listener::Tls(
                    tls::TlsListener::new(l, config.clone())
                        .with_context(|| format!("listening on {sa}"))?,
                )),
                None => Ok(Listener::Tcp(l)),
            }
        }
    }
}

pub fn describe(addr: &ListenAddr, opts: &BindOptions) -> String {
    match (addr, &opts.tls) {
        (ListenAddr::Tcp(_), Some(_)) => format!("{addr} (TLS)"),
        _ => addr.to_string(),
    }
}

pub async fn serve(
    l: Listener,
    daemon: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match l {
        #[cfg(unix)]
        Listener::Unix(u) => crate::server::run(u, daemon, shutdown).await,
        Listener::Tcp(t) => crate::server::run(t, daemon, shutdown).await,
        Listener::Tls(t) => crate::server::run(t, daemon, shutdown).await,
        #[cfg(windows)]
        Listener::Npipe(p) => crate::server::run(p, daemon, shutdown).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pipes_admit_administrators_system_and_the_groups() {
        assert_eq!(super::pipe_sddl(&[]), "D:P(A;;GA;;;BA)(A;;GA;;;SY)");
        assert_eq!(
            super::pipe_sddl(&["S-1-5-21-1-2-3-1001".into()]),
            "D:P(A;;GA;;;BA)(A;;GA;;;SY)(A;;GRGW;;;S-1-5-21-1-2-3-1001)"
        );
    }
}
