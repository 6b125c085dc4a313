//! Per-run state shared by the cases: endpoint, negotiated version, schema,
//! the loaded test image, and everything created (cleaned up at the end).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::cli::{self, CliOutput};
use crate::http::{self, Endpoint, Request, Response};
use crate::schema::Schema;
use crate::version::ApiVersion;

/// The label every container the suite creates carries; cleanup and the
/// prune cases filter on it so they never touch anything else.
pub const RUN_LABEL: &str = "dockbridge.compat.run";

/// A shell loop that exits promptly on SIGTERM: a process without a TERM
/// handler is immune to it as PID 1, which would make every stop wait for
/// the kill timeout.
pub const KEEPALIVE: &[&str] = &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"];

/// One request/response as seen by a case, for `--compare` and `--json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub content_type: String,
    /// Structure of a JSON body (`key:type`, sorted), empty otherwise.
    pub shape: Vec<String>,
}

pub struct Ctx {
    pub ep: Endpoint,
    /// Negotiated: min(server's Api-Version, the suite's maximum).
    pub api: ApiVersion,
    pub server_api: ApiVersion,
    pub schema: Schema,
    pub run_id: String,
    /// `compat-busybox:<run-id>`, loaded during setup.
    pub image: String,
    /// `sha256:…` of the test image.
    pub image_id: String,
    seq: u32,
    containers: Vec<String>,
    images: Vec<String>,
    volumes: Vec<String>,
    pub trace: Vec<Exchange>,
    cli_config: PathBuf,
    /// `HOST:PORT` of a registry for the registry cases (`--registry`).
    pub registry: Option<String>,
}

impl Ctx {
    pub fn new(
        ep: Endpoint,
        api: ApiVersion,
        server_api: ApiVersion,
        run_id: String,
    ) -> Result<Ctx> {
        let schema = Schema::for_version(api)?;
        let cli_config = std::env::temp_dir().join(format!("dockbridge-compat-cli-{run_id}"));
        std::fs::create_dir_all(&cli_config)?;
        Ok(Ctx {
            ep,
            api,
            server_api,
            schema,
            image: format!("compat-busybox:{run_id}"),
            run_id,
            image_id: String::new(),
            seq: 0,
            containers: Vec::new(),
            images: Vec::new(),
            volumes: Vec::new(),
            trace: Vec::new(),
            cli_config,
            registry: None,
        })
    }

