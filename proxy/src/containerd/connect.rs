//! gRPC channels to containerd for each kind of [`Target`]: tonic's own unix-socket and
//! plain-TCP transports, and connectors of ours for TLS over TCP (rustls, as containerd's
//! `tcp_tls_*` server side expects) and for Windows named pipes (tonic has no npipe
//! transport).
//!
//! Every channel is lazy (containerd may still be starting); the TLS files are read here,
//! at start, so a missing or bad file stops the daemon with the flag named rather than
//! failing every later call.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls_pki_types::pem::PemObject;
use tonic::transport::{Channel, Endpoint};

use super::address::{ClientTls, Target};

/// How long one connection attempt may take (TCP + TLS handshake, or the wait for a free
/// pipe instance).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid containerd address {address}: {source}")]
    Uri {
        address: String,
        source: tonic::transport::Error,
    },
    #[error("reading {flag} {path}: {reason}")]
    Read {
        flag: &'static str,
        path: String,
        reason: String,
    },
    #[error("{flag} {path}: no PEM certificate in it")]
    NoCertificate { flag: &'static str, path: String },
    #[error("--containerd-tlscacert {path}: not a usable CA certificate: {source}")]
    BadCa { path: String, source: rustls::Error },
    #[error(
        "--containerd-tlscert and --containerd-tlskey do not make a usable client identity: {0}"
    )]
    Identity(rustls::Error),
    #[error("the TLS protocol versions: {0}")]
    Protocol(rustls::Error),
    #[error("containerd named pipes (npipe://) exist only on Windows")]
    PipeOffWindows,
    #[error("{0:?} is not a valid TLS server name for containerd's certificate")]
    ServerName(String),
}

/// A lazy channel to `target`.
pub fn channel(target: &Target) -> Result<Channel, ConnectError> {
    let uri_err = |source| ConnectError::Uri {
        address: target.to_string(),
        source,
    };
    match target {
        Target::Unix(path) => Ok(Endpoint::from_shared(format!("unix://{}", path.display()))
            .map_err(uri_err)?
            .connect_timeout(CONNECT_TIMEOUT)
            .connect_lazy()),
        Target::Tcp {
            host,
            port,
            tls: None,
        } => Ok(
            Endpoint::from_shared(format!("http://{}", authority(host, *port)))
                .map_err(uri_err)?
                .connect_timeout(CONNECT_TIMEOUT)
                .connect_lazy(),
        ),
        Target::Tcp {
            host,
            port,
            tls: Some(tls),
        } => {
            let config = client_config(tls)?;
            let name = ServerName::try_from(host.clone())
                .map_err(|_| ConnectError::ServerName(host.clone()))?;
            // `http://`: tonic must not try TLS of its own; the connector does it.
            let endpoint = Endpoint::from_shared(format!("http://{}", authority(host, *port)))
                .map_err(uri_err)?
                .connect_timeout(CONNECT_TIMEOUT);
            let (host, port) = (host.clone(), *port);
            Ok(
                endpoint.connect_with_connector_lazy(tower::service_fn(move |_| {
                    let (config, name, host) = (config.clone(), name.clone(), host.clone());
                    async move {
                        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                        tcp.set_nodelay(true)?;
                        let tls = tokio_rustls::TlsConnector::from(config)
                            .connect(name, tcp)
                            .await?;
                        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
                    }
                })),
            )
        }
        #[cfg(windows)]
        Target::NamedPipe(name) => {
            // The URI only fills `:authority`; the connector ignores it.
            let endpoint =
                Endpoint::from_static("http://localhost").connect_timeout(CONNECT_TIMEOUT);
            let name = name.clone();
            Ok(
                endpoint.connect_with_connector_lazy(tower::service_fn(move |_| {
                    let name = name.clone();
                    async move {
                        let pipe = pipe::open(&name, CONNECT_TIMEOUT).await?;
                        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(pipe))
                    }
                })),
            )
        }
        #[cfg(not(windows))]
        Target::NamedPipe(_) => Err(ConnectError::PipeOffWindows),
    }
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// rustls (ring) trusting only `--containerd-tlscacert`, with the client identity when
/// given, speaking HTTP/2 (ALPN `h2`, which grpc-go servers ask for).
fn client_config(tls: &ClientTls) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    let ca_path = tls.ca.display().to_string();
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs("--containerd-tlscacert", &tls.ca)? {
        roots.add(cert).map_err(|source| ConnectError::BadCa {
            path: ca_path.clone(),
            source,
        })?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(ConnectError::Protocol)?
    .with_root_certificates(roots);
    let mut config = match &tls.identity {
        Some((cert, key)) => {
            let chain = read_certs("--containerd-tlscert", cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| ConnectError::Read {
                flag: "--containerd-tlskey",
                path: key.display().to_string(),
                reason: pem_reason(e),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(ConnectError::Identity)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn read_certs(
    flag: &'static str,
    path: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>, ConnectError> {
    let read = |e| ConnectError::Read {
        flag,
        path: path.display().to_string(),
        reason: pem_reason(e),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    if certs.is_empty() {
        return Err(ConnectError::NoCertificate {
            flag,
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

fn pem_reason(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind".into(),
        other => format!("not valid PEM ({other:?})"),
    }
}

/// The full chain of a connection error: tonic's top-level `transport error` says nothing
/// by itself; the TLS or socket reason is in its sources.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

/// Dialling a Windows named pipe: all instances can be busy for a moment (another client
/// just took the free one), which Windows reports as `ERROR_PIPE_BUSY`; retry until a
/// deadline, as containerd's and docker's own (go-winio) dialers do.
#[cfg(windows)]
pub mod pipe {
    use std::time::Duration;

    use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient};
    use tokio::time::{sleep, Instant};

    /// winerror.h: all pipe instances are busy.
    const ERROR_PIPE_BUSY: i32 = 231;

    pub async fn open(name: &str, limit: Duration) -> std::io::Result<NamedPipeClient> {
        let deadline = Instant::now() + limit;
        loop {
            match ClientOptions::new().open(name) {
                Ok(client) => return Ok(client),
                Err(e)
                    if e.raw_os_error() == Some(ERROR_PIPE_BUSY) && Instant::now() < deadline =>
                {
                    sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_are_read_at_start_with_their_flag_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = ClientTls {
            ca: dir.path().join("nope.pem"),
            identity: None,
        };
        let err = client_config(&missing).unwrap_err().to_string();
        assert!(
            err.contains("--containerd-tlscacert") && err.contains("nope.pem"),
            "{err}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem\n").unwrap();
        let err = client_config(&ClientTls {
            ca: junk,
            identity: None,
        })
        .unwrap_err();
        assert!(matches!(err, ConnectError::NoCertificate { .. }), "{err}");
    }

    #[tokio::test]
    async fn unix_and_plain_tcp_channels_are_lazy() {
        // Nothing listens at either: building the channel must not dial.
        channel(&Target::Unix("/nonexistent/containerd.sock".into())).unwrap();
        channel(&Target::Tcp {
            host: "::1".into(),
            port: 9,
            tls: None,
        })
        .unwrap();
    }
}
