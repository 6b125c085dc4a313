//! Which URLs a registry name stands for, and how to reach them, as dockerd decides:
//! `docker.io` is `registry-1.docker.io` (after any `--registry-mirror`), HTTPS always,
//! plain HTTP as a fallback only for insecure registries: loopback addresses (dockerd's
//! default insecure range is 127.0.0.0/8) and those named by `--insecure-registry`
//! (`host:port`, `host`, or a CIDR). Per-registry CAs and client certificates come from
//! `certs.d/HOST[:PORT]/` (`*.crt` CAs, `*.cert` + `*.key` pairs), as dockerd reads them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use spec::reference::DEFAULT_DOMAIN;

/// Where Docker Hub's API is.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";
/// Where dockerd looks for per-registry certificates.
pub const DEFAULT_CERTS_DIR: &str = "/etc/docker/certs.d";

#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// `--insecure-registry` values as given.
    pub insecure: Vec<String>,
    /// `--registry-mirror` URLs (Docker Hub only), tried in order before Docker Hub.
    pub mirrors: Vec<String>,
    /// `certs.d`-style directory.
    pub certs_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`: no trailing slash.
    pub base: String,
    /// The `host[:port]` TLS and certs.d go by.
    pub host: String,
    /// Certificate errors are ignored (an insecure registry over HTTPS, as dockerd does).
    pub skip_verify: bool,
    pub mirror: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("invalid registry mirror {0:?}: expected http(s)://host[:port][/path]")]
    BadMirror(String),
}

impl RegistryConfig {
    pub fn new(
        insecure: &[String],
        mirrors: &[String],
        certs_dir: Option<&Path>,
    ) -> Result<Self, EndpointError> {
        for m in mirrors {
            let rest = m
                .strip_prefix("https://")
                .or_else(|| m.strip_prefix("http://"))
                .ok_or_else(|| EndpointError::BadMirror(m.clone()))?;
            if rest.is_empty() || rest.starts_with('/') {
                return Err(EndpointError::BadMirror(m.clone()));
            }
        }
        Ok(Self {
            insecure: insecure.to_vec(),
            mirrors: mirrors
                .iter()
                .map(|m| m.trim_end_matches('/').to_string())
                .collect(),
            certs_dir: certs_dir
                .map_or_else(|| PathBuf::from(DEFAULT_CERTS_DIR), Path::to_path_buf),
        })
    }

    /// Whether `host` (`host[:port]`) may be spoken to without verified TLS.
    pub fn is_insecure(&self, host: &str) -> bool {
        let name = host_name(host);
        if name == "localhost" {
            return true;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            if ip.is_loopback() {
                return true;
            }
            if self.insecure.iter().any(|c| cidr_contains(c, ip)) {
                return true;
            }
        }
        self.insecure
            .iter()
            .any(|i| i == host || (!i.contains(':') && i == name))
    }

    /// The endpoints to try for a reference's domain, in order.
    pub fn endpoints(&self, domain: &str) -> Vec<Endpoint> {
        let mut out = Vec::new();
        let host = if domain == DEFAULT_DOMAIN || domain == "index.docker.io" {
            for m in &self.mirrors {
                let mhost = m
                    .split_once("://")
                    .map_or(m.as_str(), |(_, r)| r)
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                out.push(Endpoint {
                    base: m.clone(),
                    skip_verify: self.is_insecure(&mhost),
                    host: mhost,
                    mirror: true,
                });
            }
            DOCKER_HUB_HOST.to_string()
        } else {
            domain.to_string()
        };
        let insecure = self.is_insecure(&host);
        out.push(Endpoint {
            base: format!("https://{host}"),
            host: host.clone(),
            skip_verify: insecure,
            mirror: false,
        });
        if insecure {
            out.push(Endpoint {
                base: format!("http://{host}"),
                host,
                skip_verify: insecure,
                mirror: false,
            });
        }
        out
    }

    /// `certs.d/HOST[:PORT]`; hostnames with a port use `:` in the directory name, as on
    /// Linux dockerd.
    pub fn certs_dir_for(&self, host: &str) -> PathBuf {
        self.certs_dir.join(host)
    }
}

/// The name in a `host[:port]` (IPv6 literals in brackets lose them).
pub fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// `10.0.0.0/8` contains `ip`.
fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// The `POST /auth` server address as a registry host: `https://index.docker.io/v1/` and
/// friends are Docker Hub; a URL loses its scheme and path.
pub fn login_domain(serveraddress: &str) -> String {
    let s = serveraddress.trim();
    if s.is_empty() {
        return DEFAULT_DOMAIN.to_string();
    }
    let without_scheme = s.split_once("://").map_or(s, |(_, r)| r);
    let host = without_scheme.split('/').next().unwrap_or_default();
    match host {
        "" | "index.docker.io" | "docker.io" | "registry-1.docker.io" => DEFAULT_DOMAIN.to_string(),
        h => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(insecure: &[&str], mirrors: &[&str]) -> RegistryConfig {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        RegistryConfig::new(&s(insecure), &s(mirrors), Some(Path::new("/certs"))).unwrap()
    }

    #[test]
    fn docker_hub_and_mirrors() {
        let c = cfg(&[], &["https://mirror.example:5000/"]);
        let e = c.endpoints("docker.io");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].base, "https://mirror.example:5000");
        assert!(e[0].mirror);
        assert_eq!(e[1].base, "https://registry-1.docker.io");
        assert!(!e[1].skip_verify);
        assert_eq!(c.endpoints("quay.io").len(), 1);
        assert!(RegistryConfig::new(&[], &["mirror.example".into()], None).is_err());
    }

    #[test]
    fn insecure_rules() {
        let c = cfg(&["10.1.0.0/16", "reg.local:5000", "plain.host"], &[]);
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("127.5.0.1"));
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(c.is_insecure("10.1.2.3:443"));
        assert!(!c.is_insecure("10.2.2.3:443"));
        assert!(c.is_insecure("reg.local:5000"));
        assert!(!c.is_insecure("reg.local:5001"));
        assert!(c.is_insecure("plain.host:8080"));
        assert!(!c.is_insecure("quay.io"));
        let e = c.endpoints("127.0.0.1:5000");
        assert_eq!(
            e.iter().map(|e| e.base.as_str()).collect::<Vec<_>>(),
            ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
        );
        assert_eq!(
            c.certs_dir_for("127.0.0.1:5000"),
            Path::new("/certs/127.0.0.1:5000")
        );
    }

    #[test]
    fn login_addresses() {
        assert_eq!(login_domain(""), "docker.io");
        assert_eq!(login_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(login_domain("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(login_domain("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(host_name("h:1"), "h");
        assert_eq!(host_name("[::1]:1"), "::1");
    }
}
