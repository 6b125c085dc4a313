//! The real docker CLI against the endpoint: what users actually run.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};

use super::{contains, eq};
use crate::cli::{docker_path, CliOutput};
use crate::ctx::{Ctx, RUN_LABEL};
use crate::image;
use crate::runner::{Case, Outcome};

const A: &str = "cli";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(A, "version", (1, 24), version),
        Case::new(A, "info_ostype", (1, 24), info),
        Case::new(A, "run_rm_echo", (1, 25), run_echo),
        Case::new(A, "run_exit_code", (1, 25), run_exit_code),
        Case::new(A, "run_stdin", (1, 25), run_stdin),
        Case::new(A, "run_user_env_workdir", (1, 25), run_user_env_workdir),
        Case::new(A, "run_detached_ps_logs", (1, 25), run_detached_ps_logs),
        Case::new(A, "exec", (1, 25), exec),
        Case::new(A, "inspect_format", (1, 25), inspect_format),
        Case::new(A, "inspect_missing_exit_1", (1, 24), inspect_missing),
        Case::new(A, "create_start_attach", (1, 25), create_start_attach),
        Case::new(A, "rm_running_fails", (1, 25), rm_running),
        Case::new(A, "stop_rm", (1, 25), stop_rm),
        Case::new(A, "wait_prints_code", (1, 25), wait),
        Case::new(A, "images_lists_test_image", (1, 24), images),
        Case::new(A, "load_docker_archive", (1, 24), load_docker),
        Case::new(A, "load_oci_layout", (1, 24), load_oci),
        Case::new(A, "tag_rmi", (1, 24), tag_rmi),
        Case::new(A, "cp_roundtrip", (1, 25), cp),
        Case::new(A, "pull_unreachable_fails", (1, 24), pull_fails),
        Case::new(A, "events_since_until", (1, 25), events),
    ]
}

fn ok(o: &CliOutput) -> Result<()> {
    if o.code != 0 {
        bail!("docker failed: {}", o.describe());
    }
    Ok(())
}

fn have_cli() -> Option<Outcome> {
    if docker_path().is_file() {
        None
    } else {
        Some(Outcome::Skip(format!(
            "{} not installed",
            docker_path().display()
        )))
    }
}

/// `docker run` flags every container of the suite gets.
fn run_args(ctx: &mut Ctx) -> (String, Vec<String>) {
    let name = ctx.name();
    ctx.track_container(&name);
    let args = vec![
        "--name".to_string(),
        name.clone(),
        "--network".into(),
        "none".into(),
        "--label".into(),
        format!("{RUN_LABEL}={}", ctx.run_id),
        "--pull".into(),
        "never".into(),
    ];
    (name, args)
}

fn docker(ctx: &Ctx, args: &[&str]) -> Result<CliOutput> {
    ctx.docker(args)
}

fn run(ctx: &mut Ctx, pre: &[&str], cmd: &[&str]) -> Result<(String, CliOutput)> {
    let (name, extra) = run_args(ctx);
    let mut args: Vec<&str> = vec!["run"];
    args.extend(pre);
    args.extend(extra.iter().map(String::as_str));
    let img = ctx.image.clone();
    args.push(&img);
    args.extend(cmd);
    let o = docker(ctx, &args)?;
    Ok((name, o))
}

fn version(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let o = docker(ctx, &["version", "--format", "{{.Server.APIVersion}}"])?;
    ok(&o)?;
    eq(
        "Server.APIVersion",
        o.stdout.trim().to_string(),
        ctx.server_api.to_string(),
    )?;
    Ok(Outcome::Pass)
}

fn info(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let o = docker(ctx, &["info", "--format", "{{.OSType}}/{{.Architecture}}"])?;
    ok(&o)?;
    eq("info", o.stdout.trim(), "linux/x86_64")?;
    Ok(Outcome::Pass)
}

fn run_echo(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (name, o) = run(ctx, &["--rm"], &["echo", "hi"])?;
    ok(&o)?;
    eq("stdout", o.stdout.as_str(), "hi\n")?;
    // --rm: gone once the CLI returns (it waits for the removal).
    let r = ctx.get(&format!("/containers/{name}/json"))?;
    eq("after --rm", r.status(), 404)?;
    Ok(Outcome::Pass)
}

fn run_exit_code(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (_, o) = run(ctx, &["--rm"], &["sh", "-c", "echo err >&2; exit 7"])?;
    eq("exit code", o.code, 7)?;
    eq("stderr", o.stderr.as_str(), "err\n")?;
    Ok(Outcome::Pass)
}

