//! The HTTP edge: the distribution API over reqwest with rustls (system roots, plus the
//! per-registry CAs of `certs.d`). Everything that decides (which endpoint, which auth,
//! what a manifest says) lives in the pure modules; this file only sends and receives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use super::auth::{self, AuthConfig, Challenge};
use super::endpoint::{Endpoint, RegistryConfig};
use super::error::{self, RegistryError};
use super::manifest;
use super::search;

/// A registry that does not answer the TCP handshake fails within this, not after
/// minutes (dockerd dials with 30 s; a local tool should say so sooner).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Small requests (pings, manifests, tokens, HEADs) finish within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// A blob transfer that delivers nothing for this long is dead.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Blobs up to this size are uploaded in one `PUT`; larger ones are streamed in a `PATCH`.
const MONOLITHIC_UPLOAD_MAX: u64 = 1 << 20;

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// The registries this daemon talks to: configuration plus one HTTP client per TLS set-up.
pub struct Registries {
    config: RegistryConfig,
    clients: Mutex<HashMap<(String, bool), reqwest::Client>>,
}

/// A manifest or index as the registry sent it.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: String,
}

impl Registries {
    pub fn new(config: RegistryConfig) -> Self {
        Self {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    fn client(&self, ep: &Endpoint) -> Result<reqwest::Client> {
        let key = (ep.host.clone(), ep.skip_verify);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("dockbridge/", env!("CARGO_PKG_VERSION")))
            // Registries redirect blob reads to storage elsewhere; reqwest drops the
            // Authorization header when the host changes, as Go's client does.
            .redirect(reqwest::redirect::Policy::limited(10))
            // Proxies from the environment would send loopback registries astray.
            .no_proxy();
        if ep.skip_verify {
            // dockerd speaks TLS to an insecure registry without verifying it.
            b = b.danger_accept_invalid_certs(true);
        }
        for (kind, pem) in read_certs_dir(&self.config.certs_dir_for(&ep.host)) {
            match kind {
                CertFile::Ca => {
                    for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                        RegistryError::Other(format!("certs.d CA for {}: {e}", ep.host))
                    })? {
                        b = b.add_root_certificate(cert);
                    }
                }
                CertFile::ClientPair => {
                    let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                        RegistryError::Other(format!(
                            "certs.d client certificate for {}: {e}",
                            ep.host
                        ))
                    })?;
                    b = b.identity(id);
                }
            }
        }
        let c = b
            .build()
            .map_err(|e| RegistryError::Other(format!("HTTP client for {}: {e}", ep.host)))?;
        clients.insert(key, c.clone());
        Ok(c)
    }

    /// Opens a session on `repo` (the path below the domain) of `domain`: the first
    /// endpoint that answers `/v2/` wins, and credentials are exchanged for what the
    /// registry wants (bearer token for `actions`, or basic auth). When no endpoint
    /// answers, the last failure is returned, as dockerd reports it.
    pub async fn session(
        &self,
        domain: &str,
        repo: &str,
        creds: &AuthConfig,
        actions: &[&str],
    ) -> Result<Session> {
        let mut last = None;
        for ep in self.config.endpoints(domain) {
            let client = self.client(&ep)?;
            match ping(&client, &ep).await {
                Ok(challenges) => {
                    let scopes = vec![auth::repository_scope(repo, actions)];
                    let authorization = match authorize(&client, &challenges, creds, &scopes).await
                    {
                        Ok(a) => a,
                        // A mirror that wants credentials we do not have is skipped.
                        Err(e) if ep.mirror => {
                            last = Some(e);
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let no_credentials =
                        authorization.is_none() && challenges.iter().any(|c| c.scheme == "basic");
                    return Ok(Session {
                        client,
                        base: ep.base.clone(),
                        repo: repo.to_string(),
                        authorization,
                        no_credentials,
                    });
                }
                Err(e) => {
                    tracing::debug!(endpoint = %ep.base, "registry ping failed: {e}");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Other(format!("no endpoint for {domain}"))))
    }

    /// `GET /images/search`: the plan's index over its v1 search API. Other registries
    /// are pinged first (`/v1/_ping`; any HTTP answer will do, as dockerd's `validateEndpoint`),
    /// over HTTPS and then, when insecure, HTTP; Docker Hub's index is asked directly.
    pub async fn search(
        &self,
        plan: &search::SearchPlan,
        creds: &AuthConfig,
    ) -> Result<Vec<search::SearchResult>, search::SearchError> {
        let (client, base) = match &plan.index {
            search::Index::DockerHub => {
                let ep = Endpoint {
                    base: search::DOCKER_HUB_INDEX.to_string(),
                    host: "index.docker.io".to_string(),
                    skip_verify: false,
                    mirror: false,
                };
                (self.client(&ep)?, ep.base)
            }
            search::Index::Registry(host) => self.v1_endpoint(host).await?,
        };
        search::check_limit(plan.limit)?;
        let url = search::search_url(&base, &plan.query, plan.limit);
        let mut req = client
            .get(&url)
            .timeout(REQUEST_TIMEOUT)
            .header("X-Docker-Token", "true");
        if let Some(basic) = creds.basic() {
            req = req.header(AUTHORIZATION, basic);
        }
        let resp = req.send().await.map_err(|e| transport("Get", &url, &e))?;
        if resp.status() != StatusCode::OK {
            return Err(search::SearchError::Status(resp.status().as_u16()));
        }
        let body = resp.bytes().await.map_err(|e| transport("Get", &url, &e))?;
        let results: search::SearchResults = serde_json::from_slice(&body)
            .map_err(|e| search::SearchError::Decode(e.to_string()))?;
        Ok(search::filter_results(plan, results.results))
    }

    /// The first of a registry's v1 endpoints that answers its ping.
    async fn v1_endpoint(
        &self,
        host: &str,
    ) -> Result<(reqwest::Client, String), search::SearchError> {
        let mut failures = Vec::new();
        for ep in self.config.endpoints(host) {
            let client = self.client(&ep)?;
            let url = format!("{}/v1/_ping", ep.base);
            match client.get(&url).timeout(REQUEST_TIMEOUT).send().await {
                Ok(_) => return Ok((client, ep.base)),
                Err(e) => failures.push(transport("Get", &url, &e).to_string()),
            }
        }
        Err(search::SearchError::Endpoint(match failures.as_slice() {
            [https, http] => search::insecure_endpoint_error(host, https, http),
            [one] => search::secure_endpoint_error(host, one),
            _ => format!("no endpoint for {host}"),
        }))
    }

    /// `docker login`: checks the credentials against the registry. Returns the identity
    /// token the registry issued, if any.
    pub async fn login(&self, domain: &str, creds: &AuthConfig) -> Result<Option<String>> {
        let mut last = None;
        for ep in self
            .config
            .endpoints(domain)
            .into_iter()
            .filter(|e| !e.mirror)
        {
            let client = self.client(&ep)?;
            let challenges = match ping(&client, &ep).await {
                Ok(c) => c,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            if challenges.is_empty() {
                return Ok(None);
            }
            let authorization = authorize(&client, &challenges, creds, &[]).await?;
            // Basic auth is only checked by asking again with it.
            let url = format!("{}/v2/", ep.base);
            let mut req = client.get(&url).timeout(REQUEST_TIMEOUT);
            if let Some(a) = &authorization {
                req = req.header(AUTHORIZATION, a);
            }
            let resp = req.send().await.map_err(|e| transport("Get", &url, &e))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(None);
            }
            return Err(RegistryError::LoginFailed {
                url,
                status: format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or_default()
                ),
                code: status.as_u16(),
            });
        }
        Err(last.unwrap_or_else(|| RegistryError::Other(format!("no endpoint for {domain}"))))
    }
}

enum CertFile {
    Ca,
    ClientPair,
}

/// `*.crt` files are CAs; `x.cert` with `x.key` is a client certificate (both PEM).
fn read_certs_dir(dir: &std::path::Path) -> Vec<(CertFile, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<std::path::PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                if let Ok(b) = std::fs::read(&p) {
                    out.push((CertFile::Ca, b));
                }
            }
            Some("cert") => {
                let key = p.with_extension("key");
                if let (Ok(mut c), Ok(k)) = (std::fs::read(&p), std::fs::read(&key)) {
                    c.push(b'\n');
                    c.extend_from_slice(&k);
                    out.push((CertFile::ClientPair, c));
                }
            }
            _ => {}
        }
    }
    out
}

