//! `docker network connect` and `disconnect`: the networks a container is configured for
//! live in its record (`NetworkingConfig.EndpointsConfig`, so every later start joins
//! them); a running container joins or leaves at once through the network provider.

use std::collections::HashMap;
use std::sync::Arc;

use spec::api::models::EndpointSettings;

use super::lifecycle::Transition;
use super::record::Record;
use super::{ContainerError, Manager, Result};

/// A user network as the API named it: its name (how the record keys it) and ID.
#[derive(Debug, Clone)]
pub struct NetworkRef {
    pub name: String,
    pub id: String,
}

fn configured(rec: &Record) -> HashMap<String, EndpointSettings> {
    rec.request
        .as_ref()
        .and_then(|b| b.networking_config.as_ref())
        .and_then(|c| c.endpoints_config.clone())
        .unwrap_or_default()
}

/// The network the container's mode names, if it is `net`.
fn is_primary(rec: &Record, net: &NetworkRef) -> bool {
    let mode = rec.host_config.network_mode.as_deref().unwrap_or("");
    mode == net.name || mode == net.id || (net.id.len() >= 12 && net.id.starts_with(mode))
}

/// dockerd's refusals for modes that cannot join another network. A stopped container
/// sharing another's namespace has the network recorded (dockerd checks that mode only
/// when it connects a running container; its starts never join such networks).
fn check_mode(rec: &Record) -> Result<()> {
    let mode = rec.host_config.network_mode.as_deref().unwrap_or("");
    match mode {
        "host" => Err(ContainerError::Forbidden(
            "container cannot be disconnected from host network or connected to host network"
                .into(),
        )),
        "none" => Err(ContainerError::Forbidden(
            "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
        )),
        m if m.starts_with("container:") && rec.state.status.is_running() => Err(ContainerError::InvalidParameter(
            "container sharing network namespace with another container or host cannot be connected to any other network".into(),
        )),
        _ => Ok(()),
    }
}

impl Manager {
    /// `POST /networks/{id}/connect` of a user network.
    pub async fn connect_network(
        self: &Arc<Self>,
        key: &str,
        net: &NetworkRef,
        settings: EndpointSettings,
    ) -> Result<()> {
        let c = self.get(key)?;
        let op = c.op.lock().await;
        let rec = c.record();
        check_mode(&rec)?;
        let mut eps = configured(&rec);
        let already = is_primary(&rec, net) || eps.keys().any(|k| *k == net.name || *k == net.id);
        if already {
            return Err(ContainerError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.name.trim_start_matches('/'),
                net.name
            )));
        }
        eps.insert(net.name.clone(), settings);
        if rec.state.status.is_running() {
            // The provider reads the aliases and `--ip` from the record as it will be.
            let mut next = rec.clone();
            next.request
                .get_or_insert_with(Default::default)
                .networking_config
                .get_or_insert_with(Default::default)
                .endpoints_config = Some(eps.clone());
            self.networks.connect(&next, &net.name).await?;
        }
        self.transition(&c, &op, Transition::NetworksChanged { endpoints: eps })
            .await?;
        Ok(())
    }

    /// `POST /networks/{id}/disconnect` of a user network.
    pub async fn disconnect_network(self: &Arc<Self>, key: &str, net: &NetworkRef) -> Result<()> {
        let c = self.get(key)?;
        let op = c.op.lock().await;
        let rec = c.record();
        if is_primary(&rec, net) {
            return Err(ContainerError::InvalidParameter(format!(
                "disconnecting a container from {}, the network its --network named, is not supported by dockbridge yet",
                net.name
            )));
        }
        let mut eps = configured(&rec);
        let before = eps.len();
        eps.retain(|k, _| *k != net.name && *k != net.id);
        if eps.len() == before {
            return Err(ContainerError::Forbidden(format!(
                "container {} is not connected to network {}",
                rec.id, net.name
            )));
        }
        if rec.state.status.is_running() {
            self.networks.disconnect(&rec, &net.id).await?;
        }
        self.transition(&c, &op, Transition::NetworksChanged { endpoints: eps })
            .await?;
        Ok(())
    }
}
