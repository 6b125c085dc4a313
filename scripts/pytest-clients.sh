#!/usr/bin/env bash
# The real client libraries as tests: the Docker SDK for Python and testcontainers-python
# (compat-tests/python), and bollard's scenario (proxy/tests/bollard_client.rs, which
# cargo test runs against dockbridge) against the reference dockerd (must pass: that proves the tests
# test the right thing) and against dockbridge, each on its own private containerd.
#   scripts/pytest-clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p dockbridge -p dockbridge-compat
source scripts/engines.sh
"$bin/dockbridge-compat" --save-image "$work/busybox.tar" --tag busybox:latest >/dev/null
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
  -m "not beyond_dockerd and not bridge" compat-tests/python || status=1
# bollard's scenario (proxy/tests/bollard_client.rs) against the reference too.
DOCKBRIDGE_REFERENCE_HOST="unix://$work/ref/docker.sock" cargo test -q -p dockbridge \
  --test bollard_client -- --ignored || status=1
stop_reference

echo "== docker-py / testcontainers against dockbridge"
# --bridge none as the reference's --bridge=none: nothing on the host's networking.
start_dockbridge --bridge none
DOCKER_HOST="unix://$work/db/d.sock" docker load -q -i "$work/busybox.tar" >/dev/null
DOCKER_HOST="unix://$work/db/d.sock" python3 -m pytest -q -p no:cacheprovider -m "not bridge" \
  compat-tests/python || { status=1; tail -50 "$work/db/log" >&2; }
kill -TERM "$db_pid" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$db_pid" 2>/dev/null || break; sleep 0.1; done

# The tests that need networking (testcontainers' network helper, published ports): each
# engine with its bridge, and pytest with it, inside a private network namespace.
echo "== networking client tests against the reference dockerd and dockbridge (private netns)"
unshare -n scripts/pytest-bridge.sh reference "$work/refb" "$work/busybox.tar" || status=1
unshare -n scripts/pytest-bridge.sh dockbridge "$work/dbb" "$work/busybox.tar" || status=1
exit $status