/// `GET /v2/`: the challenges of a 401, none for a 200.
async fn ping(client: &reqwest::Client, ep: &Endpoint) -> Result<Vec<Challenge>> {
    let url = format!("{}/v2/", ep.base);
    let resp = client
        .get(&url)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| transport("Get", &url, &e))?;
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED {
        let challenges = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(auth::parse_challenges)
            .collect();
        return Ok(challenges);
    }
    if status.is_success() {
        return Ok(Vec::new());
    }
    let reason = status.canonical_reason().unwrap_or_default().to_string();
    let body = resp.bytes().await.unwrap_or_default();
    Err(error::from_response(
        "Get",
        &url,
        status.as_u16(),
        &reason,
        &body,
    ))
}

/// The `Authorization` value for a session, from the ping's challenges and the caller's
/// credentials.
async fn authorize(
    client: &reqwest::Client,
    challenges: &[Challenge],
    creds: &AuthConfig,
    scopes: &[String],
) -> Result<Option<String>> {
    if !creds.registrytoken.is_empty() {
        return Ok(Some(format!("Bearer {}", creds.registrytoken)));
    }
    if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
        let token = fetch_token(client, bearer, creds, scopes).await?;
        return Ok(Some(format!("Bearer {token}")));
    }
    if challenges.iter().any(|c| c.scheme == "basic") {
        return Ok(creds.basic());
    }
    Ok(None)
}

