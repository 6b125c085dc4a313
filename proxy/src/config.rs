//! `dockbridge serve` flags, named as dockerd names them.

use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Daemon socket(s) to listen on: unix:///path, npipe:////./pipe/NAME (Windows) or
    /// tcp://HOST[:PORT] (repeatable; the port defaults to 2375). Without -H:
    /// unix:///run/dockbridge.sock (npipe:////./pipe/docker_engine on Windows), or
    /// tcp://localhost:2376 when TLS is on, as dockerd.
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Use TLS on tcp:// listeners; implied by --tlsverify. As with dockerd (20.10 and
    /// later), --tls alone also verifies clients: add --tlsverify=false for TLS without
    /// client certificates.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub tls: Option<bool>,
    /// Use TLS and verify the remote: clients must present a certificate signed by
    /// --tlscacert (given at all, even =false, it turns TLS on).
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub tlsverify: Option<bool>,
    /// Trust client certificates signed only by this CA [default: ~/.docker/ca.pem, or
    /// $DOCKER_CERT_PATH/ca.pem].
    #[arg(long, value_name = "PATH")]
    pub tlscacert: Option<PathBuf>,
    /// The server's TLS certificate (PEM, chain after it) [default: ~/.docker/cert.pem].
    #[arg(long, value_name = "PATH")]
    pub tlscert: Option<PathBuf>,
    /// The server's TLS key (PEM: PKCS#8, PKCS#1 or SEC1) [default: ~/.docker/key.pem].
    #[arg(long, value_name = "PATH")]
    pub tlskey: Option<PathBuf>,
    /// Group for the unix socket(s), by name or GID [default: docker]. A missing `docker`
    /// group only warns (the socket keeps the daemon's group), as with dockerd; any other
    /// missing group is an error; "" keeps the daemon's group. On Windows: users or groups
    /// (comma-separated) given read/write access to the named pipe(s) besides
    /// Administrators and SYSTEM [default: none].
    #[arg(short = 'G', long = "group", value_name = "GROUP")]
    pub group: Option<String>,
    /// Root of persistent state (containers, logs, containerd's root).
    #[cfg_attr(not(windows), arg(long, default_value = "/var/lib/dockbridge"))]
    // As dockerd's %ProgramData%\docker: a service starts in system32, so never relative.
    #[cfg_attr(windows, arg(long, default_value = r"C:\ProgramData\dockbridge"))]
    pub data_root: PathBuf,
    /// Root of runtime state (FIFOs, containerd's state and socket).
    #[cfg_attr(not(windows), arg(long, default_value = "/run/dockbridge"))]
    #[cfg_attr(
        windows,
        arg(long, default_value = r"C:\ProgramData\dockbridge\exec-root")
    )]
    pub exec_root: PathBuf,
    /// Use an existing containerd instead of starting a private one: a socket path,
    /// unix:///PATH, tcp://HOST:PORT (TLS with --containerd-tlscacert; plain TCP only on
    /// loopback) or, on Windows, npipe:////./pipe/NAME [Windows default with --backend
    /// containerd: npipe:////./pipe/containerd-containerd]. `none`: an HCS-only daemon
    /// (needs --backend hcs) whose images come from `docker load` into its own store; the
    /// default on Windows with --backend hcs.
    #[arg(long, value_name = "ADDRESS")]
    pub containerd: Option<String>,
    /// TLS to a tcp:// containerd: the CA its certificate (`[grpc] tcp_tls_cert`) must be
    /// signed by.
    #[arg(long, value_name = "PATH")]
    pub containerd_tlscacert: Option<PathBuf>,
    /// The client certificate for a tcp:// containerd that verifies clients (`[grpc]
    /// tcp_tls_ca`); with --containerd-tlskey.
    #[arg(long, value_name = "PATH")]
    pub containerd_tlscert: Option<PathBuf>,
    /// The client certificate's key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PATH")]
    pub containerd_tlskey: Option<PathBuf>,
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
    /// Windows: the daemon as a Windows service (dockerd's flags).
    #[cfg(windows)]
    #[command(flatten)]
    pub service: crate::winservice::ServiceFlags,
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
    /// The seccomp profile (Docker's JSON format) for unprivileged containers, or
    /// `unconfined`; default: Docker's own profile where scripts/install-deps.sh puts it
    /// (`/usr/local/share/dockbridge/seccomp/default.json`).
    #[arg(long)]
    pub seccomp_profile: Option<String>,
    /// The largest build context `docker build` may send, in bytes once unpacked (it is
    /// streamed to disk under the data root, never held in memory).
    #[arg(long, default_value_t = 8 << 30)]
    pub max_build_context: u64,
    /// The largest request body read into memory (JSON bodies such as a container create),
    /// in bytes; a larger one is refused with 413. Streamed uploads (`docker load`,
    /// `import`, `cp`, `build`) have their own limits.
    #[arg(long, default_value_t = crate::server::limits::DEFAULT_MAX_REQUEST_BODY)]
    pub max_request_body: usize,
    /// At most this many API requests are worked on at once, the others wait; streams
    /// (attach, exec, events, logs, wait, stats, pull/push/load/save, cp, build) are not
    /// counted. 0: no limit, as dockerd.
    #[arg(long, default_value_t = 0)]
    pub max_concurrent_requests: usize,
    /// Seconds a client may take to send a request head (also how long an idle keep-alive
    /// connection is kept) before it is disconnected; 0: no limit. dockerd: 300.
    #[arg(long, default_value_t = crate::server::limits::DEFAULT_HEADER_READ_TIMEOUT_SECS)]
    pub header_read_timeout: u64,
}

