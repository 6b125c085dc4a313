//! TLS on tcp:// listeners, as dockerd's `--tls`/`--tlsverify`: the server's certificate
//! and key from PEM files, and, when clients are verified, only client certificates
//! signed by `--tlscacert` (a client without one is refused at the handshake).
//!
//! [`TlsListener`] is one more listener kind for [`crate::server::run`]: it hands the
//! HTTP server finished TLS streams. Handshakes run in tasks of their own, so a client
//! that connects and says nothing holds up no one else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::{TlsFile, TlsSettings};

/// A handshake not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Finished handshakes waiting for the HTTP server to take them.
const ACCEPT_BACKLOG: usize = 64;

/// Each names the file as given or defaulted ([`TlsFile`]'s display).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{file}: {reason}")]
    Read { file: String, reason: String },
    #[error("{0}: no PEM certificate in the file")]
    NoCertificate(String),
    #[error("{0}: no PEM private key in the file (PKCS#8, PKCS#1 or SEC1; encrypted keys are not supported)")]
    NoKey(String),
    #[error("{file}: not a usable CA certificate: {reason}")]
    BadCa { file: String, reason: rustls::Error },
    #[error("client certificate verification with {file}: {reason}")]
    Verifier {
        file: String,
        reason: rustls::server::VerifierBuilderError,
    },
    #[error("{cert} with {key}: {reason}")]
    KeyPair {
        cert: String,
        key: String,
        reason: String,
    },
    #[error("TLS protocol versions: {0}")]
    Protocol(rustls::Error),
}

/// The rustls server configuration for `settings`; every file is read now, so a missing
/// or bad one stops the daemon before it starts anything.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Protocol)?;
    let builder = match &settings.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots.add(cert).map_err(|reason| TlsError::BadCa {
                    file: ca.to_string(),
                    reason,
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|reason| TlsError::Verifier {
                    file: ca.to_string(),
                    reason,
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let chain = read_certs(&settings.cert)?;
    let key = read_key(&settings.key)?;
    // No ALPN, as dockerd: HTTP/1.1, which hijacked streams need.
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::KeyPair {
            cert: settings.cert.to_string(),
            key: settings.key.to_string(),
            reason: match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the key is not the certificate's (its public key differs)".to_string()
                }
                e => e.to_string(),
            },
        })?;
    Ok(Arc::new(config))
}

fn read_certs(file: &TlsFile) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(&file.path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| read_error(file, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(file.to_string()));
    }
    Ok(certs)
}

fn read_key(file: &TlsFile) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(&file.path).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey(file.to_string()),
        e => read_error(file, e),
    })
}

fn read_error(file: &TlsFile, e: rustls_pki_types::pem::Error) -> TlsError {
    let reason = match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        e => format!("bad PEM: {e}"),
    };
    TlsError::Read {
        file: file.to_string(),
        reason,
    }
}

/// A TCP listener that yields TLS streams whose handshake succeeded.
pub struct TlsListener {
    local: SocketAddr,
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, accepted) = mpsc::channel(ACCEPT_BACKLOG);
        let acceptor = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(Self {
            local,
            accepted,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept_loop(
    mut tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        // axum's accept retries on errors itself (and backs off on EMFILE).
        let (stream, peer) = axum::serve::Listener::accept(&mut tcp).await;
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    // The server is gone when this fails; the connection just closes.
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::info!("TLS handshake with {peer} refused: {e}"),
                Err(_) => tracing::info!("TLS handshake with {peer} timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(conn) => conn,
            // Only if the accept loop died; then no connection comes any more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(flag: &'static str, path: &Path) -> TlsFile {
        TlsFile {
            flag,
            path: path.to_path_buf(),
            defaulted: false,
        }
    }

    fn settings(dir: &Path, verify: bool) -> TlsSettings {
        TlsSettings {
            cert: file("--tlscert", &dir.join("cert.pem")),
            key: file("--tlskey", &dir.join("key.pem")),
            client_ca: verify.then(|| file("--tlscacert", &dir.join("ca.pem"))),
        }
    }

    #[test]
    fn missing_files_are_named_with_their_flag() {
        let dir = tempfile::tempdir().unwrap();
        let err = server_config(&settings(dir.path(), true))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--tlscacert "), "{err}");
        assert!(err.contains("ca.pem"), "{err}");
        // Without client verification the CA is not read at all.
        let err = server_config(&settings(dir.path(), false))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--tlscert "), "{err}");
    }

    #[test]
    fn files_without_pem_content_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(dir.path().join(f), "not pem\n").unwrap();
        }
        let err = server_config(&settings(dir.path(), true))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }
}
