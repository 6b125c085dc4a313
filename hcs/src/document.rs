//! OCI runtime spec (Windows) → HCS v2 documents. Pure functions; golden tests in
//! `hcs/testdata/`.
//!
//! The mapping follows hcsshim's v2 WCOW path (`hcsoci/hcsdoc_wcow.go`, `cmd/cmd.go`):
//! - `windows.layerFolders`: the last folder is the scratch (read-write) layer, the others are
//!   the read-only image layers, topmost first. `Storage.Path` is `root.path` (the mounted
//!   scratch volume, `\\?\Volume{GUID}\`) when the spec has one, else the scratch folder.
//! - A layer's `Id` is the GUID vmcompute's `NameToGuid` gives the folder's name, as
//!   hcsshim's `wclayer.LayerID` and the Windows graph driver compute it: the caller passes
//!   those in [`DocumentOptions::layer_ids`] (the HCS backend asks the storage library).
//!   A folder without one gets a stand-in: its name when it already is a GUID, else a
//!   name-based GUID (the first 16 bytes of SHA-256 of the name, RFC 9562 version 8).
//! - Mounts whose destination starts with `\\.\pipe\` become `MappedPipes`, all others
//!   `MappedDirectories` (`ro` in the options makes them read-only).
//! - CPU count, maximum and shares become `Processor{Count, Maximum, Weight}` and are mutually
//!   exclusive (as in hcsshim); the memory limit becomes `Memory.SizeInMB` (rounded down).
//! - `windows.network`: `endpointList` → `NetworkAdapters`, `networkNamespace` →
//!   `Namespace`, the DNS search list joined with commas (the HCS backend then moves the
//!   endpoints into an HNS namespace of their own, as hcsshim does on schema 2).
//! - Hyper-V isolation (`windows.hyperv`): the container becomes a `HostedSystem` of a
//!   utility VM named by `HostingSystemId`; the caller provides that VM's id.
//! - Process parameters: `CommandLine` is the spec's `commandLine` verbatim (never
//!   re-escaped); only without one are `args` joined with Windows quoting rules.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{Mount, Process, Spec};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::schema::{
    ComputeSystem, Container, GuestOs, HostedSystem, Layer, MappedDirectory, MappedPipe, Memory,
    Networking, ProcessParameters, Processor, Storage, StorageQoS, Version,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    #[error("the OCI spec has no windows section: the HCS backend runs Windows containers only")]
    NotWindows,
    #[error("OCI spec is invalid: at least two windows.layerFolders (image layers and the scratch layer) are required")]
    TooFewLayers,
    #[error("OCI spec is invalid: root.readonly is not supported for Windows containers")]
    ReadonlyRoot,
    #[error("OCI spec is invalid: mount type {0:?} is not supported for Windows containers")]
    MountType(String),
    #[error("OCI spec is invalid: mount at {0:?} has no source")]
    MountSource(String),
    #[error(
        "OCI spec is invalid: CPU count, maximum and shares are mutually exclusive on Windows"
    )]
    CpuLimits,
    #[error("Hyper-V isolation needs a utility VM (hosting system) id")]
    NoHostingSystem,
    #[error("the process has neither commandLine nor args")]
    NoCommand,
    #[error("the process's args cannot be one Windows command line: {0}")]
    CommandLine(#[from] spec::cmdline::CmdlineError),
}

/// What the document needs besides the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentOptions {
    /// Lets HCS tell management stacks apart (moby uses "docker").
    pub owner: String,
    /// The utility VM for Hyper-V isolated containers.
    pub hosting_system_id: Option<String>,
    /// Layer folder → layer GUID, as vmcompute's `NameToGuid` maps the folder's name (what
    /// hcsshim's `wclayer.LayerID` does); folders not in it get [`layer_id`]'s stand-in.
    pub layer_ids: BTreeMap<String, String>,
}

impl Default for DocumentOptions {
    fn default() -> Self {
        Self {
            owner: "dockbridge".into(),
            hosting_system_id: None,
            layer_ids: BTreeMap::new(),
        }
    }
}

