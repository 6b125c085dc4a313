#!/usr/bin/env bash
# Side-by-side benchmark, one run: create + start of a `sleep` container over the raw API
# (POST /containers/create, POST /containers/{id}/start; the removal is not timed) through
# dockbridge and the reference dockerd, alternating; median of N runs each, as ratios.
# With BASELINE=/path/to/an/older/dockbridge, that binary runs beside the current one on
# its own containerd and is measured in the same alternation (before/after a change).
#   bench/create-start.sh [N]     (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

base_pid=
if [ -n "${BASELINE:-}" ]; then
  mkdir -p "$work/base"
  "$BASELINE" serve -H "unix://$work/base/d.sock" --data-root "$work/base/data" \
    --exec-root "$work/base/exec" 2>"$work/base/log" &
  base_pid=$!
  for _ in $(seq 1 300); do [ -S "$work/base/d.sock" ] && break; sleep 0.1; done
  DOCKER_HOST="unix://$work/base/d.sock" docker load -q -i "$work/busybox.tar" >/dev/null
fi

# One create+start against socket $1; prints nanoseconds, removes the container after.
create_start() {
  local sock=$1 id s e
  s=$(now)
  id=$(curl -sf --unix-socket "$sock" -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["sleep","30"],"HostConfig":{"NetworkMode":"none"}}' \
    http://x/containers/create | sed -E 's/.*"Id":"([0-9a-f]+)".*/\1/')
  curl -sf --unix-socket "$sock" -X POST "http://x/containers/$id/start" >/dev/null
  e=$(now)
  curl -sf --unix-socket "$sock" -X DELETE "http://x/containers/$id?force=1" >/dev/null
  echo $(( e - s ))
}

declare -a t_db t_ref t_base
for _ in $(seq 1 "$N"); do
  t_db+=("$(create_start "$work/db/d.sock")")
  t_ref+=("$(create_start "$work/ref/docker.sock")")
  if [ -n "$base_pid" ]; then t_base+=("$(create_start "$work/base/d.sock")"); fi
done
m_db=$(median "${t_db[@]}"); m_ref=$(median "${t_ref[@]}")
m_base=0
if [ -n "$base_pid" ]; then m_base=$(median "${t_base[@]}"); kill -TERM "$base_pid"; fi
awk -v n="$N" -v db="$m_db" -v ref="$m_ref" -v base="$m_base" 'BEGIN {
  printf "create + start over the API, median of %d runs each (alternating)\n", n
  printf "  dockbridge          %8.1f ms\n", db/1e6
  if (base > 0) printf "  dockbridge baseline %8.1f ms\n", base/1e6
  printf "  dockerd             %8.1f ms\n", ref/1e6
  printf "ratios: dockbridge/dockerd = %.2f", db/ref
  if (base > 0) printf "   dockbridge/baseline = %.2f", db/base
  printf "\n"
}'
