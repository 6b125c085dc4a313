//! Shared test harness: loads the HCS simulator through the adapter's own loading path.
//!
//! Finding the simulator: `hcs-sim` is a dev-dependency of this crate, so cargo builds its
//! cdylib before any test of this crate runs (`cargo test -p dockbridge-hcs`, `cargo test
//! --workspace` alike) and puts it next to the test executable, in `target/<profile>/deps/`
//! (or in `target/<profile>/` when built on its own). `HCS_SIM_LIBRARY` overrides the
//! search; as a last resort the harness builds the simulator with the cargo that runs it,
//! into `target/<profile>/hcs-sim-for-tests/`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use hcs::adapter::{Adapter, AdapterConfig, Event, ProcessStdio};
use hcs::document::{self, DocumentOptions, StdioPipes};
use hcs::ffi::SimControl;
use hcs::schema::{ComputeSystem, ProcessParameters};
use serde_json::Value;
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::sync::broadcast;

pub fn sim_library() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(find_sim_library).clone()
}

fn find_sim_library() -> PathBuf {
    if let Some(p) = std::env::var_os("HCS_SIM_LIBRARY") {
        return p.into();
    }
    let name = format!(
        "{}hcs_sim{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe
        .parent()
        .expect("test executable directory")
        .to_path_buf();
    let candidates: Vec<PathBuf> = [Some(deps.clone()), deps.parent().map(Path::to_path_buf)]
        .into_iter()
        .flatten()
        .map(|d| d.join(&name))
        .collect();
    if let Some(p) = candidates.iter().find(|p| p.exists()) {
        return p.clone();
    }
    // Last resort, e.g. a test binary run by hand: build into a target directory of its
    // own, so this never waits for the lock of the build that is running the tests.
    let own_target = deps.parent().unwrap_or(&deps).join("hcs-sim-for-tests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "dockbridge-hcs-sim", "--target-dir"])
        .arg(&own_target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("running cargo build -p dockbridge-hcs-sim");
    assert!(status.success(), "building the HCS simulator failed");
    Some(own_target.join("debug").join(&name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} not found next to {}", exe.display()))
}

/// The simulator is global to the process: one test at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Harness {
    _serial: MutexGuard<'static, ()>,
    pub sim: SimControl,
    pub adapter: Adapter,
    pub events: broadcast::Receiver<Event>,
}

pub fn config(timeout: Duration) -> AdapterConfig {
    AdapterConfig {
        timeout,
        io_drain_timeout: Duration::from_secs(2),
    }
}

impl Harness {
    pub fn new(sim_config: Value) -> Harness {
        Self::with_config(sim_config, config(Duration::from_secs(5)))
    }

    pub fn with_config(sim_config: Value, config: AdapterConfig) -> Harness {
        let guard = serial();
        let sim = SimControl::load(&sim_library()).expect("loading the simulator");
        sim.reset();
        assert!(
            sim.configure(&sim_config.to_string()),
            "simulator rejected {sim_config}"
        );
        let adapter = Adapter::load(Some(&sim_library()), config).expect("loading HCS");
        let events = adapter.subscribe();
        Harness {
            _serial: guard,
            sim,
            adapter,
            events,
        }
    }

    /// Starts over with a new fault plan and a fresh adapter (same lock).
    pub fn reconfigure(&mut self, sim_config: Value, config: AdapterConfig) {
        self.sim.reset();
        assert!(self.sim.configure(&sim_config.to_string()));
        self.adapter = Adapter::load(Some(&sim_library()), config).expect("loading HCS");
        self.events = self.adapter.subscribe();
    }

    pub fn report(&self) -> Value {
        serde_json::from_str(&self.sim.report()).expect("simulator report is JSON")
    }

    pub fn calls(&self, function: &str) -> u64 {
        self.report()["calls"][function].as_u64().unwrap_or(0)
    }

    /// Waits (bounded) for every handle and document to be released; returns what is left:
    /// open handles + unfreed documents + compute systems still alive.
    pub async fn leaked(&self) -> u64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            let r = self.report();
            let left = r["open_handles"].as_u64().unwrap_or(0)
                + r["documents"].as_u64().unwrap_or(0)
                + r["live_systems"].as_u64().unwrap_or(0);
            if left == 0 || tokio::time::Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The next `Exited` event for the init process (`None`) or an exec.
    pub async fn exited(&mut self, exec_id: Option<&str>, within: Duration) -> Option<(i32, u32)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .ok()?
                .ok()?;
            if let Event::Exited {
                exec_id: e,
                exit_code,
                pid,
                ..
            } = ev
            {
                if e.as_deref() == exec_id {
                    return Some((exit_code, pid));
                }
            }
        }
    }

    /// Every event received so far, without waiting.
    pub fn drain_events(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(ev) = self.events.try_recv() {
            out.push(ev);
        }
        out
    }
}

pub fn spec(command_line: &str) -> oci_spec::runtime::Spec {
    let json = serde_json::json!({
        "ociVersion": "1.1.0",
        "process": {
            "user": {"uid": 0, "gid": 0, "username": "ContainerUser"},
            "commandLine": command_line,
            "cwd": "C:\\",
            "env": ["PATH=C:\\Windows\\system32;C:\\Windows"],
        },
        // No root.path: the simulator, like HCS, refuses a volume that is not mounted, and
        // these tests are about the compute system, not storage (Storage.Path is then the
        // scratch folder).
        "hostname": "dockbridge",
        "windows": {
            "layerFolders": [
                "C:\\ProgramData\\dockbridge\\windowsfilter\\base",
                "C:\\ProgramData\\dockbridge\\windowsfilter\\scratch"
            ]
        }
    });
    serde_json::from_value(json).expect("valid OCI spec")
}

pub fn documents(command_line: &str, stdin: bool) -> (ComputeSystem, ProcessParameters) {
    let spec = spec(command_line);
    let doc = document::compute_system(&spec, &DocumentOptions::default()).expect("document");
    let process = spec.process().as_ref().expect("process");
    let params = document::process_parameters(process, StdioPipes { stdin }).expect("params");
    (doc, params)
}

/// The caller's ends of a process's stdio, wired as the proxy backend does.
pub struct Streams {
    pub stdin: Option<DuplexStream>,
    pub stdout: DuplexStream,
    pub stderr: DuplexStream,
}

pub fn stdio(stdin: bool) -> (ProcessStdio, Streams) {
    let (out_ours, out_theirs) = tokio::io::duplex(64 * 1024);
    let (err_ours, err_theirs) = tokio::io::duplex(64 * 1024);
    let (in_ours, in_theirs) = if stdin {
        let (a, b) = tokio::io::duplex(64 * 1024);
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    (
        ProcessStdio {
            stdin: in_theirs.map(|s| Box::pin(s) as _),
            stdout: Some(Box::pin(out_theirs)),
            stderr: Some(Box::pin(err_theirs)),
        },
        Streams {
            stdin: in_ours,
            stdout: out_ours,
            stderr: err_ours,
        },
    )
}

pub async fn read_all(mut s: DuplexStream) -> String {
    let mut buf = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut buf)).await;
    buf
}
