//! `dockbridge serve` flags, named as dockerd names them.

use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Daemon socket(s) to listen on: unix:///path or tcp://127.0.0.1:PORT (repeatable).
    #[arg(
        short = 'H',
        long = "host",
        default_value = "unix:///run/dockbridge.sock"
    )]
    pub hosts: Vec<String>,
    /// Root of persistent state (containers, logs, containerd's root).
    #[arg(long, default_value = "/var/lib/dockbridge")]
    pub data_root: PathBuf,
    /// Root of runtime state (FIFOs, containerd's state and socket).
    #[arg(long, default_value = "/run/dockbridge")]
    pub exec_root: PathBuf,
    /// Use an existing containerd at this socket instead of starting a private one.
    #[arg(long)]
    pub containerd: Option<String>,
    /// containerd namespace for dockbridge's objects.
    #[arg(long, default_value = "dockbridge")]
    pub containerd_namespace: String,
    /// Backend for new containers.
    #[arg(long, default_value = "containerd", value_parser = ["containerd", "hcs"])]
    pub backend: String,
    /// computecore.dll (or the HCS simulator) for the hcs backend.
    #[arg(long)]
    pub hcs_library: Option<PathBuf>,
    /// Log level (also DOCKBRIDGE_LOG, in tracing's filter syntax).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Path of a pidfile to write.
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// A registry spoken to over plain HTTP or unverified HTTPS: host:port, host or CIDR
    /// (repeatable; loopback registries always are, as with dockerd).
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// A Docker Hub mirror, tried before Docker Hub (repeatable).
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Per-registry certificates: DIR/HOST:PORT/*.crt (CAs), *.cert + *.key (client).
    #[arg(long = "registry-certs-dir", default_value = "/etc/docker/certs.d")]
    pub registry_certs_dir: PathBuf,
    /// The default bridge's interface (created when missing), or `none` for no default
    /// bridge: containers in the default mode then get a namespace with loopback only.
    #[arg(short = 'b', long, default_value = "dockbridge0")]
    pub bridge: String,
    /// The bridge's address and prefix (`172.18.0.1/16`); default: the first private range
    /// free on the host, 172.17.0.0/16 first.
    #[arg(long)]
    pub bip: Option<String>,
    /// The static init binary for `--init` (default: `docker-init`, `tini-static` or
    /// `tini` from PATH).
    #[arg(long)]
    pub init_path: Option<PathBuf>,
    /// The largest build context `docker build` may send, in bytes once unpacked (it is
    /// streamed to disk under the data root, never held in memory).
    #[arg(long, default_value_t = 8 << 30)]
    pub max_build_context: u64,
}

/// The init binary for `--init`: the flag's, else the first of dockerd's `docker-init`
/// and Debian's `tini-static`/`tini` found on PATH (a static one first: it must run in
/// any image).
pub fn init_path(flag: Option<&std::path::Path>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    ["docker-init", "tini-static", "tini"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// A parsed `-H` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(std::net::SocketAddr),
}

#[derive(Debug, thiserror::Error)]
pub enum AddrError {
    #[error("invalid host {0:?}: expected unix:///path or tcp://127.0.0.1:PORT")]
    Invalid(String),
    #[error("refusing to listen on {0}: a non-loopback TCP address needs TLS, which dockbridge does not implement yet; use a loopback address or a unix socket")]
    NonLoopback(String),
}

impl ListenAddr {
    pub fn parse(s: &str) -> Result<Self, AddrError> {
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Ok(Self::Unix(PathBuf::from("/run/dockbridge.sock")));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp://") {
            let addr: std::net::SocketAddr = addr
                .parse()
                .map_err(|_| AddrError::Invalid(s.to_string()))?;
            if !addr.ip().is_loopback() {
                return Err(AddrError::NonLoopback(s.to_string()));
            }
            return Ok(Self::Tcp(addr));
        }
        if s.starts_with('/') {
            return Ok(Self::Unix(PathBuf::from(s)));
        }
        Err(AddrError::Invalid(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        assert_eq!(
            ListenAddr::parse("unix:///tmp/x.sock").unwrap(),
            ListenAddr::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            ListenAddr::parse("tcp://127.0.0.1:2375").unwrap(),
            ListenAddr::Tcp("127.0.0.1:2375".parse().unwrap())
        );
        assert!(matches!(
            ListenAddr::parse("tcp://0.0.0.0:2375"),
            Err(AddrError::NonLoopback(_))
        ));
        assert!(ListenAddr::parse("ftp://x").is_err());
        assert!(ListenAddr::parse("tcp://localhost").is_err());
    }
}
