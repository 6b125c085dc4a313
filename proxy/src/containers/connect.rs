//! `docker network connect` and `disconnect`: the networks a container is configured for
//! live in its record (`NetworkingConfig.EndpointsConfig`, so every later start joins
//! them); a running container joins or leaves at once through the network provider.

use std::collections::HashMap;
use std::sync::Arc;

use spec::api::models::EndpointSettings;

use super::lifecycle::Transition;
use super::record::Record;
use super::{ContainerError, Manager, Result};

/// A network as the API named it: its name (how the record keys it) and ID. The default
/// bridge is `bridge`.
#[derive(Debug, Clone)]
pub struct NetworkRef {
    pub name: String,
    pub id: String,
}

impl NetworkRef {
    fn is_default_bridge(&self) -> bool {
        self.name == crate::networks::bridge::BRIDGE_KEY
    }
}

fn configured(rec: &Record) -> HashMap<String, EndpointSettings> {
    rec.request
        .as_ref()
        .and_then(|b| b.networking_config.as_ref())
        .and_then(|c| c.endpoints_config.clone())
        .unwrap_or_default()
}

/// The network the container's mode names is `net` (whether or not it left it since).
fn is_primary(rec: &Record, net: &NetworkRef) -> bool {
    let mode = rec.host_config.network_mode.as_deref().unwrap_or("");
    if net.is_default_bridge() {
        return matches!(mode, "" | "default" | "bridge") || mode == net.id;
    }
    mode == net.name || mode == net.id || (net.id.len() >= 12 && net.id.starts_with(mode))
}

