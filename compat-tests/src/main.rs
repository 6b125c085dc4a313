#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use compat::runner::{self, RunOptions};
use compat::{cases, report};

/// Docker Engine API compatibility suite: runs every case against an
/// endpoint and reports pass / fail / skip.
#[derive(Parser, Debug)]
#[command(name = "dockbridge-compat", version)]
struct Args {
    /// Endpoint under test: unix:///path/docker.sock or tcp://host:port
    /// (default: $DOCKER_HOST, else unix:///var/run/docker.sock).
    #[arg(long, short = 'H')]
    host: Option<String>,
    /// Write a machine-readable JSON report to this file ("-" for stdout).
    #[arg(long, value_name = "PATH")]
    json: Option<String>,
    /// Only run cases whose "area/case" contains this text (repeatable).
    #[arg(long, short = 'f')]
    filter: Vec<String>,
    /// Run against two endpoints and show the cases where they differ.
    #[arg(long, num_args = 2, value_names = ["HOST_A", "HOST_B"])]
    compare: Option<Vec<String>>,
    /// Use this API version instead of negotiating it from /_ping.
    #[arg(long, value_name = "X.Y")]
    api_version: Option<String>,
    /// List the cases (area, case, minimum API) and exit.
    #[arg(long)]
    list: bool,
    /// Write the suite's busybox test image archive to PATH and exit.
    #[arg(long, value_name = "PATH")]
    save_image: Option<String>,
    /// Tag for --save-image.
    #[arg(long, default_value = "compat-busybox:latest")]
    tag: String,
    /// With --save-image: write an OCI layout instead of a docker archive.
    #[arg(long)]
    oci: bool,
    /// A registry HOST:PORT the endpoint can push to and pull from over plain HTTP (e.g.
    /// compat-tests/scripts/registry.sh); without it the registry cases skip.
    #[arg(long, value_name = "HOST:PORT")]
    registry: Option<String>,
    /// With --compare: also write the side-by-side report as Markdown to this file.
    #[arg(long, value_name = "PATH")]
    markdown: Option<String>,
    /// Write a JUnit XML report to this file (one testcase per case).
    #[arg(long, value_name = "PATH")]
    junit: Option<String>,
    /// After the run, print which API operations (the swagger's operationIds) the cases
    /// exercised, and those no case touches.
    #[arg(long)]
    coverage: bool,
    /// Print the coverage of saved `--json` reports together, without running anything
    /// (e.g. the main run and a run of the cases that need the default bridge).
    #[arg(long, num_args = 1.., value_name = "JSON")]
    coverage_of: Option<Vec<String>>,
    /// Don't print per-case progress on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dockbridge-compat: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let args = Args::parse();
    let all = cases::all();
    let opts = RunOptions {
        filters: args.filter.clone(),
        api_version: args.api_version.as_deref().map(str::parse).transpose()?,
        registry: args.registry.clone(),
    };
    if args.list {
        for c in all.iter().filter(|c| runner::selected(c, &opts.filters)) {
            println!("{:<12} {:<48} {}", c.area, c.name, c.min_api);
        }
        for (area, n) in report::area_counts(all.iter().map(|c| c.area)) {
            println!("# {area}: {n}");
        }
        println!("# total: {}", all.len());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &args.save_image {
        let tar = if args.oci {
            compat::image::busybox_oci_archive(&[args.tag.as_str()])?
        } else {
            compat::image::busybox_archive(&[args.tag.as_str()])?
        };
        std::fs::write(path, tar).with_context(|| format!("writing {path}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(paths) = &args.coverage_of {
        let reports = paths
            .iter()
            .map(|p| {
                let text = std::fs::read(p).with_context(|| format!("reading {p}"))?;
                serde_json::from_slice::<runner::RunReport>(&text)
                    .with_context(|| format!("{p} is not a --json report of one run"))
            })
            .collect::<Result<Vec<_>>>()?;
        print_coverage(&reports)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !compat::image::busybox_available() {
        bail!(
            "{} is missing: install Debian's busybox-static",
            compat::image::BUSYBOX_PATH
        );
    }
    if let Some(hosts) = &args.compare {
        let [a, b] = hosts.as_slice() else {
            bail!("--compare needs two hosts")
        };
        let ra = runner::run(a, &all, &opts, !args.quiet)?;
        let rb = runner::run(b, &all, &opts, !args.quiet)?;
        if let Some(path) = &args.json {
            write_json(path, &serde_json::json!({ "a": ra, "b": rb }))?;
        }
        if let Some(path) = &args.markdown {
            std::fs::write(path, report::compare_markdown(&ra, &rb))
                .with_context(|| format!("writing {path}"))?;
        }
        let (text, differing) = report::compare(&ra, &rb);
        print!("{text}");
        return Ok(if differing > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let host = args
        .host
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
    let r = runner::run(&host, &all, &opts, !args.quiet)?;
    if let Some(path) = &args.json {
        write_json(path, &r)?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&r)).with_context(|| format!("writing {path}"))?;
    }
    print!("{}", report::table(&r));
    let failed = report::failed(&r);
    if args.coverage {
        print_coverage(&[r])?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The coverage table of `reports`, against the swagger of the newest API they negotiated.
fn print_coverage(reports: &[runner::RunReport]) -> Result<()> {
    let api = reports
        .iter()
        .map(|r| r.negotiated_api.parse())
        .collect::<Result<Vec<compat::version::ApiVersion>, _>>()?
        .into_iter()
        .max()
        .context("no report to count")?;
    let schema = compat::schema::Schema::for_version(api)?;
    print!(
        "{}",
        compat::coverage::render(&compat::coverage::coverage(&schema, reports))
    );
    Ok(())
}

fn write_json<T: serde::Serialize>(path: &str, v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v)?;
    if path == "-" {
        println!("{text}");
    } else {
        std::fs::write(path, text).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}