/// Builds the HcsCreateComputeSystem document of a Windows container.
pub fn compute_system(spec: &Spec, opts: &DocumentOptions) -> Result<ComputeSystem, DocumentError> {
    let windows = spec.windows().as_ref().ok_or(DocumentError::NotWindows)?;
    let container = container(spec, opts)?;
    let hyperv = windows.hyperv().is_some();
    let mut doc = ComputeSystem {
        owner: opts.owner.clone(),
        schema_version: Some(Version::V2_1),
        // The daemon owns the only handle: if it dies, HCS tears the container down instead
        // of leaving it running unmanaged.
        should_terminate_on_last_handle_closed: true,
        ..Default::default()
    };
    if hyperv {
        doc.hosting_system_id = opts
            .hosting_system_id
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or(DocumentError::NoHostingSystem)?;
        doc.hosted_system = Some(HostedSystem {
            schema_version: Some(Version::V2_1),
            container: Some(container),
        });
    } else {
        doc.container = Some(container);
    }
    Ok(doc)
}

fn container(spec: &Spec, opts: &DocumentOptions) -> Result<Container, DocumentError> {
    let windows = spec.windows().as_ref().ok_or(DocumentError::NotWindows)?;
    let mut c = Container::default();

    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        c.guest_os = Some(GuestOs {
            host_name: h.to_string(),
        });
    }

    // Storage.
    let folders = windows.layer_folders().as_deref().unwrap_or_default();
    let Some((scratch, layers)) = folders.split_last().filter(|(_, l)| !l.is_empty()) else {
        return Err(DocumentError::TooFewLayers);
    };
    let root = spec.root().as_ref();
    if root.and_then(|r| r.readonly()).unwrap_or(false) {
        return Err(DocumentError::ReadonlyRoot);
    }
    let root_path = root
        .map(|r| r.path().to_string_lossy().into_owned())
        .filter(|p| !p.is_empty());
    let mut storage = Storage {
        layers: layers
            .iter()
            .map(|folder| Layer {
                id: opts
                    .layer_ids
                    .get(folder)
                    .cloned()
                    .unwrap_or_else(|| layer_id(folder)),
                path: folder.clone(),
                path_type: String::new(),
            })
            .collect(),
        path: root_path.unwrap_or_else(|| scratch.clone()),
        qos: None,
    };

    // oci-spec 0.10 has no public getters for the Windows resource and network fields, so
    // they are read from the spec's own JSON form (the OCI field names).
    let windows_json = serde_json::to_value(windows).unwrap_or_default();
    let num = |path: &str| {
        windows_json
            .pointer(path)
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let qos = StorageQoS {
        iops_maximum: clamp_i32(num("/resources/storage/iops")),
        bandwidth_maximum: clamp_i32(num("/resources/storage/bps")),
    };
    if qos != StorageQoS::default() {
        storage.qos = Some(qos);
    }
    c.storage = Some(storage);

    // Mounts.
    for m in spec.mounts().as_deref().unwrap_or_default() {
        map_mount(m, &mut c)?;
    }

    // Resources.
    let p = Processor {
        count: clamp_i32(num("/resources/cpu/count")),
        maximum: clamp_i32(num("/resources/cpu/maximum")),
        weight: clamp_i32(num("/resources/cpu/shares")),
    };
    let set = [p.count, p.maximum, p.weight]
        .iter()
        .filter(|v| **v > 0)
        .count();
    if set > 1 {
        return Err(DocumentError::CpuLimits);
    }
    if set == 1 {
        c.processor = Some(p);
    }
    let mb = num("/resources/memory/limit") / 1024 / 1024;
    if mb > 0 {
        c.memory = Some(Memory { size_in_mb: mb });
    }

    // Networking.
    if let Some(n) = windows.network() {
        c.networking = Some(Networking {
            allow_unqualified_dns_query: windows_json
                .pointer("/network/allowUnqualifiedDNSQuery")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            dns_search_list: n.dns_search_list().as_deref().unwrap_or_default().join(","),
            network_shared_container_name: n
                .network_shared_container_name()
                .clone()
                .unwrap_or_default(),
            namespace: n.network_namespace().clone().unwrap_or_default(),
            network_adapters: n.endpoint_list().clone().unwrap_or_default(),
        });
    }
    Ok(c)
}

