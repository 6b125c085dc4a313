//! HCS simulator: a `cdylib` exporting computecore.dll's functions with the same signatures,
//! so the adapter's tests load it through the very path that loads computecore.dll on
//! Windows (`--hcs-library PATH`).
//!
//! It models compute systems (created → running ⇄ paused → stopped, torn down on the last
//! handle close when `ShouldTerminateOnLastHandleClosed`), processes (scripted output, exit
//! code and run mode; real OS pipes for stdio), operations (completed, failed or hanging),
//! event callbacks (delivered on their own threads, never under the simulator's lock) and
//! returned documents (freed with the exported `LocalFree`). It counts every open handle and
//! fails any call on request, by function name and occurrence.
//!
//! It also exports computestorage's layer calls (`HcsImportLayer`,
//! `HcsInitializeWritableLayer`, `HcsDestroyLayer`) over plain directories, and vmcompute's
//! (`NameToGuid`, deterministic but not vmcompute's mapping; `ProcessBaseImage`;
//! `ActivateLayer`/`PrepareLayer`/`GetLayerMountPath`/`UnprepareLayer`/`DeactivateLayer`,
//! whose volume paths a compute system's `Storage.Path` must name) (`storage`).
//!
//! And computenetwork's HCN calls (`HcnCreateNetwork`, `HcnCreateEndpoint`,
//! `HcnCreateNamespace`…) over an in-memory HNS with its own IPAM (`hns`); its handles
//! count as open handles and the report's `hns` says what is left (`endpoints`).
//!
//! Test controls, exported next to the HCS functions:
//! - `HcsSimConfigure(json, len)`: the script and fault plan, e.g.
//!   `{"processes":[{"command_line_contains":"ping","stdout":"hi\n","exit_code":3,
//!   "run":"until_signalled"}],"faults":[{"function":"HcsStartComputeSystem","occurrence":1,
//!   "hresult":2147942405,"mode":"async"}]}` (modes: `fail` = the call returns the HRESULT,
//!   `async` = its operation completes with it, `hang` = its operation never completes);
//! - `HcsSimReset()`, `HcsSimOpenHandles() -> u32`, `HcsSimReport(buf, cap) -> len` (JSON).
//!
//! The simulator is global to the process: tests that use it run one at a time.
#![deny(unsafe_code)]

mod exports;
mod hns;
mod hns_exports;
pub mod model;
mod module;
mod rawio;
mod storage;
mod winproc;
