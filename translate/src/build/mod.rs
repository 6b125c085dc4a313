//! The classic builder's pure core: the Dockerfile parsed ([`parser`]), split into stages
//! ([`plan`]), and each instruction turned into what the step does to the image config and
//! what it asks the daemon to do ([`StageState::dispatch`]), with moby's rules for
//! variable expansion ([`lex`]), `ARG` scoping ([`args`]), `.dockerignore` ([`ignore`])
//! and the `container_config`/history `CreatedBy` strings dockerd writes
//! (`/bin/sh -c #(nop)  CMD ["sh"]`). No I/O: the proxy runs containers and writes layers.

pub mod args;
pub mod ignore;
pub mod lex;
pub mod parser;

use std::collections::BTreeMap;

use serde_json::Value;
use spec::image::ContainerConfig;

pub use args::BuildArgs;
pub use parser::{Dockerfile, Node};

use crate::dockerfile::{self, CommandForm, ImageCommand, Instruction};
use crate::windows::ContainerOs;
use crate::Error;

/// `system.DefaultPathEnv` for Linux images.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidParameter(m.into())
}

/// One `FROM` and its instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The image (before expansion with the meta args).
    pub base: String,
    pub platform: Option<String>,
    pub original: String,
    pub commands: Vec<Node>,
}

/// The stages to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub meta_args: Vec<Node>,
    pub stages: Vec<Stage>,
    pub escape: char,
    pub warnings: Vec<String>,
}

impl Plan {
    /// `Step N/M`: M counts meta args, `FROM`s and instructions.
    pub fn total_steps(&self) -> usize {
        self.meta_args.len()
            + self.stages.len()
            + self.stages.iter().map(|s| s.commands.len()).sum::<usize>()
    }

    /// The index of the stage `name` refers to (by name, or by number), before `before`.
    pub fn stage_index(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self.stages[..before.min(self.stages.len())]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(i);
        }
        name.parse::<usize>().ok().filter(|i| *i < before)
    }
}

/// A node `--label` adds: values are not expanded.
const NO_EXPAND: &str = "\u{0}noexpand";

fn valid_stage_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// Splits a Dockerfile into stages, keeps those up to `target`, and adds one `LABEL` step
/// per `--label` (sorted) to the last one.
pub fn plan(
    df: Dockerfile,
    target: Option<&str>,
    labels: &BTreeMap<String, String>,
) -> Result<Plan, Error> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in df.nodes {
        if node.keyword == "from" {
            let mut platform = None;
            for (k, v) in &node.flags {
                match k.as_str() {
                    "platform" => platform = Some(v.clone()),
                    other => return Err(invalid(format!("Unknown flag: {other}"))),
                }
            }
            let words: Vec<&str> = node.rest.split_whitespace().collect();
            let (base, name) = match words.as_slice() {
                [b] => (b.to_string(), None),
                [b, as_, n] if as_.eq_ignore_ascii_case("as") => {
                    let n = n.to_ascii_lowercase();
                    if !valid_stage_name(&n) {
                        return Err(invalid(format!("invalid name for build stage: {n:?}, name can't start with a number or contain symbols")));
                    }
                    (b.to_string(), Some(n))
                }
                _ => {
                    return Err(invalid(
                        "FROM requires either one or three arguments".to_string(),
                    ))
                }
            };
            if let Some(n) = &name {
                if stages.iter().any(|s| s.name.as_deref() == Some(n.as_str())) {
                    return Err(invalid(format!("duplicate name {n}")));
                }
            }
            stages.push(Stage {
                name,
                base,
                platform,
                original: node.original.clone(),
                commands: Vec::new(),
            });
            continue;
        }
        match stages.last_mut() {
            Some(s) => s.commands.push(node),
            None if node.keyword == "arg" => meta_args.push(node),
            None => {
                return Err(invalid(format!(
                    "Please provide a source image with `from` prior to {}",
                    node.keyword
                )))
            }
        }
    }
    if stages.is_empty() {
        return Err(invalid(
            "No image was generated. Is your Dockerfile empty?".to_string(),
        ));
    }
    if let Some(t) = target.filter(|t| !t.is_empty()) {
        let lower = t.to_ascii_lowercase();
        let i = stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .ok_or_else(|| invalid(format!("failed to reach build target {t} in Dockerfile")))?;
        stages.truncate(i + 1);
    }
    if let Some(last) = stages.last_mut() {
        for (k, v) in labels {
            last.commands.push(Node {
                keyword: "label".into(),
                original: format!("LABEL {k}={v}"),
                flags: vec![(NO_EXPAND.into(), String::new())],
                rest: String::new(),
                line: 0,
            });
            // The pair itself travels in `rest` as key and value separated by NUL.
            if let Some(n) = last.commands.last_mut() {
                n.rest = format!("{k}\u{0}{v}");
            }
        }
    }
    Ok(Plan {
        meta_args,
        stages,
        escape: df.escape,
        warnings: df.warnings,
    })
}