fn map_mount(m: &Mount, c: &mut Container) -> Result<(), DocumentError> {
    const PIPE_PREFIX: &str = r"\\.\pipe\";
    if let Some(t) = m.typ().as_deref().filter(|t| !t.is_empty() && *t != "bind") {
        return Err(DocumentError::MountType(t.to_string()));
    }
    let destination = m.destination().to_string_lossy().into_owned();
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DocumentError::MountSource(destination.clone()))?;
    if let Some(pipe) = destination.strip_prefix(PIPE_PREFIX) {
        c.mapped_pipes.push(MappedPipe {
            container_pipe_name: pipe.to_string(),
            host_path: source,
            host_path_type: String::new(),
        });
    } else {
        let read_only = m
            .options()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o.eq_ignore_ascii_case("ro"));
        c.mapped_directories.push(MappedDirectory {
            host_path: source,
            host_path_type: String::new(),
            container_path: destination,
            read_only,
        });
    }
    Ok(())
}

fn clamp_i32(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Which stdio pipes HCS should create for a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StdioPipes {
    pub stdin: bool,
}

/// Builds the HcsCreateProcess document of a process.
pub fn process_parameters(
    process: &Process,
    pipes: StdioPipes,
) -> Result<ProcessParameters, DocumentError> {
    let command_line = match process.command_line().as_deref().filter(|c| !c.is_empty()) {
        // Already a Windows command line: escaping it again would change its meaning.
        Some(cl) => cl.to_string(),
        None => {
            let args = process.args().as_deref().unwrap_or_default();
            if args.is_empty() {
                return Err(DocumentError::NoCommand);
            }
            // argv[0] by the program-name rules (no escapes, quoted when it holds a blank
            // or a control character), the rest by the argument rules.
            spec::cmdline::join(args)?
        }
    };
    let terminal = process.terminal().unwrap_or(false);
    let mut environment = BTreeMap::new();
    for kv in process.env().as_deref().unwrap_or_default() {
        // As hcsshim: entries without a value are left out.
        if let Some((k, v)) = kv.split_once('=') {
            if !v.is_empty() {
                environment.insert(k.to_string(), v.to_string());
            }
        }
    }
    let console_size = match (terminal, process.console_size()) {
        (true, Some(b)) => vec![clamp_i32(b.height()), clamp_i32(b.width())],
        _ => Vec::new(),
    };
    Ok(ProcessParameters {
        command_line,
        user: process.user().username().clone().unwrap_or_default(),
        working_directory: path_string(process.cwd()),
        environment,
        emulate_console: terminal,
        create_std_in_pipe: pipes.stdin,
        create_std_out_pipe: true,
        // With a console, stderr is merged into the console output.
        create_std_err_pipe: !terminal,
        console_size,
        ..Default::default()
    })
}

fn path_string(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The layer id of a layer folder (see the module docs).
pub fn layer_id(folder: &str) -> String {
    let name = folder
        .rsplit(['\\', '/'])
        .find(|s| !s.is_empty())
        .unwrap_or(folder);
    if let Some(guid) = parse_guid(name) {
        return guid;
    }
    let digest = Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8: application-defined
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn parse_guid(s: &str) -> Option<String> {
    let s = s
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(s);
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    ok.then(|| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_without_a_command_line_join_with_argv0_by_the_program_name_rules() {
        let process = |args: &[&str]| {
            let mut p = Process::default();
            p.set_command_line(None);
            p.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
            process_parameters(&p, StdioPipes { stdin: false }).map(|pp| pp.command_line)
        };
        assert_eq!(
            process(&["cmd", "/c", "echo hi"]).unwrap(),
            r#"cmd /c "echo hi""#
        );
        // argv[0] has no escapes: its trailing backslash stays single inside the quotes,
        // while the same text as an argument has it doubled.
        assert_eq!(
            process(&[r"C:\my dir\", r"C:\my dir\"]).unwrap(),
            r#""C:\my dir\" "C:\my dir\\""#
        );
        // A control character ends an unquoted program name for CommandLineToArgvW.
        assert_eq!(process(&["a\u{1}b"]).unwrap(), "\"a\u{1}b\"");
        // No parser reads a `"` in a program name back: refused, not mangled.
        assert!(matches!(
            process(&[r#"say "hi""#]),
            Err(DocumentError::CommandLine(_))
        ));
    }

    #[test]
    fn layer_ids_are_guids() {
        assert_eq!(
            layer_id(r"C:\layers\{8E6B8B2B-1C5A-4A53-A2E3-0C6F1D1B2C3D}"),
            "8e6b8b2b-1c5a-4a53-a2e3-0c6f1d1b2c3d"
        );
        let id = layer_id(r"C:\ProgramData\docker\windowsfilter\abc123");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert_eq!(id, layer_id("/x/abc123/"));
        assert_ne!(id, layer_id(r"C:\w\abc124"));
    }
}
