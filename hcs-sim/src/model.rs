//! The simulated Host Compute Service: compute systems, processes, operations, callbacks and
//! stdio handles, all behind one global lock, plus the bookkeeping the tests read back (call
//! counts, open handles, documents received) and the fault injector.
//!
//! Everything here is safe code; `exports` turns the C ABI into calls on [`Sim`].

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_void;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::rawio::{self, OwnedRaw};

pub type Hresult = i32;

const fn hr(v: u32) -> Hresult {
    v as i32
}

pub const S_OK: Hresult = 0;
pub const E_FAIL: Hresult = hr(0x8000_4005);
pub const E_ABORT: Hresult = hr(0x8000_4004);
pub const E_INVALIDARG: Hresult = hr(0x8007_0057);
/// HRESULT_FROM_WIN32(ERROR_INVALID_HANDLE)
pub const E_HANDLE: Hresult = hr(0x8007_0006);
/// HRESULT_FROM_WIN32(ERROR_NOT_FOUND)
pub const E_NOT_FOUND: Hresult = hr(0x8007_0490);
/// HCS_E_OPERATION_TIMEOUT: what HcsWaitForOperationResult returns on timeout.
pub const E_TIMEOUT: Hresult = hr(0x8037_0118);
/// Real HCS does not implement HcsCancelOperation.
pub const E_NOTIMPL: Hresult = hr(0x8000_4001);
pub const HCS_E_OPERATION_INVALID_STATE: Hresult = hr(0x8037_0105);
pub const HCS_E_INVALID_JSON: Hresult = hr(0x8037_010D);
pub const HCS_E_SYSTEM_NOT_FOUND: Hresult = hr(0x8037_010E);
pub const HCS_E_SYSTEM_ALREADY_EXISTS: Hresult = hr(0x8037_010F);
pub const HCS_E_SYSTEM_ALREADY_STOPPED: Hresult = hr(0x8037_0110);
pub const HCS_E_PROCESS_ALREADY_STOPPED: Hresult = hr(0x8037_011F);

pub const EVENT_SYSTEM_EXITED: u32 = 0x0000_0001;
pub const EVENT_PROCESS_EXITED: u32 = 0x0001_0000;

/// Exit code of a process killed by HcsTerminateProcess or by its system stopping.
const KILLED_EXIT_CODE: u32 = 1;

/// `HCS_EVENT`: the layout computecore.dll passes to event callbacks.
#[repr(C)]
pub struct HcsEvent {
    pub event_type: u32,
    pub event_data: *const u16,
}

/// `HCS_PROCESS_INFORMATION`.
#[repr(C)]
pub struct HcsProcessInformation {
    pub process_id: u32,
    pub reserved: u32,
    pub std_input: *mut c_void,
    pub std_output: *mut c_void,
    pub std_error: *mut c_void,
}

pub type EventCallback = unsafe extern "system" fn(event: *const HcsEvent, context: *mut c_void);

#[derive(Clone, Copy)]
pub struct Callback {
    pub func: EventCallback,
    pub context: usize,
}

// ----- configuration -----

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Matched in order against each new process's CommandLine; the first match wins.
    pub processes: Vec<ProcessScript>,
    pub faults: Vec<Fault>,
    /// Start real processes (Windows only): each process's CommandLine goes verbatim to
    /// CreateProcessW, with the process's stdio pipes; scripts then only match for
    /// `signal_exit_code`.
    pub exec: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessScript {
    /// Substring of the CommandLine; empty matches every process.
    #[serde(default)]
    pub command_line_contains: String,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub exit_code: u32,
    #[serde(default)]
    pub run: RunMode,
    /// Exit code when HcsSignalProcess stops the process.
    #[serde(default = "default_signal_exit_code")]
    pub signal_exit_code: u32,
}

fn default_signal_exit_code() -> u32 {
    KILLED_EXIT_CODE
}

