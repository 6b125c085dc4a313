//! `--change` instructions of `docker import` and `docker commit`: Dockerfile instructions
//! applied to an image's container config, as moby's `dockerfile.BuildFromConfig` does.
//!
//! The instructions allowed are those that only change the config (moby's
//! `validCommitCommands`): `CMD`, `ENTRYPOINT` (through [`crate::dockerfile`], so the
//! command forms and `ArgsEscaped` follow the builder's rules), `ENV`, `LABEL`, `EXPOSE`,
//! `USER`, `VOLUME`, `WORKDIR`, `ONBUILD` and `HEALTHCHECK`. Arguments other than commands get the
//! builder's word processing: quotes are removed, backslash escapes apply, and `$VAR`,
//! `${VAR}`, `${VAR:-word}` and `${VAR:+word}` expand from the environment built so far.

use std::collections::BTreeMap;

use serde_json::Value;
use spec::image::ContainerConfig;

use crate::dockerfile::{parse_instruction, ImageCommand};
use crate::windows::ContainerOs;
use crate::Error;

/// Applies `changes` (each may hold several lines) to `config`, in order.
pub fn apply_changes(
    config: &mut ContainerConfig,
    changes: &[String],
    os: ContainerOs,
) -> Result<(), Error> {
    let mut command = ImageCommand::from_image(config, os);
    let mut touched_command = false;
    for line in instructions(changes) {
        let (keyword, rest) = split_keyword(&line);
        let env = config.env.clone().unwrap_or_default();
        match keyword.to_ascii_lowercase().as_str() {
            "cmd" | "entrypoint" => {
                let (instruction, form) = parse_instruction(&line)?;
                command.apply(instruction, &form)?;
                touched_command = true;
            }
            "env" => {
                for (k, v) in name_values("ENV", rest, &env)? {
                    set_env(config, &k, &v, os);
                }
            }
            "label" => {
                let pairs = name_values("LABEL", rest, &env)?;
                let labels = config.labels.get_or_insert_with(BTreeMap::new);
                labels.extend(pairs);
            }
            "expose" => {
                let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for word in words(rest) {
                    for p in port_specs(&expand(&word, &env)?)? {
                        ports.insert(p, Value::Object(Default::default()));
                    }
                }
            }
            "user" => config.user = Some(expand(rest.trim(), &env)?),
            "workdir" => {
                let dir = expand(rest.trim(), &env)?;
                config.working_dir = Some(workdir(config.working_dir.as_deref(), &dir, os));
            }
            "volume" => {
                let vols = config.volumes.get_or_insert_with(BTreeMap::new);
                let list = match serde_json::from_str::<Vec<String>>(rest.trim()) {
                    Ok(list) => list,
                    Err(_) => words(rest),
                };
                if list.is_empty() {
                    return Err(Error::InvalidParameter(
                        "VOLUME requires at least one argument".into(),
                    ));
                }
                for v in list {
                    let v = expand(v.trim(), &env)?;
                    if v.is_empty() {
                        return Err(Error::InvalidParameter(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    vols.insert(v, Value::Object(Default::default()));
                }
            }
            "onbuild" => {
                let trigger = rest.trim();
                let first = split_keyword(trigger).0.to_ascii_uppercase();
                match first.as_str() {
                    "" => {
                        return Err(Error::InvalidParameter(
                            "ONBUILD requires at least one argument".into(),
                        ))
                    }
                    "ONBUILD" => {
                        return Err(Error::InvalidParameter(
                            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into(),
                        ))
                    }
                    "MAINTAINER" | "FROM" => {
                        return Err(Error::InvalidParameter(format!(
                            "{first} isn't allowed as an ONBUILD trigger"
                        )))
                    }
                    _ => config
                        .on_build
                        .get_or_insert_with(Vec::new)
                        .push(trigger.to_string()),
                }
            }
            "healthcheck" => config.healthcheck = Some(crate::healthcheck::parse(rest)?),
            other => {
                return Err(Error::InvalidParameter(format!(
                    "{other} is not a valid change command"
                )))
            }
        }
    }
    if touched_command {
        command.commit_into(config);
    }
    Ok(())
}

/// The instructions of the changes: continuation lines (`\` at the end) joined, blank
/// lines and comments dropped.
fn instructions(changes: &[String]) -> Vec<String> {
    let text = changes.join("\n");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

fn split_keyword(line: &str) -> (&str, &str) {
    let line = line.trim_start();
    let end = line.find(char::is_whitespace).unwrap_or(line.len());
    (&line[..end], &line[end..])
}

/// Splits on whitespace outside quotes, keeping quotes and escapes for [`expand`]: the
/// builder's word splitting with the default escape.
fn words(text: &str) -> Vec<String> {
    crate::build::lex::split_words(text, '\\')
}

/// `ENV`/`LABEL` arguments: `k=v k2="v 2"`, or the legacy `key the value`.
fn name_values(what: &str, rest: &str, env: &[String]) -> Result<Vec<(String, String)>, Error> {
    let ws = words(rest);
    let Some(first) = ws.first() else {
        return Err(Error::InvalidParameter(format!(
            "{what} requires at least one argument"
        )));
    };
    if !first.contains('=') {
        let (key, value) = split_keyword(rest);
        let value = value.trim();
        if value.is_empty() {
            return Err(Error::InvalidParameter(format!(
                "{what} must have two arguments"
            )));
        }
        return Ok(vec![(expand(key, env)?, expand(value, env)?)]);
    }
    let mut out = Vec::new();
    for w in ws {
        let Some((k, v)) = w.split_once('=') else {
            return Err(Error::InvalidParameter(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )));
        };
        let k = expand(k, env)?;
        if k.is_empty() {
            return Err(Error::InvalidParameter(format!(
                "{what} names can not be blank"
            )));
        }
        out.push((k, expand(v, env)?));
    }
    Ok(out)
}

/// Replaces or appends `k=v` (names are case-insensitive on Windows).
fn set_env(config: &mut ContainerConfig, k: &str, v: &str, os: ContainerOs) {
    let env = config.env.get_or_insert_with(Vec::new);
    let same = |e: &String| {
        let name = e.split_once('=').map_or(e.as_str(), |(n, _)| n);
        match os {
            ContainerOs::Windows => name.eq_ignore_ascii_case(k),
            ContainerOs::Linux => name == k,
        }
    };
    let entry = format!("{k}={v}");
    match env.iter_mut().find(|e| same(e)) {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

fn lookup<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .filter_map(|e| e.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The builder's word processing: quotes removed, escapes applied, variables expanded.
pub fn expand(word: &str, env: &[String]) -> Result<String, Error> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut in_double = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' if !in_double => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .ok_or_else(|| Error::InvalidParameter(format!("unexpected end of statement while looking for matching single-quote in {word:?}")))?;
                out.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
                continue;
            }
            '"' => in_double = !in_double,
            '\\' => {
                if let Some(&next) = chars.get(i + 1) {
                    if in_double && !matches!(next, '"' | '\\' | '$') {
                        out.push('\\');
                    }
                    out.push(next);
                    i += 2;
                    continue;
                }
                out.push('\\');
            }
            '$' => {
                let (value, used) = variable(&chars[i + 1..], env, word)?;
                out.push_str(&value);
                i += 1 + used;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    if in_double {
        return Err(Error::InvalidParameter(format!(
            "unexpected end of statement while looking for matching double-quote in {word:?}"
        )));
    }
    Ok(out)
}

/// A variable after `$`: its value and the characters it took.
fn variable(rest: &[char], env: &[String], word: &str) -> Result<(String, usize), Error> {
    let is_name = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
    if rest.first() == Some(&'{') {
        let end = rest
            .iter()
            .position(|&c| c == '}')
            .ok_or_else(|| Error::InvalidParameter(format!("missing '}}' in {word:?}")))?;
        let inner: String = rest[1..end].iter().collect();
        let value = match inner.split_once(":-") {
            Some((name, default)) => match lookup(env, name) {
                Some(v) if !v.is_empty() => v.to_string(),
                _ => expand(default, env)?,
            },
            None => match inner.split_once(":+") {
                Some((name, alt)) => match lookup(env, name) {
                    Some(v) if !v.is_empty() => expand(alt, env)?,
                    _ => String::new(),
                },
                None => lookup(env, &inner).unwrap_or_default().to_string(),
            },
        };
        return Ok((value, end + 1));
    }
    let name: String = rest.iter().take_while(|c| is_name(c)).collect();
    if name.is_empty() {
        return Ok(("$".to_string(), 0));
    }
    let n = name.chars().count();
    Ok((lookup(env, &name).unwrap_or_default().to_string(), n))
}

/// `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, … (nat.ParsePortSpecs for exposed ports).
fn port_specs(spec: &str) -> Result<Vec<String>, Error> {
    let bad = || Error::InvalidParameter(format!("invalid containerPort: {spec}"));
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Error::InvalidParameter(format!("invalid proto: {proto}")));
    }
    let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
    let lo: u16 = lo.parse().map_err(|_| bad())?;
    let hi: u16 = hi.parse().map_err(|_| bad())?;
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// moby's `normalizeWorkdir`: a relative directory is relative to the current one.
fn workdir(current: Option<&str>, requested: &str, os: ContainerOs) -> String {
    if os == ContainerOs::Windows {
        return requested.to_string();
    }
    let joined = if requested.starts_with('/') {
        requested.to_string()
    } else {
        format!("/{}/{requested}", current.unwrap_or_default())
    };
    crate::linux::clean_path(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<ContainerConfig, Error> {
        let mut c = ContainerConfig::default();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &changes, ContainerOs::Linux)?;
        Ok(c)
    }

    #[test]
    fn commands() {
        let c = apply(&[r#"CMD ["/bin/busybox","echo","hi"]"#]).unwrap();
        assert_eq!(c.cmd.unwrap(), ["/bin/busybox", "echo", "hi"]);
        let c = apply(&["CMD echo hi", "ENTRYPOINT [\"/init\"]"]).unwrap();
        assert_eq!(c.cmd.unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/init"]);
        assert_eq!(c.args_escaped, None);
        let c = apply(&["ENV A=1"]).unwrap();
        assert!(c.cmd.is_none());
    }

    #[test]
    fn env_and_labels() {
        let c = apply(&[
            "ENV PATH=/bin A=\"x y\"",
            "ENV B $A-z",
            "ENV PATH=/usr/bin:$PATH C=${MISSING:-dflt}",
            r#"LABEL "com.x"='a b' v=${A}"#,
        ])
        .unwrap();
        assert_eq!(
            c.env.unwrap(),
            ["PATH=/usr/bin:/bin", "A=x y", "B=x y-z", "C=dflt"]
        );
        let labels = c.labels.unwrap();
        assert_eq!(labels["com.x"], "a b");
        assert_eq!(labels["v"], "x y");
        assert!(apply(&["ENV novalue"]).is_err());
        assert!(apply(&["ENV A=1 B"]).is_err());
    }

    #[test]
    fn other_instructions() {
        let c = apply(&[
            "EXPOSE 80 53/udp 8000-8001",
            "USER nobody:nogroup",
            "WORKDIR /srv",
            "WORKDIR app/../data",
            "VOLUME [\"/a\", \"/b\"]",
            "VOLUME /c",
            "ONBUILD RUN echo hi",
        ])
        .unwrap();
        let ports: Vec<&String> = c.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        assert_eq!(c.user.as_deref(), Some("nobody:nogroup"));
        assert_eq!(c.working_dir.as_deref(), Some("/srv/data"));
        let vols: Vec<&String> = c.volumes.as_ref().unwrap().keys().collect();
        assert_eq!(vols, ["/a", "/b", "/c"]);
        assert_eq!(c.on_build.unwrap(), ["RUN echo hi"]);
    }

    #[test]
    fn refusals() {
        let e = apply(&["RUN echo"]).unwrap_err();
        assert_eq!(e.to_string(), "run is not a valid change command");
        assert!(apply(&["EXPOSE 80/xyz"]).is_err());
        assert!(apply(&["EXPOSE http"]).is_err());
        assert!(apply(&["VOLUME"]).is_err());
        assert!(apply(&["ONBUILD ONBUILD RUN x"]).is_err());
        let c = apply(&["HEALTHCHECK --interval=2s CMD true"]).unwrap();
        assert_eq!(
            c.healthcheck,
            Some(serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000i64}))
        );
        assert!(apply(&["HEALTHCHECK WHAT"]).is_err());
        // Continuations and comments.
        let c = apply(&["# a comment\nENV A=1 \\\n  B=2"]).unwrap();
        assert_eq!(c.env.unwrap(), ["A=1", "B=2"]);
    }
}
