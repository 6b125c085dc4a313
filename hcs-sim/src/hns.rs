//! An in-memory Host Network Service behind computenetwork.dll's HCN functions: networks
//! (NAT only, each with its own IPAM over its subnet), endpoints (an address, MAC, default
//! route and DNS assigned at create; port-mapping policies checked for host-port clashes),
//! namespaces (the endpoints a compute system joins) and the handles of all three, counted
//! like the compute handles. Every call is counted and fault-injectable by name
//! (`{"function":"HcnCreateEndpoint","occurrence":1}`), and failures carry an error
//! record as HNS returns them.
//!
//! Safe code; `exports` turns the C ABI into calls on [`Hns`] under the simulator's lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::model::{Hresult, E_HANDLE, E_INVALIDARG};

/// HCN_E_NETWORK_NOT_FOUND.
pub const HCN_E_NETWORK_NOT_FOUND: Hresult = 0x803B_0001_u32 as i32;
/// HCN_E_ENDPOINT_NOT_FOUND.
pub const HCN_E_ENDPOINT_NOT_FOUND: Hresult = 0x803B_0003_u32 as i32;
/// HCN_E_NAMESPACE_NOT_FOUND.
pub const HCN_E_NAMESPACE_NOT_FOUND: Hresult = 0x803B_000F_u32 as i32;
/// HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS): the simulator's answer to a name or host
/// port that is already taken.
pub const E_ALREADY_EXISTS: Hresult = 0x8007_00B7_u32 as i32;
/// The address pool is exhausted.
pub const E_NO_ADDRESS: Hresult = 0x8007_0005_u32 as i32;

/// Where the simulator puts the first NAT network when the create names no subnet
/// (HNS picks one from its own pool on a real host).
const DEFAULT_POOL: Ipv4Addr = Ipv4Addr::new(172, 20, 0, 0);
const DEFAULT_PREFIX: u8 = 20;

/// A failed call: the HRESULT and the error record handed back.
pub type Failure = (Hresult, String);

fn fail(hr: Hresult, message: impl Into<String>) -> Failure {
    let message = message.into();
    (
        hr,
        json!({"Success": false, "Error": message, "ErrorCode": hr as u32}).to_string(),
    )
}

struct Network {
    doc: Value,
    subnet: u32,
    prefix: u8,
    gateway: u32,
    used: BTreeSet<u32>,
}

struct Endpoint {
    doc: Value,
    network: String,
    ip: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Network,
    Endpoint,
    Namespace,
}

#[derive(Default)]
pub struct Hns {
    next_id: u64,
    next_handle: usize,
    networks: BTreeMap<String, Network>,
    endpoints: BTreeMap<String, Endpoint>,
    namespaces: BTreeMap<String, Vec<String>>,
    handles: HashMap<usize, (Kind, String)>,
    /// Endpoints ever created (a test's proof that the daemon made one).
    pub endpoints_created: u32,
}

fn parse_doc(settings: Option<&str>) -> Result<Value, Failure> {
    settings
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .filter(Value::is_object)
        .ok_or_else(|| fail(E_INVALIDARG, "invalid JSON settings"))
}

fn filter_of(query: Option<&str>) -> Result<Value, Failure> {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return Ok(Value::Null);
    };
    let q: Value = serde_json::from_str(q).map_err(|_| fail(E_INVALIDARG, "invalid query"))?;
    match q
        .get("Filter")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
    {
        Some(f) => serde_json::from_str(f).map_err(|_| fail(E_INVALIDARG, "invalid filter")),
        None => Ok(Value::Null),
    }
}

/// Whether `doc` matches every field of the filter (names case-insensitively).
fn matches(doc: &Value, filter: &Value) -> bool {
    let Some(f) = filter.as_object() else {
        return true;
    };
    f.iter().all(|(k, want)| match (doc.get(k), want) {
        (Some(Value::String(have)), Value::String(want)) => have.eq_ignore_ascii_case(want),
        (Some(have), want) => have == want,
        (None, _) => false,
    })
}

fn ip(v: u32) -> String {
    Ipv4Addr::from(v).to_string()
}