impl Default for ProcessScript {
    fn default() -> Self {
        Self {
            command_line_contains: String::new(),
            stdout: String::new(),
            stderr: String::new(),
            exit_code: 0,
            run: RunMode::Exit,
            signal_exit_code: KILLED_EXIT_CODE,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Writes its output and exits.
    #[default]
    Exit,
    /// Writes its output, then runs until its stdin is closed (or it is signalled).
    UntilStdinClosed,
    /// Writes its output, then runs until signalled or terminated.
    UntilSignalled,
    /// As `UntilSignalled`, but when its compute system stops, its exit notification is
    /// lost (it dies, its pipes close, no callback comes): the fault behind a delete that
    /// times out waiting for the init's exit.
    ExitNotificationLost,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Exported function name, e.g. `HcsStartComputeSystem`.
    pub function: String,
    /// 1-based: the Nth call of `function` since the last configure/reset fails.
    #[serde(default = "one")]
    pub occurrence: u32,
    /// Accepts either the signed or the unsigned spelling (0x80370110 or -2143878896).
    #[serde(default)]
    pub hresult: Option<i64>,
    #[serde(default)]
    pub mode: FaultMode,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// The call itself returns the HRESULT.
    #[default]
    Fail,
    /// The call returns S_OK and its operation completes with the HRESULT (how HCS reports
    /// most failures). For calls without an operation this is the same as `fail`.
    Async,
    /// The call returns S_OK and its operation never completes.
    Hang,
}

impl Fault {
    fn hresult(&self) -> Hresult {
        self.hresult.map(|v| v as u32 as i32).unwrap_or(E_FAIL)
    }
}

// ----- objects -----

enum OpState {
    /// Created, not yet passed to a call.
    Idle,
    Done {
        hr: Hresult,
        doc: Option<String>,
    },
    Hanging,
}

struct PendingInfo {
    pid: u32,
    stdin: Option<OwnedRaw>,
    stdout: Option<OwnedRaw>,
    stderr: Option<OwnedRaw>,
}

struct Op {
    state: OpState,
    /// The caller's ends of a new process's pipes until it collects them; dropped (closed)
    /// with the operation otherwise.
    info: Option<PendingInfo>,
}

struct SysHandle {
    id: String,
    /// False when the create call failed: the handle is valid but names no system.
    live: bool,
    callback: Option<Callback>,
}

struct ProcHandle {
    pid: u32,
    live: bool,
    callback: Option<Callback>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SysState {
    Created,
    Running,
    Paused,
    Stopped,
}

struct System {
    state: SysState,
    terminate_on_last_close: bool,
    pids: Vec<u32>,
}

#[derive(Default)]
struct ProcState {
    exited: bool,
    exit_code: u32,
    kill: Option<u32>,
    stdin_eof: bool,
    stdin_data: Vec<u8>,
}

pub struct Proc {
    pid: u32,
    signal_exit_code: u32,
    /// Set when a system stop kills a process whose script loses the notification.
    lose_exit_notification: AtomicBool,
    loses_exit_on_stop: bool,
    state: Mutex<ProcState>,
    cv: Condvar,
}

impl Proc {
    fn lock(&self) -> MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kill(&self, code: u32) {
        let mut st = self.lock();
        if !st.exited && st.kill.is_none() {
            st.kill = Some(code);
        }
        self.cv.notify_all();
    }
}

struct StdioRecord {
    raw: usize,
    /// What /proc/self/fd/N pointed at when handed out ("pipe:[inode]"): the fd is still the
    /// caller's only while it points at the same pipe.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    link: String,
}

pub struct Sim {
    next_handle: usize,
    next_pid: u32,
    config: Config,
    calls: BTreeMap<String, u32>,
    operations: HashMap<usize, Op>,
    system_handles: HashMap<usize, SysHandle>,
    process_handles: HashMap<usize, ProcHandle>,
    systems: HashMap<String, System>,
    processes: HashMap<u32, Arc<Proc>>,
    documents: HashMap<usize, Vec<u16>>,
    stdio: Vec<StdioRecord>,
    received: Vec<Value>,
    /// What each process read from stdin, kept after the process is gone.
    stdin_log: BTreeMap<String, String>,
    cancelled: u32,
    /// The Host Network Service behind the HCN exports.
    pub(crate) hns: crate::hns::Hns,
    /// Activated writable layers (`home\id` → volume path once prepared).
    pub(crate) mounts: BTreeMap<String, Option<String>>,
}

static SIM: OnceLock<Mutex<Sim>> = OnceLock::new();

/// Environment variable with an initial [`Config`] (JSON), read once when the simulator is
/// first used: a daemon that loads the simulator (`dockbridge serve --hcs-library`) has no
/// other way to be given a script by an end-to-end test.
pub const CONFIG_ENV: &str = "HCS_SIM_CONFIG";
/// A file the simulator rewrites with its report (`HcsSimReport`'s JSON) after every open
/// and close: how a test reads the handle counts of a simulator loaded by another process.
pub const REPORT_ENV: &str = "HCS_SIM_REPORT";

/// The same two settings for a process whose environment a test cannot set (a Windows
/// service gets the environment the SCM builds): `{"config": {...}, "report": "PATH"}` in
/// `SETTINGS_FILE` beside the simulator DLL (a test copies the DLL into a folder of its
/// own). The environment wins.
pub const SETTINGS_FILE: &str = "hcs_sim.settings.json";

#[derive(Default, Deserialize)]
struct Settings {
    config: Option<Config>,
    report: Option<std::path::PathBuf>,
}

fn settings_beside() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        #[cfg(windows)]
        let dir = crate::module::own_path().and_then(|p| p.parent().map(|d| d.to_path_buf()));
        #[cfg(not(windows))]
        let dir: Option<std::path::PathBuf> = None;
        let Some(path) = dir.map(|d| d.join(SETTINGS_FILE)) else {
            return Settings::default();
        };
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                eprintln!("hcs-sim: ignoring invalid {}: {e}", path.display());
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    })
}

fn report_path() -> Option<std::path::PathBuf> {
    std::env::var_os(REPORT_ENV)
        .map(Into::into)
        .or_else(|| settings_beside().report.clone())
}

