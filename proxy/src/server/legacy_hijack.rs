//! Attach and exec start without `Upgrade`: old clients post them as plain requests and
//! dockerd hijacks the connection anyway, answering `200 OK` and then raw stream bytes.
//!
//! hyper hands a connection over only after a `101` to a request that carried `Upgrade`
//! (pitfalls.md), so this layer sits between the socket and hyper: it frames the requests
//! of a connection (heads, `Content-Length` and chunked bodies, which it passes on
//! untouched), adds `Upgrade: tcp` to an attach or exec start that lacks it, and turns the
//! `101 UPGRADED` head written back into dockerd's `200 OK`. The handlers stay unaware.
//!
//! Not handled: a client that pipelines another request before such an attach (responses
//! are matched to the first head written after it); none is known to.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest request head we look at; longer ones pass through untouched.
const MAX_HEAD: usize = 64 * 1024;

/// Where the request side of a connection is.
#[derive(Debug, PartialEq, Eq)]
enum Req {
    Head(Vec<u8>),
    Body(u64),
    ChunkSize(Vec<u8>),
    ChunkData(u64),
    ChunkCrlf(u8),
    Trailer(Vec<u8>),
    /// Upgraded, hijacked or unparseable: bytes flow as they are.
    Pass,
}

/// Frames requests and rewrites the heads of upgrade-less hijacks.
#[derive(Debug)]
pub struct RequestFramer {
    state: Req,
}

impl Default for RequestFramer {
    fn default() -> Self {
        Self {
            state: Req::Head(Vec::new()),
        }
    }
}

/// The pieces of a request head this layer needs.
struct HeadInfo {
    hijack_without_upgrade: bool,
    upgrade: bool,
    chunked: bool,
    content_length: u64,
}

fn parse_head(head: &str) -> Option<HeadInfo> {
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    let path = target.split('?').next().unwrap_or_default();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // An optional `/v1.NN` prefix, then `containers/{id}/attach` or `exec/{id}/start`.
    let segs = match segs.first() {
        Some(v) if v.starts_with('v') && v[1..].contains('.') => &segs[1..],
        _ => &segs[..],
    };
    let hijack_route = matches!(segs, ["containers", _, "attach"] | ["exec", _, "start"]);
    let mut info = HeadInfo {
        hijack_without_upgrade: false,
        upgrade: false,
        chunked: false,
        content_length: 0,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "upgrade" => info.upgrade = true,
            "transfer-encoding" => info.chunked = value.to_ascii_lowercase().contains("chunked"),
            "content-length" => info.content_length = value.parse().ok()?,
            _ => {}
        }
    }
    info.hijack_without_upgrade = method == "POST" && hijack_route && !info.upgrade;
    Some(info)
}

