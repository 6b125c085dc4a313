//! Golden tests: every directory under `testdata/windows/` holds a `create.json` (the body
//! of `POST /containers/create`), an `image.json` (the image config), optionally a
//! `ctx.json` ([`WindowsContext`]), and the expected `spec.json` — or `error.txt` for a
//! request that must fail. `UPDATE_GOLDEN=1 cargo test -p dockbridge-translate` rewrites
//! the expectations from the current output; a normal run compares.

use std::path::{Path, PathBuf};

use serde_json::Value;
use spec::api::models::ContainerCreateBody;
use spec::image::ImageConfigFile;

use super::{windows_spec, WindowsContext};

/// The container id used when a case has no `ctx.json`.
const GOLDEN_ID: &str = "4f1c3a2b9d8e7f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/windows")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Keys sorted at every level, so that files diff cleanly whatever the map types.
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn run_case(case: &Path) -> Result<String, String> {
    let create: ContainerCreateBody = serde_json::from_str(&read(&case.join("create.json")))
        .map_err(|e| format!("create.json: {e}"))?;
    let image = ImageConfigFile::from_slice(read(&case.join("image.json")).as_bytes())
        .map_err(|e| format!("image.json: {e}"))?;
    let ctx_path = case.join("ctx.json");
    let ctx: WindowsContext = if ctx_path.exists() {
        serde_json::from_str(&read(&ctx_path)).map_err(|e| format!("ctx.json: {e}"))?
    } else {
        WindowsContext::for_audit(GOLDEN_ID, 4)
    };
    match windows_spec(&create, &image, &ctx) {
        Ok(spec) => {
            let v = canonical(serde_json::to_value(&spec).map_err(|e| e.to_string())?);
            Ok(serde_json::to_string_pretty(&v).map_err(|e| e.to_string())? + "\n")
        }
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn golden_windows_specs() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("testdata/windows exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "golden cases missing: {cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (spec_path, error_path) = (case.join("spec.json"), case.join("error.txt"));
        let got = run_case(case);
        if update {
            let _ = std::fs::remove_file(&spec_path);
            let _ = std::fs::remove_file(&error_path);
            match &got {
                Ok(json) => std::fs::write(&spec_path, json).expect("write spec.json"),
                Err(e) => std::fs::write(&error_path, format!("{e}\n")).expect("write error.txt"),
            }
            continue;
        }
        let want = if spec_path.exists() {
            Ok(read(&spec_path))
        } else if error_path.exists() {
            Err(read(&error_path).trim_end().to_string())
        } else {
            failures.push(format!(
                "{name}: neither spec.json nor error.txt (run with UPDATE_GOLDEN=1)"
            ));
            continue;
        };
        if got != want {
            failures.push(format!("{name}:\n--- want\n{want:?}\n--- got\n{got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (UPDATE_GOLDEN=1 to accept):\n{}",
        failures.join("\n\n")
    );
}
