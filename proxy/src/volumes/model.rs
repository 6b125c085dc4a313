//! Which volumes a create request asks for, and the request as the runtime sees it once they
//! are resolved. Pure: the store creates the volumes and the manager keeps the answer.
//!
//! Docker's rules: in `Binds`, a source that is not an absolute path is a volume name
//! (`-v data:/data`); `Mounts` of type `volume` name one (or none: anonymous);
//! `Config.Volumes` (the CLI's `-v /path`) and the image's `VOLUME`s get anonymous volumes
//! unless another mount already covers that destination.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use spec::api::models::{ContainerCreateBody, MountType};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{context}: {message}")]
    Io { context: String, message: String },
}

impl VolumeError {
    pub fn io(context: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Self::Io {
            context: context.into(),
            message: e.to_string(),
        }
    }
}

impl crate::error_kind::Kinded for VolumeError {
    fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind as K;
        match self {
            Self::InvalidParameter(_) => K::InvalidParameter,
            Self::NotFound(_) => K::NotFound,
            Self::Conflict(_) => K::Conflict,
            Self::Io { .. } => K::Internal,
        }
    }
}

/// dockerd's local driver name rule, with its message.
pub fn validate_name(name: &str) -> Result<(), VolumeError> {
    let mut bytes = name.bytes();
    let ok = name.len() >= 2
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::InvalidParameter(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

/// The local driver's options (`-o type=… -o device=… -o o=…`).
pub fn validate_options(opts: &HashMap<String, String>) -> Result<(), VolumeError> {
    for k in opts.keys() {
        if k == "size" {
            // dockerd supports it only on xfs with project quotas.
            return Err(VolumeError::InvalidParameter(
                "quota size requested but no quota support".into(),
            ));
        }
        if !matches!(k.as_str(), "type" | "device" | "o") {
            return Err(VolumeError::InvalidParameter(format!(
                "invalid option: \"{k}\""
            )));
        }
    }
    if opts.contains_key("device") != opts.contains_key("type") && opts.contains_key("device") {
        return Err(VolumeError::InvalidParameter(
            "missing required option: \"type\"".into(),
        ));
    }
    Ok(())
}

/// One volume a container mounts, as the request asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRef {
    /// `None`: a new anonymous volume.
    pub name: Option<String>,
    pub destination: String,
    pub rw: bool,
    /// Copy the image's content at the destination into an empty volume.
    pub copy: bool,
    /// `Mode` as inspect shows it (`z` for named ones, as dockerd 20.10 writes it).
    pub mode: String,
    /// For a volume created by this mount (`--mount … volume-opt=…, volume-label`).
    pub driver_opts: HashMap<String, String>,
    pub labels: HashMap<String, String>,
}

/// A volume mount as the container keeps it (persisted with the record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    pub name: String,
    /// The host directory mounted (`…/volumes/<name>/_data`).
    pub source: String,
    pub destination: String,
    pub rw: bool,
    pub copy: bool,
    pub mode: String,
    /// Created for this container only (`-v /path`, image `VOLUME`): `rm -v` removes it.
    pub anonymous: bool,
}

fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            x => out.push(x),
        }
    }
    format!("/{}", out.join("/"))
}

