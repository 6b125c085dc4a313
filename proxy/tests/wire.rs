//! The API on the wire, byte for byte (as mini-redis tests its protocol): status lines,
//! headers, error bodies, the hijack handshake and stream framing.
// End to end against containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use common::raw::{connect, header, send_head};
use common::{Daemon, IMAGE};

/// Sends one request and reads the head (status line + headers), leaving the body.
fn head(s: &mut UnixStream, req: &str) -> (String, Vec<(String, String)>, BufReader<UnixStream>) {
    let ((status, headers), r) = send_head(s, req);
    (status, headers, r)
}

fn body(r: &mut BufReader<UnixStream>, h: &[(String, String)]) -> String {
    let len: usize = header(h, "content-length").unwrap().parse().unwrap();
    let mut b = vec![0; len];
    r.read_exact(&mut b).unwrap();
    String::from_utf8(b).unwrap()
}

fn get(d: &Daemon, path: &str) -> (String, Vec<(String, String)>, String) {
    let mut s = connect(d);
    let (st, h, mut r) = head(
        &mut s,
        &format!("GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n"),
    );
    let b = body(&mut r, &h);
    (st, h, b)
}

#[test]
fn ping_versions_and_errors() {
    let d = Daemon::start();
    let (st, h, b) = get(&d, "/_ping");
    assert_eq!(st, "HTTP/1.1 200 OK");
    assert_eq!(b, "OK");
    assert_eq!(header(&h, "api-version"), Some("1.44"));
    assert_eq!(header(&h, "ostype"), Some("linux"));
    assert_eq!(header(&h, "docker-experimental"), Some("false"));
    assert_eq!(
        header(&h, "cache-control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert!(header(&h, "server").unwrap().starts_with("Docker/"));

    let (st, _, b) = get(&d, "/v1.41/_ping");
    assert_eq!((st.as_str(), b.as_str()), ("HTTP/1.1 200 OK", "OK"));

    let (st, h, b) = get(&d, "/v1.99/version");
    assert_eq!(st, "HTTP/1.1 400 Bad Request");
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert_eq!(
        b,
        r#"{"message":"client version 1.99 is too new. Maximum supported API version is 1.44"}"#
    );
    let (st, _, b) = get(&d, "/v1.12/version");
    assert_eq!(st, "HTTP/1.1 400 Bad Request");
    assert!(
        b.contains("client version 1.12 is too old. Minimum supported API version is 1.24"),
        "{b}"
    );

    let (st, _, b) = get(&d, "/v1.44/no/such/route");
    assert_eq!(st, "HTTP/1.1 404 Not Found");
    assert!(b.starts_with(r#"{"message":"#), "{b}");
    let (st, _, b) = get(&d, "/containers/nosuch/json");
    assert_eq!(st, "HTTP/1.1 404 Not Found");
    assert_eq!(b, r#"{"message":"No such container: nosuch"}"#);

    let mut s = connect(&d);
    let bad = "{not json";
    let (st, h, mut r) = head(
        &mut s,
        &format!("POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{bad}", bad.len()),
    );
    assert_eq!(st, "HTTP/1.1 400 Bad Request");
    assert!(body(&mut r, &h).starts_with(r#"{"message":"#));

    let (st, _, b) = get(&d, "/version");
    assert_eq!(st, "HTTP/1.1 200 OK");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["ApiVersion"], "1.44");
    assert_eq!(v["MinAPIVersion"], "1.24");
    let components: Vec<&str> = v["Components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(components, ["Engine", "containerd", "runc"]);
    assert!(
        v["Components"][1]["Version"]
            .as_str()
            .unwrap()
            .starts_with("1."),
        "{v}"
    );
}

#[test]
fn attach_handshake_framing_and_wait_headers() {
    let d = Daemon::start();
    d.load_busybox();
    let id = d.ok(&[
        "create",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 5",
    ]);
    let id = id.trim();

    // wait: the head comes at once, before the container even started.
    let mut w = connect(&d);
    let (st, h, mut wr) = head(&mut w, &format!("POST /v1.44/containers/{id}/wait?condition=next-exit HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
    assert_eq!(st, "HTTP/1.1 200 OK");
    assert_eq!(header(&h, "content-type"), Some("application/json"));

    let mut a = connect(&d);
    let (st, h, mut ar) = head(
        &mut a,
        &format!("POST /v1.44/containers/{id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"),
    );
    assert_eq!(st, "HTTP/1.1 101 UPGRADED");
    assert_eq!(header(&h, "upgrade"), Some("tcp"));
    assert_eq!(
        header(&h, "content-type"),
        Some("application/vnd.docker.multiplexed-stream")
    );

    d.ok(&["start", id]);
    let mut got = Vec::new();
    ar.read_to_end(&mut got).unwrap();
    // The two streams may interleave in either order; each frame is exact.
    let out: &[u8] = b"\x01\x00\x00\x00\x00\x00\x00\x04out\n";
    let err: &[u8] = b"\x02\x00\x00\x00\x00\x00\x00\x04err\n";
    assert!(
        got == [out, err].concat() || got == [err, out].concat(),
        "{got:?}"
    );

    let mut rest = String::new();
    wr.read_to_string(&mut rest).ok();
    // Chunked: the JSON sits inside the chunk framing.
    assert!(
        rest.contains(r#"{"Error":null,"StatusCode":5}"#),
        "{rest:?}"
    );
}

/// Old clients attach and start execs without `Upgrade`; dockerd hijacks anyway with a
/// plain `200 OK`. Here on a keep-alive connection that first carries other requests, one
/// with a chunked body that looks like an attach, so framing must be right to find it.
#[test]
fn attach_and_exec_without_upgrade_hijack_with_200() {
    let d = Daemon::start();
    d.load_busybox();
    let id = d.ok(&["create", "-i", "--network", "none", IMAGE, "cat"]);
    let id = id.trim();

    let mut s = connect(&d);
    let (st, h, mut r) = head(&mut s, "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    assert_eq!(st, "HTTP/1.1 200 OK");
    assert_eq!(body(&mut r, &h), "OK");
    // A chunked request whose body reads like an upgrade-less attach: not one.
    let fake = format!("POST /containers/{id}/attach HTTP/1.1\r\n\r\n");
    let req = format!(
        "POST /v1.44/containers/{id}/wait?condition=bogus HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{fake}\r\n0\r\n\r\n",
        fake.len()
    );
    let (st, h, mut r) = head(&mut s, &req);
    assert_eq!(st, "HTTP/1.1 400 Bad Request", "{h:?}");
    assert!(body(&mut r, &h).contains("condition"));

    let (st, h, mut r) = head(
        &mut s,
        &format!("POST /v1.41/containers/{id}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: d\r\n\r\n"),
    );
    assert_eq!(st, "HTTP/1.1 200 OK");
    assert_eq!(
        header(&h, "content-type"),
        Some("application/vnd.docker.raw-stream")
    );
    assert_eq!(header(&h, "upgrade"), None);
    assert_eq!(header(&h, "transfer-encoding"), None);
    d.ok(&["start", id]);
    // The hijacked connection carries stdin in and the multiplexed output back.
    s.write_all(b"typed\n").unwrap();
    let mut frame = [0u8; 14];
    r.read_exact(&mut frame).unwrap();
    assert_eq!(&frame, b"\x01\x00\x00\x00\x00\x00\x00\x06typed\n");

    // exec start without Upgrade on a fresh connection.
    let created = {
        let mut c = connect(&d);
        let body = r#"{"AttachStdout":true,"Cmd":["echo","via exec"]}"#;
        let (st, h, mut r) = head(
            &mut c,
            &format!("POST /v1.41/containers/{id}/exec HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
        );
        assert_eq!(st, "HTTP/1.1 201 Created");
        body_json_id(&mut r, &h)
    };
    let mut c = connect(&d);
    let body = r#"{"Detach":false,"Tty":false}"#;
    let (st, h, mut r) = head(
        &mut c,
        &format!("POST /v1.41/exec/{created}/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
    );
    assert_eq!(st, "HTTP/1.1 200 OK");
    assert_eq!(header(&h, "connection"), None);
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"\x01\x00\x00\x00\x00\x00\x00\x09via exec\n");
    d.ok(&["rm", "-f", id]);
}

fn body_json_id(r: &mut BufReader<UnixStream>, h: &[(String, String)]) -> String {
    let v: serde_json::Value = serde_json::from_str(&body(r, h)).unwrap();
    v["Id"].as_str().unwrap().to_string()
}
