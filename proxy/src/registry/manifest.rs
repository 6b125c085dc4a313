//! Manifests and indexes as registries serve them, and platform selection.
//!
//! Documents are parsed from their raw bytes and the bytes are kept: a manifest's digest is
//! the SHA-256 of exactly what the registry sent, and re-serialising would change it.
//! Platform matching follows containerd's `platforms` package as dockerd 20.10 uses it
//! (normalised OS/architecture/variant, ARM variants falling back to older ones), plus
//! dockerd's Windows rule (an entry's `os.version` must match the host's build).

use std::fmt;

use serde::{Deserialize, Serialize};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
const OCI_NONDISTRIBUTABLE_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

/// What a pull asks the registry for, best first (the `Accept` header).
pub const ACCEPT: &[&str] = &[
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// Largest manifest or config accepted (distribution's own limit on manifests is 4 MiB).
pub const MAX_DOCUMENT: u64 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("unsupported manifest media type and no default available: {0}")]
    UnsupportedMediaType(String),
    /// Schema 1 was deprecated long before distribution 2.8; dockerd 20.10 still converts
    /// it, dockbridge refuses it with a message that says what to do.
    #[error("image is in the deprecated Docker Image Format v1 (schema 1); push it again with a current client to convert it to schema 2")]
    Schema1,
    #[error("invalid manifest: {0}")]
    Invalid(String),
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoMatch(String),
    #[error("invalid platform {0:?}: {1}")]
    BadPlatform(String, &'static str),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// Foreign (Windows base) and OCI non-distributable layers: never pushed, and fetched
    /// only from where they are.
    pub fn is_foreign(&self) -> bool {
        self.media_type == DOCKER_FOREIGN_LAYER
            || self.media_type.starts_with(OCI_NONDISTRIBUTABLE_PREFIX)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

impl fmt::Display for Platform {
    /// `platforms.Format`: `os/arch[/variant]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: &str) -> Self {
        Self {
            os: os.into(),
            architecture: architecture.into(),
            variant: variant.into(),
            os_version: String::new(),
        }
        .normalized()
    }

    /// The platform this daemon runs containers for (`linux/amd64`).
    pub fn host() -> Self {
        Self::new("linux", std::env::consts::ARCH, "")
    }

    /// `--platform os[/arch[/variant]]` (or just an architecture, as containerd accepts).
    /// A missing architecture is the host's.
    pub fn parse(s: &str) -> Result<Self, ManifestError> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(ManifestError::BadPlatform(
                s.to_string(),
                "expected os[/arch[/variant]]",
            ));
        }
        let host = Self::host();
        let known_os = |o: &str| {
            matches!(
                o.to_ascii_lowercase().as_str(),
                "linux"
                    | "windows"
                    | "darwin"
                    | "macos"
                    | "freebsd"
                    | "netbsd"
                    | "openbsd"
                    | "solaris"
                    | "illumos"
                    | "aix"
                    | "plan9"
                    | "js"
                    | "wasip1"
                    | "android"
                    | "ios"
                    | "dragonfly"
            )
        };
        let p = match parts.as_slice() {
            [one] if known_os(one) => Self::new(one, &host.architecture, ""),
            [one] => Self::new(&host.os, one, ""),
            [os, arch] => Self::new(os, arch, ""),
            [os, arch, variant] => Self::new(os, arch, variant),
            _ => unreachable_platform(),
        };
        if !known_os(&p.os) {
            return Err(ManifestError::BadPlatform(
                s.to_string(),
                "unknown operating system",
            ));
        }
        Ok(p)
    }

    /// containerd's `platforms.Normalize`.
    pub fn normalized(mut self) -> Self {
        self.os = self.os.to_ascii_lowercase();
        if self.os == "macos" {
            self.os = "darwin".into();
        }
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self.variant.to_ascii_lowercase();
        let (arch, variant) = match arch.as_str() {
            "i386" => ("386".to_string(), String::new()),
            "x86_64" | "x86-64" | "amd64" => (
                "amd64".to_string(),
                if variant == "v1" {
                    String::new()
                } else {
                    variant
                },
            ),
            "aarch64" | "arm64" => (
                "arm64".to_string(),
                if variant == "8" || variant == "v8" {
                    String::new()
                } else {
                    variant
                },
            ),
            "armhf" => ("arm".to_string(), "v7".to_string()),
            "armel" => ("arm".to_string(), "v6".to_string()),
            "arm" => (
                "arm".to_string(),
                match variant.as_str() {
                    "" | "7" => "v7".to_string(),
                    "5" | "6" | "8" => format!("v{variant}"),
                    _ => variant,
                },
            ),
            _ => (arch, variant),
        };
        self.architecture = arch;
        self.variant = variant;
        self
    }

    /// Whether an index entry's platform runs here (containerd's `Only` matcher: ARM v7
    /// also runs v6 and v5 images, and so on down).
    pub fn matches(&self, entry: &Platform) -> bool {
        let e = entry.clone().normalized();
        if e.os != self.os || e.architecture != self.architecture {
            return false;
        }
        if e.variant == self.variant {
            return true;
        }
        self.architecture == "arm" && arm_rank(&e.variant) < arm_rank(&self.variant)
    }

    /// How good a match is (lower is better): the exact variant first, then older ARM
    /// variants newest first.
    fn rank(&self, entry: &Platform) -> u32 {
        let e = entry.clone().normalized();
        if e.variant == self.variant {
            0
        } else {
            1 + arm_rank(&self.variant).saturating_sub(arm_rank(&e.variant))
        }
    }
}

