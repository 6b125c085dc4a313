//! Container logs in Docker's json-file format: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"2026-11-28T17:40:05.123456789Z"}`.
//!
//! Writing splits output at newlines as Docker does (a line longer than 16 KiB is cut into
//! partial entries); reading applies `since`/`until`/`tail`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Docker's maximum log message size before a line is split.
const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stream: StreamKind,
    pub time: DateTime<Utc>,
    pub line: Bytes,
}

#[derive(Serialize, Deserialize)]
struct JsonLine {
    log: String,
    stream: StreamKind,
    time: String,
}

impl Entry {
    pub fn to_json_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(&JsonLine {
            log: String::from_utf8_lossy(&self.line).into_owned(),
            stream: self.stream,
            time: self.time.to_rfc3339_opts(SecondsFormat::Nanos, true),
        })
        .unwrap_or_default();
        v.push(b'\n');
        v
    }

    pub fn parse(line: &[u8]) -> Option<Self> {
        let j: JsonLine = serde_json::from_slice(line).ok()?;
        Some(Self {
            stream: j.stream,
            time: DateTime::parse_from_rfc3339(&j.time)
                .ok()?
                .with_timezone(&Utc),
            line: Bytes::from(j.log.into_bytes()),
        })
    }
}

/// What a log follower receives.
#[derive(Debug, Clone)]
pub enum LogEvent {
    Entry(Entry),
    /// The process ended: followers stop.
    End,
}

/// Splits a byte stream into lines, per stream.
#[derive(Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Returns the complete lines (with their `\n`) in `chunk`, and lines cut at MAX_LINE.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Bytes> {
        let mut out = Vec::new();
        for &b in chunk {
            self.partial.push(b);
            if b == b'\n' || self.partial.len() >= MAX_LINE {
                out.push(Bytes::from(std::mem::take(&mut self.partial)));
            }
        }
        out
    }

    pub fn flush(&mut self) -> Option<Bytes> {
        (!self.partial.is_empty()).then(|| Bytes::from(std::mem::take(&mut self.partial)))
    }
}

/// Appends entries to a container's log file and tells followers. The lock covers both,
/// so a follower that records the file length under it misses no entry and sees none twice.
pub struct LogWriter {
    path: PathBuf,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<LogEvent>,
    rotation: translate::linux::LogOptions,
}

struct Inner {
    file: Option<std::fs::File>,
    size: u64,
    /// A process is writing: followers get a receiver that ends with [`LogEvent::End`].
    /// Kept under the same lock as the writes, so a follower never subscribes after the
    /// end it would wait for.
    live: bool,
}

impl LogWriter {
    pub fn new(path: PathBuf, rotation: translate::linux::LogOptions) -> Self {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Self {
            path,
            inner: Mutex::new(Inner {
                file: None,
                size,
                live: false,
            }),
            tx: broadcast::channel(4096).0,
            rotation,
        }
    }

    /// `log.<n>`, or `log.<n>.gz` with `compress`.
    fn rotated(&self, n: u32) -> PathBuf {
        self.rotated_as(n, self.rotation.compress)
    }

