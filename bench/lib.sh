# Shared set-up of the benchmarks (sourced): builds release binaries, starts dockbridge
# and the reference dockerd side by side on private roots, loads the offline busybox
# image into both and into a `ctr` namespace, and tears it all down on exit.
# Sets: N, rel (the release binaries), work, DB, REF, CTR (array), img, db_pid; functions
# now, median, rss.
N=${1:-15}
scripts/install-deps.sh
cargo build -q --release -p dockbridge -p dockbridge-compat
rel=${CARGO_TARGET_DIR:-target}/release
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
$rel/dockbridge-compat --save-image "$work/busybox.tar" --tag busybox:latest >/dev/null

mkdir -p "$work/db"
$rel/dockbridge serve -H "unix://$work/db/d.sock" --data-root "$work/db/data" \
  --exec-root "$work/db/exec" --bridge none 2>"$work/db/log" &
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
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