fn unreachable_platform() -> Platform {
    // `parse` checks the number of parts first; this keeps the match total without panics.
    Platform::default()
}

fn arm_rank(v: &str) -> u32 {
    v.strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

/// An image manifest (Docker schema 2 or OCI).
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: i64,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// A Docker manifest list or OCI index.
#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

// One short-lived value per manifest read: boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Document {
    Manifest(Manifest),
    Index(Index),
}

/// The media type a document is: the registry's `Content-Type` when it is a known one,
/// else the document's own `mediaType`, else its shape (an OCI manifest may omit both).
pub fn media_type_of(content_type: &str, bytes: &[u8]) -> String {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if ACCEPT.contains(&ct.as_str()) || ct == DOCKER_SCHEMA1 || ct == DOCKER_SCHEMA1_SIGNED {
        return ct;
    }
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType", default)]
        media_type: String,
        #[serde(rename = "schemaVersion", default)]
        schema_version: i64,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let Ok(p) = serde_json::from_slice::<Probe>(bytes) else {
        return ct;
    };
    if !p.media_type.is_empty() {
        return p.media_type;
    }
    if p.schema_version == 1 {
        return DOCKER_SCHEMA1.into();
    }
    if p.manifests.is_some() {
        OCI_INDEX.into()
    } else if p.config.is_some() {
        OCI_MANIFEST.into()
    } else {
        ct
    }
}

/// Parses a manifest or index of the given media type.
pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Document, ManifestError> {
    let invalid = |e: serde_json::Error| ManifestError::Invalid(e.to_string());
    match media_type {
        DOCKER_MANIFEST | OCI_MANIFEST => {
            let m: Manifest = serde_json::from_slice(bytes).map_err(invalid)?;
            if m.schema_version != 2 {
                return Err(ManifestError::Invalid(format!(
                    "unsupported schemaVersion {}",
                    m.schema_version
                )));
            }
            if !m.media_type.is_empty() && m.media_type != media_type {
                return Err(ManifestError::Invalid(format!(
                    "mediaType in manifest should be '{media_type}' not '{}'",
                    m.media_type
                )));
            }
            Ok(Document::Manifest(m))
        }
        DOCKER_MANIFEST_LIST | OCI_INDEX => {
            let i: Index = serde_json::from_slice(bytes).map_err(invalid)?;
            Ok(Document::Index(i))
        }
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => Err(ManifestError::Schema1),
        other => Err(ManifestError::UnsupportedMediaType(other.to_string())),
    }
}

