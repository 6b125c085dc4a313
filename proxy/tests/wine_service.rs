//! dockbridge.exe as a Windows service, under Wine's service control manager (services.exe):
//! `serve --register-service` with the daemon's flags, `sc start`, a container run through
//! the named pipe (one still running, one exited), then `sc stop`: the stop control shuts
//! the daemon down gracefully, and the HCS simulator (loaded in the service's process) shows
//! in its report file that every compute system and every process handle it opened was
//! closed. The SCM starts a service with an environment of its own (Wine's services.exe
//! builds it once, from the machine environment), so the simulator gets its settings from
//! `hcs_sim.settings.json` beside a copy of the DLL in the test's own folder.
//!
//! Its own WINEPREFIX (scripts/test.sh): a registered service belongs to the prefix, and an
//! auto-start service left behind by a failed run would start with the next Wine session.
#![cfg(windows)]

mod wine_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::{json, Value};
use wine_common::{argv_echo, simulator, windows_images, Api};

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The service's state as `sc query` prints it (`RUNNING`, `STOPPED`, …), `None` when the
/// service does not exist.
fn state(name: &str) -> Option<String> {
    let (ok, out) = run("sc.exe", &["query", name]);
    if !ok {
        return None;
    }
    out.lines()
        .find(|l| l.trim_start().starts_with("STATE"))
        .and_then(|l| l.split_whitespace().last())
        .map(str::to_string)
}

fn wait_state(name: &str, want: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = state(name);
        if now.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "service {name}: {now:?}, not {want}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The ProcessPrng shim beside dockbridge.exe: the SCM starts the service with the machine
/// environment, without the runner's WINEPATH, and Windows looks in the executable's folder
/// first. Copied through a temporary name so that a running exe never sees a partial file.
fn shim_beside(exe: &Path, echo: &str) {
    let shim_dir = PathBuf::from(echo.rsplit_once('\\').map(|(d, _)| d).unwrap_or("."));
    let src = shim_dir.join("bcryptprimitives.dll");
    let dst = exe.with_file_name("bcryptprimitives.dll");
    let want = std::fs::read(&src).expect("the ProcessPrng shim");
    if std::fs::read(&dst).ok().as_deref() == Some(want.as_slice()) {
        return;
    }
    let tmp = exe.with_file_name(format!("bcryptprimitives.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &want).unwrap();
    std::fs::rename(&tmp, &dst).unwrap();
}

/// Stops and unregisters the service, whatever happened.
struct Registered {
    name: String,
    log: PathBuf,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if state(&self.name).is_some_and(|s| s != "STOPPED") {
            let _ = run("sc.exe", &["stop", &self.name]);
            let deadline = Instant::now() + Duration::from_secs(60);
            while state(&self.name).is_some_and(|s| s != "STOPPED") && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if state(&self.name).is_some() {
            let _ = Command::new(env!("CARGO_BIN_EXE_dockbridge"))
                .args([
                    "serve",
                    "--unregister-service",
                    "--service-name",
                    &self.name,
                ])
                .status();
        }
        if std::thread::panicking() {
            eprintln!(
                "service log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("simulator report")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scm_stop_control_shuts_the_daemon_down_and_closes_every_hcs_handle() {
    let Some(echo) = argv_echo() else { return };
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_dockbridge"));
    shim_beside(&exe, &echo);
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let name = format!("dockbridge_test_{pid}");
    let pipe = format!(r"\\.\pipe\dockbridge_service_{pid}");
    let report_path = dir.path().join("sim-report.json");
    let data_root = dir.path().join("data");

    // The simulator in a folder of the test's own, with its settings beside it.
    let sim_dir = dir.path().join("sim");
    std::fs::create_dir_all(&sim_dir).unwrap();
    let sim_dll = sim_dir.join("hcs_sim.dll");
    std::fs::copy(simulator(), &sim_dll).unwrap();
    std::fs::write(
        sim_dir.join("hcs_sim.settings.json"),
        serde_json::to_vec(&json!({"config": {"exec": true}, "report": report_path})).unwrap(),
    )
    .unwrap();
    let _registered = Registered {
        name: name.clone(),
        log: data_root.join("service.log"),
    };
    let host = format!("npipe://{}", pipe.replace('\\', "/"));
    let sim = sim_dll.display().to_string();
    let data = data_root.display().to_string();
    let exec = dir.path().join("exec").display().to_string();
    let (ok, out) = run(
        exe.to_str().unwrap(),
        &[
            "serve",
            "--register-service",
            "--service-name",
            &name,
            "-H",
            &host,
            "--backend",
            "hcs",
            "--hcs-library",
            &sim,
            "--data-root",
            &data,
            "--exec-root",
            &exec,
        ],
    );
    assert!(ok, "--register-service: {out}");
    assert_eq!(state(&name).as_deref(), Some("STOPPED"));

    let (ok, out) = run("sc.exe", &["start", &name]);
    assert!(ok, "sc start: {out}");
    // Running is reported once the daemon listens.
    wait_state(&name, "RUNNING", Duration::from_secs(60));
    let api = Api { pipe };
    let (st, ping) = api.call("GET", "/_ping", vec![], "text/plain").await;
    assert_eq!((st, ping.as_slice()), (StatusCode::OK, &b"OK"[..]));

    // One container exited (its handles closed by then), one still running at the stop.
    let archive = windows_images(&[
        ("echo:1", json!({"Cmd": [echo.as_str(), "hello"]})),
        ("waiter:1", json!({"Cmd": ["cmd.exe", "/c", "set /p x="]})),
    ]);
    let (st, out) = api
        .call("POST", "/images/load?quiet=1", archive, "application/x-tar")
        .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&out));
    let mut ids = Vec::new();
    for (image, stdin) in [("echo:1", false), ("waiter:1", true)] {
        let id = api
            .run(json!({"Image": image, "OpenStdin": stdin, "HostConfig": {"NetworkMode": "none"}}))
            .await;
        ids.push(id);
    }
    let (_, w) = api
        .json("POST", &format!("/containers/{}/wait", ids[0]), Value::Null)
        .await;
    assert_eq!(w["StatusCode"], 0, "{w}");
    let (_, running) = api
        .json("GET", &format!("/containers/{}/json", ids[1]), Value::Null)
        .await;
    assert_eq!(running["State"]["Status"], "running", "{running}");
    let before = report(&report_path);
    assert!(
        before["live_systems"].as_u64() >= Some(1) && before["process_handles"].as_u64() >= Some(1),
        "the running container's system and process are open: {before}"
    );

    // The SCM's stop control: the daemon stops its containers and closes every handle.
    let (ok, out) = run("sc.exe", &["stop", &name]);
    assert!(ok, "sc stop: {out}");
    wait_state(&name, "STOPPED", Duration::from_secs(90));
    let after = report(&report_path);
    for counter in [
        "open_handles",
        "system_handles",
        "process_handles",
        "operations",
        "live_systems",
        "running_processes",
    ] {
        assert_eq!(after[counter], 0, "{counter}: {after}");
    }
    assert!(
        after["calls"]["HcsCreateComputeSystem"].as_u64() >= Some(2),
        "{after}"
    );
    let log = std::fs::read_to_string(data_root.join("service.log")).unwrap();
    assert!(log.contains("shutting down"), "{log}");

    // Unregistered: the SCM no longer knows it.
    let (ok, out) = run(
        exe.to_str().unwrap(),
        &["serve", "--unregister-service", "--service-name", &name],
    );
    assert!(ok, "--unregister-service: {out}");
    assert_eq!(state(&name), None);
}
