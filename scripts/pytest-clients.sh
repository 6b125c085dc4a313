#!/usr/bin/env bash
# The real client libraries as tests: the Docker SDK for Python and testcontainers-python
# (compat-tests/python) against the reference dockerd (must pass: that proves the tests
# test the right thing) and against dockbridge, each on its own private containerd.
#   scripts/pytest-clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p dockbridge -p dockbridge-compat
source scripts/engines.sh
target/debug/dockbridge-compat --save-image "$work/busybox.tar" --tag busybox:latest >/dev/null
export TESTCONTAINERS_RYUK_DISABLED=true
# A local registry for the pull/push tests (loopback: plain HTTP for both engines).
COMPAT_REGISTRY=$(compat-tests/scripts/registry.sh start "$work/registry")
export COMPAT_REGISTRY
trap 'compat-tests/scripts/registry.sh stop "$work/registry"; cleanup' EXIT
status=0

echo "== docker-py / testcontainers against the reference dockerd"
start_reference
DOCKER_HOST="unix://$work/ref/docker.sock" docker load -q -i "$work/busybox.tar" >/dev/null
DOCKER_HOST="unix://$work/ref/docker.sock" python3 -m pytest -q -p no:cacheprovider \
  -m "not beyond_dockerd" compat-tests/python || status=1
stop_reference

echo "== docker-py / testcontainers against dockbridge"
# --bridge none as the reference's --bridge=none: nothing on the host's networking.
start_dockbridge --bridge none
DOCKER_HOST="unix://$work/db/d.sock" docker load -q -i "$work/busybox.tar" >/dev/null
DOCKER_HOST="unix://$work/db/d.sock" python3 -m pytest -q -p no:cacheprovider compat-tests/python \
  || { status=1; tail -50 "$work/db/log" >&2; }
exit $status
