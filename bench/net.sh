#!/usr/bin/env bash
# Networking side by side, one run, both engines with their default bridge inside private
# network namespaces (nothing touches the host's interfaces or firewall):
#   - `docker run --rm -p 127.0.0.1::80 busybox true` and `--network benchnet` latency;
#   - TCP throughput host -> container through a published port on 127.0.0.1
#     (dockbridge's in-daemon proxy vs dockerd 20.10's docker-proxy), MiB/s, and on the
#     bridge's own address (the host's non-loopback address: kernel DNAT on both engines);
#   - request latency through a published port (a new connection, `GET /`, the answer
#     read to the close, to a busybox httpd), median of 200, on 127.0.0.1 and on the
#     bridge's address.
# Alternating, medians of N runs, reported as ratios.
#   bench/net.sh [N]     (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-15}
scripts/install-deps.sh
cargo build -q --release -p dockbridge -p dockbridge-compat
T=${CARGO_TARGET_DIR:-target}
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
"$T"/release/dockbridge-compat --save-image "$work/busybox.tar" --tag busybox:latest >/dev/null

# One pinned namespace per engine (curl/python run in them with nsenter).
for e in db ref; do
  mkdir -p "$work/$e"; touch "$work/$e.ns"
  unshare --net="$work/$e.ns" ip link set lo up
done
nsenter --net="$work/db.ns" "$T"/release/dockbridge serve -H "unix://$work/db/d.sock" \
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
send() { # NS ADDR PORT -> MiB/s
  nsenter --net="$1" python3 - "$2" "$3" <<'PY'
import socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2]); total = 256 << 20; chunk = b"\0" * (1 << 20)
for _ in range(100):
    try:
        s = socket.create_connection((addr, port)); break
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
request() { # NS ADDR PORT -> median ms of 200 fresh-connection GETs
  nsenter --net="$1" python3 - "$2" "$3" <<'PY'
import socket, statistics, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
def get():
    s = socket.create_connection((addr, port))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while s.recv(65536):
        pass
    s.close()
for _ in range(100):
    try:
        get(); break
    except OSError:
        time.sleep(0.05)
v = []
for _ in range(200):
    t = time.perf_counter(); get(); v.append(time.perf_counter() - t)
print(f"{statistics.median(v) * 1000:.3f}")
PY
}
gw() { # ENGINE -> the default bridge's address in its namespace
  local h=$DB; [ "$1" = ref ] && h=$REF
  DOCKER_HOST=$h docker network inspect bridge -f '{{(index .IPAM.Config 0).Subnet}}' |
    awk -F'[./]' '{print $1"."$2"."$3".1"}'
}
declare -a tp_db tp_ref tn_db tn_ref
for _ in $(seq 1 "$N"); do
  for e in db ref; do
    h=$DB; [ $e = ref ] && h=$REF
    g=$(gw $e)
    id=$(DOCKER_HOST=$h docker run -d -p 18080:80 busybox sh -c 'busybox nc -l -p 80 >/dev/null')
    sleep 0.3
    v=$(send "$work/$e.ns" 127.0.0.1 18080)
    if [ $e = db ]; then tp_db+=("$v"); else tp_ref+=("$v"); fi
    DOCKER_HOST=$h docker rm -f "$id" >/dev/null
    id=$(DOCKER_HOST=$h docker run -d -p 18080:80 busybox sh -c 'busybox nc -l -p 80 >/dev/null')
    sleep 0.3
    v=$(send "$work/$e.ns" "$g" 18080)
    if [ $e = db ]; then tn_db+=("$v"); else tn_ref+=("$v"); fi
    DOCKER_HOST=$h docker rm -f "$id" >/dev/null
  done
done
declare -a l_db l_ref ln_db ln_ref
for e in db ref; do
  h=$DB; [ $e = ref ] && h=$REF
  g=$(gw $e)
  id=$(DOCKER_HOST=$h docker run -d -p 18081:80 busybox sh -c \
    'mkdir -p /www && echo hello > /www/index.html && exec busybox httpd -f -p 80 -h /www')
  sleep 0.3
  for _ in 1 2 3; do
    a=$(request "$work/$e.ns" 127.0.0.1 18081); b=$(request "$work/$e.ns" "$g" 18081)
    if [ $e = db ]; then l_db+=("$a"); ln_db+=("$b"); else l_ref+=("$a"); ln_ref+=("$b"); fi
  done
  DOCKER_HOST=$h docker rm -f "$id" >/dev/null
done
awk -v n="$N" -v pdb="$(median "${p_db[@]}")" -v pref="$(median "${p_ref[@]}")" \
    -v ndb="$(median "${n_db[@]}")" -v nref="$(median "${n_ref[@]}")" \
    -v tdb="$(median "${tp_db[@]}")" -v tref="$(median "${tp_ref[@]}")" \
    -v ndb2="$(median "${tn_db[@]}")" -v nref2="$(median "${tn_ref[@]}")" \
    -v ldb="$(median "${l_db[@]}")" -v lref="$(median "${l_ref[@]}")" \
    -v lndb="$(median "${ln_db[@]}")" -v lnref="$(median "${ln_ref[@]}")" 'BEGIN {
  printf "median of %d runs each (alternating), both engines with a bridge in a private netns\n", n
  printf "  run --rm -p 127.0.0.1::80 true   dockbridge %7.1f ms   dockerd %7.1f ms   ratio %.2f\n", pdb/1e6, pref/1e6, pdb/pref
  printf "  run --rm --network benchnet true dockbridge %7.1f ms   dockerd %7.1f ms   ratio %.2f\n", ndb/1e6, nref/1e6, ndb/nref
  printf "  TCP host->container via 127.0.0.1 published port: dockbridge %.0f MiB/s   dockerd %.0f MiB/s   ratio %.2f\n", tdb, tref, tdb/tref
  printf "  TCP host->container via the bridge address (DNAT):  dockbridge %.0f MiB/s   dockerd %.0f MiB/s   ratio %.2f\n", ndb2, nref2, ndb2/nref2
  printf "  request latency via 127.0.0.1 (proxy):     dockbridge %.3f ms   dockerd %.3f ms   ratio %.2f\n", ldb, lref, ldb/lref
  printf "  request latency via the bridge address (DNAT): dockbridge %.3f ms   dockerd %.3f ms   ratio %.2f\n", lndb, lnref, lndb/lnref
}'
