//! Content store writes and reads, and the lease that protects an ingest from containerd's
//! garbage collector until the image record and GC labels reference what was written.

use std::collections::{BTreeMap, HashMap};

use containerd_client::services::v1::{
    AddResourceRequest, CreateRequest, DeleteRequest, Info, InfoRequest, ReadContentRequest,
    Resource, UpdateRequest, WriteAction, WriteContentRequest,
};
use tokio::io::AsyncReadExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;

use super::error::{grpc, io, ImagesError, Result};
use super::load::{Blob, BlobSource};
use crate::containerd::Containerd;

/// containerd's gRPC server accepts 16 MiB messages; 1 MiB chunks stay far below.
const CHUNK: usize = 1024 * 1024;
/// A lease outlives a crashed daemon by this much, then containerd drops it.
const LEASE_TTL: chrono::Duration = chrono::Duration::hours(1);
/// The gRPC header that puts a call's new resources in a lease.
const LEASE_HEADER: &str = "containerd-lease";

/// A containerd lease. Everything created with [`Lease::request`] belongs to it and survives
/// GC until the lease is released (or expires).
#[derive(Clone)]
pub struct Lease {
    cd: Containerd,
    id: String,
}

impl Lease {
    pub async fn create(cd: &Containerd, purpose: &str) -> Result<Self> {
        let id = format!("dockbridge-{purpose}-{}", random_suffix());
        let expire =
            (chrono::Utc::now() + LEASE_TTL).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let labels = HashMap::from([("containerd.io/gc.expire".to_string(), expire)]);
        cd.leases()
            .create(CreateRequest {
                id: id.clone(),
                labels,
            })
            .await
            .map_err(grpc(format!("creating lease {id}")))?;
        Ok(Self { cd: cd.clone(), id })
    }

    /// Wraps a message so that what the call creates joins this lease.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Ok(v) = MetadataValue::try_from(self.id.as_str()) {
            req.metadata_mut().insert(LEASE_HEADER, v);
        }
        req
    }

    /// Adds an existing resource (`content` or `snapshots/<snapshotter>`): something already
    /// stored but unreferenced could otherwise be collected before this ingest references it.
    pub async fn add(&self, kind: &str, id: &str) -> Result<()> {
        self.cd
            .leases()
            .add_resource(AddResourceRequest {
                id: self.id.clone(),
                resource: Some(Resource {
                    id: id.to_string(),
                    r#type: kind.to_string(),
                }),
            })
            .await
            .map_err(grpc(format!("adding {kind} {id} to lease {}", self.id)))?;
        Ok(())
    }

    /// Releases the lease; what nothing else references becomes collectable.
    pub async fn release(self) {
        if let Err(e) = self
            .cd
            .leases()
            .delete(DeleteRequest {
                id: self.id.clone(),
                sync: false,
            })
            .await
        {
            // It expires by itself; a failure here only delays collection.
            tracing::warn!(lease = %self.id, "releasing lease: {}", e.message());
        }
    }
}

pub fn random_suffix() -> String {
    hex::encode(rand::random::<[u8; 6]>())
}

/// The content store's record of a blob, or `None` when it is not stored.
pub async fn info(cd: &Containerd, digest: &str) -> Result<Option<Info>> {
    match cd
        .content()
        .info(InfoRequest {
            digest: digest.to_string(),
        })
        .await
    {
        Ok(r) => Ok(r.into_inner().info),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(grpc(format!("Content.Info {digest}"))(s)),
    }
}

/// Writes a blob under the lease unless it is already stored (then the lease takes it too).
pub async fn write_blob(cd: &Containerd, lease: &Lease, blob: &Blob) -> Result<()> {
    if info(cd, &blob.digest).await?.is_some() {
        return lease.add("content", &blob.digest).await;
    }
    match write_new(cd, lease, blob).await {
        // Another load wrote the same blob meanwhile.
        Err(ImagesError::Containerd { status, .. })
            if status.code() == tonic::Code::AlreadyExists =>
        {
            lease.add("content", &blob.digest).await
        }
        other => other,
    }
}

