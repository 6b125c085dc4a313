//! The seams between the container manager and the subsystems around it.
//!
//! The manager's core (lifecycle, index, stdio) knows none of these concretely:
//! - [`ImageProvider`]: images and their rootfs snapshots (the image store; a registry pull
//!   lands behind it);
//! - [`NetworkProvider`]: what a container's network is for one run (today the modes
//!   `none`, `host` and the private loopback-only namespace; bridge networks plug in here);
//! - [`MountProvider`]: the sources of a container's mounts (today bind mounts; named and
//!   anonymous volumes plug in here);
//! - [`SpecBuilder`]: turns a record into the runtime spec from the three above (the
//!   builder's `RUN` steps reuse it).
//!
//! Each has the real implementation the daemon wires in `lib.rs` and can be replaced by a
//! fake in unit tests, so the state machine is tested without containerd.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use containerd_client::types::Mount;
use spec::api::models::ContainerCreateBody;
use spec::image::ImageConfigFile;

use super::record::{Platform, Record};
use super::{ContainerError, Result};
use crate::images::{ImageRecord, ImageStore, ImagesError};

/// Images and container rootfs snapshots.
#[async_trait]
pub trait ImageProvider: Send + Sync + 'static {
    async fn resolve(&self, name_or_id: &str) -> Result<ImageRecord, ImagesError>;
    fn snapshotter(&self) -> &str;
    /// Prepares the writable rootfs snapshot `key` on top of the image.
    async fn prepare_rootfs(&self, image_id: &str, key: &str) -> Result<(), ImagesError>;
    async fn rootfs_mounts(&self, key: &str) -> Result<Vec<Mount>, ImagesError>;
    /// Removes a rootfs snapshot; a missing one is fine.
    async fn remove_rootfs(&self, key: &str) -> Result<(), ImagesError>;
    /// Stores a committed layer as a new image; returns its ID.
    async fn create_from_layer(
        &self,
        parent: Option<&ImageRecord>,
        layer_tar: &Path,
        config: ImageConfigFile,
    ) -> Result<String, ImagesError>;
    async fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<String, ImagesError>;
}

#[async_trait]
impl ImageProvider for ImageStore {
    async fn resolve(&self, name_or_id: &str) -> Result<ImageRecord, ImagesError> {
        ImageStore::resolve(self, name_or_id).await
    }
    fn snapshotter(&self) -> &str {
        ImageStore::snapshotter(self)
    }
    async fn prepare_rootfs(&self, image_id: &str, key: &str) -> Result<(), ImagesError> {
        ImageStore::prepare_rootfs(self, image_id, key)
            .await
            .map(|_| ())
    }
    async fn rootfs_mounts(&self, key: &str) -> Result<Vec<Mount>, ImagesError> {
        ImageStore::rootfs_mounts(self, key).await
    }
    async fn remove_rootfs(&self, key: &str) -> Result<(), ImagesError> {
        ImageStore::remove_rootfs(self, key).await
    }
    async fn create_from_layer(
        &self,
        parent: Option<&ImageRecord>,
        layer_tar: &Path,
        config: ImageConfigFile,
    ) -> Result<String, ImagesError> {
        ImageStore::create_from_layer(self, parent, layer_tar, config).await
    }
    async fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<String, ImagesError> {
        ImageStore::tag(self, source, repo, tag).await
    }
}

/// What a container's network is for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAttachment {
    /// A prepared network namespace to join; `None`: the spec says (a new private one, the
    /// host's, or none).
    pub netns_path: Option<String>,
    /// The container's own address on its network (`/etc/hosts` maps the hostname to it).
    pub address: Option<std::net::IpAddr>,
    /// What `--add-host NAME:host-gateway` means (the default bridge's gateway), if any.
    pub host_gateway: Option<std::net::IpAddr>,
}

/// Sets up and tears down a container's network around each run.
#[async_trait]
pub trait NetworkProvider: Send + Sync + 'static {
    /// At create: refuses what this provider cannot give the container (a 400 then, not a
    /// failed start) and adds its warnings.
    fn validate_create(
        &self,
        _body: &ContainerCreateBody,
        _warnings: &mut Vec<String>,
    ) -> Result<()> {
        Ok(())
    }
    /// Before the task is created. Whatever this sets up is released by [`Self::release`].
    async fn attach(&self, rec: &Record) -> Result<NetworkAttachment>;
    /// After the run ended or a start failed; idempotent.
    async fn release(&self, rec: &Record) -> Result<()>;
    /// When the container is removed.
    async fn remove(&self, rec: &Record) -> Result<()> {
        self.release(rec).await
    }
}

