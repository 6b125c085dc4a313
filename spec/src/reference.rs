//! Image references as Docker parses, normalises and prints them.
//!
//! This follows `github.com/docker/distribution/reference` as vendored by dockerd 20.10:
//! the grammar (`domain/path:tag@digest`), `ParseNormalizedNamed` (`busybox` →
//! `docker.io/library/busybox`), `ParseAnyReference` (a bare 64-hex ID is a digest),
//! `TagNameOnly` (`:latest` by default), the familiar form shown to users (`busybox:latest`)
//! and `FamiliarMatch` (the glob of `docker images --filter reference=…`). The error
//! messages are Docker's, word for word, because the CLI prints them unchanged.

use std::fmt;

/// The registry an unqualified name belongs to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Accepted on input, never printed: `index.docker.io/x` is `docker.io/x`.
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Single-component Docker Hub names live under `library/`.
const OFFICIAL_REPO: &str = "library";
/// The tag `TagNameOnly` adds.
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_LENGTH_MAX: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    InvalidFormat,
    /// What `ParseNormalizedNamed` says about `Busybox`.
    #[error("invalid reference format: repository name must be lowercase")]
    NormalizedUppercase,
    /// What the plain grammar says when only the case is wrong.
    #[error("repository name must be lowercase")]
    Uppercase,
    #[error("repository name must have at least one component")]
    NameEmpty,
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("invalid tag format")]
    TagInvalid,
    #[error("invalid checksum digest format")]
    DigestFormat,
    #[error("invalid checksum digest length")]
    DigestLength,
    #[error("unsupported digest algorithm")]
    DigestAlgorithm,
    /// `path.Match`'s `ErrBadPattern`, for reference filters.
    #[error("syntax error in pattern")]
    BadPattern,
}

/// A normalised, named reference: the domain is always explicit (`docker.io`), official
/// images carry `library/`, and tag and digest are optional.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// What `ParseAnyReference` yields: an image ID / content digest, or a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyReference {
    /// `sha256:<64 hex>` (a bare 64-hex string is taken as an ID, as Docker does).
    Digest(String),
    Named(Reference),
}

impl Reference {
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The path below the domain (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `docker.io/library/busybox`: domain and path, no tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox`, `user/app`, `quay.io/x/y`: the name as the CLI shows it.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.split_once('/') {
                Some((OFFICIAL_REPO, rest)) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// `busybox:latest`, `busybox@sha256:…`: the whole reference as the CLI shows it.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
    }

    /// `TagNameOnly`: a bare name gets `:latest`; a tag or digest is kept as it is.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// `WithTag(TrimNamed(ref), tag)`: the name with this tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::TagInvalid);
        }
        Ok(Self {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// `name@digest` (`TrimNamed` + `WithDigest`).
    pub fn with_digest(&self, digest: &str) -> Result<Self, ReferenceError> {
        validate_digest(digest)?;
        Ok(Self {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        })
    }

    /// The name alone, without tag or digest.
    pub fn trim(&self) -> Self {
        Self {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form, `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_normalized_named(s)
    }
}

/// `ParseNormalizedNamed` then `TagNameOnly`: `busybox` → `docker.io/library/busybox:latest`.
pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
    Ok(parse_normalized_named(s)?.with_default_tag())
}

/// `ParseNormalizedNamed`: qualifies the name but adds no tag.
pub fn parse_normalized_named(s: &str) -> Result<Reference, ReferenceError> {
    if is_full_hex_id(s) {
        return Err(ReferenceError::HexName(s.to_string()));
    }
    let (domain, remainder) = split_docker_domain(s);
    let remote_name = remainder
        .split_once(':')
        .map_or(remainder.as_str(), |(n, _)| n);
    if remote_name.to_lowercase() != remote_name {
        return Err(ReferenceError::NormalizedUppercase);
    }
    let parsed = parse(&format!("{domain}/{remainder}"))?;
    // The grammar allows a name without a domain; after splitting above there always is one,
    // and the remainder may not itself look like a domain (`docker.io/foo.com/x` is a path).
    let path = parsed
        .name
        .strip_prefix(&format!("{domain}/"))
        .ok_or(ReferenceError::InvalidFormat)?
        .to_string();
    Ok(Reference {
        domain,
        path,
        tag: parsed.tag,
        digest: parsed.digest,
    })
}

