//! `docker push`: the stored manifest, config and layer blobs go to the registry as they
//! are in the content store (the containerd image store's way), so the digest the
//! registry reports is the record's own manifest digest and `RepoDigests` shows exactly
//! what was pushed. Blobs the repository has (HEAD) are not sent again; another
//! repository's copy on the same registry is mounted when the registry allows it;
//! foreign layers are never pushed, as dockerd skips them.

use std::collections::HashMap;

use containerd_client::types::Descriptor;
use futures::StreamExt;
use spec::reference::{self, Reference};

use super::error::{ImagesError, Result};
use super::ingest;
use super::pull::Progress;
use super::{ImageRecord, ImageStore};
use crate::registry::manifest::{self, Document};
use crate::registry::progress::{short_id, Message};
use crate::registry::{AuthConfig, Registries, RegistryError, Session};

/// Progress updates while pushing a layer, at most this often.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl ImageStore {
    /// `POST /images/{name}/push?tag=`: one tag, or every tag of the repository when
    /// `tag` is empty and the name has none. Errors before any progress are the
    /// caller's to answer as plain HTTP errors.
    pub async fn push(
        &self,
        registries: &Registries,
        name: &str,
        tag: &str,
        auth: &AuthConfig,
        progress: &Progress,
    ) -> Result<Vec<String>> {
        self.cd()?;
        let mut r = reference::parse_normalized_named(name)?;
        if !tag.is_empty() {
            r = r.with_tag(tag)?;
        }
        // dockerd says this first, before it looks anything up.
        let _ = progress
            .send(Message::status(format!(
                "The push refers to repository [{}]",
                r.familiar_name()
            )))
            .await;
        let repo = r.name();
        let mut to_push: Vec<(Reference, ImageRecord)> = Vec::new();
        for rec in self.list().await? {
            for n in &rec.tag_names {
                let Ok(t) = reference::parse_normalized_named(n) else {
                    continue;
                };
                if t.name() == repo && (r.tag().is_none() || t.tag() == r.tag()) {
                    to_push.push((t, rec.clone()));
                }
            }
        }
        if to_push.is_empty() {
            return Err(ImagesError::Remote {
                kind: crate::error_kind::ErrorKind::Internal,
                message: format!(
                    "An image does not exist locally with the tag: {}",
                    r.familiar_name()
                ),
            });
        }
        to_push.sort_by(|a, b| a.0.cmp(&b.0));
        let session = registries
            .session(r.domain(), r.path(), auth, &["pull", "push"])
            .await
            .map_err(push_error)?;
        let mut digests = Vec::new();
        for (t, rec) in &to_push {
            let digest = self.push_one(&session, t, rec, progress).await?;
            digests.push(digest);
        }
        Ok(digests)
    }

    async fn push_one(
        &self,
        session: &Session,
        t: &Reference,
        rec: &ImageRecord,
        progress: &Progress,
    ) -> Result<String> {
        let cd = self.cd()?;
        let bytes = ingest::read_blob(cd, &rec.target.digest).await?;
        let media_type = manifest::media_type_of(&rec.target.media_type, &bytes);
        let m = match manifest::parse(&media_type, &bytes).map_err(push_error)? {
            Document::Manifest(m) => m,
            Document::Index(_) => {
                return Err(ImagesError::Remote {
                    kind: crate::error_kind::ErrorKind::Internal,
                    message: format!(
                        "{}: pushing a multi-platform index is not supported",
                        t.familiar_string()
                    ),
                })
            }
        };
        // The IDs dockerd shows for a push are the layers' diff IDs.
        let ids: Vec<String> = rec.diff_ids.iter().map(|d| short_id(d)).collect();
        let ids: Vec<String> = m
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| ids.get(i).cloned().unwrap_or_else(|| short_id(&l.digest)))
            .collect();
        for (l, id) in m.layers.iter().zip(&ids).rev() {
            if !l.is_foreign() {
                let _ = progress.send(Message::step(id, "Preparing")).await;
            }
        }
        for (l, id) in m.layers.iter().zip(&ids) {
            if l.is_foreign() {
                continue;
            }
            if session.blob_exists(&l.digest).await.map_err(push_error)? {
                let _ = progress
                    .send(Message::step(id, "Layer already exists"))
                    .await;
                continue;
            }
            if let Some(from) = self.mount_source(session, t, &l.digest).await {
                if session
                    .mount_blob(&l.digest, &from)
                    .await
                    .map_err(push_error)?
                {
                    let _ = progress
                        .send(Message::step(id, format!("Mounted from {from}")))
                        .await;
                    continue;
                }
            }
            self.upload(session, l, id, progress).await?;
            let _ = progress.send(Message::step(id, "Pushed")).await;
        }
        if !session
            .blob_exists(&m.config.digest)
            .await
            .map_err(push_error)?
        {
            let config = ingest::read_blob(cd, &m.config.digest).await?;
            let n = config.len() as u64;
            session
                .upload_blob(&m.config.digest, n, reqwest::Body::from(config))
                .await
                .map_err(push_error)?;
        }
        let tag = t.tag().unwrap_or(reference::DEFAULT_TAG);
        let size = bytes.len();
        let digest = session
            .put_manifest(tag, &media_type, bytes.into())
            .await
            .map_err(push_error)?;
        let _ = progress
            .send(Message::status(format!(
                "{tag}: digest: {digest} size: {size}"
            )))
            .await;
        let _ = progress
            .send(Message::Aux(crate::registry::progress::PushResult {
                tag: tag.to_string(),
                digest: digest.clone(),
                size: size as u64,
            }))
            .await;
        // The pushed digest is a RepoDigest of the image from now on.
        let by_digest = reference::parse_normalized_named(&format!("{}@{digest}", t.name()))?;
        let target = Descriptor {
            media_type,
            digest: rec.target.digest.clone(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            annotations: HashMap::new(),
        };
        let _names = self.names.lock().await;
        self.set_name(&by_digest, &target, None).await?;
        Ok(digest)
    }

    /// Another repository of the same registry this blob was pulled from or pushed to
    /// (one of the image's digest names), to mount from instead of uploading.
    async fn mount_source(&self, session: &Session, t: &Reference, digest: &str) -> Option<String> {
        let records = self.list().await.ok()?;
        records
            .iter()
            .filter(|rec| rec.layers.iter().any(|l| l.digest == digest))
            .flat_map(|rec| rec.digest_names.iter())
            .filter_map(|n| reference::parse_normalized_named(n).ok())
            .find(|n| n.domain() == t.domain() && n.path() != session.repo())
            .map(|n| n.path().to_string())
    }

    /// A layer from the content store to the registry, streamed, with progress.
    async fn upload(
        &self,
        session: &Session,
        l: &manifest::Descriptor,
        id: &str,
        progress: &Progress,
    ) -> Result<()> {
        let size = u64::try_from(l.size).unwrap_or(0);
        let reader = ingest::blob_reader(self.cd()?, &l.digest).await?;
        let stream = tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024);
        let progress = progress.clone();
        let id = id.to_string();
        let mut sent = 0u64;
        let mut last: Option<std::time::Instant> = None;
        let counted = stream.then(move |chunk| {
            let progress = progress.clone();
            let id = id.clone();
            if let Ok(c) = &chunk {
                sent += c.len() as u64;
            }
            let now = std::time::Instant::now();
            let report =
                last.is_none_or(|t| now.duration_since(t) >= PROGRESS_EVERY) || sent == size;
            if report {
                last = Some(now);
            }
            let current = sent;
            async move {
                if report {
                    let _ = progress
                        .send(Message::counts(&id, "Pushing", current, size))
                        .await;
                }
                chunk
            }
        });
        session
            .upload_blob(&l.digest, size, reqwest::Body::wrap_stream(counted))
            .await
            .map_err(push_error)
    }
}

fn push_error(e: impl Into<RegistryError>) -> ImagesError {
    ImagesError::Remote {
        kind: crate::error_kind::ErrorKind::Internal,
        message: e.into().to_string(),
    }
}
