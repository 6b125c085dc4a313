#!/usr/bin/env bash
# The real client libraries as tests: the Docker SDK for Python and testcontainers-python
# (compat-tests/python) against the reference dockerd (must pass: that proves the tests
# test the right thing) and against dockbridge, each on its own private containerd.
#   scripts/pytest-clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p dockbridge -p dockbridge-compat
work=$(mktemp -d /tmp/dbp.XXXXXX)
db_pid=
cleanup() {
  set +e
  compat-tests/scripts/reference-dockerd.sh stop "$work/ref" >/dev/null 2>&1
  if [ -n "$db_pid" ]; then
    kill -TERM "$db_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$db_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$db_pid" 2>/dev/null
  fi
  pkill -9 -f "$work/db" 2>/dev/null
  awk -v d="$work/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
target/debug/dockbridge-compat --save-image "$work/busybox.tar" --tag busybox:latest >/dev/null
export TESTCONTAINERS_RYUK_DISABLED=true
status=0

echo "== docker-py / testcontainers against the reference dockerd"
compat-tests/scripts/reference-dockerd.sh start "$work/ref" >/dev/null
DOCKER_HOST="unix://$work/ref/docker.sock" docker load -q -i "$work/busybox.tar" >/dev/null
DOCKER_HOST="unix://$work/ref/docker.sock" python3 -m pytest -q -p no:cacheprovider \
  -m "not beyond_dockerd" compat-tests/python || status=1
compat-tests/scripts/reference-dockerd.sh stop "$work/ref" >/dev/null

echo "== docker-py / testcontainers against dockbridge"
mkdir -p "$work/db"
target/debug/dockbridge serve -H "unix://$work/db/d.sock" --data-root "$work/db/data" \
  --exec-root "$work/db/exec" 2>"$work/db/log" &
db_pid=$!
for _ in $(seq 1 300); do [ -S "$work/db/d.sock" ] && break; sleep 0.1; done
DOCKER_HOST="unix://$work/db/d.sock" docker load -q -i "$work/busybox.tar" >/dev/null
DOCKER_HOST="unix://$work/db/d.sock" python3 -m pytest -q -p no:cacheprovider compat-tests/python \
  || { status=1; tail -50 "$work/db/log" >&2; }
exit $status
