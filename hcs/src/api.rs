//! Safe RAII wrappers over the HCS functions: [`Operation`], [`ComputeSystem`] and [`Process`]
//! close their handle on drop, exactly once (the ffi handle tokens are move-only and the
//! close functions consume them).
//!
//! Every call that takes an operation creates its own and drops it before returning, so an
//! operation handle is closed on every path: success, a call that fails at once, a failed
//! operation and a timeout. A timed-out wait is never cancelled (real HCS does not
//! implement HcsCancelOperation): the compute system is terminated instead.
//!
//! All calls here block; the adapter runs them on tokio's blocking pool.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::callbacks::{self, Notification, Registration};
use crate::error::HResult;
use crate::ffi::{
    self, Library, LoadError, OperationHandle, ProcessCall, ProcessHandle, RawProcessInfo,
    SystemCall, SystemHandle,
};
use crate::schema::{
    ProcessModifyRequest, ProcessStatus, Properties, PropertyQuery, ResultError,
    SignalProcessOptions,
};

/// A failed HCS call.
#[derive(Debug, thiserror::Error)]
pub enum HcsError {
    #[error("HcsCreateOperation failed")]
    NoOperation,
    #[error("{call}: {hresult}{}", detail_suffix(.detail))]
    Call {
        call: &'static str,
        hresult: HResult,
        detail: Option<String>,
    },
    #[error("{call}: timed out after {timeout:?}")]
    Timeout {
        call: &'static str,
        timeout: Duration,
    },
    #[error("{call}: returned no handle")]
    NoHandle { call: &'static str },
    #[error("{call}: unexpected result document: {source}")]
    Document {
        call: &'static str,
        source: serde_json::Error,
    },
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl HcsError {
    pub fn hresult(&self) -> Option<HResult> {
        match self {
            HcsError::Call { hresult, .. } => Some(*hresult),
            HcsError::Timeout { .. } => Some(HResult::HCS_E_OPERATION_TIMEOUT),
            _ => None,
        }
    }

    /// Whether the call failed only because its target had already stopped.
    pub fn is_already_stopped(&self) -> bool {
        self.hresult().is_some_and(HResult::is_already_stopped)
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, HcsError::Timeout { .. })
    }
}

fn check(call: &'static str, hr: HResult, doc: Option<String>) -> Result<Option<String>, HcsError> {
    if hr.is_ok() {
        return Ok(doc);
    }
    let detail = doc.map(|d| match serde_json::from_str::<ResultError>(&d) {
        Ok(e) if !e.error_message.is_empty() => e.error_message,
        _ => d,
    });
    Err(HcsError::Call {
        call,
        hresult: hr,
        detail,
    })
}

fn millis(timeout: Duration) -> u32 {
    // 0xFFFFFFFF is INFINITE: a finite timeout never becomes one.
    u32::try_from(timeout.as_millis())
        .unwrap_or(u32::MAX - 1)
        .min(u32::MAX - 1)
}

fn parse<T: serde::de::DeserializeOwned>(
    call: &'static str,
    doc: Option<String>,
) -> Result<T, HcsError> {
    serde_json::from_str(doc.as_deref().unwrap_or("{}"))
        .map_err(|source| HcsError::Document { call, source })
}

/// The loaded HCS library; cheap to clone.
#[derive(Clone)]
pub struct Hcs {
    lib: Arc<Library>,
}

impl std::fmt::Debug for Hcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hcs")
            .field("library", &self.lib.path())
            .finish()
    }
}

impl Hcs {
    /// Loads `path`, or computecore.dll when `None` (`--hcs-library` overrides it).
    pub fn load(path: Option<&Path>) -> Result<Hcs, LoadError> {
        let path = match path {
            Some(p) => p,
            None if cfg!(windows) => Path::new(ffi::DEFAULT_LIBRARY),
            None => return Err(LoadError::Unsupported(
                "computecore.dll exists only on Windows; pass an HCS library with --hcs-library"
                    .into(),
            )),
        };
        Ok(Hcs {
            lib: Arc::new(Library::load(path)?),
        })
    }

