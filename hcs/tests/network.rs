//! The HNS calls (`hcs::network::Hns`) against the simulator's in-memory HNS, loaded like
//! computenetwork.dll: the `nat` network found or created, endpoints with port mappings,
//! namespaces, and no handle or endpoint left behind on success or on an injected fault.

mod common;

use hcs::ffi::SimControl;
use hcs::network::{self, Guid, Hns, PortMapping, PROTOCOL_TCP};
use serde_json::Value;

/// The simulator is one per process: these tests take turns.
static SIM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn report(sim: &SimControl) -> Value {
    serde_json::from_str(&sim.report()).expect("report JSON")
}

fn setup(config: &str) -> (std::sync::MutexGuard<'static, ()>, SimControl, Hns) {
    let turn = SIM.lock().unwrap_or_else(|e| e.into_inner());
    let lib = common::sim_library();
    let sim = SimControl::load(&lib).expect("simulator controls");
    sim.reset();
    assert!(sim.configure(config));
    let hns = Hns::load(Some(&lib)).expect("HCN functions");
    (turn, sim, hns)
}

#[test]
fn nat_endpoint_namespace_lifecycle_closes_every_handle() {
    let (_turn, sim, hns) = setup("{}");
    let nat = hns
        .find_or_create_network(&network::nat_network("nat"))
        .expect("nat network");
    let (subnet, gateway) = nat.subnet().expect("subnet");
    assert_eq!((subnet, gateway), ("172.20.0.0/20", Some("172.20.0.1")));
    // Found, not created again.
    let again = hns
        .find_or_create_network(&network::nat_network("nat"))
        .unwrap();
    assert_eq!(again.id, nat.id);

    let doc = network::endpoint(
        &nat.id,
        "dockbridge-c1",
        &[PortMapping {
            protocol: PROTOCOL_TCP,
            internal_port: 80,
            external_port: 8080,
        }],
        &[],
        &[],
    );
    let ep = hns.create_endpoint(&doc).expect("endpoint");
    assert_eq!(ep.ip_configurations[0].ip_address, "172.20.0.2");
    assert_eq!(ep.gateway(), Some("172.20.0.1"));
    assert!(
        ep.mac_address.starts_with("00-15-5D-"),
        "{}",
        ep.mac_address
    );
    assert_eq!(ep.port_mappings(), doc.port_mappings());
    // The same host port for a second endpoint is HNS's to refuse.
    assert!(hns
        .create_endpoint(&network::endpoint(
            &nat.id,
            "dockbridge-c2",
            &doc.port_mappings(),
            &[],
            &[]
        ))
        .is_err());

    let ns = Guid::from_name("c1");
    hns.create_namespace(&ns, std::slice::from_ref(&ep.id))
        .expect("namespace");
    assert_eq!(
        hns.endpoints_named("dockbridge-c1").unwrap()[0].namespace,
        ns.to_string()
    );
    hns.delete_namespace(&ns).expect("delete namespace");
    hns.delete_endpoint(&ep.id).expect("delete endpoint");
    let e = hns.delete_endpoint(&ep.id).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let r = report(&sim);
    assert_eq!(r["hns"]["endpoints"], 0, "{r}");
    assert_eq!(r["hns"]["namespaces"], 0, "{r}");
    assert_eq!(sim.open_handles(), 0, "{r}");
    assert_eq!(r["documents"], 0, "every returned string freed: {r}");
}

#[test]
fn an_endpoint_that_cannot_be_read_back_is_deleted() {
    let (_turn, sim, hns) = setup(
        r#"{"faults":[{"function":"HcnQueryEndpointProperties","occurrence":1,"hresult":2147500037}]}"#,
    );
    let nat = hns
        .find_or_create_network(&network::nat_network("nat"))
        .unwrap();
    let e = hns
        .create_endpoint(&network::endpoint(&nat.id, "dockbridge-x", &[], &[], &[]))
        .unwrap_err();
    assert_eq!(e.hresult().map(|h| h.0 as u32), Some(0x8000_4005), "{e}");
    let r = report(&sim);
    assert_eq!(r["hns"]["endpoints_created"], 1, "{r}");
    assert_eq!(r["hns"]["endpoints"], 0, "{r}");
    assert_eq!(sim.open_handles(), 0, "{r}");
    assert_eq!(r["documents"], 0, "{r}");
}

#[test]
fn a_namespace_whose_endpoint_cannot_be_added_is_removed() {
    let (_turn, sim, hns) = setup("{}");
    let ns = Guid::from_name("lonely");
    let e = hns
        .create_namespace(&ns, &["5e1a0000-0000-4000-8000-0000000000ff".into()])
        .unwrap_err();
    assert_eq!(e.hresult(), Some(network::HCN_E_ENDPOINT_NOT_FOUND), "{e}");
    let r = report(&sim);
    assert_eq!(r["hns"]["namespaces"], 0, "{r}");
    assert_eq!(sim.open_handles(), 0, "{r}");
}