/// `ParseAnyReference`: a 64-hex ID or a full digest is a digest; anything else a name.
pub fn parse_any(s: &str) -> Result<AnyReference, ReferenceError> {
    if is_full_hex_id(s) {
        return Ok(AnyReference::Digest(format!("sha256:{s}")));
    }
    if validate_digest(s).is_ok() {
        return Ok(AnyReference::Digest(s.to_string()));
    }
    parse_normalized_named(s).map(AnyReference::Named)
}

/// A 64-character lowercase hex string: an image ID without its `sha256:`.
pub fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Validates `algorithm:hex` as go-digest does (only the sha256/384/512 algorithms).
pub fn validate_digest(s: &str) -> Result<(), ReferenceError> {
    let (alg, hex) = s.split_once(':').ok_or(ReferenceError::DigestFormat)?;
    if alg.is_empty() || hex.is_empty() {
        return Err(ReferenceError::DigestFormat);
    }
    let size = match alg {
        "sha256" => 32,
        "sha384" => 48,
        "sha512" => 64,
        _ if is_digest_algorithm(alg) => return Err(ReferenceError::DigestAlgorithm),
        _ => return Err(ReferenceError::DigestFormat),
    };
    if hex.len() != size * 2 {
        return Err(ReferenceError::DigestLength);
    }
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ReferenceError::DigestFormat);
    }
    Ok(())
}

/// `splitDockerDomain`: the first component is a domain only if it looks like one.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO}/{remainder}");
    }
    (domain, remainder)
}