/// The write protocol, in lock step: one request, one response. The digest is checked by
/// containerd at commit (`expected`), so a blob changed on its way is refused.
async fn write_new(cd: &Containerd, lease: &Lease, blob: &Blob) -> Result<()> {
    let write_ref = format!(
        "dockbridge-{}-{}",
        blob.digest.replace(':', "-"),
        random_suffix()
    );
    let op = || format!("Content.Write {}", blob.digest);
    let total = i64::try_from(blob.size)
        .map_err(|_| ImagesError::InvalidArchive(format!("blob {} is too large", blob.digest)))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<WriteContentRequest>(2);
    let msg = |action: WriteAction, offset: i64, data: Vec<u8>| WriteContentRequest {
        action: action as i32,
        r#ref: write_ref.clone(),
        total,
        expected: blob.digest.clone(),
        offset,
        data,
        labels: HashMap::new(),
    };
    let mut chunks = ChunkSource::open(&blob.source).await?;
    // Read one chunk ahead so that each request knows whether it is the last (the commit).
    let mut current = chunks.next().await?.unwrap_or_default();
    let mut upcoming = chunks.next().await?;
    let mut offset = 0i64;
    let mut request = |data: Vec<u8>, last: bool| {
        let action = if last {
            WriteAction::Commit
        } else {
            WriteAction::Write
        };
        let len = data.len() as i64;
        let m = msg(action, offset, data);
        offset += len;
        m
    };
    // The first request goes out before the call: containerd sends its response headers
    // only once it has read one.
    let mut last = upcoming.is_none();
    let closed = || ImagesError::Internal(format!("{}: the write stream closed early", op()));
    tx.send(request(current, last))
        .await
        .map_err(|_| closed())?;
    let mut stream = cd
        .content()
        .write(lease.request(ReceiverStream::new(rx)))
        .await
        .map_err(grpc(op()))?
        .into_inner();
    loop {
        stream
            .message()
            .await
            .map_err(grpc(op()))?
            .ok_or_else(closed)?;
        if last {
            return Ok(());
        }
        current = upcoming.take().unwrap_or_default();
        upcoming = chunks.next().await?;
        last = upcoming.is_none();
        tx.send(request(current, last))
            .await
            .map_err(|_| closed())?;
    }
}

/// Reads a blob source in chunks of at most [`CHUNK`] bytes. An empty source yields one
/// empty chunk, so that the commit message is still sent.
struct ChunkSource {
    file: Option<tokio::fs::File>,
    bytes: Option<Vec<u8>>,
    path: String,
    started: bool,
}

impl ChunkSource {
    async fn open(source: &BlobSource) -> Result<Self> {
        Ok(match source {
            BlobSource::File(p) => Self {
                file: Some(
                    tokio::fs::File::open(p)
                        .await
                        .map_err(io(format!("opening spooled blob {}", p.display())))?,
                ),
                bytes: None,
                path: p.display().to_string(),
                started: false,
            },
            BlobSource::Bytes(b) => Self {
                file: None,
                bytes: Some(b.clone()),
                path: "<memory>".into(),
                started: false,
            },
        })
    }

    async fn next(&mut self) -> Result<Option<Vec<u8>>> {
        let chunk = if let Some(f) = &mut self.file {
            let mut buf = Vec::with_capacity(CHUNK);
            let mut limited = f.take(CHUNK as u64);
            limited
                .read_to_end(&mut buf)
                .await
                .map_err(io(format!("reading spooled blob {}", self.path)))?;
            buf
        } else if let Some(b) = &mut self.bytes {
            let n = b.len().min(CHUNK);
            b.drain(..n).collect()
        } else {
            Vec::new()
        };
        let first = !self.started;
        self.started = true;
        Ok((!chunk.is_empty() || first).then_some(chunk))
    }
}

/// Opens a read of a blob: `size` bytes from the start, 0 meaning all of it.
async fn open_read(
    cd: &Containerd,
    digest: &str,
    size: i64,
) -> Result<tonic::Streaming<containerd_client::services::v1::ReadContentResponse>> {
    Ok(cd
        .content()
        .read(ReadContentRequest {
            digest: digest.to_string(),
            offset: 0,
            size,
        })
        .await
        .map_err(grpc(format!("Content.Read {digest}")))?
        .into_inner())
}

/// Up to `size` bytes of a blob (0: all), collected in memory.
async fn read_bytes(cd: &Containerd, digest: &str, size: i64) -> Result<Vec<u8>> {
    let mut stream = open_read(cd, digest, size).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream
        .message()
        .await
        .map_err(grpc(format!("Content.Read {digest}")))?
    {
        out.extend_from_slice(&chunk.data);
    }
    Ok(out)
}

/// A whole blob (manifests and configs: small by nature).
pub async fn read_blob(cd: &Containerd, digest: &str) -> Result<Vec<u8>> {
    read_bytes(cd, digest, 0).await
}

/// A blob's bytes as a stream, read from the content store as the reader is polled (layers
/// can be large: nothing is buffered beyond one gRPC message).
pub async fn blob_reader(
    cd: &Containerd,
    digest: &str,
) -> Result<impl tokio::io::AsyncRead + Send + Unpin + 'static> {
    let stream = open_read(cd, digest, 0).await?;
    let what = digest.to_string();
    let bytes = futures::StreamExt::map(stream, move |m| {
        m.map(|m| bytes::Bytes::from(m.data))
            .map_err(|s| std::io::Error::other(format!("Content.Read {what}: {}", s.message())))
    });
    Ok(tokio_util::io::StreamReader::new(bytes))
}

