//! Raw HTTP over the daemon's socket, for tests that check bytes on the wire.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::Daemon;

/// Status line and lower-cased headers.
pub type Head = (String, Vec<(String, String)>);

pub fn connect(d: &Daemon) -> UnixStream {
    let s = UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Sends a request and reads the response head, leaving the body in the reader.
pub fn send_head(s: &mut UnixStream, req: &str) -> (Head, BufReader<UnixStream>) {
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let head = read_head(&mut r);
    (head, r)
}

pub fn read_head(r: &mut BufReader<UnixStream>) -> Head {
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    (status.trim_end().to_string(), headers)
}

pub fn header<'a>(headers: &'a [(String, String)], k: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
}
