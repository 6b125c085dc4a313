//! Docker create request → OCI runtime spec for a Windows container, as dockerd computes it
//! (moby `daemon/oci_windows.go`), except where dockerd gets the command line wrong.
//!
//! # The command: `process.args` and `process.commandLine`
//!
//! A Windows process receives one command line, not an argv. With a remote runtime nothing
//! but the spec carries intent, so dockbridge always writes `commandLine` for a Windows
//! container, and decides what it is by this table. `join` and `escape` are
//! [`spec::cmdline::join`] and [`spec::cmdline::escape_arg`]; the merged command is Docker's
//! (`Entrypoint` + `Cmd`, see [`MergedCommand::of`]).
//!
//! | container | element 0 of the merged command comes from | `ArgsEscaped` that applies | `process.args` | `process.commandLine` |
//! |---|---|---|---|---|
//! | Windows | anywhere | none set | entrypoint + cmd | `join(args)` |
//! | Windows | the image: its `Entrypoint`, or its `Cmd` when the request has neither `Cmd` nor `Entrypoint` | the image's `true` | omitted | element 0 verbatim, then `" " + escape(e)` for every further element, including a user `Cmd` appended to the image `Entrypoint` |
//! | Windows | the request's `Cmd` (the image has no `Entrypoint`) | the image's is ignored | entrypoint + cmd | `join(args)` (moby would take the user's argv0 as a pre-escaped line) |
//! | Windows | the request's `Entrypoint` (which also drops the image `Cmd`; `[""]` resets it to none) | the image's is ignored | entrypoint + cmd | `join(args)` |
//! | Windows | the request's `Entrypoint` or `Cmd` | the request's own `true` (a builder's `RUN`, see [`crate::dockerfile`]) | omitted | element 0 verbatim, further elements escaped |
//! | Linux, and Linux containers on Windows (LCOW) | anywhere | ignored (BuildKit sets it on every image) | entrypoint + cmd | never set |
//!
//! `args` is omitted next to a pre-escaped command line because no argv states that intent:
//! writing one would give the runtime two disagreeing commands (containerd does the same).
//! Unlike moby, argv0 is quoted by the program-name rules (no backslash escapes), so
//! `C:\Program Files\app\` stays that path.
//!
//! # The rest of the spec
//!
//! * `windows.layerFolders` from [`WindowsContext::layer_folders`] (omitted when empty: a
//!   containerd runtime gets the layers as rootfs mounts and hcsshim refuses both);
//! * `windows.resources` from `Memory`, `NanoCpus`/`CpuCount`/`CpuShares`/`CpuPercent`,
//!   `IOMaximumIOps`/`IOMaximumBandwidth` and `StorageOpt` `size` (see [`resources`]);
//! * `windows.network`: the HNS endpoints, `DnsSearch` (else the daemon's), unqualified DNS
//!   queries, the container whose network stack is shared (`--network container:…`);
//! * `windows.hyperv` for Hyper-V isolation (`HostConfig.Isolation`, else the host default);
//! * `windows.devices` from `class/<GUID>` and `<type>://<id>` device assignments;
//! * `process`: cwd (default `C:\`), user as given (`ContainerUser`,
//!   `ContainerAdministrator`, …), env, terminal and console size;
//! * `mounts` with Windows paths and named pipes (see [`mounts`]); `hostname`; annotations.
//!
//! Options that only mean something on Linux are refused with an error naming them (see
//! [`config::check_create`]).

pub mod command;
pub mod config;
pub mod exec;
pub mod mounts;
pub mod resources;

#[cfg(test)]
mod golden;

use std::collections::{BTreeMap, HashMap};

use oci_spec::runtime::{
    Box as ConsoleBox, Process, Root, Spec, User, Windows, WindowsHyperV, WindowsNetwork,
};
use serde::{Deserialize, Serialize};
use spec::api::models::{ContainerCreateBody, HostConfig};
use spec::image::ImageConfigFile;

use crate::Error;

pub use command::{command, Command, ContainerOs, MergedCommand};
pub use mounts::anonymous_volume_targets;

/// The OCI runtime-spec version written into Windows specs.
pub const OCI_VERSION: &str = "1.2.0";