/// The `--containerd` value that runs the daemon without containerd.
pub const NO_CONTAINERD: &str = "none";

#[derive(Debug, thiserror::Error)]
#[error("--containerd none runs without containerd, which only the hcs backend can do: add --backend hcs")]
pub struct HcsOnlyError;

/// Whether the daemon runs HCS-only: `--containerd none`, or on Windows no `--containerd`
/// with the hcs backend (dockbridge starts no private containerd there).
pub fn hcs_only(args: &ServeArgs) -> Result<bool, HcsOnlyError> {
    let only = match args.containerd.as_deref() {
        Some(NO_CONTAINERD) => true,
        Some(_) => false,
        None => cfg!(windows) && args.backend == "hcs",
    };
    if only && args.backend != "hcs" {
        return Err(HcsOnlyError);
    }
    Ok(only)
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

/// One of the three TLS files, with where its path came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFile {
    /// The flag that names it: `--tlscacert`, `--tlscert` or `--tlskey`.
    pub flag: &'static str,
    pub path: PathBuf,
    /// Not given: dockerd's default under the certificate directory.
    pub defaulted: bool,
}

impl std::fmt::Display for TlsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.defaulted {
            write!(
                f,
                "{} (the default for {}, which was not given)",
                self.path.display(),
                self.flag
            )
        } else {
            write!(f, "{} {}", self.flag, self.path.display())
        }
    }
}

/// What `--tls`, `--tlsverify` and the three paths amount to, by dockerd's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: TlsFile,
    pub key: TlsFile,
    /// The CA client certificates must be signed by; `None`: clients are not asked for a
    /// certificate (`--tlsverify=false`).
    pub client_ca: Option<TlsFile>,
}

impl TlsSettings {
    pub fn verifies_clients(&self) -> bool {
        self.client_ca.is_some()
    }
}

impl ServeArgs {
    /// `--containerd-tls*` as given.
    pub fn containerd_tls(&self) -> crate::containerd::address::TlsFlags {
        crate::containerd::address::TlsFlags {
            ca: self.containerd_tlscacert.clone(),
            cert: self.containerd_tlscert.clone(),
            key: self.containerd_tlskey.clone(),
        }
    }

    /// The TLS settings for tcp:// listeners, `None` when TLS is off. Default paths come
    /// from [`default_cert_dir`] (the environment), as dockerd's do.
    pub fn tls_settings(&self) -> Option<TlsSettings> {
        resolve_tls(
            self.tls,
            self.tlsverify,
            [
                self.tlscacert.as_deref(),
                self.tlscert.as_deref(),
                self.tlskey.as_deref(),
            ],
            &default_cert_dir(),
        )
    }
}