async fn fetch_token(
    client: &reqwest::Client,
    challenge: &Challenge,
    creds: &AuthConfig,
    scopes: &[String],
) -> Result<String> {
    let realm = challenge
        .param("realm")
        .ok_or_else(|| RegistryError::Other("bearer challenge without a realm".into()))?;
    let (method, resp) = if !creds.identitytoken.is_empty() {
        let form = auth::oauth_form(challenge, scopes, &creds.identitytoken);
        (
            "Post",
            client
                .post(realm)
                .form(&form)
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(|e| transport("Post", realm, &e))?,
        )
    } else {
        let url = auth::token_url(challenge, scopes).unwrap_or_else(|| realm.to_string());
        let mut req = client.get(&url).timeout(REQUEST_TIMEOUT);
        if let Some(b) = creds.basic() {
            req = req.header(AUTHORIZATION, b);
        }
        (
            "Get",
            req.send().await.map_err(|e| transport("Get", &url, &e))?,
        )
    };
    let body = check(resp, method, realm).await?;
    let token: auth::TokenResponse = serde_json::from_slice(&body)
        .map_err(|e| RegistryError::Other(format!("token response from {realm}: {e}")))?;
    token
        .bearer()
        .map(str::to_string)
        .ok_or_else(|| RegistryError::Other(format!("token response from {realm} has no token")))
}

/// The body of a successful answer, or the registry's error.
async fn check(resp: reqwest::Response, method: &'static str, url: &str) -> Result<Bytes> {
    let status = resp.status();
    if status.is_success() {
        return resp.bytes().await.map_err(|e| transport(method, url, &e));
    }
    let reason = status.canonical_reason().unwrap_or_default().to_string();
    let body = resp.bytes().await.unwrap_or_default();
    Err(error::from_response(
        method,
        url,
        status.as_u16(),
        &reason,
        &body,
    ))
}

/// A reqwest failure worded as Go's `url.Error`.
pub fn transport(method: &'static str, url: &str, e: &reqwest::Error) -> RegistryError {
    let mut chain = Vec::new();
    let mut io_kind = None;
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        chain.push(s.to_string());
        src = s.source();
    }
    let host_port = e
        .url()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or_default(),
                u.port_or_known_default().unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let detail = error::transport_detail(
        &host_port,
        io_kind,
        &chain.join(": "),
        e.is_connect(),
        e.is_timeout(),
    );
    RegistryError::Transport {
        method,
        url: url.to_string(),
        detail,
    }
}