fn run_stdin(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (name, extra) = run_args(ctx);
    let _ = name;
    let img = ctx.image.clone();
    let mut args = vec!["run", "-i", "--rm"];
    args.extend(extra.iter().map(String::as_str));
    args.extend([img.as_str(), "wc", "-l"]);
    let o = ctx.docker_stdin(&args, b"a\nb\nc\n")?;
    ok(&o)?;
    eq("wc -l", o.stdout.trim(), "3")?;
    Ok(Outcome::Pass)
}

fn run_user_env_workdir(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (_, o) = run(
        ctx,
        &["--rm", "-u", "daemon", "-e", "COMPAT=yes", "-w", "/tmp"],
        &["sh", "-c", "id -un; echo $COMPAT; pwd"],
    )?;
    ok(&o)?;
    eq("output", o.stdout.as_str(), "daemon\nyes\n/tmp\n")?;
    Ok(Outcome::Pass)
}

fn run_detached_ps_logs(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (name, o) = run(
        ctx,
        &["-d"],
        &[
            "sh",
            "-c",
            "echo started; trap 'exit 0' TERM; sleep 1000 & wait",
        ],
    )?;
    ok(&o)?;
    let id = o.stdout.trim().to_string();
    ensure!(id.len() == 64, "run -d printed {id:?}");
    let o = docker(
        ctx,
        &[
            "ps",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}} {{.State}}",
        ],
    )?;
    ok(&o)?;
    eq("ps", o.stdout.trim().to_string(), format!("{name} running"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = docker(ctx, &["logs", &name])?;
        ok(&o)?;
        if o.stdout == "started\n" {
            break;
        }
        ensure!(Instant::now() < deadline, "docker logs: {}", o.describe());
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Outcome::Pass)
}

fn exec(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (name, o) = run(
        ctx,
        &["-d"],
        &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
    )?;
    ok(&o)?;
    let o = docker(ctx, &["exec", &name, "sh", "-c", "echo from exec; exit 3"])?;
    eq("exit", o.code, 3)?;
    eq("stdout", o.stdout.as_str(), "from exec\n")?;
    let o = ctx.docker_stdin(&["exec", "-i", &name, "cat"], b"piped\n")?;
    ok(&o)?;
    eq("stdin", o.stdout.as_str(), "piped\n")?;
    Ok(Outcome::Pass)
}

fn inspect_format(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (name, o) = run(ctx, &[], &["sh", "-c", "exit 4"])?;
    eq("exit", o.code, 4)?;
    let o = docker(
        ctx,
        &[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.Name}}",
            &name,
        ],
    )?;
    ok(&o)?;
    eq(
        "inspect",
        o.stdout.trim().to_string(),
        format!("exited 4 /{name}"),
    )?;
    Ok(Outcome::Pass)
}

fn inspect_missing(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let o = docker(ctx, &["inspect", &format!("compat-missing-{}", ctx.run_id)])?;
    eq("exit code", o.code, 1)?;
    contains("stderr", &o.stderr, "No such object")?;
    Ok(Outcome::Pass)
}

fn create_start_attach(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (name, extra) = run_args(ctx);
    let img = ctx.image.clone();
    let mut args = vec!["create"];
    args.extend(
        extra
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "--pull" && *a != "never"),
    );
    args.extend([img.as_str(), "sh", "-c", "echo attached; echo e >&2"]);
    let o = docker(ctx, &args)?;
    ok(&o)?;
    let o = docker(ctx, &["start", "-a", &name])?;
    ok(&o)?;
    eq("stdout", o.stdout.as_str(), "attached\n")?;
    eq("stderr", o.stderr.as_str(), "e\n")?;
    Ok(Outcome::Pass)
}

fn rm_running(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (name, o) = run(
        ctx,
        &["-d"],
        &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
    )?;
    ok(&o)?;
    let o = docker(ctx, &["rm", &name])?;
    eq("exit", o.code, 1)?;
    contains("stderr", &o.stderr, "cannot remove")?;
    let o = docker(ctx, &["rm", "-f", &name])?;
    ok(&o)?;
    Ok(Outcome::Pass)
}

fn stop_rm(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (name, o) = run(
        ctx,
        &["-d"],
        &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
    )?;
    ok(&o)?;
    let o = docker(ctx, &["stop", "-t", "5", &name])?;
    ok(&o)?;
    eq("stop prints name", o.stdout.trim(), name.as_str())?;
    let o = docker(ctx, &["rm", &name])?;
    ok(&o)?;
    let o = docker(
        ctx,
        &["ps", "-a", "--filter", &format!("name={name}"), "-q"],
    )?;
    eq("ps -a after rm", o.stdout.trim(), "")?;
    Ok(Outcome::Pass)
}

