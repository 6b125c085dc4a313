//! End to end: `docker search` against a registry index with the v1 search API
//! (tests/fixtures/v1_index.py, answering as Docker Hub's index does): the query and
//! limit sent, dockerd's filters applied to what came back, the CLI's credentials for
//! that registry passed on, and the CLI's table.
// containerd, runc and the docker CLI: a Linux host is required.
#![cfg(unix)]

mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use common::Daemon;

struct Index {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Index {
    fn start(dir: &std::path::Path) -> Self {
        let log = dir.join("v1_index.log");
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/v1_index.py"
            ))
            .arg("--log")
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (scripts/install-deps.sh installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the index's port");
        let port = line.trim().parse().expect("a port");
        Self { child, port, log }
    }

    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn search_asks_the_index_and_filters_as_dockerd() {
    let d = Daemon::start();
    let index = Index::start(&d.path(""));
    let reg = format!("127.0.0.1:{}", index.port);

    // The CLI's stored credentials for this registry travel as X-Registry-Auth and reach
    // the index as basic auth.
    let cfg = d.path("cli-config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        format!(r#"{{"auths":{{"{reg}":{{"auth":"dTpw"}}}}}}"#),
    )
    .unwrap();

    let out = d.ok(&[
        "search",
        "--format",
        "{{.Name}}|{{.StarCount}}|{{.IsOfficial}}|{{.Description}}",
        &format!("{reg}/web"),
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "library/web|40|[OK]|the official web server",
            "someone/web-tools|7||tools for the web",
            "other/webapp|1||an app",
        ],
        "{out}"
    );
    let reqs = index.requests();
    assert_eq!(
        reqs.first().map(String::as_str),
        Some("/v1/_ping -"),
        "{reqs:?}"
    );
    assert!(
        reqs.contains(&"/v1/search?q=web&n=25 Basic dTpw".to_string()),
        "{reqs:?}"
    );

    // dockerd's own filters over the index's answer, and the limit passed on.
    let out = d.ok(&[
        "search",
        "--filter",
        "stars=5",
        "--filter",
        "is-official=false",
        "--limit",
        "3",
        "--format",
        "{{.Name}}",
        &format!("{reg}/web"),
    ]);
    assert_eq!(out.trim(), "someone/web-tools");
    assert!(
        index
            .requests()
            .iter()
            .any(|r| r.starts_with("/v1/search?q=web&n=3 ")),
        "{:?}",
        index.requests()
    );

    // Bad input is refused before anything goes out.
    let before = index.requests().len();
    d.fails_with(
        &["search", "--limit", "500", &format!("{reg}/web")],
        "Limit 500 is outside the range of [1, 100]",
    );
    d.fails_with(
        &[
            "search",
            "--filter",
            "is-automated=maybe",
            &format!("{reg}/web"),
        ],
        "Invalid filter 'is-automated=[maybe]'",
    );
    // The limit is checked once the endpoint answered its ping, as dockerd does.
    assert!(
        index.requests()[before..]
            .iter()
            .all(|r| r.starts_with("/v1/_ping")),
        "{:?}",
        index.requests()
    );
}