    fn rotated_as(&self, n: u32, gz: bool) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        if gz {
            p.push(".gz");
        }
        PathBuf::from(p)
    }

    /// json-file's rotation: `log` → `log.1` → … → `log.<max-file - 1>`, oldest dropped;
    /// with `compress` the rotated files are `log.<n>.gz`. The compression happens here,
    /// under the writer's lock (dockerd does it in the background): one file of
    /// `max-size` bytes, written to `.gz.tmp` and renamed, so a reader never sees half.
    fn rotate(&self, inner: &mut Inner) {
        inner.file = None;
        inner.size = 0;
        let keep = self.rotation.max_file.saturating_sub(1);
        if keep == 0 {
            let _ = std::fs::remove_file(&self.path);
            return;
        }
        let _ = std::fs::remove_file(self.rotated(keep));
        for n in (1..keep).rev() {
            let _ = std::fs::rename(self.rotated(n), self.rotated(n + 1));
        }
        if !self.rotation.compress {
            let _ = std::fs::rename(&self.path, self.rotated(1));
            return;
        }
        let gz = self.rotated(1);
        let mut tmp = gz.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let compressed = (|| -> std::io::Result<()> {
            let mut src = std::fs::File::open(&self.path)?;
            let dst = std::fs::File::create(&tmp)?;
            let mut enc = flate2::write::GzEncoder::new(dst, flate2::Compression::fast());
            std::io::copy(&mut src, &mut enc)?;
            enc.finish()?.sync_all()?;
            std::fs::rename(&tmp, &gz)?;
            std::fs::remove_file(&self.path)
        })();
        if let Err(e) = compressed {
            // Keep the entries uncompressed rather than lose them.
            tracing::warn!("compressing log {}: {e}", self.path.display());
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::rename(&self.path, self.rotated_as(1, false));
        }
    }

    /// A rotated file's entries (`.gz` or plain, whichever is there).
    fn read_rotated(&self, n: u32) -> Option<Vec<u8>> {
        use std::io::Read;
        if let Ok(f) = std::fs::File::open(self.rotated_as(n, true)) {
            let mut out = Vec::new();
            return flate2::read::GzDecoder::new(f)
                .read_to_end(&mut out)
                .ok()
                .map(|_| out);
        }
        std::fs::read(self.rotated_as(n, false)).ok()
    }

    /// The whole log: rotated files oldest first, then the current file up to `len` bytes.
    pub fn read_all(&self, len: u64) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for n in (1..self.rotation.max_file).rev() {
            if let Some(b) = self.read_rotated(n) {
                out.extend_from_slice(&b);
            }
        }
        match std::fs::read(&self.path) {
            Ok(mut b) => {
                b.truncate(usize::try_from(len).unwrap_or(usize::MAX));
                out.extend_from_slice(&b);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the driver keeps what is written (`none` does not, and cannot be read).
    pub fn readable(&self) -> bool {
        self.rotation.stored
    }

    pub fn write(&self, entry: Entry) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !self.rotation.stored {
            let _ = self.tx.send(LogEvent::Entry(entry));
            return;
        }
        if inner.file.is_none() {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
            {
                Ok(f) => inner.file = Some(f),
                Err(e) => tracing::warn!("opening log {}: {e}", self.path.display()),
            }
        }
        let line = entry.to_json_line();
        if let Some(f) = inner.file.as_mut() {
            match f.write_all(&line) {
                Ok(()) => inner.size += line.len() as u64,
                Err(e) => tracing::warn!("writing log {}: {e}", self.path.display()),
            }
        }
        if self.rotation.max_size.is_some_and(|max| inner.size >= max) {
            self.rotate(&mut inner);
        }
        let _ = self.tx.send(LogEvent::Entry(entry));
    }

    /// A process's output starts flowing into the log.
    pub fn begin(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).live = true;
    }

    pub fn end(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.live = false;
        let _ = self.tx.send(LogEvent::End);
    }

    /// The number of bytes written so far and, while a process writes, a receiver for
    /// every later entry (`None`: the output has ended, there is nothing to follow).
    pub fn follow(&self) -> (u64, Option<broadcast::Receiver<LogEvent>>) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        (len, inner.live.then(|| self.tx.subscribe()))
    }
}

/// `since`/`until`/`tail` of `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// `None` = all.
    pub tail: Option<usize>,
    pub stdout: bool,
    pub stderr: bool,
}

impl ReadOptions {
    pub fn wants(&self, e: &Entry) -> bool {
        let stream_ok = match e.stream {
            StreamKind::Stdout => self.stdout,
            StreamKind::Stderr => self.stderr,
        };
        stream_ok
            && self.since.is_none_or(|s| e.time >= s)
            && self.until.is_none_or(|u| e.time <= u)
    }
}

/// `since`/`until` of `docker logs`: what `spec::timestamp::parse` accepts (the CLI sends
/// Unix seconds with a fraction; RFC 3339 and durations are taken too).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    spec::timestamp::parse(s, Utc::now())
        .ok()
        .and_then(spec::timestamp::to_datetime)
}

