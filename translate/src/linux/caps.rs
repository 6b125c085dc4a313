//! Capability sets: Docker's default set tweaked by `--cap-add`/`--cap-drop`, or everything
//! the runtime holds for `--privileged` (moby's `caps.TweakCapabilities`).

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use super::{blank, internal, invalid};
use crate::Error;

/// Every capability the kernel knows, indexed by bit number (as in `CapEff` masks).
pub const KNOWN_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's default capability set for unprivileged containers.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const ALL: &str = "ALL";

/// The capability names set in a `/proc/<pid>/status` mask (`CapEff: 000001fffeffffff`).
pub fn capabilities_from_mask(mask: u64) -> Vec<String> {
    KNOWN_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1u64 << bit) != 0)
        .map(|(_, name)| (*name).to_string())
        .collect()
}

/// Upper-cases and `CAP_`-prefixes `--cap-add`/`--cap-drop` values, keeping `ALL`; unknown
/// names are refused with dockerd's message.
pub fn normalize(caps: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(caps.len());
    for c in caps {
        let mut c = c.to_uppercase();
        if c != ALL {
            if !c.starts_with("CAP_") {
                c = format!("CAP_{c}");
            }
            if !KNOWN_CAPABILITIES.contains(&c.as_str()) {
                return Err(format!("unknown capability: {c:?}"));
            }
        }
        out.push(c);
    }
    Ok(out)
}

/// Validates CapAdd/CapDrop as dockerd does at create time (`validateCapabilities`).
pub fn validate(cap_add: &[String], cap_drop: &[String]) -> Result<(), Error> {
    normalize(cap_add).map_err(|e| invalid(format!("invalid CapAdd: {e}")))?;
    normalize(cap_drop).map_err(|e| invalid(format!("invalid CapDrop: {e}")))?;
    Ok(())
}

/// The capability set of the container's process, in dockerd's order.
///
/// `available` is what the runtime holds (`None` = all known). dockerd refuses to add a
/// capability it does not hold itself, because runc could not grant it; dropping one is
/// harmless, so dockbridge (unlike dockerd) lets `--cap-drop` name it.
pub fn effective_set(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
    available: Option<&[String]>,
) -> Result<Vec<String>, Error> {
    let all: Vec<String> = match available {
        Some(a) => KNOWN_CAPABILITIES
            .iter()
            .filter(|k| a.iter().any(|h| h.eq_ignore_ascii_case(k)))
            .map(|k| (*k).to_string())
            .collect(),
        None => KNOWN_CAPABILITIES
            .iter()
            .map(|k| (*k).to_string())
            .collect(),
    };
    if privileged {
        return Ok(all);
    }
    let defaults = DEFAULT_CAPABILITIES.iter().map(|c| (*c).to_string());
    if cap_add.is_empty() && cap_drop.is_empty() {
        return Ok(defaults.collect());
    }
    let drops = normalize(cap_drop).map_err(|e| invalid(format!("invalid CapDrop: {e}")))?;
    let adds = normalize(cap_add).map_err(|e| invalid(format!("invalid CapAdd: {e}")))?;
    if let Some(missing) = adds.iter().find(|c| *c != ALL && !all.contains(c)) {
        return Err(invalid(format!(
            "invalid CapAdd: capability not supported by your kernel or not available in the current environment: {missing:?}"
        )));
    }
    let out: Vec<String> = if adds.iter().any(|c| c == ALL) {
        all.into_iter().filter(|c| !drops.contains(c)).collect()
    } else if drops.iter().any(|c| c == ALL) {
        adds
    } else {
        let mut v: Vec<String> = defaults.filter(|c| !drops.contains(c)).collect();
        for a in adds {
            // dockerd appends duplicates too, but a set has no order or duplicates anyway.
            if !v.contains(&a) {
                v.push(a);
            }
        }
        v
    };
    Ok(out)
}

/// Bounding, effective and permitted sets, as dockerd's default spec sets them. Inheritable
/// and ambient stay empty, so non-root processes do not keep capabilities across exec.
pub fn linux_capabilities(names: &[String]) -> Result<LinuxCapabilities, Error> {
    let set = to_set(names)?;
    let mut caps = blank::<LinuxCapabilities>(serde_json::json!({}))?;
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(None);
    caps.set_ambient(None);
    Ok(caps)
}

fn to_set(names: &[String]) -> Result<Capabilities, Error> {
    names
        .iter()
        .map(|n| {
            serde_json::from_value::<Capability>(serde_json::Value::String(n.clone()))
                .map_err(|e| internal(format!("capability {n}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn mask_of_this_host() {
        let caps = capabilities_from_mask(0x1fffeffffff);
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains(&"CAP_SYS_RESOURCE".to_string()));
        assert_eq!(capabilities_from_mask(0).len(), 0);
    }

    #[test]
    fn tweak_like_moby() {
        let d = effective_set(&[], &[], false, None).unwrap();
        assert_eq!(d.len(), 14);
        let v =
            effective_set(&s(&["net_admin"]), &s(&["CAP_CHOWN", "mknod"]), false, None).unwrap();
        assert!(v.contains(&"CAP_NET_ADMIN".into()));
        assert!(!v.contains(&"CAP_CHOWN".into()) && !v.contains(&"CAP_MKNOD".into()));
        let v = effective_set(&s(&["kill"]), &s(&["all"]), false, None).unwrap();
        assert_eq!(v, s(&["CAP_KILL"]));
        let v = effective_set(&s(&["ALL"]), &s(&["SYS_ADMIN"]), false, None).unwrap();
        assert_eq!(v.len(), 40);
        let host = capabilities_from_mask(0x1fffeffffff);
        assert_eq!(
            effective_set(&[], &[], true, Some(&host)).unwrap().len(),
            40
        );
        let e = effective_set(&s(&["SYS_RESOURCE"]), &[], false, Some(&host)).unwrap_err();
        assert!(
            e.to_string()
                .contains("not available in the current environment"),
            "{e}"
        );
        let e = validate(&s(&["FOO"]), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid CapAdd: unknown capability: \"CAP_FOO\""
        );
    }

    #[test]
    fn every_known_capability_maps_to_oci() {
        let all: Vec<String> = KNOWN_CAPABILITIES.iter().map(|c| c.to_string()).collect();
        let caps = linux_capabilities(&all).unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 41);
        assert!(caps.inheritable().is_none() && caps.ambient().is_none());
    }
}
