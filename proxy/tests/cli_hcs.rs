//! End to end on the HCS backend: the docker CLI runs a Windows-platform container through
//! `dockbridge serve --backend hcs --hcs-library <simulator>`, the very dynamic-loading
//! path that loads computecore.dll on Windows.
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::path::PathBuf;

use common::Daemon;
use sha2::{Digest, Sha256};

fn simulator() -> PathBuf {
    // The test binary lives in target/<profile>/deps, next to the simulator's cdylib.
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for cand in [deps.join("libhcs_sim.so"), deps.join("../libhcs_sim.so")] {
        if cand.exists() {
            return cand;
        }
    }
    panic!("libhcs_sim.so not found next to {}", exe.display());
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A docker-archive of a tiny Windows image: one layer in Windows' layer layout
/// (`Files/…`), a shell-form CMD committed as one pre-escaped command line.
fn windows_image(tag: &str) -> Vec<u8> {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    let data = b"not really cmd.exe";
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    layer
        .append_data(&mut h, "Files/Windows/System32/cmd.exe", &data[..])
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let diff_id = format!("sha256:{}", sha(&layer));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.20348.2227",
        "created": "2024-01-01T00:00:00Z",
        "config": {
            "Cmd": ["cmd /S /C echo hello from \"C:\\Program Files\""],
            "ArgsEscaped": true,
            "WorkingDir": "C:\\",
            "Env": ["PATH=C:\\Windows\\system32;C:\\Windows"]
        },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] }
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", sha(&config));
    let layer_name = format!("{}/layer.tar", sha(&layer));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name, "RepoTags": [tag], "Layers": [layer_name]
    }]))
    .unwrap();
    let mut out = tar::Builder::new(Vec::new());
    for (name, body) in [
        (config_name.as_str(), &config[..]),
        (layer_name.as_str(), &layer[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        out.append_data(&mut h, name, body).unwrap();
    }
    out.into_inner().unwrap()
}

#[test]
fn windows_container_runs_on_the_hcs_simulator_through_the_cli() {
    let sim = simulator();
    // The simulator answers the command line the spec carries; matching on it checks that
    // the image's pre-escaped CMD reached HCS verbatim (ArgsEscaped honoured).
    let script = r#"{"processes":[
        {"command_line_contains":"cmd /S /C echo hello from \"C:\\Program Files\"","stdout":"hello from hcs\r\n","exit_code":0},
        {"command_line_contains":"cmd /S /C exit 3","stderr":"failing\r\n","exit_code":3},
        {"command_line_contains":"\"C:\\tools\\echo args.exe\" \"a b\" q\\\"uote","stdout":"exec ok\r\n","exit_code":0},
        {"command_line_contains":"ping -t localhost","run":"until_signalled","signal_exit_code":1}
    ]}"#;
    let d = Daemon::start_with(
        &["--backend", "hcs", "--hcs-library", sim.to_str().unwrap()],
        &[("HCS_SIM_CONFIG", script)],
    );
    let info = d.ok(&["info", "--format", "{{json .DriverStatus}}"]);
    assert!(info.contains("containerd, hcs"), "{info}");

    let tar = d.path("win.tar");
    std::fs::File::create(&tar)
        .unwrap()
        .write_all(&windows_image("winbox:1"))
        .unwrap();
    d.ok(&["load", "-i", tar.to_str().unwrap()]);
    let since = d.ok(&["version", "--format", "{{.Server.Os}}"]);
    assert_eq!(since.trim(), "linux");

    let t0 = chrono_now();
    // Windows containers are on nat (HNS) or none: a user network is refused clearly.
    let st = d.docker(&["create", "--network", "mynet", "winbox:1"]);
    assert!(!st.status.success(), "{st:?}");
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("network mynet not found"),
        "{st:?}"
    );
    d.ok(&["create", "--network", "none", "--name", "win", "winbox:1"]);
    let out = d.ok(&["start", "-a", "win"]);
    assert_eq!(out, "hello from hcs\r\n");
    assert_eq!(d.ok(&["wait", "win"]).trim(), "0");
    assert_eq!(d.ok(&["logs", "win"]), "hello from hcs\r\n");
    let state = d.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}} {{.Platform}}",
        "win",
    ]);
    assert_eq!(state.trim(), "exited 0 windows");

    // A user Cmd on an ArgsEscaped image is escaped normally, and its exit code comes back.
    let st = d.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "w3",
        "winbox:1",
        "cmd",
        "/S",
        "/C",
        "exit",
        "3",
    ]);
    assert_eq!(st.status.code(), Some(3), "{st:?}");
    assert_eq!(String::from_utf8_lossy(&st.stderr), "failing\r\n");

    d.ok(&["rm", "win", "w3"]);
    let t1 = chrono_now();
    let events = d.ok(&[
        "events",
        "--since",
        &t0,
        "--until",
        &t1,
        "--filter",
        "container=win",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = events.lines().collect();
    assert_eq!(
        actions,
        ["create", "attach", "start", "die", "destroy"],
        "{events}"
    );
    // A running Windows container: `docker stats` through the same backend trait (HCS
    // statistics), and filesystem operations refused clearly rather than faked.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "wl",
        "--network",
        "none",
        "winbox:1",
        "ping",
        "-t",
        "localhost",
    ]);
    let stats = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}}",
        "wl",
    ]);
    assert!(
        stats.starts_with("wl ") && !stats.contains(" 0B /"),
        "{stats}"
    );
    // `docker exec` runs the exec's own command, escaped by the Windows rules (the
    // simulator answers only that exact command line), not the init's again.
    let out = d.ok(&["exec", "wl", "C:\\tools\\echo args.exe", "a b", "q\"uote"]);
    assert_eq!(out, "exec ok\r\n");
    let st = d.docker(&["exec", "-w", "/linux/path", "wl", "cmd"]);
    assert!(!st.status.success(), "{st:?}");
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("absolute path"),
        "{st:?}"
    );
    for args in [
        &["cp", "wl:/x", "/tmp/x"][..],
        &["diff", "wl"][..],
        &["export", "-o", "/tmp/x.tar", "wl"][..],
    ] {
        let st = d.docker(args);
        assert!(!st.status.success(), "{args:?}: {st:?}");
        assert!(
            String::from_utf8_lossy(&st.stderr).contains("not supported by dockbridge"),
            "{args:?}: {st:?}"
        );
    }
    d.ok(&["rm", "-f", "wl"]);

    // Unsupported Linux-only options are refused for Windows containers, naming the option.
    let st = d.docker(&[
        "create",
        "--network",
        "none",
        "--cap-add",
        "NET_ADMIN",
        "winbox:1",
    ]);
    assert_eq!(st.status.code(), Some(1), "{st:?}");
    assert!(
        String::from_utf8_lossy(&st.stderr)
            .to_lowercase()
            .contains("cap"),
        "{st:?}"
    );
}

