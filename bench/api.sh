#!/usr/bin/env bash
# Side-by-side benchmark, one run: API requests per second through dockbridge and the
# reference dockerd 20.10 with 100 images (101 with busybox) and 10 containers loaded in
# each, C keep-alive connections over the unix socket (compat-tests' `api-load`), for
# `/_ping`, `/images/json`, `/containers/json?all=1` and a container inspect; each endpoint
# measured on every engine in turn, R rounds alternating, medians reported as ratios
# dockbridge/dockerd (higher is better for dockbridge). With BASELINE=/path/to/an/older/
# dockbridge, that binary runs beside the current one on its own containerd and is
# measured in the same alternation (before/after a change).
#   bench/api.sh [R] [C] [SECONDS]     (defaults 3 rounds, 8 connections, 3 s)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh "${1:-3}"
C=${2:-8}
SECS=${3:-3}
load=$rel/api-load

names=(dockbridge dockerd)
socks=("$DB" "$REF")
base_pid=
if [ -n "${BASELINE:-}" ]; then
  mkdir -p "$work/base"
  "$BASELINE" serve -H "unix://$work/base/d.sock" --data-root "$work/base/data" \
    --exec-root "$work/base/exec" --bridge none 2>"$work/base/log" &
  base_pid=$!
  for _ in $(seq 1 300); do [ -S "$work/base/d.sock" ] && break; sleep 0.1; done
  DOCKER_HOST="unix://$work/base/d.sock" docker load -q -i "$work/busybox.tar" >/dev/null
  names+=(baseline)
  socks+=("unix://$work/base/d.sock")
fi
trap '[ -n "$base_pid" ] && kill -TERM "$base_pid" 2>/dev/null; sleep 1; cleanup' EXIT

# 100 distinct images: a one-file root filesystem imported with a different label each time
# (dockerd and dockbridge both give every import its own config, hence its own ID).
mkdir -p "$work/rootfs"
echo bench >"$work/rootfs/file"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" file
for sock in "${socks[@]}"; do
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
declare -A results
rps() { # socket path -> requests/s (errors fail the benchmark)
  local out
  out=$("$load" --host "$1" --path "$2" -c "$C" --seconds "$SECS")
  case $out in *errors=0) ;; *) echo "api-load $1 $2: $out" >&2; exit 1 ;; esac
  sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$out"
}
for _ in $(seq 1 "$N"); do
  for p in "${paths[@]}"; do
    for i in "${!names[@]}"; do
      results[${names[$i]}$p]+="$(rps "${socks[$i]}" "$p") "
    done
  done
done
echo "requests/s, $C connections, ${SECS}s per measurement, median of $N rounds (alternating)"
printf '  %-28s' endpoint
for n in "${names[@]}"; do printf ' %12s' "$n"; done
printf ' %8s' "db/ref"
[ -n "$base_pid" ] && printf ' %8s' "db/base"
echo
for p in "${paths[@]}"; do
  printf '  %-28s' "$p"
  declare -A med=()
  for n in "${names[@]}"; do
    # shellcheck disable=SC2086
    med[$n]=$(median ${results[$n$p]})
    printf ' %12.0f' "${med[$n]}"
  done
  awk -v a="${med[dockbridge]}" -v b="${med[dockerd]}" 'BEGIN { printf " %8.2f", a/b }'
  [ -n "$base_pid" ] && awk -v a="${med[dockbridge]}" -v b="${med[baseline]}" 'BEGIN { printf " %8.2f", a/b }'
  echo
done
echo "dockbridge RSS after the run: $(( $(rss "$db_pid") / 1024 )) MiB"
