//! The Windows daemon for real, under Wine: `dockbridge.exe serve -H npipe:////./pipe/…
//! --backend hcs --hcs-library hcs_sim.dll` (HCS-only: no containerd), with the simulator
//! starting real processes (`"exec": true`: the CommandLine verbatim to CreateProcessW).
//! This test, itself a Windows program, speaks HTTP to it over the named pipe with hyper:
//! `docker load` of a Windows image whose Entrypoint/Cmd run argv-echo (wine/argv-echo.c)
//! with arguments carrying spaces, quotes, trailing backslashes and non-ASCII, with and
//! without `ArgsEscaped`; run and exec, and the argv the CRT parsed (read back through logs
//! and the exec stream) compared with what was asked. Also: images/json, inspect, tag, rmi,
//! wait, kill, the create → start → die events, pull refused with 501, and the simulator's
//! handle count once every container is gone.
//!
//! Run with `cargo test -p dockbridge --target x86_64-pc-windows-gnu --test wine_npipe`
//! (the runner in .cargo/config.toml: scripts/wine-run.sh, which also names argv-echo).
#![cfg(windows)]

mod wine_common;

use std::process::{Command, Stdio};

use hyper::StatusCode;
use serde_json::{json, Value};
use wine_common::{
    argv_echo, chrono_secs, crt_argv, demux, simulator, start_daemon, windows_images, Api, Daemon,
};

/// Arguments the CRT must hand argv-echo exactly (element 0 is argv-echo itself).
const ARGS: &[&str] = &[
    "two words",
    "q\"uote",
    r"trailing\",
    r"C:\Program Files\dir\",
    "ünïcödé ✓",
    "",
    r#"mix "of" \"all\" \\"#,
];

