//! The unix socket's group (`-G/--group`), chosen as dockerd chooses it
//! (daemon/listeners: a name or a GID; a missing `docker` group only warns).

use nix::unistd::{Gid, Group};

/// dockerd's default socket group.
pub const DEFAULT_GROUP: &str = "docker";

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("--group {0}: group {0} not found")]
    NotFound(String),
}

/// What became of the `--group` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketGroup {
    /// Chown the sockets to this group.
    Gid(u32),
    /// Leave them with the daemon's group: `--group ""`.
    Keep,
    /// The `docker` group does not exist: the daemon's group, with this message (dockerd
    /// warns and goes on).
    Missing(String),
}

/// Looks up `flag` (default `docker`) in the host's group database.
pub fn resolve(flag: Option<&str>) -> Result<SocketGroup, GroupError> {
    decide(flag, |name| {
        Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    })
}

/// The pure rule, with the group database as `lookup`: a name first, else a number; a
/// missing group is an error unless it is dockerd's default name (given or not).
pub fn decide(
    flag: Option<&str>,
    lookup: impl Fn(&str) -> Option<u32>,
) -> Result<SocketGroup, GroupError> {
    let name = flag.unwrap_or(DEFAULT_GROUP);
    if name.is_empty() {
        return Ok(SocketGroup::Keep);
    }
    if let Some(gid) = lookup(name).or_else(|| name.parse().ok()) {
        return Ok(SocketGroup::Gid(gid));
    }
    if name == DEFAULT_GROUP {
        return Ok(SocketGroup::Missing(format!(
            "group {DEFAULT_GROUP} not found: the API socket keeps the daemon's group"
        )));
    }
    Err(GroupError::NotFound(name.to_string()))
}

impl SocketGroup {
    pub fn gid(&self) -> Option<Gid> {
        match self {
            Self::Gid(g) => Some(Gid::from_raw(*g)),
            Self::Keep | Self::Missing(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(name: &str) -> Option<u32> {
        match name {
            "docker" => Some(105),
            "staff" => Some(50),
            _ => None,
        }
    }

    #[test]
    fn groups_resolve_as_dockerd() {
        assert_eq!(decide(None, db).unwrap(), SocketGroup::Gid(105));
        assert_eq!(decide(Some("staff"), db).unwrap(), SocketGroup::Gid(50));
        assert_eq!(decide(Some("1234"), db).unwrap(), SocketGroup::Gid(1234));
        assert_eq!(decide(Some(""), db).unwrap(), SocketGroup::Keep);
        let err = decide(Some("nosuch"), db).unwrap_err();
        assert_eq!(err.to_string(), "--group nosuch: group nosuch not found");
    }

    #[test]
    fn a_missing_docker_group_only_warns() {
        let none = |_: &str| None;
        assert!(matches!(
            decide(None, none).unwrap(),
            SocketGroup::Missing(_)
        ));
        // dockerd does not tell an explicit `--group docker` from the default either.
        assert!(matches!(
            decide(Some("docker"), none).unwrap(),
            SocketGroup::Missing(_)
        ));
        assert!(decide(Some("staff"), none).is_err());
    }
}
