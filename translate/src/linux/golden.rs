//! Golden tests: `testdata/linux/<case>/` holds `create.json` (the API request), optional
//! `image.json` (image config; busybox-like by default) and `context.json` (a partial
//! [`LinuxContext`] over `LinuxContext::for_audit(ID)` and the shared
//! `testdata/linux/context.json`), and either `spec.json` (the expected runtime spec)
//! or `error.txt` (the expected error). `UPDATE_GOLDEN=1` rewrites the expectations.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;

const ID: &str = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/linux")
}

/// Capability sets are hash sets in oci-spec: sort them so the comparison is stable.
fn normalize(mut v: Value) -> Value {
    if let Some(caps) = v
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    {
        for set in caps.values_mut() {
            if let Some(a) = set.as_array_mut() {
                a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
            }
        }
    }
    v
}

fn read_json(p: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(p).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

fn run_case(case: &Path) -> Result<(), String> {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let create: ContainerCreateBody =
        serde_json::from_value(read_json(&case.join("create.json")).ok_or("missing create.json")?)
            .map_err(|e| e.to_string())?;
    let image: ImageConfigFile = match read_json(&case.join("image.json")) {
        Some(v) => serde_json::from_value(v).map_err(|e| e.to_string())?,
        None => serde_json::from_value(
            serde_json::json!({ "os": "linux", "config": { "Cmd": ["sh"] } }),
        )
        .unwrap(),
    };
    let mut ctx = serde_json::to_value(LinuxContext::for_audit(ID)).unwrap();
    for layer in [dir().join("context.json"), case.join("context.json")] {
        if let Some(Value::Object(over)) = read_json(&layer) {
            for (k, v) in over {
                ctx[k] = v;
            }
        }
    }
    let ctx: LinuxContext = serde_json::from_value(ctx).map_err(|e| e.to_string())?;
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let (spec_path, err_path) = (case.join("spec.json"), case.join("error.txt"));
    match linux_spec(&create, &image, &ctx) {
        Ok(spec) => {
            let got = normalize(serde_json::to_value(&spec).unwrap());
            if update && !err_path.exists() {
                std::fs::write(
                    &spec_path,
                    serde_json::to_string_pretty(&got).unwrap() + "\n",
                )
                .unwrap();
                return Ok(());
            }
            let want = read_json(&spec_path)
                .ok_or_else(|| format!("{name}: expected an error, got a spec"))?;
            if got != normalize(want) {
                return Err(format!(
                    "{name}: spec differs:\n{}",
                    serde_json::to_string_pretty(&got).unwrap()
                ));
            }
        }
        Err(e) => {
            if update && !spec_path.exists() {
                std::fs::write(&err_path, format!("{e}\n")).unwrap();
                return Ok(());
            }
            let want = std::fs::read_to_string(&err_path)
                .map_err(|_| format!("{name}: unexpected error: {e}"))?;
            if want.trim_end() != e.to_string() {
                return Err(format!("{name}: error differs: got {e:?}, want {want:?}"));
            }
        }
    }
    Ok(())
}

#[test]
fn golden_linux_specs() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "golden cases missing: {}", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
