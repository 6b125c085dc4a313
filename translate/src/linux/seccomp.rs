//! Docker's seccomp profiles (the JSON format of moby's `profiles/seccomp/default.json`
//! and of `--security-opt seccomp=PROFILE.json`) turned into the OCI spec's filter for one
//! container, by moby's rules: the architecture's entry of `archMap`, and each syscall
//! group kept or dropped by its `includes`/`excludes` (architectures, the container's
//! bounding capabilities, the kernel version).

use oci_spec::runtime::LinuxSeccomp;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A profile in Docker's format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default)]
    pub syscalls: Vec<Syscall>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscall {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Arg>>,
    #[serde(default)]
    pub includes: Filter,
    #[serde(default)]
    pub excludes: Filter,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    /// `"4.8"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// Parses a profile as dockerd's `LoadProfile` does.
pub fn parse(json: &str) -> Result<Profile, Error> {
    serde_json::from_str(json)
        .map_err(|e| Error::Runtime(format!("Decoding seccomp profile failed: {e}")))
}

/// Go's architecture name (`runtime.GOARCH`) for the machine Rust built for, in moby's
/// "native" spelling (`amd64`, `arm64`, `x86`, …), and its libseccomp name.
pub fn native_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "x86" => ("x86", "SCMP_ARCH_X86"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        "arm" => ("arm", "SCMP_ARCH_ARM"),
        "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
        "s390x" => ("s390x", "SCMP_ARCH_S390X"),
        "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
        _ => ("", ""),
    }
}

/// `"5.10.0-26-amd64"` → `(5, 10)`.
pub fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn kernel_at_least(kernel: Option<(u32, u32)>, min: &str) -> Result<bool, Error> {
    let want =
        parse_kernel(min).ok_or_else(|| Error::Runtime(format!("invalid minKernel {min:?}")))?;
    let have = kernel.ok_or_else(|| {
        Error::Runtime("the kernel version is unknown, minKernel cannot be checked".into())
    })?;
    Ok(have >= want)
}

/// moby's `setupSeccomp`: the filter for a container whose bounding set is `caps`, on
/// architecture `arch` (`native_arch`) and kernel `kernel`. `None` for an empty profile.
pub fn setup(
    p: &Profile,
    caps: &[String],
    arch: (&str, &str),
    kernel: Option<(u32, u32)>,
) -> Result<Option<LinuxSeccomp>, Error> {
    if p.default_action.is_empty() && p.syscalls.is_empty() {
        return Ok(None);
    }
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err(Error::Runtime(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'".into(),
        ));
    }
    let (native, scmp) = arch;
    let mut architectures = p.architectures.clone();
    if let Some(m) = p.arch_map.iter().find(|m| m.architecture == scmp) {
        architectures.push(m.architecture.clone());
        architectures.extend(m.sub_architectures.iter().cloned());
    }
    let has = |c: &String| caps.contains(c);
    let mut syscalls = Vec::new();
    for call in &p.syscalls {
        let ex = &call.excludes;
        if ex.arches.iter().any(|a| a == native) || ex.caps.iter().any(has) {
            continue;
        }
        if let Some(k) = &ex.min_kernel {
            if kernel_at_least(kernel, k)? {
                continue;
            }
        }
        let inc = &call.includes;
        if (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == native))
            || !inc.caps.iter().all(has)
        {
            continue;
        }
        if let Some(k) = &inc.min_kernel {
            if !kernel_at_least(kernel, k)? {
                continue;
            }
        }
        if !call.name.is_empty() && !call.names.is_empty() {
            return Err(Error::Runtime(
                "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'".into(),
            ));
        }
        let names = if call.name.is_empty() {
            call.names.clone()
        } else {
            vec![call.name.clone()]
        };
        let mut v = serde_json::json!({ "names": names, "action": call.action });
        if let Some(e) = call.errno_ret {
            v["errnoRet"] = e.into();
        }
        if let Some(args) = call.args.as_ref().filter(|a| !a.is_empty()) {
            v["args"] = serde_json::to_value(args)
                .map_err(|e| Error::Runtime(format!("seccomp args: {e}")))?;
        }
        syscalls.push(v);
    }
    let mut out = serde_json::json!({
        "defaultAction": p.default_action,
        "syscalls": syscalls,
    });
    if !architectures.is_empty() {
        out["architectures"] = architectures.into();
    }
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = e.into();
    }
    serde_json::from_value(out)
        .map(Some)
        .map_err(|e| Error::Runtime(format!("seccomp profile: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": [], "includes": {}, "excludes": {}},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}], "includes": {}, "excludes": {}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}, "excludes": {}},
            {"names": ["unshare", "mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}, "excludes": {}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
             "includes": {}, "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
            {"names": ["sysfs"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "includes": {}, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.3"}, "excludes": {}}
        ]
    }"#;

    fn names(s: &LinuxSeccomp) -> Vec<String> {
        s.syscalls()
            .iter()
            .flatten()
            .flat_map(|c| c.names().iter().cloned())
            .collect()
    }

    #[test]
    fn default_container_on_amd64() {
        let p = parse(PROFILE).unwrap();
        let s = setup(
            &p,
            &["CAP_CHOWN".into()],
            ("amd64", "SCMP_ARCH_X86_64"),
            Some((5, 10)),
        )
        .unwrap()
        .unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(
            v["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        assert_eq!(
            names(&s),
            [
                "read",
                "write",
                "personality",
                "arch_prctl",
                "clone",
                "sysfs",
                "clone3"
            ]
        );
        assert_eq!(v["syscalls"][1]["args"][0]["value"], 8);
        assert_eq!(v["syscalls"][4]["errnoRet"], 38);
        assert!(v["syscalls"][0].get("args").is_none(), "{v}");
    }

    #[test]
    fn capabilities_arches_and_kernel_pick_the_groups() {
        let p = parse(PROFILE).unwrap();
        let admin = ["CAP_SYS_ADMIN".to_string()];
        let s = setup(&p, &admin, ("arm64", "SCMP_ARCH_AARCH64"), Some((5, 2)))
            .unwrap()
            .unwrap();
        // SYS_ADMIN: unshare/mount allowed, the masked clone and the sysfs errno dropped;
        // arm64 has no arch_prctl; 5.2 has no clone3.
        assert_eq!(
            names(&s),
            ["read", "write", "personality", "unshare", "mount"]
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["architectures"],
            serde_json::json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
    }

    #[test]
    fn bad_profiles_are_refused_with_mobys_words() {
        assert!(parse("{")
            .unwrap_err()
            .to_string()
            .starts_with("Decoding seccomp profile failed"));
        let both = parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#).unwrap();
        assert!(setup(&both, &[], native_arch(), Some((5, 10)))
            .unwrap_err()
            .to_string()
            .contains("use either 'architectures' or 'archMap'"));
        let empty = parse("{}").unwrap();
        assert_eq!(setup(&empty, &[], native_arch(), None).unwrap(), None);
        assert_eq!(parse_kernel("6.1.0-18-amd64"), Some((6, 1)));
    }
}