/// What a `COPY`/`ADD` asks for; sources are resolved against the context (or `from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRequest {
    pub add: bool,
    pub sources: Vec<String>,
    /// Absolute in the image, a trailing `/` kept (moby `normalizeDest`).
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<u32>,
    pub from: Option<String>,
}

impl CopyRequest {
    pub fn name(&self) -> &'static str {
        if self.add {
            "ADD"
        } else {
            "COPY"
        }
    }
}

/// What one instruction asks of the daemon.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Step {
    /// A config change: commit an image with no new layer; `container_config` is the
    /// cache key and the history's `CreatedBy` (its `Cmd` joined).
    Commit { container_config: ContainerConfig },
    /// Run a container with `run`, commit its changes; `probe` is the cache key.
    Run {
        probe: ContainerConfig,
        run: ContainerConfig,
    },
    /// `WORKDIR`: the directory is created (owned by root) if missing.
    Workdir {
        container_config: ContainerConfig,
        path: String,
    },
    /// `COPY`/`ADD`: finish with [`StageState::copy_config`] once the sources' hash is known.
    Copy(CopyRequest),
}

impl Step {
    /// The history entry's `CreatedBy` of a step's cache key.
    pub fn created_by(config: &ContainerConfig) -> String {
        config.cmd.clone().unwrap_or_default().join(" ")
    }
}

/// The state of the stage being built (moby `dispatchState`).
#[derive(Debug, Clone)]
pub struct StageState {
    pub os: ContainerOs,
    /// The image config as it stands (moby `runConfig`).
    pub config: ContainerConfig,
    command: ImageCommand,
    pub args: BuildArgs,
    pub maintainer: Option<String>,
    pub escape: char,
}

impl StageState {
    /// After `FROM`: the base image's config (none for `scratch`), the default `PATH`.
    pub fn begin(
        base: Option<&ContainerConfig>,
        os: ContainerOs,
        args: BuildArgs,
        escape: char,
    ) -> Self {
        let mut config = base.cloned().unwrap_or_default();
        for k in ["Hostname", "Domainname", "Image", "OpenStdin", "StdinOnce"] {
            config.extra.remove(k);
        }
        config.hostname = None;
        config.domainname = None;
        if os == ContainerOs::Linux
            && !config
                .env
                .iter()
                .flatten()
                .any(|e| e.split('=').next() == Some("PATH"))
        {
            config
                .env
                .get_or_insert_with(Vec::new)
                .push(format!("PATH={DEFAULT_PATH}"));
        }
        let command = ImageCommand::from_image(&config, os);
        Self {
            os,
            config,
            command,
            args,
            maintainer: None,
            escape,
        }
    }

    fn windows(&self) -> bool {
        self.os == ContainerOs::Windows
    }

    /// Takes the base image's `ONBUILD` triggers (they run right after `FROM`).
    pub fn take_triggers(&mut self) -> Vec<String> {
        self.config.on_build.take().unwrap_or_default()
    }

    /// The variables expansion sees: the config's `Env`, then the allowed build args.
    pub fn env(&self) -> Vec<String> {
        let env = self.config.env.clone().unwrap_or_default();
        let mut all = env.clone();
        all.extend(self.args.filter_allowed(&env));
        all
    }

    fn word(&self, w: &str, env: &[String]) -> Result<String, Error> {
        lex::process_word_os(w, env, self.escape, self.windows())
    }

    fn shell(&self) -> Vec<String> {
        match self.config.shell.as_ref().filter(|s| !s.is_empty()) {
            Some(s) => s.clone(),
            None => dockerfile::default_shell(self.os),
        }
    }

    /// moby `withCmdComment`: `shell + ["#(nop) ", comment]` (two spaces once joined).
    pub fn comment_config(&self, comment: &str) -> ContainerConfig {
        let mut c = self.config.clone();
        let mut cmd = self.shell();
        cmd.push("#(nop) ".into());
        cmd.push(comment.into());
        c.cmd = Some(cmd);
        c
    }

