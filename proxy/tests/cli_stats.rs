//! End to end: `docker stats` with the real CLI (from containerd's cgroup v1 task metrics),
//! and the raw stream's framing.
#![cfg(unix)]

mod common;

use std::io::{Read, Write};

use common::{Daemon, IMAGE};

fn stats_line(d: &Daemon, name: &str) -> serde_json::Value {
    let out = d.ok(&["stats", "--no-stream", "--format", "{{json .}}", name]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out:?}: {e}"))
}

fn percent(v: &serde_json::Value, k: &str) -> f64 {
    v[k].as_str()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap()
}

#[test]
fn stats_with_the_cli_and_on_the_wire() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        IMAGE,
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    let v = stats_line(&d, "busy");
    assert_eq!(v["Name"], "busy");
    assert_eq!(v["PIDs"], "1");
    // A busy loop uses a whole CPU; the CLI computes this from cpu and precpu stats.
    assert!(percent(&v, "CPUPerc") > 20.0, "{v}");
    let mem = v["MemUsage"].as_str().unwrap();
    assert!(mem.ends_with("/ 64MiB"), "{mem}");
    assert!(!mem.starts_with("0B"), "{mem}");

    // Streaming: one JSON object per second; each frame's precpu is the frame before.
    let mut s = common::raw::connect(&d);
    s.write_all(b"GET /v1.44/containers/busy/stats HTTP/1.1\r\nHost: d\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let frames: Vec<serde_json::Value> = loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended: {}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        let frames: Vec<_> = text
            .split('\n')
            .filter(|l| l.starts_with('{') && l.ends_with('}'))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if frames.len() >= 2 {
            break frames;
        }
    };
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200 OK"));
    assert_eq!(
        frames[1]["precpu_stats"]["cpu_usage"]["total_usage"],
        frames[0]["cpu_stats"]["cpu_usage"]["total_usage"]
    );
    assert_eq!(frames[1]["preread"], frames[0]["read"]);
    assert!(frames[0]["pids_stats"]["current"].as_u64() >= Some(1));
    drop(s);

    // `docker port` answers from the real bindings: none without port publishing.
    assert_eq!(d.ok(&["port", "busy"]), "");
    let st = d.docker(&["port", "busy", "80"]);
    assert!(!st.status.success());
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("No public port '80' published"),
        "{st:?}"
    );

    // Stopped: zeros, as dockerd reports.
    d.ok(&["stop", "-t", "0", "busy"]);
    let v = stats_line(&d, "busy");
    assert_eq!(
        (v["MemUsage"].as_str(), v["PIDs"].as_str()),
        (Some("0B / 0B"), Some("0"))
    );

    let st = d.docker(&["stats", "--no-stream", "nope"]);
    assert!(!st.status.success());
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("No such container"),
        "{st:?}"
    );
    d.ok(&["rm", "busy"]);
}