/// The first `n` bytes of a blob (fewer if it is shorter): enough to sniff compression.
pub async fn read_prefix(cd: &Containerd, digest: &str, n: i64) -> Result<Vec<u8>> {
    let mut out = read_bytes(cd, digest, n).await?;
    out.truncate(usize::try_from(n).unwrap_or(0));
    Ok(out)
}

/// Sets (or with `None` removes) labels of a stored blob, leaving its other labels alone.
pub async fn update_labels(
    cd: &Containerd,
    digest: &str,
    labels: &BTreeMap<String, Option<String>>,
) -> Result<()> {
    if labels.is_empty() {
        return Ok(());
    }
    let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
    let set = labels
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
        .collect();
    cd.content()
        .update(UpdateRequest {
            info: Some(Info {
                digest: digest.to_string(),
                labels: set,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths }),
        })
        .await
        .map_err(grpc(format!("Content.Update labels of {digest}")))?;
    Ok(())
}

/// A blob written to the content store as it arrives (a registry download): bytes are
/// gathered into [`CHUNK`]-sized messages, each acknowledged before the next (the same
/// lock step as [`write_blob`]), and containerd checks the digest at [`commit`]. Nothing
/// is visible in the store before the commit; [`abort`] drops a partial ingest.
///
/// [`commit`]: BlobWriter::commit
/// [`abort`]: BlobWriter::abort
pub struct BlobWriter {
    cd: Containerd,
    tx: tokio::sync::mpsc::Sender<WriteContentRequest>,
    stream: tonic::Streaming<containerd_client::services::v1::WriteContentResponse>,
    write_ref: String,
    digest: String,
    total: i64,
    offset: i64,
    buf: Vec<u8>,
}

impl BlobWriter {
    /// Opens an ingest for `digest` of `total` bytes (0: unknown) under the lease.
    pub async fn open(cd: &Containerd, lease: &Lease, digest: &str, total: i64) -> Result<Self> {
        let write_ref = format!(
            "dockbridge-pull-{}-{}",
            digest.replace(':', "-"),
            random_suffix()
        );
        let (tx, rx) = tokio::sync::mpsc::channel::<WriteContentRequest>(2);
        // The first request goes out before the call: containerd sends its response
        // headers only once it has read one. A `Stat` opens the ingest.
        let first = WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: write_ref.clone(),
            total,
            expected: digest.to_string(),
            offset: 0,
            data: Vec::new(),
            labels: HashMap::new(),
        };
        let op = || format!("Content.Write {digest}");
        tx.send(first).await.map_err(|_| {
            ImagesError::Internal(format!("{}: the write stream closed early", op()))
        })?;
        let mut stream = cd
            .content()
            .write(lease.request(ReceiverStream::new(rx)))
            .await
            .map_err(grpc(op()))?
            .into_inner();
        stream.message().await.map_err(grpc(op()))?.ok_or_else(|| {
            ImagesError::Internal(format!("{}: the write stream closed early", op()))
        })?;
        Ok(Self {
            cd: cd.clone(),
            tx,
            stream,
            write_ref,
            digest: digest.to_string(),
            total,
            offset: 0,
            buf: Vec::with_capacity(CHUNK),
        })
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.send(WriteAction::Write, data).await?;
        }
        Ok(())
    }

    async fn send(&mut self, action: WriteAction, data: Vec<u8>) -> Result<()> {
        let op = || format!("Content.Write {}", self.digest);
        let len = data.len() as i64;
        let msg = WriteContentRequest {
            action: action as i32,
            r#ref: self.write_ref.clone(),
            total: self.total,
            expected: self.digest.clone(),
            offset: self.offset,
            data,
            labels: HashMap::new(),
        };
        self.tx.send(msg).await.map_err(|_| {
            ImagesError::Internal(format!("{}: the write stream closed early", op()))
        })?;
        self.stream
            .message()
            .await
            .map_err(grpc(op()))?
            .ok_or_else(|| {
                ImagesError::Internal(format!("{}: the write stream closed early", op()))
            })?;
        self.offset += len;
        Ok(())
    }

    /// Sends what is buffered and commits: containerd checks size and digest. A blob that
    /// another pull committed meanwhile is fine.
    pub async fn commit(mut self) -> Result<()> {
        let data = std::mem::take(&mut self.buf);
        match self.send(WriteAction::Commit, data).await {
            Err(ImagesError::Containerd { status, .. })
                if status.code() == tonic::Code::AlreadyExists =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Drops the partial ingest (best effort: a lease-bound ingest is collected anyway).
    pub async fn abort(self) {
        let Self {
            cd,
            tx,
            stream,
            write_ref,
            ..
        } = self;
        drop(tx);
        drop(stream);
        if let Err(s) = cd
            .content()
            .abort(containerd_client::services::v1::AbortRequest {
                r#ref: write_ref.clone(),
            })
            .await
        {
            if s.code() != tonic::Code::NotFound {
                tracing::debug!(write_ref = %write_ref, "aborting ingest: {}", s.message());
            }
        }
    }
}
