#!/usr/bin/env bash
# Side-by-side benchmark, one run: `docker cp` of a 64 MiB file into a running container
# and back out, through dockbridge (archive helper child, chrooted) and through the
# reference dockerd, with bare `ctr task exec … tar` streaming the same tar as the floor;
# alternating, median of N round trips each, reported as ratios.
#   bench/cp.sh [N]     (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

head -c $((64 << 20)) /dev/urandom >"$work/payload"
mkdir -p "$work/out-db" "$work/out-ref" "$work/out-ctr"
DOCKER_HOST=$DB docker run -d --name cpbench$$ --network none busybox sleep 100000 >/dev/null
DOCKER_HOST=$REF docker run -d --name cpbench$$ --network none busybox sleep 100000 >/dev/null
"${CTR[@]}" run -d "$img" cpbench$$ sleep 100000 >/dev/null

declare -a t_db t_ref t_ctr
for i in $(seq 1 "$N"); do
  s=$(now)
  DOCKER_HOST=$DB docker cp "$work/payload" cpbench$$:/tmp/payload
  DOCKER_HOST=$DB docker cp cpbench$$:/tmp/payload "$work/out-db/payload"
  t_db+=($(( $(now) - s )))
  s=$(now)
  DOCKER_HOST=$REF docker cp "$work/payload" cpbench$$:/tmp/payload
  DOCKER_HOST=$REF docker cp cpbench$$:/tmp/payload "$work/out-ref/payload"
  t_ref+=($(( $(now) - s )))
  s=$(now)
  tar -C "$work" -cf - payload | "${CTR[@]}" task exec --exec-id "in$i" cpbench$$ tar -xf - -C /tmp
  "${CTR[@]}" task exec --exec-id "out$i" cpbench$$ tar -cf - -C /tmp payload | tar -xf - -C "$work/out-ctr"
  t_ctr+=($(( $(now) - s )))
done
for d in out-db out-ref out-ctr; do cmp -s "$work/payload" "$work/$d/payload" || { echo "$d: copy differs"; exit 1; }; done
m_db=$(median "${t_db[@]}"); m_ref=$(median "${t_ref[@]}"); m_ctr=$(median "${t_ctr[@]}")
awk -v n="$N" -v db="$m_db" -v ref="$m_ref" -v ctr="$m_ctr" 'BEGIN {
  printf "docker cp 64 MiB in and back out, median of %d round trips each (alternating)\n", n
  printf "  dockbridge          %8.1f ms\n", db/1e6
  printf "  dockerd             %8.1f ms\n", ref/1e6
  printf "  ctr task exec tar   %8.1f ms\n", ctr/1e6
  printf "ratios: dockbridge/dockerd = %.2f   dockbridge/ctr = %.2f\n", db/ref, db/ctr
}'