/// dockerd's rules (cmd/dockerd, 20.10 to 28): `--tlsverify` given at all turns TLS on;
/// `--tls` turns it on and, unless `--tlsverify=false` is given too, client
/// verification with it; `--tls=false` alone leaves it off. `[ca, cert, key]` default
/// to `ca.pem`, `cert.pem`, `key.pem` in `cert_dir`.
pub fn resolve_tls(
    tls: Option<bool>,
    tlsverify: Option<bool>,
    [ca, cert, key]: [Option<&std::path::Path>; 3],
    cert_dir: &std::path::Path,
) -> Option<TlsSettings> {
    let on = tlsverify.is_some() || tls == Some(true);
    if !on {
        return None;
    }
    let verify = tlsverify.unwrap_or(true);
    let file = |flag: &'static str, given: Option<&std::path::Path>, name: &str| TlsFile {
        flag,
        path: given.map_or_else(|| cert_dir.join(name), |p| p.to_path_buf()),
        defaulted: given.is_none(),
    };
    Some(TlsSettings {
        cert: file("--tlscert", cert, "cert.pem"),
        key: file("--tlskey", key, "key.pem"),
        client_ca: verify.then(|| file("--tlscacert", ca, "ca.pem")),
    })
}

/// Where dockerd looks for `ca.pem`, `cert.pem` and `key.pem` when the flags are not
/// given: `$DOCKER_CERT_PATH`, else `$DOCKER_CONFIG`, else `~/.docker`.
pub fn default_cert_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("DOCKER_CERT_PATH").or_else(|| var("DOCKER_CONFIG")) {
        return PathBuf::from(dir);
    }
    let home = if cfg!(windows) {
        var("USERPROFILE")
    } else {
        var("HOME")
    };
    home.map(PathBuf::from).unwrap_or_default().join(".docker")
}

/// dockerd's port for `tcp://HOST` without one (with or without TLS: 2376 is only the
/// port of the default host when TLS is on, see [`listen_addrs`]).
pub const DEFAULT_TCP_PORT: u16 = 2375;
/// The default listener with TLS on and no `-H`, as dockerd: `tcp://localhost:2376`.
pub const DEFAULT_TLS_HOST: &str = "tcp://localhost:2376";
pub const DEFAULT_UNIX_HOST: &str = "unix:///run/dockbridge.sock";
/// dockerd's default on Windows (`opts.DefaultHost`).
pub const DEFAULT_NPIPE_HOST: &str = "npipe:////./pipe/docker_engine";
/// The default listener without TLS: the named pipe on Windows, else the unix socket.
pub const DEFAULT_HOST: &str = if cfg!(windows) {
    DEFAULT_NPIPE_HOST
} else {
    DEFAULT_UNIX_HOST
};

/// A parsed `-H` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(std::net::SocketAddr),
    /// A Windows named pipe, as CreateNamedPipe names it: `\\.\pipe\NAME`.
    Npipe(String),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix://{}", p.display()),
            Self::Tcp(sa) => write!(f, "tcp://{sa}"),
            // Back to dockerd's spelling: npipe:////./pipe/NAME.
            Self::Npipe(name) => write!(f, "npipe://{}", name.replace('\\', "/")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AddrError {
    #[error(
        "invalid host {0:?}: expected unix:///path, npipe:////./pipe/NAME or tcp://HOST[:PORT]"
    )]
    Invalid(String),
    #[error("invalid host {0:?}: a named pipe is npipe:////./pipe/NAME (a local pipe, NAME without slashes)")]
    InvalidPipe(String),
    #[error("cannot listen on {0}: named pipes need a Windows host; use unix:///path or tcp://HOST[:PORT]")]
    PipeNeedsWindows(String),
    #[error("invalid host {host:?}: cannot resolve {name:?}: {source}")]
    Resolve {
        host: String,
        name: String,
        source: std::io::Error,
    },
    #[error("refusing to listen on {0} without TLS: a non-loopback TCP address needs TLS (--tlsverify with --tlscacert, --tlscert and --tlskey); use a loopback address or a unix socket")]
    NonLoopback(String),
}

