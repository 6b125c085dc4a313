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
# A local registry for the registry cases (both engines push to and pull from it).
registry=$(compat-tests/scripts/registry.sh start "$work/registry")
trap 'compat-tests/scripts/registry.sh stop "$work/registry"; cleanup' EXIT
echo "== compat suite against the reference dockerd"
start_reference
"$bin/dockbridge-compat" -q --host "unix://$work/ref/docker.sock" --registry "$registry" \
  --json "$work/ref.json" || status=1
stop_reference

echo "== compat suite against dockbridge"
# --bridge none as the reference's --bridge=none: nothing on the host's networking.
start_dockbridge --bridge none
# The table goes to a file: its "N failed" counts the known gaps, which are not failures.
"$bin/dockbridge-compat" -q --host "unix://$work/db/d.sock" --registry "$registry" \
  --json "$work/db.json" >"$work/db.txt" || true
kill -TERM "$db_pid" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$db_pid" 2>/dev/null || break; sleep 0.1; done

# The default-bridge cases (networks/bridge_*): both engines with their default bridge,
# each in a private network namespace (loopback up) so neither touches the host's
# interfaces or firewall. Both must pass them all.
echo "== bridge cases against the reference dockerd and dockbridge (private netns)"
unshare -n sh -c 'ip link set lo up && REFERENCE_BRIDGE=1 exec "$0" start "$1"' \
  compat-tests/scripts/reference-dockerd.sh "$work/refb" >/dev/null
# The suite runs in the engine's namespace: the IPv6 case fetches a published port on [::1].
nsenter --net="/proc/$(cat "$work/refb/dockerd.pid")/ns/net" \
  "$bin/dockbridge-compat" -q -f networks/bridge_ --host "unix://$work/refb/docker.sock" \
  >"$work/refb.txt" || { status=1; cat "$work/refb.txt"; }
compat-tests/scripts/reference-dockerd.sh stop "$work/refb" >/dev/null 2>&1
mkdir -p "$work/dbb"
unshare -n sh -c 'ip link set lo up && exec "$0" serve -H "unix://$1/d.sock" --data-root "$1/data" --exec-root "$1/exec"' \
  "$bin/dockbridge" "$work/dbb" 2>"$work/dbb/log" &
db_pid=$!
for _ in $(seq 1 300); do [ -S "$work/dbb/d.sock" ] && break; sleep 0.1; done
nsenter --net="/proc/$db_pid/ns/net" \
  "$bin/dockbridge-compat" -q -f networks/bridge_ --host "unix://$work/dbb/d.sock" \
  --json "$work/dbb.json" >"$work/dbb.txt" || { status=1; cat "$work/dbb.txt"; }
grep -h "passed" "$work/refb.txt" "$work/dbb.txt" || true
# Which API operations dockbridge's cases exercised, the main run and the bridge run together.
"$bin/dockbridge-compat" --coverage-of "$work/db.json" "$work/dbb.json" \
  | grep "^# .* operations exercised" || true

# podman 4.3's Docker-compatible service, for the table only: the cases stay validated
# against dockerd, and what podman does differently is a finding, not a failure.
echo "== compat suite against podman (not gating)"
if command -v podman >/dev/null 2>&1; then
  start_podman
  # No --registry: podman runs in a private network namespace, where the registry on the
  # host's loopback is out of reach (the registry cases skip).
  "$bin/dockbridge-compat" -q --host "unix://$work/podman/podman.sock" \
    --json "$work/podman.json" >"$work/podman.txt" 2>&1 || true
  tail -1 "$work/podman.txt"
  stop_podman
fi

gate=()
[ "${1:-}" = "--update-gaps" ] && gate=(--update)
scripts/compat-gate.py "$work/db.json" compat-tests/known-gaps-dockbridge.txt "${gate[@]}" || status=1
# The table the README shows.
tables=("dockerd 20.10=$work/ref.json" "dockbridge=$work/db.json")
[ -s "$work/podman.json" ] && tables+=("podman 4.3=$work/podman.json")
scripts/compat-table.py "${tables[@]}" || true
exit $status