/// Everything about the host that the translation needs, gathered by the proxy (which may do
/// I/O) so that the translation itself stays pure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WindowsContext {
    pub container_id: String,
    /// `windows.layerFolders`: the image's layer directories, topmost first, then the
    /// container's scratch layer (the runtime spec's order). Empty when the runtime gets
    /// the layers some other way (containerd passes them as rootfs mounts).
    pub layer_folders: Vec<String>,
    /// Logical CPUs of the host: `--cpus` is a share of them for process isolation, and
    /// bounded by them.
    pub host_cpu_count: u32,
    /// Whether `Isolation: default` means Hyper-V on this host (dockerd's default is
    /// process isolation on Windows Server, Hyper-V on client Windows).
    pub hyperv_default: bool,
    /// `root.path` of a process-isolated container: the mounted volume of its scratch
    /// layer (`\\?\Volume{GUID}\`). `None` omits `root` (a Hyper-V container must not have
    /// one, and with containerd the rootfs mounts say where it is).
    pub root_path: Option<String>,
    /// HNS endpoint IDs of the container's networks (plus, for `--network container:…`,
    /// the shared container's).
    pub network_endpoints: Vec<String>,
    /// Whether any of those networks allows unqualified DNS queries.
    pub allow_unqualified_dns_query: bool,
    /// The daemon's DNS search list, used when the request has none.
    pub dns_search: Vec<String>,
    /// For `--network container:<name>`: the id of that container (its name is used if not
    /// given).
    pub network_shared_container: Option<String>,
    /// Directory of the local volume driver (default [`mounts::DEFAULT_VOLUMES_ROOT`]): a
    /// volume `v` is mounted from `<volumes_root>\v\_data`.
    pub volumes_root: String,
    /// Container destination → name of the anonymous volume the proxy created for it, one
    /// for each of [`anonymous_volume_targets`].
    pub anonymous_volumes: BTreeMap<String, String>,
    /// The container has never run: HCS may then skip flushing writes while it boots
    /// (dockerd's `IgnoreFlushesDuringBoot = !HasBeenStartedBefore`).
    pub first_start: bool,
}

impl WindowsContext {
    /// Defaults for an offline audit: a first start on a host with `host_cpu_count` CPUs,
    /// process isolation by default, no layers, endpoints or root volume known.
    pub fn for_audit(container_id: &str, host_cpu_count: u32) -> Self {
        Self {
            container_id: container_id.to_string(),
            host_cpu_count,
            first_start: true,
            ..Self::default()
        }
    }
}

/// The warnings dockerd returns with a create on Windows (CPU controls it discarded).
pub fn warnings(create: &ContainerCreateBody, ctx: &WindowsContext) -> Vec<String> {
    let default_hc = HostConfig::default();
    let hc = create.host_config.as_ref().unwrap_or(&default_hc);
    resources::warnings(hc, config::is_hyperv(hc, ctx))
}

/// The full OCI runtime spec for a Windows container.
pub fn windows_spec(
    create: &ContainerCreateBody,
    image: &ImageConfigFile,
    ctx: &WindowsContext,
) -> Result<Spec, Error> {
    if ContainerOs::of(image) != ContainerOs::Windows {
        return Err(Error::Unsupported(format!(
            "image operating system {:?}: Linux containers on Windows (LCOW) are not supported by dockbridge",
            image.os
        )));
    }
    let default_hc = HostConfig::default();
    let hc = create.host_config.as_ref().unwrap_or(&default_hc);
    config::check_create(create, hc)?;
    let hyperv = config::is_hyperv(hc, ctx);
    let image_config = image.container_config();

    let cmd = command(create, image, ContainerOs::Windows)?;
    let mut process: Process = blank(serde_json::json!({"user": {"uid": 0, "gid": 0}, "cwd": ""}))?;
    process.set_cwd(config::working_dir(create, &image_config)?.into());
    if !cmd.args.is_empty() {
        process.set_args(Some(cmd.args));
    }
    process.set_command_line(cmd.command_line);
    let env = config::environment(create, &image_config);
    if !env.is_empty() {
        process.set_env(Some(env));
    }
    let mut user = User::default();
    user.set_username(config::user(create, &image_config));
    process.set_user(user);
    if create.tty == Some(true) {
        process.set_terminal(Some(true));
        // HostConfig.ConsoleSize is [height, width]; dockerd sends [0, 0] when not given.
        let size = hc.console_size.as_deref().unwrap_or_default();
        let dim = |i: usize| size.get(i).map_or(0, |v| *v as u64);
        let console: ConsoleBox = blank(serde_json::json!({"height": dim(0), "width": dim(1)}))?;
        process.set_console_size(Some(console));
    }

    let mut windows = Windows::default();
    if !ctx.layer_folders.is_empty() {
        windows.set_layer_folders(Some(ctx.layer_folders.clone()));
    }
    windows.set_resources(resources::resources(hc, hyperv, ctx.host_cpu_count)?);
    windows.set_network(Some(network(hc, hyperv, ctx)?));
    if hyperv {
        windows.set_hyperv(Some(WindowsHyperV::default()));
    }
    let devices = config::devices(hc)?;
    if !devices.is_empty() {
        windows.set_devices(Some(devices));
    }
    if ctx.first_start {
        windows.set_ignore_flushes_during_boot(Some(true));
    }

    let mut spec: Spec = blank(serde_json::json!({}))?;
    spec.set_version(OCI_VERSION.to_string());
    spec.set_process(Some(process));
    spec.set_hostname(Some(config::hostname(create, ctx)));
    spec.set_mounts(Some(mounts::spec_mounts(create, hc, &image_config, ctx)?));
    // A Hyper-V container's root lives in its utility VM: the spec must not name one.
    if let Some(path) = ctx.root_path.as_deref().filter(|_| !hyperv) {
        let mut root: Root = blank(serde_json::json!({"path": ""}))?;
        let mut path = path.to_string();
        if !path.ends_with('\\') {
            path.push('\\');
        }
        root.set_path(path.into());
        spec.set_root(Some(root));
    }
    if let Some(a) = hc.annotations.as_ref().filter(|a| !a.is_empty()) {
        spec.set_annotations(Some(
            a.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ));
    }
    spec.set_windows(Some(windows));
    Ok(spec)
}

