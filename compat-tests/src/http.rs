//! A tiny blocking HTTP/1.1 client over unix or TCP sockets.
//!
//! Hand-written on purpose: the suite asserts exact bytes (status lines like
//! `HTTP/1.1 101 UPGRADED`, header spellings, chunk framing, multiplexed
//! stream headers) that general-purpose clients normalise away. Cases run
//! sequentially, so blocking sockets with read timeouts keep it simple.

#[cfg(not(unix))]
use no_unix::UnixStream;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// Default per-read timeout; cases that wait longer pass their own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// An Engine API endpoint, as given to `--host` / DOCKER_HOST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl Endpoint {
    pub fn parse(s: &str) -> Result<Endpoint> {
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                bail!("empty unix socket path in {s:?}");
            }
            Ok(Endpoint::Unix(PathBuf::from(p)))
        } else if let Some(a) = s.strip_prefix("tcp://") {
            let a = a.trim_end_matches('/');
            if a.is_empty() {
                bail!("empty tcp address in {s:?}");
            }
            Ok(Endpoint::Tcp(a.to_string()))
        } else {
            bail!("unsupported host {s:?}: use unix:///path or tcp://host:port")
        }
    }

    /// The DOCKER_HOST value for the CLI.
    pub fn docker_host(&self) -> String {
        match self {
            Endpoint::Unix(p) => format!("unix://{}", p.display()),
            Endpoint::Tcp(a) => format!("tcp://{a}"),
        }
    }

    pub fn connect(&self, timeout: Duration) -> Result<Stream> {
        let s = match self {
            Endpoint::Unix(p) => Stream::Unix(
                UnixStream::connect(p).with_context(|| format!("connecting to {}", p.display()))?,
            ),
            Endpoint::Tcp(a) => {
                let s = TcpStream::connect(a).with_context(|| format!("connecting to {a}"))?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
        };
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        Ok(s)
    }
}

/// A connected socket of either family.
#[derive(Debug)]
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    pub fn set_read_timeout(&self, t: Option<Duration>) -> Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t)?,
            Stream::Tcp(s) => s.set_read_timeout(t)?,
        }
        Ok(())
    }
    pub fn set_write_timeout(&self, t: Option<Duration>) -> Result<()> {
        match self {
            Stream::Unix(s) => s.set_write_timeout(t)?,
            Stream::Tcp(s) => s.set_write_timeout(t)?,
        }
        Ok(())
    }
    /// Half-closes the write side (stdin EOF for attach / exec).
    pub fn shutdown_write(&self) -> Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write)?,
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write)?,
        }
        Ok(())
    }
    pub fn try_clone(&self) -> Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

/// An outgoing request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Request {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn json(self, v: &Value) -> Request {
        let body = v.to_string().into_bytes();
        self.body_with_type(body, "application/json")
    }
    pub fn body_with_type(mut self, body: Vec<u8>, content_type: &str) -> Request {
        self.headers
            .push(("Content-Type".into(), content_type.into()));
        self.body = Some(body);
        self
    }
    pub fn body(mut self, body: Vec<u8>) -> Request {
        self.body = Some(body);
        self
    }
    pub fn timeout(mut self, t: Duration) -> Request {
        self.timeout = t;
        self
    }
    /// Adds the hijack headers the docker CLI sends for attach / exec start.
    pub fn upgrade(self) -> Request {
        self.header("Connection", "Upgrade")
            .header("Upgrade", "tcp")
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: api.moby.localhost\r\n",
            self.method, self.path
        );
        out.push_str("User-Agent: dockbridge-compat/0.1\r\n");
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = &self.body {
            out.push_str(&format!("Content-Length: {}\r\n", b.len()));
        } else if matches!(self.method.as_str(), "POST" | "PUT") {
            out.push_str("Content-Length: 0\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if let Some(b) = &self.body {
            bytes.extend_from_slice(b);
        }
        bytes
    }
}

