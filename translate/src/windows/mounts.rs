//! Mounts of a Windows container: `-v` (`Binds`) parsed by dockerd's Windows rules,
//! `--mount` (`Mounts`), and anonymous volumes for the image's and the request's `Volumes`.
//!
//! Paths keep the case they were given in (dockerd lowercases a whole `-v` spec before
//! parsing it, which Windows' case-insensitive paths mostly forgive, but a case-sensitive
//! directory does not). Whether a bind source exists on the host is the proxy's check.

use std::collections::BTreeSet;

use oci_spec::runtime::Mount;
use spec::api::models::{
    ContainerCreateBody, HostConfig, Mount as ApiMount, MountBindOptionsPropagationEnum, MountType,
};
use spec::image::ContainerConfig;

use super::config::{clean_windows_path, drive_prefix_len};
use super::WindowsContext;
use crate::Error;

/// Where dockerd's `local` volume driver keeps volumes on Windows, used when the context
/// does not say.
pub const DEFAULT_VOLUMES_ROOT: &str = r"C:\ProgramData\docker\volumes";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// A host directory (bind) or a named pipe: the path is used as is.
    Host(String),
    /// A volume; `None` is an anonymous one, which the proxy creates and names.
    Volume {
        name: Option<String>,
        subpath: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    destination: String,
    source: Source,
    read_only: bool,
}

fn is_sep(c: char) -> bool {
    c == '\\' || c == '/'
}

/// Characters allowed in a volume name or a host-directory path component.
fn is_name_char(c: char) -> bool {
    !matches!(
        c,
        '\\' | '/' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '\r' | '\n'
    )
}

/// Characters allowed in a destination path component (dockerd's pattern allows `|`).
fn is_dest_char(c: char) -> bool {
    !matches!(
        c,
        '\\' | '/' | ':' | '*' | '?' | '"' | '<' | '>' | '\r' | '\n'
    )
}

/// `X:` or `\\?\X:` at the start; returns what follows it.
fn after_drive(s: &str) -> Option<&str> {
    let s = s.strip_prefix(r"\\?\").unwrap_or(s);
    drive_prefix_len(s).map(|n| &s[n..])
}

/// Components separated by single separators, each non-empty, optionally ending in one.
fn components_ok(body: &str, ok: fn(char) -> bool) -> bool {
    let parts: Vec<&str> = body.split(is_sep).collect();
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .all(|(i, p)| (!p.is_empty() || i == last) && p.chars().all(ok))
}

/// An absolute host directory: `C:\path\to dir`.
fn is_host_dir(s: &str) -> bool {
    after_drive(s).is_some_and(|rest| {
        let mut chars = rest.chars();
        chars.next().is_some_and(is_sep) && components_ok(chars.as_str(), is_name_char)
    })
}

/// A volume name.
fn is_volume_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_name_char)
}

/// A named pipe path, `\\.\pipe\name` (either slash).
fn is_pipe(s: &str) -> bool {
    let mut chars = s.chars();
    let head_ok = chars.next().is_some_and(is_sep)
        && chars.next().is_some_and(is_sep)
        && chars.next().is_some_and(|c| c != '\n')
        && chars.next().is_some_and(is_sep);
    let rest = chars.as_str();
    head_ok
        && rest
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("pipe"))
        && rest[4..].starts_with(is_sep)
        && rest.len() > 5
        && rest[5..]
            .chars()
            .all(|c| !matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|' | '\r' | '\n'))
}

/// A container path: `C:`, `C:\`, `C:\dir\sub`, or a named pipe.
fn is_destination(s: &str) -> bool {
    if is_pipe(s) {
        return true;
    }
    after_drive(s).is_some_and(|rest| {
        let mut chars = rest.chars();
        match chars.next() {
            None => true,
            Some(c) if is_sep(c) => {
                chars.as_str().is_empty() || components_ok(chars.as_str(), is_dest_char)
            }
            Some(_) => false,
        }
    })
}

