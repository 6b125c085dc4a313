//! The `HEALTHCHECK` instruction (Dockerfile, and `--change` of commit and import): its
//! flags and command forms into the image config's `Healthcheck`, as moby's builder parses
//! it. `NONE` disables an inherited check; `CMD ["a","b"]` runs directly; `CMD a b` runs
//! through the shell (`CMD-SHELL`).

use serde_json::{json, Map, Value};

use crate::Error;

/// Durations below this are refused (moby's `container.MinimumDuration`).
const MIN_DURATION_NS: i128 = 1_000_000;

/// The `Healthcheck` object for `args` (the instruction without its keyword).
pub fn parse(args: &str) -> Result<Value, Error> {
    let invalid = |m: String| Error::InvalidParameter(m);
    let mut rest = args.trim_start();
    let mut flags: Map<String, Value> = Map::new();
    while let Some(flag) = rest.strip_prefix("--") {
        let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
        let (word, tail) = flag.split_at(end);
        rest = tail.trim_start();
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        let key = match name {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => "Retries",
            other => return Err(invalid(format!("Unknown flag: {other}"))),
        };
        let v = if key == "Retries" {
            let n: i64 = value
                .parse()
                .map_err(|_| invalid(format!("Unable to parse retries: {value:?}")))?;
            if n < 0 {
                return Err(invalid("--retries cannot be negative".into()));
            }
            Value::from(n)
        } else {
            let ns = spec::timestamp::parse_go_duration(value)
                .ok_or_else(|| invalid(format!("time: invalid duration \"{value}\"")))?;
            if ns != 0 && ns < MIN_DURATION_NS {
                return Err(invalid(format!("--{name} cannot be less than 1ms")));
            }
            Value::from(i64::try_from(ns).map_err(|_| invalid(format!("--{name} is too long")))?)
        };
        // Go's omitempty: zero values are not written.
        if v != 0 {
            flags.insert(key.to_string(), v);
        }
    }
    let (kind, cmd) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !cmd.is_empty() || !flags.is_empty() {
                return Err(invalid("HEALTHCHECK NONE takes no arguments".into()));
            }
            Ok(json!({ "Test": ["NONE"] }))
        }
        "CMD" => {
            if cmd.is_empty() {
                return Err(invalid("Missing command after HEALTHCHECK CMD".into()));
            }
            let test: Vec<String> = match serde_json::from_str::<Vec<String>>(cmd) {
                Ok(argv) if cmd.starts_with('[') => {
                    std::iter::once("CMD".to_string()).chain(argv).collect()
                }
                _ => vec!["CMD-SHELL".to_string(), cmd.to_string()],
            };
            let mut obj = flags;
            obj.insert("Test".into(), json!(test));
            Ok(Value::Object(obj))
        }
        other => Err(invalid(format!(
            "Unknown type \"{other}\" in HEALTHCHECK (try CMD)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_flags() {
        assert_eq!(parse("NONE").unwrap(), json!({"Test": ["NONE"]}));
        assert_eq!(
            parse("CMD curl -f http://localhost/ || exit 1").unwrap(),
            json!({"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]})
        );
        assert_eq!(
            parse(r#"--interval=5s --retries=2 CMD ["pg_isready", "-U", "x"]"#).unwrap(),
            json!({"Test": ["CMD", "pg_isready", "-U", "x"], "Interval": 5_000_000_000i64, "Retries": 2})
        );
        assert_eq!(
            parse("--timeout=1m30s --start-period=0s CMD true").unwrap(),
            json!({"Test": ["CMD-SHELL", "true"], "Timeout": 90_000_000_000i64})
        );
    }

    #[test]
    fn refusals() {
        assert!(parse("NONE --x").is_err());
        assert!(parse("--interval=5s NONE").is_err());
        assert!(parse("CMD").is_err());
        assert!(parse("RUN true").is_err());
        assert!(parse("--bogus=1 CMD true").is_err());
        assert!(parse("--interval=5 CMD true").is_err());
        assert!(parse("--interval=10us CMD true").is_err());
        assert!(parse("--retries=-1 CMD true").is_err());
    }
}