/// The listeners for the `-H` values, as dockerd chooses them: none given means the unix
/// socket, or `tcp://localhost:2376` when TLS is on; duplicates are dropped. A
/// non-loopback TCP address without TLS is refused.
pub fn listen_addrs(hosts: &[String], tls: bool) -> Result<Vec<ListenAddr>, AddrError> {
    let defaults = [if tls { DEFAULT_TLS_HOST } else { DEFAULT_HOST }.to_string()];
    let hosts = if hosts.is_empty() {
        &defaults[..]
    } else {
        hosts
    };
    let mut out: Vec<ListenAddr> = Vec::new();
    for h in hosts {
        let addr = ListenAddr::parse(h)?;
        if let ListenAddr::Tcp(sa) = &addr {
            if !tls && !sa.ip().is_loopback() {
                return Err(AddrError::NonLoopback(addr.to_string()));
            }
        }
        // Refused here, before the daemon starts anything, rather than at bind time.
        if matches!(addr, ListenAddr::Npipe(_)) && !cfg!(windows) {
            return Err(AddrError::PipeNeedsWindows(addr.to_string()));
        }
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(out)
}

impl ListenAddr {
    /// `unix:///path`, `/path`, `tcp://HOST[:PORT]` or `HOST[:PORT]` (tcp, as dockerd);
    /// HOST is an address, `[v6]`, a name (resolved now) or empty (localhost), PORT
    /// defaults to 2375.
    pub fn parse(s: &str) -> Result<Self, AddrError> {
        let s = s.trim();
        if let Some(path) = s.strip_prefix("npipe://") {
            return pipe_name(path)
                .map(Self::Npipe)
                .ok_or_else(|| AddrError::InvalidPipe(s.to_string()));
        }
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Ok(Self::Unix(PathBuf::from("/run/dockbridge.sock")));
            }
            if path.contains("://") {
                return Err(AddrError::Invalid(s.to_string()));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if s.starts_with('/') {
            return Ok(Self::Unix(PathBuf::from(s)));
        }
        let rest = match s.split_once("://") {
            Some(("tcp", rest)) => rest,
            Some(_) => return Err(AddrError::Invalid(s.to_string())),
            None => s,
        };
        let (host, port) =
            split_host_port(rest).ok_or_else(|| AddrError::Invalid(s.to_string()))?;
        resolve_tcp(host, port)
            .map(Self::Tcp)
            .map_err(|source| AddrError::Resolve {
                host: s.to_string(),
                name: host.to_string(),
                source,
            })
    }
}

/// `//./pipe/NAME` (dockerd's spelling; empty means `docker_engine`, as `opts.ParseHost`)
/// → `\\.\pipe\NAME`. Either slash works, as Windows takes both in pipe paths; only local
/// pipes can be served, and NAME has no further separator.
fn pipe_name(path: &str) -> Option<String> {
    let path = if path.is_empty() {
        "//./pipe/docker_engine"
    } else {
        path
    };
    let path = path.replace('/', "\\");
    let name = path.strip_prefix("\\\\.\\pipe\\")?;
    (!name.is_empty() && !name.contains('\\') && !name.contains(char::is_control))
        .then(|| format!("\\\\.\\pipe\\{name}"))
}

/// Splits `HOST[:PORT]` as Go's `net.SplitHostPort` with dockerd's defaults; `None` for
/// what dockerd refuses (a path, a bad port).
fn split_host_port(s: &str) -> Option<(&str, u16)> {
    if s.contains('/') || s.contains('@') {
        return None;
    }
    let port = |p: &str| -> Option<u16> {
        if p.is_empty() {
            Some(DEFAULT_TCP_PORT)
        } else {
            p.parse().ok()
        }
    };
    if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return match after {
            "" => Some((host, DEFAULT_TCP_PORT)),
            _ => Some((host, port(after.strip_prefix(':')?)?)),
        };
    }
    // A bare IPv6 address (Go joins it with the default port).
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some((s, DEFAULT_TCP_PORT));
    }
    match s.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => None,
        Some((host, p)) => Some((host, port(p)?)),
        None => Some((s, DEFAULT_TCP_PORT)),
    }
}

