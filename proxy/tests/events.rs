//! Docker events end to end: the real docker CLI and bollard (a second client library)
//! against a real dockbridge on its private containerd. Event sequences and attributes,
//! `since` / `until` replay, filters, live follow, the wire format, slow clients, and no
//! lost exits when containerd is killed under running containers.
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::models::{EventMessage, EventMessageScopeEnum, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use common::raw::{connect, header, read_head, send_head, Head};
use common::{Daemon, IMAGE};
use futures::StreamExt;
use serde_json::Value;

/// Now as `secs.nanos`, the form `--since` / `--until` and the API take.
fn now_ts() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Events are stamped after the API call returns: a short pause keeps the last ones before
/// an `until` taken right after.
fn until_now() -> String {
    std::thread::sleep(Duration::from_millis(200));
    now_ts()
}

/// `docker events --since --until --format FORMAT [--filter F]…`, one line per event.
fn cli_events(d: &Daemon, since: &str, until: &str, format: &str, filters: &[&str]) -> Vec<String> {
    let mut args = vec![
        "events", "--since", since, "--until", until, "--format", format,
    ];
    for f in filters {
        args.push("--filter");
        args.push(f);
    }
    d.ok(&args).lines().map(str::to_string).collect()
}

fn inspect(d: &Daemon, format: &str, name: &str) -> String {
    d.ok(&["inspect", "-f", format, name]).trim().to_string()
}

#[test]
fn cli_sequences_attributes_filters_and_replay() {
    let d = Daemon::start();
    d.load_busybox();

    // `docker run --rm`: create, attach, start, die (with its exit code), destroy.
    let t0 = now_ts();
    let st = d.docker(&[
        "run", "--rm", "--name", "evrun", "-l", "tier=web", IMAGE, "sh", "-c", "exit 3",
    ]);
    assert_eq!(st.status.code(), Some(3), "{st:?}");
    let t1 = until_now();
    let seq = cli_events(
        &d,
        &t0,
        &t1,
        "{{.Type}} {{.Action}} {{.Actor.Attributes.exitCode}}",
        &[],
    );
    assert_eq!(
        seq,
        [
            "container create <no value>",
            "container attach <no value>",
            "container start <no value>",
            "container die 3",
            "container destroy <no value>",
        ],
        "{}",
        d.log()
    );
    // Attributes: the labels, image and name on every event; die adds exitCode and
    // execDuration.
    let die = cli_events(&d, &t0, &t1, "{{json .Actor.Attributes}}", &["event=die"]);
    assert_eq!(die.len(), 1, "{die:?}");
    let attrs: Value = serde_json::from_str(&die[0]).unwrap();
    assert_eq!(attrs["exitCode"], "3");
    assert_eq!(attrs["execDuration"], "0");
    assert_eq!(attrs["image"], IMAGE);
    assert_eq!(attrs["name"], "evrun");
    assert_eq!(attrs["tier"], "web");
    let create = cli_events(&d, &t0, &t1, "{{json .}}", &["event=create"]);
    let create: Value = serde_json::from_str(&create[0]).unwrap();
    assert_eq!(create["scope"], "local");
    assert_eq!(create["Actor"]["Attributes"]["name"], "evrun");
    assert_eq!(
        create["time"].as_i64().unwrap(),
        create["timeNano"].as_i64().unwrap() / 1_000_000_000
    );

    // Two containers to tell apart, an exec, a kill, a rename, pause/unpause, image tags.
    let t2 = now_ts();
    d.ok(&["run", "--name", "evA", "-l", "team=a", IMAGE, "true"]);
    let st = d.docker(&["run", "--name", "evB", IMAGE, "sh", "-c", "exit 5"]);
    assert_eq!(st.status.code(), Some(5), "{st:?}");
    let a = inspect(&d, "{{.Id}}", "evA");
    let b = inspect(&d, "{{.Id}}", "evB");
    d.ok(&["run", "-d", "--name", "evX", IMAGE, "sleep", "100"]);
    let x = inspect(&d, "{{.Id}}", "evX");
    let st = d.docker(&["exec", "evX", "sh", "-c", "exit 2"]);
    assert_eq!(st.status.code(), Some(2), "{st:?}");
    d.ok(&["exec", "evX", "true"]);
    d.ok(&["pause", "evX"]);
    d.ok(&["unpause", "evX"]);
    d.ok(&["rename", "evX", "evY"]);
    d.ok(&["kill", "evY"]);
    d.ok(&["wait", "evY"]);
    d.ok(&["tag", IMAGE, "evtag:1"]);
    d.ok(&["rmi", "evtag:1"]);
    let t3 = until_now();

    let ids = |filters: &[&str]| cli_events(&d, &t2, &t3, "{{.Actor.ID}} {{.Action}}", filters);
    // By name: only evA's lifecycle.
    assert_eq!(
        ids(&["container=evA"]),
        [
            format!("{a} create"),
            format!("{a} attach"),
            format!("{a} start"),
            format!("{a} die"),
        ]
    );
    // By ID prefix.
    let by_prefix = ids(&[&format!("container={}", &b[..12])]);
    assert!(
        !by_prefix.is_empty() && by_prefix.iter().all(|l| l.starts_with(&b)),
        "{by_prefix:?}"
    );
    // By label, with and without value.
    for f in ["label=team=a", "label=team"] {
        let got = ids(&[f]);
        assert!(
            got.len() == 4 && got.iter().all(|l| l.starts_with(&a)),
            "{f}: {got:?}"
        );
    }
    assert!(ids(&["label=team=b"]).is_empty());
    // By event, exit codes of all three deaths.
    assert_eq!(
        cli_events(
            &d,
            &t2,
            &t3,
            "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
            &["event=die"]
        ),
        ["evA 0", "evB 5", "evY 137"]
    );
    // Two values of one key are alternatives; two keys must both hold.
    assert_eq!(
        ids(&["event=start", "event=die", "container=evB"]),
        [format!("{b} start"), format!("{b} die")]
    );
    // `exec_start` matches `exec_start: sh -c exit 2` (and the exec of `true`); exec_die
    // carries execID and exitCode.
    let starts = cli_events(&d, &t2, &t3, "{{.Action}}", &["event=exec_start"]);
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert_eq!(starts[0], "exec_start: sh -c exit 2");
    assert!(starts[1].starts_with("exec_start: true"), "{starts:?}");
    let exec_dies = cli_events(
        &d,
        &t2,
        &t3,
        "{{.Actor.ID}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.execID}}",
        &["event=exec_die"],
    );
    let exec_dies: Vec<(&str, &str, usize)> = exec_dies
        .iter()
        .filter_map(|l| {
            let mut w = l.split(' ');
            Some((w.next()?, w.next()?, w.next()?.len()))
        })
        .collect();
    assert_eq!(exec_dies, [(x.as_str(), "2", 64), (x.as_str(), "0", 64)]);
    assert_eq!(
        cli_events(
            &d,
            &t2,
            &t3,
            "{{.Action}} {{.Actor.Attributes.signal}} {{.Actor.Attributes.oldName}} {{.Actor.Attributes.name}}",
            &[
                &format!("container={x}"),
                "event=kill",
                "event=rename",
                "event=pause",
                "event=unpause"
            ]
        ),
        [
            "pause <no value> <no value> evX",
            "unpause <no value> <no value> evX",
            "rename <no value> /evX evY",
            "kill 9 <no value> evY",
        ]
    );
    // Image events only, by type; an image filter by name keeps the image's tag events and
    // the containers created from it.
    assert_eq!(
        cli_events(
            &d,
            &t2,
            &t3,
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
            &["type=image"]
        ),
        [
            "image tag evtag:1",
            &format!("image untag {}", image_id(&d))
        ]
    );
    let by_image = cli_events(&d, &t2, &t3, "{{.Type}}", &[&format!("image={IMAGE}")]);
    assert!(by_image.iter().any(|t| t == "container"), "{by_image:?}");
    let by_tag = cli_events(&d, &t2, &t3, "{{.Type}} {{.Action}}", &["image=evtag"]);
    assert_eq!(by_tag, ["image tag"]);

    // An OOM kill: `oom` from the runtime, `State.OOMKilled`, and the die.
    let t4 = now_ts();
    let st = d.docker(&[
        "run",
        "--name",
        "evoom",
        "-m",
        "8m",
        IMAGE,
        "sh",
        "-c",
        "head -c 64m /dev/zero | tail",
    ]);
    assert_eq!(st.status.code(), Some(137), "{st:?}");
    assert_eq!(inspect(&d, "{{.State.OOMKilled}}", "evoom"), "true");
    let t5 = until_now();
    let oom = cli_events(
        &d,
        &t4,
        &t5,
        "{{.Action}} {{.Actor.Attributes.exitCode}}",
        &["event=oom", "event=die"],
    );
    // One `oom` per notification of the kernel, as with dockerd (cgroup v1 often sends
    // several for one kill), then one die.
    let dies: Vec<&String> = oom.iter().filter(|l| l.starts_with("die")).collect();
    assert_eq!(dies, ["die 137"], "{oom:?}");
    assert!(
        oom.len() > 1 && oom.iter().all(|l| l == "die 137" || l == "oom <no value>"),
        "{oom:?}"
    );

    // `--until` in the future: the CLI follows live events, then the stream ends by itself.
    let start = Instant::now();
    let since = now_ts();
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + Duration::from_secs(3);
    let follower = d
        .docker_cmd(&[
            "events",
            "--since",
            &since,
            "--until",
            &deadline.as_secs().to_string(),
            "--filter",
            "event=create",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.ok(&["create", "--name", "evlive", IMAGE, "true"]);
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "evlive\n");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

fn image_id(d: &Daemon) -> String {
    d.ok(&["image", "inspect", "-f", "{{.Id}}", IMAGE])
        .trim()
        .to_string()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn bollard_client(d: &Daemon) -> Docker {
    Docker::connect_with_unix(&d.host(), 120, bollard::API_DEFAULT_VERSION)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
}

fn attr<'a>(e: &'a EventMessage, k: &str) -> Option<&'a str> {
    e.actor
        .as_ref()
        .and_then(|a| a.attributes.as_ref())
        .and_then(|m| m.get(k))
        .map(String::as_str)
}

#[test]
fn bollard_follows_live_and_replays() {
    let d = Daemon::start();
    d.load_busybox();
    let rt = runtime();
    let t0 = now_ts();
    let docker = rt.block_on(bollard_client(&d));

    // Live: subscribed (replaying from t0, so nothing is missed however the subscription and
    // the run interleave), the container's exit two seconds later arrives on the stream.
    let filters = HashMap::from([("container", vec!["evlive"])]);
    let opts = EventsOptionsBuilder::new()
        .since(&t0)
        .filters(&filters)
        .build();
    let mut stream = Box::pin(docker.events(Some(opts)));
    let collected = rt.block_on(async {
        let run = tokio::task::spawn_blocking({
            let host = d.host();
            let cfg = d.path("cli-config");
            move || {
                Command::new(common::DOCKER)
                    .args([
                        "run",
                        "-d",
                        "--name",
                        "evlive",
                        "-l",
                        "via=bollard",
                        IMAGE,
                        "sh",
                        "-c",
                        "sleep 2; exit 7",
                    ])
                    .env("DOCKER_HOST", host)
                    .env("DOCKER_CONFIG", cfg)
                    .output()
                    .unwrap()
            }
        });
        let mut got: Vec<EventMessage> = Vec::new();
        let collect = async {
            while let Some(e) = stream.next().await {
                let e = e.unwrap();
                let done = e.action.as_deref() == Some("die");
                got.push(e);
                if done {
                    break;
                }
            }
        };
        let timed_out = tokio::time::timeout(Duration::from_secs(30), collect)
            .await
            .is_err();
        assert!(run.await.unwrap().status.success());
        assert!(!timed_out, "no die event: {got:?}\n{}", d.log());
        got
    });
    let actions: Vec<&str> = collected
        .iter()
        .filter_map(|e| e.action.as_deref())
        .collect();
    assert_eq!(actions, ["create", "start", "die"], "{collected:?}");
    let die = &collected[2];
    assert_eq!(die.typ, Some(EventMessageTypeEnum::CONTAINER));
    assert_eq!(die.scope, Some(EventMessageScopeEnum::LOCAL));
    assert_eq!(attr(die, "exitCode"), Some("7"));
    assert_eq!(attr(die, "via"), Some("bollard"));
    assert_eq!(attr(die, "image"), Some(IMAGE));
    assert_eq!(attr(die, "name"), Some("evlive"));
    let duration: i64 = attr(die, "execDuration").unwrap().parse().unwrap();
    assert!((1..=5).contains(&duration), "{duration}");
    let id = inspect(&d, "{{.Id}}", "evlive");
    assert!(collected
        .iter()
        .all(|e| e.actor.as_ref().and_then(|a| a.id.as_deref()) == Some(id.as_str())));

    // Replay: `since` + `until` in the past returns the same events and ends the stream.
    let t1 = until_now();
    let opts = EventsOptionsBuilder::new()
        .since(&t0)
        .until(&t1)
        .filters(&HashMap::from([("type", vec!["container"])]))
        .build();
    let replayed: Vec<EventMessage> = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(10),
            docker
                .events(Some(opts))
                .map(|e| e.unwrap())
                .collect::<Vec<_>>(),
        )
        .await
        .expect("a replay up to a past `until` ends by itself")
    });
    let actions: Vec<&str> = replayed
        .iter()
        .filter_map(|e| e.action.as_deref())
        .collect();
    assert_eq!(actions, ["create", "start", "die"]);
    assert_eq!(replayed[2].time_nano, collected[2].time_nano);

    // Filters in the legacy map form, straight through the API.
    let since = t0.clone();
    let q = format!(
        "/v1.44/events?since={since}&until={t1}&filters=%7B%22event%22%3A%7B%22die%22%3Atrue%7D%7D"
    );
    let (_, _, body) = raw_get(&d, &q, &[]);
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{body}");
    assert_eq!(lines[0]["Actor"]["Attributes"]["exitCode"], "7");
}

