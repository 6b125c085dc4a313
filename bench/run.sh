#!/usr/bin/env bash
# Side-by-side benchmark, one run: `docker run --rm --network none busybox true` through
# dockbridge and through the reference dockerd, and bare `ctr run --rm` on containerd,
# alternating so drift hits all three alike; median of N runs each, reported as ratios.
# Also idle RSS of dockbridge vs dockerd (each without its containerd).
#   bench/run.sh [N]     (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

declare -a t_db t_ref t_ctr
for i in $(seq 1 "$N"); do
  s=$(now); DOCKER_HOST=$DB docker run --rm --network none busybox true; t_db+=($(( $(now) - s )))
  s=$(now); DOCKER_HOST=$REF docker run --rm --network none busybox true; t_ref+=($(( $(now) - s )))
  s=$(now); "${CTR[@]}" run --rm "$img" "bench$i" true; t_ctr+=($(( $(now) - s )))
done
m_db=$(median "${t_db[@]}"); m_ref=$(median "${t_ref[@]}"); m_ctr=$(median "${t_ctr[@]}")
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