#[tokio::test(flavor = "multi_thread")]
async fn daemon_serves_a_named_pipe_and_runs_windows_processes_through_hcs() {
    let Some(echo) = argv_echo() else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("sim-report.json");
    let (_daemon, api) = start_daemon(dir.path(), "dockbridge_wine");

    let (st, ping) = api.call("GET", "/_ping", vec![], "text/plain").await;
    assert_eq!((st, ping.as_slice()), (StatusCode::OK, &b"OK"[..]));

    let (_, version) = api.json("GET", "/version", Value::Null).await;
    assert_eq!(version["Os"], "windows", "{version}");

    // ---- images: load, list, inspect, tag; pull needs containerd ----
    let argv_cfg = json!({"Entrypoint": [echo], "Cmd": ARGS});
    let argv: Vec<&str> = std::iter::once(echo.as_str())
        .chain(ARGS.iter().copied())
        .collect();
    let line = spec::cmdline::join(&argv).unwrap();
    // ArgsEscaped: the image's Cmd is one command line, used verbatim.
    let escaped_cfg = json!({"Cmd": [line], "ArgsEscaped": true});
    let waiter_cfg = json!({"Cmd": ["cmd.exe", "/c", "set /p x="]});
    let archive = windows_images(&[
        ("argv:plain", argv_cfg),
        ("argv:escaped", escaped_cfg),
        ("waiter:1", waiter_cfg),
    ]);
    let (st, out) = api
        .call("POST", "/images/load?quiet=1", archive, "application/x-tar")
        .await;
    let out = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(st, StatusCode::OK, "{out}");
    assert!(out.contains("Loaded image: argv:plain"), "{out}");
    let (_, list) = api.json("GET", "/images/json", Value::Null).await;
    let tags: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["RepoTags"].as_array().cloned().unwrap_or_default())
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    for t in ["argv:plain", "argv:escaped", "waiter:1"] {
        assert!(tags.contains(&t.to_string()), "{tags:?}");
    }
    let (st, img) = api
        .json("GET", "/images/argv:plain/json", Value::Null)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(img["Os"], "windows");
    let (st, _) = api
        .json(
            "POST",
            "/images/argv:plain/tag?repo=again&tag=1",
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, pulled) = api
        .json(
            "POST",
            "/images/create?fromImage=busybox&tag=latest",
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_IMPLEMENTED, "{pulled}");
    assert!(
        pulled["message"]
            .as_str()
            .unwrap_or_default()
            .contains("containerd"),
        "{pulled}"
    );

    // ---- run: the CRT's argv is what the image asked for, with and without ArgsEscaped ----
    let mut want: Vec<String> = vec![echo.clone()];
    want.extend(ARGS.iter().map(|s| s.to_string()));
    let since = chrono_secs() - 1;
    let mut ids = Vec::new();
    for image in ["argv:plain", "argv:escaped"] {
        let id = api
            .run(json!({"Image": image, "HostConfig": {"NetworkMode": "none"}}))
            .await;
        let (st, w) = api
            .json("POST", &format!("/containers/{id}/wait"), Value::Null)
            .await;
        assert_eq!((st, &w["StatusCode"]), (StatusCode::OK, &json!(0)), "{w}");
        let (_, logs) = api
            .call(
                "GET",
                &format!("/containers/{id}/logs?stdout=1&stderr=1"),
                vec![],
                "text/plain",
            )
            .await;
        assert_eq!(crt_argv(&demux(&logs)), want, "{image}");
        ids.push(id);
    }

    // ---- exec into a running container, kill, wait ----
    let waiter = api
        .run(json!({"Image": "waiter:1", "OpenStdin": true, "HostConfig": {"NetworkMode": "none"}}))
        .await;
    let mut cmd = vec![echo.clone()];
    cmd.extend(ARGS.iter().map(|s| s.to_string()));
    let (st, e) = api
        .json(
            "POST",
            &format!("/containers/{waiter}/exec"),
            json!({"Cmd": cmd, "AttachStdout": true, "AttachStderr": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{e}");
    let exec_id = e["Id"].as_str().unwrap();
    let out = api
        .upgraded(
            &format!("/exec/{exec_id}/start"),
            json!({"Detach": false, "Tty": false}),
        )
        .await;
    assert_eq!(crt_argv(&demux(&out)), want, "exec");
    let (_, inspect) = api
        .json("GET", &format!("/exec/{exec_id}/json"), Value::Null)
        .await;
    assert_eq!(inspect["ExitCode"], 0, "{inspect}");
    let (st, _) = api
        .call(
            "POST",
            &format!("/containers/{waiter}/kill"),
            vec![],
            "application/json",
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, w) = api
        .json("POST", &format!("/containers/{waiter}/wait"), Value::Null)
        .await;
    assert_ne!(w["StatusCode"], 0, "killed: {w}");
    ids.push(waiter);

    // ---- events: create → start → die for each container, in order ----
    let until = chrono_secs() + 1;
    let (_, ev) = api
        .call(
            "GET",
            &format!("/events?since={since}&until={until}"),
            vec![],
            "application/json",
        )
        .await;
    let ev = String::from_utf8_lossy(&ev).into_owned();
    for id in &ids {
        let actions: Vec<String> = ev
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["Type"] == "container" && e["Actor"]["ID"] == id.as_str())
            .map(|e| e["Action"].as_str().unwrap_or_default().to_string())
            .filter(|a| ["create", "start", "die"].contains(&a.as_str()))
            .collect();
        assert_eq!(actions, ["create", "start", "die"], "{id}: {ev}");
    }

    // ---- removal: containers, then images (layers destroyed through HCS) ----
    for id in &ids {
        let (st, _) = api
            .call(
                "DELETE",
                &format!("/containers/{id}"),
                vec![],
                "application/json",
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
    }
    let layers = dir.path().join("data").join("windowsfilter");
    assert_eq!(
        std::fs::read_dir(&layers).unwrap().count(),
        1,
        "one shared image layer"
    );
    for image in ["argv:plain", "again:1", "argv:escaped", "waiter:1"] {
        let (st, items) = api
            .json("DELETE", &format!("/images/{image}"), Value::Null)
            .await;
        assert_eq!(st, StatusCode::OK, "{image}: {items}");
    }
    assert_eq!(
        std::fs::read_dir(&layers).unwrap().count(),
        0,
        "layers destroyed"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("simulator report")).unwrap();
    assert_eq!(report["open_handles"], 0, "{report}");
    assert_eq!(report["live_systems"], 0, "{report}");
    let calls = &report["calls"];
    assert_eq!(calls["HcsImportLayer"], 1, "{report}");
    assert_eq!(calls["HcsInitializeWritableLayer"], 3, "{report}");
    assert_eq!(calls["HcsDestroyLayer"], 4, "{report}");
    // The base layer set up once imported; layer IDs asked of NameToGuid.
    assert_eq!(calls["ProcessBaseImage"], 1, "{report}");
    assert!(calls["NameToGuid"].as_u64().unwrap_or(0) > 0, "{report}");
    // Each container's writable layer was mounted for its run and unmounted with it.
    assert_eq!(calls["ActivateLayer"], 3, "{report}");
    assert_eq!(report["mounted_layers"], 0, "{report}");
}

/// A second daemon on a pipe name another one serves refuses to start (dockerd's listener
/// asks for FILE_FLAG_FIRST_PIPE_INSTANCE; Wine 8 ignores the flag, so this also proves the
/// probe before it), and the first daemon keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_the_same_pipe_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = format!(r"\\.\pipe\dockbridge_wine_first_{}", std::process::id());
    let host = format!("npipe://{}", pipe.replace('\\', "/"));
    let daemon = |n: &str| {
        let root = dir.path().join(n);
        std::fs::create_dir_all(&root).unwrap();
        Command::new(env!("CARGO_BIN_EXE_dockbridge"))
            .args([
                "serve",
                "-H",
                &host,
                "--containerd",
                "none",
                "--backend",
                "hcs",
            ])
            .arg("--hcs-library")
            .arg(simulator())
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("daemon.err")).unwrap())
            .spawn()
            .expect("starting dockbridge.exe")
    };
    let first = daemon("first");
    let _first = Daemon {
        child: first,
        log: dir.path().join("first").join("daemon.err"),
    };
    let api = Api { pipe: pipe.clone() };
    let (st, _) = api.call("GET", "/_ping", vec![], "text/plain").await;
    assert_eq!(st, StatusCode::OK);

    let mut second = daemon("second");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second daemon started on {pipe}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let err = std::fs::read_to_string(dir.path().join("second").join("daemon.err")).unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("already in use"), "{err}");
    // Refused before it opened (or created) anything under its data root.
    assert!(!dir.path().join("second").join("data").exists());
    // The first daemon still answers on the name.
    let (st, _) = api.call("GET", "/_ping", vec![], "text/plain").await;
    assert_eq!(st, StatusCode::OK);
}

