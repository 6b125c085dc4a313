//! Mounting a container's writable layer as the windowsfilter graph driver does
//! (`ActivateLayer`, `PrepareLayer`, `GetLayerMountPath`; `UnprepareLayer`,
//! `DeactivateLayer`) through `hcs::storage::Storage`, on the simulator: the volume path
//! comes back, a failed prepare leaves the layer deactivated, and unmounting leaves nothing.

mod common;

use hcs::ffi::SimControl;
use hcs::storage::Storage;
use serde_json::Value;

#[test]
fn mount_gives_a_volume_path_and_a_failed_prepare_leaves_nothing_mounted() {
    let lib = common::sim_library();
    let sim = SimControl::load(&lib).expect("simulator controls");
    sim.reset();
    assert!(sim.configure(
        r#"{"faults":[{"function":"PrepareLayer","occurrence":1,"hresult":2147500037}]}"#
    ));
    let storage = Storage::load(Some(&lib)).expect("storage functions");
    let dir = std::env::temp_dir().join(format!("hcs-mount-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (base, scratch) = (dir.join("base"), dir.join("scratch"));
    std::fs::create_dir_all(&base).unwrap();
    std::fs::create_dir_all(&scratch).unwrap();
    let report = || serde_json::from_str::<Value>(&sim.report()).unwrap();

    let e = storage
        .mount(&scratch, std::slice::from_ref(&base))
        .unwrap_err();
    assert!(e.to_string().contains("PrepareLayer"), "{e}");
    assert_eq!(report()["mounted_layers"], 0, "{}", report());

    let path = storage
        .mount(&scratch, std::slice::from_ref(&base))
        .expect("mount");
    assert!(
        path.starts_with(r"\\?\Volume{") && path.ends_with('\\'),
        "{path}"
    );
    assert_eq!(report()["mounted_layers"], 1);
    // A parent that does not exist is refused, as on a real host.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    assert!(storage.mount(&other, &[dir.join("missing")]).is_err());
    storage.unmount(&scratch).expect("unmount");
    let r = report();
    assert_eq!(r["mounted_layers"], 0, "{r}");
    assert_eq!(r["calls"]["DeactivateLayer"], 3, "{r}");
    assert_eq!(r["documents"], 0, "{r}");
    std::fs::remove_dir_all(&dir).unwrap();
}