    /// moby `withCmdCommentString`: `shell + ["#(nop) " + comment]`.
    pub fn comment_string_config(&self, comment: &str) -> ContainerConfig {
        let mut c = self.config.clone();
        let mut cmd = self.shell();
        cmd.push(format!("#(nop) {comment}"));
        c.cmd = Some(cmd);
        c
    }

    /// The cache key and `CreatedBy` of a COPY/ADD whose sources hash to `src_hash`
    /// (`file:<sha256>`, `dir:<sha256>`, `multi:<sha256>`).
    pub fn copy_config(&self, req: &CopyRequest, src_hash: &str) -> ContainerConfig {
        let chown = req
            .chown
            .as_ref()
            .map(|c| format!("--chown={c}"))
            .unwrap_or_default();
        self.comment_string_config(&format!(
            "{} {chown}{src_hash} in {} ",
            req.name(),
            req.dest
        ))
    }

    /// Applies one instruction to the stage.
    pub fn dispatch(&mut self, node: &Node) -> Result<Step, Error> {
        let env = self.env();
        let no_expand = node.flags.iter().any(|(k, _)| k == NO_EXPAND);
        let kw = node.keyword.as_str();
        if !matches!(kw, "copy" | "add" | "run") && !node.flags.is_empty() && !no_expand {
            if let Some((k, _)) = node.flags.first() {
                return Err(invalid(format!("Unknown flag: {k}")));
            }
        }
        match kw {
            "env" => {
                let pairs = self.name_values("ENV", &node.rest, &env)?;
                let mut msg = String::from("ENV");
                for (k, v) in pairs {
                    msg.push_str(&format!(" {k}={v}"));
                    self.set_env(&k, &v);
                }
                Ok(self.commit(&msg))
            }
            "label" => {
                let pairs = if no_expand {
                    let (k, v) = node.rest.split_once('\u{0}').unwrap_or((&node.rest, ""));
                    vec![(k.to_string(), v.to_string())]
                } else {
                    self.name_values("LABEL", &node.rest, &env)?
                };
                let mut msg = String::from("LABEL");
                let labels = self.config.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in pairs {
                    msg.push_str(&format!(" {k}={v}"));
                    labels.insert(k, v);
                }
                Ok(self.commit(&msg))
            }
            "maintainer" => {
                let m = node.rest.trim().to_string();
                if m.is_empty() {
                    return Err(invalid("MAINTAINER requires exactly one argument"));
                }
                self.maintainer = Some(m.clone());
                Ok(self.commit(&format!("MAINTAINER {m}")))
            }
            "arg" => {
                let words = lex::split_words(&node.rest, self.escape);
                if words.is_empty() {
                    return Err(invalid("ARG requires at least one argument"));
                }
                let mut msg = String::from("ARG ");
                for (i, w) in words.iter().enumerate() {
                    let (k, v) = match w.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(self.word(v, &env)?)),
                        None => (w.clone(), None),
                    };
                    if k.is_empty() {
                        return Err(invalid("ARG names can not be blank"));
                    }
                    if i > 0 {
                        msg.push(' ');
                    }
                    msg.push_str(&k);
                    if let Some(v) = &v {
                        msg.push('=');
                        msg.push_str(v);
                    }
                    self.args.add_arg(&k, v);
                }
                Ok(self.commit(&msg))
            }
            "workdir" => {
                let req = self.word(node.rest.trim(), &env)?;
                if req.is_empty() {
                    return Err(invalid("WORKDIR requires exactly one argument"));
                }
                let dir = normalize_workdir(self.os, self.config.working_dir.as_deref(), &req);
                self.config.working_dir = Some(dir.clone());
                Ok(Step::Workdir {
                    container_config: self.comment_string_config(&format!("WORKDIR {dir}")),
                    path: dir,
                })
            }
            "user" => {
                let u = self.word(node.rest.trim(), &env)?;
                if u.is_empty() {
                    return Err(invalid("USER requires exactly one argument"));
                }
                self.config.user = Some(u.clone());
                Ok(self.commit(&format!("USER {u}")))
            }
            "expose" => {
                // moby sorts the words as written, then expands each into words.
                let mut raw: Vec<&str> = node.rest.split_whitespace().collect();
                if raw.is_empty() {
                    return Err(invalid("EXPOSE requires at least one argument"));
                }
                raw.sort_unstable();
                let mut ports = Vec::new();
                for w in raw {
                    ports.extend(lex::process_words(w, &env, self.escape)?);
                }
                let set = self.config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in &ports {
                    for spec in port_specs(p)? {
                        set.insert(spec, Value::Object(Default::default()));
                    }
                }
                Ok(self.commit(&format!("EXPOSE {}", ports.join(" "))))
            }
            "volume" => {
                let list = match json_list(&node.rest) {
                    Some(l) => l,
                    None => node.rest.split_whitespace().map(String::from).collect(),
                };
                if list.is_empty() {
                    return Err(invalid("VOLUME requires at least one argument"));
                }
                let mut vols = Vec::new();
                for v in list {
                    let v = self.word(v.trim(), &env)?;
                    if v.is_empty() {
                        return Err(invalid("VOLUME specified can not be an empty string"));
                    }
                    vols.push(v);
                }
                let set = self.config.volumes.get_or_insert_with(BTreeMap::new);
                for v in &vols {
                    set.insert(v.clone(), Value::Object(Default::default()));
                }
                Ok(self.commit(&format!("VOLUME [{}]", vols.join(" "))))
            }
            "stopsignal" => {
                let s = self.word(node.rest.trim(), &env)?;
                if !valid_signal(&s) {
                    return Err(invalid(format!("Invalid signal: {s}")));
                }
                self.config.stop_signal = Some(s.clone());
                Ok(self.commit(&format!("STOPSIGNAL {s}")))
            }
            "shell" => {
                let shell = json_list(&node.rest)
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| invalid("SHELL requires the arguments to be in JSON form"))?;
                self.config.shell = Some(shell.clone());
                self.command.shell = Some(shell.clone());
                Ok(self.commit(&format!("SHELL [{}]", shell.join(" "))))
            }
            "onbuild" => {
                let expr = node.rest.trim().to_string();
                let first = expr
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                match first.as_str() {
                    "" => return Err(invalid("ONBUILD requires at least one argument")),
                    "ONBUILD" => {
                        return Err(invalid(
                            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                        ))
                    }
                    "MAINTAINER" | "FROM" => {
                        return Err(invalid(format!(
                            "{first} isn't allowed as an ONBUILD trigger"
                        )))
                    }
                    _ => {}
                }
                // The trigger must parse.
                parser::parse(&expr)?;
                self.config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(expr.clone());
                Ok(self.commit(&format!("ONBUILD {expr}")))
            }
            "healthcheck" => {
                let hc = crate::healthcheck::parse(&node.rest)?;
                let msg = format!("HEALTHCHECK {}", go_healthcheck(&hc));
                self.config.healthcheck = Some(hc);
                Ok(self.commit(&msg))
            }
            "cmd" | "entrypoint" | "run" => self.command_step(node),
            "copy" | "add" => self.copy_step(node, &env),
            "from" => Err(invalid("FROM is not allowed here")),
            other => Err(invalid(format!(
                "unknown instruction: {}",
                other.to_ascii_uppercase()
            ))),
        }
    }

    fn commit(&self, comment: &str) -> Step {
        Step::Commit {
            container_config: self.comment_config(comment),
        }
    }

    fn command_step(&mut self, node: &Node) -> Result<Step, Error> {
        if let Some((k, _)) = node.flags.first() {
            return Err(Error::Unsupported(format!(
                "RUN --{k} is not supported by the classic builder"
            )));
        }
        let text = format!("{} {}", node.keyword.to_ascii_uppercase(), node.rest);
        let (instruction, form) = dockerfile::parse_instruction(&text)?;
        match instruction {
            Instruction::Run => {
                let run = self
                    .command
                    .apply(instruction, &form)?
                    .ok_or_else(|| invalid("RUN without a command"))?;
                let env = self.config.env.clone().unwrap_or_default();
                let build_args = self.args.filter_allowed(&env);
                let mut save_cmd = run.cmd.clone();
                if !build_args.is_empty() {
                    let mut kept: Vec<String> = build_args
                        .iter()
                        .filter(|kv| {
                            let k = kv.split('=').next().unwrap_or_default();
                            self.args.is_referenced_or_not_builtin(k)
                        })
                        .cloned()
                        .collect();
                    kept.sort();
                    let mut c = vec![format!("|{}", kept.len())];
                    c.extend(kept);
                    c.extend(run.cmd.clone());
                    save_cmd = c;
                }
                let mut probe = self.config.clone();
                probe.cmd = Some(save_cmd);
                probe.args_escaped = run.args_escaped.then_some(true);
                probe.entrypoint = None;
                if self.windows() {
                    // Only CMD and ENTRYPOINT persist ArgsEscaped.
                    probe.args_escaped = self.config.args_escaped;
                }
                let mut rc = self.config.clone();
                rc.cmd = Some(run.cmd);
                rc.args_escaped = run.args_escaped.then_some(true);
                let mut full_env = env;
                full_env.extend(build_args);
                rc.env = Some(full_env);
                rc.entrypoint = Some(run.entrypoint);
                rc.healthcheck = Some(serde_json::json!({"Test": ["NONE"]}));
                Ok(Step::Run { probe, run: rc })
            }
            Instruction::Cmd | Instruction::Entrypoint => {
                if matches!(form, CommandForm::Exec(ref v) if v.is_empty())
                    && instruction == Instruction::Entrypoint
                {
                    // `ENTRYPOINT []` clears it.
                }
                self.command.apply(instruction, &form)?;
                self.command.commit_into(&mut self.config);
                let (name, value) = if instruction == Instruction::Cmd {
                    ("CMD", self.config.cmd.clone().unwrap_or_default())
                } else {
                    (
                        "ENTRYPOINT",
                        self.config.entrypoint.clone().unwrap_or_default(),
                    )
                };
                Ok(self.commit(&format!("{name} {}", go_quote_list(&value))))
            }
        }
    }

    fn copy_step(&mut self, node: &Node, env: &[String]) -> Result<Step, Error> {
        let add = node.keyword == "add";
        let name = if add { "ADD" } else { "COPY" };
        let (mut chown, mut chmod, mut from) = (None, None, None);
        for (k, v) in &node.flags {
            match (k.as_str(), add) {
                ("chown", _) => chown = Some(self.word(v, env)?).filter(|s| !s.is_empty()),
                ("chmod", _) => {
                    let m = u32::from_str_radix(v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| invalid(format!("invalid chmod parameter: {v}")))?;
                    chmod = Some(m);
                }
                ("from", false) => from = Some(v.clone()),
                (other, _) => return Err(invalid(format!("Unknown flag: {other}"))),
            }
        }
        let raw = match json_list(&node.rest) {
            Some(l) => l,
            None => node.rest.split_whitespace().map(String::from).collect(),
        };
        if raw.len() < 2 {
            return Err(invalid(format!("{name} requires at least two arguments")));
        }
        let mut words = Vec::new();
        for w in &raw {
            words.push(self.word(w, env)?);
        }
        let dest = words.pop().unwrap_or_default();
        let dest = normalize_dest(self.os, self.config.working_dir.as_deref(), &dest)?;
        Ok(Step::Copy(CopyRequest {
            add,
            sources: words,
            dest,
            chown,
            chmod,
            from,
        }))
    }

    fn name_values(
        &self,
        what: &str,
        rest: &str,
        env: &[String],
    ) -> Result<Vec<(String, String)>, Error> {
        let words = lex::split_words(rest, self.escape);
        let Some(first) = words.first() else {
            return Err(invalid(format!("{what} requires at least one argument")));
        };
        if !first.contains('=') {
            let t = rest.trim();
            let end = t.find(char::is_whitespace).unwrap_or(t.len());
            let (k, v) = (&t[..end], t[end..].trim());
            if v.is_empty() {
                return Err(invalid(format!("{what} must have two arguments")));
            }
            return Ok(vec![(self.word(k, env)?, self.word(v, env)?)]);
        }
        let mut out = Vec::new();
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                return Err(invalid(format!(
                    "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                )));
            };
            let k = self.word(k, env)?;
            if k.is_empty() {
                return Err(invalid(format!("{what} names can not be blank")));
            }
            out.push((k, self.word(v, env)?));
        }
        Ok(out)
    }

    fn set_env(&mut self, k: &str, v: &str) {
        let windows = self.windows();
        let env = self.config.env.get_or_insert_with(Vec::new);
        let entry = format!("{k}={v}");
        let same = |e: &String| {
            let name = e.split_once('=').map_or(e.as_str(), |(n, _)| n);
            if windows {
                name.eq_ignore_ascii_case(k)
            } else {
                name == k
            }
        };
        match env.iter_mut().find(|e| same(e)) {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
    }
}

fn json_list(text: &str) -> Option<Vec<String>> {
    let t = text.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str(t).ok()
}

/// moby `normalizeWorkdir`.
pub fn normalize_workdir(os: ContainerOs, current: Option<&str>, requested: &str) -> String {
    match os {
        ContainerOs::Windows => {
            let r = requested.replace('/', "\\");
            let abs = r.starts_with('\\') || r.get(1..2) == Some(":");
            if abs || current.unwrap_or_default().is_empty() {
                r
            } else {
                format!(
                    "{}\\{r}",
                    current.unwrap_or_default().trim_end_matches('\\')
                )
            }
        }
        ContainerOs::Linux => {
            if requested.starts_with('/') {
                requested.to_string()
            } else {
                ignore::clean(&format!("/{}/{requested}", current.unwrap_or_default()))
            }
        }
    }
}

/// moby `normalizeDest`: relative to `WORKDIR`, a trailing separator (or `.`) kept as
/// the sign of a directory.
pub fn normalize_dest(
    os: ContainerOs,
    workdir: Option<&str>,
    requested: &str,
) -> Result<String, Error> {
    let win = os == ContainerOs::Windows;
    let is_sep = |c: char| c == '/' || (win && c == '\\');
    // `.` and a trailing `/.` name a directory, like a trailing separator.
    let (base, dir_like) = match requested.strip_suffix('.') {
        Some(b) if b.is_empty() || b.ends_with(is_sep) => (b, true),
        _ => (requested, requested.ends_with(is_sep)),
    };
    let sep = if win { "\\" } else { "/" };
    let wd = workdir.unwrap_or_default();
    let mut out = if win {
        let abs = base.starts_with(is_sep) || base.get(1..2) == Some(":");
        if abs || wd.is_empty() {
            base.to_string()
        } else {
            format!("{}\\{base}", wd.trim_end_matches(is_sep))
        }
    } else if base.starts_with('/') {
        base.to_string()
    } else {
        ignore::clean(&format!("/{wd}/{base}"))
    };
    if dir_like && !out.ends_with(is_sep) {
        out.push_str(sep);
    }
    Ok(out)
}

/// `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, … (`nat.ParsePortSpecs`).
pub fn port_specs(spec: &str) -> Result<Vec<String>, Error> {
    let bad = || invalid(format!("invalid containerPort: {spec}"));
    let spec = spec.rsplit(':').next().unwrap_or(spec);
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(invalid(format!("invalid proto: {proto}")));
    }
    let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
    let lo: u16 = lo.parse().map_err(|_| bad())?;
    let hi: u16 = hi.parse().map_err(|_| bad())?;
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return n > 0 && n < 65;
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    SIGNALS.contains(&name) || name.starts_with("RTMIN") || name.starts_with("RTMAX")
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quote_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", items.join(" "))
}

