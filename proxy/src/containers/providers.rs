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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use containerd_client::types::Mount;
use spec::api::models::ContainerCreateBody;
use spec::image::ImageConfigFile;

use super::record::{Platform, Record};
use super::{ContainerError, Result};
use crate::images::{ImageRecord, ImageStore, ImagesError};
use crate::volumes::{VolumeMount, VolumeRef, VolumeStore};

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
    /// A Windows container's writable layer, where the provider keeps the layers itself
    /// (an HCS-only daemon); elsewhere the spec names the layers and nothing is created.
    async fn prepare_windows_scratch(&self, _image_id: &str, _id: &str) -> Result<(), ImagesError> {
        Ok(())
    }
    /// Removes what [`Self::prepare_windows_scratch`] made; a missing layer is fine.
    async fn remove_windows_scratch(&self, _id: &str) -> Result<(), ImagesError> {
        Ok(())
    }
    /// The mounted volume of that writable layer (`root.path`), when the provider keeps
    /// the layers itself.
    async fn windows_root_path(&self, _id: &str) -> Result<Option<String>, ImagesError> {
        Ok(None)
    }
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
    async fn prepare_windows_scratch(&self, image_id: &str, id: &str) -> Result<(), ImagesError> {
        ImageStore::prepare_windows_scratch(self, image_id, id).await
    }
    async fn remove_windows_scratch(&self, id: &str) -> Result<(), ImagesError> {
        ImageStore::remove_windows_scratch(self, id).await
    }
    async fn windows_root_path(&self, id: &str) -> Result<Option<String>, ImagesError> {
        ImageStore::windows_root_path(self, id).await
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
    /// Its IPv6 address on an `--ipv6` network (a second `/etc/hosts` line, as dockerd).
    pub address6: Option<std::net::IpAddr>,
    /// What `--add-host NAME:host-gateway` means (the default bridge's gateway), if any.
    pub host_gateway: Option<std::net::IpAddr>,
    /// HNS endpoint IDs of a Windows container (the spec's `windows.network.endpointList`).
    pub windows_endpoints: Vec<String>,
    /// The run joined a user network: its resolv.conf names the embedded DNS server, as
    /// dockerd's once any such network is joined (whatever the mode names).
    pub embedded_dns: bool,
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
    /// Whether Windows containers can have a network here (HNS); without it they need
    /// `--network none`.
    fn windows_networking(&self) -> bool {
        false
    }
    /// Before the task is created. Whatever this sets up is released by [`Self::release`].
    async fn attach(&self, rec: &Record) -> Result<NetworkAttachment>;
    /// After the run ended or a start failed; idempotent.
    async fn release(&self, rec: &Record) -> Result<()>;
    /// When the container is removed.
    async fn remove(&self, rec: &Record) -> Result<()> {
        self.release(rec).await
    }
    /// Joins a running container to one more (user) network, by name or ID.
    async fn connect(&self, _rec: &Record, network: &str) -> Result<()> {
        Err(ContainerError::InvalidParameter(format!(
            "connecting a container to network {network} needs bridge networking"
        )))
    }
    /// Takes a running container off one of its further networks (by ID); `false` when
    /// it was not on it.
    async fn disconnect(&self, _rec: &Record, _network_id: &str) -> Result<bool> {
        Ok(false)
    }
    /// A running container's address on the default bridge (what `--link` points at).
    fn bridge_address(&self, _container_id: &str) -> Option<std::net::IpAddr> {
        None
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

/// The sources of a container's mounts: volumes (created at create, filled and mounted
/// before each run) and bind sources.
#[async_trait]
pub trait MountProvider: Send + Sync + 'static {
    /// The volumes a create request asks for (`image_volumes`: the image's `VOLUME`s), and
    /// the request without them, which is what translation validates.
    fn plan(
        &self,
        body: &ContainerCreateBody,
        image_volumes: &[String],
    ) -> Result<(ContainerCreateBody, Vec<VolumeRef>)>;
    /// Creates (or finds) the planned volumes for container `id`.
    async fn create_volumes(&self, id: &str, refs: &[VolumeRef]) -> Result<Vec<VolumeMount>>;
    /// Undoes [`Self::create_volumes`] after a failed create (anonymous volumes go).
    async fn discard(&self, volumes: &[VolumeMount]);
    /// The request as the runtime sees it: volumes as binds of their directories.
    fn runtime_body(&self, rec: &Record, body: &ContainerCreateBody) -> ContainerCreateBody;
    /// Before the task is created: bind sources exist, empty volumes are filled from the
    /// image, local-driver volumes are mounted.
    async fn prepare(&self, rec: &Record, body: &ContainerCreateBody) -> Result<()>;
    /// After a run ended.
    async fn release(&self, rec: &Record) -> Result<()>;
    /// When the container is removed; with `volumes` (`rm -v`, `--rm`) its anonymous
    /// volumes go too, except those in `used_elsewhere` (mounted by other containers).
    async fn remove(&self, rec: &Record, volumes: bool, used_elsewhere: &[String]) -> Result<()>;
}

/// `-v` sources are created when missing, as dockerd does; `--mount` sources must exist.
async fn make_bind_sources(body: &ContainerCreateBody) -> Result<()> {
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
            std::fs::create_dir_all(p)
                .map_err(|e| ContainerError::io(format!("creating bind source {}", b.path), e))?;
        }
        Ok(())
    })
    .await
}