    pub fn library_path(&self) -> &Path {
        self.lib.path()
    }

    /// Creates a compute system. A failed create terminates (best effort) and closes the
    /// system whenever HCS handed out a handle.
    pub fn create_compute_system(
        &self,
        id: &str,
        document: &str,
        timeout: Duration,
    ) -> Result<ComputeSystem, HcsError> {
        const CALL: &str = "HcsCreateComputeSystem";
        let op = Operation::new(&self.lib)?;
        let (hr, handle) = self.lib.create_compute_system(id, document, op.raw());
        let system = handle.map(|h| ComputeSystem {
            lib: self.lib.clone(),
            handle: Some(h),
            id: id.to_string(),
            registration: None,
        });
        check(CALL, hr, None)?;
        let system = system.ok_or(HcsError::NoHandle { call: CALL })?;
        match op.wait(CALL, timeout) {
            Ok(_) => Ok(system),
            Err(e) => {
                system.terminate_quietly(timeout);
                Err(e)
            }
        }
    }
}

/// An HCS_OPERATION; closed on drop.
pub struct Operation {
    lib: Arc<Library>,
    handle: Option<OperationHandle>,
}

impl Operation {
    fn new(lib: &Arc<Library>) -> Result<Operation, HcsError> {
        let handle = lib.create_operation().ok_or(HcsError::NoOperation)?;
        Ok(Operation {
            lib: lib.clone(),
            handle: Some(handle),
        })
    }

    fn raw(&self) -> &OperationHandle {
        match &self.handle {
            Some(h) => h,
            // `handle` is only emptied by `drop`.
            None => unreachable!("operation used after close"),
        }
    }

    fn wait(&self, call: &'static str, timeout: Duration) -> Result<Option<String>, HcsError> {
        let (hr, doc) = self.lib.wait_operation(self.raw(), millis(timeout));
        // Never HcsCancelOperation: real HCS answers E_NOTIMPL. The caller ends a
        // timed-out system operation by terminating the system (`ComputeSystem::call`).
        if hr == HResult::HCS_E_OPERATION_TIMEOUT {
            return Err(HcsError::Timeout { call, timeout });
        }
        check(call, hr, doc)
    }

    fn wait_process_info(
        &self,
        call: &'static str,
        timeout: Duration,
    ) -> Result<RawProcessInfo, HcsError> {
        // On failure `info`'s stdio files drop here, closing whatever HCS returned.
        let (hr, doc, info) = self
            .lib
            .wait_operation_process_info(self.raw(), millis(timeout));
        if hr == HResult::HCS_E_OPERATION_TIMEOUT {
            return Err(HcsError::Timeout { call, timeout });
        }
        check(call, hr, doc)?;
        Ok(info)
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.lib.close_operation(h);
        }
    }
}

/// An HCS_SYSTEM; closed on drop (after which HCS, per the document's
/// `ShouldTerminateOnLastHandleClosed`, tears the system down if it still runs).
pub struct ComputeSystem {
    lib: Arc<Library>,
    handle: Option<SystemHandle>,
    id: String,
    registration: Option<Registration>,
}

impl std::fmt::Debug for ComputeSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeSystem")
            .field("id", &self.id)
            .finish()
    }
}

impl ComputeSystem {
    pub fn id(&self) -> &str {
        &self.id
    }

    fn raw(&self) -> &SystemHandle {
        match &self.handle {
            Some(h) => h,
            None => unreachable!("compute system used after close"),
        }
    }

