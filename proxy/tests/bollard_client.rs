//! bollard (the Rust client) through a container's life against dockbridge: create, attach
//! before start with stdin, start, the multiplexed output, wait with the exit code, logs,
//! stats, remove. The same scenario runs against the reference dockerd from
//! scripts/pytest-clients.sh (the ignored test, with DOCKBRIDGE_REFERENCE_HOST), so a
//! failure here means dockbridge differs, not that the test is wrong.
#![cfg(unix)]

mod common;

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StatsOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

fn body(cmd: &str, image: &str) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sh".into(), "-c".into(), cmd.into()]),
        open_stdin: Some(true),
        stdin_once: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn lifecycle(docker: &Docker, image: &str, tag: &str) {
    let name = format!("bollard-{tag}-{}", std::process::id());
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            body("read line; echo got $line; echo err >&2; exit 3", image),
        )
        .await
        .expect("create");
    let id = created.id;
    // Attached before the start: nothing of the output can be missed.
    let mut attached = docker
        .attach_container(
            &id,
            Some(
                AttachContainerOptionsBuilder::default()
                    .stdin(true)
                    .stdout(true)
                    .stderr(true)
                    .stream(true)
                    .build(),
            ),
        )
        .await
        .expect("attach");
    // The wait goes out before the start (as the CLI does): `next-exit` is this run's.
    let waiter = {
        let docker = docker.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let opts = WaitContainerOptionsBuilder::default()
                .condition("next-exit")
                .build();
            docker
                .wait_container(&id, Some(opts))
                .collect::<Vec<_>>()
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    docker.start_container(&id, None).await.expect("start");
    attached.input.write_all(b"hello\n").await.unwrap();
    // End of input, as the CLI sends it (dockerd ends the attach once stdin closed too).
    attached.input.shutdown().await.unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(frame) = attached.output.next().await {
        match frame.expect("output frame") {
            LogOutput::StdOut { message } => out.push_str(&String::from_utf8_lossy(&message)),
            LogOutput::StdErr { message } => err.push_str(&String::from_utf8_lossy(&message)),
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert_eq!((out.as_str(), err.as_str()), ("got hello\n", "err\n"));
    let waited = waiter.await.expect("wait task");
    let code = match waited.first() {
        Some(Ok(r)) => r.status_code,
        // bollard turns a non-zero exit into this error.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => *code,
        other => panic!("wait: {other:?}"),
    };
    assert_eq!(code, 3);
    let logs: Vec<String> = docker
        .logs(
            &id,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        )
        .map(|f| f.expect("log frame").to_string())
        .collect()
        .await;
    // stdout and stderr are two pipes: which line the log got first is the process's race,
    // not the engine's (dockerd loses it under load too), so the lines are compared as a set.
    let mut lines: Vec<&str> = logs.iter().map(String::as_str).collect();
    lines.sort_unstable();
    assert_eq!(lines, ["err\n", "got hello\n"]);
    docker
        .remove_container(&id, None)
        .await
        .expect("remove exited");

    // Stats of a running container, one sample.
    let running = docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::default()
                    .name(&format!("{name}-s"))
                    .build(),
            ),
            body("sleep 60", image),
        )
        .await
        .expect("create");
    docker
        .start_container(&running.id, None)
        .await
        .expect("start");
    let stats: Vec<_> = docker
        .stats(
            &running.id,
            Some(StatsOptionsBuilder::default().stream(false).build()),
        )
        .collect()
        .await;
    let s = stats[0].as_ref().expect("stats");
    assert!(s.memory_stats.is_some() && s.cpu_stats.is_some(), "{s:?}");
    assert!(
        s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0) >= 1,
        "{s:?}"
    );
    docker
        .remove_container(
            &running.id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
        .expect("remove running");
}

#[test]
fn bollard_lifecycle_against_dockbridge() {
    let d = common::Daemon::start();
    d.load_busybox();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let docker = Docker::connect_with_unix(&d.host(), 120, bollard::API_DEFAULT_VERSION)
            .expect("bollard client");
        lifecycle(&docker, common::IMAGE, "db").await;
    });
}

/// Run by scripts/pytest-clients.sh against the reference dockerd.
#[test]
#[ignore]
fn bollard_lifecycle_against_the_reference() {
    let host = std::env::var("DOCKBRIDGE_REFERENCE_HOST").expect("DOCKBRIDGE_REFERENCE_HOST");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let docker = Docker::connect_with_unix(&host, 120, bollard::API_DEFAULT_VERSION)
            .expect("bollard client");
        lifecycle(&docker, "busybox:latest", "ref").await;
    });
}