/// Bind mounts only: a request for a volume is refused. For daemons and tests without a
/// volume store.
pub struct BindMounts;

#[async_trait]
impl MountProvider for BindMounts {
    fn plan(
        &self,
        body: &ContainerCreateBody,
        image_volumes: &[String],
    ) -> Result<(ContainerCreateBody, Vec<VolumeRef>)> {
        let (rest, refs) = crate::volumes::model::plan(body, image_volumes)?;
        if let Some(r) = refs.iter().find(|r| r.name.is_some()) {
            return Err(ContainerError::InvalidParameter(format!(
                "volume {:?}: this daemon has no volume store",
                r.name
            )));
        }
        // Image volumes without a store stay in the writable layer.
        Ok((rest, Vec::new()))
    }
    async fn create_volumes(&self, _id: &str, _refs: &[VolumeRef]) -> Result<Vec<VolumeMount>> {
        Ok(Vec::new())
    }
    async fn discard(&self, _volumes: &[VolumeMount]) {}
    fn runtime_body(&self, _rec: &Record, body: &ContainerCreateBody) -> ContainerCreateBody {
        body.clone()
    }
    async fn prepare(&self, _rec: &Record, body: &ContainerCreateBody) -> Result<()> {
        make_bind_sources(body).await
    }
    async fn release(&self, _rec: &Record) -> Result<()> {
        Ok(())
    }
    async fn remove(
        &self,
        _rec: &Record,
        _volumes: bool,
        _used_elsewhere: &[String],
    ) -> Result<()> {
        Ok(())
    }
}

/// The `local` volume driver on [`VolumeStore`], plus bind sources.
pub struct LocalMounts {
    pub volumes: Arc<VolumeStore>,
    pub images: Arc<dyn ImageProvider>,
    /// Where a stopped container's rootfs is mounted briefly to copy from it.
    pub mount_root: PathBuf,
    pub events: Arc<crate::events::EventBus>,
}

impl LocalMounts {
    fn volume_event(&self, action: &str, name: &str, attrs: HashMap<String, String>) {
        let mut attrs = attrs;
        attrs.insert("driver".into(), "local".into());
        self.events.emit(
            spec::api::models::EventMessageTypeEnum::VOLUME,
            action,
            name,
            attrs,
        );
    }

    /// Copies the image's content into the empty volumes that want it, from the
    /// container's rootfs mounted for the purpose.
    async fn copy_up(&self, rec: &Record) -> Result<()> {
        let wanted: Vec<VolumeMount> = rec
            .volumes
            .iter()
            .filter(|v| v.copy && crate::volumes::is_empty_dir(Path::new(&v.source)))
            .cloned()
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mounts = self.images.rootfs_mounts(&rec.rootfs_key).await?;
        let target = self.mount_root.join(format!("{}.copyup", rec.id));
        blocking(move || {
            let fs = super::rootfs::MountedRootfs::mount(&mounts, &target)?;
            for v in wanted {
                let Some(src) = fs.resolve(&v.destination) else {
                    continue;
                };
                crate::volumes::copyup::fill_empty(&src, Path::new(&v.source)).map_err(|e| {
                    ContainerError::io(
                        format!("copying {} into volume {}", v.destination, v.name),
                        e,
                    )
                })?;
            }
            drop(fs);
            Ok(())
        })
        .await
    }
}

