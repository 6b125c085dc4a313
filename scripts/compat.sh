#!/usr/bin/env bash
# Runs the compat suite against the reference dockerd (Debian docker.io, API 1.41) and
# against dockbridge, each on its own private containerd under a temp dir, and stops both.
# The reference must pass every case. dockbridge must pass every case except the known
# gaps in compat-tests/known-gaps-dockbridge.txt (missing features, each tracked by an
# issue); a new failure, or a gap that starts passing, fails the run.
#   scripts/compat.sh [--update-gaps]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p dockbridge -p dockbridge-compat
source scripts/engines.sh

status=0
echo "== compat suite against the reference dockerd"
start_reference
target/debug/dockbridge-compat -q --host "unix://$work/ref/docker.sock" --json "$work/ref.json" || status=1
stop_reference

echo "== compat suite against dockbridge"
start_dockbridge
# The table goes to a file: its "N failed" counts the known gaps, which are not failures.
target/debug/dockbridge-compat -q --host "unix://$work/db/d.sock" --json "$work/db.json" >"$work/db.txt" || true
gate=()
[ "${1:-}" = "--update-gaps" ] && gate=(--update)
scripts/compat-gate.py "$work/db.json" compat-tests/known-gaps-dockbridge.txt "${gate[@]}" || status=1
# The table the README shows.
scripts/compat-table.py "dockerd 20.10=$work/ref.json" "dockbridge=$work/db.json" || true
exit $status