impl Hns {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("5e1a0000-0000-4000-8000-{:012x}", self.next_id)
    }

    fn open(&mut self, kind: Kind, id: String) -> usize {
        self.next_handle += 4;
        let h = 0x4000_0000 + self.next_handle;
        self.handles.insert(h, (kind, id));
        h
    }

    fn target(&self, handle: usize, kind: Kind) -> Result<String, Failure> {
        match self.handles.get(&handle) {
            Some((k, id)) if *k == kind => Ok(id.clone()),
            _ => Err(fail(E_HANDLE, "invalid handle")),
        }
    }

    pub fn close(&mut self, handle: usize) -> Hresult {
        if self.handles.remove(&handle).is_some() {
            0
        } else {
            E_HANDLE
        }
    }

    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }

    /// `id` as given, or a fresh one for the nil GUID.
    fn id_or_new(&mut self, id: &str) -> String {
        if id.is_empty() || id == "00000000-0000-0000-0000-000000000000" {
            self.new_id()
        } else {
            id.to_string()
        }
    }

    // ----- networks -----

    pub fn enumerate_networks(&self, query: Option<&str>) -> Result<String, Failure> {
        let filter = filter_of(query)?;
        let ids: Vec<&String> = self
            .networks
            .iter()
            .filter(|(_, n)| matches(&n.doc, &filter))
            .map(|(id, _)| id)
            .collect();
        Ok(json!(ids).to_string())
    }

    pub fn create_network(&mut self, id: &str, settings: Option<&str>) -> Result<usize, Failure> {
        let mut doc = parse_doc(settings)?;
        let name = doc
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            return Err(fail(E_INVALIDARG, "a network needs a Name"));
        }
        if !doc
            .get("Type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("NAT"))
        {
            return Err(fail(E_INVALIDARG, "the simulator has NAT networks only"));
        }
        if self
            .networks
            .values()
            .any(|n| n.doc["Name"] == name.as_str())
        {
            return Err(fail(E_ALREADY_EXISTS, format!("network {name} exists")));
        }
        let requested = doc
            .pointer("/Ipams/0/Subnets/0/IpAddressPrefix")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (subnet, prefix) = match requested {
            Some(p) => {
                let (a, l) = p
                    .split_once('/')
                    .ok_or_else(|| fail(E_INVALIDARG, "bad IpAddressPrefix"))?;
                let a: Ipv4Addr = a.parse().map_err(|_| fail(E_INVALIDARG, "bad address"))?;
                let l: u8 = l.parse().map_err(|_| fail(E_INVALIDARG, "bad prefix"))?;
                if !(8..=30).contains(&l) {
                    return Err(fail(E_INVALIDARG, "bad prefix length"));
                }
                (u32::from(a) & (u32::MAX << (32 - l)), l)
            }
            None => {
                let step = 1u32 << (32 - DEFAULT_PREFIX);
                let n = u32::try_from(self.networks.len()).unwrap_or(0);
                (u32::from(DEFAULT_POOL) + n * step, DEFAULT_PREFIX)
            }
        };
        let gateway = subnet + 1;
        let id = self.id_or_new(id);
        doc["ID"] = json!(id);
        doc["Ipams"] = json!([{"Type": "Static", "Subnets": [{
            "IpAddressPrefix": format!("{}/{prefix}", ip(subnet)),
            "Routes": [{"NextHop": ip(gateway), "DestinationPrefix": "0.0.0.0/0"}],
        }]}]);
        doc["SchemaVersion"] = json!({"Major": 2, "Minor": 0});
        self.networks.insert(
            id.clone(),
            Network {
                doc,
                subnet,
                prefix,
                gateway,
                used: BTreeSet::new(),
            },
        );
        Ok(self.open(Kind::Network, id))
    }

    pub fn open_network(&mut self, id: &str) -> Result<usize, Failure> {
        if !self.networks.contains_key(id) {
            return Err(fail(
                HCN_E_NETWORK_NOT_FOUND,
                format!("network {id} not found"),
            ));
        }
        Ok(self.open(Kind::Network, id.to_string()))
    }

    pub fn query_network(&self, handle: usize) -> Result<String, Failure> {
        let id = self.target(handle, Kind::Network)?;
        self.networks
            .get(&id)
            .map(|n| n.doc.to_string())
            .ok_or_else(|| fail(HCN_E_NETWORK_NOT_FOUND, "network deleted"))
    }

    // ----- endpoints -----

    pub fn enumerate_endpoints(&self, query: Option<&str>) -> Result<String, Failure> {
        let filter = filter_of(query)?;
        let ids: Vec<&String> = self
            .endpoints
            .iter()
            .filter(|(_, e)| matches(&e.doc, &filter))
            .map(|(id, _)| id)
            .collect();
        Ok(json!(ids).to_string())
    }

    fn host_ports(&self) -> BTreeSet<(u64, u64)> {
        self.endpoints
            .values()
            .flat_map(|e| port_mappings(&e.doc))
            .collect()
    }

    pub fn create_endpoint(
        &mut self,
        network_handle: usize,
        id: &str,
        settings: Option<&str>,
    ) -> Result<usize, Failure> {
        let network_id = self.target(network_handle, Kind::Network)?;
        let mut doc = parse_doc(settings)?;
        if doc
            .get("HostComputeNamespace")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Err(fail(E_INVALIDARG, "HostComputeNamespace is read only"));
        }
        let taken = self.host_ports();
        let mut mine = BTreeSet::new();
        for (proto, port) in port_mappings(&doc) {
            if port == 0 || !mine.insert((proto, port)) || taken.contains(&(proto, port)) {
                return Err(fail(
                    E_ALREADY_EXISTS,
                    format!("host port {port}/{proto} is not available"),
                ));
            }
        }
        let net = self
            .networks
            .get_mut(&network_id)
            .ok_or_else(|| fail(HCN_E_NETWORK_NOT_FOUND, "network deleted"))?;
        let size = 1u32 << (32 - net.prefix);
        // .0 is the subnet, .1 the gateway, the last the broadcast address.
        let addr = (2..size - 1)
            .map(|i| net.subnet + i)
            .find(|a| !net.used.contains(a))
            .ok_or_else(|| fail(E_NO_ADDRESS, "no free address in the subnet"))?;
        net.used.insert(addr);
        let (gateway, prefix) = (net.gateway, net.prefix);
        let id = self.id_or_new(id);
        let o = addr.to_be_bytes();
        doc["ID"] = json!(id);
        doc["HostComputeNetwork"] = json!(network_id);
        doc["IpConfigurations"] = json!([{"IpAddress": ip(addr), "PrefixLength": prefix}]);
        doc["MacAddress"] = json!(format!("00-15-5D-{:02X}-{:02X}-{:02X}", o[1], o[2], o[3]));
        doc["Routes"] = json!([{"NextHop": ip(gateway), "DestinationPrefix": "0.0.0.0/0"}]);
        if doc.pointer("/Dns/ServerList").is_none() {
            doc["Dns"]["ServerList"] = json!([ip(gateway)]);
        }
        doc["SchemaVersion"] = json!({"Major": 2, "Minor": 0});
        self.endpoints.insert(
            id.clone(),
            Endpoint {
                doc,
                network: network_id,
                ip: addr,
            },
        );
        self.endpoints_created += 1;
        Ok(self.open(Kind::Endpoint, id))
    }

    pub fn open_endpoint(&mut self, id: &str) -> Result<usize, Failure> {
        if !self.endpoints.contains_key(id) {
            return Err(fail(
                HCN_E_ENDPOINT_NOT_FOUND,
                format!("endpoint {id} not found"),
            ));
        }
        Ok(self.open(Kind::Endpoint, id.to_string()))
    }

    pub fn query_endpoint(&self, handle: usize) -> Result<String, Failure> {
        let id = self.target(handle, Kind::Endpoint)?;
        self.endpoints
            .get(&id)
            .map(|e| e.doc.to_string())
            .ok_or_else(|| fail(HCN_E_ENDPOINT_NOT_FOUND, "endpoint deleted"))
    }

    pub fn delete_endpoint(&mut self, id: &str) -> Result<(), Failure> {
        let e = self
            .endpoints
            .remove(id)
            .ok_or_else(|| fail(HCN_E_ENDPOINT_NOT_FOUND, format!("endpoint {id} not found")))?;
        if let Some(n) = self.networks.get_mut(&e.network) {
            n.used.remove(&e.ip);
        }
        for eps in self.namespaces.values_mut() {
            eps.retain(|x| x != id);
        }
        Ok(())
    }

    // ----- namespaces -----

    pub fn create_namespace(&mut self, id: &str, settings: Option<&str>) -> Result<usize, Failure> {
        parse_doc(settings)?;
        let id = self.id_or_new(id);
        if self.namespaces.contains_key(&id) {
            return Err(fail(E_ALREADY_EXISTS, format!("namespace {id} exists")));
        }
        self.namespaces.insert(id.clone(), Vec::new());
        Ok(self.open(Kind::Namespace, id))
    }

    pub fn modify_namespace(
        &mut self,
        handle: usize,
        settings: Option<&str>,
    ) -> Result<(), Failure> {
        let ns = self.target(handle, Kind::Namespace)?;
        let req = parse_doc(settings)?;
        if req["ResourceType"] != "Endpoint" || req["RequestType"] != "Add" {
            return Err(fail(E_INVALIDARG, "the simulator adds endpoints only"));
        }
        let ep = req
            .pointer("/Settings/EndpointId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let e = self
            .endpoints
            .get_mut(&ep)
            .ok_or_else(|| fail(HCN_E_ENDPOINT_NOT_FOUND, format!("endpoint {ep} not found")))?;
        e.doc["HostComputeNamespace"] = json!(ns);
        let eps = self
            .namespaces
            .get_mut(&ns)
            .ok_or_else(|| fail(HCN_E_NAMESPACE_NOT_FOUND, "namespace deleted"))?;
        eps.push(ep);
        Ok(())
    }

    pub fn delete_namespace(&mut self, id: &str) -> Result<(), Failure> {
        let eps = self.namespaces.remove(id).ok_or_else(|| {
            fail(
                HCN_E_NAMESPACE_NOT_FOUND,
                format!("namespace {id} not found"),
            )
        })?;
        for ep in eps {
            if let Some(e) = self.endpoints.get_mut(&ep) {
                e.doc["HostComputeNamespace"] = json!("");
            }
        }
        Ok(())
    }

    /// Whether a compute system may name `id` as its `Networking.Namespace`.
    pub fn namespace_exists(&self, id: &str) -> bool {
        self.namespaces.keys().any(|k| k.eq_ignore_ascii_case(id))
    }

    pub fn report(&self) -> Value {
        json!({
            "networks": self.networks.values().map(|n| n.doc.clone()).collect::<Vec<_>>(),
            "endpoints": self.endpoints.len(),
            "endpoints_created": self.endpoints_created,
            "endpoint_docs": self.endpoints.values().map(|e| e.doc.clone()).collect::<Vec<_>>(),
            "namespaces": self.namespaces.len(),
            "handles": self.handles.len(),
        })
    }
}