    fn call(
        &self,
        call: SystemCall,
        options: Option<&str>,
        timeout: Duration,
    ) -> Result<Option<String>, HcsError> {
        let op = Operation::new(&self.lib)?;
        let hr = self.lib.system_call(call, self.raw(), op.raw(), options);
        check(call.name(), hr, None)?;
        let result = op.wait(call.name(), timeout);
        if matches!(result, Err(HcsError::Timeout { .. })) && !matches!(call, SystemCall::Terminate)
        {
            // A hung operation cannot be cancelled on real HCS (E_NOTIMPL): the system is
            // terminated, which ends the operation; its exit notification then reaches the
            // subscriber as for any other exit. Only then is the operation closed (drop).
            tracing::warn!(id = %self.id, call = call.name(), "HCS operation timed out: terminating the compute system");
            self.terminate_quietly(timeout);
        }
        result
    }

    /// Subscribes to the system's events (exit). One subscription per system.
    pub fn subscribe(&mut self) -> Result<UnboundedReceiver<Notification>, HcsError> {
        let (registration, rx) = callbacks::register();
        let hr = self
            .lib
            .set_system_callback(self.raw(), registration.context());
        check("HcsSetComputeSystemCallback", hr, None)?;
        self.registration = Some(registration);
        Ok(rx)
    }

    pub fn start(&self, timeout: Duration) -> Result<(), HcsError> {
        self.call(SystemCall::Start, None, timeout).map(drop)
    }

    pub fn shutdown(&self, timeout: Duration) -> Result<(), HcsError> {
        self.call(SystemCall::ShutDown, None, timeout).map(drop)
    }

    pub fn terminate(&self, timeout: Duration) -> Result<(), HcsError> {
        self.call(SystemCall::Terminate, None, timeout).map(drop)
    }

    pub fn pause(&self, timeout: Duration) -> Result<(), HcsError> {
        self.call(SystemCall::Pause, None, timeout).map(drop)
    }

    pub fn resume(&self, timeout: Duration) -> Result<(), HcsError> {
        self.call(SystemCall::Resume, None, timeout).map(drop)
    }

    pub fn properties(
        &self,
        query: &PropertyQuery,
        timeout: Duration,
    ) -> Result<Properties, HcsError> {
        const CALL: &str = "HcsGetComputeSystemProperties";
        let query = serde_json::to_string(query)
            .map_err(|source| HcsError::Document { call: CALL, source })?;
        parse(
            CALL,
            self.call(SystemCall::GetProperties, Some(&query), timeout)?,
        )
    }

    /// Terminates the system on a cleanup path: "already stopped" is success, anything else
    /// is logged (the handle is closed by the caller either way).
    pub fn terminate_quietly(&self, timeout: Duration) {
        match self.terminate(timeout) {
            Ok(()) => {}
            Err(e) if e.is_already_stopped() => {}
            Err(e) => {
                tracing::warn!(id = %self.id, error = %e, "terminating compute system failed")
            }
        }
    }

    /// Creates (and thereby starts) a process. Its exit-event subscription exists before
    /// HCS reports the result, so the exit cannot be missed; on any failure the process
    /// handle and the stdio handles are closed (and a process that may exist is terminated).
    pub fn create_process(
        &self,
        parameters: &str,
        timeout: Duration,
    ) -> Result<(Process, RawProcessInfo, UnboundedReceiver<Notification>), HcsError> {
        const CALL: &str = "HcsCreateProcess";
        let op = Operation::new(&self.lib)?;
        let (hr, handle) = self.lib.create_process(self.raw(), parameters, op.raw());
        let process = handle.map(|h| Process {
            lib: self.lib.clone(),
            handle: Some(h),
            pid: 0,
            registration: None,
        });
        check(CALL, hr, None)?;
        let mut process = process.ok_or(HcsError::NoHandle { call: CALL })?;
        let events = match process.subscribe() {
            Ok(rx) => rx,
            Err(e) => {
                // The process runs but nobody would see it exit: stop it.
                process.terminate_quietly(timeout);
                return Err(e);
            }
        };
        let info = match op.wait_process_info(CALL, timeout) {
            Ok(info) => info,
            Err(e) => {
                if e.is_timeout() {
                    // The process may or may not exist, and the operation cannot be
                    // cancelled: the system is terminated, which ends both; the process
                    // handle is closed on return.
                    tracing::warn!(id = %self.id, "HcsCreateProcess timed out: terminating the compute system");
                    self.terminate_quietly(timeout);
                }
                return Err(e);
            }
        };
        process.pid = info.pid;
        Ok((process, info, events))
    }
}

