#!/usr/bin/env bash
# Side-by-side benchmark, one run: `docker run --rm --network none busybox true` through
# dockbridge and through the reference dockerd, and bare `ctr run --rm` on containerd,
# alternating so drift hits all three alike; median of N runs each, reported as ratios.
# Also idle RSS of dockbridge vs dockerd (each without its containerd).
#   bench/run.sh [N]     (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-15}
scripts/install-deps.sh
cargo build -q --release -p dockbridge -p dockbridge-compat
work=$(mktemp -d /tmp/dbb.XXXXXX)
db_pid=
cleanup() {
  set +e
  [ -n "$db_pid" ] && kill -TERM "$db_pid" 2>/dev/null && sleep 2
  compat-tests/scripts/reference-dockerd.sh stop "$work/ref" >/dev/null 2>&1
  pkill -9 -f "$work" 2>/dev/null
  awk -v d="$work/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The offline image, as a docker-archive tar.
target/release/dockbridge-compat --save-image "$work/busybox.tar" --tag busybox:latest >/dev/null

mkdir -p "$work/db"
target/release/dockbridge serve -H "unix://$work/db/d.sock" --data-root "$work/db/data" \
  --exec-root "$work/db/exec" 2>"$work/db/log" &
db_pid=$!
for _ in $(seq 1 300); do [ -S "$work/db/d.sock" ] && break; sleep 0.1; done
compat-tests/scripts/reference-dockerd.sh start "$work/ref" >/dev/null

DB="unix://$work/db/d.sock"; REF="unix://$work/ref/docker.sock"
DOCKER_HOST=$DB docker load -q -i "$work/busybox.tar" >/dev/null
DOCKER_HOST=$REF docker load -q -i "$work/busybox.tar" >/dev/null
# Bare ctr on dockbridge's own containerd, in its own namespace.
CTR=(ctr --address "$work/db/exec/containerd/containerd.sock" -n bench)
"${CTR[@]}" images import --no-unpack=false "$work/busybox.tar" >/dev/null 2>&1 || \
  "${CTR[@]}" images import "$work/busybox.tar" >/dev/null
img=$("${CTR[@]}" images ls -q | head -1)

now() { date +%s%N; }
declare -a t_db t_ref t_ctr
for i in $(seq 1 "$N"); do
  s=$(now); DOCKER_HOST=$DB docker run --rm --network none busybox true; t_db+=($(( $(now) - s )))
  s=$(now); DOCKER_HOST=$REF docker run --rm --network none busybox true; t_ref+=($(( $(now) - s )))
  s=$(now); "${CTR[@]}" run --rm "$img" "bench$i" true; t_ctr+=($(( $(now) - s )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m_db=$(median "${t_db[@]}"); m_ref=$(median "${t_ref[@]}"); m_ctr=$(median "${t_ctr[@]}")
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
ref_pid=$(cat "$work/ref/dockerd.pid" 2>/dev/null || pgrep -f "dockerd.*$work/ref" | head -1)
sleep 2
rss_db=$(rss "$db_pid"); rss_ref=$(rss "$ref_pid")
awk -v n="$N" -v db="$m_db" -v ref="$m_ref" -v ctr="$m_ctr" -v rdb="$rss_db" -v rref="$rss_ref" 'BEGIN {
  printf "docker run --rm --network none busybox true, median of %d runs each (alternating)\n", n
  printf "  dockbridge   %8.1f ms\n", db/1e6
  printf "  dockerd      %8.1f ms\n", ref/1e6
  printf "  ctr run --rm %8.1f ms\n", ctr/1e6
  printf "ratios: dockbridge/dockerd = %.2f   dockbridge/ctr = %.2f\n", db/ref, db/ctr
  printf "idle RSS: dockbridge %d KiB, dockerd %d KiB (ratio %.2f)\n", rdb, rref, rdb/rref
}'
