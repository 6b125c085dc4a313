//! `--device` and `--device-cgroup-rule`: device nodes the proxy found on the host, made
//! in the container and allowed in its device cgroup; cgroup rules parsed as dockerd
//! parses them (`c 1:3 rwm`, `a *:* rwm`, `b 8:* r`).

use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
};
use spec::api::models::DeviceMapping;

use crate::Error;

/// One `--device`, resolved by the proxy: the node as the container gets it (its path
/// inside the container) and the cgroup access (`rwm` by default).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserDevice {
    pub device: LinuxDevice,
    pub access: String,
}

/// The checks dockerd makes before it looks at the host.
pub fn validate(mappings: &[DeviceMapping]) -> Result<(), Error> {
    for m in mappings {
        let host = m.path_on_host.as_deref().unwrap_or("");
        if host.is_empty() {
            return Err(Error::InvalidParameter(
                "invalid device: empty path on host".into(),
            ));
        }
        let perms = m.cgroup_permissions.as_deref().unwrap_or("rwm");
        if perms.is_empty() || !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(Error::InvalidParameter(format!(
                "invalid device mode: {perms}"
            )));
        }
        if let Some(p) = m.path_in_container.as_deref().filter(|p| !p.is_empty()) {
            if !p.starts_with('/') {
                return Err(Error::InvalidParameter(format!(
                    "{host}:{p} is not an absolute path"
                )));
            }
        }
    }
    Ok(())
}

/// A `--device-cgroup-rule`: `TYPE MAJOR:MINOR ACCESS`, `*` for any number.
pub fn parse_cgroup_rule(rule: &str) -> Result<LinuxDeviceCgroup, Error> {
    let bad = || Error::InvalidParameter(format!("invalid device cgroup format '{rule}'"));
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [typ, numbers, access] = parts.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| -> Result<Option<i64>, Error> {
        if s == "*" {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|_| bad())
        }
    };
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(bad());
    }
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .access(access.to_string());
    if let Some(m) = num(major)? {
        b = b.major(m);
    }
    if let Some(m) = num(minor)? {
        b = b.minor(m);
    }
    b.build()
        .map_err(|e| Error::InvalidParameter(format!("{rule}: {e}")))
}

/// The allow rule for a `--device`.
pub fn allow_rule(d: &UserDevice) -> Result<LinuxDeviceCgroup, Error> {
    LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(d.device.typ())
        .major(d.device.major())
        .minor(d.device.minor())
        .access(d.access.clone())
        .build()
        .map_err(|e| Error::InvalidParameter(format!("device rule: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_rules() {
        let r = parse_cgroup_rule("c 1:3 rwm").unwrap();
        assert_eq!((r.major(), r.minor()), (Some(1), Some(3)));
        assert_eq!(r.typ(), Some(LinuxDeviceType::C));
        let any = parse_cgroup_rule("a *:* rwm").unwrap();
        assert_eq!((any.major(), any.minor()), (None, None));
        let blk = parse_cgroup_rule("b 8:* r").unwrap();
        assert_eq!(
            (blk.major(), blk.minor(), blk.access().as_deref()),
            (Some(8), None, Some("r"))
        );
        for bad in ["c 1:3", "x 1:3 rwm", "c 1-3 rwm", "c 1:3 rwx", "c a:3 rw"] {
            assert!(parse_cgroup_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn device_checks() {
        let m = |host: &str, ctr: &str, perms: &str| DeviceMapping {
            path_on_host: Some(host.into()),
            path_in_container: Some(ctr.into()),
            cgroup_permissions: Some(perms.into()),
        };
        assert!(validate(&[m("/dev/null", "/dev/xnull", "rwm")]).is_ok());
        assert!(validate(&[m("/dev/null", "/dev/xnull", "rwx")]).is_err());
        assert!(validate(&[m("/dev/null", "xnull", "r")]).is_err());
        assert!(validate(&[m("", "/x", "r")]).is_err());
    }
}