// ----- raw HTTP over the socket ---------------------------------------------------------

/// The next chunk of a chunked body; `None` at its end (or when the connection breaks).
fn next_chunk(r: &mut BufReader<UnixStream>) -> Option<Vec<u8>> {
    let mut size = String::new();
    if r.read_line(&mut size).ok()? == 0 {
        return None;
    }
    let n = usize::from_str_radix(size.trim(), 16).ok()?;
    if n == 0 {
        return None;
    }
    let mut b = vec![0; n + 2];
    r.read_exact(&mut b).ok()?;
    b.truncate(n);
    Some(b)
}

/// A whole body, chunked or with a length.
fn read_body(r: &mut BufReader<UnixStream>, h: &Head) -> String {
    if let Some(len) = header(&h.1, "content-length") {
        let mut b = vec![0; len.parse().unwrap()];
        r.read_exact(&mut b).unwrap();
        return String::from_utf8(b).unwrap();
    }
    let mut out = Vec::new();
    while let Some(c) = next_chunk(r) {
        out.extend(c);
    }
    String::from_utf8(out).unwrap()
}

fn raw_get(d: &Daemon, path: &str, headers: &[&str]) -> (String, Head, String) {
    let mut s = connect(d);
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let (h, mut r) = send_head(
        &mut s,
        &format!("GET {path} HTTP/1.1\r\nHost: docker\r\n{extra}Connection: close\r\n\r\n"),
    );
    let body = read_body(&mut r, &h);
    (h.0.clone(), h, body)
}