pub fn sim() -> MutexGuard<'static, Sim> {
    SIM.get_or_init(|| {
        let mut sim = Sim::new();
        if let Ok(json) = std::env::var(CONFIG_ENV) {
            match serde_json::from_str::<Config>(&json) {
                Ok(c) => sim.configure(c),
                Err(e) => eprintln!("hcs-sim: ignoring invalid {CONFIG_ENV}: {e}"),
            }
        } else if let Some(c) = settings_beside().config.clone() {
            sim.configure(c);
        }
        Mutex::new(sim)
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

/// What a call that takes an operation should do after fault injection.
enum Begin {
    /// Do the work and complete the operation.
    Proceed,
    /// Return S_OK without doing the work; the operation is already failed or hanging.
    Faulted,
}

/// The adapter-facing result of waiting on an operation.
pub enum WaitOutcome {
    Done {
        hr: Hresult,
        doc: Option<String>,
        info: Option<(u32, [usize; 3])>,
    },
    /// Hangs: the export sleeps for the timeout without the lock, then reports E_TIMEOUT.
    Hang,
}

impl Sim {
    fn new() -> Self {
        Self {
            next_handle: 0x100,
            next_pid: 1000,
            config: Config::default(),
            calls: BTreeMap::new(),
            operations: HashMap::new(),
            system_handles: HashMap::new(),
            process_handles: HashMap::new(),
            systems: HashMap::new(),
            processes: HashMap::new(),
            documents: HashMap::new(),
            stdio: Vec::new(),
            received: Vec::new(),
            stdin_log: BTreeMap::new(),
            cancelled: 0,
            hns: crate::hns::Hns::default(),
            mounts: BTreeMap::new(),
        }
    }

    fn new_handle(&mut self) -> usize {
        self.next_handle += 4;
        self.next_handle
    }

    /// Counts the call and returns the fault planned for this occurrence, if any.
    fn enter(&mut self, function: &str) -> Option<Fault> {
        let n = self.calls.entry(function.to_string()).or_insert(0);
        *n += 1;
        let n = *n;
        self.config
            .faults
            .iter()
            .find(|f| f.function == function && f.occurrence == n)
            .cloned()
    }

    /// Fault injection and operation validation for calls that take an operation.
    fn begin(&mut self, function: &str, op: usize) -> Result<Begin, Hresult> {
        let fault = self.enter(function);
        let Some(o) = self.operations.get_mut(&op) else {
            return Err(E_HANDLE);
        };
        if !matches!(o.state, OpState::Idle) {
            return Err(HCS_E_OPERATION_INVALID_STATE);
        }
        match fault {
            None => Ok(Begin::Proceed),
            Some(f) => match f.mode {
                FaultMode::Fail => Err(f.hresult()),
                FaultMode::Async => {
                    o.state = OpState::Done {
                        hr: f.hresult(),
                        doc: Some(error_doc(f.hresult(), "injected fault")),
                    };
                    Ok(Begin::Faulted)
                }
                FaultMode::Hang => {
                    o.state = OpState::Hanging;
                    Ok(Begin::Faulted)
                }
            },
        }
    }

    /// Fault injection for calls without an operation.
    fn enter_sync(&mut self, function: &str) -> Result<(), Hresult> {
        match self.enter(function) {
            Some(f) => Err(f.hresult()),
            None => Ok(()),
        }
    }

    fn complete(&mut self, op: usize, hr: Hresult, doc: Option<String>) {
        if let Some(o) = self.operations.get_mut(&op) {
            let doc = doc.or_else(|| (hr < 0).then(|| error_doc(hr, "simulated failure")));
            o.state = OpState::Done { hr, doc };
        }
    }

    /// The storage calls' fault injection (they have no operation).
    pub(crate) fn enter_storage(&mut self, function: &str) -> Result<(), Hresult> {
        self.enter_sync(function)
    }

    /// The HCN calls' fault injection (no operation either).
    pub(crate) fn enter_hns(&mut self, function: &str) -> Result<(), Hresult> {
        self.enter_sync(function)
    }

    pub(crate) fn record_value(&mut self, function: &str, document: Value) {
        self.received
            .push(json!({ "function": function, "document": document }));
    }

    fn record(&mut self, function: &str, document: Option<&str>) {
        let doc = document
            .map(|d| serde_json::from_str::<Value>(d).unwrap_or_else(|_| Value::String(d.into())))
            .unwrap_or(Value::Null);
        self.received
            .push(json!({ "function": function, "document": doc }));
    }

    // ----- control -----

    pub fn configure(&mut self, config: Config) {
        self.config = config;
        self.calls.clear();
    }

    pub fn reset(&mut self) {
        for p in self.processes.values() {
            p.kill(KILLED_EXIT_CODE);
        }
        *self = Self {
            next_handle: self.next_handle,
            next_pid: self.next_pid,
            ..Self::new()
        };
    }

    fn open_stdio(&self) -> usize {
        self.stdio
            .iter()
            .filter(|r| rawio::still_open(r.raw, &r.link))
            .count()
    }

    /// Writes the report to [`REPORT_ENV`]'s file, when set (errors are the test's to see:
    /// a missing or stale file).
    pub fn publish_report(&self) {
        if let Some(path) = report_path() {
            let tmp = std::path::PathBuf::from(&path).with_extension("tmp");
            if std::fs::write(&tmp, self.report()).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
    }

    pub fn open_handles(&self) -> u32 {
        let n = self.operations.len()
            + self.system_handles.len()
            + self.process_handles.len()
            + self.hns.open_handles()
            + self.open_stdio();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    pub fn report(&self) -> String {
        let mut stdin = self.stdin_log.clone();
        for p in self.processes.values() {
            stdin.insert(
                p.pid.to_string(),
                String::from_utf8_lossy(&p.lock().stdin_data).into_owned(),
            );
        }
        let running = self.processes.values().filter(|p| !p.lock().exited).count();
        json!({
            "open_handles": self.open_handles(),
            "operations": self.operations.len(),
            "system_handles": self.system_handles.len(),
            "process_handles": self.process_handles.len(),
            "stdio": self.open_stdio(),
            "documents": self.documents.len(),
            "live_systems": self.systems.len(),
            "running_processes": running,
            "calls": self.calls,
            "cancelled": self.cancelled,
            "received": self.received,
            "stdin": stdin,
            "hns": self.hns.report(),
            "mounted_layers": self.mounts.len(),
        })
        .to_string()
    }

    // ----- documents -----

    /// Keeps a returned document alive until the caller frees it with `LocalFree`.
    pub fn alloc_document(&mut self, doc: &str) -> *mut u16 {
        let mut w: Vec<u16> = doc.encode_utf16().collect();
        w.push(0);
        let ptr = w.as_mut_ptr();
        self.documents.insert(ptr as usize, w);
        ptr
    }

    /// Returns whether `ptr` was a live document.
    pub fn free_document(&mut self, ptr: usize) -> bool {
        self.documents.remove(&ptr).is_some()
    }

    // ----- operations -----

    pub fn create_operation(&mut self) -> usize {
        if self.enter_sync("HcsCreateOperation").is_err() {
            return 0;
        }
        let h = self.new_handle();
        self.operations.insert(
            h,
            Op {
                state: OpState::Idle,
                info: None,
            },
        );
        h
    }

    pub fn close_operation(&mut self, op: usize) {
        self.enter("HcsCloseOperation");
        self.operations.remove(&op);
    }

    pub fn cancel_operation(&mut self, op: usize) -> Hresult {
        if let Err(hr) = self.enter_sync("HcsCancelOperation") {
            return hr;
        }
        if !self.operations.contains_key(&op) {
            return E_HANDLE;
        }
        // As real HCS: counted (a test can prove it is never relied on), never done.
        self.cancelled += 1;
        E_NOTIMPL
    }

    pub fn wait_operation(&mut self, function: &str, op: usize, want_info: bool) -> WaitOutcome {
        if let Err(hr) = self.enter_sync(function) {
            return WaitOutcome::Done {
                hr,
                doc: None,
                info: None,
            };
        }
        let Some(o) = self.operations.get_mut(&op) else {
            return WaitOutcome::Done {
                hr: E_HANDLE,
                doc: None,
                info: None,
            };
        };
        let (hr, doc) = match &o.state {
            OpState::Hanging => return WaitOutcome::Hang,
            OpState::Idle => (HCS_E_OPERATION_INVALID_STATE, None),
            OpState::Done { hr, doc } => (*hr, doc.clone()),
        };
        let pending = if want_info && hr >= 0 {
            o.info.take()
        } else {
            None
        };
        let info = pending.map(|p| {
            let pid = p.pid;
            let raws = [p.stdin, p.stdout, p.stderr].map(|end| end.map(|e| self.hand_out(e)));
            (pid, raws.map(|r| r.unwrap_or(0)))
        });
        WaitOutcome::Done { hr, doc, info }
    }

    /// Transfers ownership of one pipe end to the caller, remembering it for leak counting.
    fn hand_out(&mut self, end: OwnedRaw) -> usize {
        let raw = rawio::into_raw(end);
        let link = rawio::describe(raw);
        self.stdio.push(StdioRecord { raw, link });
        raw
    }

    // ----- compute systems -----

    fn system_of(&self, handle: usize) -> Result<(&str, bool), Hresult> {
        self.system_handles
            .get(&handle)
            .map(|h| (h.id.as_str(), h.live))
            .ok_or(E_HANDLE)
    }

    pub fn create_compute_system(
        &mut self,
        id: Option<String>,
        config: Option<String>,
        op: usize,
    ) -> Result<usize, Hresult> {
        let begin = self.begin("HcsCreateComputeSystem", op)?;
        self.record("HcsCreateComputeSystem", config.as_deref());
        let id = id.unwrap_or_default();
        let handle = self.new_handle();
        let mut live = false;
        if matches!(begin, Begin::Proceed) {
            let parsed = config
                .as_deref()
                .and_then(|c| serde_json::from_str::<Value>(c).ok())
                .filter(|v| v.get("SchemaVersion").is_some());
            match parsed {
                None => self.complete(op, HCS_E_INVALID_JSON, None),
                Some(_) if id.is_empty() => self.complete(op, E_INVALIDARG, None),
                Some(_) if self.systems.contains_key(&id) => {
                    self.complete(op, HCS_E_SYSTEM_ALREADY_EXISTS, None)
                }
                // A volume path as storage must be a prepared (mounted) layer's.
                Some(doc)
                    if doc
                        .pointer("/Container/Storage/Path")
                        .and_then(Value::as_str)
                        .is_some_and(|p| {
                            p.starts_with(r"\\?\Volume{")
                                && !self.mounts.values().any(|v| v.as_deref() == Some(p))
                        }) =>
                {
                    self.complete(op, hr(0x8007_0003), None)
                }
                // As on a real host, the HNS namespace a container joins must exist.
                Some(doc)
                    if doc
                        .pointer("/Container/Networking/Namespace")
                        .and_then(Value::as_str)
                        .is_some_and(|ns| !ns.is_empty() && !self.hns.namespace_exists(ns)) =>
                {
                    self.complete(op, crate::hns::HCN_E_NAMESPACE_NOT_FOUND, None)
                }
                Some(doc) => {
                    let terminate_on_last_close = doc
                        .get("ShouldTerminateOnLastHandleClosed")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    self.systems.insert(
                        id.clone(),
                        System {
                            state: SysState::Created,
                            terminate_on_last_close,
                            pids: Vec::new(),
                        },
                    );
                    live = true;
                    self.complete(op, S_OK, None);
                }
            }
        }
        self.system_handles.insert(
            handle,
            SysHandle {
                id,
                live,
                callback: None,
            },
        );
        Ok(handle)
    }

    /// Shared shape of start/shutdown/terminate/pause/resume/properties.
    pub fn system_op(
        &mut self,
        function: &str,
        handle: usize,
        op: usize,
        options: Option<String>,
    ) -> Hresult {
        let begin = match self.begin(function, op) {
            Ok(b) => b,
            Err(hr) => return hr,
        };
        self.record(function, options.as_deref());
        let (id, live) = match self.system_of(handle) {
            Ok((id, live)) => (id.to_string(), live),
            Err(hr) => return hr,
        };
        if matches!(begin, Begin::Faulted) {
            return S_OK;
        }
        let Some(state) = self.systems.get(&id).map(|s| s.state).filter(|_| live) else {
            self.complete(op, HCS_E_SYSTEM_NOT_FOUND, None);
            return S_OK;
        };
        let (result, doc) = match (function, state) {
            ("HcsStartComputeSystem", SysState::Created) => {
                self.set_state(&id, SysState::Running);
                (S_OK, None)
            }
            ("HcsShutDownComputeSystem" | "HcsTerminateComputeSystem", SysState::Stopped) => {
                (HCS_E_SYSTEM_ALREADY_STOPPED, None)
            }
            ("HcsShutDownComputeSystem" | "HcsTerminateComputeSystem", _) => {
                self.stop_system(&id);
                (S_OK, None)
            }
            ("HcsPauseComputeSystem", SysState::Running) => {
                self.set_state(&id, SysState::Paused);
                (S_OK, None)
            }
            ("HcsResumeComputeSystem", SysState::Paused) => {
                self.set_state(&id, SysState::Running);
                (S_OK, None)
            }
            ("HcsGetComputeSystemProperties", s) => (S_OK, Some(self.properties(&id, s))),
            (_, SysState::Stopped) => (HCS_E_SYSTEM_ALREADY_STOPPED, None),
            _ => (HCS_E_OPERATION_INVALID_STATE, None),
        };
        self.complete(op, result, doc);
        S_OK
    }

    fn set_state(&mut self, id: &str, state: SysState) {
        if let Some(s) = self.systems.get_mut(id) {
            s.state = state;
        }
    }

    fn properties(&self, id: &str, state: SysState) -> String {
        let pids = self
            .systems
            .get(id)
            .map(|s| s.pids.clone())
            .unwrap_or_default();
        let running = pids
            .iter()
            .filter(|p| self.processes.get(p).is_some_and(|p| !p.lock().exited))
            .count() as u64;
        json!({
            "Id": id,
            "SystemType": "Container",
            "State": format!("{state:?}"),
            "Stopped": state == SysState::Stopped,
            "Statistics": {
                "Timestamp": "2024-01-01T00:00:00Z",
                "Uptime100ns": 10_000_000u64,
                "Processor": {
                    "TotalRuntime100ns": 3_000u64 * (running + 1),
                    "RuntimeUser100ns": 2_000u64 * (running + 1),
                    "RuntimeKernel100ns": 1_000u64 * (running + 1),
                },
                "Memory": {
                    "MemoryUsageCommitBytes": 16u64 << 20,
                    "MemoryUsageCommitPeakBytes": 32u64 << 20,
                    "MemoryUsagePrivateWorkingSetBytes": 8u64 << 20,
                },
            },
        })
        .to_string()
    }

    /// Kills every process of the system and reports the system's exit to its callbacks.
    fn stop_system(&mut self, id: &str) {
        let Some(sys) = self.systems.get_mut(id) else {
            return;
        };
        sys.state = SysState::Stopped;
        for pid in sys.pids.clone() {
            if let Some(p) = self.processes.get(&pid) {
                if p.loses_exit_on_stop {
                    p.lose_exit_notification.store(true, Ordering::SeqCst);
                }
                p.kill(KILLED_EXIT_CODE);
            }
        }
        let callbacks: Vec<Callback> = self
            .system_handles
            .values()
            .filter(|h| h.live && h.id == id)
            .filter_map(|h| h.callback)
            .collect();
        deliver_async(
            callbacks,
            EVENT_SYSTEM_EXITED,
            r#"{"ExitType":"ForcedExit"}"#.into(),
        );
    }

    pub fn set_system_callback(&mut self, handle: usize, cb: Option<Callback>) -> Hresult {
        if let Err(hr) = self.enter_sync("HcsSetComputeSystemCallback") {
            return hr;
        }
        match self.system_handles.get_mut(&handle) {
            Some(h) => {
                h.callback = cb;
                S_OK
            }
            None => E_HANDLE,
        }
    }

    pub fn close_compute_system(&mut self, handle: usize) {
        self.enter("HcsCloseComputeSystem");
        let Some(h) = self.system_handles.remove(&handle) else {
            return;
        };
        if !h.live {
            return;
        }
        let others = self.system_handles.values().any(|o| o.live && o.id == h.id);
        if others {
            return;
        }
        // The last handle is gone: HCS tears the system down when the document asked for it
        // (ShouldTerminateOnLastHandleClosed); a stopped system disappears either way.
        let Some(sys) = self.systems.get(&h.id) else {
            return;
        };
        if sys.state != SysState::Stopped && sys.terminate_on_last_close {
            self.stop_system(&h.id);
        }
        if self
            .systems
            .get(&h.id)
            .is_some_and(|s| s.state == SysState::Stopped)
        {
            self.systems.remove(&h.id);
        }
    }

    // ----- processes -----

    fn process_of(&self, handle: usize) -> Result<Option<Arc<Proc>>, Hresult> {
        let h = self.process_handles.get(&handle).ok_or(E_HANDLE)?;
        Ok(if h.live {
            self.processes.get(&h.pid).cloned()
        } else {
            None
        })
    }

    pub fn create_process(
        &mut self,
        handle: usize,
        params: Option<String>,
        op: usize,
    ) -> Result<usize, Hresult> {
        let begin = self.begin("HcsCreateProcess", op)?;
        self.record("HcsCreateProcess", params.as_deref());
        let (id, live) = self.system_of(handle).map(|(i, l)| (i.to_string(), l))?;
        let ph = self.new_handle();
        let mut pid = 0;
        if matches!(begin, Begin::Proceed) {
            let state = self.systems.get(&id).filter(|_| live).map(|s| s.state);
            let parsed = params
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok());
            match (state, parsed) {
                (None, _) => self.complete(op, HCS_E_SYSTEM_NOT_FOUND, None),
                (Some(s), _) if s != SysState::Running => {
                    self.complete(op, HCS_E_OPERATION_INVALID_STATE, None)
                }
                (_, None) => self.complete(op, HCS_E_INVALID_JSON, None),
                (Some(_), Some(p)) => match self.spawn_process(&id, &p) {
                    Ok((new_pid, info)) => {
                        pid = new_pid;
                        if let Some(o) = self.operations.get_mut(&op) {
                            o.info = Some(info);
                        }
                        self.complete(op, S_OK, Some(json!({ "ProcessId": pid }).to_string()));
                    }
                    Err(_) => self.complete(op, E_FAIL, None),
                },
            }
        }
        self.process_handles.insert(
            ph,
            ProcHandle {
                pid,
                live: pid != 0,
                callback: None,
            },
        );
        Ok(ph)
    }

    fn spawn_process(
        &mut self,
        system: &str,
        params: &Value,
    ) -> std::io::Result<(u32, PendingInfo)> {
        let flag = |k: &str| params.get(k).and_then(Value::as_bool).unwrap_or(false);
        let command_line = params
            .get("CommandLine")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let script = self
            .config
            .processes
            .iter()
            .find(|s| command_line.contains(&s.command_line_contains))
            .cloned()
            .unwrap_or_default();

        let (stdin_ours, stdin_theirs) = if flag("CreateStdInPipe") {
            let (r, w) = std::io::pipe()?;
            (Some(r), Some(OwnedRaw::from(w)))
        } else {
            (None, None)
        };
        let (stdout_ours, stdout_theirs) = if flag("CreateStdOutPipe") {
            let (r, w) = std::io::pipe()?;
            (Some(w), Some(OwnedRaw::from(r)))
        } else {
            (None, None)
        };
        let (stderr_ours, stderr_theirs) = if flag("CreateStdErrPipe") {
            let (r, w) = std::io::pipe()?;
            (Some(w), Some(OwnedRaw::from(r)))
        } else {
            (None, None)
        };

        self.next_pid += 4;
        let pid = self.next_pid;
        let proc = Arc::new(Proc {
            pid,
            signal_exit_code: script.signal_exit_code,
            lose_exit_notification: AtomicBool::new(false),
            loses_exit_on_stop: script.run == RunMode::ExitNotificationLost,
            state: Mutex::new(ProcState::default()),
            cv: Condvar::new(),
        });
        self.processes.insert(pid, proc.clone());
        if let Some(s) = self.systems.get_mut(system) {
            s.pids.push(pid);
        }
        if self.config.exec {
            let child = spawn_real(command_line, stdin_ours, stdout_ours, stderr_ours)?;
            std::thread::Builder::new()
                .name(format!("hcs-sim-pid-{pid}"))
                .spawn(move || run_real(proc, child))?;
        } else {
            std::thread::Builder::new()
                .name(format!("hcs-sim-pid-{pid}"))
                .spawn(move || run_process(proc, script, stdin_ours, stdout_ours, stderr_ours))?;
        }
        Ok((
            pid,
            PendingInfo {
                pid,
                stdin: stdin_theirs,
                stdout: stdout_theirs,
                stderr: stderr_theirs,
            },
        ))
    }

    /// Shared shape of signal/terminate/properties/info/modify on a process.
    pub fn process_op(
        &mut self,
        function: &str,
        handle: usize,
        op: usize,
        options: Option<String>,
    ) -> Hresult {
        let begin = match self.begin(function, op) {
            Ok(b) => b,
            Err(hr) => return hr,
        };
        self.record(function, options.as_deref());
        let proc = match self.process_of(handle) {
            Ok(p) => p,
            Err(hr) => return hr,
        };
        if matches!(begin, Begin::Faulted) {
            return S_OK;
        }
        let Some(proc) = proc else {
            self.complete(op, E_NOT_FOUND, None);
            return S_OK;
        };
        let (exited, exit_code) = {
            let st = proc.lock();
            (st.exited, st.exit_code)
        };
        let (result, doc) = match function {
            "HcsGetProcessProperties" => (
                S_OK,
                Some(
                    json!({
                        "ProcessId": proc.pid,
                        "Exited": exited,
                        "ExitCode": exit_code,
                        "LastWaitResult": 0,
                    })
                    .to_string(),
                ),
            ),
            "HcsGetProcessInfo" => {
                if let Some(o) = self.operations.get_mut(&op) {
                    o.info = Some(PendingInfo {
                        pid: proc.pid,
                        stdin: None,
                        stdout: None,
                        stderr: None,
                    });
                }
                (S_OK, None)
            }
            _ if exited => (HCS_E_PROCESS_ALREADY_STOPPED, None),
            "HcsTerminateProcess" => {
                proc.kill(KILLED_EXIT_CODE);
                (S_OK, None)
            }
            "HcsSignalProcess" => {
                let code = proc.signal_exit_code;
                match options
                    .as_deref()
                    .and_then(|o| serde_json::from_str::<Value>(o).ok())
                {
                    Some(v) if v.get("Signal").is_some() => {
                        proc.kill(code);
                        (S_OK, None)
                    }
                    _ => (E_INVALIDARG, None),
                }
            }
            _ => (S_OK, None), // HcsModifyProcess: recorded above
        };
        self.complete(op, result, doc);
        S_OK
    }

    pub fn set_process_callback(&mut self, handle: usize, cb: Option<Callback>) -> Hresult {
        if let Err(hr) = self.enter_sync("HcsSetProcessCallback") {
            return hr;
        }
        let Some(h) = self.process_handles.get_mut(&handle) else {
            return E_HANDLE;
        };
        h.callback = cb;
        let (pid, live) = (h.pid, h.live);
        // Registering after the process has already exited still reports the exit, so a
        // caller that registers right after HcsCreateProcess cannot miss it.
        if let (Some(cb), true) = (cb, live) {
            if let Some(p) = self.processes.get(&pid) {
                let st = p.lock();
                if st.exited {
                    deliver_async(vec![cb], EVENT_PROCESS_EXITED, exit_data(st.exit_code));
                }
            }
        }
        S_OK
    }

    pub fn close_process(&mut self, handle: usize) {
        self.enter("HcsCloseProcess");
        let Some(h) = self.process_handles.remove(&handle) else {
            return;
        };
        self.forget_if_done(h.pid);
    }

    fn forget_if_done(&mut self, pid: u32) {
        let held = self
            .process_handles
            .values()
            .any(|o| o.live && o.pid == pid);
        let exited = self.processes.get(&pid).is_some_and(|p| p.lock().exited);
        if !held && exited {
            self.processes.remove(&pid);
            for s in self.systems.values_mut() {
                s.pids.retain(|p| *p != pid);
            }
        }
    }

    fn exit_callbacks(&self, pid: u32) -> Vec<Callback> {
        self.process_handles
            .values()
            .filter(|h| h.live && h.pid == pid)
            .filter_map(|h| h.callback)
            .collect()
    }
}

fn error_doc(hr: Hresult, message: &str) -> String {
    json!({ "Error": hr, "ErrorMessage": message }).to_string()
}

fn exit_data(code: u32) -> String {
    json!({ "Exited": true, "ExitCode": code }).to_string()
}

/// Delivers an event on a fresh thread, like HCS's own callback threads: never under the lock.
fn deliver_async(callbacks: Vec<Callback>, event_type: u32, data: String) {
    if callbacks.is_empty() {
        return;
    }
    std::thread::spawn(move || {
        for cb in callbacks {
            crate::exports::deliver(cb, event_type, &data);
        }
    });
}

/// The body of a simulated process: scripted output, then run as scripted, then exit.
fn run_process(
    proc: Arc<Proc>,
    script: ProcessScript,
    stdin: Option<std::io::PipeReader>,
    mut stdout: Option<std::io::PipeWriter>,
    mut stderr: Option<std::io::PipeWriter>,
) {
    // A reader that went away is the caller's business; the process runs on regardless.
    if let Some(w) = stdout.as_mut() {
        let _ = w.write_all(script.stdout.as_bytes());
    }
    if let Some(w) = stderr.as_mut() {
        let _ = w.write_all(script.stderr.as_bytes());
    }
    match script.run {
        RunMode::Exit => drop(stdin),
        RunMode::UntilStdinClosed => {
            match stdin {
                Some(mut r) => {
                    let p = proc.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        loop {
                            match r.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => p.lock().stdin_data.extend_from_slice(&buf[..n]),
                            }
                        }
                        p.lock().stdin_eof = true;
                        p.cv.notify_all();
                    });
                }
                None => proc.lock().stdin_eof = true,
            }
            let mut st = proc.lock();
            while !st.stdin_eof && st.kill.is_none() {
                st = proc.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
        RunMode::UntilSignalled | RunMode::ExitNotificationLost => {
            drop(stdin);
            let mut st = proc.lock();
            while st.kill.is_none() {
                st = proc.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
    }
    // Closing our ends gives the reader EOF, as the container's process exiting would.
    drop(stdout);
    drop(stderr);
    exited(&proc, script.exit_code);
}

#[cfg(windows)]
type RealChild = crate::winproc::Child;
#[cfg(not(windows))]
type RealChild = std::convert::Infallible;

#[cfg(windows)]
fn spawn_real(
    command_line: &str,
    stdin: Option<std::io::PipeReader>,
    stdout: Option<std::io::PipeWriter>,
    stderr: Option<std::io::PipeWriter>,
) -> std::io::Result<RealChild> {
    // Our copies of the child's ends close when this returns: the child holds its own.
    crate::winproc::spawn(
        command_line,
        stdin.map(Into::into),
        stdout.map(Into::into),
        stderr.map(Into::into),
    )
}

#[cfg(not(windows))]
fn spawn_real(
    _: &str,
    _: Option<std::io::PipeReader>,
    _: Option<std::io::PipeWriter>,
    _: Option<std::io::PipeWriter>,
) -> std::io::Result<RealChild> {
    Err(std::io::Error::other(
        "the simulator starts real processes only on Windows",
    ))
}

/// Waits for a real process, terminating it when HCS is asked to signal or terminate it.
#[cfg(windows)]
fn run_real(proc: Arc<Proc>, child: RealChild) {
    let code = loop {
        if let Some(code) = child.wait_timeout(50) {
            break code;
        }
        if let Some(kill) = proc.lock().kill {
            child.terminate(kill);
        }
    };
    exited(&proc, code);
}

#[cfg(not(windows))]
fn run_real(_: Arc<Proc>, child: RealChild) {
    match child {}
}

/// Records the exit (a kill's code wins) and reports it to the registered callbacks.
fn exited(proc: &Arc<Proc>, natural_code: u32) {
    let (code, stdin_data) = {
        let mut st = proc.lock();
        st.exit_code = st.kill.unwrap_or(natural_code);
        st.exited = true;
        (
            st.exit_code,
            String::from_utf8_lossy(&st.stdin_data).into_owned(),
        )
    };
    let callbacks = {
        let mut s = sim();
        s.stdin_log.insert(proc.pid.to_string(), stdin_data);
        let cbs = s.exit_callbacks(proc.pid);
        s.forget_if_done(proc.pid);
        cbs
    };
    if proc.lose_exit_notification.load(Ordering::SeqCst) {
        return;
    }
    for cb in callbacks {
        crate::exports::deliver(cb, EVENT_PROCESS_EXITED, &exit_data(code));
    }
}
