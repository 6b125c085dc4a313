#!/usr/bin/env bash
# Side-by-side benchmark, one run: `docker pull` of a 5-layer, 200 MiB image (random data,
# so nothing compresses) from a local docker-registry, through dockbridge, through the
# reference dockerd 20.10, and with bare `ctr images pull --plain-http` on dockbridge's
# containerd as the floor. Before each pull the image and its content are removed, so
# every layer is downloaded and unpacked again (checked: 5 "Pull complete" each time).
# Alternating, median wall time of N pulls each, and each daemon's RSS growth at its peak
# during the pulls (sampled every 20 ms), reported as ratios.
#   bench/pull.sh [N]     (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh "${1:-5}"

reg=$(compat-tests/scripts/registry.sh start "$work/registry")
trap 'compat-tests/scripts/registry.sh stop "$work/registry"; cleanup' EXIT

# The image: busybox's rootfs plus 5 layers of 40 MiB each, as a docker-archive.
python3 - "$work/big.tar" <<'PY'
import hashlib, io, json, os, sys, tarfile
layers = []
for i in range(5):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = os.urandom(40 << 20)
        info = tarfile.TarInfo(f"data/layer{i}.bin"); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    layers.append(buf.getvalue())
diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
config = json.dumps({"architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
    "history": [{"created_by": f"layer {i}"} for i in range(5)]}).encode()
cid = hashlib.sha256(config).hexdigest()
with tarfile.open(sys.argv[1], "w") as out:
    def add(name, b):
        info = tarfile.TarInfo(name); info.size = len(b); out.addfile(info, io.BytesIO(b))
    names = []
    for l, d in zip(layers, diff_ids):
        n = d[7:] + "/layer.tar"; add(n, l); names.append(n)
    add(cid + ".json", config)
    add("manifest.json", json.dumps([{"Config": cid + ".json",
        "RepoTags": ["bench/big:v1"], "Layers": names}]).encode())
PY
skopeo copy -q --dest-tls-verify=false "docker-archive:$work/big.tar" "docker://$reg/bench/big:v1"
ref_img="$reg/bench/big:v1"

# Peak RSS growth (KiB) of pid $1 while command "${@:2}" runs.
peak_growth() {
  local pid=$1; shift
  local base; base=$(rss "$pid")
  local peak=$base
  "$@" >"$work/out" 2>&1 &
  local cmd=$!
  while kill -0 "$cmd" 2>/dev/null; do
    local r; r=$(rss "$pid" || echo 0)
    [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.02
  done
  wait "$cmd"
  echo $((peak - base))
}
# Peak RSS (KiB) of the command itself (ctr does the pulling in its own process).
peak_self() {
  "$@" >"$work/out" 2>&1 &
  local cmd=$! peak=0
  while kill -0 "$cmd" 2>/dev/null; do
    local r; r=$(rss "$cmd" 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$peak" ] && peak=$r
    sleep 0.02
  done
  wait "$cmd"
  echo "$peak"
}
complete5() {
  local n; n=$(grep -c "$1" "$work/out" || true)
  [ "$n" -ge 5 ] || { echo "expected every layer downloaded ($1), got:"; cat "$work/out"; exit 1; }
}
ref_pid=$(cat "$work/ref/dockerd.pid" 2>/dev/null || pgrep -f "dockerd.*$work/ref" | head -1)

declare -a t_db t_ref t_ctr m_db m_ref m_ctr
for i in $(seq 1 "$N"); do
  s=$(now); m_db+=($(peak_growth "$db_pid" env DOCKER_HOST=$DB docker pull "$ref_img")); t_db+=($(( $(now) - s )))
  complete5 "Pull complete"
  DOCKER_HOST=$DB docker rmi -f "$ref_img" >/dev/null
  s=$(now); m_ref+=($(peak_growth "$ref_pid" env DOCKER_HOST=$REF docker pull "$ref_img")); t_ref+=($(( $(now) - s )))
  complete5 "Pull complete"
  DOCKER_HOST=$REF docker rmi -f "$ref_img" >/dev/null
  s=$(now); m_ctr+=($(peak_self "${CTR[@]}" images pull --plain-http "$ref_img")); t_ctr+=($(( $(now) - s )))
  complete5 "sha256:.*done"
  "${CTR[@]}" images rm --sync "$ref_img" >/dev/null
  "${CTR[@]}" content ls -q | grep -v "^$" | xargs -r "${CTR[@]}" content rm >/dev/null 2>&1 || true
done
md=$(median "${t_db[@]}"); mr=$(median "${t_ref[@]}"); mc=$(median "${t_ctr[@]}")
rd=$(printf '%s\n' "${m_db[@]}" | sort -n | tail -1); rr=$(printf '%s\n' "${m_ref[@]}" | sort -n | tail -1)
rc=$(printf '%s\n' "${m_ctr[@]}" | sort -n | tail -1)
awk -v n="$N" -v db="$md" -v ref="$mr" -v ctr="$mc" -v rd="$rd" -v rr="$rr" -v rc="$rc" 'BEGIN {
  printf "docker pull of 5 layers, 200 MiB, from a local registry; median of %d pulls each (alternating)\n", n
  printf "  dockbridge                  %8.1f ms   peak RSS growth %7.1f MiB\n", db/1e6, rd/1024
  printf "  dockerd 20.10               %8.1f ms   peak RSS growth %7.1f MiB\n", ref/1e6, rr/1024
  printf "  ctr images pull --plain-http %7.1f ms   peak RSS (ctr)  %7.1f MiB\n", ctr/1e6, rc/1024
  printf "ratios: dockbridge/dockerd = %.2f   dockbridge/ctr = %.2f   RSS growth dockbridge/dockerd = %.2f\n", db/ref, db/ctr, (rr > 0 ? rd/rr : 0)
}'