/// `windows.network`, always present as dockerd writes it (possibly empty).
fn network(hc: &HostConfig, hyperv: bool, ctx: &WindowsContext) -> Result<WindowsNetwork, Error> {
    let mut net = WindowsNetwork::default();
    if !ctx.network_endpoints.is_empty() {
        net.set_endpoint_list(Some(ctx.network_endpoints.clone()));
    }
    if ctx.allow_unqualified_dns_query {
        net.set_allow_unqualified_dns_query(Some(true));
    }
    let search = hc
        .dns_search
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| ctx.dns_search.clone());
    if !search.is_empty() {
        net.set_dns_search_list(Some(search));
    }
    if let Some(shared) = hc
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("container:"))
    {
        if hyperv {
            return Err(Error::InvalidParameter(
                "invalid network-mode: using the network stack of another container is not supported while using Hyper-V Containers".into(),
            ));
        }
        net.set_network_shared_container_name(Some(
            ctx.network_shared_container
                .clone()
                .unwrap_or_else(|| shared.to_string()),
        ));
    }
    Ok(net)
}

/// An oci-spec value from explicit JSON: oci-spec's `Default`s are youki's Linux defaults
/// (hostname "youki", args `["sh"]`, namespaces, mounts), wrong for any Windows spec.
fn blank<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| internal(format!("building the runtime spec: {e}")))
}