/// `(protocol, external port)` of each port-mapping policy.
fn port_mappings(doc: &Value) -> Vec<(u64, u64)> {
    doc.get("Policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p["Type"] == "PortMapping")
        .map(|p| {
            (
                p.pointer("/Settings/Protocol")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                p.pointer("/Settings/ExternalPort")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_network_endpoints_get_addresses_and_release_them() {
        let mut h = Hns::default();
        let nh = h
            .create_network("", Some(r#"{"Name":"nat","Type":"NAT"}"#))
            .unwrap();
        let net: Value = serde_json::from_str(&h.query_network(nh).unwrap()).unwrap();
        assert_eq!(
            net["Ipams"][0]["Subnets"][0]["IpAddressPrefix"],
            "172.20.0.0/20"
        );
        let ids: Vec<String> = serde_json::from_str(
            &h.enumerate_networks(Some(r#"{"Filter":"{\"Name\":\"NAT\"}"}"#))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(ids.len(), 1);
        let ep = |p: u16| {
            format!(
                r#"{{"Name":"c","Policies":[{{"Type":"PortMapping","Settings":{{"Protocol":6,"InternalPort":80,"ExternalPort":{p}}}}}]}}"#
            )
        };
        let e1 = h.create_endpoint(nh, "", Some(&ep(8080))).unwrap();
        let d1: Value = serde_json::from_str(&h.query_endpoint(e1).unwrap()).unwrap();
        assert_eq!(d1["IpConfigurations"][0]["IpAddress"], "172.20.0.2");
        assert_eq!(d1["Routes"][0]["NextHop"], "172.20.0.1");
        // The same host port twice is refused.
        assert_eq!(
            h.create_endpoint(nh, "", Some(&ep(8080))).unwrap_err().0,
            E_ALREADY_EXISTS
        );
        let e2 = h.create_endpoint(nh, "", Some(&ep(8081))).unwrap();
        let d2: Value = serde_json::from_str(&h.query_endpoint(e2).unwrap()).unwrap();
        assert_eq!(d2["IpConfigurations"][0]["IpAddress"], "172.20.0.3");
        let id1 = d1["ID"].as_str().unwrap().to_string();
        let ns = h.create_namespace("", Some("{}")).unwrap();
        let add =
            json!({"ResourceType":"Endpoint","RequestType":"Add","Settings":{"EndpointId":id1}});
        h.modify_namespace(ns, Some(&add.to_string())).unwrap();
        h.delete_endpoint(&id1).unwrap();
        assert_eq!(
            h.delete_endpoint(&id1).unwrap_err().0,
            HCN_E_ENDPOINT_NOT_FOUND
        );
        // The freed address is handed out again.
        let e3 = h.create_endpoint(nh, "", Some(&ep(8080))).unwrap();
        let d3: Value = serde_json::from_str(&h.query_endpoint(e3).unwrap()).unwrap();
        assert_eq!(d3["IpConfigurations"][0]["IpAddress"], "172.20.0.2");
        for handle in [nh, e1, e2, e3, ns] {
            assert_eq!(h.close(handle), 0);
        }
        assert_eq!(h.close(nh), E_HANDLE);
        assert_eq!(h.open_handles(), 0);
    }
}
