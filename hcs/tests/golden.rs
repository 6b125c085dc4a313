//! Golden tests: OCI Windows spec → HCS v2 compute-system document and process parameters.
//! Inputs are `testdata/<case>.input.json`, expectations `testdata/<case>.golden.json`;
//! `UPDATE_GOLDEN=1 cargo test -p dockbridge-hcs --test golden` rewrites the expectations.

use std::path::Path;

use hcs::document::{self, DocumentError, DocumentOptions, StdioPipes};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

fn render(input: &Value) -> Value {
    let spec: Spec = serde_json::from_value(input["spec"].clone()).expect("OCI spec");
    let opts = DocumentOptions {
        owner: "dockbridge".into(),
        hosting_system_id: input["hosting_system_id"].as_str().map(String::from),
        ..DocumentOptions::default()
    };
    let system = document::compute_system(&spec, &opts).expect("document");
    let pipes = StdioPipes {
        stdin: input["stdin"].as_bool().unwrap_or(false),
    };
    let process = spec.process().as_ref().expect("process");
    let params = document::process_parameters(process, pipes).expect("process parameters");
    json!({ "ComputeSystem": system, "ProcessParameters": params })
}

#[test]
fn documents_match_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).expect("testdata") {
        let path = entry.expect("entry").path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".input.json"))
        else {
            continue;
        };
        cases += 1;
        let input: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read input")).expect("input JSON");
        let got = serde_json::to_string_pretty(&render(&input)).expect("render") + "\n";
        let golden = dir.join(format!("{name}.golden.json"));
        if update {
            std::fs::write(&golden, &got).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", golden.display()));
        assert_eq!(
            got,
            want,
            "{name}: document differs from {}",
            golden.display()
        );
    }
    assert!(cases >= 3, "expected golden cases in {}", dir.display());
}

#[test]
fn invalid_specs_are_rejected() {
    let base = json!({
        "ociVersion": "1.1.0",
        "process": {"user": {"uid": 0, "gid": 0}, "commandLine": "cmd", "cwd": "C:\\"},
        "windows": {"layerFolders": ["C:\\l\\base", "C:\\l\\scratch"]}
    });
    let build = |patch: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        patch(&mut v);
        let spec: Spec = serde_json::from_value(v).expect("spec");
        document::compute_system(&spec, &DocumentOptions::default()).err()
    };
    assert_eq!(build(&|_| {}), None);
    assert_eq!(
        build(&|v| {
            v.as_object_mut().unwrap().remove("windows");
        }),
        Some(DocumentError::NotWindows)
    );
    assert_eq!(
        build(&|v| v["windows"]["layerFolders"] = json!(["C:\\l\\scratch"])),
        Some(DocumentError::TooFewLayers)
    );
    assert_eq!(
        build(&|v| v["windows"]["resources"] = json!({"cpu": {"count": 2, "shares": 100}})),
        Some(DocumentError::CpuLimits)
    );
    assert_eq!(
        build(&|v| v["windows"]["hyperv"] = json!({})),
        Some(DocumentError::NoHostingSystem)
    );
    assert_eq!(
        build(&|v| v["root"] = json!({"path": "C:\\r", "readonly": true})),
        Some(DocumentError::ReadonlyRoot)
    );
    assert_eq!(
        build(&|v| v["mounts"] = json!([{"destination": "C:\\x", "type": "tmpfs", "source": "x"}])),
        Some(DocumentError::MountType("tmpfs".into()))
    );
    let spec: Spec = serde_json::from_value(json!({
        "ociVersion": "1.1.0",
        "process": {"user": {"uid": 0, "gid": 0}, "cwd": "C:\\"}
    }))
    .expect("spec");
    assert_eq!(
        document::process_parameters(spec.process().as_ref().unwrap(), StdioPipes::default()),
        Err(DocumentError::NoCommand)
    );
}
