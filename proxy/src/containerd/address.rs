//! Where containerd is and how to reach it: `--containerd` and its TLS flags, parsed and
//! checked before anything is dialled (pure; the connectors are in `connect.rs`).
//!
//! containerd serves gRPC on a unix socket (`[grpc] address`), on a named pipe on Windows
//! (`\\.\pipe\containerd-containerd`), and optionally on TCP (`[grpc] tcp_address`, with
//! `tcp_tls_ca`/`tcp_tls_cert`/`tcp_tls_key`). Plain TCP hands the whole host to anyone who
//! can reach the port, so it is accepted only on a loopback address, as for the API's own
//! `-H tcp://` listeners.

use std::net::IpAddr;
use std::path::PathBuf;

/// containerd's own default endpoint on Windows.
pub const WINDOWS_DEFAULT: &str = "npipe:////./pipe/containerd-containerd";

/// The client's TLS files for a `tcp://` containerd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// The CA the server's certificate must chain to (`--containerd-tlscacert`).
    pub ca: PathBuf,
    /// The client certificate and key, for a containerd with `tcp_tls_ca` set (it then
    /// requires one).
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// A parsed `--containerd` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A unix socket path (`/path` or `unix:///path`).
    Unix(PathBuf),
    /// `tcp://HOST:PORT`; `tls` is `None` only for a loopback host.
    Tcp {
        host: String,
        port: u16,
        tls: Option<ClientTls>,
    },
    /// A Windows named pipe, as `\\.\pipe\NAME` (from `npipe:////./pipe/NAME`).
    NamedPipe(String),
}

impl Target {
    /// Whether containerd is reached over the network: then it may be on another host
    /// (see `locality.rs`).
    pub fn is_network(&self) -> bool {
        matches!(self, Target::Tcp { .. })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "unix://{}", p.display()),
            Target::Tcp { host, port, tls } => {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                write!(f, "tcp://{host}:{port}")?;
                if tls.is_some() {
                    write!(f, " (TLS)")?;
                }
                Ok(())
            }
            Target::NamedPipe(name) => write!(f, "npipe://{}", name.replace('\\', "/")),
        }
    }
}

/// The `--containerd-tls*` flags as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFlags {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFlags {
    fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    #[error("invalid --containerd address {0:?}: expected a socket path, unix:///PATH, tcp://HOST:PORT or npipe:////./pipe/NAME")]
    Syntax(String),
    #[error("invalid --containerd address {0:?}: tcp:// needs HOST:PORT (containerd has no default TCP port)")]
    TcpPort(String),
    #[error("refusing to dial containerd at {0} without TLS: a non-loopback TCP address needs TLS (--containerd-tlscacert, and --containerd-tlscert with --containerd-tlskey when containerd sets tcp_tls_ca); use a loopback address or a unix socket")]
    NonLoopback(String),
    #[error("--containerd-tlscacert is required for TLS to containerd at {0} (the CA that signed containerd's tcp_tls_cert)")]
    NoCa(String),
    #[error("--containerd-tlscert and --containerd-tlskey go together")]
    HalfIdentity,
    #[error("--containerd-tls* flags apply only to a tcp:// containerd, not to {0}")]
    TlsWithoutTcp(String),
    #[error("--containerd-tls* flags need --containerd tcp://HOST:PORT (the private containerd is dialled over its unix socket)")]
    TlsWithoutAddress,
    #[error("containerd named pipes (npipe://) exist only on Windows")]
    PipeOffWindows,
}

/// Parses `--containerd` with its TLS flags. `None` (no `--containerd`) is the private
/// containerd on Unix; on Windows it is containerd's default pipe, since dockbridge does
/// not run a private containerd there.
pub fn parse(address: Option<&str>, tls: &TlsFlags) -> Result<Option<Target>, AddressError> {
    let address = match address {
        Some(a) => a,
        None if cfg!(windows) => WINDOWS_DEFAULT,
        None if tls.any() => return Err(AddressError::TlsWithoutAddress),
        None => return Ok(None),
    };
    let target = parse_target(address, tls)?;
    if tls.any() && !target.is_network() {
        return Err(AddressError::TlsWithoutTcp(target.to_string()));
    }
    Ok(Some(target))
}

