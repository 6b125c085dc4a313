//! Serde types for the HCS v2 schema, as far as dockbridge uses it. Field names are exactly
//! those of hcsshim's `internal/hcs/schema2`; like Go's `omitempty`, zero values are left out
//! so the documents match what hcsshim sends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub major: i32,
    pub minor: i32,
}

impl Version {
    pub const V2_1: Version = Version { major: 2, minor: 1 };
}

/// The document passed to HcsCreateComputeSystem.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComputeSystem {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<Version>,
    /// The utility VM (hosting system) of a Hyper-V isolated container.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hosting_system_id: String,
    /// The container, when it runs inside a hosting system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_system: Option<HostedSystem>,
    /// The container, when it runs directly on the host (process isolation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub should_terminate_on_last_handle_closed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostedSystem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<Version>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_os: Option<GuestOs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapped_directories: Vec<MappedDirectory>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapped_pipes: Vec<MappedPipe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor: Option<Processor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<Networking>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GuestOs {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Storage {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Layer>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, rename = "QoS", skip_serializing_if = "Option::is_none")]
    pub qos: Option<StorageQoS>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Layer {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StorageQoS {
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub iops_maximum: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub bandwidth_maximum: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappedDirectory {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_path_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_path: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappedPipe {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_pipe_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_path_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    #[serde(rename = "SizeInMB", default, skip_serializing_if = "is_zero_u64")]
    pub size_in_mb: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Processor {
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub count: i32,
    /// Percent of the host's processors times 100 (1..=10000).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub maximum: i32,
    /// Relative weight (1..=10000).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub weight: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Networking {
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_unqualified_dns_query: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dns_search_list: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub network_shared_container_name: String,
    /// The HNS namespace the container joins.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_adapters: Vec<String>,
}

/// The document passed to HcsCreateProcess.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessParameters {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub application_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command_line: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command_args: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_directory: String,
    /// Ordered so documents are reproducible (Go's map encoding sorts keys too).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub restricted_token: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub emulate_console: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub create_std_in_pipe: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub create_std_out_pipe: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub create_std_err_pipe: bool,
    /// `[height, width]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub console_size: Vec<i32>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_existing_login: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_legacy_console: bool,
}

/// HcsGetProcessProperties' answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessStatus {
    #[serde(default)]
    pub process_id: u32,
    #[serde(default)]
    pub exited: bool,
    #[serde(default)]
    pub exit_code: u32,
    #[serde(default)]
    pub last_wait_result: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConsoleSize {
    pub height: u16,
    pub width: u16,
}

/// The settings of HcsModifyProcess.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessModifyRequest {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<ConsoleSize>,
}

/// The options of HcsSignalProcess for a Windows container (`CtrlC`, `CtrlBreak`,
/// `CtrlClose`, `CtrlLogOff`, `CtrlShutdown`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignalProcessOptions {
    pub signal: String,
}

/// The query of HcsGetComputeSystemProperties.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PropertyQuery {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub property_types: Vec<String>,
}

/// HcsGetComputeSystemProperties' answer (the parts dockbridge reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub stopped: bool,
    #[serde(default)]
    pub statistics: Option<Statistics>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statistics {
    #[serde(default)]
    pub uptime100ns: u64,
    #[serde(default)]
    pub processor: Option<ProcessorStats>,
    #[serde(default)]
    pub memory: Option<MemoryStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessorStats {
    #[serde(default)]
    pub total_runtime100ns: u64,
    #[serde(default)]
    pub runtime_user100ns: u64,
    #[serde(default)]
    pub runtime_kernel100ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemoryStats {
    #[serde(default)]
    pub memory_usage_commit_bytes: u64,
    #[serde(default)]
    pub memory_usage_commit_peak_bytes: u64,
    #[serde(default)]
    pub memory_usage_private_working_set_bytes: u64,
}

/// The error document HCS attaches to a failed operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultError {
    #[serde(default)]
    pub error: i32,
    #[serde(default)]
    pub error_message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_hcsshims() {
        let p = Statistics {
            uptime100ns: 1,
            processor: Some(ProcessorStats {
                total_runtime100ns: 2,
                ..Default::default()
            }),
            memory: None,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["Uptime100ns"], 1);
        assert_eq!(v["Processor"]["TotalRuntime100ns"], 2);
        let m = serde_json::to_value(Memory { size_in_mb: 5 }).unwrap();
        assert_eq!(m, serde_json::json!({"SizeInMB": 5}));
        let s = serde_json::to_value(Storage {
            qos: Some(StorageQoS {
                iops_maximum: 1,
                bandwidth_maximum: 0,
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s, serde_json::json!({"QoS": {"IopsMaximum": 1}}));
        let d = serde_json::to_value(ProcessParameters {
            create_std_in_pipe: true,
            console_size: vec![25, 80],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            d,
            serde_json::json!({"CreateStdInPipe": true, "ConsoleSize": [25, 80]})
        );
    }
}