    /// `/v<api><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("/v{}{}", self.api, path)
    }

    /// A request to the versioned path.
    pub fn req(&self, method: &str, path: &str) -> Request {
        Request::new(method, &self.url(path))
    }

    /// Sends a request and records it in the trace.
    pub fn send(&mut self, req: Request) -> Result<Response> {
        let resp = http::send(&self.ep, &req)?;
        self.record(&req, &resp);
        Ok(resp)
    }

    pub fn record(&mut self, req: &Request, resp: &Response) {
        let shape = if resp.head.content_type().contains("json") {
            serde_json::from_slice::<Value>(&resp.body)
                .map(|v| shape(&v))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let path = self.normalize(&req.path);
        self.trace.push(Exchange {
            method: req.method.clone(),
            path,
            status: resp.status(),
            content_type: resp.head.content_type().to_string(),
            shape,
        });
    }

    /// Replaces run-specific tokens so traces of two endpoints line up.
    pub fn normalize(&self, path: &str) -> String {
        let p = path.replace(&self.run_id, "RUN");
        let mut out = String::new();
        let mut hex = String::new();
        for c in p.chars() {
            if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
                hex.push(c);
            } else {
                flush_hex(&mut out, &mut hex);
                out.push(c);
            }
        }
        flush_hex(&mut out, &mut hex);
        if let Some(rest) = out.strip_prefix(&format!("/v{}", self.api)) {
            return rest.to_string();
        }
        out
    }

    pub fn get(&mut self, path: &str) -> Result<Response> {
        let r = self.req("GET", path);
        self.send(r)
    }
    pub fn head(&mut self, path: &str) -> Result<Response> {
        let r = self.req("HEAD", path);
        self.send(r)
    }
    pub fn delete(&mut self, path: &str) -> Result<Response> {
        let r = self.req("DELETE", path);
        self.send(r)
    }
    pub fn post(&mut self, path: &str) -> Result<Response> {
        let r = self.req("POST", path);
        self.send(r)
    }
    pub fn post_json(&mut self, path: &str, body: &Value) -> Result<Response> {
        let r = self.req("POST", path).json(body);
        self.send(r)
    }

    /// Asserts the status; the error carries the body for diagnosis.
    pub fn expect(&self, resp: &Response, status: u16) -> Result<()> {
        if resp.status() != status {
            bail!(
                "expected status {status}, got {}: {}",
                resp.status(),
                http::snippet(&resp.body)
            );
        }
        Ok(())
    }

    /// Asserts an error status with a JSON `{"message": …}` body and
    /// returns the message.
    pub fn expect_error(&self, resp: &Response, status: u16) -> Result<String> {
        self.expect(resp, status)?;
        let ct = resp.head.content_type();
        if !ct.starts_with("application/json") {
            bail!("error body Content-Type {ct:?}, want application/json");
        }
        resp.message().ok_or_else(|| {
            anyhow!(
                "error body has no \"message\": {}",
                http::snippet(&resp.body)
            )
        })
    }

    /// Like [`Ctx::expect_error`] where Docker versions differ in the status
    /// (old daemons answered some client errors with 500).
    pub fn expect_error_in(&self, resp: &Response, statuses: &[u16]) -> Result<String> {
        if !statuses.contains(&resp.status()) {
            bail!(
                "expected status in {statuses:?}, got {}: {}",
                resp.status(),
                http::snippet(&resp.body)
            );
        }
        self.expect_error(resp, resp.status())
    }

    /// Validates a JSON body against the response schema of `method path`.
    pub fn validate(&self, method: &str, path_template: &str, resp: &Response) -> Result<Value> {
        let v = resp.json()?;
        self.schema
            .validate_response(method, path_template, resp.status(), &v)?;
        Ok(v)
    }

    /// A fresh unique object name: `compat-<run>-<n>`.
    pub fn name(&mut self) -> String {
        self.seq += 1;
        format!("compat-{}-{}", self.run_id, self.seq)
    }

    /// Creates a container (name chosen here) from `config` merged over the
    /// suite's defaults (test image, run label, NetworkMode none).
    pub fn create(&mut self, config: Value) -> Result<String> {
        let name = self.name();
        self.create_named(&name, config)
    }

    pub fn create_named(&mut self, name: &str, config: Value) -> Result<String> {
        let body = self.container_config(config);
        let resp = self.post_json(&format!("/containers/create?name={name}"), &body)?;
        self.containers.push(name.to_string());
        if resp.status() != 201 {
            bail!(
                "create failed: {} {}",
                resp.status(),
                http::snippet(&resp.body)
            );
        }
        let v = resp.json()?;
        let id = v["Id"]
            .as_str()
            .ok_or_else(|| anyhow!("create response has no Id: {v}"))?
            .to_string();
        self.containers.push(id.clone());
        Ok(id)
    }

    /// The defaults merged under `config`.
    pub fn container_config(&self, config: Value) -> Value {
        let mut base = json!({
            "Image": self.image,
            "Labels": { RUN_LABEL: self.run_id },
            "HostConfig": { "NetworkMode": "none" },
        });
        merge(&mut base, config);
        base
    }

    /// Remembers a container created by other means (CLI) for cleanup.
    pub fn track_container(&mut self, name_or_id: &str) {
        self.containers.push(name_or_id.to_string());
    }

    /// Remembers a volume for cleanup (after the containers that use it).
    pub fn track_volume(&mut self, name: &str) {
        self.volumes.push(name.to_string());
    }

    /// Remembers an image reference for cleanup.
    pub fn track_image(&mut self, reference: &str) {
        self.images.push(reference.to_string());
    }

    pub fn start(&mut self, id: &str) -> Result<()> {
        let r = self.post(&format!("/containers/{id}/start"))?;
        self.expect(&r, 204).context("start")
    }

    /// Creates and starts a long-running container (KEEPALIVE unless `cmd`).
    pub fn run_bg(&mut self, config: Value) -> Result<String> {
        let mut cfg = json!({ "Cmd": KEEPALIVE });
        merge(&mut cfg, config);
        let id = self.create(cfg)?;
        self.start(&id)?;
        Ok(id)
    }

    /// Creates, starts and waits for a container running `cmd`; returns the
    /// id and exit code.
    pub fn run_to_exit(&mut self, cmd: &[&str], extra: Value) -> Result<(String, i64)> {
        let mut cfg = json!({ "Cmd": cmd });
        merge(&mut cfg, extra);
        let id = self.create(cfg)?;
        self.start(&id)?;
        let code = self.wait(&id)?;
        Ok((id, code))
    }

    /// POST /wait (default condition) and the exit code.
    pub fn wait(&mut self, id: &str) -> Result<i64> {
        let r = self
            .req("POST", &format!("/containers/{id}/wait"))
            .timeout(Duration::from_secs(60));
        let resp = self.send(r)?;
        self.expect(&resp, 200).context("wait")?;
        let v = resp.json()?;
        v["StatusCode"]
            .as_i64()
            .ok_or_else(|| anyhow!("wait response without StatusCode: {v}"))
    }

    /// GET /containers/{id}/json as JSON.
    pub fn inspect(&mut self, id: &str) -> Result<Value> {
        let r = self.get(&format!("/containers/{id}/json"))?;
        self.expect(&r, 200).context("inspect")?;
        r.json()
    }

    /// Stops quickly (t=1) and ignores the status (cleanup-style helper).
    pub fn stop(&mut self, id: &str) -> Result<()> {
        let r = self.post(&format!("/containers/{id}/stop?t=1"))?;
        if r.status() != 204 && r.status() != 304 {
            bail!("stop: {} {}", r.status(), r.text());
        }
        Ok(())
    }

    /// Runs the docker CLI against the endpoint.
    pub fn docker(&self, args: &[&str]) -> Result<CliOutput> {
        cli::run(
            &self.ep.docker_host(),
            &self.cli_config,
            args,
            None,
            Duration::from_secs(90),
        )
    }

    pub fn docker_stdin(&self, args: &[&str], stdin: &[u8]) -> Result<CliOutput> {
        cli::run(
            &self.ep.docker_host(),
            &self.cli_config,
            args,
            Some(stdin),
            Duration::from_secs(90),
        )
    }

    /// Removes everything the run created; best effort, never fails.
    pub fn cleanup(&mut self) {
        let mut seen = std::collections::HashSet::new();
        let containers: Vec<String> = self.containers.drain(..).rev().collect();
        for c in containers {
            if seen.insert(c.clone()) {
                let _ = http::send(
                    &self.ep,
                    &self.req("DELETE", &format!("/containers/{c}?force=1&v=1")),
                );
            }
        }
        // Anything else carrying our label (created by the CLI, renamed…).
        let filters = format!("{{\"label\":[\"{RUN_LABEL}={}\"]}}", self.run_id);
        let q = format!("/containers/json?all=1&filters={}", urlencode(&filters));
        if let Ok(r) = http::send(&self.ep, &self.req("GET", &q)) {
            if let Ok(Value::Array(list)) = r.json() {
                for c in list {
                    if let Some(id) = c["Id"].as_str() {
                        let _ = http::send(
                            &self.ep,
                            &self.req("DELETE", &format!("/containers/{id}?force=1&v=1")),
                        );
                    }
                }
            }
        }
        for v in std::mem::take(&mut self.volumes) {
            let _ = http::send(
                &self.ep,
                &self.req("DELETE", &format!("/volumes/{v}?force=1")),
            );
        }
        let mut images: Vec<String> = self.images.drain(..).rev().collect();
        images.push(self.image.clone());
        for i in images {
            let _ = http::send(
                &self.ep,
                &self.req("DELETE", &format!("/images/{i}?force=1")),
            );
        }
        let _ = std::fs::remove_dir_all(&self.cli_config);
    }
}

