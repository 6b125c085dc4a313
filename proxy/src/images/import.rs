//! `docker import` (`POST /images/create?fromSrc=-`): a root filesystem tar (plain or gzip)
//! becomes a one-layer image, as dockerd 20.10's `ImageService.ImportImage` makes it.
//!
//! The body is spooled and hashed like an archive being loaded, then goes through the
//! loader's own ingestion (content store, snapshots, names): the new image is exactly a
//! one-image archive whose config dockbridge wrote. The config is encoded as dockerd
//! encodes it (Go's `encoding/json` of `image.Image`), so the same tar, changes and time
//! give the image ID dockerd would.

use chrono::{DateTime, Utc};
use serde_json::Value;
use spec::image::{ContainerConfig, ImageConfigFile};
use spec::reference::{self, Reference};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use translate::windows::ContainerOs;

use super::error::{io, ImagesError, Result};
use super::gojson::{self, Object};
use super::ingest::Lease;
use super::load::{
    self, ArchiveImage, Blob, BlobSource, Layer, MEDIA_DOCKER_CONFIG, MEDIA_DOCKER_LAYER,
    MEDIA_DOCKER_LAYER_GZIP,
};
use super::ImageStore;

/// What `docker import` asked for, checked before the body is read.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The name to give the image (`repo` and `tag`), if any.
    pub name: Option<Reference>,
    /// The image's container config, `--change` instructions applied.
    pub config: ContainerConfig,
    /// The history comment (`message`, by default `Imported from <src>`).
    pub message: String,
}

impl ImportOptions {
    /// From the query of `POST /images/create`: `repo`, `tag`, `message`, `changes`,
    /// `platform` (only this host's OS can be imported) and `fromSrc`.
    pub fn new(
        src: &str,
        repo: &str,
        tag: &str,
        message: &str,
        changes: &[String],
        platform: &str,
    ) -> Result<Self> {
        if !platform.is_empty() {
            let os = platform.split('/').next().unwrap_or_default();
            if os.is_empty() || platform.split('/').any(str::is_empty) {
                return Err(ImagesError::InvalidArgument(format!(
                    "{platform:?}: invalid platform: expected os[/arch[/variant]]"
                )));
            }
            if !os.eq_ignore_ascii_case(load::host_platform().0) {
                return Err(ImagesError::InvalidArgument(format!("unsupported os {os}")));
            }
        }
        let name = if repo.is_empty() {
            None
        } else {
            let mut r = reference::parse_normalized_named(repo)?;
            if r.digest().is_some() {
                return Err(ImagesError::InvalidArgument(
                    "cannot import digest reference".into(),
                ));
            }
            if !tag.is_empty() {
                r = r.with_tag(tag)?;
            }
            Some(r.with_default_tag())
        };
        let mut config = ContainerConfig::default();
        translate::changes::apply_changes(&mut config, changes, ContainerOs::Linux)
            .map_err(|e| ImagesError::InvalidArgument(e.to_string()))?;
        let message = if message.is_empty() {
            format!("Imported from {src}")
        } else {
            message.to_string()
        };
        Ok(Self {
            name,
            config,
            message,
        })
    }
}

/// The config dockerd writes for an import: `image.Image` with a zero `container_config`,
/// the changed `config`, this host's platform, one diff ID and one history entry, its
/// top-level keys sorted.
pub fn config_bytes(
    opts: &ImportOptions,
    diff_id: &str,
    created: &DateTime<Utc>,
    docker_version: &str,
) -> Result<Vec<u8>> {
    let (os, arch) = load::host_platform();
    let created = gojson::format_go_time(created);
    let config = serde_json::to_value(&opts.config).map_err(|source| ImagesError::Corrupt {
        what: "encoding the imported image's config".into(),
        source,
    })?;
    let mut rootfs = Object::new();
    rootfs.string("type", "layers").value(
        "diff_ids",
        &Value::Array(vec![Value::String(diff_id.into())]),
    );
    let mut history = Object::new();
    history
        .string("created", &created)
        .string_omitempty("comment", &opts.message);
    let mut o = Object::new();
    o.string_omitempty("comment", &opts.message)
        .string("created", &created)
        .raw("container_config", &gojson::container_config(None))
        .string_omitempty("docker_version", docker_version)
        .raw("config", &gojson::container_config(Some(&config)))
        .string("architecture", arch)
        .string("os", os)
        .raw("rootfs", &rootfs.finish())
        .raw("history", &format!("[{}]", history.finish()));
    // `image.Image.MarshalJSON` sorts the top-level keys (moby does it so that configs
    // survive legacy registries unchanged).
    Ok(o.finish_sorted().into_bytes())
}

