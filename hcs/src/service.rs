//! The daemon as a Windows service, as dockerd runs on Windows (`--register-service`,
//! `--unregister-service`, `--run-service`): registration with the service control manager
//! (SCM), and the dispatcher glue that runs the daemon under it and turns the SCM's stop and
//! shutdown controls into a graceful shutdown.
//!
//! It lives in this crate because the dispatcher's entry point is an `extern "system"`
//! function the `windows-service` crate generates with unsafe code, and this crate is where
//! the workspace keeps its unsafe code; everything exported here is safe.

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_dispatcher;
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{what}")]
    Scm {
        what: String,
        #[source]
        source: windows_service::Error,
    },
    #[error("the service control manager started no service {0:?} in this process")]
    NotStarted(String),
}

fn scm(what: impl Into<String>) -> impl FnOnce(windows_service::Error) -> ServiceError {
    let what = what.into();
    move |source| ServiceError::Scm { what, source }
}

/// What `--register-service` creates: an auto-start service running `executable` with
/// `arguments` under LocalSystem, as dockerd registers itself.
pub struct Registration {
    pub name: String,
    pub display_name: String,
    pub executable: PathBuf,
    pub arguments: Vec<OsString>,
}

/// Creates the service, restarted by the SCM after a failure (twice, 60 s apart; the count
/// resets after a day), as dockerd's registration does.
pub fn register(reg: &Registration) -> Result<(), ServiceError> {
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .map_err(scm("connecting to the service control manager"))?;
    let info = ServiceInfo {
        name: reg.name.clone().into(),
        display_name: reg.display_name.clone().into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: reg.executable.clone(),
        launch_arguments: reg.arguments.clone(),
        dependencies: Vec::new(),
        account_name: None,
        account_password: None,
    };
    let service = manager
        .create_service(
            &info,
            ServiceAccess::CHANGE_CONFIG | ServiceAccess::QUERY_STATUS,
        )
        .map_err(scm(format!("creating service {}", reg.name)))?;
    let restart = ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(60),
    };
    let none = ServiceAction {
        action_type: ServiceActionType::None,
        delay: Duration::ZERO,
    };
    service
        .update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![restart.clone(), restart, none]),
        })
        .map_err(scm(format!("setting the failure actions of {}", reg.name)))
}

/// Deletes the service (a running one is deleted once it stops, as the SCM does).
pub fn unregister(name: &str) -> Result<(), ServiceError> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(scm("connecting to the service control manager"))?;
    let service = manager
        .open_service(name, ServiceAccess::DELETE)
        .map_err(scm(format!("opening service {name}")))?;
    service
        .delete()
        .map_err(scm(format!("deleting service {name}")))
}

/// The running service as its body sees it: report that start-up is done, and learn when
/// the SCM asks it to stop (a stop control, or the machine shutting down).
pub struct Service {
    status: Arc<OnceLock<service_control_handler::ServiceStatusHandle>>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Service {
    /// Reports the service running and accepting stop and shutdown: call once the daemon
    /// listens (dockerd reports it only after its initialisation, so that `sc start` returns
    /// when the pipe is there).
    pub fn running(&self) {
        set_status(
            &self.status,
            ServiceState::Running,
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
            ServiceExitCode::Win32(0),
        );
    }

    /// Completes when the SCM asked the service to stop.
    pub fn stop_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.clone();
        async move {
            // A closed channel (the handler gone) cannot ask any more: wait forever then.
            if rx.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

fn set_status(
    handle: &OnceLock<service_control_handler::ServiceStatusHandle>,
    state: ServiceState,
    accept: ServiceControlAccept,
    exit: ServiceExitCode,
) {
    let Some(h) = handle.get() else { return };
    let pending = matches!(
        state,
        ServiceState::StartPending | ServiceState::StopPending
    );
    let status = ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: exit,
        checkpoint: 0,
        // The daemon's shutdown waits up to 5 s for its servers, then stops every container.
        wait_hint: if pending {
            Duration::from_secs(60)
        } else {
            Duration::ZERO
        },
        process_id: None,
    };
    if let Err(e) = h.set_service_status(status) {
        tracing::warn!("reporting the service {state:?}: {e}");
    }
}

type Body = Box<dyn FnOnce(Service) -> bool + Send>;

/// The body and name `run` hands to the dispatcher's entry point (a plain function: it
/// cannot capture them).
static PENDING: Mutex<Option<(String, Body)>> = Mutex::new(None);

/// Runs `body` as the service `name` of this process: connects to the SCM (the process
/// must have been started by it), and returns once the service stopped. `body` returns
/// whether the daemon ran and stopped cleanly; the SCM records a service-specific exit code
/// 1 otherwise (and applies the failure actions).
pub fn run(
    name: &str,
    body: impl FnOnce(Service) -> bool + Send + 'static,
) -> Result<(), ServiceError> {
    *PENDING.lock().unwrap_or_else(|e| e.into_inner()) = Some((name.to_string(), Box::new(body)));
    let started = service_dispatcher::start(name, entry::service_main_fn())
        .map_err(scm("connecting to the service control manager (--run-service is for the SCM: register with --register-service and start it with `sc start`)"));
    // The body is gone once the dispatcher ran the service.
    let left = PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .is_some();
    started?;
    if left {
        return Err(ServiceError::NotStarted(name.to_string()));
    }
    Ok(())
}

#[allow(unsafe_code)]
mod entry {
    // The dispatcher calls this on its own thread with the service's start arguments.
    windows_service::define_windows_service!(ffi_service_main, service_main);

    pub(super) fn service_main_fn() -> extern "system" fn(u32, *mut *mut u16) {
        ffi_service_main
    }

    fn service_main(_arguments: Vec<std::ffi::OsString>) {
        super::service_main();
    }
}

fn service_main() {
    let Some((name, body)) = PENDING.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let status: Arc<OnceLock<service_control_handler::ServiceStatusHandle>> = Arc::default();
    let handler_status = status.clone();
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            set_status(
                &handler_status,
                ServiceState::StopPending,
                ServiceControlAccept::empty(),
                ServiceExitCode::Win32(0),
            );
            let _ = tx.send(true);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = match service_control_handler::register(&name, handler) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("registering the service control handler of {name}: {e}");
            return;
        }
    };
    let _ = status.set(handle);
    set_status(
        &status,
        ServiceState::StartPending,
        ServiceControlAccept::empty(),
        ServiceExitCode::Win32(0),
    );
    let ok = body(Service {
        status: status.clone(),
        stop: rx,
    });
    set_status(
        &status,
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        if ok {
            ServiceExitCode::Win32(0)
        } else {
            ServiceExitCode::ServiceSpecific(1)
        },
    );
}