/// The volumes of `body` (image `VOLUME`s in `image_volumes`), and `body` without them,
/// for validation and translation. Binds with absolute sources, tmpfs and bind mounts stay.
pub fn plan(
    body: &ContainerCreateBody,
    image_volumes: &[String],
) -> Result<(ContainerCreateBody, Vec<VolumeRef>), VolumeError> {
    let mut out = body.clone();
    let mut refs = Vec::new();
    let mut hc = out.host_config.clone().unwrap_or_default();
    let mut binds = Vec::new();
    for raw in hc.binds.clone().unwrap_or_default() {
        let parts: Vec<&str> = raw.splitn(3, ':').collect();
        match parts.as_slice() {
            [src, dst, ..] if !src.is_empty() && !src.starts_with('/') => {
                validate_name(src)?;
                let mode = parts.get(2).copied().unwrap_or("");
                let opts: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
                if let Some(bad) = opts
                    .iter()
                    .find(|o| !matches!(**o, "ro" | "rw" | "z" | "Z" | "nocopy"))
                {
                    return Err(VolumeError::InvalidParameter(format!(
                        "invalid mode: {bad}"
                    )));
                }
                if !dst.starts_with('/') {
                    return Err(VolumeError::InvalidParameter(format!(
                        "invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"
                    )));
                }
                refs.push(VolumeRef {
                    name: Some(src.to_string()),
                    destination: clean(dst),
                    rw: !opts.contains(&"ro"),
                    copy: !opts.contains(&"nocopy"),
                    mode: if mode.is_empty() {
                        "z".into()
                    } else {
                        mode.to_string()
                    },
                    driver_opts: HashMap::new(),
                    labels: HashMap::new(),
                });
            }
            _ => binds.push(raw),
        }
    }
    hc.binds = (!binds.is_empty()).then_some(binds);
    let mut mounts = Vec::new();
    for m in hc.mounts.clone().unwrap_or_default() {
        if m.typ != Some(MountType::VOLUME) {
            mounts.push(m);
            continue;
        }
        let target = m.target.clone().unwrap_or_default();
        if !target.starts_with('/') {
            return Err(VolumeError::InvalidParameter(format!(
                "invalid mount config for type \"volume\": invalid mount path: '{target}' mount path must be absolute"
            )));
        }
        let source = m.source.clone().unwrap_or_default();
        let name = if source.is_empty() {
            None
        } else {
            validate_name(&source)?;
            Some(source)
        };
        let vo = m.volume_options.clone().unwrap_or_default();
        let driver = vo.driver_config.clone().unwrap_or_default();
        if let Some(d) = driver
            .name
            .as_deref()
            .filter(|d| !d.is_empty() && *d != "local")
        {
            return Err(VolumeError::InvalidParameter(format!(
                "volume driver {d:?} is not supported by dockbridge (only \"local\")"
            )));
        }
        let driver_opts = driver.options.clone().unwrap_or_default();
        validate_options(&driver_opts)?;
        refs.push(VolumeRef {
            name,
            destination: clean(&target),
            rw: !m.read_only.unwrap_or(false),
            copy: !vo.no_copy.unwrap_or(false),
            mode: "z".into(),
            driver_opts,
            labels: vo.labels.clone().unwrap_or_default(),
        });
    }
    hc.mounts = (!mounts.is_empty()).then_some(mounts);
    if let Some(d) = hc
        .volume_driver
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "local")
    {
        return Err(VolumeError::InvalidParameter(format!(
            "volume driver {d:?} is not supported by dockbridge (only \"local\")"
        )));
    }
    hc.volume_driver = None;
    // Resolved by the manager from the other containers' records.
    hc.volumes_from = None;
    // Destinations already taken by a bind, tmpfs or named volume get no anonymous volume.
    let mut taken: Vec<String> = refs.iter().map(|r| r.destination.clone()).collect();
    for b in hc.binds.iter().flatten() {
        if let Some(dst) = b.split(':').nth(1) {
            taken.push(clean(dst));
        }
    }
    for m in hc.mounts.iter().flatten() {
        if let Some(t) = &m.target {
            taken.push(clean(t));
        }
    }
    for t in hc.tmpfs.iter().flat_map(|t| t.keys()) {
        taken.push(clean(t));
    }
    let mut anonymous: Vec<String> = out.volumes.take().unwrap_or_default();
    anonymous.extend(image_volumes.iter().cloned());
    for dst in anonymous {
        if !dst.starts_with('/') {
            return Err(VolumeError::InvalidParameter(format!(
                "invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"
            )));
        }
        let dst = clean(&dst);
        if taken.contains(&dst) {
            continue;
        }
        taken.push(dst.clone());
        refs.push(VolumeRef {
            name: None,
            destination: dst,
            rw: true,
            copy: true,
            mode: String::new(),
            driver_opts: HashMap::new(),
            labels: HashMap::new(),
        });
    }
    out.host_config = Some(hc);
    Ok((out, refs))
}

/// `body` as the runtime sees it: each volume becomes a bind of its directory, and the
/// binds taken over from `--volumes-from` containers are added.
pub fn with_volume_binds(
    body: &ContainerCreateBody,
    volumes: &[VolumeMount],
    inherited_binds: &[String],
) -> ContainerCreateBody {
    let mut out = body.clone();
    let mut hc = out.host_config.clone().unwrap_or_default();
    let mut binds = hc.binds.take().unwrap_or_default();
    binds.extend(inherited_binds.iter().cloned());
    binds.extend(volumes.iter().map(|v| {
        format!(
            "{}:{}:{}",
            v.source,
            v.destination,
            if v.rw { "rw" } else { "ro" }
        )
    }));
    hc.binds = (!binds.is_empty()).then_some(binds);
    out.host_config = Some(hc);
    out.volumes = None;
    out
}

/// One `--volumes-from` entry: `container[:ro|rw]`. `None` mode keeps each mount's own.
pub fn parse_volumes_from(entry: &str) -> Result<(&str, Option<bool>), VolumeError> {
    match entry.split_once(':') {
        None => Ok((entry, None)),
        Some((c, "rw")) => Ok((c, Some(true))),
        Some((c, "ro")) => Ok((c, Some(false))),
        Some((_, mode)) => Err(VolumeError::InvalidParameter(format!(
            "invalid mode for volumes-from: {mode}"
        ))),
    }
}

