//! Credentials and registry authentication, without any I/O: the `X-Registry-Auth`
//! header and `POST /auth` body, `WWW-Authenticate` challenges, token requests.
//!
//! Secrets never reach a log: [`AuthConfig`]'s `Debug` redacts them, and nothing here
//! writes anywhere.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use serde::Deserialize;

/// Docker's `AuthConfig` (the CLI sends it base64url-encoded in `X-Registry-Auth`, and as
/// the body of `POST /auth`).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
pub struct AuthConfig {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// `base64(username:password)`, what config files store; used when the others are empty.
    #[serde(default)]
    pub auth: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub serveraddress: String,
    /// An OAuth refresh token from an earlier login (`docker login` stores it instead of
    /// the password when the registry issued one).
    #[serde(default)]
    pub identitytoken: String,
    /// A bearer token to send as is.
    #[serde(default)]
    pub registrytoken: String,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &set(&self.password))
            .field("auth", &set(&self.auth))
            .field("serveraddress", &self.serveraddress)
            .field("identitytoken", &set(&self.identitytoken))
            .field("registrytoken", &set(&self.registrytoken))
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("invalid auth configuration: {0}")]
    Invalid(String),
}

impl AuthConfig {
    /// Decodes `X-Registry-Auth`. dockerd 20.10 treats an undecodable header as no
    /// credentials ("to increase compatibility"); so does this. Both base64 alphabets,
    /// padded or not, are accepted: clients differ.
    pub fn from_header(value: &str) -> Self {
        let value = value.trim();
        if value.is_empty() {
            return Self::default();
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        engines
            .iter()
            .find_map(|e| e.decode(value).ok())
            .and_then(|json| serde_json::from_slice::<Self>(&json).ok())
            .map(Self::normalized)
            .unwrap_or_default()
    }

    /// Parses a `POST /auth` body.
    pub fn from_json(body: &[u8]) -> Result<Self, AuthError> {
        serde_json::from_slice::<Self>(body)
            .map(Self::normalized)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }

    /// Fills username/password from `auth` when only that was given.
    fn normalized(mut self) -> Self {
        if self.username.is_empty() && self.password.is_empty() && !self.auth.is_empty() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(self.auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            if let Some((u, p)) = decoded.as_deref().and_then(|s| s.split_once(':')) {
                self.username = u.to_string();
                self.password = p.to_string();
            }
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identitytoken.is_empty()
            && self.registrytoken.is_empty()
    }

    /// `Authorization: Basic …` for these credentials, if there is a user name.
    pub fn basic(&self) -> Option<String> {
        (!self.username.is_empty()).then(|| {
            let raw = format!("{}:{}", self.username, self.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        })
    }
}

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-cased: `basic`, `bearer`.
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }
}

/// Parses `WWW-Authenticate` (RFC 7235): challenges separated by commas, each a scheme
/// followed by `key=value` or `key="quoted \" value"` pairs.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let token_end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        if token_end == 0 {
            break;
        }
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start_matches([' ', '\t']);
        if let Some(value_part) = after.strip_prefix('=') {
            // A parameter of the current challenge.
            let value_part = value_part.trim_start_matches([' ', '\t']);
            let (value, remaining) = if let Some(q) = value_part.strip_prefix('"') {
                read_quoted(q)
            } else {
                let end = value_part
                    .find([',', ' ', '\t'])
                    .unwrap_or(value_part.len());
                (value_part[..end].to_string(), &value_part[end..])
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(token.to_ascii_lowercase(), value);
            }
            rest = remaining;
        } else {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
            rest = after;
        }
    }
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A quoted string after its opening quote: the unescaped value and what follows it.
fn read_quoted(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    value.push(n);
                }
            }
            '"' => return (value, &s[i + 1..]),
            _ => value.push(c),
        }
    }
    (value, "")
}

/// `repository:library/busybox:pull,push`.
pub fn repository_scope(path: &str, actions: &[&str]) -> String {
    format!("repository:{path}:{}", actions.join(","))
}

