//! Golden tests: step configs and history `CreatedBy` as dockerd 20.10's classic builder
//! wrote them for the same Dockerfiles (captured from the reference daemon).

use super::*;
use serde_json::json;

fn busybox() -> ContainerConfig {
    serde_json::from_value(json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"], "WorkingDir": "/"
    }))
    .unwrap()
}

/// Runs the single stage of `text`; COPY steps get `hash`. Returns the final config and
/// every step's `CreatedBy`.
fn run(
    text: &str,
    opts: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> (ContainerConfig, Vec<String>) {
    let df = parser::parse(text).unwrap();
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let plan = plan(df, None, &labels).unwrap();
    let opts = opts
        .iter()
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect();
    let args = BuildArgs::new(opts);
    let mut st = StageState::begin(
        Some(&busybox()),
        ContainerOs::Linux,
        args.for_stage(),
        plan.escape,
    );
    let mut created = Vec::new();
    for node in &plan.stages[0].commands {
        let by = match st.dispatch(node).unwrap() {
            Step::Commit { container_config }
            | Step::Workdir {
                container_config, ..
            } => Step::created_by(&container_config),
            Step::Run { probe, .. } => Step::created_by(&probe),
            Step::Copy(req) => Step::created_by(&st.copy_config(&req, "file:abc")),
        };
        created.push(by);
    }
    (st.config, created)
}

#[test]
fn first_reference_dockerfile() {
    let (cfg, created) = run(
        "FROM busybox\nENV A=1 B=\"two words\"\nARG X=5\nRUN echo hi $X\nCOPY a.txt /app/\nWORKDIR /app\nCMD [\"sh\"]\nENTRYPOINT echo ep\nLABEL k=v\nEXPOSE 80\nUSER nobody\nRUN true\n",
        &[],
        &[("z", "q")],
    );
    assert_eq!(
        created,
        [
            "/bin/sh -c #(nop)  ENV A=1 B=two words",
            "/bin/sh -c #(nop)  ARG X=5",
            "|1 X=5 /bin/sh -c echo hi $X",
            "/bin/sh -c #(nop) COPY file:abc in /app/ ",
            "/bin/sh -c #(nop) WORKDIR /app",
            "/bin/sh -c #(nop)  CMD [\"sh\"]",
            "/bin/sh -c #(nop)  ENTRYPOINT [\"/bin/sh\" \"-c\" \"echo ep\"]",
            "/bin/sh -c #(nop)  LABEL k=v",
            "/bin/sh -c #(nop)  EXPOSE 80",
            "/bin/sh -c #(nop)  USER nobody",
            "|1 X=5 /bin/sh -c true",
            "/bin/sh -c #(nop)  LABEL z=q",
        ]
    );
    assert_eq!(
        serde_json::to_value(&cfg).unwrap(),
        json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=two words"],
            "Cmd": ["sh"], "WorkingDir": "/app", "Entrypoint": ["/bin/sh", "-c", "echo ep"],
            "Labels": {"k": "v", "z": "q"}, "ExposedPorts": {"80/tcp": {}}, "User": "nobody"
        })
    );
}

#[test]
fn second_reference_dockerfile() {
    let (cfg, created) = run(
        "FROM busybox AS one\nMAINTAINER me <me@x>\nHEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost || exit 1\nVOLUME /data \"/other\"\nSHELL [\"/bin/sh\", \"-ec\"]\nSTOPSIGNAL SIGINT\nONBUILD RUN echo trig\nRUN echo shell\nWORKDIR rel/dir\nARG A\nARG B=2\nENV C=${B:-x}/${A:+set}\nRUN echo $A $B $C\n",
        &[("A", "aa"), ("Q", "q")],
        &[],
    );
    assert_eq!(
        created,
        [
            "/bin/sh -c #(nop)  MAINTAINER me <me@x>",
            "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"wget -q localhost || exit 1\"] \"5s\" \"0s\" \"0s\" '\\x03'}",
            "/bin/sh -c #(nop)  VOLUME [/data /other]",
            "/bin/sh -ec #(nop)  SHELL [/bin/sh -ec]",
            "/bin/sh -ec #(nop)  STOPSIGNAL SIGINT",
            "/bin/sh -ec #(nop)  ONBUILD RUN echo trig",
            "/bin/sh -ec echo shell",
            "/bin/sh -ec #(nop) WORKDIR /rel/dir",
            "/bin/sh -ec #(nop)  ARG A",
            "/bin/sh -ec #(nop)  ARG B=2",
            "/bin/sh -ec #(nop)  ENV C=2/set",
            "|2 A=aa B=2 /bin/sh -ec echo $A $B $C",
        ]
    );
    assert_eq!(
        serde_json::to_value(&cfg).unwrap(),
        json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "C=2/set"],
            "Cmd": ["sh"], "Volumes": {"/data": {}, "/other": {}}, "WorkingDir": "/rel/dir",
            "StopSignal": "SIGINT",
            "Healthcheck": {"Test": ["CMD-SHELL", "wget -q localhost || exit 1"], "Interval": 5000000000i64, "Retries": 3},
            "OnBuild": ["RUN echo trig"], "Shell": ["/bin/sh", "-ec"]
        })
    );
}

#[test]
fn run_container_config() {
    let df = parser::parse("FROM busybox\nARG V=1\nRUN echo $V").unwrap();
    let plan = plan(df, None, &BTreeMap::new()).unwrap();
    let mut st = StageState::begin(
        Some(&busybox()),
        ContainerOs::Linux,
        BuildArgs::default(),
        '\\',
    );
    st.dispatch(&plan.stages[0].commands[0]).unwrap();
    let Step::Run { probe, run } = st.dispatch(&plan.stages[0].commands[1]).unwrap() else {
        panic!("not a run");
    };
    assert_eq!(run.cmd.unwrap(), ["/bin/sh", "-c", "echo $V"]);
    assert_eq!(run.entrypoint.unwrap(), [""]);
    assert_eq!(run.env.unwrap().last().unwrap(), "V=1");
    assert_eq!(run.healthcheck.unwrap(), json!({"Test": ["NONE"]}));
    assert_eq!(probe.entrypoint, None);
    assert_eq!(probe.cmd.unwrap()[0], "|1");
}