/// An open, authenticated conversation with one repository of one registry.
pub struct Session {
    client: reqwest::Client,
    base: String,
    repo: String,
    authorization: Option<String>,
    /// The registry asked for basic auth and there were no credentials: a 401 then reads
    /// as Go's client words it.
    no_credentials: bool,
}

impl Session {
    /// The repository path (`library/busybox`).
    pub fn repo(&self) -> &str {
        &self.repo
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repo)
    }

    /// The error of a non-success answer to this session.
    fn fail(
        &self,
        method: &'static str,
        url: &str,
        status: StatusCode,
        body: &[u8],
    ) -> RegistryError {
        if status == StatusCode::UNAUTHORIZED && self.no_credentials {
            return RegistryError::NoCredentials {
                method,
                url: url.to_string(),
            };
        }
        error::from_response(
            method,
            url,
            status.as_u16(),
            status.canonical_reason().unwrap_or_default(),
            body,
        )
    }

    async fn checked(
        &self,
        resp: reqwest::Response,
        method: &'static str,
        url: &str,
    ) -> Result<Bytes> {
        let status = resp.status();
        if status.is_success() {
            return resp.bytes().await.map_err(|e| transport(method, url, &e));
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(self.fail(method, url, status, &body))
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, url);
        if let Some(a) = &self.authorization {
            r = r.header(AUTHORIZATION, a);
        }
        r
    }

    /// A manifest or index by tag or digest, with its raw bytes. A digest reference is
    /// verified against the bytes.
    pub async fn manifest(&self, reference: &str) -> Result<RawManifest> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self
            .request(Method::GET, &url)
            .header(ACCEPT, manifest::ACCEPT.join(", "))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport("Get", &url, &e))?;
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(self.fail("Get", &url, status, &body));
        }
        let bytes = read_limited(resp, "Get", &url, manifest::MAX_DOCUMENT, "manifest").await?;
        let digest = sha256(&bytes);
        if reference.contains(':') && reference != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: reference.to_string(),
                actual: digest,
            });
        }
        Ok(RawManifest {
            media_type: manifest::media_type_of(&content_type, &bytes),
            bytes,
            digest,
        })
    }

    /// A small blob (a config), read whole and verified.
    pub async fn blob_bytes(&self, digest: &str, size: i64) -> Result<Bytes> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.blob_response(digest, 0).await?;
        let bytes = read_limited(resp, "Get", &url, manifest::MAX_DOCUMENT, "config").await?;
        let actual = sha256(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest.to_string(),
                actual,
            });
        }
        if size > 0 && i64::try_from(bytes.len()).ok() != Some(size) {
            return Err(RegistryError::SizeMismatch {
                what: format!("blob {digest}"),
                expected: u64::try_from(size).unwrap_or(0),
                actual: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// A blob's body, from `offset` on (a resumed download asks for a range; a registry
    /// that ignores it answers 200 and the caller starts over).
    pub async fn blob_response(&self, digest: &str, offset: u64) -> Result<reqwest::Response> {
        let url = self.url(&format!("blobs/{digest}"));
        let mut req = self.request(Method::GET, &url);
        if offset > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        let resp = req.send().await.map_err(|e| transport("Get", &url, &e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(self.fail("Get", &url, status, &body))
    }

    /// Whether the repository has a blob (`HEAD`).
    pub async fn blob_exists(&self, digest: &str) -> Result<bool> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self
            .request(Method::HEAD, &url)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport("Head", &url, &e))?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(self.fail("Head", &url, s, b"")),
        }
    }

    /// Asks the registry to mount a blob from another repository of the same registry;
    /// `false` when it did not (the upload it opened instead is left to expire).
    pub async fn mount_blob(&self, digest: &str, from: &str) -> Result<bool> {
        let url = format!("{}?mount={digest}&from={from}", self.url("blobs/uploads/"));
        let resp = self
            .request(Method::POST, &url)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport("Post", &url, &e))?;
        Ok(resp.status() == StatusCode::CREATED)
    }

    /// Uploads a blob: `POST` opens an upload; a small blob (a config) goes monolithically
    /// in the closing `PUT ?digest=`, a larger one is streamed in a `PATCH` (chunked
    /// transfer encoding, as dockerd uploads layers) and the `PUT` closes it with no body.
    /// The registry checks the digest.
    pub async fn upload_blob(&self, digest: &str, size: u64, body: reqwest::Body) -> Result<()> {
        let start = self.url("blobs/uploads/");
        let resp = self
            .request(Method::POST, &start)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport("Post", &start, &e))?;
        let status = resp.status();
        if status != StatusCode::ACCEPTED {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(self.fail("Post", &start, status, &body));
        }
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                RegistryError::Other(format!("upload of {digest}: no Location in the answer"))
            })?
            .to_string();
        let (location, body, size) = if size > MONOLITHIC_UPLOAD_MAX {
            let patch_url = self.resolve(&location);
            let resp = self
                .request(Method::PATCH, &patch_url)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(body)
                .send()
                .await
                .map_err(|e| transport("Patch", &patch_url, &e))?;
            let status = resp.status();
            if status != StatusCode::ACCEPTED {
                let body = resp.bytes().await.unwrap_or_default();
                return Err(self.fail("Patch", &patch_url, status, &body));
            }
            // The registry may move the upload; without a new Location it stays put.
            let next = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map_or(location, str::to_string);
            (next, reqwest::Body::from(Vec::new()), 0)
        } else {
            (location, body, size)
        };
        let mut put_url = self.resolve(&location);
        put_url.push(if put_url.contains('?') { '&' } else { '?' });
        put_url.push_str("digest=");
        put_url.push_str(digest);
        let resp = self
            .request(Method::PUT, &put_url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body)
            .send()
            .await
            .map_err(|e| transport("Put", &put_url, &e))?;
        self.checked(resp, "Put", &put_url).await.map(|_| ())
    }

    /// `Location` may be relative to the registry.
    fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.base, location)
        }
    }

    /// Puts a manifest under a tag (or digest); returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<String> {
        let url = self.url(&format!("manifests/{reference}"));
        let computed = sha256(&bytes);
        let resp = self
            .request(Method::PUT, &url)
            .header(CONTENT_TYPE, media_type)
            .body(bytes)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport("Put", &url, &e))?;
        let digest = resp
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.checked(resp, "Put", &url).await?;
        Ok(digest.unwrap_or(computed))
    }

    /// Every tag of the repository (following `Link` pagination).
    pub async fn tags(&self) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        let mut url = self.url("tags/list");
        for _ in 0..1000 {
            let resp = self
                .request(Method::GET, &url)
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(|e| transport("Get", &url, &e))?;
            let next = next_link(resp.headers());
            let body = self.checked(resp, "Get", &url).await?;
            let t: Tags = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::Other(format!("tag list of {}: {e}", self.repo)))?;
            out.extend(t.tags.unwrap_or_default());
            match next {
                Some(n) => url = self.resolve(&n),
                None => break,
            }
        }
        Ok(out)
    }
}

/// `Link: </v2/x/tags/list?last=a&n=100>; rel="next"`.
fn next_link(h: &HeaderMap<HeaderValue>) -> Option<String> {
    let v = h.get(reqwest::header::LINK)?.to_str().ok()?;
    let start = v.find('<')? + 1;
    let end = v[start..].find('>')? + start;
    v[end..]
        .contains("rel=\"next\"")
        .then(|| v[start..end].to_string())
}

/// A whole body, refusing more than `max` bytes.
async fn read_limited(
    resp: reqwest::Response,
    method: &'static str,
    url: &str,
    max: u64,
    what: &str,
) -> Result<Bytes> {
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(RegistryError::TooLarge(what.to_string()));
    }
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| transport(method, url, &e))?;
        if (out.len() + chunk.len()) as u64 > max {
            return Err(RegistryError::TooLarge(what.to_string()));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Shared handle: handlers and the image store hold the same registries.
pub type SharedRegistries = Arc<Registries>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_links() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static("</v2/x/tags/list?last=b&n=2>; rel=\"next\""),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/x/tags/list?last=b&n=2"));
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}