/// The index entry for `want`, as dockerd picks it: attestation manifests are skipped,
/// entries without a platform never match, the best variant wins, and for Windows an
/// entry's `os.version` must be the host build (`host_os_version`, `major.minor.build`)
/// when one is known; among equals, the highest `os.version`, then the first listed.
pub fn select<'a>(
    index: &'a Index,
    want: &Platform,
    host_os_version: Option<&str>,
) -> Result<&'a Descriptor, ManifestError> {
    let mut best: Option<(&Descriptor, u32)> = None;
    for d in &index.manifests {
        let attestation = d
            .annotations
            .as_ref()
            .and_then(|a| a.get("vnd.docker.reference.type"))
            .is_some_and(|t| t == "attestation-manifest");
        let Some(p) = d.platform.as_ref().filter(|_| !attestation) else {
            continue;
        };
        if !want.matches(p) {
            continue;
        }
        if want.os == "windows" {
            if let (Some(host), false) = (host_os_version, p.os_version.is_empty()) {
                if build_prefix(&p.os_version) != build_prefix(host) {
                    continue;
                }
            }
        }
        let rank = want.rank(p);
        let better = match best {
            None => true,
            Some((b, r)) => {
                rank < r
                    || (rank == r
                        && want.os == "windows"
                        && version_key(&p.os_version)
                            > version_key(&b.platform.clone().unwrap_or_default().os_version))
            }
        };
        if better {
            best = Some((d, rank));
        }
    }
    best.map(|(d, _)| d)
        .ok_or_else(|| ManifestError::NoMatch(want.to_string()))
}

/// `10.0.17763.1234` → `10.0.17763`.
fn build_prefix(v: &str) -> String {
    v.split('.').take(3).collect::<Vec<_>>().join(".")
}

fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The warning dockerd 20.10 prints when a single-platform image does not match what was
/// asked for (it keeps the image).
pub fn platform_mismatch_warning(
    reference: &str,
    want: &Platform,
    os: &str,
    arch: &str,
    variant: &str,
) -> Option<String> {
    let actual = Platform::new(os, arch, variant);
    if want.os == actual.os && want.architecture == actual.architecture {
        return None;
    }
    Some(format!(
        "WARNING: image with reference {reference} was found but does not match the specified platform: wanted {want}, actual: {actual}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: &str, digest: &str) -> String {
        format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":1,"platform":{{"os":"{os}","architecture":"{arch}","variant":"{variant}"}}}}"#
        )
    }

    fn index(entries: &[String]) -> Index {
        let raw = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            entries.join(",")
        );
        match parse(OCI_INDEX, raw.as_bytes()).unwrap() {
            Document::Index(i) => i,
            Document::Manifest(_) => panic!("an index"),
        }
    }

    #[test]
    fn platforms_parse_and_normalise() {
        assert_eq!(
            Platform::parse("linux/arm64").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/aarch64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("Windows/AMD64").unwrap().to_string(),
            "windows/amd64"
        );
        assert_eq!(Platform::parse("linux").unwrap(), Platform::host());
        assert_eq!(Platform::parse("arm64").unwrap().to_string(), "linux/arm64");
        assert!(Platform::parse("linux//x").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert!(Platform::parse("nosuchos/amd64").is_err());
    }

    #[test]
    fn selects_by_platform() {
        let i = index(&[
            entry("linux", "amd64", "", "sha256:a"),
            entry("linux", "arm64", "v8", "sha256:b"),
            entry("windows", "amd64", "", "sha256:c"),
            entry("linux", "arm", "v6", "sha256:d"),
            entry("linux", "arm", "v7", "sha256:e"),
        ]);
        let pick =
            |p: &str| select(&i, &Platform::parse(p).unwrap(), None).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64").unwrap(), "sha256:a");
        assert_eq!(pick("linux/arm64").unwrap(), "sha256:b");
        assert_eq!(pick("windows/amd64").unwrap(), "sha256:c");
        assert_eq!(pick("linux/arm/v7").unwrap(), "sha256:e");
        assert_eq!(pick("linux/arm/v6").unwrap(), "sha256:d");
        assert_eq!(
            pick("linux/s390x").unwrap_err().to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
        // ARM v8 (32-bit) runs v7 images when nothing better is there.
        assert_eq!(pick("linux/arm/v8").unwrap(), "sha256:e");
    }

    #[test]
    fn windows_only_index_on_linux() {
        let i = index(&[entry("windows", "amd64", "", "sha256:c")]);
        let err = select(&i, &Platform::new("linux", "amd64", ""), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no matching manifest for linux/amd64 in the manifest list entries"
        );
    }

    #[test]
    fn windows_os_version_must_match_the_host_build() {
        let raw = format!(
            r#"{{"schemaVersion":2,"manifests":[
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"sha256:old","size":1,"platform":{{"os":"windows","architecture":"amd64","os.version":"10.0.17763.5000"}}}},
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"sha256:new","size":1,"platform":{{"os":"windows","architecture":"amd64","os.version":"10.0.20348.2000"}}}},
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"sha256:newer","size":1,"platform":{{"os":"windows","architecture":"amd64","os.version":"10.0.20348.2100"}}}}]}}"#
        );
        let Document::Index(i) = parse(DOCKER_MANIFEST_LIST, raw.as_bytes()).unwrap() else {
            panic!("an index")
        };
        let w = Platform::new("windows", "amd64", "");
        assert_eq!(
            select(&i, &w, Some("10.0.17763.1")).unwrap().digest,
            "sha256:old"
        );
        assert_eq!(
            select(&i, &w, Some("10.0.20348.1")).unwrap().digest,
            "sha256:newer"
        );
        assert_eq!(select(&i, &w, None).unwrap().digest, "sha256:newer");
        assert!(select(&i, &w, Some("10.0.14393.0")).is_err());
    }

    #[test]
    fn attestations_and_unknown_platforms_are_skipped() {
        let raw = format!(
            r#"{{"schemaVersion":2,"manifests":[
              {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:att","size":1,"annotations":{{"vnd.docker.reference.type":"attestation-manifest"}},"platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:img","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        let Document::Index(i) = parse(OCI_INDEX, raw.as_bytes()).unwrap() else {
            panic!("an index")
        };
        assert_eq!(
            select(&i, &Platform::new("linux", "amd64", ""), None)
                .unwrap()
                .digest,
            "sha256:img"
        );
    }

    #[test]
    fn media_types_and_parsing() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"sha256:l","size":3}]}"#;
        assert_eq!(media_type_of("application/octet-stream", m), OCI_MANIFEST);
        assert_eq!(
            media_type_of(&format!("{DOCKER_MANIFEST}; charset=utf-8"), m),
            DOCKER_MANIFEST
        );
        let Document::Manifest(parsed) = parse(OCI_MANIFEST, m).unwrap() else {
            panic!("a manifest")
        };
        assert_eq!(parsed.layers[0].digest, "sha256:l");
        assert_eq!(
            parse(DOCKER_SCHEMA1_SIGNED, b"{}").unwrap_err(),
            ManifestError::Schema1
        );
        assert!(matches!(
            parse("text/html", b"<html>"),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
        assert!(parse(
            DOCKER_MANIFEST,
            br#"{"schemaVersion":1,"config":{"digest":"x"}}"#
        )
        .is_err());
        let foreign = Descriptor {
            media_type: DOCKER_FOREIGN_LAYER.into(),
            ..Default::default()
        };
        assert!(foreign.is_foreign());
    }

    #[test]
    fn mismatch_warning() {
        let want = Platform::parse("linux/arm64").unwrap();
        assert_eq!(
            platform_mismatch_warning("127.0.0.1:5055/busybox", &want, "linux", "amd64", "").unwrap(),
            "WARNING: image with reference 127.0.0.1:5055/busybox was found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64"
        );
        assert!(platform_mismatch_warning("x", &want, "linux", "aarch64", "").is_none());
    }
}
