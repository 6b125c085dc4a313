#!/usr/bin/env bash
# Schema-driven fuzzing of dockbridge's API, reproducible: schemathesis (PyPI, in a venv)
# generates requests from the Engine API 1.44 swagger for every operation dockbridge
# serves, against a private dockbridge (its own containerd) on loopback TCP, then the
# hand-written malformed cases (scripts/fuzz/malformed.py) run on its unix socket.
#
#   scripts/fuzz.sh [SECONDS] [SEED]   (defaults: 120 s, seed 1 — the CI run)
#
# Fails on any 5xx that is not a deliberate 501 (scripts/fuzz/hooks.py), a daemon that
# stops answering, or anything left behind once every container is removed: containerd
# containers, tasks, active snapshots, leases, FIFOs. Reports the daemon's RSS before and
# after. Reports land in $FUZZ_REPORT_DIR (default: a temp dir, removed with the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-120}
seed=${2:-1}
# The swagger the compat suite embeds (the same file as the shared reference's).
spec=${FUZZ_SPEC:-$(pwd)/compat-tests/schema/docker-engine-api-v1.44.yaml}
venv=${FUZZ_VENV:-/var/tmp/dockbridge-fuzz-venv}
# Pinned: another release generates other requests from the same seed.
schemathesis_version=4.32.5
bin=${CARGO_TARGET_DIR:-target}/debug

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
cargo build -q -p dockbridge -p dockbridge-compat
# The networks the fuzzer creates are real bridges and firewall rules: the daemon, the
# fuzzer and the checks run in a private network namespace (loopback only), so nothing
# touches the host's interfaces or rules and everything goes with the namespace. What
# needs the network (the venv, the build) is done above.
if [ -z "${FUZZ_IN_NETNS:-}" ]; then
  FUZZ_IN_NETNS=1 exec unshare -n "$0" "$@"
fi
ip link set lo up
source scripts/engines.sh
report=${FUZZ_REPORT_DIR:-$work/report}
mkdir -p "$report"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
max_body=$((2 << 20))
mkdir -p "$work/db"
"$bin/dockbridge" serve -H "unix://$work/db/d.sock" -H "tcp://127.0.0.1:$port" \
  --data-root "$work/db/data" --exec-root "$work/db/exec" --bridge none \
  --max-request-body "$max_body" 2>"$work/db/log" &
db_pid=$!
for _ in $(seq 1 300); do [ -S "$work/db/d.sock" ] && break; sleep 0.1; done
export DOCKER_HOST="unix://$work/db/d.sock"
ctr=(ctr --address "$work/db/exec/containerd/containerd.sock" -n dockbridge)
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$db_pid/status"; }

# Fixtures the hooks aim path parameters at: a running container, an image, a volume.
"$bin/dockbridge-compat" --save-image "$work/busybox.tar" --tag busybox:latest >/dev/null
docker load -q -i "$work/busybox.tar" >/dev/null
docker tag busybox fuzz/keep:1
cid=$(docker run -d --name fuzz-running --network none busybox sleep 100000)
docker volume create fuzzvol >/dev/null
rss_start=$(rss)

fixtures=$(printf '{"/containers/":"%s","/exec/":"nosuch","/images/":"fuzz/keep:1","/volumes/":"fuzzvol","/networks/":"none","/distribution/":"busybox"}' "$cid")
# Operations dockbridge does not serve (swarm, plugins, secrets, configs, sessions) are
# left out; so are the endless streams (events, attach, stats and logs that follow), which
# a request timeout would only cut, and image search and pulls/logins that would try to
# reach registries this machine cannot.
# schemathesis keeps a cache in its working directory that steers later runs: each run
# starts from an empty one under $work.
hooks_dir=$(pwd)/scripts/fuzz
set +e
(cd "$work" && FUZZ_FIXTURES=$fixtures FUZZ_SEED=$seed FUZZ_FILTERED_LOG="$report/filtered.txt" \
  SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$hooks_dir" \
  "$venv/bin/schemathesis" run "$spec" --url "http://127.0.0.1:$port/v1.44" \
  --include-tag Container --include-tag Exec --include-tag Image --include-tag Network \
  --include-tag Volume --include-tag System --include-tag Distribution \
  --exclude-path /events --exclude-path '/containers/{id}/attach' \
  --exclude-path '/containers/{id}/attach/ws' --exclude-path '/containers/{id}/stats' \
  --exclude-path '/containers/{id}/logs' --exclude-path /images/search \
  --exclude-path /auth --exclude-path '/images/{name}/push' \
  --exclude-path '/distribution/{name}/json' \
  --checks not_a_server_error --max-time "$budget" --seed "$seed" --workers 2 \
  --request-timeout 30 --suppress-health-check all --no-color \
  --report junit --report-dir "$report") >"$report/schemathesis.txt" 2>&1