/// Keys of `eps` that name `net`; the create-time `default` key names the bridge of a
/// container whose mode is the default bridge.
fn names(k: &str, net: &NetworkRef) -> bool {
    k == net.name || k == net.id || (net.is_default_bridge() && k == "default")
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

/// dockerd's refusals of endpoint settings on the default bridge (running or not).
fn check_default_bridge(settings: &EndpointSettings) -> Result<()> {
    let ip = settings.ipam_config.as_ref().is_some_and(|c| {
        [&c.ipv4_address, &c.ipv6_address]
            .into_iter()
            .any(|a| a.as_deref().is_some_and(|a| !a.is_empty()))
    });
    if ip {
        return Err(ContainerError::InvalidParameter(
            "user specified IP address is supported on user defined networks only".into(),
        ));
    }
    if settings.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(ContainerError::InvalidParameter(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    Ok(())
}

impl Manager {
    /// `POST /networks/{id}/connect`.
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
        if net.is_default_bridge() {
            check_default_bridge(&settings)?;
        }
        let running = rec.state.status.is_running();
        let mut eps = configured(&rec);
        let primary = is_primary(&rec, net);
        let on = if primary {
            !rec.network_mode_left
        } else {
            eps.keys().any(|k| names(k, net))
        };
        // dockerd refuses a second endpoint of a running container; a stopped one's
        // settings are replaced.
        if on && running {
            return Err(ContainerError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.name.trim_start_matches('/'),
                net.name
            )));
        }
        eps.retain(|k, _| !names(k, net));
        eps.insert(net.name.clone(), settings);
        let mode_left = rec.network_mode_left && !primary;
        if running {
            // The provider reads the aliases and `--ip` from the record as it will be.
            let mut next = rec.clone();
            next.network_mode_left = mode_left;
            next.request
                .get_or_insert_with(Default::default)
                .networking_config
                .get_or_insert_with(Default::default)
                .endpoints_config = Some(eps.clone());
            self.networks.connect(&next, &net.name).await?;
            if !net.is_default_bridge() {
                self.use_embedded_dns(&rec)?;
            }
        }
        self.transition(
            &c,
            &op,
            Transition::NetworksChanged {
                endpoints: eps,
                mode_left,
            },
        )
        .await?;
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`, also from the network the container's mode names
    /// (dockerd keeps the mode; later starts do not join it). `force`: dockerd then also
    /// removes an endpoint whose container is gone; dockbridge keeps none such.
    pub async fn disconnect_network(
        self: &Arc<Self>,
        key: &str,
        net: &NetworkRef,
        force: bool,
    ) -> Result<()> {
        let c = match self.get(key) {
            Err(ContainerError::NotFound(_)) if force => {
                return Err(ContainerError::NotFound(format!(
                    "endpoint {key} not found"
                )))
            }
            other => other?,
        };
        let op = c.op.lock().await;
        let rec = c.record();
        let running = rec.state.status.is_running();
        let mut eps = configured(&rec);
        let primary = is_primary(&rec, net) && !rec.network_mode_left;
        let before = eps.len();
        eps.retain(|k, _| !names(k, net));
        if !primary && eps.len() == before {
            // dockerd's words, as a plain (500) error.
            let the = if running { "" } else { "the " };
            return Err(ContainerError::Internal(format!(
                "container {} is not connected to {the}network {}",
                rec.id, net.name
            )));
        }
        let mode_left = rec.network_mode_left || primary;
        if running {
            let id = if net.is_default_bridge() { "" } else { &net.id };
            self.networks.disconnect(&rec, id).await?;
        }
        self.transition(
            &c,
            &op,
            Transition::NetworksChanged {
                endpoints: eps,
                mode_left,
            },
        )
        .await?;
        Ok(())
    }

    /// A running container that joined a user network resolves through the embedded DNS
    /// server from now on: its resolv.conf is rewritten in place (it is bind-mounted) as a
    /// start on a user network writes it. dockerd does the same, and keeps it so when the
    /// container leaves the network again.
    fn use_embedded_dns(&self, rec: &Record) -> Result<()> {
        let path = self.store.dir(&rec.id).join("resolv.conf");
        let Ok(current) = std::fs::read_to_string(&path) else {
            // No file of its own (its mode shares another's): nothing to switch.
            return Ok(());
        };
        if current.lines().any(|l| l.trim() == "nameserver 127.0.0.11") {
            return Ok(());
        }
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let hc = &rec.host_config;
        let next = translate::linux::resolv_conf(
            &host,
            hc.dns.as_deref().unwrap_or_default(),
            hc.dns_search.as_deref().unwrap_or_default(),
            hc.dns_options.as_deref().unwrap_or_default(),
            // Any user network's name: the embedded server's resolv.conf.
            "user",
        )?;
        std::fs::write(&path, next)
            .map_err(|e| ContainerError::io(format!("writing {}", path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec::api::models::EndpointIpamConfig;

    fn bridge() -> NetworkRef {
        NetworkRef {
            name: "bridge".into(),
            id: crate::networks::network_id("bridge"),
        }
    }

    #[test]
    fn default_bridge_refusals_in_dockerd_order() {
        let ip = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some("172.17.0.9".into()),
                ..Default::default()
            }),
            aliases: Some(vec!["a".into()]),
            ..Default::default()
        };
        let e = check_default_bridge(&ip).unwrap_err().to_string();
        assert_eq!(
            e,
            "user specified IP address is supported on user defined networks only"
        );
        let alias = EndpointSettings {
            aliases: Some(vec!["a".into()]),
            ..Default::default()
        };
        let e = check_default_bridge(&alias).unwrap_err().to_string();
        assert!(e.starts_with("network-scoped alias"), "{e}");
        assert!(check_default_bridge(&EndpointSettings::default()).is_ok());
    }

    #[test]
    fn the_mode_names_the_default_bridge_in_several_ways() {
        let mut rec =
            crate::containers::lifecycle::tests::record(crate::containers::record::Status::Created);
        for mode in ["", "default", "bridge"] {
            rec.host_config.network_mode = Some(mode.into());
            assert!(is_primary(&rec, &bridge()), "{mode}");
        }
        rec.host_config.network_mode = Some("web".into());
        assert!(!is_primary(&rec, &bridge()));
        assert!(names("default", &bridge()) && names("bridge", &bridge()));
        let web = NetworkRef {
            name: "web".into(),
            id: "f".repeat(64),
        };
        assert!(is_primary(&rec, &web));
        assert!(!names("default", &web));
    }
}
