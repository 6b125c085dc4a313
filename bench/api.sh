#!/usr/bin/env bash
# Side-by-side benchmark, one run: API requests per second through dockbridge and the
# reference dockerd 20.10 with 100 images (101 with busybox) and 10 containers loaded in
# each, C keep-alive connections over the unix socket (compat-tests' `api-load`), for
# `/_ping`, `/images/json`, `/containers/json?all=1` and a container inspect; each endpoint
# measured on both engines in turn, R rounds alternating, medians reported as ratios
# dockbridge/dockerd (higher is better for dockbridge).
#   bench/api.sh [R] [C] [SECONDS]     (defaults 3 rounds, 8 connections, 3 s)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh "${1:-3}"
C=${2:-8}
SECS=${3:-3}
load=$rel/api-load

# 100 distinct images: a one-file root filesystem imported with a different label each time
# (dockerd and dockbridge both give every import its own config, hence its own ID).
mkdir -p "$work/rootfs"
echo bench >"$work/rootfs/file"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" file
for sock in "$DB" "$REF"; do
  for i in $(seq 1 100); do
    DOCKER_HOST=$sock docker import -c "LABEL bench.n=$i" "$work/rootfs.tar" "bench/img:$i" >/dev/null
  done
  for i in $(seq 0 9); do
    DOCKER_HOST=$sock docker create -q --name "bench$i" --network none busybox true >/dev/null
  done
  n=$(curl -sf --unix-socket "${sock#unix://}" http://x/images/json | grep -o '"Id"' | wc -l)
  [ "$n" -ge 101 ] || { echo "expected 101 images on $sock, got $n" >&2; exit 1; }
done

paths=(/_ping /images/json "/containers/json?all=1" /containers/bench0/json)
declare -A r_db r_ref
rps() { # socket path -> requests/s (errors fail the benchmark)
  local out
  out=$("$load" --host "$1" --path "$2" -c "$C" --seconds "$SECS")
  case $out in *errors=0) ;; *) echo "api-load $1 $2: $out" >&2; exit 1 ;; esac
  sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$out"
}
for _ in $(seq 1 "$N"); do
  for p in "${paths[@]}"; do
    r_db[$p]+="$(rps "$DB" "$p") "
    r_ref[$p]+="$(rps "$REF" "$p") "
  done
done
echo "requests/s, $C connections, ${SECS}s per measurement, median of $N rounds (alternating)"
printf '  %-28s %12s %12s %8s\n' endpoint dockbridge dockerd ratio
for p in "${paths[@]}"; do
  # shellcheck disable=SC2086
  db=$(median ${r_db[$p]}); ref=$(median ${r_ref[$p]})
  awk -v p="$p" -v db="$db" -v ref="$ref" 'BEGIN { printf "  %-28s %12.0f %12.0f %8.2f\n", p, db, ref, db/ref }'
done
echo "dockbridge RSS after the run: $(( $(rss "$db_pid") / 1024 )) MiB"