st=$?
set -e
sed -n '/= SUMMARY =/,$p' "$report/schemathesis.txt"
fail=0
# A failed check fails the run; so does any error other than the tool's own (a Python
# "Runtime Error" inside schemathesis' generator says nothing about the daemon).
if grep -q '= FAILURES =' "$report/schemathesis.txt"; then
  echo "fuzz: schemathesis found failures (exit $st)"; fail=1
elif [ "$st" -ne 0 ]; then
  other=$(sed -n '/^Errors:/,/^$/p' "$report/schemathesis.txt" | grep -v '^Errors:\|^$\|Runtime Error' || true)
  if [ -n "$other" ]; then echo "fuzz: schemathesis errors: $other"; fail=1
  else echo "fuzz: only schemathesis' own runtime errors (not the daemon's), see $report/schemathesis.txt"; fi
fi
[ -f "$report/filtered.txt" ] && { echo "fuzz: deliberate 501s and unreachable-registry 500s (not failures):"; cut -d: -f1 "$report/filtered.txt" | sort | uniq -c; }
curl -sf --unix-socket "$work/db/d.sock" http://d/_ping >/dev/null || { echo "fuzz: the daemon stopped answering"; fail=1; }

# The fuzzer may have stopped or removed the fixtures (and pruned the image): a fresh
# container for the hand-written cases.
docker load -q -i "$work/busybox.tar" >/dev/null
mid=$(docker run -d --name fuzz-mal --network none busybox sleep 100000)
python3 scripts/fuzz/malformed.py "$work/db/d.sock" "$mid" "$max_body" || fail=1
rss_end=$(rss)

# Nothing left once every container is gone.
docker ps -aq | xargs -r docker rm -f >/dev/null
leftover() {
  local what=$1 n
  shift
  n=$("$@" 2>/dev/null | tail -n +2 | wc -l)
  if [ "$n" -ne 0 ]; then echo "fuzz: $n $what left behind:"; "$@"; fail=1; fi
}
sleep 1
leftover "containerd containers" "${ctr[@]}" containers ls
leftover "tasks" "${ctr[@]}" tasks ls
leftover "leases" "${ctr[@]}" leases ls
active=$("${ctr[@]}" snapshots --snapshotter overlayfs ls | awk 'NR > 1 && $NF != "Committed"' | wc -l)
[ "$active" -eq 0 ] || { echo "fuzz: $active active snapshots left"; "${ctr[@]}" snapshots ls; fail=1; }
fifos=$(find "$work/db/exec" -type p 2>/dev/null | wc -l)
[ "$fifos" -eq 0 ] || { echo "fuzz: $fifos FIFOs left"; find "$work/db/exec" -type p; fail=1; }
if grep -q "panicked" "$work/db/log"; then echo "fuzz: the daemon panicked:"; grep -A3 panicked "$work/db/log"; fail=1; fi
cases=$(grep -o '[0-9]* generated' "$report/schemathesis.txt" | tail -1)
echo "fuzz: ${budget}s, seed $seed, ${cases:-?} requests; daemon RSS ${rss_start} MiB before, ${rss_end} MiB after"
[ "$fail" -eq 0 ] && echo "fuzz: passed"
exit "$fail"