fn starts_with_pipe_prefix(s: &str) -> bool {
    s.get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case(r"\\.\pipe\"))
}

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

/// Splits a `-v` spec, `[source:]destination[:mode]`, as dockerd's Windows pattern does:
/// the source is a host directory, a volume name or a pipe; the destination a drive path
/// or a pipe; the mode `ro` or `rw`.
fn split_bind(raw: &str) -> Option<(Option<&str>, &str, Option<&str>)> {
    let mut candidates: Vec<(Option<&str>, &str)> = Vec::new();
    // A host directory source holds one colon (its drive's): it ends at the next one.
    if let Some(rest) = after_drive(raw) {
        if let Some(p) = rest.find(':') {
            let end = raw.len() - rest.len() + p;
            candidates.push((Some(&raw[..end]), &raw[end + 1..]));
        }
    }
    if let Some(p) = raw.find(':') {
        candidates.push((Some(&raw[..p]), &raw[p + 1..]));
    }
    candidates.push((None, raw));
    for (source, rest) in candidates {
        if let Some(src) = source {
            if !(is_host_dir(src) || is_volume_name(src) || is_pipe(src)) {
                continue;
            }
        }
        let mode_start = rest.len().saturating_sub(3);
        if let Some(mode) = rest.get(mode_start..).and_then(|m| m.strip_prefix(':')) {
            if (mode.eq_ignore_ascii_case("ro") || mode.eq_ignore_ascii_case("rw"))
                && is_destination(&rest[..mode_start])
            {
                return Some((source, &rest[..mode_start], Some(mode)));
            }
        }
        if is_destination(rest) {
            return Some((source, rest, None));
        }
    }
    None
}

/// A trailing `\` goes, except from a drive root like `C:\`.
fn trim_trailing_sep(mut p: String) -> String {
    if p.len() > 3 && p.ends_with('\\') {
        p.pop();
    }
    p
}

/// The checks dockerd's Windows parser makes on every mount (`windowsValidators` and the
/// per-type checks of `validateMountConfigReg`), minus the host file-system ones.
fn validate(kind: &str, target: &str, source: &Source, read_only: bool) -> Result<(), String> {
    let config_err = |e: String| format!("invalid mount config for type \"{kind}\": {e}");
    if target.is_empty() {
        return Err(config_err("field Target must not be empty".into()));
    }
    let t = target.replace('/', "\\");
    if t.eq_ignore_ascii_case("c:") || t.eq_ignore_ascii_case(r"c:\") {
        return Err(config_err(format!(
            r"destination path ({}) cannot be 'c:' or 'c:\'",
            t.to_lowercase()
        )));
    }
    if !is_destination(target) {
        return Err(config_err(format!("invalid mount path: '{target}'")));
    }
    match (kind, source) {
        ("bind", Source::Host(src)) => {
            if src.is_empty() {
                return Err(config_err("field Source must not be empty".into()));
            }
            if !is_destination(src) {
                return Err(config_err(format!(
                    "invalid mount path: '{src}' mount path must be absolute"
                )));
            }
        }
        ("npipe", Source::Host(src)) => {
            if src.is_empty() {
                return Err(config_err("field Source must not be empty".into()));
            }
            if read_only {
                return Err(config_err("field ReadOnly must not be specified".into()));
            }
            for p in [src.as_str(), target] {
                if !starts_with_pipe_prefix(&p.replace('/', "\\")) {
                    return Err(config_err(format!("'{p}' is not a valid pipe path")));
                }
            }
        }
        ("volume", Source::Volume { name, subpath }) => {
            if let Some(sub) = subpath {
                if name.is_none() {
                    return Err("must not set Subpath when using anonymous volumes".into());
                }
                if !is_local(sub) {
                    return Err(config_err(
                        "subpath must be a relative path within the volume".into(),
                    ));
                }
            }
            if let Some(name) = name {
                if !is_volume_name(name) {
                    return Err(config_err("invalid volume name".into()));
                }
                if is_reserved_name(name) {
                    return Err(config_err(format!(
                        "volume name \"{name}\" cannot be a reserved word for Windows filenames"
                    )));
                }
            }
        }
        _ => return Err(config_err("mount type unknown".into())),
    }
    Ok(())
}

fn is_reserved_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(n.as_str(), "con" | "prn" | "nul" | "aux")
        || ((n.starts_with("com") || n.starts_with("lpt"))
            && n.len() == 4
            && n.as_bytes()[3].is_ascii_digit()
            && n.as_bytes()[3] != b'0')
}