/// A bug in dockbridge or in what the proxy passed, not in the request.
pub(crate) fn internal(msg: String) -> Error {
    Error::Spec(spec::Error::Oci(spec::oci::OciError::Invalid(msg)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn spec(create: Value, image: Value, ctx: &WindowsContext) -> Result<Value, Error> {
        let create: ContainerCreateBody = serde_json::from_value(create).unwrap();
        let image: ImageConfigFile = serde_json::from_value(image).unwrap();
        windows_spec(&create, &image, ctx).map(|s| serde_json::to_value(s).unwrap())
    }

    fn nanoserver() -> Value {
        json!({"os": "windows", "architecture": "amd64", "config": {"Cmd": ["cmd.exe"], "User": "ContainerUser"}})
    }

    #[test]
    fn minimal_spec_has_no_youki_defaults() {
        let ctx = WindowsContext::for_audit("abcdef0123456789", 4);
        let s = spec(json!({"Image": "nanoserver"}), nanoserver(), &ctx).unwrap();
        assert_eq!(
            s,
            json!({
                "ociVersion": OCI_VERSION,
                "hostname": "abcdef012345",
                "mounts": [],
                "process": {"user": {"uid": 0, "gid": 0, "username": "ContainerUser"}, "args": ["cmd.exe"], "commandLine": "cmd.exe", "cwd": "C:\\"},
                "windows": {"network": {}, "ignoreFlushesDuringBoot": true}
            })
        );
    }

    #[test]
    fn isolation_and_root() {
        let mut ctx = WindowsContext::for_audit("abcdef0123456789", 4);
        ctx.root_path = Some(r"\\?\Volume{0b8ef5a3-1c2f-4f4a-9d8e-0123456789ab}".into());
        let s = spec(
            json!({"HostConfig": {"Isolation": "process"}}),
            nanoserver(),
            &ctx,
        )
        .unwrap();
        assert_eq!(
            s["root"],
            json!({"path": r"\\?\Volume{0b8ef5a3-1c2f-4f4a-9d8e-0123456789ab}\"})
        );
        assert_eq!(s["windows"].get("hyperv"), None);
        let s = spec(
            json!({"HostConfig": {"Isolation": "hyperv"}}),
            nanoserver(),
            &ctx,
        )
        .unwrap();
        assert_eq!(s["windows"]["hyperv"], json!({}));
        assert_eq!(s.get("root"), None);
        ctx.hyperv_default = true;
        for iso in ["default", ""] {
            let s = spec(
                json!({"HostConfig": {"Isolation": iso}}),
                nanoserver(),
                &ctx,
            )
            .unwrap();
            assert_eq!(s["windows"]["hyperv"], json!({}), "{iso:?}");
        }
        let s = spec(json!({}), nanoserver(), &ctx).unwrap();
        assert_eq!(s["windows"]["hyperv"], json!({}));
    }

    #[test]
    fn network_section() {
        let mut ctx = WindowsContext::for_audit("abcdef0123456789", 4);
        ctx.network_endpoints = vec!["6ad3bd1c-0000-4000-8000-000000000001".into()];
        ctx.allow_unqualified_dns_query = true;
        ctx.dns_search = vec!["corp.example".into()];
        let s = spec(json!({}), nanoserver(), &ctx).unwrap();
        assert_eq!(
            s["windows"]["network"],
            json!({"endpointList": ["6ad3bd1c-0000-4000-8000-000000000001"], "allowUnqualifiedDNSQuery": true, "DNSSearchList": ["corp.example"]})
        );
        let s = spec(
            json!({"HostConfig": {"DnsSearch": ["a.example"], "NetworkMode": "container:web"}}),
            nanoserver(),
            &ctx,
        )
        .unwrap();
        assert_eq!(
            s["windows"]["network"]["DNSSearchList"],
            json!(["a.example"])
        );
        assert_eq!(s["windows"]["network"]["networkSharedContainerName"], "web");
        let err = spec(
            json!({"HostConfig": {"NetworkMode": "container:web", "Isolation": "hyperv"}}),
            nanoserver(),
            &ctx,
        );
        assert!(matches!(err, Err(Error::InvalidParameter(m)) if m.contains("Hyper-V")));
    }

    #[test]
    fn linux_images_are_refused() {
        let ctx = WindowsContext::for_audit("abcdef0123456789", 4);
        let err = spec(
            json!({}),
            json!({"os": "linux", "config": {"Cmd": ["sh"]}}),
            &ctx,
        );
        assert!(matches!(err, Err(Error::Unsupported(m)) if m.contains("LCOW")));
    }

    #[test]
    fn tty_console_and_annotations() {
        let ctx = WindowsContext::for_audit("abcdef0123456789", 4);
        let s = spec(
            json!({"Tty": true, "HostConfig": {"ConsoleSize": [40, 120], "Annotations": {"io.example/a": "1"}}}),
            nanoserver(),
            &ctx,
        )
        .unwrap();
        assert_eq!(s["process"]["terminal"], true);
        assert_eq!(
            s["process"]["consoleSize"],
            json!({"height": 40, "width": 120})
        );
        assert_eq!(s["annotations"], json!({"io.example/a": "1"}));
        let s = spec(json!({"Tty": true}), nanoserver(), &ctx).unwrap();
        assert_eq!(
            s["process"]["consoleSize"],
            json!({"height": 0, "width": 0})
        );
        let err = spec(
            json!({"HostConfig": {"Annotations": {"": "x"}}}),
            nanoserver(),
            &ctx,
        );
        assert!(matches!(err, Err(Error::InvalidParameter(m)) if m.contains("annotation key")));
    }

    #[test]
    fn warnings_follow_isolation() {
        let create: ContainerCreateBody =
            serde_json::from_value(json!({"HostConfig": {"CpuCount": 2, "CpuShares": 100}}))
                .unwrap();
        let mut ctx = WindowsContext::for_audit("x", 4);
        assert_eq!(warnings(&create, &ctx).len(), 1);
        ctx.hyperv_default = true;
        assert!(warnings(&create, &ctx).is_empty());
    }
}
