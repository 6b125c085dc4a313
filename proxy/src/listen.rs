//! Binding the `-H` addresses.

use anyhow::Context;

use crate::config::ListenAddr;
use crate::server::AppState;

pub enum Listener {
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

pub async fn bind(addr: &ListenAddr) -> anyhow::Result<Listener> {
    match addr {
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
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
                .with_context(|| format!("setting the mode of {}", path.display()))?;
            Ok(Listener::Unix(l))
        }
        ListenAddr::Tcp(sa) => Ok(Listener::Tcp(
            tokio::net::TcpListener::bind(sa)
                .await
                .with_context(|| format!("listening on {sa}"))?,
        )),
    }
}

pub fn describe(addr: &ListenAddr) -> String {
    match addr {
        ListenAddr::Unix(p) => format!("unix://{}", p.display()),
        ListenAddr::Tcp(sa) => format!("tcp://{sa}"),
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
    }
}