fn wait(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (name, o) = run(ctx, &["-d"], &["sh", "-c", "sleep 0.3; exit 12"])?;
    ok(&o)?;
    let o = docker(ctx, &["wait", &name])?;
    ok(&o)?;
    eq("wait", o.stdout.trim(), "12")?;
    Ok(Outcome::Pass)
}

fn images(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let o = docker(
        ctx,
        &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
    )?;
    ok(&o)?;
    let short = &ctx.image_id.trim_start_matches("sha256:")[..12];
    contains("images", &o.stdout, &format!("{} {short}", ctx.image))?;
    Ok(Outcome::Pass)
}

fn load_file(ctx: &mut Ctx, tar: Vec<u8>, tag: &str) -> Result<()> {
    ctx.track_image(tag);
    let path = std::env::temp_dir().join(format!(
        "compat-{}-{}.tar",
        ctx.run_id,
        tag.replace([':', '/'], "_")
    ));
    std::fs::write(&path, tar)?;
    let p = path.to_string_lossy().into_owned();
    let o = docker(ctx, &["load", "-i", &p]);
    let _ = std::fs::remove_file(&path);
    let o = o?;
    ok(&o)?;
    contains("load output", &o.stdout, &format!("Loaded image: {tag}"))?;
    let o = docker(ctx, &["image", "inspect", "-f", "{{.Id}}", tag])?;
    ok(&o)?;
    eq("Id", o.stdout.trim(), ctx.image_id.as_str())?;
    Ok(())
}

fn load_docker(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let tag = format!("compat-cliload:{}", ctx.run_id);
    load_file(ctx, image::busybox_archive(&[&tag])?, &tag)?;
    Ok(Outcome::Pass)
}

fn load_oci(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let tag = format!("compat-clioci:{}", ctx.run_id);
    load_file(ctx, image::busybox_oci_archive(&[&tag])?, &tag)?;
    Ok(Outcome::Pass)
}

fn tag_rmi(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let tag = format!("compat-clitag:{}", ctx.run_id);
    ctx.track_image(&tag);
    let img = ctx.image.clone();
    ok(&docker(ctx, &["tag", &img, &tag])?)?;
    let o = docker(ctx, &["rmi", &tag])?;
    ok(&o)?;
    contains("rmi", &o.stdout, &format!("Untagged: {tag}"))?;
    Ok(Outcome::Pass)
}

fn cp(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let (name, o) = run(
        ctx,
        &["-d"],
        &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
    )?;
    ok(&o)?;
    let dir = std::env::temp_dir().join(format!("compat-cp-{}", ctx.run_id));
    std::fs::create_dir_all(&dir)?;
    let src = dir.join("in.txt");
    std::fs::write(&src, "copied in\n")?;
    let result = (|| -> Result<()> {
        ok(&docker(
            ctx,
            &["cp", &src.to_string_lossy(), &format!("{name}:/tmp/in.txt")],
        )?)?;
        let o = docker(ctx, &["exec", &name, "cat", "/tmp/in.txt"])?;
        eq("in container", o.stdout.as_str(), "copied in\n")?;
        let dst = dir.join("out.txt");
        ok(&docker(
            ctx,
            &["cp", &format!("{name}:/etc/passwd"), &dst.to_string_lossy()],
        )?)?;
        let got = std::fs::read_to_string(&dst)?;
        ensure!(got.starts_with("root:x:0:0:"), "copied out {got:?}");
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(Outcome::Pass)
}

fn pull_fails(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let t = Instant::now();
    let o = docker(ctx, &["pull", "127.0.0.1:9/compat/nope:latest"])?;
    ensure!(o.code != 0, "pull from nowhere succeeded: {}", o.describe());
    ensure!(
        t.elapsed() < Duration::from_secs(20),
        "pull took {:?}",
        t.elapsed()
    );
    contains("stderr", &o.stderr, "Error response from daemon")?;
    Ok(Outcome::Pass)
}

fn events(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(s) = have_cli() {
        return Ok(s);
    }
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        - 1;
    let (name, o) = run(ctx, &[], &["true"])?;
    ok(&o)?;
    std::thread::sleep(Duration::from_millis(200));
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 1;
    let o = docker(
        ctx,
        &[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            &format!("container={name}"),
            "--format",
            "{{.Action}}",
        ],
    )?;
    ok(&o)?;
    let acts: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| ["create", "start", "die"].contains(l))
        .collect();
    eq("actions", acts, vec!["create", "start", "die"])?;
    Ok(Outcome::Pass)
}
