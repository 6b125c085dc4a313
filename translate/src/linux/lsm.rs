//! AppArmor, as dockerd maps `--security-opt apparmor=…` (moby's `daemon/container_linux.go`
//! `saveAppArmorConfig` and `daemon/oci_linux.go` `WithApparmor`). What the host offers is
//! read by the proxy ([`HostLsm`]); the mapping is pure.
//!
//! SELinux labels (`label=…`) are accepted and not applied, which is what dockerd does
//! unless started with `--selinux-enabled` (it then calls `selinux.SetDisabled()`, and
//! `label.InitLabels` accepts anything); dockbridge has no such flag.
//!
//! dockerd loads and uses its own `docker-default` AppArmor profile for every unprivileged
//! container that names none. dockbridge ships no such profile and loads none: it uses
//! `docker-default` only where that profile is already loaded (a dockerd on the same host
//! loaded it), and otherwise runs such containers without an AppArmor profile. A profile
//! named with `--security-opt apparmor=PROFILE` is handed to runc as is (runc fails the
//! start if it is not loaded, as under dockerd).

use serde::{Deserialize, Serialize};

use super::validate::SecurityOptions;
use crate::Error;

/// The profile dockerd gives unprivileged containers.
pub const DEFAULT_APPARMOR_PROFILE: &str = "docker-default";
pub const UNCONFINED: &str = "unconfined";

/// The host's security modules, as far as containers are concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLsm {
    /// AppArmor is enabled (`/sys/module/apparmor/parameters/enabled` is `Y` and
    /// securityfs shows it).
    #[serde(default)]
    pub apparmor: bool,
    /// `docker-default` is loaded (listed in securityfs' `apparmor/profiles`).
    #[serde(default)]
    pub apparmor_default_loaded: bool,
}

/// Checks the options against the host, at create: an AppArmor profile on a host without
/// AppArmor is a clear 400 rather than a container that quietly runs unconfined (dockerd
/// ignores it there).
pub fn check(security: &SecurityOptions, host: &HostLsm) -> Result<(), Error> {
    match security.apparmor.as_deref() {
        Some(p) if !host.apparmor && p != UNCONFINED => Err(Error::InvalidParameter(format!(
            "--security-opt apparmor={p}: AppArmor is not enabled on this host"
        ))),
        _ => Ok(()),
    }
}

/// [`check`] for a create request (`HostConfig.SecurityOpt`).
pub fn check_create(
    create: &spec::api::models::ContainerCreateBody,
    host: &HostLsm,
) -> Result<(), Error> {
    let opts = create
        .host_config
        .as_ref()
        .and_then(|h| h.security_opt.as_deref())
        .unwrap_or(&[]);
    check(&SecurityOptions::parse(opts)?, host)
}

/// `process.apparmorProfile` and inspect's `AppArmorProfile`: nothing without AppArmor;
/// `unconfined` for privileged containers (whatever was asked, as dockerd); else the
/// requested profile, else `docker-default` where it is loaded.
pub fn apparmor_profile(
    security: &SecurityOptions,
    privileged: bool,
    host: &HostLsm,
) -> Option<String> {
    if !host.apparmor {
        return None;
    }
    if privileged {
        return Some(UNCONFINED.to_string());
    }
    match security.apparmor.as_deref() {
        Some(p) => Some(p.to_string()),
        None => host
            .apparmor_default_loaded
            .then(|| DEFAULT_APPARMOR_PROFILE.to_string()),
    }
}

