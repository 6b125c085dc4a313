//! The image config JSON (`application/vnd.docker.container.image.v1+json` and its OCI twin).
//!
//! `oci-spec`'s `ImageConfiguration` drops `ArgsEscaped`, `Healthcheck`, `OnBuild`, `Shell` and
//! every unknown field, but `ArgsEscaped` decides how a Windows command line is built, so
//! dockbridge parses the config with its own type and keeps what it does not know in `extra`
//! (so that re-serialising a config never loses a field).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid image config: {0}")]
    InvalidConfig(#[from] serde_json::Error),
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        reference: String,
        reason: &'static str,
    },
}

/// The whole image config document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfigFile {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootFs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<Value>>,
    /// Fields dockbridge does not interpret (`container`, `container_config`, `docker_version`, …).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ImageConfigFile {
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ImageError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The `config` section, or an empty one: an image without it is valid.
    pub fn container_config(&self) -> ContainerConfig {
        self.config.clone().unwrap_or_default()
    }

    /// The layer diff IDs, in order from the base layer up.
    pub fn diff_ids(&self) -> &[String] {
        self.rootfs
            .as_ref()
            .map(|r| r.diff_ids.as_slice())
            .unwrap_or(&[])
    }

    pub fn is_windows(&self) -> bool {
        self.os.eq_ignore_ascii_case("windows")
    }
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// The `config` section of an image config: what a container inherits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Windows only: the first element of Entrypoint (or Cmd) is already a full command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_args_escaped_and_unknown_fields() {
        let raw = br#"{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1",
            "config":{"Cmd":["cmd /S /C echo hi"],"ArgsEscaped":true,"Shell":["cmd","/S","/C"],"Foo":1},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"docker_version":"20.10"}"#;
        let cfg = ImageConfigFile::from_slice(raw).unwrap();
        assert!(cfg.is_windows());
        let c = cfg.container_config();
        assert_eq!(c.args_escaped, Some(true));
        assert_eq!(c.extra.get("Foo"), Some(&Value::from(1)));
        assert_eq!(cfg.extra.get("docker_version"), Some(&Value::from("20.10")));
        assert_eq!(cfg.diff_ids(), ["sha256:aa"]);
        let back: Value = serde_json::to_value(&cfg).unwrap();
        assert_eq!(back["config"]["ArgsEscaped"], Value::Bool(true));
        assert_eq!(back["os.version"], "10.0.17763.1");
        assert_eq!(back["docker_version"], "20.10");
    }

    #[test]
    fn rejects_wrong_types() {
        assert!(ImageConfigFile::from_slice(br#"{"config":{"Cmd":"not-a-list"}}"#).is_err());
    }
}