fn sim_report(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("sim-report.json")).expect("simulator report"))
        .unwrap()
}

/// HNS networking of the Windows daemon, under Wine, on the simulator's HNS: a container
/// run with `-p 8080:80` (a real process that waits on its stdin) has its nat endpoint's
/// address, gateway and MAC and its port bindings in inspect, `nat` is listed, a container
/// with `--network none` still runs, and no endpoint, namespace or handle is left once the
/// containers are removed.
#[tokio::test(flavor = "multi_thread")]
async fn windows_containers_get_an_hns_endpoint_with_their_published_ports() {
    let Some(echo) = argv_echo() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, api) = start_daemon(dir.path(), "dockbridge_wine_net");
    let archive = windows_images(&[
        ("waiter:1", json!({"Cmd": ["cmd.exe", "/c", "set /p x="]})),
        ("argv:plain", json!({"Entrypoint": [echo], "Cmd": ["net"]})),
    ]);
    let (st, out) = api
        .call("POST", "/images/load?quiet=1", archive, "application/x-tar")
        .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&out));

    let (_, nets) = api.json("GET", "/networks", Value::Null).await;
    let names: Vec<&str> = nets
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["Name"].as_str())
        .collect();
    assert!(names.contains(&"nat") && names.contains(&"none"), "{nets}");

    let web = api
        .run(json!({
            "Image": "waiter:1",
            "OpenStdin": true,
            "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}
        }))
        .await;
    let (_, inspect) = api
        .json("GET", &format!("/containers/{web}/json"), Value::Null)
        .await;
    let ns = &inspect["NetworkSettings"];
    let nat = &ns["Networks"]["nat"];
    assert_eq!(nat["IPAddress"], "172.20.0.2", "{ns}");
    assert_eq!(nat["IPPrefixLen"], 20, "{ns}");
    assert_eq!(nat["Gateway"], "172.20.0.1", "{ns}");
    assert_eq!(nat["MacAddress"], "00:15:5d:14:00:02", "{ns}");
    assert_eq!(nat["EndpointID"].as_str().map(str::len), Some(64), "{ns}");
    assert_eq!(
        ns["Ports"],
        json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}),
        "{ns}"
    );
    let r = sim_report(dir.path());
    assert_eq!(r["hns"]["endpoints"], 1, "{r}");
    assert_eq!(
        r["hns"]["endpoint_docs"][0]["Policies"][0]["Settings"],
        json!({"Protocol": 6, "InternalPort": 80, "ExternalPort": 8080}),
        "{r}"
    );

    // --network none still runs, without an endpoint.
    let quiet = api
        .run(json!({"Image": "argv:plain", "HostConfig": {"NetworkMode": "none"}}))
        .await;
    let (_, w) = api
        .json("POST", &format!("/containers/{quiet}/wait"), Value::Null)
        .await;
    assert_eq!(w["StatusCode"], 0, "{w}");
    let (_, logs) = api
        .call(
            "GET",
            &format!("/containers/{quiet}/logs?stdout=1"),
            vec![],
            "text/plain",
        )
        .await;
    assert_eq!(crt_argv(&demux(&logs)), [echo.as_str(), "net"]);
    assert_eq!(sim_report(dir.path())["hns"]["endpoints"], 1);

    for id in [&web, &quiet] {
        let (st, _) = api
            .call(
                "DELETE",
                &format!("/containers/{id}?force=1"),
                vec![],
                "application/json",
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
    }
    let r = sim_report(dir.path());
    assert_eq!(r["hns"]["endpoints"], 0, "{r}");
    assert_eq!(r["hns"]["endpoints_created"], 1, "{r}");
    assert_eq!(r["hns"]["namespaces"], 0, "{r}");
    assert_eq!(r["open_handles"], 0, "{r}");
}