/// The network modes that need nothing set up outside the runtime: `none`, `host` and the
/// default private namespace with loopback only (the runtime creates it from the spec).
/// The daemon uses [`crate::networks::bridge::BridgeNetworks`]; this is the fake-free
/// provider for tests and builds without a bridge.
pub struct RuntimeNetworks;

#[async_trait]
impl NetworkProvider for RuntimeNetworks {
    async fn attach(&self, _rec: &Record) -> Result<NetworkAttachment> {
        Ok(NetworkAttachment::default())
    }
    async fn release(&self, _rec: &Record) -> Result<()> {
        Ok(())
    }
}

/// Makes mount sources exist before a run, and cleans up after a container.
#[async_trait]
pub trait MountProvider: Send + Sync + 'static {
    /// Before the task is created (on a blocking thread where it touches the filesystem).
    async fn prepare(&self, rec: &Record, body: &ContainerCreateBody) -> Result<()>;
    /// When the container is removed; `volumes` is `docker rm -v`.
    async fn remove(&self, rec: &Record, volumes: bool) -> Result<()>;
}

/// Bind mounts: `-v` sources are created when missing, as dockerd does; `--mount` sources
/// must exist.
pub struct BindMounts;

#[async_trait]
impl MountProvider for BindMounts {
    async fn prepare(&self, _rec: &Record, body: &ContainerCreateBody) -> Result<()> {
        let binds = translate::linux::bind_sources(body)?;
        blocking(move || {
            for b in binds {
                let p = Path::new(&b.path);
                if p.exists() {
                    continue;
                }
                if !b.create_if_missing {
                    return Err(ContainerError::InvalidParameter(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        b.path
                    )));
                }
                std::fs::create_dir_all(p).map_err(|e| {
                    ContainerError::io(format!("creating bind source {}", b.path), e)
                })?;
            }
            Ok(())
        })
        .await
    }
    async fn remove(&self, _rec: &Record, _volumes: bool) -> Result<()> {
        Ok(())
    }
}

/// Everything a spec is built from, gathered once per start.
pub struct SpecRequest<'a> {
    pub rec: &'a Record,
    /// The image, resolved once for this start.
    pub image: &'a ImageRecord,
    pub body: &'a ContainerCreateBody,
    pub network: &'a NetworkAttachment,
}

/// Turns a container record into the runtime spec for one start.
#[async_trait]
pub trait SpecBuilder: Send + Sync + 'static {
    async fn build(&self, req: SpecRequest<'_>) -> Result<oci_spec::runtime::Spec>;
    /// The Windows layer folders and context, for create-time validation.
    fn windows_context(&self, id: &str, image: &ImageRecord) -> translate::windows::WindowsContext;
}

/// The real builder: host files written under the container's directory, the image's
/// `/etc/passwd` read from its mounted rootfs, host facts from [`crate::host::HostInfo`].
pub struct RuntimeSpecs {
    pub images: Arc<dyn ImageProvider>,
    pub host: Arc<crate::host::HostInfo>,
    /// `<data-root>/containers`: each container's `hosts`, `hostname`, `resolv.conf`.
    pub containers_dir: PathBuf,
    /// Where rootfs snapshots are mounted briefly to read from them.
    pub mount_root: PathBuf,
    /// dockerd keeps Windows layers under `<data-root>/windowsfilter`.
    pub windows_layers: PathBuf,
}

#[async_trait]
impl SpecBuilder for RuntimeSpecs {
    async fn build(&self, req: SpecRequest<'_>) -> Result<oci_spec::runtime::Spec> {
        match req.rec.platform {
            Platform::Windows => {
                let mut ctx = self.windows_context(&req.rec.id, req.image);
                ctx.first_start = req.rec.state.started_at.is_none();
                Ok(translate::windows::windows_spec(
                    req.body,
                    &req.image.config,
                    &ctx,
                )?)
            }
            Platform::Linux => self.linux(req).await,
        }
    }

