//! `docker commit`: the container's changes (its overlay upper dir, as a layer tar) on top
//! of its image, with the config moby's commit writes.

use std::collections::HashMap;
use std::sync::Arc;

use spec::image::ImageConfigFile;

use super::archive::layer_dirs;
use super::record::Status;
use super::{ContainerError, Manager, Result};
use crate::error_kind::Kinded;

/// `POST /commit` parameters besides the container.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    /// Pause a running container while its layer is read (dockerd's default).
    pub pause: bool,
    /// The request body: `Config` fields that override the container's.
    pub config: spec::image::ContainerConfig,
    /// `--change` Dockerfile instructions, applied to `config` before the merge (moby's
    /// `BuildFromConfig`).
    pub changes: Vec<String>,
}

/// What a commit made.
#[derive(Debug, Clone)]
pub struct Committed {
    pub id: String,
    /// The familiar name it was tagged with, if any.
    pub name: Option<String>,
}

impl Manager {
    /// The container's changes (its snapshot's upper dir) as an uncompressed layer tar in
    /// a temporary file; whiteouts for deletions. Used by commit and by the builder.
    pub(crate) async fn changes_layer(
        &self,
        rec: &super::Record,
    ) -> Result<tempfile::NamedTempFile> {
        self.host_fs_backend(rec)?;
        let (upper, _) = layer_dirs(&self.snapshot_mount(rec).await?)?;
        std::fs::create_dir_all(&self.mount_root).map_err(|e| {
            ContainerError::io(format!("creating {}", self.mount_root.display()), e)
        })?;
        let layer = tempfile::NamedTempFile::new_in(&self.mount_root)
            .map_err(|e| ContainerError::io("creating the commit layer file", e))?;
        let file = layer
            .reopen()
            .map_err(|e| ContainerError::io("opening the commit layer file", e))?;
        tokio::task::spawn_blocking(move || {
            #[cfg_attr(not(unix), allow(unused_mut))]
            let mut b = tar::Builder::new(std::io::BufWriter::new(file));
            #[cfg(unix)]
            crate::archive::changes::write_layer(&mut b, &upper)?;
            #[cfg(not(unix))]
            let _ = upper;
            b.into_inner()
                .and_then(|mut w| std::io::Write::flush(&mut w))
                .map_err(|e| crate::archive::ArchiveError::io("writing the commit layer", e))
        })
        .await
        .map_err(|e| ContainerError::Internal(format!("commit layer task: {e}")))?
        .map_err(|e| ContainerError::Internal(e.to_string()))?;
        Ok(layer)
    }

    pub async fn commit(self: &Arc<Self>, key: &str, opts: CommitOptions) -> Result<Committed> {
        let c = self.get(key)?;
        let rec = c.record();
        // A bad name is refused before anything is written, as dockerd does.
        if !opts.repo.is_empty() {
            let bad = |e: spec::reference::ReferenceError| {
                ContainerError::InvalidParameter(e.to_string())
            };
            let r = spec::reference::parse_normalized_named(&opts.repo).map_err(bad)?;
            if !opts.tag.is_empty() {
                r.with_tag(&opts.tag).map_err(bad)?;
            }
        } else if !opts.tag.is_empty() {
            return Err(ContainerError::InvalidParameter(
                "invalid reference format: a tag needs a repository".into(),
            ));
        }
        // Bad instructions are refused before anything is written.
        let mut user_config = opts.config.clone();
        translate::changes::apply_changes(
            &mut user_config,
            &opts.changes,
            translate::windows::ContainerOs::Linux,
        )?;
        let parent = self.images.resolve(&rec.image_id).await?;
        // A running container keeps writing: freeze it while its changes are read.
        // Only a running container is paused (dockerd ignores `pause` otherwise); one that
        // exits meanwhile is read as it is.
        let paused = if opts.pause && rec.state.status == Status::Running {
            match self.pause(key).await {
                Ok(()) => true,
                Err(e) if e.kind() == crate::error_kind::ErrorKind::Conflict => false,
                Err(e) => return Err(e),
            }
        } else {
            false
        };
        let written = self.changes_layer(&rec).await;
        if paused {
            if let Err(e) = self.unpause(key).await {
                tracing::warn!(container = %c.id, "unpausing after commit: {e}");
            }
        }
        let layer = written?;

        // The record's API model and the image's config share Docker's field names.
        let container_cfg: spec::image::ContainerConfig = serde_json::to_value(&rec.config)
            .and_then(serde_json::from_value)
            .map_err(|e| {
                ContainerError::Internal(format!("converting the container config: {e}"))
            })?;
        let mut config: ImageConfigFile = parent.config.as_ref().clone();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let cmd = container_cfg.cmd.clone().unwrap_or_default().join(" ");
        config.config = Some(translate::commit::merge_commit_config(
            user_config,
            &container_cfg,
        ));
        config.created = Some(now.clone());
        config.author = (!opts.author.is_empty()).then(|| opts.author.clone());
        let extra = &mut config.extra;
        extra.insert("parent".into(), parent.id.clone().into());
        extra.insert("container".into(), c.id.clone().into());
        extra.insert(
            "container_config".into(),
            serde_json::to_value(&rec.config).unwrap_or_default(),
        );
        extra.insert("docker_version".into(), crate::ENGINE_VERSION.into());
        if opts.comment.is_empty() {
            extra.remove("comment");
        } else {
            extra.insert("comment".into(), opts.comment.clone().into());
        }
        let mut entry = serde_json::json!({ "created": now, "created_by": cmd });
        if !opts.author.is_empty() {
            entry["author"] = opts.author.clone().into();
        }
        if !opts.comment.is_empty() {
            entry["comment"] = opts.comment.clone().into();
        }
        config.history.get_or_insert_with(Vec::new).push(entry);

        let id = self
            .images
            .create_from_layer(Some(&parent), layer.path(), config)
            .await?;
        let name = if opts.repo.is_empty() {
            None
        } else {
            Some(self.images.tag(&id, &opts.repo, &opts.tag).await?)
        };
        let mut attrs = HashMap::from([
            ("comment".to_string(), opts.comment.clone()),
            ("imageID".to_string(), id.clone()),
        ]);
        if let Some(n) = &name {
            attrs.insert("imageRef".into(), n.clone());
        }
        self.emit(&c, "commit", attrs);
        Ok(Committed { id, name })
    }
}