#[test]
fn wire_format_head_first_and_slow_clients() {
    let d = Daemon::start();
    d.load_busybox();
    let t0 = now_ts();
    d.ok(&["create", "--name", "evw", "-l", "k=v", IMAGE, "true"]);
    let t1 = until_now();

    // The head arrives before any event: nothing happens while we read it.
    let mut s = connect(&d);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (head, mut follow) = send_head(
        &mut s,
        "GET /v1.44/events?filters=%7B%22event%22%3A%5B%22create%22%5D%7D HTTP/1.1\r\nHost: docker\r\n\r\n",
    );
    assert_eq!(head.0, "HTTP/1.1 200 OK");
    assert_eq!(header(&head.1, "content-type"), Some("application/json"));
    assert_eq!(header(&head.1, "transfer-encoding"), Some("chunked"));
    d.ok(&["create", "--name", "evw2", IMAGE, "true"]);
    let chunk = next_chunk(&mut follow).expect("a live event");
    let e: Value = serde_json::from_slice(&chunk).unwrap();
    assert_eq!(e["Action"], "create");
    assert_eq!(e["Actor"]["Attributes"]["name"], "evw2");
    drop(follow);
    drop(s);

    // Below API 1.52: `application/json`, with the legacy status/id/from fields.
    let window = format!("since={t0}&until={t1}");
    let (st, h, body) = raw_get(&d, &format!("/v1.44/events?{window}"), &[]);
    assert_eq!(st, "HTTP/1.1 200 OK");
    assert_eq!(header(&h.1, "content-type"), Some("application/json"));
    let e: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    let id = inspect(&d, "{{.Id}}", "evw");
    assert_eq!(e["status"], "create");
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["from"], IMAGE);
    assert_eq!(e["Type"], "container");
    assert_eq!(e["Actor"]["ID"], id.as_str());
    assert_eq!(e["Actor"]["Attributes"]["k"], "v");
    // Records are newline-delimited JSON documents.
    assert!(
        body.ends_with('\n') && body.lines().count() == 1,
        "{body:?}"
    );
    // Unversioned requests get the daemon's default version, the same answer.
    let (_, _, plain) = raw_get(&d, &format!("/events?{window}"), &[]);
    assert_eq!(plain, body);

    // `Accept` picks the streaming type explicitly; json-seq frames records with RS.
    let (_, h, nd) = raw_get(
        &d,
        &format!("/v1.44/events?{window}"),
        &["Accept: application/x-ndjson"],
    );
    assert_eq!(header(&h.1, "content-type"), Some("application/x-ndjson"));
    assert_eq!(nd, body);
    let (_, h, seq) = raw_get(
        &d,
        &format!("/v1.44/events?{window}"),
        &["Accept: application/json-seq;q=0.9, */*"],
    );
    assert_eq!(header(&h.1, "content-type"), Some("application/json-seq"));
    assert_eq!(seq, format!("\u{1e}{body}"));
    let (_, h, _) = raw_get(&d, &format!("/v1.44/events?{window}"), &["Accept: */*"]);
    assert_eq!(header(&h.1, "content-type"), Some("application/json"));

    // Bad parameters are 400s with dockerd's wording.
    let (st, _, body) = raw_get(&d, &format!("/v1.44/events?since={t1}&until={t0}"), &[]);
    assert_eq!(st, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("cannot be after"), "{body}");
    let (st, _, body) = raw_get(&d, "/v1.44/events?until=1&filters=%7Bnope", &[]);
    assert_eq!(st, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("invalid filter"), "{body}");
    let (st, _, body) = raw_get(&d, "/v1.44/events?since=yesterday", &[]);
    assert_eq!(st, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("invalid value for 'since'"), "{body}");

    // A client that stops reading is dropped with a warning; a reading one sees every
    // event, and the daemon keeps answering meanwhile.
    let mut slow = connect(&d);
    let (h, slow_r) = send_head(
        &mut slow,
        "GET /v1.44/events?filters=%7B%22event%22%3A%5B%22prune%22%5D%7D HTTP/1.1\r\nHost: docker\r\n\r\n",
    );
    assert_eq!(h.0, "HTTP/1.1 200 OK");
    let mut fast = connect(&d);
    let (h, mut fast_r) = send_head(
        &mut fast,
        "GET /v1.44/events?filters=%7B%22event%22%3A%5B%22prune%22%5D%7D HTTP/1.1\r\nHost: docker\r\n\r\n",
    );
    assert_eq!(h.0, "HTTP/1.1 200 OK");
    let fast_got = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reader = std::thread::spawn({
        let fast_got = fast_got.clone();
        move || {
            while let Some(c) = next_chunk(&mut fast_r) {
                let n = c.iter().filter(|&&b| b == b'\n').count();
                fast_got.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    const MAX_PRUNES: usize = 20_000;
    let mut api = connect(&d);
    let mut api_r = BufReader::new(api.try_clone().unwrap());
    let mut sent = 0;
    let mut dropped_at = None;
    let started = Instant::now();
    while sent < MAX_PRUNES {
        api.write_all(
            b"POST /v1.44/containers/prune HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let h = read_head(&mut api_r);
        assert_eq!(h.0, "HTTP/1.1 200 OK");
        read_body(&mut api_r, &h);
        sent += 1;
        if sent % 200 == 0 && dropped_at.is_none() && d.log().contains("events client too slow") {
            dropped_at = Some(sent);
        }
        // Some more after the drop: the bus and the other client must not mind.
        if dropped_at.is_some_and(|at| sent >= at + 200) {
            break;
        }
    }
    let dropped_at = dropped_at.unwrap_or_else(|| panic!("never dropped after {sent} events"));
    eprintln!(
        "slow client dropped after {dropped_at} events ({:?})",
        started.elapsed()
    );
    // The reading client got every one of them.
    let deadline = Instant::now() + Duration::from_secs(20);
    while fast_got.load(std::sync::atomic::Ordering::SeqCst) < sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        fast_got.load(std::sync::atomic::Ordering::SeqCst),
        sent,
        "the reading client missed events"
    );
    fast.shutdown(std::net::Shutdown::Both).unwrap();
    reader.join().unwrap();
    // The slow client, reading at last, finds its stream cut short.
    let mut slow_r = slow_r;
    slow_r
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut slow_got = 0usize;
    while let Some(c) = next_chunk(&mut slow_r) {
        slow_got += c.iter().filter(|&&b| b == b'\n').count();
    }
    assert!(slow_got < sent, "{slow_got} of {sent}");
}

// ----- containerd killed under running containers ------------------------------------

fn containerd_pid(d: &Daemon) -> Option<String> {
    let out = Command::new("pgrep")
        .arg("-f")
        .arg(d.path("exec/containerd/config.toml"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// SIGKILLs the private containerd whenever it is up, from `from_ms` to `to_ms` after
/// `started`; returns how many times.
fn keep_containerd_down(d: &Daemon, started: Instant, from_ms: u64, to_ms: u64) -> usize {
    if let Some(left) = Duration::from_millis(from_ms).checked_sub(started.elapsed()) {
        std::thread::sleep(left);
    }
    let mut kills = 0;
    while started.elapsed() < Duration::from_millis(to_ms) {
        if let Some(pid) = containerd_pid(d) {
            if Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .is_ok_and(|s| s.success())
            {
                kills += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(kills >= 1, "containerd was never found");
    kills
}

fn wait_for_state(d: &Daemon, name: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = inspect(d, "{{.State.Status}} {{.State.ExitCode}}", name);
        if state == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {state}, not {want}\n{}",
            common::tail(&d.log(), 40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn containerd_killed_no_lost_exits() {
    let d = Daemon::start();
    d.load_busybox();
    let t0 = now_ts();
    d.ok(&["run", "-d", "--name", "survivor", IMAGE, "sleep", "1000"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "exiter",
        IMAGE,
        "sh",
        "-c",
        "sleep 2; exit 42",
    ]);
    // An exec that exits during the outage too: its exit must be found the same way.
    let exec_id = {
        let body = r#"{"Cmd":["sh","-c","sleep 2; exit 7"]}"#;
        let mut s = connect(&d);
        let (h, mut r) = send_head(
            &mut s,
            &format!("POST /v1.44/containers/survivor/exec HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
        );
        assert_eq!(h.0, "HTTP/1.1 201 Created");
        let v: serde_json::Value = serde_json::from_str(&read_body(&mut r, &h)).unwrap();
        let id = v["Id"].as_str().unwrap().to_string();
        let start = r#"{"Detach":true}"#;
        let mut s = connect(&d);
        let (h, _) = send_head(
            &mut s,
            &format!("POST /v1.44/exec/{id}/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{start}", start.len()),
        );
        assert_eq!(h.0, "HTTP/1.1 200 OK");
        id
    };
    let started = Instant::now();
    // Keep containerd down (the supervisor restarts it, we kill it again) from before the
    // container exits until the shim has given up forwarding its exit event (it retries
    // 1+2+3+4+5 s after the first attempt), and let nothing else happen: only a reconcile
    // can find this exit, and no other event wakes the event stream up.
    let kills = keep_containerd_down(&d, started, 1200, 2000 + 16_500);
    let outage_over = Instant::now();

    // The exit is recorded with its real code once containerd is back.
    wait_for_state(&d, "exiter", "exited 42");
    eprintln!(
        "containerd killed {kills}x; exit recorded {:?} after the last kill",
        outage_over.elapsed()
    );
    assert!(
        d.log()
            .contains("container exited while its runtime events were not followed"),
        "the exit should have been found by a reconcile"
    );
    // FinishedAt is when it exited (containerd kept that), not when dockbridge found out
    // some 15 s later.
    let times = inspect(&d, "{{.State.StartedAt}} {{.State.FinishedAt}}", "exiter");
    let (a, b) = times.split_once(' ').unwrap();
    let ran = chrono::DateTime::parse_from_rfc3339(b).unwrap()
        - chrono::DateTime::parse_from_rfc3339(a).unwrap();
    assert!(
        ran.num_milliseconds() >= 1500 && ran.num_milliseconds() < 6000,
        "ran for {ran} ({times})"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let exec = loop {
        let (_, _, body) = raw_get(&d, &format!("/v1.44/exec/{exec_id}/json"), &[]);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if v["Running"] == false || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        (exec["Running"].as_bool(), exec["ExitCode"].as_i64()),
        (Some(false), Some(7)),
        "{exec}"
    );
    assert!(
        d.log()
            .contains("exec exited while runtime events were not followed"),
        "the exec's exit should have been found by a reconcile"
    );
    // The running container still works across the restart: exec, then stop (sleep ignores
    // SIGTERM as PID 1, so the stop ends with SIGKILL).
    assert_eq!(
        inspect(&d, "{{.State.Status}}", "survivor"),
        "running",
        "{}",
        common::tail(&d.log(), 40)
    );
    assert_eq!(d.ok(&["exec", "survivor", "echo", "alive"]), "alive\n");
    d.ok(&["stop", "-t", "1", "survivor"]);
    assert_eq!(
        inspect(&d, "{{.State.Status}} {{.State.ExitCode}}", "survivor"),
        "exited 137"
    );

    // A short outage: the shim's retries deliver this exit once containerd is back, racing
    // the reconcile; it is still reported once.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "late",
        IMAGE,
        "sh",
        "-c",
        "sleep 2; exit 43",
    ]);
    let started = Instant::now();
    keep_containerd_down(&d, started, 1200, 3000);
    wait_for_state(&d, "late", "exited 43");
    // Let the shim's remaining retries pass before counting.
    std::thread::sleep(Duration::from_secs(6));
    let t1 = until_now();
    let dies = cli_events(
        &d,
        &t0,
        &t1,
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
        &["event=die"],
    );
    let mut dies = dies;
    dies.sort();
    assert_eq!(
        dies,
        ["exiter 42", "late 43", "survivor 137"],
        "{}",
        d.log()
    );

    // And the daemon keeps following containerd's events afterwards.
    let st = d.docker(&["run", "--rm", IMAGE, "sh", "-c", "exit 9"]);
    assert_eq!(st.status.code(), Some(9), "{st:?}");
}
