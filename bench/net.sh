#!/usr/bin/env bash
# Networking side by side, one run, both engines with their default bridge inside private
# network namespaces (nothing touches the host's interfaces or firewall):
#   - `docker run --rm -p 127.0.0.1::80 busybox true` and `--network benchnet` latency;
#   - TCP throughput host -> container through a published port on 127.0.0.1
#     (dockbridge's in-daemon proxy vs dockerd 20.10's docker-proxy), MiB/s.
# Alternating, medians of N runs, reported as ratios.
#   bench/net.sh [N]     (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-15}
scripts/install-deps.sh
cargo build -q --release -p dockbridge -p dockbridge-compat
work=$(mktemp -d /tmp/dbn.XXXXXX)
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
target/release/dockbridge-compat --save-image "$work/busybox.tar" --tag busybox:latest >/dev/null

# One pinned namespace per engine (curl/python run in them with nsenter).
for e in db ref; do
  mkdir -p "$work/$e"; touch "$work/$e.ns"
  unshare --net="$work/$e.ns" ip link set lo up
done
nsenter --net="$work/db.ns" target/release/dockbridge serve -H "unix://$work/db/d.sock" \
  --data-root "$work/db/data" --exec-root "$work/db/exec" 2>"$work/db/log" &
db_pid=$!
for _ in $(seq 1 300); do [ -S "$work/db/d.sock" ] && break; sleep 0.1; done
REFERENCE_BRIDGE=1 nsenter --net="$work/ref.ns" compat-tests/scripts/reference-dockerd.sh start "$work/ref" >/dev/null
DB="unix://$work/db/d.sock"; REF="unix://$work/ref/docker.sock"
for h in "$DB" "$REF"; do
  DOCKER_HOST=$h docker load -q -i "$work/busybox.tar" >/dev/null
  DOCKER_HOST=$h docker network create benchnet >/dev/null
done

now() { date +%s%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -a p_db p_ref n_db n_ref
for _ in $(seq 1 "$N"); do
  s=$(now); DOCKER_HOST=$DB docker run --rm -p 127.0.0.1::80 busybox true; p_db+=($(( $(now) - s )))
  s=$(now); DOCKER_HOST=$REF docker run --rm -p 127.0.0.1::80 busybox true; p_ref+=($(( $(now) - s )))
  s=$(now); DOCKER_HOST=$DB docker run --rm --network benchnet busybox true; n_db+=($(( $(now) - s )))
  s=$(now); DOCKER_HOST=$REF docker run --rm --network benchnet busybox true; n_ref+=($(( $(now) - s )))
done

# Throughput: a sink in the container (`nc -l` to /dev/null), 256 MiB sent from the host
# namespace by python through the published port; the time until the sink closes.
send() { # NS PORT -> MiB/s
  nsenter --net="$1" python3 - "$2" <<'PY'
import socket, sys, time
port = int(sys.argv[1]); total = 256 << 20; chunk = b"\0" * (1 << 20)
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        time.sleep(0.05)
t = time.time()
for _ in range(total // len(chunk)):
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print(f"{total / (1 << 20) / (time.time() - t):.1f}")
PY
}
declare -a tp_db tp_ref
for _ in $(seq 1 "$N"); do
  for e in db ref; do
    h=$DB; [ $e = ref ] && h=$REF
    id=$(DOCKER_HOST=$h docker run -d -p 127.0.0.1::80 busybox sh -c 'busybox nc -l -p 80 >/dev/null')
    port=$(DOCKER_HOST=$h docker port "$id" 80/tcp | head -1 | sed 's/.*://')
    sleep 0.3
    v=$(send "$work/$e.ns" "$port")
    if [ $e = db ]; then tp_db+=("$v"); else tp_ref+=("$v"); fi
    DOCKER_HOST=$h docker rm -f "$id" >/dev/null
  done
done
awk -v n="$N" -v pdb="$(median "${p_db[@]}")" -v pref="$(median "${p_ref[@]}")" \
    -v ndb="$(median "${n_db[@]}")" -v nref="$(median "${n_ref[@]}")" \
    -v tdb="$(median "${tp_db[@]}")" -v tref="$(median "${tp_ref[@]}")" 'BEGIN {
  printf "median of %d runs each (alternating), both engines with a bridge in a private netns\n", n
  printf "  run --rm -p 127.0.0.1::80 true   dockbridge %7.1f ms   dockerd %7.1f ms   ratio %.2f\n", pdb/1e6, pref/1e6, pdb/pref
  printf "  run --rm --network benchnet true dockbridge %7.1f ms   dockerd %7.1f ms   ratio %.2f\n", ndb/1e6, nref/1e6, ndb/nref
  printf "  TCP host->container via 127.0.0.1 published port: dockbridge %.0f MiB/s   dockerd %.0f MiB/s   ratio %.2f\n", tdb, tref, tdb/tref
}'
