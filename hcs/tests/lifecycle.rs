//! The lifecycle rules, one test each, against the HCS simulator loaded through the same
//! dynamic-loading path as computecore.dll.

mod common;

use std::time::Duration;

use common::{config, documents, read_all, stdio, Harness};
use hcs::adapter::{Adapter, AdapterConfig, Event, ProcessStdio, Status};
use hcs::HResult;
use serde_json::json;
use tokio::io::AsyncWriteExt;

const ID: &str = "c0ffee";
const WAIT: Duration = Duration::from_secs(5);

fn hr(v: HResult) -> i64 {
    i64::from(v.0)
}

fn long_running() -> serde_json::Value {
    json!({"command_line_contains": "ping", "stdout": "pinging\r\n", "run": "until_signalled",
           "signal_exit_code": 0})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_a_container_end_to_end() {
    let mut h = Harness::new(json!({"processes": [
        {"command_line_contains": "echo", "stdout": "hello\r\n", "stderr": "oops\r\n", "exit_code": 3}
    ]}));
    // A Windows command line with its own quoting: passed through, never re-escaped.
    let cmd = r#"cmd /c "echo hello""#;
    let (doc, params) = documents(cmd, false);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    assert_eq!(h.adapter.state(ID).unwrap().status, Status::Created);
    let (io, streams) = stdio(false);
    let pid = h.adapter.start(ID, io).await.unwrap();
    assert!(pid > 0);
    assert_eq!(read_all(streams.stdout).await, "hello\r\n");
    assert_eq!(read_all(streams.stderr).await, "oops\r\n");
    assert_eq!(h.exited(None, WAIT).await, Some((3, pid)));
    let st = h.adapter.state(ID).unwrap();
    assert_eq!((st.status, st.exit_code), (Status::Stopped, Some(3)));

    let report = h.report();
    let received = report["received"].as_array().unwrap();
    let process_doc = received
        .iter()
        .find(|r| r["function"] == "HcsCreateProcess")
        .unwrap();
    assert_eq!(process_doc["document"]["CommandLine"], cmd);
    let system_doc = received
        .iter()
        .find(|r| r["function"] == "HcsCreateComputeSystem")
        .unwrap();
    assert_eq!(
        system_doc["document"]["SchemaVersion"],
        json!({"Major": 2, "Minor": 1})
    );
    assert_eq!(
        system_doc["document"]["ShouldTerminateOnLastHandleClosed"],
        true
    );

    h.adapter.delete(ID).await.unwrap();
    assert!(h.adapter.state(ID).is_none());
    assert_eq!(h.leaked().await, 0, "{}", h.report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_event_is_emitted() {
    let mut h = Harness::new(json!({}));
    let (doc, params) = documents("cmd /c exit", false);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    assert_eq!(
        h.drain_events(),
        vec![Event::Created { id: ID.to_string() }]
    );
    h.adapter.delete(ID).await.unwrap();
    // Deleting a never-started container reports no exit.
    assert!(h.drain_events().is_empty());
    assert_eq!(h.leaked().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_handle_closed_when_a_call_fails_at_once() {
    for function in [
        "HcsCreateComputeSystem",
        "HcsStartComputeSystem",
        "HcsSetComputeSystemCallback",
    ] {
        let mut h = Harness::new(json!({"faults": [{"function": function, "mode": "fail"}]}));
        let (doc, params) = documents("cmd /c exit", false);
        let err = h.adapter.create(ID, &doc, &params).await.unwrap_err();
        assert!(err.to_string().contains(function), "{function}: {err}");
        assert_eq!(
            h.calls("HcsCreateOperation"),
            h.calls("HcsCloseOperation"),
            "{function}"
        );
        assert_eq!(h.leaked().await, 0, "{function}: {}", h.report());
        assert!(h.adapter.state(ID).is_none());
        assert!(
            h.drain_events().is_empty(),
            "no create event for a failed create"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_timeout_terminates_the_system_and_never_cancels() {
    let mut h = Harness::with_config(
        json!({"faults": [{"function": "HcsStartComputeSystem", "mode": "hang"}]}),
        config(Duration::from_millis(200)),
    );
    let (doc, params) = documents("cmd /c exit", false);
    let err = h.adapter.create(ID, &doc, &params).await.unwrap_err();
    // HCS_E_OPERATION_TIMEOUT, as real HCS answers, not HRESULT_FROM_WIN32(ERROR_TIMEOUT).
    assert_eq!(
        err.hresult(),
        Some(HResult::HCS_E_OPERATION_TIMEOUT),
        "{err}"
    );
    assert_eq!(HResult::HCS_E_OPERATION_TIMEOUT.0 as u32, 0x8037_0118);
    let report = h.report();
    // Real HCS answers E_NOTIMPL to HcsCancelOperation: it is never called; the system
    // is terminated instead, then every handle closed.
    assert_eq!(h.calls("HcsCancelOperation"), 0, "{report}");
    assert!(h.calls("HcsTerminateComputeSystem") >= 1, "{report}");
    assert_eq!(h.calls("HcsCreateOperation"), h.calls("HcsCloseOperation"));
    assert_eq!(h.leaked().await, 0, "{}", h.report());
    assert!(h.drain_events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_pause_terminates_the_running_system() {
    let mut h = Harness::with_config(
        json!({
            "processes": [long_running()],
            "faults": [{"function": "HcsPauseComputeSystem", "mode": "hang"}]
        }),
        config(Duration::from_millis(200)),
    );
    let (doc, params) = documents("ping -t localhost", false);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    let (io, _streams) = stdio(false);
    let pid = h.adapter.start(ID, io).await.unwrap();
    let err = h.adapter.pause(ID).await.unwrap_err();
    assert_eq!(
        err.hresult(),
        Some(HResult::HCS_E_OPERATION_TIMEOUT),
        "{err}"
    );
    assert_eq!(h.calls("HcsCancelOperation"), 0, "{}", h.report());
    assert!(h.calls("HcsTerminateComputeSystem") >= 1, "{}", h.report());
    // The init's exit comes through the system's notification, as for any exit.
    assert!(h.exited(None, WAIT).await.is_some_and(|(_, p)| p == pid));
    h.adapter.delete(ID).await.unwrap();
    assert_eq!(h.leaked().await, 0, "{}", h.report());
}

/// A process operation that times out cannot be cancelled (real HCS answers E_NOTIMPL) and
/// leaves the process in an unknown state: the container's compute system is terminated,
/// the exits arrive through the notifications as for any exit (the init's is the
/// container's `die`, once), and no handle is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_process_operation_terminates_the_compute_system() {
    for function in [
        "HcsSignalProcess",
        "HcsModifyProcess",
        "HcsTerminateProcess",
        "HcsCreateProcess",
    ] {
        // The init is the first HcsCreateProcess; the hang hits the exec's.
        let occurrence = if function == "HcsCreateProcess" { 2 } else { 1 };
        let mut h = Harness::with_config(
            json!({
                "processes": [long_running()],
                "faults": [{"function": function, "occurrence": occurrence, "mode": "hang"}]
            }),
            config(Duration::from_millis(300)),
        );
        let (doc, params) = documents("ping -t localhost", false);
        h.adapter.create(ID, &doc, &params).await.unwrap();
        let (io, _streams) = stdio(false);
        let pid = h.adapter.start(ID, io).await.unwrap();
        let (exec_io, _exec_streams) = stdio(false);
        let err = match function {
            "HcsSignalProcess" => h.adapter.signal(ID, None, 15).await.unwrap_err(),
            "HcsModifyProcess" => h.adapter.resize(ID, None, 80, 25).await.unwrap_err(),
            "HcsTerminateProcess" => {
                h.adapter.exec(ID, "e1", &params, exec_io).await.unwrap();
                h.adapter.signal(ID, Some("e1"), 9).await.unwrap_err()
            }
            _ => h
                .adapter
                .exec(ID, "e1", &params, exec_io)
                .await
                .unwrap_err(),
        };
        assert_eq!(
            err.hresult(),
            Some(HResult::HCS_E_OPERATION_TIMEOUT),
            "{function}: {err}"
        );
        assert_eq!(h.calls("HcsCancelOperation"), 0, "{function}");
        assert!(
            h.calls("HcsTerminateComputeSystem") >= 1,
            "{function}: {}",
            h.report()
        );
        // Created, then the exits: the init's (Docker's `die`) and the exec's, if it ran.
        let want_exec = function == "HcsTerminateProcess";
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        let exited = |events: &[Event], exec: Option<&str>| {
            events
                .iter()
                .any(|e| matches!(e, Event::Exited { exec_id, .. } if exec_id.as_deref() == exec))
        };
        while !(exited(&events, None) && (!want_exec || exited(&events, Some("e1"))))
            && tokio::time::Instant::now() < deadline
        {
            events.extend(h.drain_events());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            events.first(),
            Some(&Event::Created { id: ID.to_string() }),
            "{function}: {events:?}"
        );
        let init_exits: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                Event::Exited {
                    exec_id: None, pid, ..
                } => Some(*pid),
                _ => None,
            })
            .collect();
        assert_eq!(
            init_exits,
            [pid],
            "{function}: the init dies once: {events:?}"
        );
        assert_eq!(
            exited(&events, Some("e1")),
            want_exec,
            "{function}: {events:?}"
        );
        assert_eq!(h.adapter.state(ID).unwrap().status, Status::Stopped);
        h.adapter.delete(ID).await.unwrap();
        assert_eq!(h.leaked().await, 0, "{function}: {}", h.report());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_create_terminates_and_closes_the_system() {
    let mut h = Harness::new(json!({"faults": [
        {"function": "HcsCreateComputeSystem", "mode": "async", "hresult": hr(HResult::HCS_E_INVALID_JSON)}
    ]}));
    let (doc, params) = documents("cmd /c exit", false);
    let err = h.adapter.create(ID, &doc, &params).await.unwrap_err();
    assert_eq!(err.hresult(), Some(HResult::HCS_E_INVALID_JSON));
    assert!(h.calls("HcsTerminateComputeSystem") >= 1);
    assert_eq!(h.calls("HcsCloseComputeSystem"), 1);
    assert_eq!(h.leaked().await, 0, "{}", h.report());
    assert!(h.drain_events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_start_terminates_and_closes_the_system() {
    let mut h = Harness::new(json!({"faults": [
        {"function": "HcsStartComputeSystem", "mode": "async"}
    ]}));
    let (doc, params) = documents("cmd /c exit", false);
    h.adapter.create(ID, &doc, &params).await.unwrap_err();
    assert!(h.calls("HcsTerminateComputeSystem") >= 1);
    assert_eq!(h.calls("HcsCloseComputeSystem"), 1);
    assert_eq!(h.leaked().await, 0, "{}", h.report());
    assert!(h.adapter.state(ID).is_none());
    // The id is free again.
    h.reconfigure(json!({}), config(WAIT));
    h.adapter.create(ID, &doc, &params).await.unwrap();
    h.adapter.delete(ID).await.unwrap();
}

/// moby#38719: a failed init process must still reap the container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_init_process_reaps_the_container_with_127_and_die() {
    for mode in ["fail", "async"] {
        let mut h = Harness::new(json!({"faults": [
            {"function": "HcsCreateProcess", "mode": mode}
        ]}));
        let (doc, params) = documents("nosuchcommand.exe", false);
        h.adapter.create(ID, &doc, &params).await.unwrap();
        let (io, streams) = stdio(false);
        h.adapter.start(ID, io).await.unwrap_err();
        assert_eq!(
            h.exited(None, WAIT).await,
            Some((127, 0)),
            "{mode}: die with 127"
        );
        let st = h.adapter.state(ID).unwrap();
        assert_eq!(
            (st.status, st.exit_code),
            (Status::Stopped, Some(127)),
            "{mode}"
        );
        assert!(h.calls("HcsTerminateComputeSystem") >= 1, "{mode}");
        // Before any delete: nothing of the container is left open.
        assert_eq!(h.leaked().await, 0, "{mode}: {}", h.report());
        // The caller's streams end.
        assert_eq!(read_all(streams.stdout).await, "");
        h.adapter.delete(ID).await.unwrap();
        assert!(h.drain_events().is_empty(), "{mode}: exactly one die");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_exit_closes_process_and_stdio_handles_once() {
    let mut h = Harness::new(json!({"processes": [long_running()]}));
    let (doc, params) = documents("ping -t localhost", true);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    let (io, streams) = stdio(true);
    let pid = h.adapter.start(ID, io).await.unwrap();
    let report = h.report();
    assert_eq!(
        report["stdio"], 3,
        "stdin, stdout and stderr are open: {report}"
    );
    assert_eq!(report["process_handles"], 1);

    h.adapter.signal(ID, None, 15).await.unwrap();
    assert_eq!(h.exited(None, WAIT).await, Some((0, pid)));
    assert_eq!(h.calls("HcsCloseProcess"), 1, "closed exactly once");
    let report = h.report();
    assert_eq!(report["stdio"], 0, "{report}");
    assert_eq!(report["process_handles"], 0);
    // The init's exit also reaped the container: no handle is left, even before delete.
    assert_eq!(h.leaked().await, 0, "{}", h.report());
    // Signalling a process that is gone is a conflict, never a second close.
    assert!(h.adapter.signal(ID, None, 15).await.is_err());
    assert_eq!(h.calls("HcsCloseProcess"), 1);
    assert_eq!(read_all(streams.stdout).await, "pinging\r\n");
    h.adapter.delete(ID).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_is_published_with_minus_one_when_the_exit_code_cannot_be_read() {
    let mut h = Harness::new(json!({
        "processes": [{"exit_code": 5}],
        "faults": [{"function": "HcsGetProcessProperties", "mode": "async"}]
    }));
    let (doc, params) = documents("cmd /c exit 5", false);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    let pid = h.adapter.start(ID, ProcessStdio::default()).await.unwrap();
    assert_eq!(h.exited(None, WAIT).await, Some((-1, pid)));
    assert_eq!(h.adapter.state(ID).unwrap().exit_code, Some(-1));
    assert_eq!(h.leaked().await, 0, "{}", h.report());
    h.adapter.delete(ID).await.unwrap();
}

/// moby#42610: ERROR_PROC_NOT_FOUND from a shutdown is a failure, not "already stopped".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_proc_not_found_falls_back_to_terminate() {
    let mut h = Harness::new(json!({"faults": [{"function": "HcsShutDownComputeSystem",
        "mode": "async", "hresult": hr(HResult::ERROR_PROC_NOT_FOUND)}]}));
    let (doc, params) = documents("cmd /c exit", false);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    h.adapter.start(ID, ProcessStdio::default()).await.unwrap();
    assert!(h.exited(None, WAIT).await.is_some());
    assert_eq!(h.calls("HcsShutDownComputeSystem"), 1);
    assert_eq!(h.calls("HcsTerminateComputeSystem"), 1, "{}", h.report());
    assert_eq!(h.leaked().await, 0);
    h.adapter.delete(ID).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_already_stopped_needs_no_terminate() {
    let mut h = Harness::new(json!({"faults": [{"function": "HcsShutDownComputeSystem",
        "mode": "async", "hresult": hr(HResult::HCS_E_SYSTEM_ALREADY_STOPPED)}]}));
    let (doc, params) = documents("cmd /c exit", false);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    h.adapter.start(ID, ProcessStdio::default()).await.unwrap();
    assert!(h.exited(None, WAIT).await.is_some());
    assert_eq!(h.calls("HcsTerminateComputeSystem"), 0, "{}", h.report());
    // Terminate was skipped, so the simulated system only goes with its last handle.
    assert_eq!(h.leaked().await, 0);
    h.adapter.delete(ID).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_reaches_the_process_and_close_stdin_ends_it() {
    let mut h = Harness::new(json!({"processes": [
        {"command_line_contains": "more", "run": "until_stdin_closed", "exit_code": 0}
    ]}));
    let (doc, params) = documents("more", true);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    let (io, mut streams) = stdio(true);
    let pid = h.adapter.start(ID, io).await.unwrap();
    let mut stdin = streams.stdin.take().unwrap();
    stdin.write_all(b"ping\n").await.unwrap();
    stdin.flush().await.unwrap();
    // Give the pump a moment, then half-close from the client side.
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.adapter.close_stdin(ID, None).await.unwrap();
    assert_eq!(h.exited(None, WAIT).await, Some((0, pid)));
    let report = h.report();
    assert_eq!(report["stdin"][pid.to_string()], "ping\n", "{report}");
    h.adapter.delete(ID).await.unwrap();
    assert_eq!(h.leaked().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_and_exits_and_a_failed_exec_leaves_the_container_running() {
    let mut h = Harness::new(json!({
        "processes": [long_running(), {"command_line_contains": "whoami", "stdout": "user\r\n", "exit_code": 7}],
        "faults": [{"function": "HcsCreateProcess", "occurrence": 2, "mode": "async"}]
    }));
    let (doc, params) = documents("ping -t localhost", false);
    let (_, exec_params) = documents("whoami", false);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    let init_pid = h.adapter.start(ID, ProcessStdio::default()).await.unwrap();

    h.adapter
        .exec(ID, "e1", &exec_params, ProcessStdio::default())
        .await
        .unwrap_err();
    assert_eq!(h.adapter.state(ID).unwrap().status, Status::Running);

    let (io, streams) = stdio(false);
    let pid = h.adapter.exec(ID, "e2", &exec_params, io).await.unwrap();
    assert_eq!(read_all(streams.stdout).await, "user\r\n");
    assert_eq!(h.exited(Some("e2"), WAIT).await, Some((7, pid)));
    assert_eq!(h.adapter.state(ID).unwrap().status, Status::Running);

    h.adapter.signal(ID, None, 9).await.unwrap();
    // SIGKILL on the init terminates the container: exit code of a terminated process.
    assert_eq!(h.exited(None, WAIT).await, Some((1, init_pid)));
    h.adapter.delete(ID).await.unwrap();
    assert_eq!(h.leaked().await, 0, "{}", h.report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_a_running_container_reports_its_exit_and_closes_everything() {
    let mut h = Harness::new(json!({"processes": [long_running()]}));
    let (doc, params) = documents("ping -t localhost", false);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    let pid = h.adapter.start(ID, ProcessStdio::default()).await.unwrap();
    let (_, exec_params) = documents("ping -t 127.0.0.1", false);
    let exec_pid = h
        .adapter
        .exec(ID, "e1", &exec_params, ProcessStdio::default())
        .await
        .unwrap();
    h.adapter.delete(ID).await.unwrap();
    let events = h.drain_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Exited { exec_id: None, pid: p, .. } if *p == pid)),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Exited { exec_id: Some(_), pid: p, .. } if *p == exec_pid)),
        "{events:?}"
    );
    assert!(h.adapter.state(ID).is_none());
    assert_eq!(h.leaked().await, 0, "{}", h.report());
    // Idempotent.
    h.adapter.delete(ID).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_resize_and_stats() {
    let mut h = Harness::new(json!({"processes": [long_running()]}));
    let (doc, params) = documents("ping -t localhost", false);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    h.adapter.start(ID, ProcessStdio::default()).await.unwrap();
    h.adapter.pause(ID).await.unwrap();
    assert_eq!(h.adapter.state(ID).unwrap().status, Status::Paused);
    assert!(h.adapter.pause(ID).await.is_err());
    h.adapter.resume(ID).await.unwrap();
    assert_eq!(h.adapter.state(ID).unwrap().status, Status::Running);
    h.adapter.resize(ID, None, 120, 40).await.unwrap();
    let stats = h.adapter.stats(ID).await.unwrap();
    assert!(
        stats.cpu_total_ns > 0 && stats.memory_usage > 0,
        "{stats:?}"
    );
    assert_eq!(stats.processes, 1);
    let events = h.drain_events();
    assert!(events.contains(&Event::Paused { id: ID.into() }));
    assert!(events.contains(&Event::Resumed { id: ID.into() }));
    let received = h.report()["received"].clone();
    let modify = received
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == "HcsModifyProcess")
        .unwrap()
        .clone();
    assert_eq!(
        modify["document"],
        json!({"Operation": "ConsoleSize", "ConsoleSize": {"Height": 40, "Width": 120}})
    );
    assert!(
        h.adapter.signal(ID, None, 31).await.is_err(),
        "unsupported signal"
    );
    h.adapter.delete(ID).await.unwrap();
    assert_eq!(h.leaked().await, 0);
}

#[test]
fn missing_library_reports_hcs_not_available() {
    let err = Adapter::load(
        Some(std::path::Path::new("/nonexistent/computecore.dll")),
        AdapterConfig::default(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().starts_with("HCS not available"), "{err}");
    if !cfg!(windows) {
        let err = Adapter::load(None, AdapterConfig::default()).err().unwrap();
        assert!(err.to_string().starts_with("HCS not available"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_that_times_out_waiting_for_the_init_exit_closes_its_process_handle() {
    let h = Harness::with_config(
        json!({"processes": [{"command_line_contains": "ping", "run": "exit_notification_lost"}]}),
        config(Duration::from_millis(300)),
    );
    let (doc, params) = documents("ping -t localhost", false);
    h.adapter.create(ID, &doc, &params).await.unwrap();
    let (io, _streams) = stdio(false);
    h.adapter.start(ID, io).await.unwrap();
    // The terminate kills the init but its exit notification is lost: delete gives up
    // waiting after the timeout and must still close everything (the process handle
    // leaked here before).
    h.adapter.delete(ID).await.unwrap();
    assert!(h.adapter.state(ID).is_none());
    assert_eq!(h.leaked().await, 0, "{}", h.report());
    assert_eq!(h.report()["process_handles"], 0, "{}", h.report());
}
