//! The cases, one module per area. Order here is run order.

use anyhow::{bail, Result};
use serde_json::Value;

use crate::runner::Case;

pub mod archive;
pub mod build;
pub mod cli;
pub mod containers;
pub mod daemon;
pub mod errors;
pub mod events;
pub mod exec;
pub mod health;
pub mod images;
pub mod lifecycle;
pub mod logs;
pub mod net_modes;
pub mod networks;
pub mod networks_v6;
pub mod ping;
pub mod registry;
pub mod sdk;
pub mod security;
pub mod streams;
pub mod system;
pub mod volumes;

/// Every case, in run order.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(ping::cases());
    v.extend(system::cases());
    v.extend(images::cases());
    v.extend(containers::cases());
    v.extend(lifecycle::cases());
    v.extend(streams::cases());
    v.extend(logs::cases());
    v.extend(exec::cases());
    v.extend(health::cases());
    v.extend(events::cases());
    v.extend(archive::cases());
    v.extend(networks::cases());
    v.extend(networks_v6::cases());
    v.extend(net_modes::cases());
    v.extend(volumes::cases());
    v.extend(security::cases());
    v.extend(registry::cases());
    v.extend(build::cases());
    v.extend(sdk::cases());
    v.extend(daemon::cases());
    v.extend(errors::cases());
    v.extend(cli::cases());
    v
}

/// Fails unless `hay` contains `needle`.
pub fn contains(what: &str, hay: &str, needle: &str) -> Result<()> {
    if !hay.contains(needle) {
        bail!("{what}: {hay:?} does not contain {needle:?}");
    }
    Ok(())
}

/// Fails unless `a == b`.
pub fn eq<T: PartialEq + std::fmt::Debug>(what: &str, a: T, b: T) -> Result<()> {
    if a != b {
        bail!("{what}: got {a:?}, want {b:?}");
    }
    Ok(())
}

/// A string field of a JSON value by JSON-pointer (`/State/Status`).
pub fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// An integer field by JSON-pointer.
pub fn i(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

/// A boolean field by JSON-pointer.
pub fn b(v: &Value, ptr: &str) -> Option<bool> {
    v.pointer(ptr).and_then(Value::as_bool)
}

/// The `Id`s of a JSON array of objects.
pub fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["Id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