#[test]
fn windows_commands_are_escaped_lines() {
    let df =
        parser::parse("# escape=`\nFROM w\nCMD echo \"a b\"\nRUN mkdir \"c:\\x\"\nWORKDIR C:\\app")
            .unwrap();
    let plan = plan(df, None, &BTreeMap::new()).unwrap();
    let mut st = StageState::begin(
        None,
        ContainerOs::Windows,
        BuildArgs::default(),
        plan.escape,
    );
    let Step::Commit { container_config } = st.dispatch(&plan.stages[0].commands[0]).unwrap()
    else {
        panic!()
    };
    assert_eq!(st.config.cmd.clone().unwrap(), ["cmd /S /C echo \"a b\""]);
    assert_eq!(st.config.args_escaped, Some(true));
    assert_eq!(
        Step::created_by(&container_config),
        "cmd /S /C #(nop)  CMD [\"cmd /S /C echo \\\"a b\\\"\"]"
    );
    let Step::Run { run, .. } = st.dispatch(&plan.stages[0].commands[1]).unwrap() else {
        panic!()
    };
    assert_eq!(run.cmd.unwrap(), ["cmd /S /C mkdir \"c:\\x\""]);
    assert_eq!(run.args_escaped, Some(true));
    st.dispatch(&plan.stages[0].commands[2]).unwrap();
    assert_eq!(st.config.working_dir.as_deref(), Some("C:\\app"));
    assert_eq!(
        normalize_dest(ContainerOs::Windows, Some("C:\\app"), "bin\\").unwrap(),
        "C:\\app\\bin\\"
    );
    assert_eq!(
        normalize_dest(ContainerOs::Windows, Some("C:\\app"), "C:\\x").unwrap(),
        "C:\\x"
    );
    assert_eq!(
        normalize_dest(ContainerOs::Windows, Some("C:\\app"), ".").unwrap(),
        "C:\\app\\"
    );
    assert_eq!(
        normalize_dest(ContainerOs::Linux, Some("/app"), ".").unwrap(),
        "/app/"
    );
    assert_eq!(
        normalize_dest(ContainerOs::Linux, None, "./x/.").unwrap(),
        "/x/"
    );
    // No default PATH on Windows.
    assert!(st.config.env.is_none());
}

#[test]
fn stages_targets_and_meta_args() {
    let df = parser::parse(
        "ARG BASE=busybox\nFROM $BASE AS build\nRUN x\nFROM build AS final\nCOPY --from=build /a /b\nFROM scratch\n",
    )
    .unwrap();
    let p = plan(df.clone(), None, &BTreeMap::new()).unwrap();
    assert_eq!(p.total_steps(), 6);
    assert_eq!(p.meta_args.len(), 1);
    assert_eq!(p.stage_index("BUILD", 2), Some(0));
    assert_eq!(p.stage_index("0", 1), Some(0));
    assert_eq!(p.stage_index("final", 1), None);
    let p = plan(df.clone(), Some("final"), &BTreeMap::new()).unwrap();
    assert_eq!(p.stages.len(), 2);
    let e = plan(df, Some("nope"), &BTreeMap::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to reach build target nope in Dockerfile"
    );
    assert!(plan(parser::parse("RUN x\n").unwrap(), None, &BTreeMap::new()).is_err());
    assert!(plan(parser::parse("").unwrap(), None, &BTreeMap::new()).is_err());
}

#[test]
fn copy_requests() {
    let df = parser::parse(
        "FROM a\nWORKDIR /w\nCOPY --chown=1:2 --chmod=644 x y/\nADD [\"a b\", \"rel\"]\nCOPY one\nCOPY --bogus a b\n",
    )
    .unwrap();
    let p = plan(df, None, &BTreeMap::new()).unwrap();
    let mut st = StageState::begin(
        Some(&busybox()),
        ContainerOs::Linux,
        BuildArgs::default(),
        '\\',
    );
    let c = &p.stages[0].commands;
    st.dispatch(&c[0]).unwrap();
    let Step::Copy(r) = st.dispatch(&c[1]).unwrap() else {
        panic!()
    };
    assert_eq!(
        r,
        CopyRequest {
            add: false,
            sources: vec!["x".into()],
            dest: "/w/y/".into(),
            chown: Some("1:2".into()),
            chmod: Some(0o644),
            from: None
        }
    );
    assert_eq!(
        Step::created_by(&st.copy_config(&r, "file:h")),
        "/bin/sh -c #(nop) COPY --chown=1:2file:h in /w/y/ "
    );
    let Step::Copy(r) = st.dispatch(&c[2]).unwrap() else {
        panic!()
    };
    assert_eq!(
        (r.add, r.sources, r.dest),
        (true, vec!["a b".to_string()], "/w/rel".to_string())
    );
    assert!(st.dispatch(&c[3]).is_err());
    assert!(st.dispatch(&c[4]).is_err());
}

#[test]
fn go_formatting() {
    assert_eq!(go_duration(90_000_000_000), "1m30s");
    assert_eq!(go_duration(1_500_000_000), "1.5s");
    assert_eq!(go_duration(500_000_000), "500ms");
    assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
    assert_eq!(go_quote("a\"b\\\n\u{1b}é"), "\"a\\\"b\\\\\\n\\x1bé\"");
}