/// Reads the entries of `data` (a json-file log, up to some length) that `opts` wants.
pub fn select(data: &[u8], opts: &ReadOptions) -> Vec<Entry> {
    let mut entries: Vec<Entry> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(Entry::parse)
        .filter(|e| opts.wants(e))
        .collect();
    if let Some(n) = opts.tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str, stream: StreamKind, secs: i64) -> Entry {
        Entry {
            stream,
            time: DateTime::from_timestamp(secs, 5).unwrap(),
            line: Bytes::from(s.to_string()),
        }
    }

    #[test]
    fn json_line_matches_docker_format() {
        let e = entry("hi\n", StreamKind::Stdout, 1_700_000_000);
        assert_eq!(
            String::from_utf8(e.to_json_line()).unwrap(),
            "{\"log\":\"hi\\n\",\"stream\":\"stdout\",\"time\":\"2023-11-14T22:13:20.000000005Z\"}\n"
        );
        assert_eq!(Entry::parse(&e.to_json_line()[..]).unwrap(), e);
    }

    #[test]
    fn splits_lines_and_keeps_partials() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"a\nb"), vec![Bytes::from_static(b"a\n")]);
        assert_eq!(
            s.push(b"c\n\n"),
            vec![Bytes::from_static(b"bc\n"), Bytes::from_static(b"\n")]
        );
        assert_eq!(s.push(b"tail"), Vec::<Bytes>::new());
        assert_eq!(s.flush(), Some(Bytes::from_static(b"tail")));
        assert_eq!(s.flush(), None);
        let long = vec![b'x'; MAX_LINE + 1];
        assert_eq!(s.push(&long).len(), 1);
    }

    #[test]
    fn selects_by_time_stream_and_tail() {
        let mut data = Vec::new();
        for (i, stream) in [
            StreamKind::Stdout,
            StreamKind::Stderr,
            StreamKind::Stdout,
            StreamKind::Stdout,
        ]
        .into_iter()
        .enumerate()
        {
            data.extend(entry(&format!("{i}\n"), stream, 100 + i as i64).to_json_line());
        }
        let all = ReadOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        assert_eq!(select(&data, &all).len(), 4);
        let out_only = ReadOptions {
            stdout: true,
            ..Default::default()
        };
        assert_eq!(select(&data, &out_only).len(), 3);
        let tail = ReadOptions {
            tail: Some(2),
            ..all.clone()
        };
        let got: Vec<_> = select(&data, &tail).into_iter().map(|e| e.line).collect();
        assert_eq!(
            got,
            vec![Bytes::from_static(b"2\n"), Bytes::from_static(b"3\n")]
        );
        let since = ReadOptions {
            since: parse_timestamp("102"),
            ..all.clone()
        };
        assert_eq!(select(&data, &since).len(), 2);
        let until = ReadOptions {
            until: parse_timestamp("101.5"),
            ..all
        };
        assert_eq!(select(&data, &until).len(), 2);
    }

    #[test]
    fn rotates_like_json_file() {
        rotates(false);
    }

    #[test]
    fn rotates_compressed_like_json_file() {
        rotates(true);
        // Each rotated file is a gzip stream of whole entries.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let w = LogWriter::new(path, rotation(true));
        for i in 0..20 {
            w.write(entry(&format!("line {i}\n"), StreamKind::Stdout, 100 + i));
        }
        let gz = std::fs::read(dir.path().join("c-json.log.1.gz")).unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert!(!dir.path().join("c-json.log.1.gz.tmp").exists());
    }

    fn rotation(compress: bool) -> translate::linux::LogOptions {
        translate::linux::LogOptions {
            stored: true,
            max_size: Some(200),
            max_file: 3,
            compress,
        }
    }

    fn rotates(compress: bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let w = LogWriter::new(path.clone(), rotation(compress));
        for i in 0..20 {
            w.write(entry(&format!("line {i}\n"), StreamKind::Stdout, 100 + i));
        }
        let ext = if compress { ".gz" } else { "" };
        assert!(dir.path().join(format!("c-json.log.1{ext}")).exists());
        assert!(dir.path().join(format!("c-json.log.2{ext}")).exists());
        assert!(!dir.path().join(format!("c-json.log.3{ext}")).exists());
        assert!(!dir.path().join("c-json.log.1").exists() || !compress);
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let all = w.read_all(len).unwrap();
        let opts = ReadOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let lines: Vec<_> = select(&all, &opts).into_iter().map(|e| e.line).collect();
        // Oldest lines are gone, the rest are in order and end with the newest.
        assert!(lines.len() < 20 && lines.len() >= 4, "{}", lines.len());
        assert_eq!(lines.last().unwrap(), &Bytes::from_static(b"line 19\n"));
        let nums: Vec<i32> = lines
            .iter()
            .map(|l| {
                String::from_utf8_lossy(l)
                    .trim()
                    .trim_start_matches("line ")
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
    }

    #[test]
    fn parses_docker_timestamps() {
        assert_eq!(
            parse_timestamp("1700000000").unwrap().timestamp(),
            1_700_000_000
        );
        assert_eq!(
            parse_timestamp("1.5").unwrap().timestamp_subsec_nanos(),
            500_000_000
        );
        assert!(parse_timestamp("abc").is_none());
        assert!(parse_timestamp("").is_none());
        assert!(parse_timestamp("2023-11-14T22:13:20Z").is_some());
    }
}
