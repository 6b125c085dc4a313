//! Docker's multiplexed stream framing (`stdcopy`): each frame is an 8-byte header
//! `[stream, 0, 0, 0, len: u32 big-endian]` followed by `len` bytes, stream 0 = stdin,
//! 1 = stdout, 2 = stderr. Used for attach, exec and logs of containers without a TTY.

use bytes::{BufMut, Bytes, BytesMut};

use crate::containers::logs::StreamKind;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

pub fn stream_byte(kind: StreamKind) -> u8 {
    match kind {
        StreamKind::Stdout => STDOUT,
        StreamKind::Stderr => STDERR,
    }
}

/// One frame around `payload`.
pub fn frame(stream: u8, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + payload.len());
    b.put_u8(stream);
    b.put_bytes(0, 3);
    b.put_u32(payload.len() as u32);
    b.put_slice(payload);
    b.freeze()
}

/// Encodes `payload` for a client: framed unless the container has a TTY (raw stream).
pub fn encode(tty: bool, kind: StreamKind, payload: Bytes) -> Bytes {
    if tty {
        payload
    } else {
        frame(stream_byte(kind), &payload)
    }
}

/// The content type of an attach/exec/logs stream for a client of API `version`: the
/// multiplexed type exists since 1.42; older clients get `raw-stream` for both.
pub fn content_type(tty: bool, version: spec::api::ApiVersion) -> &'static str {
    if !tty && version >= spec::api::ApiVersion::new(1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_docker_wire_bytes() {
        assert_eq!(
            &frame(STDOUT, b"hi\n")[..],
            b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
        );
        assert_eq!(&frame(STDERR, b"")[..], b"\x02\x00\x00\x00\x00\x00\x00\x00");
        let big = vec![b'x'; 0x0001_0203];
        let f = frame(STDOUT, &big);
        assert_eq!(&f[..8], b"\x01\x00\x00\x00\x00\x01\x02\x03");
        assert_eq!(f.len(), 8 + big.len());
        assert_eq!(
            &encode(true, StreamKind::Stderr, Bytes::from_static(b"raw"))[..],
            b"raw"
        );
    }

    #[test]
    fn content_type_depends_on_version() {
        use spec::api::ApiVersion;
        assert_eq!(
            content_type(false, ApiVersion::new(1, 44)),
            "application/vnd.docker.multiplexed-stream"
        );
        assert_eq!(
            content_type(true, ApiVersion::new(1, 44)),
            "application/vnd.docker.raw-stream"
        );
        assert_eq!(
            content_type(false, ApiVersion::new(1, 41)),
            "application/vnd.docker.raw-stream"
        );
    }
}