/// A response head.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// The status line exactly as received, without CRLF.
    pub status_line: String,
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Headers in received order and spelling.
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
    pub fn content_type(&self) -> &str {
        self.header("Content-Type").unwrap_or("")
    }
    fn is_chunked(&self) -> bool {
        self.header("Transfer-Encoding")
            .map(|v| v.eq_ignore_ascii_case("chunked"))
            .unwrap_or(false)
    }
}

/// A fully read response.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
    /// Whether the body came with chunked transfer encoding.
    pub chunked: bool,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response body is not JSON (status {}): {}",
                self.head.status,
                snippet(&self.body)
            )
        })
    }
    /// The `message` of a JSON error body, if there is one.
    pub fn message(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        v.get("message")?.as_str().map(str::to_string)
    }
    /// Newline-delimited JSON values (progress streams, events).
    pub fn json_lines(&self) -> Result<Vec<Value>> {
        json_stream(&self.body)
    }
}

/// Parses a stream of concatenated / newline-separated JSON values.
pub fn json_stream(body: &[u8]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
        out.push(v.with_context(|| format!("bad JSON stream: {}", snippet(body)))?);
    }
    Ok(out)
}

/// A short printable excerpt of a body for error messages.
pub fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.trim();
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Sends a request and reads the whole response.
pub fn send(ep: &Endpoint, req: &Request) -> Result<Response> {
    let (head, mut body) = open(ep, req)?;
    let chunked = head.is_chunked();
    let mut buf = Vec::new();
    body.read_to_end(&mut buf)
        .with_context(|| format!("reading body of {} {}", req.method, req.path))?;
    Ok(Response {
        head,
        body: buf,
        chunked,
    })
}

/// Sends raw bytes (for malformed-request cases) and reads the response.
pub fn send_raw(ep: &Endpoint, raw: &[u8], timeout: Duration) -> Result<Response> {
    let mut s = ep.connect(timeout)?;
    s.write_all(raw)?;
    let mut r = BufReader::new(s);
    let head = read_head(&mut r)?;
    let chunked = head.is_chunked();
    let mut body = Body::for_head(&head, r, false);
    let mut buf = Vec::new();
    body.read_to_end(&mut buf)?;
    Ok(Response {
        head,
        body: buf,
        chunked,
    })
}

/// Sends a request and returns the head plus a streaming body reader.
pub fn open(ep: &Endpoint, req: &Request) -> Result<(Head, Body)> {
    let mut s = ep.connect(req.timeout)?;
    s.write_all(&req.encode())
        .with_context(|| format!("sending {} {}", req.method, req.path))?;
    let mut r = BufReader::new(s);
    let head = read_head(&mut r)
        .with_context(|| format!("reading response to {} {}", req.method, req.path))?;
    let body = Body::for_head(&head, r, req.method == "HEAD");
    Ok((head, body))
}

/// A hijacked connection after an upgrade (or a 200 hijack): the raw
/// socket plus whatever the reader had already buffered.
pub struct Hijacked {
    pub reader: BufReader<Stream>,
    pub writer: Stream,
}

impl Hijacked {
    pub fn write_all(&mut self, b: &[u8]) -> Result<()> {
        self.writer.write_all(b)?;
        self.writer.flush()?;
        Ok(())
    }
    pub fn close_stdin(&self) -> Result<()> {
        self.writer.shutdown_write()
    }
    /// Reads until EOF (or the read timeout, which is an error).
    pub fn read_to_end(&mut self) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.reader
            .read_to_end(&mut buf)
            .context("reading hijacked stream")?;
        Ok(buf)
    }
    pub fn set_read_timeout(&self, t: Duration) -> Result<()> {
        self.reader.get_ref().set_read_timeout(Some(t))
    }
}

/// Sends a request expecting the connection to be hijacked; returns the head
/// and the raw connection (for any status: callers check it).
pub fn hijack(ep: &Endpoint, req: &Request) -> Result<(Head, Hijacked)> {
    let mut s = ep.connect(req.timeout)?;
    let writer = s.try_clone()?;
    s.write_all(&req.encode())?;
    let mut reader = BufReader::new(s);
    let head = read_head(&mut reader)?;
    Ok((head, Hijacked { reader, writer }))
}

