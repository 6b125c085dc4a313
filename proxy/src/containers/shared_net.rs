//! `--network container:NAME`: a container that runs in another container's network
//! namespace, as dockerd does it. At create the mode is recorded with the other
//! container's full ID (moby's `adaptSharedNamespaceContainer`, so a rename keeps the
//! link); at every start that container must be running, and the joining one takes its
//! namespace (`/proc/<pid>/ns/net`), its hostname and domain name and its `hosts`,
//! `hostname` and `resolv.conf` files. Nothing is set up or torn down for the joining
//! container: the namespace is the other's, and when that one stops, the joined container
//! keeps the namespace with whatever is left in it (loopback), as with dockerd.

use super::record::{NetworkDonor, Record, Status};
use super::{ContainerError, Manager, Result};

const PREFIX: &str = "container:";

impl Manager {
    /// `container:NAME` rewritten to `container:<ID>` when NAME is a container now (else
    /// left alone: the start says it is missing).
    pub(super) fn adapt_network_mode(&self, mode: &str) -> Option<String> {
        let name = mode.strip_prefix(PREFIX)?;
        let c = self.get(name).ok()?;
        Some(format!("{PREFIX}{}", c.id))
    }

    /// The container whose namespace this start joins, with dockerd's refusals (moby's
    /// `getNetworkedContainer`).
    pub(super) fn network_donor(&self, rec: &Record) -> Result<Option<NetworkDonor>> {
        let Some(name) = rec
            .host_config
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix(PREFIX))
        else {
            return Ok(None);
        };
        let other = self.get(name)?.record();
        if other.id == rec.id {
            return Err(ContainerError::Internal("cannot join own network".into()));
        }
        match other.state.status {
            Status::Running | Status::Paused => {}
            Status::Restarting => {
                return Err(ContainerError::Conflict(format!(
                    "Container {name} is restarting, wait until the container is running"
                )))
            }
            _ => {
                return Err(ContainerError::Conflict(format!(
                    "cannot join network of a non running container: {name}"
                )))
            }
        }
        Ok(Some(NetworkDonor {
            // A donor that itself joined another keeps that one's files (dockerd copies
            // the paths along the chain).
            id: other.network_donor.clone().unwrap_or(other.id.clone()),
            pid: other.state.pid,
            hostname: other.config.hostname.clone().unwrap_or_default(),
            domainname: other.config.domainname.clone(),
        }))
    }
}