fn volume_err(e: crate::volumes::VolumeError) -> ContainerError {
    match e {
        crate::volumes::VolumeError::InvalidParameter(m) => ContainerError::InvalidParameter(m),
        crate::volumes::VolumeError::NotFound(m) => ContainerError::NotFound(m),
        crate::volumes::VolumeError::Conflict(m) => ContainerError::Conflict(m),
        other => ContainerError::Internal(other.to_string()),
    }
}

#[async_trait]
impl MountProvider for LocalMounts {
    fn plan(
        &self,
        body: &ContainerCreateBody,
        image_volumes: &[String],
    ) -> Result<(ContainerCreateBody, Vec<VolumeRef>)> {
        Ok(crate::volumes::model::plan(body, image_volumes)?)
    }

    async fn create_volumes(&self, id: &str, refs: &[VolumeRef]) -> Result<Vec<VolumeMount>> {
        let mut out: Vec<VolumeMount> = Vec::new();
        for r in refs {
            let created = self.volumes.create(
                r.name.as_deref(),
                r.driver_opts.clone(),
                r.labels.clone(),
                r.name.is_none(),
            );
            let (v, fresh) = match created {
                Ok(x) => x,
                Err(e) => {
                    self.discard(&out).await;
                    return Err(volume_err(e));
                }
            };
            if fresh {
                self.volume_event("create", &v.name, HashMap::new());
            }
            out.push(VolumeMount {
                source: self.volumes.data_path(&v.name).display().to_string(),
                name: v.name,
                destination: r.destination.clone(),
                rw: r.rw,
                copy: r.copy,
                mode: r.mode.clone(),
                anonymous: r.name.is_none(),
            });
        }
        tracing::debug!(container = id, volumes = out.len(), "volumes ready");
        Ok(out)
    }

    async fn discard(&self, volumes: &[VolumeMount]) {
        for v in volumes.iter().filter(|v| v.anonymous) {
            if self.volumes.remove(&v.name).is_ok() {
                self.volume_event("destroy", &v.name, HashMap::new());
            }
        }
    }

    fn runtime_body(&self, rec: &Record, body: &ContainerCreateBody) -> ContainerCreateBody {
        // The request without its volume references, plus the volumes as binds.
        let image_volumes: Vec<String> = Vec::new();
        let rest = crate::volumes::model::plan(body, &image_volumes)
            .map(|(rest, _)| rest)
            .unwrap_or_else(|_| body.clone());
        crate::volumes::model::with_volume_binds(&rest, &rec.volumes, &rec.inherited_binds)
    }

    async fn prepare(&self, rec: &Record, body: &ContainerCreateBody) -> Result<()> {
        for v in &rec.volumes {
            let meta = self.volumes.get(&v.name).map_err(volume_err)?;
            crate::volumes::copyup::recover(Path::new(&v.source))
                .map_err(|e| ContainerError::io(format!("volume {}", v.name), e))?;
            self.volumes.ensure_mounted(&meta).map_err(volume_err)?;
        }
        self.copy_up(rec).await?;
        make_bind_sources(body).await?;
        for v in &rec.volumes {
            self.volume_event(
                "mount",
                &v.name,
                HashMap::from([
                    ("container".to_string(), rec.id.clone()),
                    ("destination".to_string(), v.destination.clone()),
                    ("propagation".to_string(), String::new()),
                    ("read/write".to_string(), v.rw.to_string()),
                ]),
            );
        }
        Ok(())
    }

    async fn release(&self, rec: &Record) -> Result<()> {
        for v in &rec.volumes {
            self.volume_event(
                "unmount",
                &v.name,
                HashMap::from([("container".to_string(), rec.id.clone())]),
            );
        }
        Ok(())
    }

    async fn remove(&self, rec: &Record, volumes: bool, used_elsewhere: &[String]) -> Result<()> {
        if !volumes {
            return Ok(());
        }
        for v in rec.volumes.iter().filter(|v| v.anonymous) {
            if used_elsewhere.contains(&v.name) {
                continue;
            }
            match self.volumes.remove(&v.name) {
                Ok(()) => self.volume_event("destroy", &v.name, HashMap::new()),
                Err(crate::volumes::VolumeError::NotFound(_)) => {}
                Err(e) => return Err(volume_err(e)),
            }
        }
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
    /// Init pids of the containers whose PID / IPC namespaces this one joins.
    pub joins: Joins,
}

/// `--pid container:X` and `--ipc container:X`, resolved to the other container's pid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Joins {
    pub pid: Option<u32>,
    /// The IPC donor's pid and ID (its shared `/dev/shm` lives under its directory).
    pub ipc: Option<(u32, String)>,
    /// `--link` children, running on the default bridge.
    pub links: Vec<translate::linux::links::LinkedChild>,
    /// `--network container:NAME`: the running container whose namespace this one joins.
    pub net: Option<super::record::NetworkDonor>,
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
    /// The init binary for `--init`.
    pub init_path: Option<PathBuf>,
    /// The daemon's seccomp profile (`--seccomp-profile`, Docker's default).
    pub seccomp_profile: Option<Arc<translate::linux::seccomp::Profile>>,
}

