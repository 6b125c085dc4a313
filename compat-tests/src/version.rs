//! Engine API versions (`1.41`), ordered numerically.

use std::fmt;
use std::str::FromStr;

use anyhow::{anyhow, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion(pub u32, pub u32);

/// The newest API version the suite knows (its newest embedded schema);
/// negotiation picks min(server, this), like the docker CLI does.
pub const SUITE_MAX: ApiVersion = ApiVersion(1, 56);

/// What a client assumes when a server sends no `Api-Version` header
/// (the docker CLI's fallback).
pub const FALLBACK: ApiVersion = ApiVersion(1, 24);

impl FromStr for ApiVersion {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let (a, b) = s
            .trim()
            .split_once('.')
            .ok_or_else(|| anyhow!("bad API version {s:?}"))?;
        Ok(ApiVersion(
            a.parse().map_err(|_| anyhow!("bad API version {s:?}"))?,
            b.parse().map_err(|_| anyhow!("bad API version {s:?}"))?,
        ))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        let a: ApiVersion = "1.41".parse().expect("parse");
        let b: ApiVersion = "1.9".parse().expect("parse");
        assert!(b < a);
        assert_eq!(a.to_string(), "1.41");
        assert!("x".parse::<ApiVersion>().is_err());
    }
}
