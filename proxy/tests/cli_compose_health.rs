//! End to end: a docker compose v2 project whose `web` service waits for `db` to be
//! healthy (`depends_on: condition: service_healthy`), with a named volume both mount:
//! web starts only once db's healthcheck passed (it finds db's readiness file in the
//! volume), and `compose down -v` removes the project's volume (found by its labels).
//! Runs in a private network namespace: compose makes a project network.
#![cfg(unix)]

mod common;

use common::Daemon;

const COMPOSE_FILE: &str = r#"
name: healthy
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "sleep 1; touch /data/ready; exec sleep 300"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 200ms
      retries: 20
  web:
    image: busybox:latest
    command: ["sh", "-c", "test -f /data/ready && exec sleep 300"]
    volumes: ["data:/data"]
    depends_on:
      db:
        condition: service_healthy
volumes:
  data: {}
"#;

#[test]
fn compose_waits_for_a_healthy_service_and_removes_its_volume() {
    let d = Daemon::start_isolated(&[]);
    d.load_busybox();
    let file = d.path("compose.yaml");
    std::fs::write(&file, COMPOSE_FILE).unwrap();
    let run = |args: &[&str]| d.compose(&file, args);
    run(&["up", "-d"]);
    let health = d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "healthy-db-1"]);
    assert_eq!(health.trim(), "healthy");
    // web's command exits at once unless db's readiness file was already there.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let web = d.ok(&["inspect", "-f", "{{.State.Status}}", "healthy-web-1"]);
    assert_eq!(web.trim(), "running");
    let vol = d.ok(&[
        "volume",
        "inspect",
        "-f",
        "{{index .Labels \"com.docker.compose.project\"}}",
        "healthy_data",
    ]);
    assert_eq!(vol.trim(), "healthy");
    run(&["down", "-v"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");
}