fn flush_hex(out: &mut String, hex: &mut String) {
    if hex.len() >= 12 {
        out.push_str("ID");
    } else {
        out.push_str(hex);
    }
    hex.clear();
}

/// Deep-merges `patch` into `base` (objects merge, everything else replaces).
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `?filters=<urlencoded JSON>` for a filters map.
pub fn filters(v: &Value) -> String {
    urlencode(&v.to_string())
}

/// The structure of a JSON value as sorted `path:type` lines (arrays merge
/// their elements), for comparing two endpoints' responses.
pub fn shape(v: &Value) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    walk_shape(v, "$", &mut out, 0);
    out.into_iter().collect()
}

/// The JSON type of a value, as shapes and cases name it.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk_shape(v: &Value, at: &str, out: &mut std::collections::BTreeSet<String>, depth: usize) {
    let t = json_type(v);
    out.insert(format!("{at}:{t}"));
    if depth >= 4 {
        return;
    }
    match v {
        Value::Array(a) => {
            for e in a {
                walk_shape(e, &format!("{at}[]"), out, depth + 1);
            }
        }
        Value::Object(o) => {
            for (k, e) in o {
                // Map keys that are data (labels, env-like maps, IDs) would
                // make every run differ; keep the structure only.
                let key = if k.len() >= 12 && k.chars().all(|c| c.is_ascii_hexdigit()) {
                    "ID"
                } else {
                    k
                };
                walk_shape(e, &format!("{at}.{key}"), out, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_deep() {
        let mut a = json!({"a": {"b": 1, "c": 2}, "d": 1});
        merge(&mut a, json!({"a": {"b": 3}, "d": [1]}));
        assert_eq!(a, json!({"a": {"b": 3, "c": 2}, "d": [1]}));
    }

    #[test]
    fn urlencode_json() {
        assert_eq!(
            urlencode("{\"a\":[\"b=c\"]}"),
            "%7B%22a%22%3A%5B%22b%3Dc%22%5D%7D"
        );
    }
}
