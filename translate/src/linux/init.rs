//! `--init`: dockerd runs `docker-init` (tini) as PID 1, bind-mounted read-only at
//! `/sbin/docker-init`, with the container's command after `--`, so zombies are reaped
//! and signals forwarded.

use oci_spec::runtime::{Mount, MountBuilder, Process};
use spec::api::models::HostConfig;

use super::LinuxContext;
use crate::Error;

pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";

/// Adds the init binary's mount and puts it in front of the command when `--init` is set.
pub fn apply(
    hc: &HostConfig,
    ctx: &LinuxContext,
    mut mounts: Vec<Mount>,
    mut process: Process,
) -> Result<(Vec<Mount>, Process), Error> {
    if hc.init != Some(true) {
        return Ok((mounts, process));
    }
    let Some(init) = ctx.init_path.as_deref() else {
        return Err(Error::Unsupported(
            "--init: no init binary on this host (install tini, or start dockbridge with --init-path)"
                .into(),
        ));
    };
    let mount = MountBuilder::default()
        .destination(INIT_PATH_IN_CONTAINER)
        .typ("bind")
        .source(init)
        .options(vec!["bind".to_string(), "ro".to_string()])
        .build()
        .map_err(|e| Error::InvalidParameter(format!("init mount: {e}")))?;
    mounts.push(mount);
    let mut args = vec![INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()];
    args.extend(process.args().clone().unwrap_or_default());
    process.set_args(Some(args));
    Ok((mounts, process))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(args: &[&str]) -> Process {
        let mut p = Process::default();
        p.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
        p
    }

    #[test]
    fn init_goes_first_with_its_mount() {
        let hc = HostConfig {
            init: Some(true),
            ..Default::default()
        };
        let ctx = LinuxContext {
            init_path: Some("/usr/bin/tini-static".into()),
            ..Default::default()
        };
        let (mounts, p) = apply(&hc, &ctx, vec![], process(&["sh", "-c", "x"])).unwrap();
        assert_eq!(
            p.args().clone().unwrap(),
            ["/sbin/docker-init", "--", "sh", "-c", "x"]
        );
        assert_eq!(mounts.len(), 1);
        assert_eq!(
            mounts[0].destination().display().to_string(),
            "/sbin/docker-init"
        );
        assert_eq!(
            mounts[0].options().clone().unwrap(),
            ["bind".to_string(), "ro".to_string()]
        );
    }

    #[test]
    fn without_init_nothing_changes_and_without_a_binary_it_is_refused() {
        let ctx = LinuxContext::default();
        let (m, p) = apply(&HostConfig::default(), &ctx, vec![], process(&["true"])).unwrap();
        assert!(m.is_empty());
        assert_eq!(p.args().clone().unwrap(), ["true"]);
        let hc = HostConfig {
            init: Some(true),
            ..Default::default()
        };
        assert!(matches!(
            apply(&hc, &ctx, vec![], process(&["true"])),
            Err(Error::Unsupported(m)) if m.contains("--init")
        ));
    }
}
