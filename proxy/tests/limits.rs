//! Request limits on the wire: `--max-request-body`, `--header-read-timeout` (slow-loris)
//! and `--max-concurrent-requests`, each with the daemon still serving everyone else.
// End to end against containerd and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::raw::{connect, header, send_head};
use common::Daemon;

fn body_of(r: &mut impl Read, headers: &[(String, String)]) -> String {
    let len: usize = header(headers, "content-length").unwrap().parse().unwrap();
    let mut b = vec![0; len];
    r.read_exact(&mut b).unwrap();
    String::from_utf8(b).unwrap()
}

fn ping(d: &Daemon) {
    let mut s = connect(d);
    let ((status, h), mut r) = send_head(&mut s, "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body_of(&mut r, &h), "OK");
}

#[test]
fn an_oversized_body_is_refused_in_dockers_shape_and_uploads_keep_working() {
    let d = Daemon::start_with(&["--max-request-body", "4096"], &[]);
    let big = format!(r#"{{"Image":"busybox","Env":["X={}"]}}"#, "x".repeat(8192));

    // Announced by Content-Length.
    let mut s = connect(&d);
    let req = format!(
        "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{big}",
        big.len()
    );
    let ((status, h), mut r) = send_head(&mut s, &req);
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert_eq!(
        body_of(&mut r, &h),
        r#"{"message":"request body is larger than the daemon's limit of 4096 bytes (--max-request-body)"}"#
    );

    // Chunked, with no length up front: found out while reading.
    let mut s = connect(&d);
    let mut req = String::from(
        "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for part in big.as_bytes().chunks(1000) {
        req.push_str(&format!(
            "{:x}\r\n{}\r\n",
            part.len(),
            std::str::from_utf8(part).unwrap()
        ));
    }
    req.push_str("0\r\n\r\n");
    let ((status, h), mut r) = send_head(&mut s, &req);
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert!(body_of(&mut r, &h).contains("--max-request-body"));

    // Under the limit the request is handled as always.
    let small = r#"{"Image":"nosuchimage"}"#;
    let mut s = connect(&d);
    let req = format!(
        "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{small}",
        small.len()
    );
    let ((status, h), mut r) = send_head(&mut s, &req);
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    assert!(body_of(&mut r, &h).contains("No such image"));

    // Streamed uploads are not bound by it: `docker load` of a multi-megabyte archive.
    d.load_busybox();
    assert!(d.ok(&["images", "-q", "busybox"]).trim().len() >= 12);
    ping(&d);
}

#[test]
fn axum_rejections_come_in_dockers_error_shape() {
    let d = Daemon::start();
    // A query string that does not decode into the handler's parameters.
    let mut s = connect(&d);
    let ((status, h), mut r) = send_head(
        &mut s,
        "GET /containers/json?filters=%ff HTTP/1.1\r\nHost: d\r\n\r\n",
    );
    assert!(status.starts_with("HTTP/1.1 4"), "{status}");
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    let b = body_of(&mut r, &h);
    assert!(b.starts_with(r#"{"message":""#), "{b}");
}

#[test]
fn a_slow_loris_is_disconnected_while_others_are_served() {
    let d = Daemon::start_with(&["--header-read-timeout", "2"], &[]);
    let mut loris = connect(&d);
    loris
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let start = Instant::now();
    loris.write_all(b"GET /_ping HTTP/1.1\r\n").unwrap();
    // One header byte every 300 ms: never a complete head.
    let trickle = b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed_after = None;
    let mut got = Vec::new();
    for byte in trickle.iter().cycle().take(60) {
        // Normal clients keep being served meanwhile.
        if got.is_empty() && start.elapsed() < Duration::from_secs(1) {
            ping(&d);
        }
        if loris.write_all(&[*byte]).is_err() {
            closed_after = Some(start.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        match loris.read(&mut buf) {
            Ok(0) => {
                closed_after = Some(start.elapsed());
                break;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed_after = Some(start.elapsed());
                break;
            }
        }
    }
    let closed_after = closed_after.expect("the slow connection was never closed");
    assert!(
        closed_after >= Duration::from_secs(2) && closed_after < Duration::from_secs(8),
        "closed after {closed_after:?}"
    );
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "the slow request was answered: {}",
        String::from_utf8_lossy(&got)
    );
    ping(&d);
}

#[test]
fn the_concurrency_limit_does_not_count_streams() {
    let d = Daemon::start_with(&["--max-concurrent-requests", "1"], &[]);
    // Two long-lived streams that stay open: they must not hold the only slot.
    let mut events = connect(&d);
    let ((status, _), _r1) = send_head(&mut events, "GET /events HTTP/1.1\r\nHost: d\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let mut events2 = connect(&d);
    let ((status, _), _r2) = send_head(
        &mut events2,
        "GET /v1.41/events HTTP/1.1\r\nHost: d\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    // Several short requests at once all get through, one after the other.
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| ping(&d));
        }
    });
    assert!(start.elapsed() < Duration::from_secs(10));
    ping(&d);
}