/// The head with `Upgrade: tcp` (and a matching `Connection`) in place of any
/// `Connection` header the client sent.
fn add_upgrade(head: &str) -> String {
    let body = head.trim_end_matches("\r\n");
    let mut out = String::with_capacity(head.len() + 48);
    for (i, line) in body.split("\r\n").enumerate() {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("connection"));
        if i > 0 && is_connection {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    out
}

impl RequestFramer {
    /// Whether bytes now flow untouched (the caller can read straight through).
    pub fn passing(&self) -> bool {
        self.state == Req::Pass
    }

    /// Body bytes that can be read straight through without looking at them.
    pub fn body_remaining(&self) -> Option<u64> {
        match self.state {
            Req::Body(n) | Req::ChunkData(n) if n > 0 => Some(n),
            _ => None,
        }
    }

    /// Accounts for `n` bytes read straight through in a body state.
    pub fn consumed(&mut self, n: u64) {
        match &mut self.state {
            Req::Body(left) => {
                *left -= n.min(*left);
                if *left == 0 {
                    self.state = Req::Head(Vec::new());
                }
            }
            Req::ChunkData(left) => {
                *left -= n.min(*left);
                if *left == 0 {
                    self.state = Req::ChunkCrlf(2);
                }
            }
            _ => {}
        }
    }

    /// Feeds bytes read from the client; appends what hyper should see to `out`. Returns
    /// true when it rewrote a hijack head (the response to it must be rewritten too).
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> bool {
        let mut armed = false;
        while !input.is_empty() {
            match &mut self.state {
                Req::Pass => {
                    out.extend_from_slice(input);
                    return armed;
                }
                Req::Head(buf) => {
                    buf.push(input[0]);
                    input = &input[1..];
                    if buf.ends_with(b"\r\n\r\n") {
                        let head = std::mem::take(buf);
                        armed |= self.end_of_head(head, out);
                    } else if buf.len() > MAX_HEAD {
                        out.append(buf);
                        self.state = Req::Pass;
                    }
                }
                Req::Body(left) | Req::ChunkData(left) => {
                    let n = input
                        .len()
                        .min(usize::try_from(*left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.consumed(n as u64);
                }
                Req::ChunkCrlf(left) => {
                    let n = input.len().min(usize::from(*left));
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    *left -= n as u8;
                    if *left == 0 {
                        self.state = Req::ChunkSize(Vec::new());
                    }
                }
                Req::ChunkSize(line) => {
                    out.push(input[0]);
                    line.push(input[0]);
                    input = &input[1..];
                    if line.ends_with(b"\r\n") {
                        let text = String::from_utf8_lossy(line);
                        let size = text.trim_end().split(';').next().unwrap_or_default().trim();
                        self.state = match u64::from_str_radix(size, 16) {
                            Ok(0) => Req::Trailer(Vec::new()),
                            Ok(n) => Req::ChunkData(n),
                            Err(_) => Req::Pass,
                        };
                    } else if line.len() > 1024 {
                        self.state = Req::Pass;
                    }
                }
                Req::Trailer(line) => {
                    out.push(input[0]);
                    line.push(input[0]);
                    input = &input[1..];
                    if line.ends_with(b"\r\n") {
                        if line.len() == 2 {
                            self.state = Req::Head(Vec::new());
                        } else {
                            line.clear();
                        }
                    } else if line.len() > MAX_HEAD {
                        self.state = Req::Pass;
                    }
                }
            }
        }
        armed
    }

    fn end_of_head(&mut self, head: Vec<u8>, out: &mut Vec<u8>) -> bool {
        // Blank lines before a request line are allowed; they are not a head.
        if head.iter().all(|b| *b == b'\r' || *b == b'\n') {
            out.extend_from_slice(&head);
            self.state = Req::Head(Vec::new());
            return false;
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        // Only HTTP/1 is framed here; an HTTP/2 preface (h2c) or anything else flows on.
        let http1 = text
            .split("\r\n")
            .find(|l| !l.is_empty())
            .is_some_and(|l| l.ends_with(" HTTP/1.1") || l.ends_with(" HTTP/1.0"));
        if !http1 {
            out.extend_from_slice(&head);
            self.state = Req::Pass;
            return false;
        }
        let Some(info) = parse_head(&text) else {
            out.extend_from_slice(&head);
            self.state = Req::Pass;
            return false;
        };
        if info.hijack_without_upgrade {
            out.extend_from_slice(add_upgrade(&text).as_bytes());
            self.state = Req::Pass;
            return true;
        }
        out.extend_from_slice(&head);
        self.state = if info.upgrade {
            Req::Pass
        } else if info.chunked {
            Req::ChunkSize(Vec::new())
        } else if info.content_length > 0 {
            Req::Body(info.content_length)
        } else {
            Req::Head(Vec::new())
        };
        false
    }
}

/// The response side: once armed, the next head is held back and a `101` becomes
/// dockerd's `200 OK` without the upgrade headers.
#[derive(Debug, Default)]
pub enum ResponseRewriter {
    #[default]
    Idle,
    Armed(Vec<u8>),
}

impl ResponseRewriter {
    pub fn arm(&mut self) {
        *self = Self::Armed(Vec::new());
    }

    pub fn armed(&self) -> bool {
        matches!(self, Self::Armed(_))
    }

    /// Takes bytes hyper wrote while armed; appends what the client should get to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let Self::Armed(buf) = self else {
            out.extend_from_slice(input);
            return;
        };
        buf.extend_from_slice(input);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let rest = buf[end + 4..].to_vec();
        if head.starts_with("HTTP/1.1 101") {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            for line in head.split("\r\n").skip(1) {
                let name = line.split(':').next().unwrap_or_default().trim();
                if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("upgrade") {
                    continue;
                }
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
        } else {
            // An error answered before any hijack: it goes out as it is.
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
        }
        out.extend_from_slice(&rest);
        *self = Self::Idle;
    }
}

/// A connection with both sides of the rewrite.
pub struct Sniffed<IO> {
    io: IO,
    framer: RequestFramer,
    rewriter: ResponseRewriter,
    /// Request bytes ready for hyper.
    rd_out: Vec<u8>,
    /// Response bytes ready for the client.
    wr_out: Vec<u8>,
}

impl<IO> Sniffed<IO> {
    pub fn new(io: IO) -> Self {
        Self {
            io,
            framer: RequestFramer::default(),
            rewriter: ResponseRewriter::default(),
            rd_out: Vec::new(),
            wr_out: Vec::new(),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Sniffed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.rd_out.is_empty() {
                let n = this.rd_out.len().min(buf.remaining());
                buf.put_slice(&this.rd_out[..n]);
                this.rd_out.drain(..n);
                return Poll::Ready(Ok(()));
            }
            if this.framer.passing() {
                return Pin::new(&mut this.io).poll_read(cx, buf);
            }
            if let Some(left) = this.framer.body_remaining() {
                // Bodies (image uploads) go straight into hyper's buffer.
                let limit = buf
                    .remaining()
                    .min(usize::try_from(left).unwrap_or(usize::MAX));
                let dst = buf.initialize_unfilled_to(limit);
                let mut sub = ReadBuf::new(dst);
                ready!(Pin::new(&mut this.io).poll_read(cx, &mut sub))?;
                let n = sub.filled().len();
                buf.advance(n);
                this.framer.consumed(n as u64);
                return Poll::Ready(Ok(()));
            }
            let mut tmp = [0u8; 8192];
            let mut rb = ReadBuf::new(&mut tmp);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            if this.framer.feed(rb.filled(), &mut this.rd_out) {
                this.rewriter.arm();
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> Sniffed<IO> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.wr_out.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.wr_out))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.wr_out.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Sniffed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if this.rewriter.armed() {
            this.rewriter.feed(buf, &mut this.wr_out);
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// A listener whose connections are [`Sniffed`].
pub struct SniffingListener<L>(pub L);

impl<L: axum::serve::Listener> axum::serve::Listener for SniffingListener<L> {
    type Io = Sniffed<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.0.accept().await;
        (Sniffed::new(io), addr)
    }

    fn local_addr(&self) -> tokio::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(f: &mut RequestFramer, input: &[u8], step: usize) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut armed = false;
        for chunk in input.chunks(step) {
            armed |= f.feed(chunk, &mut out);
        }
        (out, armed)
    }

    #[test]
    fn upgrade_less_attach_gets_upgrade_headers() {
        for step in [1, 7, 4096] {
            let mut f = RequestFramer::default();
            let req = b"POST /v1.41/containers/abc/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\nstdin bytes";
            let (out, armed) = feed_all(&mut f, req, step);
            assert!(armed);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(
                text,
                "POST /v1.41/containers/abc/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nstdin bytes"
            );
        }
    }

    #[test]
    fn exec_start_without_version_prefix_is_rewritten_too() {
        let mut f = RequestFramer::default();
        let (_, armed) = feed_all(
            &mut f,
            b"POST /exec/e1/start HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
            3,
        );
        assert!(armed);
    }

    #[test]
    fn requests_with_upgrade_and_other_routes_pass_unchanged() {
        let reqs: [&[u8]; 3] = [
            b"POST /containers/abc/attach HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n",
            b"GET /containers/abc/attach HTTP/1.1\r\n\r\n",
            b"POST /containers/attach/json HTTP/1.1\r\n\r\n",
        ];
        for r in reqs {
            let mut f = RequestFramer::default();
            let (out, armed) = feed_all(&mut f, r, 5);
            assert!(!armed);
            assert_eq!(out, r);
        }
    }

    #[test]
    fn bodies_are_framed_so_a_later_attach_is_still_seen() {
        // A body that looks like a request head must not be taken for one.
        let fake = "POST /containers/x/attach HTTP/1.1\r\n\r\n";
        let chunked_body = format!("{:x}\r\n{fake}\r\n0\r\nX-Trailer: 1\r\n\r\n", fake.len());
        let input = format!(
            "POST /images/load HTTP/1.1\r\nContent-Length: {}\r\n\r\n{fake}\
             PUT /containers/c/archive?path=/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{chunked_body}\
             POST /containers/real/attach?stream=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            fake.len()
        );
        for step in [1, 3, 64, 10_000] {
            let mut f = RequestFramer::default();
            let mut out = Vec::new();
            let mut armed_at = None;
            for (i, chunk) in input.as_bytes().chunks(step).enumerate() {
                if f.feed(chunk, &mut out) {
                    armed_at = Some(i);
                }
            }
            let text = String::from_utf8(out).unwrap();
            assert!(armed_at.is_some(), "step {step}");
            assert!(text.ends_with("POST /containers/real/attach?stream=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"), "{text}");
            assert_eq!(text.matches("Upgrade: tcp").count(), 1, "step {step}");
        }
    }

    #[test]
    fn http2_prior_knowledge_passes_through() {
        let mut f = RequestFramer::default();
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend_from_slice(&[0, 0, 4, 1, 0, 0, 0, 0, 1, 1, 2, 3, 4]);
        let (out, armed) = feed_all(&mut f, &input, 5);
        assert!(!armed);
        assert_eq!(out, input);
        assert!(f.passing());
    }

    #[test]
    fn the_101_becomes_200_and_errors_pass() {
        let mut r = ResponseRewriter::default();
        r.arm();
        let mut out = Vec::new();
        let resp = b"HTTP/1.1 101 UPGRADED\r\ncontent-type: application/vnd.docker.raw-stream\r\nconnection: Upgrade\r\nupgrade: tcp\r\n\r\nframes";
        for c in resp.chunks(5) {
            r.feed(c, &mut out);
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.docker.raw-stream\r\n\r\nframes"
        );
        assert!(!r.armed());

        let mut r = ResponseRewriter::default();
        r.arm();
        let mut out = Vec::new();
        let resp = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}";
        r.feed(resp, &mut out);
        assert_eq!(out, resp);
    }
}
