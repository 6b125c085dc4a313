//! dockbridge as a Windows service, with dockerd's flags: `serve --register-service` creates
//! the service with the serve flags it was given (plus `--run-service`),
//! `--unregister-service` deletes it, and the SCM starts `dockbridge.exe serve
//! --run-service …`, which runs the daemon under the SCM until a stop or shutdown control,
//! then shuts it down gracefully (`Backend::shutdown`: every compute system and handle
//! closed). The Win32 side is `hcs::service`.

use std::ffi::OsString;
use std::path::Path;

use anyhow::Context;

/// The service flags of `dockbridge serve` (Windows only, as dockerd's).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServiceFlags {
    /// Register dockbridge as a Windows service, started with the other serve flags given
    /// here, and exit.
    #[arg(long, conflicts_with = "unregister_service")]
    pub register_service: bool,
    /// Unregister the Windows service and exit.
    #[arg(long)]
    pub unregister_service: bool,
    /// Run under the service control manager (what a registered service is started with).
    #[arg(long, hide = true)]
    pub run_service: bool,
    /// The Windows service's name.
    #[arg(long, default_value = "dockbridge")]
    pub service_name: String,
}

/// What the service flags ask of this process.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Register,
    Unregister,
    RunService,
    /// No service flag: the daemon on the console.
    Console,
}

impl ServiceFlags {
    pub fn action(&self) -> Action {
        if self.unregister_service {
            Action::Unregister
        } else if self.register_service {
            Action::Register
        } else if self.run_service {
            Action::RunService
        } else {
            Action::Console
        }
    }
}

/// The arguments the registered service is started with: this process's own (after the
/// program name) without the (un)registration flags, plus `--run-service` — as dockerd
/// registers itself.
pub fn service_arguments(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out: Vec<OsString> = args
        .into_iter()
        .filter(|a| a != "--register-service" && a != "--unregister-service")
        .collect();
    out.push("--run-service".into());
    out
}

pub fn register(flags: &ServiceFlags) -> anyhow::Result<()> {
    let executable = std::env::current_exe().context("locating dockbridge.exe")?;
    hcs::service::register(&hcs::service::Registration {
        name: flags.service_name.clone(),
        display_name: "dockbridge (Docker Engine API)".into(),
        executable,
        arguments: service_arguments(std::env::args_os().skip(1)),
    })?;
    Ok(())
}

pub fn unregister(flags: &ServiceFlags) -> anyhow::Result<()> {
    hcs::service::unregister(&flags.service_name)?;
    Ok(())
}

/// Where a service's log goes: it has no console (dockerd logs to the event log and keeps
/// a panic.log under its root).
pub fn log_path(data_root: &Path) -> std::path::PathBuf {
    data_root.join("service.log")
}

/// Runs the daemon as the service the SCM started: reported running once it listens,
/// stopped gracefully on the SCM's stop or shutdown control.
pub fn run(args: crate::config::ServeArgs) -> anyhow::Result<()> {
    let name = args.service.service_name.clone();
    let failed = std::sync::Arc::new(std::sync::Mutex::new(None::<anyhow::Error>));
    let record = failed.clone();
    hcs::service::run(&name, move |service| {
        let result = tokio::runtime::Runtime::new()
            .context("starting the async runtime")
            .and_then(|rt| {
                rt.block_on(crate::serve_until(
                    args,
                    || service.running(),
                    service.stop_requested(),
                ))
            });
        match result {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("dockbridge: {e:#}");
                *record.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                false
            }
        }
    })?;
    let failed = failed.lock().unwrap_or_else(|p| p.into_inner()).take();
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_runs_with_the_registering_flags_and_run_service() {
        let argv = ["serve", "--register-service", "-H", "npipe:////./pipe/x"].map(OsString::from);
        assert_eq!(
            service_arguments(argv),
            ["serve", "-H", "npipe:////./pipe/x", "--run-service"].map(OsString::from)
        );
    }

    #[test]
    fn unregistering_wins_over_the_other_flags() {
        let flags = ServiceFlags {
            unregister_service: true,
            run_service: true,
            ..Default::default()
        };
        assert_eq!(flags.action(), Action::Unregister);
        assert_eq!(ServiceFlags::default().action(), Action::Console);
    }
}