impl ImageStore {
    /// `docker import`: stores `tar` (a root filesystem, plain or gzip) as a new image and
    /// names it. Returns the image ID.
    pub async fn import<R>(&self, tar: R, opts: ImportOptions) -> Result<String>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let mut bridge = tokio_util::io::SyncIoBridge::new(tar);
        let dir = self.spool_dir.clone();
        let (spool, file, digests) = tokio::task::spawn_blocking(move || {
            let tmp = tempfile::Builder::new()
                .prefix("import-")
                .tempdir_in(&dir)
                .map_err(io(format!(
                    "creating a spool directory in {}",
                    dir.display()
                )))?;
            let path = tmp.path().join("layer");
            let file = load::copy_hashed(&mut bridge, &path).map_err(io(format!(
                "spooling the imported archive to {}",
                path.display()
            )))?;
            if file.size == 0 {
                return Err(ImagesError::InvalidArchive(
                    "the imported archive is empty".into(),
                ));
            }
            if file.zstd {
                return Err(ImagesError::InvalidArchive(
                    "zstd-compressed archives cannot be imported by dockbridge yet".into(),
                ));
            }
            let digests = load::inspect_layer(&file, "the imported archive")?;
            Ok::<_, ImagesError>((tmp, file, digests))
        })
        .await
        .map_err(|e| ImagesError::Internal(format!("reading the imported archive: {e}")))??;
        let config = config_bytes(&opts, &digests.diff_id, &Utc::now(), crate::ENGINE_VERSION)?;
        let config_file = ImageConfigFile::from_slice(&config)
            .map_err(|e| ImagesError::Internal(format!("the imported image's config: {e}")))?;
        let layer = Layer {
            blob: Blob {
                media_type: if file.gzip {
                    MEDIA_DOCKER_LAYER_GZIP
                } else {
                    MEDIA_DOCKER_LAYER
                }
                .to_string(),
                digest: file.digest.clone(),
                size: file.size,
                source: BlobSource::File(file.path.clone()),
            },
            diff_id: digests.diff_id.clone(),
            unpacked_size: digests.unpacked_size,
            tar_size: digests.tar_size,
        };
        let config = Blob {
            media_type: MEDIA_DOCKER_CONFIG.to_string(),
            digest: load::sha256_digest(&config),
            size: config.len() as u64,
            source: BlobSource::Bytes(config),
        };
        let manifest = load::synthesize_manifest(&config, std::slice::from_ref(&layer))?;
        let img = ArchiveImage {
            names: opts.name.into_iter().collect(),
            manifest,
            config,
            config_file,
            layers: vec![layer],
        };
        // The loader reports renamed tags on this channel; an import has no use for them
        // (dockerd says nothing either), so nobody listens.
        let (progress, _) = mpsc::channel(1);
        let lease = Lease::create(self.cd()?, "import").await?;
        let result = self
            .store_images(Some(&lease), std::slice::from_ref(&img), &progress)
            .await;
        lease.release().await;
        // The spooled layer goes only now: the content store was written from it.
        drop(spool);
        result.map(|_| img.id().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(changes: &[&str], message: &str) -> Result<ImportOptions> {
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        ImportOptions::new("-", "my/repo", "v1", message, &changes, "")
    }

    #[test]
    fn options_are_checked() {
        let o = opts(&["CMD [\"/bin/busybox\",\"echo\",\"hi\"]"], "").unwrap();
        assert_eq!(o.name.unwrap().to_string(), "docker.io/my/repo:v1");
        assert_eq!(o.message, "Imported from -");
        assert_eq!(o.config.cmd.unwrap(), ["/bin/busybox", "echo", "hi"]);
        let err = opts(&["RUN true"], "").unwrap_err();
        assert_eq!(err.kind(), crate::error_kind::ErrorKind::InvalidParameter);
        let err = ImportOptions::new(
            "-",
            "a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "",
            "",
            &[],
            "",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "cannot import digest reference");
        let err = ImportOptions::new("-", "Bad", "", "", &[], "").unwrap_err();
        assert_eq!(err.kind(), crate::error_kind::ErrorKind::InvalidParameter);
        let err = ImportOptions::new("-", "a", "", "", &[], "windows/amd64").unwrap_err();
        assert_eq!(err.to_string(), "unsupported os windows");
        assert!(ImportOptions::new("-", "", "", "", &[], "linux/amd64").is_ok());
        assert!(ImportOptions::new("-", "", "", "", &[], "linux//").is_err());
    }

    #[test]
    fn config_as_dockerd_writes_it() {
        let o = opts(&["ENV A=1"], "hello").unwrap();
        let t = DateTime::parse_from_rfc3339("2024-01-02T03:04:05.25Z")
            .unwrap()
            .with_timezone(&Utc);
        let bytes = config_bytes(&o, "sha256:ab", &t, "20.10.24").unwrap();
        let s = String::from_utf8(bytes).unwrap();
        let (_, arch) = load::host_platform();
        assert!(
            s.starts_with(&format!(
                r#"{{"architecture":"{arch}","comment":"hello","config":{{"Hostname":"","#
            )),
            "{s}"
        );
        assert!(s.contains(r#""Env":["A=1"],"Cmd":null"#), "{s}");
        assert!(
            s.contains(r#""Labels":null},"container_config":{"Hostname":"""#),
            "{s}"
        );
        assert!(
            s.ends_with(r#""Labels":null},"created":"2024-01-02T03:04:05.25Z","docker_version":"20.10.24","history":[{"created":"2024-01-02T03:04:05.25Z","comment":"hello"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:ab"]}}"#),
            "{s}"
        );
        let parsed = ImageConfigFile::from_slice(s.as_bytes()).unwrap();
        assert_eq!(parsed.diff_ids(), ["sha256:ab"]);
    }
}
