#!/usr/bin/env bash
# The client tests that need networking (compat-tests/python, marker `bridge`) against one
# engine with its default bridge: run by scripts/pytest-clients.sh as
#   unshare -n scripts/pytest-bridge.sh reference|dockbridge DIR IMAGE_TAR
# Everything (engine, containers, pytest) is inside this private network namespace, so the
# published ports are reachable on its loopback and the host's interfaces and firewall are
# never touched. The engine is stopped and its mounts are gone when this exits.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/debug"
engine=$1 dir=$2 image=$3
ip link set lo up
mkdir -p "$dir"
pid=
stop() {
  set +e
  if [ "$engine" = reference ]; then
    compat-tests/scripts/reference-dockerd.sh stop "$dir" >/dev/null 2>&1
  elif [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
}
trap stop EXIT
if [ "$engine" = reference ]; then
  REFERENCE_BRIDGE=1 compat-tests/scripts/reference-dockerd.sh start "$dir" >/dev/null
  sock="$dir/docker.sock"
  marker="bridge and not beyond_dockerd"
else
  "$bin/dockbridge" serve -H "unix://$dir/d.sock" --data-root "$dir/data" \
    --exec-root "$dir/exec" 2>"$dir/log" &
  pid=$!
  for _ in $(seq 1 300); do [ -S "$dir/d.sock" ] && break; sleep 0.1; done
  sock="$dir/d.sock"
  marker="bridge"
fi
export DOCKER_HOST="unix://$sock" TESTCONTAINERS_RYUK_DISABLED=true
docker load -q -i "$image" >/dev/null
status=0
python3 -m pytest -q -p no:cacheprovider -m "$marker" compat-tests/python || status=1
if [ $status -ne 0 ] && [ -n "$pid" ]; then tail -40 "$dir/log" >&2; fi
exit $status
