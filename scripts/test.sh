#!/usr/bin/env bash
# Set-up command 2: the whole test suite. Installs what is missing, checks formatting and
# lints, type-checks the workspace for Windows, runs every unit, golden and end-to-end test
# (each end-to-end test starts its own private containerd and dockbridge), then runs the
# compat suite against the reference dockerd and against dockbridge.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Tests that need an installed tool fail rather than skip when it is missing.
export DOCKBRIDGE_TEST_STRICT=1

cargo fmt --all --check
# The declared minimum Rust (workspace rust-version) really builds the workspace's crates
# (libraries and binaries; the tests use the current toolchain): checked with that
# toolchain, in a target directory of its own.
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
rustup toolchain install "$msrv" --profile minimal >/dev/null
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/msrv" cargo "+$msrv" check --workspace
cargo clippy --workspace --all-targets -- -D warnings
# The whole workspace type-checks (and lints) for Windows too.
cargo clippy --workspace --all-targets --target x86_64-pc-windows-gnu -- -D warnings
cargo test --workspace --no-fail-fast
# The Windows builds of the codec and translation tests, run under Wine (the runner in
# .cargo/config.toml: scripts/wine-run.sh), so the command-line codec meets a real Windows
# CRT and CommandLineToArgvW (spec/tests/windows_parser.rs).
cargo test -p dockbridge-spec -p dockbridge-translate --target x86_64-pc-windows-gnu --no-fail-fast
# containerd over a named pipe (the Windows connector, a tonic server on a real pipe) and
# the containerd backend's named-pipe stdio, under Wine.
cargo test -p dockbridge --target x86_64-pc-windows-gnu --no-fail-fast --test containerd_npipe
# The Windows daemon for real under Wine (issue 15): the HCS crate's Windows-only code (the
# named pipe's security descriptor) and proxy/tests/wine_npipe.rs, where dockbridge.exe serves
# a named pipe HCS-only and the simulator DLL starts argv-echo with the command lines it gets;
# the HNS calls (HCN's GUIDs and documents through a real Windows DLL ABI) too.
cargo test -p dockbridge-hcs --lib --test network --target x86_64-pc-windows-gnu --no-fail-fast
cargo test -p dockbridge --target x86_64-pc-windows-gnu --test wine_npipe
# dockbridge.exe as a Windows service under Wine's SCM (register, sc start, sc stop: every HCS
# handle closed), in a Wine prefix of its own: a registered service belongs to its prefix.
WINEPREFIX="${CARGO_TARGET_DIR:-$PWD/target}/wineprefix-service" \
  cargo test -p dockbridge --target x86_64-pc-windows-gnu --test wine_service
cargo test -p dockbridge --target x86_64-pc-windows-gnu --no-fail-fast --lib -- containerd:: winservice::

scripts/compat.sh
scripts/pytest-clients.sh
# The short fuzz run: schemathesis on the swagger plus the malformed cases (about 4 min).
scripts/fuzz.sh 120