/// The token endpoint URL for a bearer challenge: `realm?service=…&scope=…`. For OAuth
/// refresh tokens the same parameters go in a form body instead (see [`oauth_form`]).
pub fn token_url(challenge: &Challenge, scopes: &[String]) -> Option<String> {
    let realm = challenge.param("realm")?;
    let mut url = realm.to_string();
    let mut sep = if realm.contains('?') { '&' } else { '?' };
    if let Some(service) = challenge.param("service") {
        url.push(sep);
        url.push_str("service=");
        url.push_str(&percent_encode(service));
        sep = '&';
    }
    for s in scopes {
        url.push(sep);
        url.push_str("scope=");
        url.push_str(&percent_encode(s));
        sep = '&';
    }
    Some(url)
}

/// The form of an OAuth2 refresh-token request (what the distribution client posts when
/// it holds an identity token).
pub fn oauth_form(
    challenge: &Challenge,
    scopes: &[String],
    refresh_token: &str,
) -> Vec<(String, String)> {
    let mut form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), refresh_token.to_string()),
        ("client_id".to_string(), "docker".to_string()),
    ];
    if let Some(s) = challenge.param("service") {
        form.push(("service".into(), s.into()));
    }
    if !scopes.is_empty() {
        form.push(("scope".into(), scopes.join(" ")));
    }
    form
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A token endpoint's answer (`token`, or OAuth's `access_token`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: String,
}

impl TokenResponse {
    pub fn bearer(&self) -> Option<&str> {
        [self.token.as_str(), self.access_token.as_str()]
            .into_iter()
            .find(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE.encode(s);
        let a = AuthConfig::from_header(&enc(
            r#"{"username":"u","password":"p?>x","serveraddress":"127.0.0.1:5000"}"#,
        ));
        assert_eq!((a.username.as_str(), a.password.as_str()), ("u", "p?>x"));
        assert_eq!(a.basic().unwrap(), "Basic dTpwPz54");
        let t = AuthConfig::from_header(&enc(r#"{"identitytoken":"refresh-me"}"#));
        assert_eq!(t.identitytoken, "refresh-me");
        assert!(!t.is_empty());
        // Unpadded and standard alphabets too; garbage is no credentials.
        let unpadded =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"username":"x"}"#);
        assert_eq!(AuthConfig::from_header(&unpadded).username, "x");
        assert!(AuthConfig::from_header("e30=").is_empty());
        assert!(AuthConfig::from_header("!!!").is_empty());
        assert!(AuthConfig::from_header("").is_empty());
        // `auth` alone is user:password.
        let b = AuthConfig::from_json(br#"{"auth":"dXNlcjpzZWNyZXQ="}"#).unwrap();
        assert_eq!(
            (b.username.as_str(), b.password.as_str()),
            ("user", "secret")
        );
        assert!(AuthConfig::from_json(b"nope").is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let a = AuthConfig {
            username: "u".into(),
            password: "hunter2".into(),
            identitytoken: "tok".into(),
            ..Default::default()
        };
        let s = format!("{a:?}");
        assert!(!s.contains("hunter2") && !s.contains("tok\""), "{s}");
    }

    #[test]
    fn challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("scope"), Some("repository:library/busybox:pull"));
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
        let c =
            parse_challenges(r#"Basic realm="a \"q\", b", Bearer realm=x, error=invalid_token"#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("realm"), Some(r#"a "q", b"#));
        assert_eq!(c[1].param("realm"), Some("x"));
        assert_eq!(c[1].param("error"), Some("invalid_token"));
        assert!(parse_challenges("").is_empty());
    }

    #[test]
    fn token_requests() {
        let c = &parse_challenges(r#"Bearer realm="https://a/token?x=1",service="reg svc""#)[0];
        let scopes = vec![repository_scope("library/busybox", &["pull", "push"])];
        assert_eq!(
            token_url(c, &scopes).unwrap(),
            "https://a/token?x=1&service=reg%20svc&scope=repository%3Alibrary%2Fbusybox%3Apull%2Cpush"
        );
        let form = oauth_form(c, &scopes, "rt");
        assert!(form.contains(&("grant_type".into(), "refresh_token".into())));
        assert!(form.contains(&("service".into(), "reg svc".into())));
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"abc"}"#).unwrap();
        assert_eq!(t.bearer(), Some("abc"));
    }
}