fn read_head<R: BufRead>(r: &mut R) -> Result<Head> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        bail!("connection closed before a response");
    }
    let status_line = line.trim_end_matches(['\r', '\n']).to_string();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_string();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            bail!("connection closed inside response headers");
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| anyhow!("bad header line {l:?}"))?;
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Ok(Head {
        status_line,
        version,
        status,
        reason,
        headers,
    })
}

/// A response body reader honouring the message framing.
pub struct Body {
    r: BufReader<Stream>,
    mode: Mode,
}

enum Mode {
    Empty,
    Fixed(u64),
    Chunked { left: u64, done: bool },
    Eof,
}

impl Body {
    fn for_head(head: &Head, r: BufReader<Stream>, is_head: bool) -> Body {
        let mode = if is_head || head.status == 204 || head.status == 304 || head.status / 100 == 1
        {
            Mode::Empty
        } else if head.is_chunked() {
            Mode::Chunked {
                left: 0,
                done: false,
            }
        } else if let Some(n) = head.header("Content-Length").and_then(|v| v.parse().ok()) {
            Mode::Fixed(n)
        } else {
            Mode::Eof
        };
        Body { r, mode }
    }

    pub fn set_read_timeout(&self, t: Duration) -> Result<()> {
        self.r.get_ref().set_read_timeout(Some(t))
    }

    /// Reads the next JSON value from a streamed body (events, progress);
    /// `Ok(None)` at the end of the body.
    pub fn next_json(&mut self) -> Result<Option<Value>> {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            let n = self.read(&mut byte)?;
            if n == 0 {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                break;
            }
            if byte[0] == b'\n' {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    buf.clear();
                    continue;
                }
                break;
            }
            buf.push(byte[0]);
        }
        Ok(Some(serde_json::from_slice(&buf).with_context(|| {
            format!("bad JSON line {}", snippet(&buf))
        })?))
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.mode {
            Mode::Empty => Ok(0),
            Mode::Eof => self.r.read(buf),
            Mode::Fixed(left) => {
                if *left == 0 {
                    return Ok(0);
                }
                let max = (*left).min(buf.len() as u64) as usize;
                let n = self.r.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "body shorter than Content-Length",
                    ));
                }
                *left -= n as u64;
                Ok(n)
            }
            Mode::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let mut line = String::new();
                    self.r.read_line(&mut line)?;
                    let size_str = line.trim().split(';').next().unwrap_or_default();
                    let size = u64::from_str_radix(size_str, 16).map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("bad chunk size line {line:?}"),
                        )
                    })?;
                    if size == 0 {
                        // Trailers end with an empty line.
                        loop {
                            line.clear();
                            if self.r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                                break;
                            }
                        }
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let max = (*left).min(buf.len() as u64) as usize;
                let n = self.r.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "truncated chunk",
                    ));
                }
                *left -= n as u64;
                if *left == 0 {
                    let mut crlf = [0u8; 2];
                    self.r.read_exact(&mut crlf)?;
                    if &crlf != b"\r\n" {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "chunk not followed by CRLF",
                        ));
                    }
                }
                Ok(n)
            }
        }
    }
}

/// One frame of Docker's multiplexed stdio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// 0 stdin, 1 stdout, 2 stderr.
    pub stream: u8,
    pub data: Vec<u8>,
}

/// Splits a multiplexed stream (`[stream,0,0,0,len BE u32]` + payload) and
/// rejects anything that is not well-formed framing.
pub fn demux(mut b: &[u8]) -> Result<Vec<Frame>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 8 {
            bail!("truncated frame header: {:?}", b);
        }
        if b[0] > 2 || b[1] != 0 || b[2] != 0 || b[3] != 0 {
            bail!("bad frame header {:?} (stream not multiplexed?)", &b[..8]);
        }
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        if b.len() < 8 + len {
            bail!("frame claims {len} bytes, {} left", b.len() - 8);
        }
        out.push(Frame {
            stream: b[0],
            data: b[8..8 + len].to_vec(),
        });
        b = &b[8 + len..];
    }
    Ok(out)
}

