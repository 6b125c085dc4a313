#!/usr/bin/env bash
# Set-up command 1: installs what is missing, builds dockbridge and starts it in the
# foreground (Ctrl-C stops it, and the private containerd with it).
#   scripts/start.sh [extra `dockbridge serve` flags]
# Then, in another shell: export DOCKER_HOST=unix:///run/dockbridge.sock
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p dockbridge
exec target/release/dockbridge serve -H unix:///run/dockbridge.sock "$@"
