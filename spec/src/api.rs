//! Docker Engine API models.
//!
//! `bollard-stubs` is generated from the same swagger files that sit in
//! `shared/reference/`, and serialises the field names Docker uses (`Id`, `HostConfig`, …),
//! so dockbridge reuses it instead of keeping a second copy of ~10k lines of models.

pub use bollard_stubs::models;

/// The lowest API version dockbridge accepts, as dockerd 25+ does.
pub const MIN_API_VERSION: ApiVersion = ApiVersion::new(1, 24);
/// The API version dockbridge advertises and defaults to.
pub const API_VERSION: ApiVersion = ApiVersion::new(1, 44);

/// A Docker API version, `1.NN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// Parses `1.44`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let (maj, min) = s.split_once('.')?;
        if maj.is_empty()
            || min.is_empty()
            || !maj.bytes().chain(min.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(Self::new(maj.parse().ok()?, min.parse().ok()?))
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_versions() {
        assert_eq!(ApiVersion::parse("1.41"), Some(ApiVersion::new(1, 41)));
        assert!(ApiVersion::parse("1.9").unwrap() < ApiVersion::parse("1.24").unwrap());
        for bad in ["", "1", "1.", ".1", "v1.41", "1.4a", "1.41.0"] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad}");
        }
        assert_eq!(API_VERSION.to_string(), "1.44");
    }
}