fn parse_target(address: &str, tls: &TlsFlags) -> Result<Target, AddressError> {
    let syntax = || AddressError::Syntax(address.to_string());
    if let Some(rest) = address.strip_prefix("unix://") {
        if !rest.starts_with('/') {
            return Err(syntax());
        }
        return Ok(Target::Unix(PathBuf::from(rest)));
    }
    if let Some(rest) = address.strip_prefix("npipe://") {
        return pipe_name(rest).ok_or_else(syntax).and_then(pipe_target);
    }
    if address.starts_with(r"\\.\pipe\") {
        return pipe_target(address.to_string());
    }
    if let Some(rest) = address.strip_prefix("tcp://") {
        let (host, port) = split_host_port(rest.trim_end_matches('/'))
            .ok_or_else(|| AddressError::TcpPort(address.to_string()))?;
        let display = Target::Tcp {
            host: host.clone(),
            port,
            tls: None,
        }
        .to_string();
        let tls = if tls.any() {
            let ca = tls.ca.clone().ok_or(AddressError::NoCa(display))?;
            let identity = match (&tls.cert, &tls.key) {
                (Some(c), Some(k)) => Some((c.clone(), k.clone())),
                (None, None) => None,
                _ => return Err(AddressError::HalfIdentity),
            };
            Some(ClientTls { ca, identity })
        } else if is_loopback(&host) {
            None
        } else {
            return Err(AddressError::NonLoopback(display));
        };
        return Ok(Target::Tcp { host, port, tls });
    }
    if address.contains("://") || address.is_empty() {
        return Err(syntax());
    }
    // A bare path, as `--containerd` always took (and as dockerd's `--containerd`).
    Ok(Target::Unix(PathBuf::from(address)))
}

#[cfg(windows)]
fn pipe_target(name: String) -> Result<Target, AddressError> {
    Ok(Target::NamedPipe(name))
}

#[cfg(not(windows))]
fn pipe_target(_: String) -> Result<Target, AddressError> {
    Err(AddressError::PipeOffWindows)
}

/// `//./pipe/NAME` (the part after `npipe://`, slashes either way) → `\\.\pipe\NAME`, as
/// the docker CLI and containerd spell pipe addresses.
pub fn pipe_name(rest: &str) -> Option<String> {
    let rest = rest.replace('/', "\\");
    let name = rest.strip_prefix(r"\\.\pipe\")?;
    (!name.is_empty() && !name.contains('\\')).then(|| format!(r"\\.\pipe\{name}"))
}

/// `HOST:PORT` or `[V6]:PORT`; the port is required.
fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        (host, port)
    } else {
        let (host, port) = s.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    if host.is_empty() || host.contains('/') {
        return None;
    }
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    Some((host.to_string(), port))
}

