//! Windows container networking through the Host Network Service's HCN API
//! (computenetwork.dll, [`crate::ffi::network`]): the `nat` network, an endpoint per
//! container (address, MAC, gateway, DNS and port-mapping policies chosen by HNS), and the
//! HNS namespace the compute system joins (`Container.Networking.Namespace`, as hcsshim
//! does for process-isolated containers on schema 2).
//!
//! The documents are hcsshim's `hcn` package schemas (schema 2.0); building them is pure
//! ([`nat_network`], [`endpoint`], [`PortMapping`]) and unit-tested. [`Hns`] makes the calls
//! and closes every handle it opens on every path; an endpoint whose properties cannot be
//! read back is deleted again.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::HResult;
use crate::ffi::network::{CallError, NetworkLibrary, DEFAULT_NETWORK_LIBRARY};
use crate::ffi::LoadError;

/// HCN_E_NETWORK_NOT_FOUND.
pub const HCN_E_NETWORK_NOT_FOUND: HResult = HResult(0x803B_0001_u32 as i32);
/// HCN_E_ENDPOINT_NOT_FOUND.
pub const HCN_E_ENDPOINT_NOT_FOUND: HResult = HResult(0x803B_0003_u32 as i32);
/// HCN_E_NAMESPACE_NOT_FOUND (hcsshim's "Namespace not found" errors carry this code).
pub const HCN_E_NAMESPACE_NOT_FOUND: HResult = HResult(0x803B_000F_u32 as i32);

/// A GUID as the HCN functions take it (`GUID` of guiddef.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Guid {
    pub data1: u32,
    pub data2: u16,
    pub data3: u16,
    pub data4: [u8; 8],
}

impl Guid {
    /// The nil GUID: HNS picks the object's ID (what hcsshim passes for networks and
    /// endpoints).
    pub const NIL: Guid = Guid {
        data1: 0,
        data2: 0,
        data3: 0,
        data4: [0; 8],
    };

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, with or without braces, any case.
    pub fn parse(s: &str) -> Option<Guid> {
        let s = s.trim_start_matches('{').trim_end_matches('}');
        let parts: Vec<&str> = s.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        if parts.len() != 5
            || parts
                .iter()
                .zip(lens)
                .any(|(p, l)| p.len() != l || !p.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return None;
        }
        let hex = |p: &str| u64::from_str_radix(p, 16).ok();
        let tail = format!("{}{}", parts[3], parts[4]);
        let mut data4 = [0u8; 8];
        for (i, b) in data4.iter_mut().enumerate() {
            *b = u8::from_str_radix(tail.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Guid {
            data1: u32::try_from(hex(parts[0])?).ok()?,
            data2: u16::try_from(hex(parts[1])?).ok()?,
            data3: u16::try_from(hex(parts[2])?).ok()?,
            data4,
        })
    }

    /// A stable name-based GUID (version 8, RFC 4122 variant): the HNS namespace of a
    /// container is named after it, so a restarted daemon can find and remove it.
    pub fn from_name(name: &str) -> Guid {
        let d = Sha256::digest(name.as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        let mut data4 = [0u8; 8];
        data4.copy_from_slice(&b[8..]);
        Guid {
            data1: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            data2: u16::from_be_bytes([b[4], b[5]]),
            data3: u16::from_be_bytes([b[6], b[7]]),
            data4,
        }
    }
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.data4;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            self.data1, self.data2, self.data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
        )
    }
}

// ----- schemas (hcsshim hcn, schema 2.0) -----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SchemaVersion {
    pub major: u32,
    pub minor: u32,
}

pub const SCHEMA_V2: SchemaVersion = SchemaVersion { major: 2, minor: 0 };