/// Concatenated payload of one stream of a demultiplexed body.
pub fn stream_text(frames: &[Frame], stream: u8) -> String {
    let mut v = Vec::new();
    for f in frames.iter().filter(|f| f.stream == stream) {
        v.extend_from_slice(&f.data);
    }
    String::from_utf8_lossy(&v).into_owned()
}

/// A WebSocket opened on `req.path` (a GET), or the plain answer when the engine refused
/// the handshake (e.g. a 404 for a missing container).
pub enum WsOpen {
    Open(Box<tungstenite::WebSocket<Stream>>, Response),
    Refused(Response),
}

/// The WebSocket client handshake over the endpoint's socket (`ws://docker/...`).
pub fn websocket(ep: &Endpoint, req: &Request) -> Result<WsOpen> {
    let stream = ep.connect(req.timeout)?;
    let uri = format!("ws://docker{}", req.path);
    match tungstenite::client::client(uri.as_str(), stream) {
        Ok((ws, resp)) => {
            let head = ws_head(resp.status(), resp.headers());
            Ok(WsOpen::Open(
                Box::new(ws),
                Response {
                    head,
                    body: Vec::new(),
                    chunked: false,
                },
            ))
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            let head = ws_head(resp.status(), resp.headers());
            Ok(WsOpen::Refused(Response {
                head,
                body: resp.body().clone().unwrap_or_default(),
                chunked: false,
            }))
        }
        Err(e) => bail!("WebSocket handshake on {}: {e}", req.path),
    }
}

/// The handshake's answer as this module's [`Head`] (tungstenite parsed it already).
fn ws_head(status: tungstenite::http::StatusCode, h: &tungstenite::http::HeaderMap) -> Head {
    Head {
        status_line: format!("HTTP/1.1 {status}"),
        version: "HTTP/1.1".into(),
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").into(),
        headers: h
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux_parses_and_rejects() {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'];
        b.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 1, b'!']);
        let f = demux(&b).expect("frames");
        assert_eq!(stream_text(&f, 1), "hi");
        assert_eq!(stream_text(&f, 2), "!");
        assert!(demux(b"hello world").is_err());
        assert!(demux(&[1, 0, 0, 0, 0, 0, 0, 9, b'x']).is_err());
    }

    #[test]
    fn endpoint_parse() {
        assert_eq!(
            Endpoint::parse("unix:///tmp/x.sock").expect("unix"),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375").expect("tcp"),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert!(Endpoint::parse("http://x").is_err());
    }

    #[test]
    fn json_stream_parses_concatenated() {
        let v = json_stream(b"{\"a\":1}\r\n{\"b\":2}\n").expect("stream");
        assert_eq!(v.len(), 2);
    }
}

/// Where std has no unix sockets, `unix://` endpoints fail at connect with a clear error;
/// the type is uninhabited, so no other method can ever run.
#[cfg(not(unix))]
mod no_unix {
    use std::convert::Infallible;
    use std::io;
    use std::path::Path;
    use std::time::Duration;

    #[derive(Debug)]
    pub struct UnixStream(Infallible);

    impl UnixStream {
        pub fn connect(_: &Path) -> io::Result<Self> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "unix sockets are not available on this platform: use tcp://",
            ))
        }
        pub fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
            match self.0 {}
        }
        pub fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
            match self.0 {}
        }
        pub fn shutdown(&self, _: std::net::Shutdown) -> io::Result<()> {
            match self.0 {}
        }
        pub fn try_clone(&self) -> io::Result<Self> {
            match self.0 {}
        }
    }

    impl io::Read for UnixStream {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            match self.0 {}
        }
    }

    impl io::Write for UnixStream {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            match self.0 {}
        }
        fn flush(&mut self) -> io::Result<()> {
            match self.0 {}
        }
    }
}