/// Loopback by address, or the name `localhost` (which resolves only to loopback).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(ca: bool, cert: bool, key: bool) -> TlsFlags {
        TlsFlags {
            ca: ca.then(|| PathBuf::from("/c/ca.pem")),
            cert: cert.then(|| PathBuf::from("/c/cert.pem")),
            key: key.then(|| PathBuf::from("/c/key.pem")),
        }
    }

    fn ok(addr: &str, flags: &TlsFlags) -> Target {
        parse(Some(addr), flags).unwrap().unwrap()
    }

    #[test]
    fn unix_paths_with_and_without_scheme() {
        let none = TlsFlags::default();
        assert_eq!(
            ok("/run/containerd/containerd.sock", &none),
            Target::Unix("/run/containerd/containerd.sock".into())
        );
        assert_eq!(
            ok("unix:///run/c.sock", &none),
            Target::Unix("/run/c.sock".into())
        );
        assert!(matches!(
            parse(Some("unix://relative"), &none),
            Err(AddressError::Syntax(_))
        ));
        assert!(matches!(
            parse(Some("http://x:1"), &none),
            Err(AddressError::Syntax(_))
        ));
    }

    #[test]
    fn plain_tcp_only_on_loopback() {
        let none = TlsFlags::default();
        for (addr, host) in [
            ("tcp://127.0.0.1:1234", "127.0.0.1"),
            ("tcp://localhost:1234", "localhost"),
            ("tcp://[::1]:1234", "::1"),
        ] {
            assert_eq!(
                ok(addr, &none),
                Target::Tcp {
                    host: host.into(),
                    port: 1234,
                    tls: None
                }
            );
        }
        let err = parse(Some("tcp://10.1.2.3:1234"), &none).unwrap_err();
        assert_eq!(err, AddressError::NonLoopback("tcp://10.1.2.3:1234".into()));
        assert!(err.to_string().contains("without TLS"), "{err}");
        assert!(matches!(
            parse(Some("tcp://example.com:1234"), &none),
            Err(AddressError::NonLoopback(_))
        ));
    }

    #[test]
    fn tcp_needs_a_port() {
        let none = TlsFlags::default();
        for addr in [
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:",
            "tcp://127.0.0.1:0",
            "tcp://:1234",
            "tcp://::1:1234",
            "tcp://[nothost]:1",
        ] {
            assert!(
                matches!(parse(Some(addr), &none), Err(AddressError::TcpPort(_))),
                "{addr}"
            );
        }
    }

    #[test]
    fn tls_flags_make_tcp_tls_and_need_a_ca() {
        assert_eq!(
            ok("tcp://10.0.0.2:7443", &tls(true, true, true)),
            Target::Tcp {
                host: "10.0.0.2".into(),
                port: 7443,
                tls: Some(ClientTls {
                    ca: "/c/ca.pem".into(),
                    identity: Some(("/c/cert.pem".into(), "/c/key.pem".into()))
                })
            }
        );
        assert!(matches!(
            ok("tcp://host.example:7443", &tls(true, false, false)),
            Target::Tcp {
                tls: Some(ClientTls { identity: None, .. }),
                ..
            }
        ));
        assert!(matches!(
            parse(Some("tcp://10.0.0.2:7443"), &tls(false, true, true)),
            Err(AddressError::NoCa(_))
        ));
        assert_eq!(
            parse(Some("tcp://10.0.0.2:7443"), &tls(true, true, false)),
            Err(AddressError::HalfIdentity)
        );
    }

    #[test]
    fn tls_flags_without_tcp_are_refused() {
        assert!(matches!(
            parse(Some("/run/c.sock"), &tls(true, false, false)),
            Err(AddressError::TlsWithoutTcp(_))
        ));
        if cfg!(not(windows)) {
            assert_eq!(
                parse(None, &tls(true, false, false)),
                Err(AddressError::TlsWithoutAddress)
            );
            assert_eq!(parse(None, &TlsFlags::default()), Ok(None));
        }
    }

    #[test]
    fn pipe_names_from_npipe_addresses() {
        assert_eq!(
            pipe_name("//./pipe/containerd-containerd").as_deref(),
            Some(r"\\.\pipe\containerd-containerd")
        );
        assert_eq!(pipe_name(r"\\.\pipe\x").as_deref(), Some(r"\\.\pipe\x"));
        assert_eq!(pipe_name("//./pipe/"), None);
        assert_eq!(pipe_name("//./pipe/a/b"), None);
        assert_eq!(pipe_name("/tmp/x"), None);
    }

    #[cfg(windows)]
    #[test]
    fn windows_defaults_to_containerds_pipe() {
        assert_eq!(
            parse(None, &TlsFlags::default()),
            Ok(Some(Target::NamedPipe(
                r"\\.\pipe\containerd-containerd".into()
            )))
        );
        assert_eq!(
            ok("npipe:////./pipe/x", &TlsFlags::default()).to_string(),
            "npipe:////./pipe/x"
        );
    }

    #[cfg(not(windows))]
    #[test]
    fn pipes_are_refused_off_windows() {
        assert_eq!(
            parse(Some("npipe:////./pipe/x"), &TlsFlags::default()),
            Err(AddressError::PipeOffWindows)
        );
    }
}