    /// Where a Windows container's layers are, in the runtime spec's order: the image's
    /// layers topmost first, then the container's scratch layer. Off Windows (the HCS
    /// simulator) the paths are only names.
    fn windows_context(&self, id: &str, image: &ImageRecord) -> translate::windows::WindowsContext {
        let root = &self.windows_layers;
        let mut ctx = translate::windows::WindowsContext::for_audit(
            id,
            u32::try_from(self.host.ncpu).unwrap_or(1),
        );
        ctx.layer_folders = image
            .chain_ids
            .iter()
            .rev()
            .map(|c| {
                root.join(c.trim_start_matches("sha256:"))
                    .display()
                    .to_string()
            })
            .chain(std::iter::once(root.join(id).display().to_string()))
            .collect();
        ctx
    }
}

impl RuntimeSpecs {
    async fn linux(&self, req: SpecRequest<'_>) -> Result<oci_spec::runtime::Spec> {
        let rec = req.rec;
        let body = req.body.clone();
        let image_config = req.image.config.clone();
        let mounts = self.images.rootfs_mounts(&rec.rootfs_key).await?;
        let dir = self.containers_dir.join(&rec.id);
        let target = self.mount_root.join(&rec.id);
        let host = self.host.clone();
        let id = rec.id.clone();
        let network_mode = rec.host_config.network_mode.clone().unwrap_or_default();
        let mut extra_hosts = rec.host_config.extra_hosts.clone().unwrap_or_default();
        if let Some(gw) = req.network.host_gateway {
            extra_hosts = translate::linux::resolve_host_gateway(&extra_hosts, gw);
        }
        let dns = (
            rec.host_config.dns.clone().unwrap_or_default(),
            rec.host_config.dns_search.clone().unwrap_or_default(),
            rec.host_config.dns_options.clone().unwrap_or_default(),
        );
        let privileged = rec.host_config.privileged == Some(true);
        let netns_path = req.network.netns_path.clone();
        let address = req.network.address;
        // Writing host files, mounting the rootfs and walking /dev are blocking work.
        blocking(move || {
            let hostname = translate::linux::container_hostname(&body, &id, &host.hostname);
            let write = |name: &str, data: String| -> Result<String> {
                let p = dir.join(name);
                std::fs::write(&p, data)
                    .map_err(|e| ContainerError::io(format!("writing {}", p.display()), e))?;
                Ok(p.display().to_string())
            };
            let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let host_hosts = std::fs::read_to_string("/etc/hosts").ok();
            let etc_hostname = write("hostname", format!("{hostname}\n"))?;
            let etc_hosts = write(
                "hosts",
                translate::linux::etc_hosts(
                    &hostname,
                    &extra_hosts,
                    &network_mode,
                    host_hosts.as_deref(),
                    address,
                )?,
            )?;
            let resolv = write(
                "resolv.conf",
                translate::linux::resolv_conf(&host_resolv, &dns.0, &dns.1, &dns.2, &network_mode)?,
            )?;
            let fs = super::rootfs::MountedRootfs::mount(&mounts, &target)?;
            let mut ctx = translate::linux::LinuxContext::for_audit(&id);
            ctx.hostname = hostname;
            ctx.passwd = fs.read_to_string("/etc/passwd");
            ctx.group = fs.read_to_string("/etc/group");
            ctx.etc_hosts = Some(etc_hosts);
            ctx.etc_hostname = Some(etc_hostname);
            ctx.resolv_conf = Some(resolv);
            ctx.host_hard_rlimits = host.hard_rlimits.clone();
            ctx.host_capabilities = host.capabilities.clone();
            ctx.cgroup_v2 = host.cgroup_version == 2;
            ctx.online_cpus = u32::try_from(host.ncpu).ok();
            ctx.cgroups_path = cgroups_path(&id);
            ctx.netns_path = netns_path;
            ctx.extra_masked_paths = crate::host::thermal_throttle_paths();
            if privileged {
                // dockerd gives a privileged container every device node of the host,
                // read at each start.
                ctx.host_devices = crate::host::host_devices();
            }
            let spec = translate::linux::linux_spec(&body, &image_config, &ctx)?;
            if let Some(p) = spec.process() {
                let cwd = p.cwd().display().to_string();
                if cwd != "/" {
                    // dockerd creates a missing working directory owned by root.
                    fs.create_dir_all(&cwd, 0, 0)?;
                }
            }
            drop(fs);
            Ok(spec)
        })
        .await
    }
}

/// The cgroup a Linux container's task runs in (relative to the hierarchy root).
pub fn cgroups_path(id: &str) -> String {
    format!("/dockbridge/{id}")
}

/// Runs blocking filesystem work off the async runtime's threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ContainerError::Internal(format!("blocking task failed: {e}")))?
}