/// Takes over `other`'s volumes and host binds for `--volumes-from` (`rw`: the entry's
/// mode, if it gave one). The volumes are shared, never copied into, and never removed
/// with the new container.
pub fn inherit(
    volumes: &[VolumeMount],
    binds: &[String],
    rw: Option<bool>,
) -> (Vec<VolumeMount>, Vec<String>) {
    let vols = volumes
        .iter()
        .map(|v| VolumeMount {
            rw: rw.unwrap_or(v.rw),
            copy: false,
            anonymous: false,
            ..v.clone()
        })
        .collect();
    let binds = binds
        .iter()
        .filter_map(|b| {
            let parts: Vec<&str> = b.splitn(3, ':').collect();
            let (src, dst) = (parts.first()?, parts.get(1)?);
            if !src.starts_with('/') {
                return None;
            }
            let own_rw = !parts
                .get(2)
                .is_some_and(|m| m.split(',').any(|o| o == "ro"));
            let mode = if rw.unwrap_or(own_rw) { "rw" } else { "ro" };
            Some(format!("{src}:{dst}:{mode}"))
        })
        .collect();
    (vols, binds)
}

/// The anonymous volume name dockerd makes: 64 hex characters.
pub fn anonymous_name() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: serde_json::Value) -> ContainerCreateBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn names_follow_the_local_driver_rule() {
        assert!(validate_name("data").is_ok());
        assert!(validate_name("my_vol-1.x").is_ok());
        for bad in ["a", "bad/name", "../x", "-x", "rel/path", ""] {
            let e = validate_name(bad).unwrap_err();
            assert!(e.to_string().contains("includes invalid characters"), "{e}");
        }
    }

    #[test]
    fn plans_named_anonymous_and_image_volumes() {
        let b = body(serde_json::json!({
            "Volumes": {"/anon": {}},
            "HostConfig": {
                "Binds": ["data:/data", "/host:/h:ro", "ro-vol:/r:ro,nocopy"],
                "Mounts": [
                    {"Type": "volume", "Source": "mv", "Target": "/m", "ReadOnly": true},
                    {"Type": "volume", "Target": "/m-anon"},
                    {"Type": "tmpfs", "Target": "/t"}
                ]
            }
        }));
        let (rest, refs) = plan(&b, &["/img".to_string(), "/data".to_string()]).unwrap();
        let hc = rest.host_config.unwrap();
        assert_eq!(hc.binds.unwrap(), ["/host:/h:ro"]);
        assert_eq!(hc.mounts.unwrap().len(), 1);
        assert!(rest.volumes.is_none());
        let dests: Vec<(&str, Option<&str>, bool, bool)> = refs
            .iter()
            .map(|r| (r.destination.as_str(), r.name.as_deref(), r.rw, r.copy))
            .collect();
        assert_eq!(
            dests,
            [
                ("/data", Some("data"), true, true),
                ("/r", Some("ro-vol"), false, false),
                ("/m", Some("mv"), false, true),
                ("/m-anon", None, true, true),
                ("/anon", None, true, true),
                // The image's /data is already a named volume: no anonymous one.
                ("/img", None, true, true),
            ]
        );
        assert_eq!(refs[0].mode, "z");
        assert_eq!(refs[4].mode, "");
    }

    #[test]
    fn bad_volume_requests() {
        let b = body(serde_json::json!({"HostConfig": {"Binds": ["rel/path:/x"]}}));
        assert!(plan(&b, &[])
            .unwrap_err()
            .to_string()
            .contains("use absolute path"));
        let b = body(serde_json::json!({"HostConfig": {"Binds": ["v1:/x:bogus"]}}));
        assert!(plan(&b, &[]).is_err());
        let b = body(serde_json::json!({"HostConfig": {"Mounts": [
            {"Type": "volume", "Source": "vv", "Target": "/x",
             "VolumeOptions": {"DriverConfig": {"Name": "nfs"}}}
        ]}}));
        assert!(plan(&b, &[]).unwrap_err().to_string().contains("nfs"));
        let mut opts = HashMap::new();
        opts.insert("size".to_string(), "1".to_string());
        assert!(validate_options(&opts).is_err());
    }

    #[test]
    fn volumes_become_binds_for_the_runtime() {
        let b = body(serde_json::json!({"HostConfig": {"Binds": ["/h:/h"]}}));
        let v = VolumeMount {
            name: "data".into(),
            source: "/var/lib/x/volumes/data/_data".into(),
            destination: "/data".into(),
            rw: false,
            copy: true,
            mode: "z".into(),
            anonymous: false,
        };
        let out = with_volume_binds(&b, &[v], &[]);
        assert_eq!(
            out.host_config.unwrap().binds.unwrap(),
            ["/h:/h", "/var/lib/x/volumes/data/_data:/data:ro"]
        );
        assert_eq!(anonymous_name().len(), 64);
    }
}
