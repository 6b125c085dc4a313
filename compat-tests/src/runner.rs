//! Case registry plumbing: negotiation, setup, running cases in order,
//! cleanup.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::ctx::{Ctx, Exchange};
use crate::http::{self, Endpoint, Request};
use crate::image;
use crate::version::{ApiVersion, FALLBACK, SUITE_MAX};

/// What a passing or skipped case returns; a failing case returns `Err`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Skip(String),
}

pub type CaseFn = fn(&mut Ctx) -> Result<Outcome>;

/// One conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    pub area: &'static str,
    pub name: &'static str,
    /// The lowest API version whose behaviour the case asserts; skipped below.
    pub min_api: ApiVersion,
    pub run: CaseFn,
}

impl Case {
    pub const fn new(
        area: &'static str,
        name: &'static str,
        min_api: (u32, u32),
        run: CaseFn,
    ) -> Case {
        Case {
            area,
            name,
            min_api: ApiVersion(min_api.0, min_api.1),
            run,
        }
    }
    pub fn id(&self) -> String {
        format!("{}/{}", self.area, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub area: String,
    pub case: String,
    pub min_api: String,
    pub result: Status,
    pub detail: String,
    pub duration_ms: u128,
    pub exchanges: Vec<Exchange>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub host: String,
    pub run_id: String,
    pub server_version: String,
    pub server_api: String,
    pub negotiated_api: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub duration_ms: u128,
    pub results: Vec<CaseResult>,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Substrings of `area/case`; a case runs when any matches (all when empty).
    pub filters: Vec<String>,
    /// Forces the API version instead of negotiating.
    pub api_version: Option<ApiVersion>,
    /// A registry (`HOST:PORT`) the engine can push to and pull from over plain HTTP (a
    /// loopback one is insecure for dockerd by default); the registry cases skip without.
    pub registry: Option<String>,
}

pub fn selected(case: &Case, filters: &[String]) -> bool {
    filters.is_empty() || filters.iter().any(|f| case.id().contains(f.as_str()))
}

/// A short, lowercase, per-run token for unique names.
pub fn new_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut n = (nanos as u64) ^ ((std::process::id() as u64) << 40);
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut s = String::new();
    for _ in 0..8 {
        s.push(alphabet[(n % 36) as usize] as char);
        n /= 36;
    }
    s
}

/// `GET /_ping` and the version the client side should use, like the CLI:
/// min(server Api-Version, suite maximum).
pub fn negotiate(ep: &Endpoint) -> Result<(ApiVersion, ApiVersion)> {
    let r = http::send(
        ep,
        &Request::new("GET", "/_ping").timeout(Duration::from_secs(10)),
    )
    .context("GET /_ping (is the endpoint up?)")?;
    if r.status() != 200 {
        bail!("GET /_ping: status {}", r.status());
    }
    let server = match r.header("Api-Version") {
        Some(v) => v.parse()?,
        None => FALLBACK,
    };
    Ok((server, server.min(SUITE_MAX)))
}

/// Loads the suite's image through the API under test.
fn setup(ctx: &mut Ctx) -> Result<()> {
    let tag = ctx.image.clone();
    let tar = image::busybox_archive(&[tag.as_str()])?;
    let expected = image::image_id(&image::ImageSpec::default())?;
    let req = ctx
        .req("POST", "/images/load?quiet=1")
        .body_with_type(tar, "application/x-tar")
        .timeout(Duration::from_secs(120));
    let r = ctx.send(req)?;
    ctx.expect(&r, 200).context("POST /images/load")?;
    let msgs = r.json_lines()?;
    if let Some(e) = msgs
        .iter()
        .find(|m| m.get("error").is_some() || m.get("errorDetail").is_some())
    {
        bail!("load reported an error: {e}");
    }
    let r = ctx.get(&format!("/images/{tag}/json"))?;
    ctx.expect(&r, 200)
        .context("inspecting the loaded test image")?;
    let v = r.json()?;
    let id = v["Id"].as_str().unwrap_or_default().to_string();
    if id != expected {
        bail!("loaded image has Id {id}, expected {expected} (sha256 of its config)");
    }
    ctx.image_id = id;
    Ok(())
}

/// Runs the selected cases against `host`.
pub fn run(host: &str, cases: &[Case], opts: &RunOptions, progress: bool) -> Result<RunReport> {
    let started = Instant::now();
    let ep = Endpoint::parse(host)?;
    let (server_api, negotiated) = negotiate(&ep)?;
    let api = opts.api_version.unwrap_or(negotiated);
    let run_id = new_run_id();
    let mut ctx = Ctx::new(ep.clone(), api, server_api, run_id.clone())?;
    ctx.registry = opts.registry.clone();
    let server_version = http::send(&ep, &ctx.req("GET", "/version"))
        .ok()
        .and_then(|r| r.json().ok())
        .and_then(|v| v["Version"].as_str().map(str::to_string))
        .unwrap_or_default();
    if progress {
        eprintln!("# {host}: server {server_version}, API {server_api}, using {api}, run {run_id}");
    }

    let mut results = Vec::new();
    let t = Instant::now();
    let setup_res = catch_unwind(AssertUnwindSafe(|| setup(&mut ctx)));
    let setup_err = match setup_res {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(_) => Some("setup panicked".to_string()),
    };
    results.push(CaseResult {
        area: "setup".into(),
        case: "load_test_image".into(),
        min_api: "1.24".into(),
        result: if setup_err.is_some() {
            Status::Fail
        } else {
            Status::Pass
        },
        detail: setup_err.clone().unwrap_or_default(),
        duration_ms: t.elapsed().as_millis(),
        exchanges: std::mem::take(&mut ctx.trace),
    });

    for case in cases.iter().filter(|c| selected(c, &opts.filters)) {
        let t = Instant::now();
        let (status, detail) = if case.min_api > api {
            (
                Status::Skip,
                format!("needs API {}, using {api}", case.min_api),
            )
        } else {
            match catch_unwind(AssertUnwindSafe(|| (case.run)(&mut ctx))) {
                Ok(Ok(Outcome::Pass)) => (Status::Pass, String::new()),
                Ok(Ok(Outcome::Skip(why))) => (Status::Skip, why),
                Ok(Err(e)) => (Status::Fail, format!("{e:#}")),
                Err(p) => {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    (Status::Fail, format!("panicked: {msg}"))
                }
            }
        };
        if progress {
            eprintln!(
                "{:<4} {} ({} ms){}",
                status.as_str(),
                case.id(),
                t.elapsed().as_millis(),
                if status == Status::Fail {
                    format!(": {detail}")
                } else {
                    String::new()
                }
            );
        }
        results.push(CaseResult {
            area: case.area.into(),
            case: case.name.into(),
            min_api: case.min_api.to_string(),
            result: status,
            detail,
            duration_ms: t.elapsed().as_millis(),
            exchanges: std::mem::take(&mut ctx.trace),
        });
    }
    ctx.cleanup();

    let count = |s: Status| results.iter().filter(|r| r.result == s).count();
    Ok(RunReport {
        host: host.to_string(),
        run_id,
        server_version,
        server_api: server_api.to_string(),
        negotiated_api: api.to_string(),
        passed: count(Status::Pass),
        failed: count(Status::Fail),
        skipped: count(Status::Skip),
        duration_ms: started.elapsed().as_millis(),
        results,
    })
}
