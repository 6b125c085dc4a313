//! Container names and IDs, as Docker makes and checks them.

use rand::Rng;

const LEFT: &[&str] = &[
    "admiring", "agitated", "blissful", "bold", "brave", "busy", "clever", "cool", "dazzling",
    "eager", "elastic", "epic", "focused", "friendly", "gallant", "gifted", "happy", "hopeful",
    "jolly", "keen", "kind", "lucid", "modest", "nifty", "peaceful", "quirky", "relaxed", "serene",
    "sharp", "stoic", "tender", "upbeat", "vibrant", "wizardly", "zealous",
];
const RIGHT: &[&str] = &[
    "almeida", "babbage", "bell", "booth", "curie", "darwin", "dijkstra", "einstein", "euler",
    "faraday", "fermat", "galileo", "gauss", "hopper", "hypatia", "kepler", "knuth", "lamarr",
    "lovelace", "mccarthy", "newton", "noether", "pascal", "ritchie", "shannon", "thompson",
    "torvalds", "turing", "wozniak", "yalow",
];

/// 64 lowercase hex characters.
pub fn new_id() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// `adjective_surname`, like Docker's generated names.
pub fn random_name() -> String {
    let mut rng = rand::rng();
    let l = LEFT[rng.random_range(0..LEFT.len())];
    let r = RIGHT[rng.random_range(0..RIGHT.len())];
    format!("{l}_{r}")
}

/// Docker's rule: `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate(name: &str) -> Result<String, String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let ok = bare.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(format!("/{bare}"))
    } else {
        Err(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_docker() {
        assert_eq!(validate("web-1").unwrap(), "/web-1");
        assert_eq!(validate("/web.1_a").unwrap(), "/web.1_a");
        for bad in ["a", "-x", "has space", "ü1", "", "/"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert!(validate(&random_name()).is_ok());
        assert_eq!(new_id().len(), 64);
    }
}