impl Default for SchemaVersion {
    /// The HCN schema dockbridge speaks (2.0).
    fn default() -> Self {
        SCHEMA_V2
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Route {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub next_hop: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination_prefix: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subnet {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip_address_prefix: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub r#type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<Subnet>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dns {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_list: Vec<String>,
}

impl Dns {
    fn is_empty(&self) -> bool {
        self.domain.is_empty() && self.search.is_empty() && self.server_list.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostComputeNetwork {
    #[serde(rename = "ID", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "Name", default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "Type", default, skip_serializing_if = "String::is_empty")]
    pub r#type: String,
    #[serde(rename = "Ipams", default, skip_serializing_if = "Vec::is_empty")]
    pub ipams: Vec<Ipam>,
    #[serde(rename = "SchemaVersion", default = "schema_v2")]
    pub schema_version: SchemaVersion,
}

fn schema_v2() -> SchemaVersion {
    SCHEMA_V2
}

impl HostComputeNetwork {
    /// The first subnet HNS gave the network, and its gateway (the next hop of its
    /// default route).
    pub fn subnet(&self) -> Option<(&str, Option<&str>)> {
        let s = self.ipams.iter().flat_map(|i| i.subnets.iter()).next()?;
        let gw = s
            .routes
            .iter()
            .find(|r| r.destination_prefix == "0.0.0.0/0")
            .map(|r| r.next_hop.as_str());
        Some((s.ip_address_prefix.as_str(), gw))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointPolicy {
    pub r#type: String,
    pub settings: serde_json::Value,
}

/// hcsshim's `PortMappingPolicySetting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortMapping {
    /// IANA protocol number: 6 TCP, 17 UDP.
    pub protocol: u32,
    pub internal_port: u16,
    pub external_port: u16,
}

pub const PROTOCOL_TCP: u32 = 6;
pub const PROTOCOL_UDP: u32 = 17;

impl PortMapping {
    pub fn policy(&self) -> EndpointPolicy {
        EndpointPolicy {
            r#type: "PortMapping".into(),
            // A struct of integers always serialises.
            settings: serde_json::to_value(self).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip_address: String,
    #[serde(default)]
    pub prefix_length: u8,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostComputeEndpoint {
    #[serde(rename = "ID", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "Name", default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(
        rename = "HostComputeNetwork",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub network: String,
    #[serde(
        rename = "HostComputeNamespace",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub namespace: String,
    #[serde(rename = "Policies", default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<EndpointPolicy>,
    #[serde(
        rename = "IpConfigurations",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_configurations: Vec<IpConfig>,
    #[serde(rename = "Dns", default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
    #[serde(rename = "Routes", default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(
        rename = "MacAddress",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub mac_address: String,
    #[serde(rename = "SchemaVersion", default = "schema_v2")]
    pub schema_version: SchemaVersion,
}

impl HostComputeEndpoint {
    /// The port mappings among the endpoint's policies.
    pub fn port_mappings(&self) -> Vec<PortMapping> {
        self.policies
            .iter()
            .filter(|p| p.r#type == "PortMapping")
            .filter_map(|p| serde_json::from_value(p.settings.clone()).ok())
            .collect()
    }

    /// The gateway: the next hop of the default route.
    pub fn gateway(&self) -> Option<&str> {
        self.routes
            .iter()
            .find(|r| r.destination_prefix == "0.0.0.0/0")
            .map(|r| r.next_hop.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Query {
    schema_version: SchemaVersion,
    flags: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    filter: String,
}

/// `HostComputeQuery` JSON with a filter (`{"Name": …}`); `None` matches everything.
pub fn query(filter: Option<&serde_json::Value>) -> String {
    let q = Query {
        schema_version: SCHEMA_V2,
        flags: 0,
        filter: filter.map(|f| f.to_string()).unwrap_or_default(),
    };
    serde_json::to_string(&q).unwrap_or_default()
}

/// The `nat` network dockerd creates when HNS has none: type NAT, subnet left to HNS.
pub fn nat_network(name: &str) -> HostComputeNetwork {
    HostComputeNetwork {
        name: name.into(),
        r#type: "NAT".into(),
        ..HostComputeNetwork::default()
    }
}

/// The endpoint document for a container on `network_id`: HNS assigns its address, MAC,
/// gateway and DNS; `ports` become port-mapping policies; `dns_servers`/`dns_search`
/// override what HNS would give (`--dns`, `--dns-search`).
pub fn endpoint(
    network_id: &str,
    name: &str,
    ports: &[PortMapping],
    dns_servers: &[String],
    dns_search: &[String],
) -> HostComputeEndpoint {
    HostComputeEndpoint {
        name: name.into(),
        network: network_id.into(),
        policies: ports.iter().map(PortMapping::policy).collect(),
        dns: Dns {
            server_list: dns_servers.to_vec(),
            search: dns_search.to_vec(),
            ..Dns::default()
        },
        ..HostComputeEndpoint::default()
    }
}

/// A failed HNS call, with the HNS error record when there was one.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    NotAvailable(#[from] LoadError),
    #[error("{call}: {hresult}{}", record.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Call {
        call: &'static str,
        hresult: HResult,
        record: Option<String>,
    },
    #[error("{call}: invalid answer from HNS: {message}")]
    Answer { call: &'static str, message: String },
}

impl NetworkError {
    pub fn hresult(&self) -> Option<HResult> {
        match self {
            Self::Call { hresult, .. } => Some(*hresult),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.hresult().is_some_and(|h| {
            h == HCN_E_ENDPOINT_NOT_FOUND
                || h == HCN_E_NETWORK_NOT_FOUND
                || h == HCN_E_NAMESPACE_NOT_FOUND
                || h == HResult::ERROR_NOT_FOUND
        })
    }
}

fn call_err(call: &'static str) -> impl FnOnce(CallError) -> NetworkError {
    move |e| NetworkError::Call {
        call,
        hresult: e.hresult,
        record: e.record,
    }
}

fn parse<T: for<'de> Deserialize<'de>>(call: &'static str, s: &str) -> Result<T, NetworkError> {
    serde_json::from_str(s).map_err(|e| NetworkError::Answer {
        call,
        message: e.to_string(),
    })
}

fn guid(call: &'static str, s: &str) -> Result<Guid, NetworkError> {
    Guid::parse(s).ok_or_else(|| NetworkError::Answer {
        call,
        message: format!("not a GUID: {s:?}"),
    })
}

/// The HCN API, loaded.
pub struct Hns {
    lib: NetworkLibrary,
}

impl Hns {
    /// Loads `library` (the `--hcs-library`, which then also provides the HCN functions),
    /// else computenetwork.dll on Windows.
    pub fn load(library: Option<&Path>) -> Result<Self, LoadError> {
        let path = match library {
            Some(p) => p,
            None if cfg!(windows) => Path::new(DEFAULT_NETWORK_LIBRARY),
            None => return Err(LoadError::Unsupported(
                "computenetwork.dll exists only on Windows; pass an HCS library with --hcs-library"
                    .into(),
            )),
        };
        Ok(Self {
            lib: NetworkLibrary::load(path)?,
        })
    }

    /// The networks called `name`.
    pub fn networks_named(&self, name: &str) -> Result<Vec<HostComputeNetwork>, NetworkError> {
        const CALL: &str = "HcnEnumerateNetworks";
        let q = query(Some(&serde_json::json!({ "Name": name })));
        let ids: Vec<String> = parse(
            CALL,
            &self.lib.enumerate_networks(&q).map_err(call_err(CALL))?,
        )?;
        let mut out = Vec::new();
        for id in ids {
            let h = self
                .lib
                .open_network(&guid(CALL, &id)?)
                .map_err(call_err("HcnOpenNetwork"))?;
            let props = self.lib.query_network(&h, &query(None));
            self.lib.close_network(h);
            let n: HostComputeNetwork = parse(
                "HcnQueryNetworkProperties",
                &props.map_err(call_err("HcnQueryNetworkProperties"))?,
            )?;
            // HNS filters already; a stand-in that does not must not hand out others.
            if n.name.eq_ignore_ascii_case(name) {
                out.push(n);
            }
        }
        Ok(out)
    }

    pub fn create_network(
        &self,
        doc: &HostComputeNetwork,
    ) -> Result<HostComputeNetwork, NetworkError> {
        let settings = serde_json::to_string(doc).unwrap_or_default();
        let h = self
            .lib
            .create_network(&Guid::NIL, &settings)
            .map_err(call_err("HcnCreateNetwork"))?;
        let props = self.lib.query_network(&h, &query(None));
        self.lib.close_network(h);
        parse(
            "HcnQueryNetworkProperties",
            &props.map_err(call_err("HcnQueryNetworkProperties"))?,
        )
    }

    /// The network called `name`, created from `doc` when HNS has none.
    pub fn find_or_create_network(
        &self,
        doc: &HostComputeNetwork,
    ) -> Result<HostComputeNetwork, NetworkError> {
        if let Some(n) = self.networks_named(&doc.name)?.into_iter().next() {
            return Ok(n);
        }
        self.create_network(doc)
    }

    /// Creates the endpoint and reads back what HNS assigned (ID, address, MAC, routes,
    /// DNS). An endpoint that cannot be read back is deleted again.
    pub fn create_endpoint(
        &self,
        doc: &HostComputeEndpoint,
    ) -> Result<HostComputeEndpoint, NetworkError> {
        let network = self
            .lib
            .open_network(&guid("HcnOpenNetwork", &doc.network)?)
            .map_err(call_err("HcnOpenNetwork"))?;
        let settings = serde_json::to_string(doc).unwrap_or_default();
        let created = self.lib.create_endpoint(&network, &Guid::NIL, &settings);
        self.lib.close_network(network);
        let ep = created.map_err(call_err("HcnCreateEndpoint"))?;
        let props = self.lib.query_endpoint(&ep, &query(None));
        self.lib.close_endpoint(ep);
        let read = props
            .map_err(call_err("HcnQueryEndpointProperties"))
            .and_then(|p| parse::<HostComputeEndpoint>("HcnQueryEndpointProperties", &p));
        match read {
            Ok(e) if Guid::parse(&e.id).is_some() => Ok(e),
            other => {
                // Not knowing its ID, find it by its (unique) name to delete it.
                if let Ok(all) = self.endpoints_named(&doc.name) {
                    for e in all {
                        let _ = self.delete_endpoint(&e.id);
                    }
                }
                other.and_then(|e| {
                    Err(NetworkError::Answer {
                        call: "HcnQueryEndpointProperties",
                        message: format!("endpoint without an ID: {:?}", e.id),
                    })
                })
            }
        }
    }

    /// Every endpoint (with its properties) whose name is `name`.
    pub fn endpoints_named(&self, name: &str) -> Result<Vec<HostComputeEndpoint>, NetworkError> {
        Ok(self
            .endpoints()?
            .into_iter()
            .filter(|e| e.name == name)
            .collect())
    }

    /// Every endpoint HNS has, with its properties.
    pub fn endpoints(&self) -> Result<Vec<HostComputeEndpoint>, NetworkError> {
        const CALL: &str = "HcnEnumerateEndpoints";
        let ids: Vec<String> = parse(
            CALL,
            &self
                .lib
                .enumerate_endpoints(&query(None))
                .map_err(call_err(CALL))?,
        )?;
        let mut out = Vec::new();
        for id in ids {
            // Another client can delete an endpoint between the listing and the open.
            let Ok(h) = self.lib.open_endpoint_by_id(&guid(CALL, &id)?) else {
                continue;
            };
            let props = self.lib.query_endpoint(&h, &query(None));
            self.lib.close_endpoint(h);
            if let Ok(p) = props {
                out.push(parse("HcnQueryEndpointProperties", &p)?);
            }
        }
        Ok(out)
    }

    pub fn delete_endpoint(&self, id: &str) -> Result<(), NetworkError> {
        self.lib
            .delete_endpoint(&guid("HcnDeleteEndpoint", id)?)
            .map_err(call_err("HcnDeleteEndpoint"))
    }

    /// Creates the HNS namespace `id` holding `endpoints` (what the compute system's
    /// `Networking.Namespace` names). Nothing is left behind on failure.
    pub fn create_namespace(&self, id: &Guid, endpoints: &[String]) -> Result<(), NetworkError> {
        let settings = serde_json::json!({
            "ID": id.to_string(),
            "Type": "HostDefault",
            "SchemaVersion": SCHEMA_V2,
        })
        .to_string();
        let ns = self
            .lib
            .create_namespace(id, &settings)
            .map_err(call_err("HcnCreateNamespace"))?;
        let mut result = Ok(());
        for e in endpoints {
            let add = serde_json::json!({
                "ResourceType": "Endpoint",
                "RequestType": "Add",
                "Settings": {"EndpointId": e},
            })
            .to_string();
            if let Err(err) = self.lib.modify_namespace(&ns, &add) {
                result = Err(call_err("HcnModifyNamespace")(err));
                break;
            }
        }
        self.lib.close_namespace(ns);
        if result.is_err() {
            let _ = self.delete_namespace(id);
        }
        result
    }

    pub fn delete_namespace(&self, id: &Guid) -> Result<(), NetworkError> {
        self.lib
            .delete_namespace(id)
            .map_err(call_err("HcnDeleteNamespace"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_parse_and_print_as_hcn_expects() {
        let g = Guid::parse("{8E6B8B2B-1C5A-4A53-A2E3-0C6F1D1B2C3D}").unwrap();
        assert_eq!(g.data1, 0x8e6b8b2b);
        assert_eq!(g.data4[0], 0xa2);
        assert_eq!(g.to_string(), "8e6b8b2b-1c5a-4a53-a2e3-0c6f1d1b2c3d");
        assert_eq!(Guid::parse(&g.to_string()), Some(g));
        assert_eq!(
            Guid::NIL.to_string(),
            "00000000-0000-0000-0000-000000000000"
        );
        for bad in [
            "",
            "8e6b8b2b-1c5a-4a53-a2e3",
            "8e6b8b2b-1c5a-4a53-a2e3-0c6f1d1b2c3g",
        ] {
            assert_eq!(Guid::parse(bad), None, "{bad}");
        }
        let a = Guid::from_name("dockbridge-namespace abc");
        assert_eq!(a, Guid::from_name("dockbridge-namespace abc"));
        assert_ne!(a, Guid::from_name("dockbridge-namespace abd"));
        assert_eq!(&a.to_string()[14..15], "8");
    }

    #[test]
    fn endpoint_document_has_hcn_field_names_and_port_policies() {
        let doc = endpoint(
            "0a0b0c0d-0000-0000-0000-000000000001",
            "dockbridge-c1",
            &[
                PortMapping {
                    protocol: PROTOCOL_TCP,
                    internal_port: 80,
                    external_port: 8080,
                },
                PortMapping {
                    protocol: PROTOCOL_UDP,
                    internal_port: 53,
                    external_port: 5353,
                },
            ],
            &[],
            &["corp.example".into()],
        );
        let v = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "Name": "dockbridge-c1",
                "HostComputeNetwork": "0a0b0c0d-0000-0000-0000-000000000001",
                "Policies": [
                    {"Type": "PortMapping", "Settings": {"Protocol": 6, "InternalPort": 80, "ExternalPort": 8080}},
                    {"Type": "PortMapping", "Settings": {"Protocol": 17, "InternalPort": 53, "ExternalPort": 5353}}
                ],
                "Dns": {"Search": ["corp.example"]},
                "SchemaVersion": {"Major": 2, "Minor": 0}
            })
        );
        let back: HostComputeEndpoint = serde_json::from_value(v).unwrap();
        assert_eq!(back.port_mappings().len(), 2);
        assert_eq!(
            serde_json::to_value(nat_network("nat")).unwrap(),
            serde_json::json!({"Name": "nat", "Type": "NAT", "SchemaVersion": {"Major": 2, "Minor": 0}})
        );
        assert_eq!(
            query(Some(&serde_json::json!({"Name": "nat"}))),
            r#"{"SchemaVersion":{"Major":2,"Minor":0},"Flags":0,"Filter":"{\"Name\":\"nat\"}"}"#
        );
    }

    #[test]
    fn subnet_and_gateway_come_from_the_default_route() {
        let n: HostComputeNetwork = serde_json::from_value(serde_json::json!({
            "ID": "x", "Name": "nat", "Type": "NAT",
            "Ipams": [{"Type": "Static", "Subnets": [{"IpAddressPrefix": "172.20.0.0/20",
                "Routes": [{"NextHop": "172.20.0.1", "DestinationPrefix": "0.0.0.0/0"}]}]}]
        }))
        .unwrap();
        assert_eq!(n.subnet(), Some(("172.20.0.0/20", Some("172.20.0.1"))));
        assert_eq!(HostComputeNetwork::default().subnet(), None);
    }
}