/// The entry of `docker info`'s `SecurityOptions` AppArmor adds, listed only where the
/// host has it (dockerd's order: before seccomp).
pub fn info_option(host: &HostLsm) -> Option<&'static str> {
    host.apparmor.then_some("name=apparmor")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> SecurityOptions {
        let v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        SecurityOptions::parse(&v).unwrap()
    }

    const NONE: HostLsm = HostLsm {
        apparmor: false,
        apparmor_default_loaded: false,
    };
    const AA: HostLsm = HostLsm {
        apparmor: true,
        apparmor_default_loaded: false,
    };
    const AA_DEFAULT: HostLsm = HostLsm {
        apparmor: true,
        apparmor_default_loaded: true,
    };

    #[test]
    fn without_apparmor_a_profile_is_refused_and_unconfined_accepted() {
        let e = check(&opts(&["apparmor=myprofile"]), &NONE).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)));
        assert!(e.to_string().contains("apparmor=myprofile"), "{e}");
        assert!(e.to_string().contains("not enabled on this host"), "{e}");
        check(&opts(&["apparmor=unconfined"]), &NONE).unwrap();
        check(&opts(&["apparmor:unconfined"]), &NONE).unwrap();
        assert_eq!(
            apparmor_profile(&opts(&["apparmor=unconfined"]), false, &NONE),
            None
        );
        assert_eq!(apparmor_profile(&opts(&[]), true, &NONE), None);
    }

    #[test]
    fn with_apparmor_the_profile_goes_into_the_spec() {
        let o = opts(&["apparmor=myprofile"]);
        check(&o, &AA).unwrap();
        assert_eq!(
            apparmor_profile(&o, false, &AA).as_deref(),
            Some("myprofile")
        );
        // Privileged containers are unconfined, whatever they asked for (dockerd).
        assert_eq!(
            apparmor_profile(&o, true, &AA).as_deref(),
            Some("unconfined")
        );
        assert_eq!(
            apparmor_profile(&opts(&[]), true, &AA).as_deref(),
            Some("unconfined")
        );
    }

    #[test]
    fn the_default_profile_only_where_it_is_loaded() {
        assert_eq!(apparmor_profile(&opts(&[]), false, &AA), None);
        assert_eq!(
            apparmor_profile(&opts(&[]), false, &AA_DEFAULT).as_deref(),
            Some("docker-default")
        );
        assert_eq!(
            apparmor_profile(&opts(&["apparmor=unconfined"]), false, &AA_DEFAULT).as_deref(),
            Some("unconfined")
        );
    }

    #[test]
    fn labels_are_accepted_as_dockerd_without_selinux_enabled() {
        for l in [
            "label=user:USER",
            "label=type:svirt_apache_t",
            "label=level:s0:c100,c200",
            "label=disable",
            "label:disable",
            "disable",
        ] {
            let o = opts(&[l]);
            check(&o, &NONE).unwrap();
            check(&o, &AA).unwrap();
        }
    }

    #[test]
    fn info_lists_apparmor_only_where_the_host_has_it() {
        assert_eq!(info_option(&NONE), None);
        assert_eq!(info_option(&AA), Some("name=apparmor"));
    }

    #[test]
    fn the_spec_carries_the_profile() {
        use spec::api::models::{ContainerCreateBody, HostConfig};
        let create = |opts: &[&str]| ContainerCreateBody {
            image: Some("busybox".into()),
            cmd: Some(vec!["true".into()]),
            host_config: Some(HostConfig {
                security_opt: Some(opts.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let profile = |opts: &[&str], host: &HostLsm| {
            let mut ctx = super::super::LinuxContext::for_audit("c1");
            ctx.lsm = host.clone();
            super::super::linux_spec(&create(opts), &Default::default(), &ctx)
                .map(|s| s.process().as_ref().unwrap().apparmor_profile().clone())
        };
        assert_eq!(
            profile(&["apparmor=p1"], &AA).unwrap().as_deref(),
            Some("p1")
        );
        assert_eq!(
            profile(&[], &AA_DEFAULT).unwrap().as_deref(),
            Some("docker-default")
        );
        assert_eq!(profile(&[], &NONE).unwrap(), None);
        assert!(profile(&["apparmor=p1"], &NONE).is_err());
        assert_eq!(
            profile(&["label=user:u", "no-new-privileges"], &NONE).unwrap(),
            None
        );
    }
}