/// Go's `time.Duration.String`.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let s = if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1u64)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        format!("{}{unit}", frac(u, div))
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let sec = u % 60_000_000_000;
        let mut s = String::new();
        if h > 0 {
            s.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            s.push_str(&format!("{m}m"));
        }
        s.push_str(&format!("{}s", frac(sec, 1_000_000_000)));
        s
    };
    if neg {
        format!("-{s}")
    } else {
        s
    }
}

fn frac(v: u64, div: u64) -> String {
    let whole = v / div;
    let rest = v % div;
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// moby's `fmt.Sprintf("%q", healthConfig)`: `&{["CMD-SHELL" "x"] "5s" "0s" "0s" '\x00'}`.
fn go_healthcheck(hc: &Value) -> String {
    let test: Vec<String> = hc
        .get("Test")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let d = |k: &str| go_quote(&go_duration(hc.get(k).and_then(Value::as_i64).unwrap_or(0)));
    let retries = hc.get("Retries").and_then(Value::as_i64).unwrap_or(0);
    let r = match u32::try_from(retries).ok().and_then(char::from_u32) {
        Some('\'') => "'\\''".to_string(),
        Some('\\') => "'\\\\'".to_string(),
        Some(c) if (' '..='~').contains(&c) => format!("'{c}'"),
        _ => format!("'\\x{retries:02x}'"),
    };
    format!(
        "&{{{} {} {} {} {r}}}",
        go_quote_list(&test),
        d("Interval"),
        d("Timeout"),
        d("StartPeriod")
    )
}

#[cfg(test)]
mod tests;