/// The pieces of a reference matched by the plain grammar.
#[derive(Debug)]
struct Parsed {
    name: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// `reference.Parse`: the anchored grammar, then the length and digest checks.
fn parse(s: &str) -> Result<Parsed, ReferenceError> {
    let Some(parsed) = match_reference(s) else {
        if s.is_empty() {
            return Err(ReferenceError::NameEmpty);
        }
        if match_reference(&s.to_lowercase()).is_some() {
            return Err(ReferenceError::Uppercase);
        }
        return Err(ReferenceError::InvalidFormat);
    };
    if parsed.name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    if let Some(d) = &parsed.digest {
        validate_digest(d)?;
    }
    Ok(parsed)
}

/// `ReferenceRegexp`: `name(:tag)?(@digest)?`, anchored.
fn match_reference(s: &str) -> Option<Parsed> {
    let (left, digest) = match s.split_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        if !is_digest_syntax(d) {
            return None;
        }
    }
    // A ':' after the last '/' can only start a tag (a port is always followed by a path).
    let (name, tag) = match left.rfind(':') {
        Some(i) if !left[i..].contains('/') => (&left[..i], Some(&left[i + 1..])),
        _ => (left, None),
    };
    if let Some(t) = tag {
        if !is_tag(t) {
            return None;
        }
    }
    if !is_name(name) {
        return None;
    }
    Some(Parsed {
        name: name.to_string(),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

/// `NameRegexp`: an optional domain, then one or more path components.
fn is_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    if parts.iter().all(|p| is_path_component(p)) {
        return true;
    }
    parts.len() >= 2 && is_domain(parts[0]) && parts[1..].iter().all(|p| is_path_component(p))
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        // one or more alphanumerics
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // a separator: '.', '_', '__' or a run of '-'
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `DomainRegexp`: dotted components (or a bracketed IPv6 address), an optional port.
fn is_domain(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let (ip, after) = (&rest[..end], &rest[end + 1..]);
        if ip.is_empty() || !ip.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    host.split('.').all(|c| {
        let b = c.as_bytes();
        !b.is_empty()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    })
}

/// `[\w][\w.-]{0,127}`
fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= TAG_LENGTH_MAX
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `DigestRegexp`: `algorithm:hex` with at least 32 hex digits (checked further later).
fn is_digest_syntax(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    is_digest_algorithm(alg) && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*`
fn is_digest_algorithm(alg: &str) -> bool {
    alg.split(['-', '_', '+', '.']).all(|c| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|x| x.is_ascii_alphanumeric())
    })
}

/// `reference.FamiliarMatch`: the glob is tried on the familiar string (`busybox:latest`),
/// then on the familiar name alone (`busybox`).
pub fn familiar_match(pattern: &str, reference: &Reference) -> Result<bool, ReferenceError> {
    if glob_match(pattern, &reference.familiar_string())? {
        return Ok(true);
    }
    glob_match(pattern, &reference.familiar_name())
}

/// Go's `path.Match`: `*` and `?` never match `/`; `[…]` classes with ranges and `^`
/// negation; `\` escapes. A malformed pattern is an error even when it could not match.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, ReferenceError> {
    let p: Vec<char> = pattern.chars().collect();
    validate_glob(&p)?;
    let n: Vec<char> = name.chars().collect();
    Ok(glob_at(&p, &n))
}

fn validate_glob(p: &[char]) -> Result<(), ReferenceError> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(ReferenceError::BadPattern);
                }
                i += 2;
            }
            '[' => {
                let (_, next) = parse_class(p, i, None)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses the class starting at `p[start] == '['`; with `c`, also tells whether it matches.
fn parse_class(p: &[char], start: usize, c: Option<char>) -> Result<(bool, usize), ReferenceError> {
    let mut i = start + 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        match p.get(i) {
            None => return Err(ReferenceError::BadPattern),
            Some(']') if !first => {
                i += 1;
                break;
            }
            _ => {}
        }
        first = false;
        let (lo, next) = class_char(p, i)?;
        i = next;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, next) = class_char(p, i + 1)?;
            hi = h;
            i = next;
        }
        if let Some(c) = c {
            if lo <= c && c <= hi {
                matched = true;
            }
        }
    }
    Ok((matched != negated, i))
}

fn class_char(p: &[char], i: usize) -> Result<(char, usize), ReferenceError> {
    match p.get(i) {
        None | Some('-') | Some(']') => Err(ReferenceError::BadPattern),
        Some('\\') => p
            .get(i + 1)
            .map(|&c| (c, i + 2))
            .ok_or(ReferenceError::BadPattern),
        Some(&c) => Ok((c, i + 1)),
    }
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => {
            // Try every split of the run of non-'/' characters.
            let rest = &p[1..];
            let mut k = 0;
            loop {
                if glob_at(rest, &n[k..]) {
                    return true;
                }
                if k >= n.len() || n[k] == '/' {
                    return false;
                }
                k += 1;
            }
        }
        Some('?') => !n.is_empty() && n[0] != '/' && glob_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some(&c) = n.first() else {
                return false;
            };
            if c == '/' {
                return false;
            }
            match parse_class(p, 0, Some(c)) {
                Ok((true, next)) => glob_at(&p[next..], &n[1..]),
                _ => false,
            }
        }
        Some('\\') => match (p.get(1), n.first()) {
            (Some(a), Some(b)) if a == b => glob_at(&p[2..], &n[1..]),
            _ => false,
        },
        Some(&c) => n.first() == Some(&c) && glob_at(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn norm(s: &str) -> String {
        parse_normalized(s)
            .map(|r| r.to_string())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            norm("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            norm("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("user/app:v1"), "docker.io/user/app:v1");
        assert_eq!(norm("a/b/c:tag"), "docker.io/a/b/c:tag");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("localhost:5000/app:1"), "localhost:5000/app:1");
        assert_eq!(norm("quay.io/coreos/etcd"), "quay.io/coreos/etcd:latest");
        assert_eq!(norm("[::1]:5000/app"), "[::1]:5000/app:latest");
        assert_eq!(norm("Foo/bar"), "Foo/bar:latest");
        let d = format!("busybox@sha256:{HEX}");
        assert_eq!(norm(&d), format!("docker.io/library/busybox@sha256:{HEX}"));
        let td = format!("busybox:1@sha256:{HEX}");
        assert_eq!(
            norm(&td),
            format!("docker.io/library/busybox:1@sha256:{HEX}")
        );
    }

    #[test]
    fn familiar_forms() {
        let r = parse_normalized("busybox").unwrap();
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.familiar_string(), "busybox:latest");
        assert_eq!(r.name(), "docker.io/library/busybox");
        let r = parse_normalized("docker.io/library/x/y:1").unwrap();
        assert_eq!(r.familiar_string(), "library/x/y:1");
        let r = parse_normalized("user/app").unwrap();
        assert_eq!(r.familiar_string(), "user/app:latest");
        let r = parse_normalized("localhost:5000/app").unwrap();
        assert_eq!(r.familiar_string(), "localhost:5000/app:latest");
        let r = parse_normalized_named("busybox").unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.with_tag("1.0").unwrap().familiar_string(), "busybox:1.0");
        assert_eq!(r.with_tag("-x"), Err(ReferenceError::TagInvalid));
    }

    #[test]
    fn docker_error_messages() {
        let e = |s: &str| parse_normalized(s).unwrap_err().to_string();
        assert_eq!(
            e("Busybox"),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            e("user/App:1"),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(e(""), "invalid reference format");
        assert_eq!(e("busybox:"), "invalid reference format");
        assert_eq!(e("busy box"), "invalid reference format");
        assert_eq!(e("busybox:-1"), "invalid reference format");
        assert_eq!(e("a//b"), "invalid reference format");
        assert_eq!(e("a__-b"), "invalid reference format");
        assert_eq!(e("-a"), "invalid reference format");
        assert_eq!(
            e(HEX),
            format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")
        );
        assert_eq!(
            e(&format!("x@sha256:{}", &HEX[..40])),
            "invalid checksum digest length"
        );
        assert_eq!(e(&format!("x@md5:{HEX}")), "unsupported digest algorithm");
        assert_eq!(
            e(&format!("x@sha256:{}", HEX.to_uppercase())),
            "invalid checksum digest format"
        );
        let long = format!("a/{}", "b".repeat(260));
        assert_eq!(
            e(&long),
            "repository name must not be more than 255 characters"
        );
        let long_tag = format!("a:{}", "t".repeat(129));
        assert_eq!(e(&long_tag), "invalid reference format");
    }

    #[test]
    fn path_components() {
        for ok in [
            "a",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "a1.b2-c3_d4",
            "0",
        ] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", "A", "a.", ".a", "a..b", "a___b", "a._b", "a-", "_a", "a-_b",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn any_reference() {
        assert_eq!(
            parse_any(HEX).unwrap(),
            AnyReference::Digest(format!("sha256:{HEX}"))
        );
        assert_eq!(
            parse_any(&format!("sha256:{HEX}")).unwrap(),
            AnyReference::Digest(format!("sha256:{HEX}"))
        );
        // A short ID is a (valid) name: the image store then searches IDs by prefix.
        match parse_any("e3b0c4").unwrap() {
            AnyReference::Named(r) => assert_eq!(r.to_string(), "docker.io/library/e3b0c4"),
            other => panic!("{other:?}"),
        }
        match parse_any("sha256:e3b0").unwrap() {
            AnyReference::Named(r) => assert_eq!(r.to_string(), "docker.io/library/sha256:e3b0"),
            other => panic!("{other:?}"),
        }
        assert!(parse_any("UPPER").is_err());
    }

    #[test]
    fn globs() {
        let m = |p: &str, n: &str| glob_match(p, n).unwrap();
        assert!(m("busy*", "busybox"));
        assert!(m("*", "busybox"));
        assert!(!m("*", "user/app"));
        assert!(m("*/*", "user/app"));
        assert!(m("busybox:*", "busybox:latest"));
        assert!(m("b?sybox", "busybox"));
        assert!(m("[a-c]usybox", "busybox"));
        assert!(!m("[^a-c]usybox", "busybox"));
        assert!(m("\\*", "*"));
        assert!(m("b*x:l*", "busybox:latest"));
        assert!(!m("bu", "busybox"));
        assert_eq!(glob_match("[", "x"), Err(ReferenceError::BadPattern));
        assert_eq!(glob_match("a\\", "a"), Err(ReferenceError::BadPattern));
        assert_eq!(glob_match("[]", "x"), Err(ReferenceError::BadPattern));
        assert_eq!(glob_match("[]a]", "]"), Err(ReferenceError::BadPattern));
    }

    #[test]
    fn familiar_matching() {
        let r = parse_normalized("busybox:latest").unwrap();
        assert!(familiar_match("busybox", &r).unwrap());
        assert!(familiar_match("busybox:latest", &r).unwrap());
        assert!(familiar_match("busy*", &r).unwrap());
        assert!(!familiar_match("busybox:1", &r).unwrap());
        assert!(!familiar_match("docker.io/library/busybox", &r).unwrap());
        let r = parse_normalized("user/app:v1").unwrap();
        assert!(familiar_match("user/*", &r).unwrap());
        assert!(!familiar_match("*", &r).unwrap());
    }

    #[test]
    fn digests() {
        assert!(validate_digest(&format!("sha256:{HEX}")).is_ok());
        assert_eq!(
            validate_digest("sha256:abc"),
            Err(ReferenceError::DigestLength)
        );
        assert_eq!(
            validate_digest("nocolon"),
            Err(ReferenceError::DigestFormat)
        );
        assert!(is_full_hex_id(HEX));
        assert!(!is_full_hex_id(&HEX[1..]));
    }
}