fn chrono_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// The HCS-only daemon (`--containerd none`): no containerd is started; `docker load`
/// fills dockbridge's own store, layers are imported through the simulator's
/// HcsImportLayer (a folder per chain ID under `windowsfilter/`), each container gets a
/// writable layer (HcsInitializeWritableLayer) that goes with it, and what needs
/// containerd is a 501 that says so.
#[test]
fn hcs_only_daemon_keeps_its_own_images_and_layers() {
    let sim = simulator();
    let script = r#"{"processes":[
        {"command_line_contains":"cmd /S /C echo hello from \"C:\\Program Files\"","stdout":"hello from hcs only\r\n","exit_code":0}
    ]}"#;
    let report = tempfile::NamedTempFile::new().unwrap();
    let d = Daemon::start_with(
        &[
            "--containerd",
            "none",
            "--backend",
            "hcs",
            "--hcs-library",
            sim.to_str().unwrap(),
        ],
        &[
            ("HCS_SIM_CONFIG", script),
            ("HCS_SIM_REPORT", report.path().to_str().unwrap()),
        ],
    );
    // No containerd: neither a private one nor its socket.
    assert!(!d.path("exec/containerd").exists());
    let info = d.ok(&["info", "--format", "{{.Driver}}"]);
    assert_eq!(info.trim(), "windowsfilter");

    let tar = d.path("win.tar");
    std::fs::write(&tar, windows_image("winbox:1")).unwrap();
    let out = d.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert!(out.contains("Loaded image: winbox:1"), "{out}");
    let layers = d.path("data/windowsfilter");
    let imported: Vec<_> = std::fs::read_dir(&layers).unwrap().flatten().collect();
    assert_eq!(imported.len(), 1);
    assert!(imported[0]
        .path()
        .join("Files/Windows/System32/cmd.exe")
        .is_file());
    d.ok(&["tag", "winbox:1", "other:2"]);
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    // The rows' order is the CLI's business (the tags of one image, and images created
    // in the same second): the set is what the store must get right.
    let mut rows: Vec<&str> = images.lines().collect();
    rows.sort_unstable();
    assert_eq!(rows, ["other:2", "winbox:1"]);
    assert_eq!(
        d.ok(&["image", "inspect", "--format", "{{.Os}}", "other:2"])
            .trim(),
        "windows"
    );

    d.ok(&["create", "--network", "none", "--name", "wc", "winbox:1"]);
    let id = d.ok(&["inspect", "--format", "{{.Id}}", "wc"]);
    assert!(layers.join(id.trim()).is_dir(), "writable layer");
    assert_eq!(d.ok(&["start", "-a", "wc"]), "hello from hcs only\r\n");
    d.ok(&["rm", "wc"]);
    assert!(!layers.join(id.trim()).exists(), "writable layer destroyed");

    d.fails_with(&["pull", "busybox"], "not supported without containerd");
    d.fails_with(&["save", "winbox:1"], "not supported without containerd");
    d.ok(&["rmi", "other:2"]);
    // The layer stays while winbox:1 uses it, and goes with the last image.
    assert_eq!(std::fs::read_dir(&layers).unwrap().count(), 1);
    let out = d.ok(&["rmi", "winbox:1"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(std::fs::read_dir(&layers).unwrap().count(), 0);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    assert_eq!(report["calls"]["HcsImportLayer"], 1, "{report}");
    assert_eq!(report["calls"]["HcsInitializeWritableLayer"], 1, "{report}");
    assert_eq!(report["calls"]["HcsDestroyLayer"], 2, "{report}");
    assert_eq!(report["open_handles"], 0, "{report}");
    // The base layer was set up after its import, as hcsshim's base-layer writer does.
    assert_eq!(report["calls"]["ProcessBaseImage"], 1, "{report}");
    // Layer IDs are NameToGuid's of the layer folder's name, in the writable layer's
    // LayerData and in the compute system's document alike.
    let received = report["received"].as_array().unwrap();
    let doc_of = |f: &str| {
        received
            .iter()
            .find(|r| r["function"] == f)
            .map(|r| r["document"].clone())
            .unwrap_or_else(|| panic!("no {f} in {report}"))
    };
    let folder = imported[0].file_name().to_string_lossy().into_owned();
    let guid = received
        .iter()
        .find(|r| r["function"] == "NameToGuid" && r["document"]["name"] == folder.as_str())
        .map(|r| r["document"]["guid"].clone())
        .unwrap_or_else(|| panic!("NameToGuid({folder}) not asked: {report}"));
    assert_eq!(
        doc_of("HcsInitializeWritableLayer")["layerData"]["Layers"][0]["Id"],
        guid
    );
    assert_eq!(
        doc_of("HcsCreateComputeSystem")["Container"]["Storage"]["Layers"][0]["Id"],
        guid
    );
    // The container's storage is its writable layer's mounted volume (root.path), as the
    // windowsfilter driver mounts it; it went with the container.
    let storage_path = doc_of("HcsCreateComputeSystem")["Container"]["Storage"]["Path"].clone();
    assert!(
        storage_path
            .as_str()
            .unwrap_or_default()
            .starts_with(r"\\?\Volume{"),
        "{storage_path}"
    );
    assert_eq!(report["calls"]["ActivateLayer"], 1, "{report}");
    assert_eq!(report["calls"]["PrepareLayer"], 1, "{report}");
    assert_eq!(report["calls"]["UnprepareLayer"], 1, "{report}");
    assert_eq!(report["calls"]["DeactivateLayer"], 1, "{report}");
    assert_eq!(report["mounted_layers"], 0, "{report}");

    // The images are kept across a restart.
    let mut d = d;
    std::fs::write(&tar, windows_image("winbox:1")).unwrap();
    d.ok(&["load", "-i", tar.to_str().unwrap()]);
    d.restart();
    assert_eq!(d.ok(&["images", "-q"]).lines().count(), 1);
}

fn sim_report(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// HNS networking on the simulator's HNS (HCS-only daemon): `nat` is pre-defined, a
/// container on it gets an endpoint (address, MAC, gateway from HNS's IPAM) whose port
/// mappings are the published ports, in the HNS namespace its compute system joins;
/// inspect, `docker port` and `network inspect nat` show it as dockerd on Windows does;
/// the endpoint goes when the run ends and with `rm`; `--network none` has none; a host
/// port in use is dockerd's conflict and leaves nothing behind.
#[test]
fn windows_containers_get_hns_nat_endpoints() {
    let sim = simulator();
    // The second compute system HCS is asked for fails: a failed start after the endpoint.
    let script = r#"{"processes":[
        {"command_line_contains":"echo hello","stdout":"up\r\n","run":"until_signalled","signal_exit_code":0}
    ], "faults":[{"function":"HcsCreateComputeSystem","occurrence":2,"hresult":2147500037}]}"#;
    let report = tempfile::NamedTempFile::new().unwrap();
    let d = Daemon::start_with(
        &[
            "--containerd",
            "none",
            "--backend",
            "hcs",
            "--hcs-library",
            sim.to_str().unwrap(),
        ],
        &[
            ("HCS_SIM_CONFIG", script),
            ("HCS_SIM_REPORT", report.path().to_str().unwrap()),
        ],
    );
    let tar = d.path("win.tar");
    std::fs::write(&tar, windows_image("winbox:1")).unwrap();
    d.ok(&["load", "-i", tar.to_str().unwrap()]);
    let mut nets: Vec<String> = d
        .ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"])
        .lines()
        .map(String::from)
        .collect();
    nets.sort();
    assert!(nets.contains(&"nat nat".to_string()), "{nets:?}");
    assert!(nets.contains(&"none null".to_string()), "{nets:?}");

    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "8080:80",
        "-p",
        "5353:53/udp",
        "winbox:1",
    ]);
    let nat = d.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.NetworkMode}} {{with .NetworkSettings.Networks.nat}}{{.IPAddress}}/{{.IPPrefixLen}} {{.Gateway}} {{.MacAddress}} {{len .EndpointID}}{{end}}",
        "web",
    ]);
    assert_eq!(
        nat.trim(),
        "default 172.20.0.2/20 172.20.0.1 00:15:5d:14:00:02 64"
    );
    let ports = d.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ports).unwrap(),
        serde_json::json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}]
        })
    );
    let mut port = d
        .ok(&["port", "web"])
        .lines()
        .map(String::from)
        .collect::<Vec<_>>();
    port.sort();
    assert_eq!(port, ["53/udp -> 0.0.0.0:5353", "80/tcp -> 0.0.0.0:8080"]);
    let members = d.ok(&["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", "nat"]);
    assert_eq!(members.trim(), "web 172.20.0.2/20 172.20.0.0/20");

    // What HNS got: the endpoint's port-mapping policies, in the system's namespace.
    let r = sim_report(report.path());
    assert_eq!(r["hns"]["endpoints"], 1, "{r}");
    let ep = &r["hns"]["endpoint_docs"][0];
    let mut maps: Vec<(u64, u64, u64)> = ep["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = &p["Settings"];
            (
                s["Protocol"].as_u64().unwrap(),
                s["InternalPort"].as_u64().unwrap(),
                s["ExternalPort"].as_u64().unwrap(),
            )
        })
        .collect();
    maps.sort();
    assert_eq!(maps, [(6, 80, 8080), (17, 53, 5353)]);
    let created = r["received"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|x| x["function"] == "HcsCreateComputeSystem")
        .unwrap();
    assert_eq!(
        created["document"]["Container"]["Networking"]["Namespace"], ep["HostComputeNamespace"],
        "{created}"
    );

    // The host port is taken: dockerd's conflict, and the failed start leaves no endpoint.
    let st = d.docker(&["run", "-d", "--name", "web2", "-p", "8080:80", "winbox:1"]);
    assert!(!st.status.success(), "{st:?}");
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("port is already allocated"),
        "{st:?}"
    );
    assert_eq!(sim_report(report.path())["hns"]["endpoints"], 1);
    d.ok(&["rm", "web2"]);
    // HCS fails to create the compute system: the start fails, and neither its endpoint
    // nor its namespace stays.
    let st = d.docker(&["run", "-d", "--name", "broken", "-p", "9090:80", "winbox:1"]);
    assert!(!st.status.success(), "{st:?}");
    let r = sim_report(report.path());
    assert_eq!(r["hns"]["endpoints_created"], 2, "{r}");
    assert_eq!(r["hns"]["endpoints"], 1, "{r}");
    assert_eq!(r["hns"]["namespaces"], 1, "{r}");
    d.ok(&["rm", "broken"]);

    // --network none: no endpoint, no ports; ports with none are refused at create.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "quiet",
        "--network",
        "none",
        "winbox:1",
    ]);
    assert_eq!(sim_report(report.path())["hns"]["endpoints"], 1);
    let q = d.ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}}{{end}}",
        "quiet",
    ]);
    assert_eq!(q.trim(), "none=");
    d.fails_with(
        &["create", "--network", "none", "-p", "80:80", "winbox:1"],
        "conflicting options",
    );

    // Stopping ends the run's endpoint; a new start gets a new one; rm leaves none.
    d.ok(&["stop", "-t", "1", "web"]);
    assert_eq!(sim_report(report.path())["hns"]["endpoints"], 0);
    let stopped = d.ok(&["inspect", "-f", "{{.NetworkSettings.Networks.nat.IPAddress}}|{{len .NetworkSettings.Networks.nat.NetworkID}}", "web"]);
    assert_eq!(stopped.trim(), "|64");
    d.ok(&["start", "web"]);
    assert_eq!(sim_report(report.path())["hns"]["endpoints"], 1);
    d.ok(&["rm", "-f", "web", "quiet"]);
    let r = sim_report(report.path());
    assert_eq!(r["hns"]["endpoints"], 0, "{r}");
    assert_eq!(r["hns"]["namespaces"], 0, "{r}");
    assert_eq!(r["open_handles"], 0, "{r}");

    // A daemon shutdown with a container running leaves no endpoint, namespace or handle.
    d.ok(&["run", "-d", "--name", "last", "-p", "7070:80", "winbox:1"]);
    assert_eq!(sim_report(report.path())["hns"]["endpoints"], 1);
    let mut d = d;
    d.stop();
    let r = sim_report(report.path());
    assert_eq!(r["hns"]["endpoints"], 0, "{r}");
    assert_eq!(r["hns"]["namespaces"], 0, "{r}");
    assert_eq!(r["open_handles"], 0, "{r}");
}