#[async_trait]
impl SpecBuilder for RuntimeSpecs {
    async fn build(&self, req: SpecRequest<'_>) -> Result<oci_spec::runtime::Spec> {
        match req.rec.platform {
            Platform::Windows => {
                let mut ctx = self.windows_context(&req.rec.id, req.image);
                ctx.first_start = req.rec.state.started_at.is_none();
                ctx.network_endpoints = req.network.windows_endpoints.clone();
                ctx.root_path = self.images.windows_root_path(&req.rec.id).await?;
                if super::record::RootfsKind::of_backend(&req.rec.backend)
                    == super::record::RootfsKind::Snapshot
                {
                    // On containerd the snapshot's mounts name the layers, and the runhcs
                    // shim refuses a spec that names them too.
                    ctx.layer_folders.clear();
                }
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
        // Linked children after the --add-host entries, as dockerd orders them.
        extra_hosts.extend(
            req.joins
                .links
                .iter()
                .map(translate::linux::links::hosts_entry),
        );
        if let Some(gw) = req.network.host_gateway {
            extra_hosts = translate::linux::resolve_host_gateway(&extra_hosts, gw);
        }
        let dns = (
            rec.host_config.dns.clone().unwrap_or_default(),
            rec.host_config.dns_search.clone().unwrap_or_default(),
            rec.host_config.dns_options.clone().unwrap_or_default(),
        );
        let privileged = rec.host_config.privileged == Some(true);
        let netns_path = match &req.joins.net {
            Some(d) => Some(format!("/proc/{}/ns/net", d.pid)),
            None => req.network.netns_path.clone(),
        };
        // `--network container:`: the other container's files, bind-mounted as they are.
        let files_dir = req
            .joins
            .net
            .as_ref()
            .map(|d| self.containers_dir.join(&d.id));
        let init_path = self.init_path.as_ref().map(|p| p.display().to_string());
        let joins = req.joins.clone();
        let seccomp_profile = self.seccomp_profile.clone();
        let shareable_ipc = rec.host_config.ipc_mode.as_deref() == Some("shareable");
        let shm_size = match rec.host_config.shm_size.unwrap_or(0) {
            0 => 64 << 20,
            s => s,
        };
        let containers_dir = self.containers_dir.clone();
        let device_mappings = rec.host_config.devices.clone().unwrap_or_default();
        let hc = &rec.host_config;
        let mut blkio_paths: Vec<String> = hc
            .blkio_weight_device
            .iter()
            .flatten()
            .filter_map(|w| w.path.clone())
            .collect();
        for list in [
            &hc.blkio_device_read_bps,
            &hc.blkio_device_write_bps,
            &hc.blkio_device_read_iops,
            &hc.blkio_device_write_iops,
        ] {
            blkio_paths.extend(list.iter().flatten().filter_map(|t| t.path.clone()));
        }
        let addresses: Vec<std::net::IpAddr> = req
            .network
            .address
            .into_iter()
            .chain(req.network.address6)
            .collect();
        let resolv_mode = resolver_mode(&network_mode, req.network.embedded_dns);
        // Writing host files, mounting the rootfs and walking /dev are blocking work.
        blocking(move || {
            // `--network container:`: the joined container's names, as dockerd (the UTS
            // namespace stays private).
            let hostname = match &joins.net {
                Some(d) => d.hostname.clone(),
                None => translate::linux::container_hostname(&body, &id, &host.hostname),
            };
            let write = |name: &str, data: String| -> Result<String> {
                let p = dir.join(name);
                std::fs::write(&p, data)
                    .map_err(|e| ContainerError::io(format!("writing {}", p.display()), e))?;
                Ok(p.display().to_string())
            };
            let (etc_hostname, etc_hosts, resolv) = match &files_dir {
                Some(d) => {
                    let p = |n: &str| d.join(n).display().to_string();
                    (p("hostname"), p("hosts"), p("resolv.conf"))
                }
                None => {
                    let host_resolv =
                        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
                    let host_hosts = std::fs::read_to_string("/etc/hosts").ok();
                    let hosts = translate::linux::etc_hosts_with(
                        &hostname,
                        &extra_hosts,
                        &network_mode,
                        host_hosts.as_deref(),
                        &addresses,
                    )?;
                    let resolv = translate::linux::resolv_conf(
                        &host_resolv,
                        &dns.0,
                        &dns.1,
                        &dns.2,
                        &resolv_mode,
                    )?;
                    (
                        write("hostname", format!("{hostname}\n"))?,
                        write("hosts", hosts)?,
                        write("resolv.conf", resolv)?,
                    )
                }
            };
            let fs = super::rootfs::MountedRootfs::mount(&mounts, &target)?;
            let mut ctx = translate::linux::LinuxContext::for_audit(&id);
            ctx.hostname = hostname;
            if let Some(d) = &joins.net {
                ctx.domainname = Some(d.domainname.clone().unwrap_or_default());
            }
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
            ctx.init_path = init_path;
            ctx.pid_ns_path = joins.pid.map(|p| format!("/proc/{p}/ns/pid"));
            ctx.seccomp_profile = seccomp_profile.as_deref().cloned();
            ctx.kernel = translate::linux::seccomp::parse_kernel(&host.kernel_version);
            ctx.lsm = host.lsm.clone();
            ctx.link_env = joins
                .links
                .iter()
                .flat_map(translate::linux::links::link_env)
                .collect();
            ctx.ipc_ns_path = joins.ipc.as_ref().map(|(p, _)| format!("/proc/{p}/ns/ipc"));
            ctx.ipc_shm_path = match (&joins.ipc, shareable_ipc) {
                (Some((_, donor)), _) => {
                    Some(shm_dir(&containers_dir, donor).display().to_string())
                }
                (None, true) => {
                    let dir = shm_dir(&containers_dir, &id);
                    mount_shared_shm(&dir, shm_size)?;
                    Some(dir.display().to_string())
                }
                (None, false) => None,
            };
            ctx.user_devices = crate::host::user_devices(&device_mappings)
                .map_err(ContainerError::InvalidParameter)?;
            ctx.block_devices = crate::host::block_devices(blkio_paths)
                .map_err(ContainerError::InvalidParameter)?;
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

/// Where a shareable IPC namespace's `/dev/shm` lives on the host.
pub fn shm_dir(containers_dir: &Path, id: &str) -> PathBuf {
    containers_dir.join(id).join("shm")
}

/// Mounts the tmpfs a `--ipc shareable` container's `/dev/shm` is (once; it stays for the
/// container's life so joiners see the same memory, and goes at removal).
#[cfg(unix)]
fn mount_shared_shm(dir: &Path, size: i64) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ContainerError::io(format!("creating {}", dir.display()), e))?;
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            let want = dir.display().to_string();
            m.lines()
                .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
        })
        .unwrap_or(false);
    if mounted {
        return Ok(());
    }
    use nix::mount::{mount, MsFlags};
    let data = format!("mode=1777,size={size}");
    mount(
        Some("shm"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(data.as_str()),
    )
    .map_err(|e| {
        ContainerError::io(
            format!("mounting shared shm at {}", dir.display()),
            e.into(),
        )
    })
}

#[cfg(not(unix))]
fn mount_shared_shm(_dir: &Path, _size: i64) -> Result<()> {
    Err(ContainerError::NotImplemented(
        "--ipc shareable needs a unix host".into(),
    ))
}

/// Unmounts a shareable container's `/dev/shm` (at removal).
pub fn unmount_shared_shm(containers_dir: &Path, id: &str) {
    #[cfg(unix)]
    {
        let dir = shm_dir(containers_dir, id);
        let _ = nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH);
    }
    #[cfg(not(unix))]
    let _ = (containers_dir, id);
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

/// The network mode whose resolv.conf a run gets: the embedded DNS server's once it joined
/// a user network (even if its mode names the default bridge), the host's resolvers when
/// it joined none (even if its mode names a user network it was disconnected from).
fn resolver_mode(mode: &str, embedded_dns: bool) -> String {
    let user = matches!(
        translate::linux::NetworkMode::parse(mode),
        Ok(translate::linux::NetworkMode::User)
    );
    match (user, embedded_dns) {
        (false, true) => "user".to_string(),
        (true, false) => "default".to_string(),
        _ => mode.to_string(),
    }
}
