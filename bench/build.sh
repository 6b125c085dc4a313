#!/usr/bin/env bash
# Side-by-side benchmark, one run: `docker build` with the classic builder
# (DOCKER_BUILDKIT=0) of a 10-step Dockerfile — COPY of 1,000 small files and 5 RUNs —
# through dockbridge and through the reference dockerd on the same machine, cold
# (--no-cache) and cached (every step `Using cache`); alternating, median of N builds
# each, reported as ratios.
#   bench/build.sh [N]     (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

ctx="$work/ctx"
mkdir -p "$ctx/files"
for i in $(seq 1 1000); do echo "file $i" >"$ctx/files/f$i.txt"; done
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY files/ /app/files/
RUN ls /app/files | wc -l > /app/count
RUN echo one > /app/one
RUN mkdir -p /app/data && echo two > /app/data/two
RUN cat /app/count /app/one
RUN rm /app/one
CMD ["cat", "/app/count"]
DOCKERFILE

b() {
  DOCKER_BUILDKIT=0 DOCKER_HOST=$1 docker build -q "${@:2}" "$ctx" >/dev/null 2>"$work/err" \
    || { cat "$work/err"; exit 1; }
}
# One warm-up build each (also seeds the cache).
b "$DB" -t benchbuild
b "$REF" -t benchbuild
declare -a cold_db cold_ref warm_db warm_ref
for _ in $(seq 1 "$N"); do
  s=$(now); b "$DB" --no-cache -t benchbuild; cold_db+=($(( $(now) - s )))
  s=$(now); b "$REF" --no-cache -t benchbuild; cold_ref+=($(( $(now) - s )))
  s=$(now); b "$DB" -t benchbuild; warm_db+=($(( $(now) - s )))
  s=$(now); b "$REF" -t benchbuild; warm_ref+=($(( $(now) - s )))
done
for h in "$DB" "$REF"; do
  out=$(DOCKER_HOST=$h docker run --rm --network none benchbuild)
  [ "$out" = 1000 ] || { echo "$h: the built image printed $out"; exit 1; }
done
c_db=$(median "${cold_db[@]}"); c_ref=$(median "${cold_ref[@]}")
w_db=$(median "${warm_db[@]}"); w_ref=$(median "${warm_ref[@]}")
awk -v n="$N" -v cdb="$c_db" -v cref="$c_ref" -v wdb="$w_db" -v wref="$w_ref" 'BEGIN {
  printf "docker build (classic), 10 steps: COPY of 1,000 files + 5 RUNs; median of %d each (alternating)\n", n
  printf "                cold (--no-cache)    cached\n"
  printf "  dockbridge    %10.1f ms     %8.1f ms\n", cdb/1e6, wdb/1e6
  printf "  dockerd       %10.1f ms     %8.1f ms\n", cref/1e6, wref/1e6
  printf "ratios dockbridge/dockerd: cold = %.2f   cached = %.2f\n", cdb/cref, wdb/wref
}'