/// Go's `filepath.IsLocal` on Windows: relative, no drive, and no `..` out of the base.
fn is_local(p: &str) -> bool {
    let p = p.replace('/', "\\");
    if p.is_empty() || p.starts_with('\\') || p.contains(':') {
        return false;
    }
    let cleaned = clean_windows_path(&p);
    cleaned != ".." && !cleaned.starts_with(r"..\")
}

/// One `-v` entry.
fn parse_bind(raw: &str) -> Result<Planned, Error> {
    let invalid = || Error::InvalidParameter(invalid_spec(raw));
    let (source, destination, mode) = split_bind(raw).ok_or_else(invalid)?;
    // dockerd: a destination and a mode without a source is no volume spec.
    if source.is_none() && mode.is_some() {
        return Err(invalid());
    }
    let read_only = mode.is_some_and(|m| m.eq_ignore_ascii_case("ro"));
    let source = source.map(|s| s.replace('/', "\\")).unwrap_or_default();
    let (kind, src) = if source.is_empty() {
        (
            "volume",
            Source::Volume {
                name: None,
                subpath: None,
            },
        )
    } else if starts_with_pipe_prefix(&source) {
        ("npipe", Source::Host(source))
    } else if is_host_dir(&source) {
        ("bind", Source::Host(source))
    } else {
        (
            "volume",
            Source::Volume {
                name: Some(source),
                subpath: None,
            },
        )
    };
    let destination = destination.replace('/', "\\");
    validate(kind, &destination, &src, read_only)
        .map_err(|e| Error::InvalidParameter(format!("{}: {e}", invalid_spec(raw))))?;
    Ok(finish(destination, src, read_only))
}

/// One `--mount` entry.
fn parse_mount(m: &ApiMount) -> Result<Planned, Error> {
    let kind = m.typ.map(|t| t.to_string()).unwrap_or_default();
    let config_err =
        |e: &str| Error::InvalidParameter(format!("invalid mount config for type \"{kind}\": {e}"));
    let exclusive = [
        (
            m.bind_options.is_some() && m.typ != Some(MountType::BIND),
            "BindOptions",
        ),
        (
            m.volume_options.is_some() && m.typ != Some(MountType::VOLUME),
            "VolumeOptions",
        ),
        (
            m.image_options.is_some() && m.typ != Some(MountType::IMAGE),
            "ImageOptions",
        ),
        (
            m.tmpfs_options.is_some() && m.typ != Some(MountType::TMPFS),
            "TmpfsOptions",
        ),
    ];
    if let Some((_, field)) = exclusive.iter().find(|(bad, _)| *bad) {
        return Err(config_err(&format!("field {field} must not be specified")));
    }
    if let Some(p) = m
        .bind_options
        .as_ref()
        .and_then(|b| b.propagation)
        .filter(|p| *p != MountBindOptionsPropagationEnum::EMPTY)
    {
        return Err(config_err(&format!("invalid propagation mode: {p}")));
    }
    let source = m.source.clone().unwrap_or_default().replace('/', "\\");
    let read_only = m.read_only == Some(true);
    let src = match m.typ {
        Some(MountType::BIND | MountType::NPIPE) => Source::Host(source),
        Some(MountType::VOLUME) => {
            let opts = m.volume_options.as_ref();
            if let Some(driver) = opts
                .and_then(|o| o.driver_config.as_ref())
                .and_then(|d| d.name.as_deref())
                .filter(|d| !d.is_empty() && *d != "local")
            {
                return Err(Error::Unsupported(format!(
                    "volume driver {driver:?}: only the local volume driver is supported by dockbridge"
                )));
            }
            Source::Volume {
                name: Some(source).filter(|s| !s.is_empty()),
                subpath: opts
                    .and_then(|o| o.subpath.clone())
                    .filter(|s| !s.is_empty()),
            }
        }
        // Windows has no tmpfs, and dockerd knows no other type there.
        _ => Source::Host(String::new()),
    };
    let target = m.target.clone().unwrap_or_default();
    validate(&kind, &target, &src, read_only).map_err(Error::InvalidParameter)?;
    Ok(finish(target.replace('/', "\\"), src, read_only))
}

fn finish(destination: String, source: Source, read_only: bool) -> Planned {
    let source = match source {
        Source::Host(s) => Source::Host(trim_trailing_sep(s)),
        v => v,
    };
    Planned {
        destination: trim_trailing_sep(destination),
        source,
        read_only,
    }
}

/// Every mount of the container, in dockerd's order of precedence: `Binds`, then `Mounts`
/// (a destination given twice is an error), then an anonymous volume for each `Volumes`
/// entry of the request or the image not already mounted.
fn plan(
    create: &ContainerCreateBody,
    hc: &HostConfig,
    image: &ContainerConfig,
) -> Result<Vec<Planned>, Error> {
    let mut planned: Vec<Planned> = Vec::new();
    let taken = |planned: &[Planned], dest: &str| {
        planned
            .iter()
            .any(|p| p.destination.eq_ignore_ascii_case(dest))
    };
    for raw in hc.binds.iter().flatten() {
        let p = parse_bind(raw)?;
        if taken(&planned, &p.destination) {
            return Err(Error::InvalidParameter(format!(
                "Duplicate mount point: {}",
                p.destination
            )));
        }
        planned.push(p);
    }
    for m in hc.mounts.iter().flatten() {
        let p = parse_mount(m)?;
        if taken(&planned, &p.destination) {
            return Err(Error::InvalidParameter(format!(
                "Duplicate mount point: {}",
                m.target.as_deref().unwrap_or_default()
            )));
        }
        planned.push(p);
    }
    let volumes: BTreeSet<&String> = create
        .volumes
        .iter()
        .flatten()
        .chain(image.volumes.iter().flat_map(|v| v.keys()))
        .collect();
    for spec in volumes {
        let p = parse_bind(spec)
            .map_err(|e| Error::InvalidParameter(format!("Unrecognised volume spec: {e}")))?;
        if taken(&planned, &p.destination) {
            continue;
        }
        planned.push(Planned {
            destination: p.destination,
            source: Source::Volume {
                name: None,
                subpath: None,
            },
            read_only: p.read_only,
        });
    }
    Ok(planned)
}

/// The destinations that need a new anonymous volume, in order: the proxy creates one for
/// each and passes their names in [`WindowsContext::anonymous_volumes`].
pub fn anonymous_volume_targets(
    create: &ContainerCreateBody,
    image: &ContainerConfig,
) -> Result<Vec<String>, Error> {
    let default_hc = HostConfig::default();
    let hc = create.host_config.as_ref().unwrap_or(&default_hc);
    Ok(plan(create, hc, image)?
        .into_iter()
        .filter(|p| matches!(p.source, Source::Volume { name: None, .. }))
        .map(|p| p.destination)
        .collect())
}

/// The spec's `mounts`: host paths as is, volumes at `<volumes root>\<name>\_data`
/// (dockerd's local driver layout), `ro` for read-only ones, shallowest destination first
/// so that no mount hides another.
pub fn spec_mounts(
    create: &ContainerCreateBody,
    hc: &HostConfig,
    image: &ContainerConfig,
    ctx: &WindowsContext,
) -> Result<Vec<Mount>, Error> {
    let root = if ctx.volumes_root.is_empty() {
        DEFAULT_VOLUMES_ROOT
    } else {
        ctx.volumes_root.as_str()
    };
    let root = root.trim_end_matches('\\');
    let mut mounts = Vec::new();
    for p in plan(create, hc, image)? {
        let source = match &p.source {
            Source::Host(s) => s.clone(),
            Source::Volume { name, subpath } => {
                let name = match name {
                    Some(n) => n.clone(),
                    None => ctx
                        .anonymous_volumes
                        .iter()
                        .find(|(dest, _)| dest.eq_ignore_ascii_case(&p.destination))
                        .map(|(_, name)| name.clone())
                        .ok_or_else(|| {
                            super::internal(format!(
                                "no anonymous volume was created for {} (see anonymous_volume_targets)",
                                p.destination
                            ))
                        })?,
                };
                let mut path = format!(r"{root}\{name}\_data");
                if let Some(sub) = subpath {
                    path.push('\\');
                    path.push_str(&clean_windows_path(&sub.replace('/', "\\")));
                }
                path
            }
        };
        let mut m = Mount::default();
        m.set_destination(p.destination.clone().into())
            .set_source(Some(source.into()));
        if p.read_only {
            m.set_options(Some(vec!["ro".to_string()]));
        }
        mounts.push(m);
    }
    // dockerd sorts by the number of separators in the destination; a stable sort keeps
    // equally deep mounts in request order, where dockerd's order is random.
    mounts.sort_by_key(|m| {
        clean_windows_path(&m.destination().to_string_lossy())
            .matches('\\')
            .count()
    });
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(raw: &str) -> Option<(Option<&str>, &str, Option<&str>)> {
        split_bind(raw)
    }

    #[test]
    fn splits_like_dockerds_windows_pattern() {
        // dockerd's own comment example `c:\foo bar:d:rw` does not match its pattern: a
        // mode needs a second colon after a bare drive (`name:D::rW`).
        assert_eq!(split(r"c:\foo bar:d:rw"), None);
        assert_eq!(
            split(r"c:\foo bar:d::rw"),
            Some((Some(r"c:\foo bar"), "d:", Some("rw")))
        );
        assert_eq!(
            split(r"c:\foo:d:\bar"),
            Some((Some(r"c:\foo"), r"d:\bar", None))
        );
        assert_eq!(split("myname:d:"), Some((Some("myname"), "d:", None)));
        assert_eq!(split(r"d:\"), Some((None, r"d:\", None)));
        assert_eq!(
            split(r"C:\Program Files\App:C:\app:RO"),
            Some((Some(r"C:\Program Files\App"), r"C:\app", Some("RO")))
        );
        assert_eq!(
            split(r"\\.\pipe\docker_engine:\\.\pipe\docker_engine"),
            Some((
                Some(r"\\.\pipe\docker_engine"),
                r"\\.\pipe\docker_engine",
                None
            ))
        );
        assert_eq!(split(r"d:c:\foo"), Some((Some("d"), r"c:\foo", None)));
        assert_eq!(
            split(r"\\?\C:\data:C:\data"),
            Some((Some(r"\\?\C:\data"), r"C:\data", None))
        );
        assert_eq!(split("c:/a/b:c:/x/"), Some((Some("c:/a/b"), "c:/x/", None)));
        for bad in [
            "",
            r"c:\x:y",
            r"c:\\double:c:\x",
            r"c:\x:c:\y:zz",
            "/linux:/path",
        ] {
            assert_eq!(split(bad), None, "{bad:?}");
        }
    }

    fn mounts(
        create: serde_json::Value,
        image: serde_json::Value,
        ctx: &WindowsContext,
    ) -> Result<serde_json::Value, Error> {
        let create: ContainerCreateBody = serde_json::from_value(create).unwrap();
        let image: ContainerConfig = serde_json::from_value(image).unwrap();
        let hc = create.host_config.clone().unwrap_or_default();
        Ok(serde_json::to_value(spec_mounts(&create, &hc, &image, ctx)?).unwrap())
    }

    #[test]
    fn binds_mounts_and_volumes() {
        let ctx = WindowsContext {
            volumes_root: r"D:\docker\volumes\".into(),
            anonymous_volumes: [(r"C:\logs".to_string(), "3f2a".to_string())].into(),
            ..Default::default()
        };
        let got = mounts(
            json!({
                "Volumes": {"C:\\logs": {}},
                "HostConfig": {
                    "Binds": [
                        r"C:\Program Files\Data\:C:\data\deep\:ro",
                        r"cache:C:\cache",
                        r"\\.\pipe\docker_engine:\\.\pipe\docker_engine"
                    ],
                    "Mounts": [
                        {"Type": "bind", "Source": "C:/src", "Target": "C:/app/src", "ReadOnly": true},
                        {"Type": "volume", "Source": "shared", "Target": r"C:\shared", "VolumeOptions": {"Subpath": "a/b"}}
                    ]
                }
            }),
            json!({"Volumes": {"C:\\cache": {}, "c:\\LOGS": {}}}),
            &ctx,
        )
        .unwrap();
        assert_eq!(
            got,
            json!([
                {"destination": r"C:\cache", "source": r"D:\docker\volumes\cache\_data"},
                {"destination": r"C:\shared", "source": r"D:\docker\volumes\shared\_data\a\b"},
                {"destination": r"C:\logs", "source": r"D:\docker\volumes\3f2a\_data"},
                {"destination": r"C:\data\deep", "source": r"C:\Program Files\Data", "options": ["ro"]},
                {"destination": r"C:\app\src", "source": r"C:\src", "options": ["ro"]},
                {"destination": r"\\.\pipe\docker_engine", "source": r"\\.\pipe\docker_engine"}
            ])
        );
        let create: ContainerCreateBody = serde_json::from_value(
            json!({"Volumes": {"C:\\logs": {}}, "HostConfig": {"Binds": ["C:\\tmp"]}}),
        )
        .unwrap();
        assert_eq!(
            anonymous_volume_targets(
                &create,
                &serde_json::from_value(json!({"Volumes": {"C:\\tmp": {}}})).unwrap()
            )
            .unwrap(),
            [r"C:\tmp", r"C:\logs"]
        );
    }

    #[test]
    fn mount_errors_read_like_dockerds() {
        let ctx = WindowsContext::default();
        let err = |hc: serde_json::Value| match mounts(json!({"HostConfig": hc}), json!({}), &ctx) {
            Err(Error::InvalidParameter(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err(json!({"Binds": ["/tmp:/tmp"]})),
            "invalid volume specification: '/tmp:/tmp'"
        );
        assert_eq!(
            err(json!({"Binds": [r"C:\x:rw"]})),
            r"invalid volume specification: 'C:\x:rw'"
        );
        assert_eq!(
            err(json!({"Binds": [r"C:\x:C:\"]})),
            r#"invalid volume specification: 'C:\x:C:\': invalid mount config for type "bind": destination path (c:\) cannot be 'c:' or 'c:\'"#
        );
        assert_eq!(
            err(json!({"Binds": [r"con:C:\x"]})),
            r#"invalid volume specification: 'con:C:\x': invalid mount config for type "volume": volume name "con" cannot be a reserved word for Windows filenames"#
        );
        assert_eq!(
            err(json!({"Binds": [r"C:\a:C:\x", r"C:\b:c:\X"]})),
            r"Duplicate mount point: c:\X"
        );
        assert_eq!(
            err(json!({"Mounts": [{"Type": "tmpfs", "Target": r"C:\t"}]})),
            r#"invalid mount config for type "tmpfs": mount type unknown"#
        );
        assert_eq!(
            err(
                json!({"Mounts": [{"Type": "npipe", "Source": r"\\.\pipe\a", "Target": r"\\.\pipe\a", "ReadOnly": true}]})
            ),
            r#"invalid mount config for type "npipe": field ReadOnly must not be specified"#
        );
        assert_eq!(
            err(json!({"Mounts": [{"Type": "npipe", "Source": r"C:\a", "Target": r"\\.\pipe\a"}]})),
            r#"invalid mount config for type "npipe": 'C:\a' is not a valid pipe path"#
        );
        assert_eq!(
            err(json!({"Mounts": [{"Type": "bind", "Source": "rel", "Target": r"C:\a"}]})),
            r#"invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute"#
        );
        assert_eq!(
            err(
                json!({"Mounts": [{"Type": "volume", "Source": "v", "Target": r"C:\a", "VolumeOptions": {"Subpath": "../x"}}]})
            ),
            r#"invalid mount config for type "volume": subpath must be a relative path within the volume"#
        );
        assert_eq!(
            err(
                json!({"Mounts": [{"Type": "bind", "Source": r"C:\a", "Target": r"C:\a", "BindOptions": {"Propagation": "rshared"}}]})
            ),
            r#"invalid mount config for type "bind": invalid propagation mode: rshared"#
        );
        // An anonymous volume the proxy did not create is a bug, not a bad request.
        assert!(matches!(
            mounts(json!({"HostConfig": {"Binds": [r"C:\v"]}}), json!({}), &ctx),
            Err(Error::Spec(_))
        ));
    }

    /// dockerd's `TestWindowsParseMountRaw` inputs, minus the ones that need the host's
    /// file system.
    #[test]
    fn dockerds_bind_spec_cases() {
        for raw in [
            r"d:\",
            "d:",
            r"d:\path",
            r"d:\path with space",
            r"c:\:d:\",
            r"c:\windows\:d:",
            r"c:\windows:d:\s p a c e",
            r"c:\windows:d:\s p a c e:RW",
            r"c:\program files:d:\s p a c e i n h o s t d i r",
            "0123456789name:d:",
            "MiXeDcAsEnAmE:d:",
            "test-aux-volume:d:",
            "name:D:",
            "name:D::rW",
            "name:D::RW",
            "name:D::RO",
            "c:/:d:/forward/slashes/are/good/too",
            "c:/:d:/including with/spaces:ro",
            r"c:\Windows",
            r"c:\Program Files (x86)",
            r"\\?\c:\windows\:d:",
            r"c:\windows\:\\?\d:\",
            r"\\.\pipe\foo:\\.\pipe\foo",
            "//./pipe/foo://./pipe/foo",
        ] {
            if let Err(e) = parse_bind(raw) {
                panic!("{raw:?} should parse: {e}");
            }
        }
        for (raw, needle) in [
            ("", "invalid volume specification: "),
            (".", "invalid volume specification: "),
            (r"..\", "invalid volume specification: "),
            (r"c:\:..\", "invalid volume specification: "),
            (r"c:\:d:\:xyzzy", "invalid volume specification: "),
            ("c:", "cannot be 'c:'"),
            (r"c:\", "cannot be 'c:'"),
            ("name<:d:", "invalid volume specification"),
            ("name>:d:", "invalid volume specification"),
            ("name::d:", "invalid volume specification"),
            ("name\":d:", "invalid volume specification"),
            (r"name\:d:", "invalid volume specification"),
            ("name*:d:", "invalid volume specification"),
            ("name|:d:", "invalid volume specification"),
            ("name?:d:", "invalid volume specification"),
            ("name/:d:", "invalid volume specification"),
            (r"d:\pathandmode:rw", "invalid volume specification"),
            (r"d:\pathandmode:ro", "invalid volume specification"),
            ("con:d:", "cannot be a reserved word for Windows filenames"),
            ("PRN:d:", "cannot be a reserved word for Windows filenames"),
            ("aUx:d:", "cannot be a reserved word for Windows filenames"),
            ("lpt9:d:", "cannot be a reserved word for Windows filenames"),
            (
                r"\\.\pipe\foo:c:\pipe",
                r"'c:\pipe' is not a valid pipe path",
            ),
        ] {
            match parse_bind(raw) {
                Err(Error::InvalidParameter(m)) => assert!(m.contains(needle), "{raw:?}: {m}"),
                other => panic!("{raw:?}: {other:?}"),
            }
        }
        let p = parse_bind(r"name:D::RO").unwrap();
        assert_eq!(
            p,
            Planned {
                destination: "D:".into(),
                source: Source::Volume {
                    name: Some("name".into()),
                    subpath: None
                },
                read_only: true
            }
        );
        let p = parse_bind(r"c:/:d:/including with/spaces/:ro").unwrap();
        assert_eq!(
            p,
            Planned {
                destination: r"d:\including with\spaces".into(),
                source: Source::Host(r"c:\".into()),
                read_only: true
            }
        );
    }

    #[test]
    fn reserved_names_and_local_paths() {
        for n in ["con", "PRN", "com1", "LPT9"] {
            assert!(is_reserved_name(n), "{n}");
        }
        for n in ["com0", "com10", "console", "data"] {
            assert!(!is_reserved_name(n), "{n}");
        }
        assert!(is_local("a/b") && is_local(r"a\..\b"));
        assert!(!is_local("../a") && !is_local(r"\a") && !is_local("C:a") && !is_local(""));
    }
}