impl Drop for ComputeSystem {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.lib.close_compute_system(h);
        }
        // `registration` drops after the close: no event is routed past this point.
    }
}

/// An HCS_PROCESS; closed on drop.
pub struct Process {
    lib: Arc<Library>,
    handle: Option<ProcessHandle>,
    pid: u32,
    registration: Option<Registration>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process").field("pid", &self.pid).finish()
    }
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn raw(&self) -> &ProcessHandle {
        match &self.handle {
            Some(h) => h,
            None => unreachable!("process used after close"),
        }
    }

    fn subscribe(&mut self) -> Result<UnboundedReceiver<Notification>, HcsError> {
        let (registration, rx) = callbacks::register();
        let hr = self
            .lib
            .set_process_callback(self.raw(), registration.context());
        check("HcsSetProcessCallback", hr, None)?;
        self.registration = Some(registration);
        Ok(rx)
    }

    fn call(
        &self,
        call: ProcessCall,
        options: Option<&str>,
        timeout: Duration,
    ) -> Result<Option<String>, HcsError> {
        let op = Operation::new(&self.lib)?;
        let hr = self.lib.process_call(call, self.raw(), op.raw(), options);
        check(call.name(), hr, None)?;
        op.wait(call.name(), timeout)
    }

    /// Sends a console control signal (`CtrlC`, `CtrlBreak`, `CtrlClose`, `CtrlLogOff`,
    /// `CtrlShutdown`).
    pub fn signal(&self, signal: &str, timeout: Duration) -> Result<(), HcsError> {
        let options = SignalProcessOptions {
            signal: signal.to_string(),
        };
        let options = serde_json::to_string(&options).map_err(|source| HcsError::Document {
            call: "HcsSignalProcess",
            source,
        })?;
        self.call(ProcessCall::Signal, Some(&options), timeout)
            .map(drop)
    }

    pub fn terminate(&self, timeout: Duration) -> Result<(), HcsError> {
        self.call(ProcessCall::Terminate, None, timeout).map(drop)
    }

    fn terminate_quietly(&self, timeout: Duration) {
        match self.terminate(timeout) {
            Ok(()) => {}
            Err(e) if e.is_already_stopped() => {}
            Err(e) => tracing::warn!(pid = self.pid, error = %e, "terminating process failed"),
        }
    }

    /// The process's status, including its exit code once it has exited.
    pub fn status(&self, timeout: Duration) -> Result<ProcessStatus, HcsError> {
        parse(
            "HcsGetProcessProperties",
            self.call(ProcessCall::GetProperties, None, timeout)?,
        )
    }

    pub fn modify(
        &self,
        request: &ProcessModifyRequest,
        timeout: Duration,
    ) -> Result<(), HcsError> {
        let settings = serde_json::to_string(request).map_err(|source| HcsError::Document {
            call: "HcsModifyProcess",
            source,
        })?;
        self.call(ProcessCall::Modify, Some(&settings), timeout)
            .map(drop)
    }

    /// HcsGetProcessInfo: the process id and fresh stdio handles, owned by the caller.
    pub fn info(&self, timeout: Duration) -> Result<RawProcessInfo, HcsError> {
        const CALL: &str = "HcsGetProcessInfo";
        let op = Operation::new(&self.lib)?;
        let hr = self.lib.get_process_info(self.raw(), op.raw());
        check(CALL, hr, None)?;
        op.wait_process_info(CALL, timeout)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.lib.close_process(h);
        }
    }
}