fn resolve_tcp(host: &str, port: u16) -> std::io::Result<std::net::SocketAddr> {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
    if host.is_empty() || host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    // As Go's net.Listen on a name: one of its addresses, IPv4 first.
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

/// Where scripts/install-deps.sh puts Docker's default seccomp profile (taken from
/// Debian's moby source package, for the dockerd version the tests compare with).
pub const DEFAULT_SECCOMP_PROFILE: &str = "/usr/local/share/dockbridge/seccomp/default.json";

/// The daemon's seccomp profile and how `docker info` names it (`default`, the path, or
/// `unconfined`). A profile named by the flag must load; a missing default only warns.
pub fn seccomp_profile(
    flag: Option<&str>,
) -> anyhow::Result<(Option<translate::linux::seccomp::Profile>, String)> {
    use anyhow::Context;
    let load = |path: &str| -> anyhow::Result<translate::linux::seccomp::Profile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the seccomp profile {path}"))?;
        translate::linux::seccomp::parse(&text)
            .with_context(|| format!("loading the seccomp profile {path}"))
    };
    match flag {
        Some("unconfined") => Ok((None, "unconfined".into())),
        Some(path) => Ok((Some(load(path)?), path.to_string())),
        None if std::path::Path::new(DEFAULT_SECCOMP_PROFILE).is_file() => {
            Ok((Some(load(DEFAULT_SECCOMP_PROFILE)?), "default".into()))
        }
        None => {
            tracing::warn!(
                "no seccomp profile at {DEFAULT_SECCOMP_PROFILE} (scripts/install-deps.sh installs Docker's): containers run without a seccomp filter"
            );
            Ok((None, "unconfined".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::path::Path;

    fn tcp(s: &str) -> ListenAddr {
        ListenAddr::Tcp(s.parse::<SocketAddr>().unwrap())
    }

    #[test]
    fn parses_hosts() {
        assert_eq!(
            ListenAddr::parse("unix:///tmp/x.sock").unwrap(),
            ListenAddr::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            ListenAddr::parse("tcp://127.0.0.1:2375").unwrap(),
            tcp("127.0.0.1:2375")
        );
        assert!(ListenAddr::parse("ftp://x").is_err());
        assert!(ListenAddr::parse("unix://tcp://x").is_err());
    }

    #[test]
    fn tcp_hosts_default_as_dockerd_does() {
        for (h, want) in [
            ("tcp://127.0.0.1", "127.0.0.1:2375"),
            ("tcp://127.0.0.1:", "127.0.0.1:2375"),
            ("tcp://localhost", "127.0.0.1:2375"),
            ("tcp://", "127.0.0.1:2375"),
            ("tcp://:2376", "127.0.0.1:2376"),
            ("127.0.0.1:2376", "127.0.0.1:2376"),
            ("tcp://[::1]", "[::1]:2375"),
            ("tcp://[::1]:2376", "[::1]:2376"),
            ("tcp://::1", "[::1]:2375"),
            ("tcp://0.0.0.0:2376", "0.0.0.0:2376"),
        ] {
            assert_eq!(ListenAddr::parse(h).unwrap(), tcp(want), "{h}");
        }
        for bad in [
            "tcp://127.0.0.1:x",
            "tcp://127.0.0.1:70000",
            "tcp://127.0.0.1:2375/path",
            "tcp://[::1",
            "tcp://a:b:c",
        ] {
            assert!(ListenAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listeners_default_by_tls_and_refuse_exposure_without_it() {
        let default = if cfg!(windows) {
            ListenAddr::Npipe(r"\\.\pipe\docker_engine".into())
        } else {
            ListenAddr::Unix("/run/dockbridge.sock".into())
        };
        assert_eq!(listen_addrs(&[], false).unwrap(), [default]);
        assert_eq!(listen_addrs(&[], true).unwrap(), [tcp("127.0.0.1:2376")]);
        let hosts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let err = listen_addrs(&hosts(&["tcp://0.0.0.0:2375"]), false).unwrap_err();
        assert!(matches!(err, AddrError::NonLoopback(_)));
        assert!(err.to_string().contains("needs TLS"), "{err}");
        assert_eq!(
            listen_addrs(&hosts(&["tcp://0.0.0.0:2376"]), true).unwrap(),
            [tcp("0.0.0.0:2376")]
        );
        // Duplicates go, as dockerd drops them.
        assert_eq!(
            listen_addrs(&hosts(&["tcp://127.0.0.1", "127.0.0.1:2375"]), false).unwrap(),
            [tcp("127.0.0.1:2375")]
        );
    }

    #[test]
    fn pipes_parse_as_dockerd_spells_them() {
        let pipe = |s: &str| ListenAddr::Npipe(s.into());
        for (h, want) in [
            ("npipe:////./pipe/docker_engine", r"\\.\pipe\docker_engine"),
            ("npipe://", r"\\.\pipe\docker_engine"),
            (
                r"npipe://\\.\pipe\dockbridge_test",
                r"\\.\pipe\dockbridge_test",
            ),
            ("npipe:////./pipe/with space", r"\\.\pipe\with space"),
        ] {
            assert_eq!(ListenAddr::parse(h).unwrap(), pipe(want), "{h}");
        }
        // Displayed back as dockerd prints it.
        assert_eq!(
            pipe(r"\\.\pipe\docker_engine").to_string(),
            "npipe:////./pipe/docker_engine"
        );
        for bad in [
            "npipe:///pipe/x",
            "npipe:////server/pipe/x",
            "npipe:////./pipe/",
            "npipe:////./pipe/a/b",
            "npipe:////./notpipe/x",
        ] {
            let err = ListenAddr::parse(bad).unwrap_err();
            assert!(matches!(err, AddrError::InvalidPipe(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn pipes_are_refused_off_windows_before_anything_starts() {
        let r = listen_addrs(&["npipe:////./pipe/x".to_string()], false);
        if cfg!(windows) {
            assert_eq!(r.unwrap(), [ListenAddr::Npipe(r"\\.\pipe\x".into())]);
        } else {
            let err = r.unwrap_err().to_string();
            assert_eq!(err, "cannot listen on npipe:////./pipe/x: named pipes need a Windows host; use unix:///path or tcp://HOST[:PORT]");
        }
    }

    fn flags(tls: Option<bool>, verify: Option<bool>) -> Option<TlsSettings> {
        resolve_tls(tls, verify, [None, None, None], Path::new("/certs"))
    }

    #[test]
    fn tls_flags_follow_dockerd() {
        assert_eq!(flags(None, None), None);
        assert_eq!(flags(Some(false), None), None);
        // --tlsverify, even =false, turns TLS on.
        assert!(flags(None, Some(true)).unwrap().verifies_clients());
        assert!(!flags(None, Some(false)).unwrap().verifies_clients());
        assert!(flags(Some(false), Some(true)).unwrap().verifies_clients());
        // --tls alone verifies clients (dockerd 20.10+); =false on --tlsverify does not.
        assert!(flags(Some(true), None).unwrap().verifies_clients());
        assert!(!flags(Some(true), Some(false)).unwrap().verifies_clients());
    }

    #[test]
    fn tls_paths_default_under_the_cert_dir() {
        let s = flags(None, Some(true)).unwrap();
        assert_eq!(s.cert.path, Path::new("/certs/cert.pem"));
        assert_eq!(s.key.path, Path::new("/certs/key.pem"));
        let ca = s.client_ca.unwrap();
        assert_eq!(ca.path, Path::new("/certs/ca.pem"));
        assert!(ca.defaulted);
        assert!(ca.to_string().contains("default for --tlscacert"), "{ca}");
        let s = resolve_tls(
            None,
            Some(true),
            [Some(Path::new("/x/ca")), None, Some(Path::new("/x/k"))],
            Path::new("/certs"),
        )
        .unwrap();
        let ca = s.client_ca.unwrap();
        assert_eq!(
            (ca.path.as_path(), ca.defaulted),
            (Path::new("/x/ca"), false)
        );
        assert_eq!(ca.to_string(), "--tlscacert /x/ca");
        assert_eq!(s.key.path, Path::new("/x/k"));
        assert!(s.cert.defaulted);
    }

    #[test]
    fn serve_flags_parse_as_dockerd_spells_them() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let p = |args: &[&str]| Cli::try_parse_from([&["x"], args].concat()).map(|c| c.serve);
        let a = p(&[
            "--tlsverify",
            "--tlscacert",
            "/c",
            "-H",
            "tcp://0.0.0.0:2376",
        ])
        .unwrap();
        assert_eq!((a.tls, a.tlsverify), (None, Some(true)));
        assert_eq!(a.tlscacert.as_deref(), Some(Path::new("/c")));
        let a = p(&["--tls", "--tlsverify=false"]).unwrap();
        assert_eq!((a.tls, a.tlsverify), (Some(true), Some(false)));
        assert!(!a.tls_settings().unwrap().verifies_clients());
        let a = p(&["--tls=0"]).unwrap();
        assert_eq!(a.tls, Some(false));
        assert!(a.tls_settings().is_none());
        assert!(p(&["--tls=maybe"]).is_err());
        assert!(p(&[]).unwrap().hosts.is_empty());
        #[cfg(unix)]
        {
            assert_eq!(p(&["-G", "staff"]).unwrap().group.as_deref(), Some("staff"));
            assert_eq!(p(&[]).unwrap().group, None);
        }
    }
}
